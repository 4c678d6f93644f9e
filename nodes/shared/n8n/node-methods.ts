/**
 * Methods both nodes offer n8n: the model list and the credential dialog's test (n8n 2.41 finds a
 * credential's test through a node that names it in `testedBy`).
 */
import type {
	ICredentialTestFunctions,
	ICredentialsDecrypted,
	ILoadOptionsFunctions,
	INodeCredentialTestResult,
	INodeListSearchResult,
} from 'n8n-workflow';

import { listModels } from '../wire/chat-client';
import { knownSecrets, loadProvider, testProviderCredential } from './credential';
import { toNodeError } from './n8n-errors';
import type { ProviderConfig } from '../config/provider-config';

export async function searchModels(this: ILoadOptionsFunctions, filter?: string): Promise<INodeListSearchResult> {
	let provider: ProviderConfig | undefined;
	try {
		provider = await loadProvider(this);
		const models = await listModels({ provider, maxRetries: 1, timeoutMs: 15_000, logger: this.logger });
		const wanted = filter?.toLowerCase() ?? '';
		return {
			results: models.filter((id) => id.toLowerCase().includes(wanted)).map((id) => ({ name: id, value: id })),
		};
	} catch (error) {
		const nodeError = toNodeError(this.getNode(), error, undefined, provider ? knownSecrets(provider) : []);
		nodeError.description = `${nodeError.description ?? ''} If the provider has no /models list, switch Model to "By Name" and type it.`.trim();
		throw nodeError;
	}
}

export async function llmProviderOAuth2ApiTest(
	this: ICredentialTestFunctions,
	credential: ICredentialsDecrypted,
): Promise<INodeCredentialTestResult> {
	return await testProviderCredential(credential);
}

export const sharedNodeMethods = {
	credentialTest: { llmProviderOAuth2ApiTest },
	listSearch: { searchModels },
};
