export class UsageError extends Error {}
export interface DeployOptions {
  command: string | undefined;
  stage: string | undefined;
  region: string | undefined;
  params: Record<string, string>;
  rest: string[];
}
export interface EffectiveParams {
  values: Record<string, unknown>;
  defaults: Record<string, unknown>;
  explicit: Set<string>;
}
export function parseOptions(argv: string[]): DeployOptions;
export function effectiveParams(serverlessYml: string, stage: string | undefined, cliParams: Record<string, string>): EffectiveParams;
export function checkDeployParams(params: EffectiveParams, options?: { region?: string }): string[];
