/**
 * Which proxy, if any, an administrator's environment puts in front of a URL: HTTP_PROXY / HTTPS_PROXY by
 * the URL's scheme, else ALL_PROXY, unless NO_PROXY names the host (any case of each name; the rules of
 * proxy-from-env, which axios and n8n apply). Decided here, once, for each request: a request that goes
 * direct keeps n8n's secure DNS lookup on its connection (issue 19 §3: with any proxy variable set, it
 * was dropped for every request, so a host that NO_PROXY matched, or an https request with only
 * HTTP_PROXY set, could rebind to a metadata address after the pre-flight check), and one that goes
 * through the proxy connects to the proxy the administrator chose, which the lookup must not block.
 * These are the rules of the proxy-from-env that axios 1.x ships (2.x), which until now chose the proxy for
 * this package; n8n's own copy (1.1.0) also reads npm's npm_config_*proxy variables, which are not read here.
 */

const DEFAULT_PORTS: Record<string, number> = { http: 80, https: 443, ws: 80, wss: 443 };

type Environment = Record<string, string | undefined>;

/** A variable in either case, lower case first (proxy-from-env's order); names in both cases made once, not per request. */
const bothCases = (name: string) => [name.toLowerCase(), name.toUpperCase()] as const;
const NO_PROXY = bothCases('no_proxy');
const ALL_PROXY = bothCases('all_proxy');
const SCHEME_PROXY = new Map(Object.keys(DEFAULT_PORTS).map((scheme) => [scheme, bothCases(`${scheme}_proxy`)]));
const variable = (env: Environment, [lower, upper]: readonly [string, string]) => env[lower] || env[upper] || '';

/** Whether NO_PROXY lets `hostname:port` through the proxy. */
function proxiedDespiteNoProxy(env: Environment, hostname: string, port: number): boolean {
	const noProxy = variable(env, NO_PROXY).toLowerCase();
	if (noProxy === '') return true;
	if (noProxy === '*') return false;
	return noProxy.split(/[,\s]/).every((entry) => {
		if (entry === '') return true;
		const withPort = /^(.+):(\d+)$/.exec(entry);
		let host = withPort ? withPort[1] : entry;
		const entryPort = withPort ? Number.parseInt(withPort[2], 10) : 0;
		if (entryPort && entryPort !== port) return true;
		if (!/^[.*]/.test(host)) return hostname !== host;
		if (host.startsWith('*')) host = host.slice(1);
		return !hostname.endsWith(host);
	});
}

/** The URL's scheme, lower case; read without parsing where it is plain, as it is in every URL this package builds. */
function schemeOf(url: string): string {
	const plain = /^([a-z][a-z0-9+.-]*):/i.exec(url);
	if (plain) return plain[1].toLowerCase();
	try {
		return new URL(url).protocol.replace(/:$/, '');
	} catch {
		return '';
	}
}

/** The proxy URL for `url`, or undefined when the request goes direct. */
export function proxyFor(url: string, env: Environment = process.env): URL | undefined {
	// Most n8n instances set no proxy at all: then nothing else is read or parsed, per request.
	const scheme = schemeOf(url);
	const schemeProxy = SCHEME_PROXY.get(scheme) ?? bothCases(`${scheme}_proxy`);
	let proxy = variable(env, schemeProxy) || variable(env, ALL_PROXY);
	if (proxy === '') return undefined;
	let target: URL;
	try {
		target = new URL(url);
	} catch {
		return undefined;
	}
	// `host` keeps an IPv6 literal's brackets; the port is cut off.
	const hostname = target.host.replace(/:\d*$/, '').toLowerCase();
	const port = Number.parseInt(target.port, 10) || DEFAULT_PORTS[scheme] || 0;
	if (hostname === '' || !proxiedDespiteNoProxy(env, hostname, port)) return undefined;
	if (!proxy.includes('://')) proxy = `${scheme}://${proxy}`;
	try {
		return new URL(proxy);
	} catch {
		return undefined;
	}
}
