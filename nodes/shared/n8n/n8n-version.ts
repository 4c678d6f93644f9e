/**
 * Which n8n runs this package, for the few places where n8n 1.x and 2.x differ in what they accept
 * from a node. Read from n8n's OWN n8n-workflow, resolved from n8n's entry script: a plain require
 * would look in parent folders first, where another community package may have installed a newer copy.
 */
import { createRequire } from 'node:module';

export interface N8nWorkflowVersion {
	major: number;
	minor: number;
}

/** `require` as n8n's own entry script would resolve it (this module's own where there is none). */
const fromN8n = (): NodeJS.Require => (require.main?.filename ? createRequire(require.main.filename) : require);

function read(): N8nWorkflowVersion {
	try {
		const { version } = fromN8n()('n8n-workflow/package.json') as { version: string };
		const [major, minor] = version.split('.').map(Number);
		return { major, minor };
	} catch {
		return { major: 0, minor: 0 };
	}
}

export const N8N_WORKFLOW_VERSION = read();

/** n8n's own copy of module `id` (its AI utilities, its LangChain): what its nodes use too. Throws when absent. */
export function requireFromN8n<T = unknown>(id: string): T {
	return fromN8n()(id) as T;
}

/** Whether n8n itself can load `id` (resolved from n8n's entry script, like the version above). */
export function resolvableFromN8n(id: string): boolean {
	try {
		fromN8n().resolve(id);
		return true;
	} catch {
		return false;
	}
}

/** At least major.minor (an unknown version is below everything). */
export function n8nAtLeast(major: number, minor: number): boolean {
	const current = N8N_WORKFLOW_VERSION;
	return current.major > major || (current.major === major && current.minor >= minor);
}
