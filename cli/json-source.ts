/**
 * A strict JSON reader (RFC 8259) that remembers where every value sits in the text.
 *
 * Why not JSON.parse: its messages quote the surrounding text (`Unexpected token '}', "{"client_secret": …"
 * is not valid JSON`), which would print secrets, and some carry no position at all. This reader reports
 * a syntax error as "line L, column C" with a message that never quotes the file, keeps the line and
 * column of every value for later messages, and flags duplicate keys (JSON.parse silently keeps the last
 * one, so a second `client_secret` would quietly win).
 */

export type JsonPath = ReadonlyArray<string | number>;

export interface SourcePosition {
	/** 1-based. */
	line: number;
	/** 1-based, counted in UTF-16 code units like an editor's column. */
	column: number;
}

export interface JsonSyntaxError extends SourcePosition {
	message: string;
}

export interface DuplicateKey {
	path: JsonPath;
	position: SourcePosition;
	firstPosition: SourcePosition;
}

export type ReadJsonResult =
	| { ok: true; value: unknown; positions: Map<string, SourcePosition>; duplicateKeys: DuplicateKey[] }
	| { ok: false; error: JsonSyntaxError };

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;

/** `oauth2_providers.my_provider.token_url`, `model_list[2].litellm_params.api_base`, `headers["AI Group"]`. */
export function formatJsonPath(path: JsonPath): string {
	let text = '';
	for (const segment of path) {
		if (typeof segment === 'number') text += `[${segment}]`;
		else if (IDENTIFIER.test(segment)) text += text === '' ? segment : `.${segment}`;
		else text += `[${JSON.stringify(segment)}]`;
	}
	return text === '' ? '(top level)' : text;
}

class JsonSyntax extends Error {
	constructor(
		message: string,
		readonly offset: number,
	) {
		super(message);
	}
}

function describeAt(text: string, offset: number): string {
	if (offset >= text.length) return 'the end of the file';
	const char = text[offset];
	// Structural characters are safe to name; anything else could be part of a secret.
	if ('{}[]:,"'.includes(char)) return `'${char}'`;
	if (/\s/.test(char)) return 'whitespace';
	return /[A-Za-z0-9]/.test(char) ? 'a bare word or number' : 'an unexpected character';
}

export function readJson(input: string): ReadJsonResult {
	const text = input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
	const positions = new Map<string, SourcePosition>();
	const duplicateKeys: DuplicateKey[] = [];
	let offset = 0;

	// Line starts, so that an offset becomes line/column without rescanning.
	const lineStarts = [0];
	for (let i = 0; i < text.length; i++) if (text[i] === '\n') lineStarts.push(i + 1);
	const positionOf = (at: number): SourcePosition => {
		let low = 0;
		let high = lineStarts.length - 1;
		while (low < high) {
			const mid = (low + high + 1) >> 1;
			if (lineStarts[mid] <= at) low = mid;
			else high = mid - 1;
		}
		return { line: low + 1, column: at - lineStarts[low] + 1 };
	};

	const skipWhitespace = () => {
		while (offset < text.length && ' \t\n\r'.includes(text[offset])) offset++;
	};
	const fail = (expected: string, at = offset): never => {
		throw new JsonSyntax(`expected ${expected}, found ${describeAt(text, at)}`, at);
	};

	const readString = (): string => {
		const start = offset;
		offset++; // opening quote
		let result = '';
		for (;;) {
			if (offset >= text.length) throw new JsonSyntax('unterminated string (missing closing ")', start);
			const char = text[offset];
			if (char === '"') {
				offset++;
				return result;
			}
			if (char === '\\') {
				const escape = text[offset + 1];
				const simple: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
				if (escape !== undefined && escape in simple) {
					result += simple[escape];
					offset += 2;
				} else if (escape === 'u' && /^[0-9A-Fa-f]{4}$/.test(text.slice(offset + 2, offset + 6))) {
					result += String.fromCharCode(parseInt(text.slice(offset + 2, offset + 6), 16));
					offset += 6;
				} else {
					throw new JsonSyntax('invalid escape sequence in a string (use \\" \\\\ \\/ \\b \\f \\n \\r \\t or \\uXXXX)', offset);
				}
				continue;
			}
			if (char.charCodeAt(0) < 0x20) {
				throw new JsonSyntax('control character (such as a line break or tab) inside a string; write it as \\n or \\t', offset);
			}
			result += char;
			offset++;
		}
	};

	const readNumber = (): number => {
		const match = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(offset));
		if (!match) fail('a value');
		const after = text[offset + match![0].length];
		if (after !== undefined && /[0-9A-Za-z.]/.test(after)) fail('a valid number', offset);
		offset += match![0].length;
		return Number(match![0]);
	};

	const readValue = (path: Array<string | number>): unknown => {
		skipWhitespace();
		positions.set(formatJsonPath(path), positionOf(offset));
		const char = text[offset];
		if (char === '{') return readObject(path);
		if (char === '[') return readArray(path);
		if (char === '"') return readString();
		if (char === '-' || (char !== undefined && char >= '0' && char <= '9')) return readNumber();
		for (const [word, value] of [
			['true', true],
			['false', false],
			['null', null],
		] as const) {
			if (text.startsWith(word, offset) && !/[A-Za-z0-9_]/.test(text[offset + word.length] ?? '')) {
				offset += word.length;
				return value;
			}
		}
		if (char === "'") throw new JsonSyntax('strings must use double quotes (")', offset);
		return fail('a value (a "string", number, object, array, true, false or null)');
	};

	const readObject = (path: Array<string | number>): Record<string, unknown> => {
		offset++; // {
		const result: Record<string, unknown> = {};
		const keyPositions = new Map<string, SourcePosition>();
		skipWhitespace();
		if (text[offset] === '}') {
			offset++;
			return result;
		}
		for (;;) {
			skipWhitespace();
			if (text[offset] !== '"') {
				if (text[offset] === '}') throw new JsonSyntax("trailing comma before '}' (JSON allows none)", offset);
				fail('a property name in double quotes');
			}
			const keyPosition = positionOf(offset);
			const key = readString();
			skipWhitespace();
			if (text[offset] !== ':') fail("':' after the property name");
			offset++;
			const childPath = [...path, key];
			const first = keyPositions.get(key);
			if (first) duplicateKeys.push({ path: childPath, position: keyPosition, firstPosition: first });
			else keyPositions.set(key, keyPosition);
			// defineProperty: a key named "__proto__" must become data, not the object's prototype.
			Object.defineProperty(result, key, { value: readValue(childPath), enumerable: true, writable: true, configurable: true });
			skipWhitespace();
			if (text[offset] === ',') {
				offset++;
				continue;
			}
			if (text[offset] === '}') {
				offset++;
				return result;
			}
			fail("',' or '}' after a property value");
		}
	};

	const readArray = (path: Array<string | number>): unknown[] => {
		offset++; // [
		const result: unknown[] = [];
		skipWhitespace();
		if (text[offset] === ']') {
			offset++;
			return result;
		}
		for (;;) {
			skipWhitespace();
			if (text[offset] === ']') throw new JsonSyntax("trailing comma before ']' (JSON allows none)", offset);
			result.push(readValue([...path, result.length]));
			skipWhitespace();
			if (text[offset] === ',') {
				offset++;
				continue;
			}
			if (text[offset] === ']') {
				offset++;
				return result;
			}
			fail("',' or ']' after an array element");
		}
	};

	try {
		skipWhitespace();
		if (offset >= text.length) throw new JsonSyntax('the file is empty; expected a JSON object', offset);
		const value = readValue([]);
		skipWhitespace();
		if (offset < text.length) fail('the end of the file after the top-level value');
		return { ok: true, value, positions, duplicateKeys };
	} catch (error) {
		if (!(error instanceof JsonSyntax)) throw error;
		return { ok: false, error: { message: error.message, ...positionOf(error.offset) } };
	}
}
