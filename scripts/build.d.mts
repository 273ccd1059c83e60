export interface BuiltFunction {
  name: string;
  /** The handler module inside the zip, e.g. functions/handlers/controller.mjs. */
  handlerFile: string;
  /** Every file of the function (handler and chunks), minified ESM. */
  bundleBytes: number;
  /** The files loaded when the handler module is imported (the rest loads on `import()`). */
  initBytes: number;
  files: number;
  zipBytes: number;
  zipPath: string;
  metafilePath: string;
}
export const DEFAULT_OUT_DIR: string;
export function buildAll(options?: { quiet?: boolean; outDir?: string }): Promise<BuiltFunction[]>;
export function readFunctions(): Promise<Array<{ name: string; handler: string; modulePath: string; entry: string }>>;
export function esbuildOptions(fn: { entry: string; modulePath: string }, outdir: string): import('esbuild').BuildOptions & { write: false; metafile: true };
export function initialFiles(metafile: import('esbuild').Metafile, entryOutput: string): Set<string>;
export const sdkSchemaLiteralKeys: import('esbuild').Plugin;
export function literalSchemaKeys(source: string): string;
export function pruneErrorRegistrations(schemasSource: string, errorsSource: string, namedInCode?: ReadonlySet<string>): string;
export function errorNamesInCode(dir?: string): Set<string>;
export const sdkLeanSchemas: import('esbuild').Plugin;
export const lambdaEnvCredentials: import('esbuild').Plugin;
export const noEventStreams: import('esbuild').Plugin;
export const smallLruCache: import('esbuild').Plugin;
export const nativeSha256Only: import('esbuild').Plugin;
