export class LambdaCredentialsMissingError extends Error {
  readonly missing: string[];
  constructor(missing: string[], options?: { cause?: unknown });
}
export function defaultProvider(init?: Record<string, unknown>): () => Promise<{ accessKeyId: string; secretAccessKey: string; sessionToken?: string; expiration?: Date }>;
