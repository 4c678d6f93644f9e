/**
 * PEM text as users paste it, back into PEM that OpenSSL reads. Pure.
 *
 * Where keys and certificates come from, and what has happened to them on the way:
 * - SAP service keys (JSON) carry them with literal `\n` sequences instead of line breaks;
 * - n8n's password fields are single-line inputs, and a browser drops the line breaks of pasted text;
 * - Windows tools write CRLF.
 */

export interface PemBlock {
	/** The label between BEGIN and END, e.g. "PRIVATE KEY", "RSA PRIVATE KEY", "CERTIFICATE". */
	label: string;
	/** Header lines of legacy encrypted keys (Proc-Type, DEK-Info), kept as they are. */
	headers: string[];
	/** The base64 body without any whitespace. */
	base64: string;
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Every PEM block of the text, in order; text around the blocks (comments, "Bag Attributes") is ignored. */
export function pemBlocks(text: string): PemBlock[] {
	const unescaped = text.replace(/\\r\\n|\\n|\\r/g, '\n').replace(/\r\n?/g, '\n');
	const blocks: PemBlock[] = [];
	for (const match of unescaped.matchAll(BLOCK)) {
		const lines = match[2].split('\n');
		const headers = lines.filter((line) => /^[A-Za-z-]+:/.test(line.trim())).map((line) => line.trim());
		const base64 = lines
			.filter((line) => !/^[A-Za-z-]+:/.test(line.trim()))
			.join('')
			.replace(/\s+/g, '');
		blocks.push({ label: match[1], headers, base64 });
	}
	return blocks;
}

export function isValidBase64(block: PemBlock): boolean {
	return block.base64.length > 0 && block.base64.length % 4 === 0 && BASE64.test(block.base64);
}

/** One block as RFC 7468 text: 64-character lines, LF line ends. */
export function pemText(block: PemBlock): string {
	const lines = block.base64.match(/.{1,64}/g) ?? [];
	const headers = block.headers.length > 0 ? `${block.headers.join('\n')}\n\n` : '';
	return `-----BEGIN ${block.label}-----\n${headers}${lines.join('\n')}\n-----END ${block.label}-----\n`;
}
