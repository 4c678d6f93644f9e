/**
 * What a request made with this credential may carry besides its URL (issue 19 §1). The credential's
 * authenticate() puts the access token and the secret Headers on requests of n8n's own HTTP Request
 * node, whose user may only be allowed to USE a shared credential. That node's options decide where the
 * bytes physically go and whom n8n trusts on the way, read in n8n 2.41's request helpers:
 * - Proxy (`proxy`): the request, token included, goes through a server of the node's choosing;
 * - Ignore SSL Issues (`rejectUnauthorized: false`, `skipSslCertificateValidation`): anyone on the path
 *   may pose as the API;
 * - an SSL Certificates credential (`agentOptions.ca/cert/key/passphrase`): its CA replaces the trust store;
 * - `agentOptions.host/port/socketPath` go straight into the connection and override the URL's host;
 * - a hand-set Host header: through an HTTP proxy, the request line is built from it.
 * Each is refused, with what to do instead. A proxy an administrator set for all of n8n (HTTP_PROXY,
 * HTTPS_PROXY, ALL_PROXY) is not a node option and still applies.
 */

/** Agent options that change nothing about where a connection goes or whom it trusts. */
const HARMLESS_AGENT_OPTIONS = new Set(['keepAlive', 'keepAliveMsecs', 'maxSockets', 'maxTotalSockets', 'maxFreeSockets', 'timeout', 'scheduling']);
/** Agent options of where a connection goes. */
const DESTINATION_OPTIONS = new Set(['host', 'hostname', 'port', 'socketPath', 'path', 'lookup', 'localAddress', 'family', 'servername']);
/** Agent options of TLS trust and identity (an SSL Certificates credential sets these). */
const TLS_TRUST_OPTIONS = new Set(['ca', 'cert', 'key', 'pfx', 'passphrase', 'crl', 'secureContext']);

export interface RequestOptionsSeen {
	proxy?: unknown;
	rejectUnauthorized?: unknown;
	skipSslCertificateValidation?: unknown;
	agentOptions?: unknown;
	headers?: unknown;
}

/**
 * Why these request options must not carry the token, in the user's words, or undefined when they may.
 * `isOwnSecureContext`: the TLS context this credential itself put on the options (n8n hands authenticate
 * the options it returned when it replays a request). `credentialHeaders`: the credential's own Headers,
 * set by whoever owns it, which a replay carries too.
 */
export function requestOptionsRefusal(
	options: RequestOptionsSeen,
	isOwnSecureContext: (value: unknown) => boolean,
	credentialHeaders: Record<string, string> = {},
): string | undefined {
	if (options.proxy !== undefined && options.proxy !== null && options.proxy !== '' && options.proxy !== false) {
		return "the node's Proxy option would send the request, and the access token and Headers with it, through a server of the node's choosing. Remove Proxy from the node; a proxy an n8n administrator sets for all of n8n (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY) still applies";
	}
	const agentOptions = (options.agentOptions ?? {}) as Record<string, unknown>;
	if (options.rejectUnauthorized === false || options.skipSslCertificateValidation === true || agentOptions.rejectUnauthorized === false || agentOptions.checkServerIdentity !== undefined) {
		return "the node's Ignore SSL Issues (Insecure) option would let anyone on the way pose as the API and read the access token. Turn it off; for a company CA, paste its certificate into the credential's CA Certificate";
	}
	for (const [name, value] of Object.entries(agentOptions)) {
		if (value === undefined || HARMLESS_AGENT_OPTIONS.has(name) || (name === 'rejectUnauthorized' && value === true)) continue;
		if (name === 'secureContext' && isOwnSecureContext(value)) continue;
		if (TLS_TRUST_OPTIONS.has(name)) {
			return "the node brings its own TLS certificates (an SSL Certificates credential), which would replace the trust this credential sets. Remove them from the node; put a company CA into the credential's CA Certificate, and a client certificate into its Private Key and Certificate with Use Client Certificate for API";
		}
		return DESTINATION_OPTIONS.has(name)
			? `the node's connection option "${name}" would send the request somewhere other than its URL. Remove it`
			: `the node's connection option "${name}" would change how the connection to the API is made. Remove it`;
	}
	const own = new Map(Object.entries(credentialHeaders).map(([name, value]) => [name.toLowerCase(), String(value)]));
	const headers = options.headers && typeof options.headers === 'object' ? Object.entries(options.headers as Record<string, unknown>) : [];
	if (headers.some(([name, value]) => name.toLowerCase() === 'host' && own.get('host') !== String(value))) {
		return 'a Host header would send the request to another server than its URL through a proxy. Remove the Host header from the node';
	}
	return undefined;
}
