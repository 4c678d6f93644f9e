import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { OAuth2ValidationError } from '../nodes/shared/core/errors';
import { parseProviderConfig, safeParseProviderFields } from '../nodes/shared/config/provider-config';

const valid = {
	baseUrl: 'https://llm.example.com/v1',
	tokenUrl: 'https://login.example.com/oauth/token',
	clientId: 'my-client',
	clientSecret: 'my-secret-value',
};

function issuesFor(fields: Record<string, unknown>) {
	const result = safeParseProviderFields({ ...valid, ...fields }, 'Acme');
	assert.equal(result.ok, false, `expected ${JSON.stringify(fields)} to be rejected`);
	return (result as { issues: Array<{ field: string; message: string }> }).issues;
}

describe('provider configuration', () => {
	it('fills documented defaults', () => {
		const config = parseProviderConfig(valid, 'Acme');
		assert.equal(config.providerName, 'Acme');
		assert.deepEqual(config.headers, {});
		assert.equal(config.tokenEndpoint.clientAuthentication, 'body');
		assert.equal(config.tokenEndpoint.basicAuthEncoding, 'formEncoded');
		assert.equal(config.tokenEndpoint.expiryBufferSeconds, 60);
		assert.deepEqual(config.tokenEndpoint.additionalTokenParameters, {});
		assert.equal(config.tokenEndpoint.scope, undefined);
		assert.equal(config.tokenEndpoint.refreshToken, undefined);
	});

	it('names the provider after the token URL host when the credential has no name', () => {
		assert.equal(parseProviderConfig(valid).providerName, 'login.example.com');
	});

	it('accepts JSON fields as text or objects, and internal hosts such as http://keycloak:8080', () => {
		const config = parseProviderConfig({
			...valid,
			tokenUrl: 'http://keycloak:8080/realms/ai/protocol/openid-connect/token',
			baseUrl: 'https://my-resource.openai.azure.com/openai/deployments/gpt4o?api-version=2024-10-21',
			additionalTokenParameters: '{"audience": "https://llm.example.com", "n": 2}',
			headers: { 'AI-Resource-Group': 'default' },
			scope: '  llm.read llm.write ',
			expiryBufferSeconds: '120',
		});
		assert.deepEqual(config.tokenEndpoint.additionalTokenParameters, { audience: 'https://llm.example.com', n: '2' });
		assert.deepEqual(config.headers, { 'AI-Resource-Group': 'default' });
		assert.equal(config.tokenEndpoint.scope, 'llm.read llm.write');
		assert.equal(config.tokenEndpoint.expiryBufferSeconds, 120);
	});

	const cases: Array<[string, Record<string, unknown>, string, RegExp]> = [
		['a missing token URL', { tokenUrl: '' }, 'tokenUrl', /is required/],
		['a token URL that is not http(s)', { tokenUrl: 'ftp://x/token' }, 'tokenUrl', /http:\/\/ or https:\/\//],
		['a token URL that is not a URL', { tokenUrl: 'login.example.com/token' }, 'tokenUrl', /not a URL/],
		['a token URL with a fragment', { tokenUrl: 'https://x/token#a' }, 'tokenUrl', /fragment/],
		['a token URL with user info', { tokenUrl: 'https://u:p@x/token' }, 'tokenUrl', /user name or password/],
		['a missing base URL', { baseUrl: undefined }, 'baseUrl', /is required/],
		['a missing client ID', { clientId: '' }, 'clientId', /is required/],
		['a client ID with a trailing newline', { clientId: 'abc\n' }, 'clientId', /whitespace/],
		['a missing client secret', { clientSecret: '' }, 'clientSecret', /is required/],
		['a scope with an empty value', { scope: 'llm.read  llm.write' }, 'scope', /empty value/],
		['a scope with a quote', { scope: 'llm."read"' }, 'scope', /not a valid scope/],
		['unparseable additional parameters', { additionalTokenParameters: '{audience:' }, 'additionalTokenParameters', /not valid JSON/],
		['additional parameters that are an array', { additionalTokenParameters: '[1]' }, 'additionalTokenParameters', /JSON object/],
		['additional parameters overriding grant_type', { additionalTokenParameters: { grant_type: 'password' } }, 'additionalTokenParameters', /set by the credential/],
		['headers setting Authorization', { headers: { authorization: 'x' } }, 'headers', /Authorization/],
		['a header name with a space', { headers: { 'AI Group': 'x' } }, 'headers', /not a valid HTTP header name/],
		['a negative expiry buffer', { expiryBufferSeconds: -1 }, 'expiryBufferSeconds', /0 or more/],
		['an expiry buffer that is not a number', { expiryBufferSeconds: 'soon' }, 'expiryBufferSeconds', /number of seconds/],
		['an unknown client authentication', { clientAuthentication: 'jwt' }, 'clientAuthentication', /"body".*"header"/],
	];
	for (const [what, fields, field, message] of cases) {
		it(`rejects ${what}, naming the field`, () => {
			const issues = issuesFor(fields);
			const issue = issues.find((entry) => entry.field === field);
			assert.ok(issue, `no issue for ${field} in ${JSON.stringify(issues)}`);
			assert.match(issue.message, message);
		});
	}

	it('reports a missing secret together with other missing fields', () => {
		const issues = issuesFor({ tokenUrl: '', clientSecret: '' });
		assert.deepEqual(issues.map((issue) => issue.field).sort(), ['clientSecret', 'tokenUrl']);
	});

	it('takes the base of a pasted chat completions URL, keeping its query', () => {
		assert.equal(parseProviderConfig({ ...valid, baseUrl: 'https://h/v1/chat/completions' }).baseUrl, 'https://h/v1');
		assert.equal(
			parseProviderConfig({ ...valid, baseUrl: 'https://r/openai/deployments/d/chat/completions?api-version=1' }).baseUrl,
			'https://r/openai/deployments/d?api-version=1',
		);
	});

	it('allows a refresh-token credential without a client secret', () => {
		const config = parseProviderConfig({ ...valid, clientSecret: '', refreshToken: 'rt-1' });
		assert.equal(config.tokenEndpoint.refreshToken, 'rt-1');
	});

	it('reports every bad field at once, by display name and provider, without echoing what the user typed', () => {
		// A secret pasted into the wrong fields: each of them is invalid, and none may be quoted back.
		const pasted = 'top-secret-1234';
		assert.throws(
			() =>
				parseProviderConfig(
					{
						...valid,
						tokenUrl: `${pasted} not a url`,
						baseUrl: `${pasted}://host/v1`,
						scope: `a  ${pasted}`,
						headers: `{"X-Key": ${pasted}}`,
						additionalTokenParameters: `{"audience": ${pasted}`,
						allowedOrigins: `https://host/${pasted}`,
					},
					'Acme',
				),
			(error: unknown) => {
				assert.ok(error instanceof OAuth2ValidationError);
				assert.equal(error.issues.length, 6, error.message);
				assert.match(error.message, /for Acme/);
				for (const field of ['Token URL', 'Base URL', 'Scope', 'Headers', 'Additional Token Parameters', 'Allowed Origins']) {
					assert.match(error.message, new RegExp(`${field}: `));
				}
				assert.doesNotMatch(error.message, /top-secret/);
				return true;
			},
		);
		assert.throws(() => parseProviderConfig({ ...valid, headers: { [`X-${pasted} bad`]: 'v' } }), (error: unknown) => {
			assert.doesNotMatch((error as Error).message, /top-secret/);
			return true;
		});
	});
});

describe('secret scrubbing', () => {
	it('hides known secrets (also URL-encoded), Authorization values, JWTs and secret form fields, but not prose', async () => {
		const { scrubText } = await import('../nodes/shared/core/scrub');
		const text = scrubText(
			'secret s3cr:t/+& and s3cr%3At%2F%2B%26; Authorization: Bearer abcDEF123456; Basic c2I6eHN1YWE=; ' +
				'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl; client_secret=abc123&refresh_token=r1; ' +
				'send them in a Basic header; a Bearer token',
			['s3cr:t/+&'],
		);
		assert.doesNotMatch(text, /s3cr|abcDEF123456|c2I6eHN1YWE|eyJhbGci|abc123|r1;/);
		assert.match(text, /in a Basic header; a Bearer token$/);
	});
});
