export interface BuiltFunction { name: string; bundleBytes: number; zipBytes: number }
export function buildAll(options?: { quiet?: boolean }): Promise<BuiltFunction[]>;
export function readFunctions(): Promise<Array<{ name: string; handler: string; modulePath: string; entry: string }>>;
