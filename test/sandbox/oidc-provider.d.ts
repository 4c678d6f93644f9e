/**
 * Minimal typings for the parts of oidc-provider 9 (ships no types; @types/oidc-provider is not a
 * dependency of this project) that the sandbox uses. Deliberately loose.
 */
declare module 'oidc-provider' {
	import type { IncomingMessage, ServerResponse } from 'node:http';

	export interface KoaContextWithOIDC {
		path: string;
		method: string;
		status: number;
		body: unknown;
		headers: Record<string, string | string[] | undefined>;
		req: IncomingMessage;
		oidc?: {
			route?: string;
			client?: { clientId: string; scope?: string };
			params?: Record<string, unknown>;
			body?: Record<string, unknown>;
		};
	}

	export type Middleware = (ctx: KoaContextWithOIDC, next: () => Promise<void>) => Promise<void> | void;

	export default class Provider {
		constructor(issuer: string, configuration?: Record<string, unknown>);
		readonly issuer: string;
		proxy: boolean;
		callback(): (req: IncomingMessage, res: ServerResponse) => void;
		use(middleware: Middleware): void;
		on(event: string, listener: (...args: unknown[]) => void): this;
	}

	export const errors: {
		InvalidTarget: new (description?: string) => Error;
		InvalidScope: new (description: string, scope?: string) => Error;
		InvalidClientAuth: new (description: string) => Error;
		InvalidGrant: new (detail?: string) => Error;
		InvalidRequest: new (description?: string) => Error;
		[name: string]: new (...args: never[]) => Error;
	};
}
