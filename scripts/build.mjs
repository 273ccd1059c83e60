// Bundles every function named in serverless.yml into minified ESM and zips it
// as `.build/<function>.zip`, keeping the handler's source path so the
// `handler:` string in serverless.yml resolves both in Lambda (the .mjs) and
// outside AWS (the .ts, through tsx). serverless-esbuild is not used: it hangs
// on build errors (TOOLCHAIN.md).
import { build } from 'esbuild';
import { mkdir, readFile, rm, writeFile, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { zipFiles } from './zip.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outDir = path.join(root, '.build');

export async function readFunctions() {
  const doc = parseDocument(await readFile(path.join(root, 'serverless.yml'), 'utf8'), { logLevel: 'silent' });
  const fns = doc.toJS({ maxAliasCount: 100 }).functions ?? {};
  return Object.entries(fns).map(([name, fn]) => {
    const handler = String(fn.handler);
    const modulePath = handler.slice(0, handler.lastIndexOf('.'));
    return { name, handler, modulePath, entry: path.join(root, `${modulePath}.ts`) };
  });
}

export async function buildAll({ quiet = false } = {}) {
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  const results = [];
  for (const fn of await readFunctions()) {
    if (!existsSync(fn.entry)) throw new Error(`function ${fn.name}: handler source ${fn.entry} not found`);
    const out = await build({
      entryPoints: [fn.entry],
      bundle: true,
      minify: true,
      format: 'esm',
      platform: 'node',
      target: 'node22',
      write: false,
      legalComments: 'none',
      logLevel: 'silent',
      // Some transitive dependencies are CommonJS and call require().
      banner: { js: "import{createRequire as __cr}from'module';const require=__cr(import.meta.url);" },
      metafile: true,
    });
    const code = Buffer.from(out.outputFiles[0].contents);
    const zip = zipFiles([{ name: `${fn.modulePath}.mjs`, data: code }]);
    const zipPath = path.join(outDir, `${fn.name}.zip`);
    await writeFile(zipPath, zip);
    await writeFile(path.join(outDir, `${fn.name}.meta.json`), JSON.stringify(out.metafile));
    results.push({ name: fn.name, bundleBytes: code.length, zipBytes: (await stat(zipPath)).size });
  }
  if (!quiet) for (const r of results) console.log(`${r.name}: ${(r.bundleBytes / 1024).toFixed(0)} KiB bundle, ${(r.zipBytes / 1024).toFixed(0)} KiB zipped`);
  return results;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  buildAll().catch((e) => {
    console.error(e.message ?? e);
    process.exit(1);
  });
}
