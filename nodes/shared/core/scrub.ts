/**
 * The one place where secrets are taken out of text a user, a log or the execution data will see:
 * node errors, the credential test, the import CLI. Everything here runs in linear time, because
 * the text often comes from a server that may be hostile (issue 10: a backtracking JWT pattern
 * stalled n8n's event loop for minutes on a 300 KB error_description).
 */

export const REDACTED = '**hidden**';

/** How much server text a message shows: enough for any real error description. */
export const MAX_SERVER_TEXT_CHARS = 2000;

/** Shortest secret worth searching for: shorter strings would blank out ordinary words. */
const MIN_SECRET_LENGTH = 4;

/** RFC 6749 Appendix B: application/x-www-form-urlencoded, as used for the Basic header in §2.3.1. */
export function formEncode(value: string): string {
	return new URLSearchParams([['', value]]).toString().slice(1);
}

const lowerPercentHex = (text: string) => text.replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase());

/**
 * Every form in which a secret may come back from a server or a library: as it is, URI- and
 * form-encoded (upper- and lower-case hex), JSON-escaped, and base64 / base64url (a Basic header
 * is base64 of `id:secret`; callers pass that pair as a secret of its own).
 */
export function secretForms(secret: string): string[] {
	const forms = new Set<string>([secret]);
	for (const encoded of [encodeURIComponent(secret), formEncode(secret)]) {
		forms.add(encoded);
		forms.add(lowerPercentHex(encoded));
	}
	const jsonEscaped = JSON.stringify(secret).slice(1, -1);
	forms.add(jsonEscaped);
	// PHP escapes slashes; Python's ensure_ascii writes \uXXXX for everything beyond ASCII.
	forms.add(jsonEscaped.replace(/\//g, '\\/'));
	const unicodeEscaped = jsonEscaped.replace(/[^\x20-\x7e]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
	forms.add(unicodeEscaped);
	// .NET writes the hex digits in upper case.
	forms.add(unicodeEscaped.replace(/\\u([0-9a-f]{4})/g, (_escape, hex: string) => `\\u${hex.toUpperCase()}`));
	const base64 = Buffer.from(secret, 'utf8').toString('base64');
	forms.add(base64);
	forms.add(base64.replace(/=+$/, ''));
	forms.add(base64.replace(/\//g, '\\/'));
	forms.add(Buffer.from(secret, 'utf8').toString('base64url'));
	return [...forms].filter((form) => form.length >= MIN_SECRET_LENGTH);
}

function knownForms(secrets: ReadonlyArray<string | undefined>): string[] {
	const forms = new Set<string>();
	for (const secret of secrets) {
		if (typeof secret === 'string' && secret.length >= MIN_SECRET_LENGTH) for (const form of secretForms(secret)) forms.add(form);
	}
	// Longest first: a secret that contains another is replaced whole.
	return [...forms].sort((a, b) => b.length - a.length);
}

// Each of these is linear: no nested or adjacent unbounded quantifiers over the same characters.
const AUTHORIZATION_VALUE_PATTERN = /\b(Bearer|Basic)[ \t]+([A-Za-z0-9\-._~+/]+=*)/gi;
/** A credential value, not an English word ("Basic header", "Bearer token"): long, and not all lower-case letters. */
const looksLikeCredential = (value: string) => value.length >= 8 && !/^[a-z]+$/.test(value);
const SECRET_FIELD_PATTERN =
	/\b(client_secret|client_assertion|refresh_token|access_token|id_token|password|assertion)=[^&\s"']+/gi;
const SECRET_JSON_MEMBER_PATTERN =
	/"(client_secret|client_assertion|refresh_token|access_token|id_token|password|assertion)"[ \t]*:[ \t]*"[^"]*"/gi;
/** Maximal runs of base64url and dots: JWTs are searched inside them, by hand (see redactJwts). */
const TOKEN_RUN_PATTERN = /[A-Za-z0-9_.-]+/g;
/** A JWT starts with base64url of `{"`; anything shorter than this after it is not worth a mask. */
const MIN_JWT_TAIL_CHARS = 10;
const isAlphanumeric = (char: string) => /[A-Za-z0-9]/.test(char);

/**
 * JWTs (and JWT-shaped runs cut short) without a backtracking pattern: inside each run of token
 * characters, everything from the first `eyJ` that starts a word is masked.
 */
function redactJwts(text: string): string {
	return text.replace(TOKEN_RUN_PATTERN, (run) => {
		for (let at = run.indexOf('eyJ'); at !== -1; at = run.indexOf('eyJ', at + 1)) {
			if (at > 0 && isAlphanumeric(run[at - 1])) continue;
			return run.length - at >= MIN_JWT_TAIL_CHARS ? `${run.slice(0, at)}${REDACTED}` : run;
		}
		return run;
	});
}

/**
 * Replaces every known secret, in every form secretForms() lists, and anything shaped like a
 * credential (Authorization values, JWTs, form fields and JSON members named like secrets) by REDACTED.
 */
export function scrubText(text: string, secrets: ReadonlyArray<string | undefined> = []): string {
	let scrubbed = text;
	for (const form of knownForms(secrets)) scrubbed = scrubbed.split(form).join(REDACTED);
	scrubbed = scrubbed.replace(AUTHORIZATION_VALUE_PATTERN, (match, scheme: string, value: string) =>
		looksLikeCredential(value) ? `${scheme} ${REDACTED}` : match,
	);
	scrubbed = redactJwts(scrubbed)
		.replace(SECRET_FIELD_PATTERN, (_match, field: string) => `${field}=${REDACTED}`)
		.replace(SECRET_JSON_MEMBER_PATTERN, (_match, field: string) => `"${field}":"${REDACTED}"`);
	return scrubbed;
}

const TOKEN_CHARACTERS = /[A-Za-z0-9\-._~+/=%]/;

/** Drops the end of a cut text where it may hold the start of a secret (its rest was cut away). */
function dropCutEnd(text: string, forms: string[]): string {
	// The trailing run of token characters, by a backward loop: a `[…]+$` pattern backtracks quadratically.
	let end = text.length;
	while (end > 0 && TOKEN_CHARACTERS.test(text[end - 1])) end--;
	let kept = text.slice(0, end);
	for (const form of forms) kept = kept.slice(0, kept.length - longestSuffixThatStartsForm(kept, form));
	return kept;
}

/**
 * The longest end of `text` (shorter than `form`) that is the start of `form`, in time linear in
 * |form|: Knuth–Morris–Pratt's prefix function over form + separator + the end of text. (Checking
 * each length with endsWith is quadratic for a long repetitive secret.)
 */
function longestSuffixThatStartsForm(text: string, form: string): number {
	const tail = text.slice(-(form.length - 1) || text.length);
	if (form.length < 2 || tail === '') return 0;
	const joined = `${form}\u0000${tail}`;
	const prefix = new Int32Array(joined.length);
	for (let i = 1; i < joined.length; i++) {
		let k = prefix[i - 1];
		while (k > 0 && joined[i] !== joined[k]) k = prefix[k - 1];
		if (joined[i] === joined[k]) k++;
		prefix[i] = k;
	}
	return Math.min(prefix[joined.length - 1], form.length - 1);
}

/**
 * Server text as a message may show it: cut to a bounded length BEFORE scrubbing (so scrubbing
 * costs the same for a 2 KB and a 1 GB answer), with the cut end dropped where it could hold a
 * secret's first characters, then scrubbed, then cut to `maxChars`. Whitespace runs are folded.
 */
export function boundedServerText(
	text: string,
	secrets: ReadonlyArray<string | undefined> = [],
	maxChars = MAX_SERVER_TEXT_CHARS,
): string {
	const forms = knownForms(secrets);
	const longestForm = forms[0]?.length ?? 0;
	// Room for every secret form to be whole inside the part that is scrubbed.
	const headChars = maxChars + longestForm + 256;
	const cut = text.length > headChars;
	const head = cut ? dropCutEnd(text.slice(0, headChars), forms) : text;
	const scrubbed = scrubText(head, secrets).replace(/\s+/g, ' ').trim();
	return scrubbed.length > maxChars || cut ? `${scrubbed.slice(0, maxChars)}…` : scrubbed;
}

/**
 * Header names whose values are known not to be secrets (shown by the CLI's --dry-run, not scrubbed).
 * Every other header value counts as a secret: an API key header may be called anything.
 */
export const PUBLIC_HEADER_NAMES: ReadonlySet<string> = new Set([
	'accept',
	'ai-resource-group',
	'api-version',
	'content-type',
	'openai-organization',
	'user-agent',
	'x-snowflake-authorization-token-type',
]);

/** The values of a credential's Headers that count as secrets. */
export function secretHeaderValues(headers: Record<string, string>): string[] {
	return Object.entries(headers)
		.filter(([name]) => !PUBLIC_HEADER_NAMES.has(name.toLowerCase()))
		.map(([, value]) => value);
}

/**
 * A URL with every query value masked (gateways take keys as ?code= or ?subscription-key=), and no
 * user:password. A URL that has neither comes back as it is.
 */
export function maskQueryValues(text: string, base?: string): string {
	try {
		// A redirect's Location may be relative: resolved against the request's URL, it is masked all the same.
		const url = new URL(text, base);
		if (url.search === '' && !url.username && !url.password) return base === undefined ? text : url.toString();
		url.username = '';
		url.password = '';
		const names = [...new Set(url.searchParams.keys())];
		// A bare `?KEY` is the key itself: then the name is masked too.
		url.search = names.map((name) => (url.searchParams.get(name) === '' ? REDACTED : `${encodeURIComponent(name)}=${REDACTED}`)).join('&');
		return url.toString().split(encodeURIComponent(REDACTED)).join(REDACTED);
	} catch {
		// Not a URL even with a base: everything after "?" is masked.
		const query = text.indexOf('?');
		return query === -1 ? text : `${text.slice(0, query)}?${REDACTED}`;
	}
}

/** A URL as a message may show it: query values masked, then bounded and scrubbed. */
export function urlForMessage(text: string, secrets: ReadonlyArray<string | undefined> = [], base?: string): string {
	return boundedServerText(maskQueryValues(text, base), secrets, 300);
}

const MAX_DEPTH = 6;
const MAX_ENTRIES = 50;
const SECRET_KEY_PATTERN = /secret|token|password|authorization|assertion|api[-_]?key|private[-_]?key|passphrase/i;

/**
 * Deep copy of a JSON-ish value fit for n8n's error details: secret-named keys masked, every string
 * (keys too) bounded and scrubbed, at most MAX_ENTRIES entries per object or array.
 */
export function scrubValue(value: unknown, secrets: ReadonlyArray<string | undefined> = [], depth = 0): unknown {
	if (typeof value === 'string') return boundedServerText(value, secrets);
	if (value === null || typeof value !== 'object') return value;
	if (depth >= MAX_DEPTH) return '[…]';
	if (Array.isArray(value)) return value.slice(0, MAX_ENTRIES).map((entry) => scrubValue(entry, secrets, depth + 1));
	const copy: Record<string, unknown> = {};
	let count = 0;
	for (const key in value as Record<string, unknown>) {
		if (!Object.prototype.hasOwnProperty.call(value, key)) continue;
		if (count++ >= MAX_ENTRIES) break;
		const entry = (value as Record<string, unknown>)[key];
		// OAuth error bodies legitimately carry `error`/`error_description`; keys like `access_token` never belong in a report.
		// defineProperty, not assignment: a server's "__proto__" key must stay a plain key.
		Object.defineProperty(copy, boundedServerText(key, secrets, 200), {
			value: SECRET_KEY_PATTERN.test(key) ? REDACTED : scrubValue(entry, secrets, depth + 1),
			enumerable: true,
			writable: true,
			configurable: true,
		});
	}
	return copy;
}
