/**
 * The one place where secrets are taken out of text a user, a log or the execution data will see:
 * node errors, the credential test, the import CLI. Everything here runs in linear time, because
 * the text often comes from a server that may be hostile (issue 10: a backtracking JWT pattern
 * stalled n8n's event loop for minutes on a 300 KB error_description).
 */

import { createHmac, randomBytes } from 'node:crypto';

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
const percent = (char: string) => `%${char.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`;
const unicodeEscape = (char: string) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`;
const upperUnicodeEscapes = (text: string) => text.replace(/\\u([0-9a-f]{4})/g, (_escape, hex: string) => `\\u${hex.toUpperCase()}`);

/** Shortest inner base64 run worth searching for: shorter ones would match ordinary base64 by chance. */
const MIN_INNER_BASE64_CHARS = 6;

/**
 * A secret's base64 as it appears inside the base64 of a longer text: where the secret starts at byte
 * offset k (mod 3) of that text, the characters that mix its bits with its neighbours' differ, and only
 * the ones made of its own bits alone are fixed. Those are searched (a Basic header of `id:secret`
 * puts the secret at offset len(id)+1; a server may base64 a whole JSON document around it).
 */
function innerBase64Forms(secret: string): string[] {
	const bytes = Buffer.from(secret, 'utf8');
	const forms: string[] = [];
	for (const offset of [0, 1, 2]) {
		const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString('base64');
		// Character i holds bits [6i, 6i+6); the secret's bits are [8·offset, 8·(offset+length)).
		const inner = encoded.slice(Math.ceil((8 * offset) / 6), Math.floor((8 * (offset + bytes.length)) / 6));
		if (inner.length >= MIN_INNER_BASE64_CHARS) forms.push(inner, inner.replace(/\+/g, '-').replace(/\//g, '_'), inner.replace(/\//g, '\\/'));
	}
	return forms;
}

/**
 * Every form in which a secret may come back from a server or a library: as it is, URI- and
 * form-encoded (upper- and lower-case hex; with `/` kept, as Python's quote() does; with !'()* encoded,
 * as RFC 3986 strict encoders do), JSON-escaped (PHP's `\/`, Python's and .NET's `\uXXXX`, Go's
 * `\u0026 \u003c \u003e`), and base64 / base64url, also from inside a longer encoded text (a Basic
 * header is base64 of `id:secret`).
 */
export function secretForms(secret: string): string[] {
	const forms = new Set<string>([secret]);
	const component = encodeURIComponent(secret);
	const strict = component.replace(/[!'()*]/g, percent);
	for (const encoded of [component, formEncode(secret), strict, component.replace(/%2F/g, '/'), strict.replace(/%2F/g, '/')]) {
		forms.add(encoded);
		forms.add(lowerPercentHex(encoded));
	}
	const jsonEscaped = JSON.stringify(secret).slice(1, -1);
	forms.add(jsonEscaped);
	// PHP escapes slashes; Python's ensure_ascii writes \uXXXX for everything beyond ASCII; .NET in upper case.
	forms.add(jsonEscaped.replace(/\//g, '\\/'));
	const unicodeEscaped = jsonEscaped.replace(/[^\x20-\x7e]/g, unicodeEscape);
	forms.add(unicodeEscaped);
	forms.add(upperUnicodeEscapes(unicodeEscaped));
	// Go's encoding/json escapes &, < and > (HTML safety).
	const goEscaped = unicodeEscaped.replace(/[&<>]/g, unicodeEscape);
	forms.add(goEscaped);
	forms.add(upperUnicodeEscapes(goEscaped));
	const base64 = Buffer.from(secret, 'utf8').toString('base64');
	forms.add(base64);
	forms.add(base64.replace(/=+$/, ''));
	forms.add(base64.replace(/\//g, '\\/'));
	forms.add(Buffer.from(secret, 'utf8').toString('base64url'));
	for (const inner of innerBase64Forms(secret)) forms.add(inner);
	return [...forms].filter((form) => form.length >= MIN_SECRET_LENGTH);
}

/**
 * The secrets of one scrubbing call, their forms computed once: the forms of a private key cost
 * milliseconds, and an error body may hold thousands of strings (issue 19: 334 ms for 16 KB when
 * they were rebuilt per string). The last few sets are remembered, since one configuration's secrets
 * are scrubbed again and again.
 */
class SecretSet {
	/** Every form, longest first: a secret that contains another is replaced whole. */
	readonly forms: string[];
	readonly longestForm: number;
	private readonly shortestForm: number;

	constructor(secrets: ReadonlyArray<string | undefined>) {
		const forms = new Set<string>();
		for (const secret of secrets) {
			if (typeof secret === 'string' && secret.length >= MIN_SECRET_LENGTH) for (const form of secretForms(secret)) forms.add(form);
		}
		this.forms = [...forms].sort((a, b) => b.length - a.length);
		this.longestForm = this.forms[0]?.length ?? 0;
		this.shortestForm = this.forms.at(-1)?.length ?? 0;
	}

	/** Replaces every form in `text`; forms longer than the text (most, for a JSON body's short strings) cost nothing. */
	replaceIn(text: string): string {
		if (text.length < this.shortestForm) return text;
		let scrubbed = text;
		for (const form of this.forms) {
			if (form.length <= scrubbed.length && scrubbed.includes(form)) scrubbed = scrubbed.split(form).join(REDACTED);
		}
		return scrubbed;
	}
}

const MAX_REMEMBERED_SETS = 16;
const rememberedSets = new Map<string, SecretSet>();
// Keys are keyed hashes: a heap dump shows no guessable digest of a secret in them (as in cache-key.ts).
const SET_KEY_SECRET = randomBytes(32);

function secretSet(secrets: ReadonlyArray<string | undefined> | SecretSet): SecretSet {
	if (secrets instanceof SecretSet) return secrets;
	// JSON, not a joined string: ["a\u0000b"] and ["a", "b"] are different sets.
	const listed = JSON.stringify(secrets.filter((secret) => typeof secret === 'string' && secret.length >= MIN_SECRET_LENGTH));
	const key = createHmac('sha256', SET_KEY_SECRET).update(listed).digest('base64url');
	let set = rememberedSets.get(key);
	if (set) rememberedSets.delete(key);
	else {
		set = new SecretSet(secrets);
		if (rememberedSets.size >= MAX_REMEMBERED_SETS) rememberedSets.delete(rememberedSets.keys().next().value as string);
	}
	rememberedSets.set(key, set);
	return set;
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
export function scrubText(text: string, secrets: ReadonlyArray<string | undefined> | SecretSet = []): string {
	let scrubbed = secretSet(secrets).replaceIn(text);
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
	secrets: ReadonlyArray<string | undefined> | SecretSet = [],
	maxChars = MAX_SERVER_TEXT_CHARS,
): string {
	const set = secretSet(secrets);
	// Room for every secret form to be whole inside the part that is scrubbed.
	const headChars = maxChars + set.longestForm + 256;
	const cut = text.length > headChars;
	const head = cut ? dropCutEnd(text.slice(0, headChars), set.forms) : text;
	const scrubbed = scrubText(head, set).replace(/\s+/g, ' ').trim();
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

/**
 * Per headers object: a provider's headers are parsed once per configuration and asked for on every
 * call. Callers copy before adding (`[...secretHeaderValues(h), token]`), never push into this one.
 */
const secretHeaderValuesOf = new WeakMap<Record<string, string>, readonly string[]>();

/** The values of a credential's Headers that count as secrets. */
export function secretHeaderValues(headers: Record<string, string>): readonly string[] {
	let values = secretHeaderValuesOf.get(headers);
	if (values === undefined) {
		values = Object.freeze(
			Object.entries(headers)
				.filter(([name]) => !PUBLIC_HEADER_NAMES.has(name.toLowerCase()))
				.map(([, value]) => value),
		);
		secretHeaderValuesOf.set(headers, values);
	}
	return values;
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
/**
 * The whole walk's budget: 50 entries per level over 6 levels would still be millions of strings, each
 * scrubbed. Past either bound the rest is '[…]': an error's details need the start of a body, not all of it.
 */
export const MAX_SCRUBBED_STRINGS = 500;
export const MAX_SCRUBBED_CHARS = 128 * 1024;
const SECRET_KEY_PATTERN = /secret|token|password|authorization|assertion|api[-_]?key|private[-_]?key|passphrase/i;

/**
 * Deep copy of a JSON-ish value fit for n8n's error details: secret-named keys masked, every string
 * (keys too) bounded and scrubbed, at most MAX_ENTRIES entries per object or array, and at most
 * MAX_SCRUBBED_STRINGS strings and MAX_SCRUBBED_CHARS characters in all. The secrets' forms are
 * computed once for the whole walk.
 */
export function scrubValue(value: unknown, secrets: ReadonlyArray<string | undefined> = []): unknown {
	const budget = { strings: MAX_SCRUBBED_STRINGS, chars: MAX_SCRUBBED_CHARS };
	const set = secretSet(secrets);
	const text = (raw: string, maxChars = MAX_SERVER_TEXT_CHARS): string => {
		if (budget.strings <= 0 || budget.chars <= 0) return '[…]';
		const scrubbed = boundedServerText(raw, set, Math.min(maxChars, budget.chars));
		budget.strings -= 1;
		budget.chars -= scrubbed.length;
		return scrubbed;
	};
	const walk = (node: unknown, depth: number): unknown => {
		if (typeof node === 'string') return text(node);
		if (node === null || typeof node !== 'object') return node;
		if (depth >= MAX_DEPTH || budget.strings <= 0 || budget.chars <= 0) return '[…]';
		if (Array.isArray(node)) return node.slice(0, MAX_ENTRIES).map((entry) => walk(entry, depth + 1));
		const copy: Record<string, unknown> = {};
		let count = 0;
		for (const key in node as Record<string, unknown>) {
			if (!Object.prototype.hasOwnProperty.call(node, key)) continue;
			if (count++ >= MAX_ENTRIES) break;
			const entry = (node as Record<string, unknown>)[key];
			// OAuth error bodies legitimately carry `error`/`error_description`; keys like `access_token` never belong in a report.
			// defineProperty, not assignment: a server's "__proto__" key must stay a plain key.
			Object.defineProperty(copy, text(key, 200), {
				value: SECRET_KEY_PATTERN.test(key) ? REDACTED : walk(entry, depth + 1),
				enumerable: true,
				writable: true,
				configurable: true,
			});
		}
		return copy;
	};
	return walk(value, 0);
}
