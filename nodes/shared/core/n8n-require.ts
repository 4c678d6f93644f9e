/**
 * n8n's own copy of a module, resolved from n8n's entry script. A plain require would look in parent
 * folders first, where another community package may have installed another copy; and n8n's
 * dependency injection keys on class identity, so only n8n's own copy of `@n8n/di` or `@n8n/config`
 * hands out n8n's running instances. Needs no n8n API, so every layer may use it.
 */
import { createRequire } from 'node:module';

/** `require` as n8n's own entry script would resolve it (this module's own where there is none). */
const fromN8n = (): NodeJS.Require => (require.main?.filename ? createRequire(require.main.filename) : require);

/** n8n's own copy of module `id` (its AI utilities, its LangChain, its config). Throws when absent. */
export function requireFromN8n<T = unknown>(id: string): T {
	return fromN8n()(id) as T;
}

/** Whether n8n itself can load `id` (resolved from n8n's entry script). */
export function resolvableFromN8n(id: string): boolean {
	try {
		fromN8n().resolve(id);
		return true;
	} catch {
		return false;
	}
}
