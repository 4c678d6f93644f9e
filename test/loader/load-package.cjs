// Loads every file package.json's n8n section names, the way n8n's loader does (require, then new),
// and reports what n8n would see. Run from the repository root after `npm run build`.
const path = require('node:path');
const pkg = require(path.resolve('package.json'));
const report = { loaded: [], failed: [] };
for (const file of [...pkg.n8n.credentials, ...pkg.n8n.nodes]) {
	try {
		// n8n takes the class named like the file (DirectoryLoader: "Foo.node.js" exports class Foo).
		const Type = require(path.resolve(file))[path.basename(file).split('.')[0]];
		const instance = new Type();
		const description = instance.description ?? instance;
		report.loaded.push({ file, name: description.name, hidden: description.hidden === true, description: description.description });
	} catch (error) {
		report.failed.push({ file, error: String(error && error.message) });
	}
}
const model = report.loaded.find((entry) => entry.name === 'oAuth2LlmChatModel');
const { OAuth2LlmChatModel } = require(path.resolve('dist/nodes/OAuth2LlmChatModel/OAuth2LlmChatModel.node.js'));
new OAuth2LlmChatModel()
	.supplyData.call({ getNode: () => ({ name: 'OAuth2 LLM Chat Model', type: 'oAuth2LlmChatModel', typeVersion: 1, parameters: {} }) }, 0)
	.then(
		() => ({ ok: true }),
		(error) => ({ message: error.message, description: error.description }),
	)
	.then((supply) => {
		if (model) model.supplyData = supply;
		process.stdout.write(JSON.stringify(report));
	});
