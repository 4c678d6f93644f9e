/**
 * Reads a node parameter per item only when it holds an expression. n8n's getNodeParameter costs about
 * 0.1 ms of CPU per call (it copies and resolves the parameter); a node that reads five parameters per
 * item pays that for values that cannot differ between items (measured in BENCHMARKS.md, benchmark 2).
 */
import type { IExecuteFunctions, IGetNodeParameterOptions } from 'n8n-workflow';

/** n8n marks an expression by a leading "=" in a string value, at any depth. */
function holdsExpression(value: unknown): boolean {
	if (typeof value === 'string') return value.startsWith('=');
	if (Array.isArray(value)) return value.some(holdsExpression);
	if (value && typeof value === 'object') return Object.values(value).some(holdsExpression);
	return false;
}

export function perItemParameter<T>(
	context: IExecuteFunctions,
	name: string,
	fallback: T,
	options?: IGetNodeParameterOptions,
): (itemIndex: number) => T {
	const raw = name.split('.').reduce<unknown>(
		(value, key) => (value && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined),
		context.getNode().parameters,
	);
	const read = (itemIndex: number) => context.getNodeParameter(name, itemIndex, fallback, options) as T;
	if (holdsExpression(raw)) return read;
	let value: T | undefined;
	let known = false;
	return (itemIndex) => {
		if (!known) {
			value = read(itemIndex);
			known = true;
		}
		return value as T;
	};
}
