// Bundles every function named in serverless.yml into minified ESM and zips it
// as `.build/<function>.zip`, keeping the handler's source path so the
// `handler:` string in serverless.yml resolves both in Lambda (the .mjs) and
// outside AWS (the .ts, through tsx). serverless-esbuild is not used: it hangs
// on build errors (TOOLCHAIN.md).
//
// What keeps the bundles small (sizes: `npm run bench -- --footprint`):
// - ES module builds of dependencies (`mainFields`: module first). esbuild's
//   default for platform node prefers `main`, the AWS SDK's CommonJS build,
//   which cannot be tree-shaken (the EC2 client alone was 1 MB of it).
// - The AWS SDK's generated schemas made tree-shakable (literalSchemaKeys), and
//   the registrations of error classes the SDK's generic error path rebuilds
//   identically left out (pruneErrorRegistrations): -60 KB per function.
// - The SDK's default credential chain replaced by the environment-only
//   provider Lambda needs (lambdaEnvCredentials): -90 KiB per function.
// - No event-stream serde: no operation we call streams (noEventStreams).
// - Code splitting: what a function reaches only through `import()` (the
//   clients one path loads lazily) becomes a chunk of its own, loaded only when
//   that path runs, so it costs nothing at module init. The chunks sit in the
//   zip next to the handler; a function's size is the sum of all its files.
// What is left of the SDK is its floor: `npm run bench -- --footprint` prints
// it next to each function (a bundle of the same clients and commands, alone).
import { build } from 'esbuild';
import { mkdir, readFile, rm, writeFile, stat } from 'node:fs/promises';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { zipFiles } from './zip.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const DEFAULT_OUT_DIR = path.join(root, '.build');

export async function readFunctions() {
  const doc = parseDocument(await readFile(path.join(root, 'serverless.yml'), 'utf8'), { logLevel: 'silent' });
  const fns = doc.toJS({ maxAliasCount: 100 }).functions ?? {};
  return Object.entries(fns).map(([name, fn]) => {
    const handler = String(fn.handler);
    const modulePath = handler.slice(0, handler.lastIndexOf('.'));
    return { name, handler, modulePath, entry: path.join(root, `${modulePath}.ts`) };
  });
}

/**
 * The AWS SDK's generated schemas (`dist-es/schemas/schemas_0.js`) key their
 * trait objects with computed properties (`{ [_xN]: ... }`, `_xN` a string
 * constant). esbuild cannot prove a computed key free of side effects, so it
 * keeps every schema of a client that is imported at all: 550 KB of EC2 shapes
 * for two Describe calls (aws/aws-sdk-js-v3#7607; fixed upstream in the code
 * generator by smithy-lang/smithy-typescript#1889, which writes literal keys).
 * This does the same at build time: a computed key naming one of the file's own
 * string constants becomes that string literal. Nothing else changes.
 */
export function literalSchemaKeys(source) {
  const strings = new Map();
  for (const m of source.matchAll(/^const (_\w+) = ("(?:[^"\\\n]|\\.)*");$/gm)) strings.set(m[1], m[2]);
  return source.replace(/([{,]\s*)\[(_\w+)\]:/g, (all, before, id) => {
    const literal = strings.get(id);
    return literal === undefined ? all : `${before}${literal}:`;
  });
}

const SDK_SCHEMAS_FILE = /[\\/]node_modules[\\/]@aws-sdk[\\/].*[\\/]dist-es[\\/](?:.*[\\/])?schemas[\\/]schemas_\d+\.js$/;

export const sdkSchemaLiteralKeys = {
  name: 'sdk-schema-literal-keys',
  setup(b) {
    b.onLoad({ filter: SDK_SCHEMAS_FILE }, async (args) => ({ contents: literalSchemaKeys(await readFile(args.path, 'utf8')), loader: 'js' }));
  },
};

/**
 * The error classes a client registers at module load, each with its schema:
 * every error of the service (SSM: 140 classes, 40 KiB minified), whichever
 * operations the function calls. An error that is not registered still
 * reaches the caller, built by the SDK's generic path
 * (`getErrorSchemaOrThrowBaseException` in @aws-sdk/core: the client's base
 * exception class, `name` = the wire code, `message`, `$fault`, `$metadata`,
 * the body's fields copied as they are), which is how every EC2 error arrives
 * anyway (EC2 models none).
 *
 * So a registration is kept only where the generic path would give an error
 * the project could tell apart: the error has a `$retryable` trait (read by
 * the SDK's retry strategy), or the project's code names it (`namedInCode`,
 * errorNamesInCode: by class name or by its `awsQueryError` wire code, such as
 * ELBv2's `TargetGroupNotFound` for TargetGroupNotFoundException). Every error
 * the code matches, or whose modeled members it reads (DynamoDB's
 * ConditionalCheckFailedException `Item`), then arrives exactly as the full SDK
 * delivers it. The others (ELBv2 and SNS model dozens each, SSM 140, none of
 * which we match) arrive named by their wire code, with the body's fields
 * copied as they are, and only read differently in a log line. What is lost
 * is `instanceof <that class>`: the project matches AWS errors by name
 * (functions/adapters/errors.ts isAwsError), never by class, and
 * test/integration/bundles-lean.test.ts keeps it so. The classes and schemas
 * nothing references any more are then dropped by tree shaking.
 *
 * `errorsSource` is the client's `models/errors.js`. Returns the schemas
 * source with the prunable `registerError` statements removed.
 */
export function pruneErrorRegistrations(schemasSource, errorsSource, namedInCode = new Set()) {
  const known = new Set();
  const retryable = new Set();
  for (const part of errorsSource.split(/^export class /m).slice(1)) {
    const name = /^(\w+) extends /.exec(part)?.[1];
    if (!name) continue;
    known.add(name);
    if (/\$retryable\b/.test(part.slice(0, part.indexOf('constructor(')))) retryable.add(name);
  }
  return schemasSource.replace(/^(\w+)_registry\.registerError\((\w+)\$, (\w+)\);\n/gm, (all, registry, schema, ctor) => {
    if (registry === '_s' || schema !== ctor || !known.has(ctor) || retryable.has(ctor) || namedInCode.has(ctor)) return all;
    // The schema's traits: an `awsQueryError: [code, status]` the code names keeps it too.
    const decl = new RegExp(`^export var ${schema}\\$ = \\[-3, \\w+, \\w+,\\s*\\{([^}]*)\\}`, 'm').exec(schemasSource);
    if (!decl) return all;
    const queryCode = /"awsQueryError":\s*\[`([^`]*)`/.exec(decl[1])?.[1];
    return queryCode !== undefined && namedInCode.has(queryCode) ? all : '';
  });
}

/**
 * Every string literal in the TypeScript under `dir` that could name an AWS
 * error (an identifier starting with a capital: 'TargetGroupNotFound',
 * "ConditionalCheckFailedException"). Over-inclusive on purpose: a literal that
 * names no error keeps nothing.
 */
export function errorNamesInCode(dir = path.join(root, 'functions')) {
  const names = new Set();
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) for (const m of readFileSync(p, 'utf8').matchAll(/['"`]([A-Z][A-Za-z0-9]+)['"`]/g)) names.add(m[1]);
    }
  };
  walk(dir);
  return names;
}

/** sdkSchemaLiteralKeys plus pruneErrorRegistrations: what the Lambda bundles use. */
export const sdkLeanSchemas = {
  name: 'sdk-lean-schemas',
  setup(b) {
    let named;
    b.onLoad({ filter: SDK_SCHEMAS_FILE }, async (args) => {
      named ??= errorNamesInCode();
      const source = literalSchemaKeys(await readFile(args.path, 'utf8'));
      const errorsFile = path.join(path.dirname(args.path), '..', 'models', 'errors.js');
      const contents = existsSync(errorsFile) ? pruneErrorRegistrations(source, await readFile(errorsFile, 'utf8'), named) : source;
      return { contents, loader: 'js' };
    });
  },
};

/**
 * Lambda bundles only: the SDK's default credential chain
 * (`@aws-sdk/credential-provider-node` and, through `import()`, its SSO / ini /
 * process / web-identity / metadata providers with the STS, SSO and sign-in
 * clients they call) becomes an environment-only provider
 * (scripts/lambda-env-credentials.mjs): Lambda always hands the role's
 * credentials in through the environment. The CLI, sandbox and tests run the
 * TypeScript sources, never this bundle, and keep the full chain.
 */
export const lambdaEnvCredentials = {
  name: 'lambda-env-credentials',
  setup(b) {
    b.onResolve({ filter: /^@aws-sdk\/credential-provider-node$/ }, () => ({ path: path.join(root, 'scripts', 'lambda-env-credentials.mjs') }));
  },
};

/**
 * mnemonist's LRUCache (with obliterator, 7 KB) is what @aws-sdk/endpoint-cache
 * keeps DynamoDB's discovered endpoints in; endpoint discovery is off unless a
 * client turns it on, and ours do not. A Map-based LRU with the same methods
 * (scripts/lambda-lru-cache.mjs) stands in.
 */
export const smallLruCache = {
  name: 'small-lru-cache',
  setup(b) {
    b.onResolve({ filter: /^mnemonist\/lru-cache(\.js)?$/ }, () => ({ path: path.join(root, 'scripts', 'lambda-lru-cache.mjs') }));
  },
};

/**
 * @smithy/core's Node SHA-256 falls back to a pure-JavaScript implementation
 * (3 KB) when `node:crypto` has no sha256, which no Lambda Node.js runtime
 * lacks. Lambda bundles take the native class unconditionally; if the native
 * hash were ever missing, `createHash` throws at the first signature, naming it.
 */
export const nativeSha256Only = {
  name: 'native-sha256-only',
  setup(b) {
    b.onLoad({ filter: /[\\/]@smithy[\\/]core[\\/]dist-es[\\/]submodules[\\/]checksum[\\/]sha256[\\/]Sha256Node\.js$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      const native = source
        .replace(/^import \{ Sha256Js \} from "\.\/Sha256Js";\n/m, '')
        .replace(/^export const Sha256Node = hasNativeCrypto \? buildNativeClass\(\) : Sha256Js;$/m, 'export const Sha256Node = buildNativeClass();');
      if (native.includes('Sha256Js')) throw new Error(`${args.path}: its fallback to Sha256Js changed shape; update scripts/build.mjs nativeSha256Only`);
      return { contents: native, loader: 'js' };
    });
  },
};

/**
 * The SDK's HTTP protocols load `@smithy/core/event-streams` through `import()`
 * for operations with event-stream members. None of the operations these
 * functions call has one (EC2, ELB, DynamoDB, SSM, SNS, Step Functions,
 * CloudWatch request/response APIs), yet esbuild ships the 14 KiB chunk. It
 * becomes a module that fails loudly, naming itself, if that ever changes.
 */
export const noEventStreams = {
  name: 'no-event-streams',
  setup(b) {
    b.onResolve({ filter: /^@smithy\/core\/event-streams$/ }, (args) => ({ path: args.path, namespace: 'no-event-streams' }));
    b.onLoad({ filter: /.*/, namespace: 'no-event-streams' }, () => ({
      loader: 'js',
      contents:
        "const unavailable = () => { const e = new Error('event streams are not bundled (scripts/build.mjs noEventStreams): an operation with an event-stream member needs them'); e.name = 'EventStreamsNotBundledError'; throw e; };\n" +
        'export class EventStreamSerde { constructor() { unavailable(); } }\n' +
        'export const eventStreamSerdeProvider = () => unavailable();\n',
    }));
  },
};

/** esbuild options for one function (exported for the footprint bench). */
export function esbuildOptions(fn, outdir) {
  return {
    // Metafile paths are relative to this directory (initialFiles relies on it).
    absWorkingDir: root,
    entryPoints: [fn.entry],
    outdir,
    // The handler keeps its source path (functions/handlers/controller.mjs); chunks go to chunks/.
    entryNames: fn.modulePath,
    chunkNames: 'chunks/[name]-[hash]',
    outExtension: { '.js': '.mjs' },
    bundle: true,
    splitting: true,
    minify: true,
    format: 'esm',
    platform: 'node',
    target: 'node22',
    mainFields: ['module', 'main'],
    // bowser parses browser user agents; the SDK reaches it only through an
    // `import()` in its browser user-agent provider, which Node never runs.
    external: ['bowser'],
    write: false,
    legalComments: 'none',
    // Messages quote '—', '≤', '§' and '×': as UTF-8 they take 2-3 bytes, escaped (the default) 6.
    charset: 'utf8',
    logLevel: 'silent',
    // Some transitive dependencies are CommonJS and could call require().
    banner: { js: "import{createRequire as __cr}from'module';const require=__cr(import.meta.url);" },
    metafile: true,
    plugins: [sdkLeanSchemas, lambdaEnvCredentials, noEventStreams, smallLruCache, nativeSha256Only],
  };
}

/**
 * The files loaded when the handler module is imported: the entry and, transitively,
 * the chunks it imports statically (`import()` targets load later, if ever).
 */
export function initialFiles(metafile, entryOutput) {
  const seen = new Set();
  const stack = [entryOutput];
  while (stack.length > 0) {
    const k = stack.pop();
    if (seen.has(k) || !metafile.outputs[k]) continue;
    seen.add(k);
    for (const i of metafile.outputs[k].imports) if (i.kind === 'import-statement') stack.push(i.path);
  }
  return seen;
}

export async function buildAll({ quiet = false, outDir = DEFAULT_OUT_DIR } = {}) {
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  const results = [];
  for (const fn of await readFunctions()) {
    if (!existsSync(fn.entry)) throw new Error(`function ${fn.name}: handler source ${fn.entry} not found`);
    // A directory that is never written (write: false): it only anchors the output paths.
    const virtualDir = path.join(outDir, `${fn.name}.out`);
    const out = await build(esbuildOptions(fn, virtualDir));
    const files = out.outputFiles.map((f) => ({ name: path.relative(virtualDir, f.path).split(path.sep).join('/'), data: Buffer.from(f.contents) }));
    const handlerFile = `${fn.modulePath}.mjs`;
    if (!files.some((f) => f.name === handlerFile)) throw new Error(`function ${fn.name}: esbuild wrote no ${handlerFile}`);
    const zip = zipFiles(files);
    const zipPath = path.join(outDir, `${fn.name}.zip`);
    await writeFile(zipPath, zip);
    await writeFile(path.join(outDir, `${fn.name}.meta.json`), JSON.stringify(out.metafile));
    const metaKey = (name) => path.relative(root, path.join(virtualDir, name)).split(path.sep).join('/');
    const initial = initialFiles(out.metafile, metaKey(handlerFile));
    results.push({
      name: fn.name,
      handlerFile,
      bundleBytes: files.reduce((n, f) => n + f.data.length, 0),
      initBytes: files.filter((f) => initial.has(metaKey(f.name))).reduce((n, f) => n + f.data.length, 0),
      files: files.length,
      zipBytes: (await stat(zipPath)).size,
      zipPath,
      metafilePath: path.join(outDir, `${fn.name}.meta.json`),
    });
  }
  if (!quiet) {
    for (const r of results) {
      console.log(`${r.name}: ${(r.bundleBytes / 1024).toFixed(0)} KiB in ${r.files} files (${(r.initBytes / 1024).toFixed(0)} KiB loaded at init), ${(r.zipBytes / 1024).toFixed(0)} KiB zipped`);
    }
  }
  return results;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  buildAll().catch((e) => {
    console.error(e.message ?? e);
    process.exit(1);
  });
}
