#!/usr/bin/env node
// The `vault-ha` operator CLI (package.json "bin"). Runs the TypeScript source
// through tsx (a devDependency, so present after a plain `npm ci`) on the
// Node 22 that `npx` puts first on PATH; see cli/vault-ha.ts.
import { register } from 'tsx/esm/api';

const [major] = process.versions.node.split('.').map(Number);
if (major < 22) {
  console.error(`vault-ha needs Node 22 or newer (this is ${process.version}); run it as \`npx vault-ha\` from the repository, which uses the Node 22 from node_modules`);
  process.exit(2);
}
register();
const { main } = await import('../cli/vault-ha.ts');
await main();
