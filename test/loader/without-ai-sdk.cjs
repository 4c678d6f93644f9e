// Preloaded with `node -r`: makes @n8n/ai-node-sdk unresolvable, as it is in n8n 1.x.
const Module = require('node:module');
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
	if (request === '@n8n/ai-node-sdk' || request.startsWith('@n8n/ai-node-sdk/')) {
		const error = new Error(`Cannot find module '${request}'`);
		error.code = 'MODULE_NOT_FOUND';
		throw error;
	}
	return resolve.call(this, request, ...rest);
};
