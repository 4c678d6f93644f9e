/**
 * Which n8n runs this package, for the few places where n8n 1.x and 2.x differ in what they accept
 * from a node. Read from n8n's OWN n8n-workflow, resolved from n8n's entry script: a plain require
 * would look in parent folders first, where another community package may have installed a newer copy.
 */
import { requireFromN8n } from '../core/n8n-require';

export interface N8nWorkflowVersion {
	major: number;
	minor: number;
}

function read(): N8nWorkflowVersion {
	try {
		const { version } = requireFromN8n<{ version: string }>('n8n-workflow/package.json');
		const [major, minor] = version.split('.').map(Number);
		return { major, minor };
	} catch {
		return { major: 0, minor: 0 };
	}
}

export const N8N_WORKFLOW_VERSION = read();

export { requireFromN8n, resolvableFromN8n } from '../core/n8n-require';

/** At least major.minor (an unknown version is below everything). */
export function n8nAtLeast(major: number, minor: number): boolean {
	const current = N8N_WORKFLOW_VERSION;
	return current.major > major || (current.major === major && current.minor >= minor);
}
