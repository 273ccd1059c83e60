// Stands in for `@aws-sdk/credential-provider-node` in the Lambda bundles only
// (scripts/build.mjs, plugin lambdaEnvCredentials); the CLI, the sandbox and the
// tests keep the SDK's full default chain.
//
// Why: on Lambda the runtime puts the execution role's credentials in
// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN (Lambda Developer
// Guide, "Defined runtime environment variables"), the first link of the SDK's
// chain. The other links (SSO, shared ini files, credential_process, web
// identity, container / instance metadata) and the STS / SSO clients they need
// never run there, yet weigh ~90 KiB per function.
//
// A missing variable is a deployment fault, not a reason to search further:
// the error names the variables instead of walking a chain that cannot answer.
import { fromEnv } from '@aws-sdk/credential-provider-env';

export class LambdaCredentialsMissingError extends Error {
  name = 'LambdaCredentialsMissingError';
  /** The variables that were absent or empty. */
  missing;
  constructor(missing, options) {
    super(
      `no AWS credentials in the environment (${missing.join(', ')} unset): the Lambda bundle reads only ` +
        'AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, which Lambda sets from the execution role',
      options,
    );
    this.missing = missing;
  }
}

/** Same signature as credential-provider-node's `defaultProvider(init)`: a credentials provider. */
export const defaultProvider = (init = {}) => {
  const env = fromEnv(init);
  return async () => {
    try {
      return await env();
    } catch (e) {
      const missing = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'].filter((k) => !process.env[k]);
      throw new LambdaCredentialsMissingError(missing, { cause: e });
    }
  };
};
