/**
 * Warms the cache of the real n8n used by the end-to-end tests (see test/harness/n8n.ts):
 *   node --import tsx scripts/ensure-n8n.ts
 * Prints the install as JSON on stdout; progress goes to stderr. Takes ~5-7 min the first time.
 */
import { ensureN8n } from '../test/harness/n8n';

ensureN8n().then(
	(install) => {
		process.stdout.write(`${JSON.stringify(install, null, 2)}\n`);
	},
	(error: unknown) => {
		process.stderr.write(`ensure-n8n failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
		process.exitCode = 1;
	},
);
