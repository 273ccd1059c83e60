// Loaded before every test file: Jest's globalSetup (so the Jest process, its
// workers and child processes inherit it) and setupFiles (each test file's
// environment), and `node --import` for files still on node:test. Tests never
// talk to real AWS: dummy credentials stop the SDK from asking the instance
// metadata service, and a stray call fails fast instead of hanging.
process.env.AWS_ACCESS_KEY_ID ??= 'test';
process.env.AWS_SECRET_ACCESS_KEY ??= 'test';
process.env.AWS_REGION ??= 'us-east-1';
process.env.AWS_EC2_METADATA_DISABLED = 'true';

/** Jest's globalSetup hook: the work is done above, when the module loads. */
export default function setup(): void {}
