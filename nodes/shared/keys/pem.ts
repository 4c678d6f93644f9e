/**
 * PEM text as users paste it, back into PEM that OpenSSL reads. Pure.
 *
 * Where keys and certificates come from, and what has happened to them on the way:
 * - SAP service keys (JSON) carry them with literal `\n` sequences instead of line breaks;
 * - n8n 1.x shows password fields as single-line inputs, and a browser drops the line breaks of
 *   pasted text (or makes them spaces); n8n 2.x keeps them in a masked text area;
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

// The labels are short: bounding them keeps every scan below linear, whatever the text.
const MARKER = /-----(BEGIN|END) ([A-Z0-9 ]{1,40})-----/g;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
/**
 * RFC 1421 headers of legacy encrypted keys, found as tokens so that they survive lost line breaks:
 * the IV's length follows from the cipher (AES: 16 bytes, DES: 8), because base64 may follow it directly.
 */
const PROC_TYPE = /Proc-Type:[ \t]*4,ENCRYPTED/g;
const DEK_INFO = /DEK-Info:[ \t]*(AES-(?:128|192|256)-CBC,[0-9A-Fa-f]{32}|DES(?:-EDE3)?-CBC,[0-9A-Fa-f]{16})/g;

function blockOf(label: string, lines: string[]): PemBlock {
	const headers: string[] = [];
	const content = lines
		.join('\n')
		.replace(PROC_TYPE, () => {
			headers.push('Proc-Type: 4,ENCRYPTED');
			return '\n';
		})
		.replace(DEK_INFO, (_match, value: string) => {
			headers.push(`DEK-Info: ${value}`);
			return '\n';
		});
	return { label, headers, base64: content.replace(/\s+/g, '') };
}

/**
 * Every PEM block of the text, in order; text around the blocks (comments, "Bag Attributes") is
 * ignored. One pass over the lines: a BEGIN without its END is dropped, never rescanned.
 */
export function pemBlocks(text: string): PemBlock[] {
	const unescaped = text
		.replace(/\\r\\n|\\n|\\r/g, '\n')
		.replace(/\r\n?/g, '\n')
		// Markers on lines of their own, also where the line breaks were lost.
		.replace(MARKER, '\n$&\n');
	const blocks: PemBlock[] = [];
	let open: { label: string; lines: string[] } | undefined;
	for (const raw of unescaped.split('\n')) {
		const line = raw.trim();
		const marker = /^-----(BEGIN|END) ([A-Z0-9 ]{1,40})-----$/.exec(line);
		if (marker?.[1] === 'BEGIN') {
			open = { label: marker[2], lines: [] };
		} else if (marker?.[1] === 'END') {
			if (open && open.label === marker[2]) blocks.push(blockOf(open.label, open.lines));
			open = undefined;
		} else if (open && line !== '') {
			open.lines.push(line);
		}
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
