/** Files the CLI writes: whole or not at all, readable by their owner only. */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';

/** Temp file in the same folder (so rename is atomic), fsync, rename; the temp file never outlives a failure. */
export async function writeFileAtomically(file: string, text: string): Promise<void> {
	const target = path.resolve(file);
	const temp = path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
	try {
		const handle = await fs.open(temp, 'wx', 0o600);
		try {
			await handle.writeFile(text, 'utf8');
			await handle.sync();
		} finally {
			await handle.close();
		}
		await fs.rename(temp, target);
	} catch (error) {
		await fs.rm(temp, { force: true });
		throw error;
	}
}
