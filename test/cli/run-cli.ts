/** Runs the import CLI as a child process, the way a user's shell would, and collects what it printed. */
import { spawn } from 'node:child_process';

export interface CliResult {
	code: number | null;
	stdout: string;
	stderr: string;
}

/**
 * `node <nodeArgs…>` with only PATH, HOME (the working folder) and `env` in its environment: nothing
 * (such as an N8N_API_KEY) leaks in from the test's own.
 */
export function runNode(nodeArgs: string[], options: { cwd: string; env?: Record<string, string> }): Promise<CliResult> {
	return new Promise((resolve, reject) => {
		const child = spawn(process.execPath, nodeArgs, {
			cwd: options.cwd,
			// HOME in the test's folder: what the CLI keeps by default (its receipts) stays there too.
			env: { PATH: process.env.PATH ?? '', HOME: options.cwd, ...(options.env ?? {}) },
			stdio: ['ignore', 'pipe', 'pipe'],
		});
		let stdout = '';
		let stderr = '';
		child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
		child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
		child.on('error', reject);
		child.on('close', (code) => resolve({ code, stdout, stderr }));
	});
}
