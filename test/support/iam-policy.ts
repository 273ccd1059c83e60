/**
 * A small IAM policy evaluator for the packaged CloudFormation template, enough
 * to answer "does this role's policy allow this call, with the condition
 * context AWS gives it?" for the statements this project writes.
 *
 * What it models (IAM User Guide, "Policy evaluation logic" and "IAM JSON policy
 * elements reference"):
 * - Action / NotAction with `*` and `?` wildcards, case-insensitive.
 * - Resource / NotResource: ARNs compared segment by segment (partition,
 *   service, region, account), the resource part with `*` and `?`.
 * - Condition operators: StringEquals, StringNotEquals, StringEqualsIgnoreCase,
 *   StringLike, StringNotLike, ArnEquals, ArnLike, ArnNotEquals, ArnNotLike,
 *   Bool, Null, each with ForAllValues: / ForAnyValue: and ...IfExists.
 *   Condition keys are case-insensitive, values case-sensitive. An operator it
 *   does not know throws UnsupportedConditionError: a test must never pass
 *   because a condition was skipped.
 * - An explicit Deny wins; otherwise some Allow must match.
 * - Resource-based policies (KMS key policies, SNS topic policies): a service
 *   principal is allowed only by the resource policy; for a role of the same
 *   account either policy may allow, except KMS, where the key policy must allow
 *   the role itself or delegate to the account (`:root`) and then the role's
 *   own policy must allow too (KMS Developer Guide, "Key policies in AWS KMS").
 *
 * CloudFormation intrinsics (Ref, Fn::GetAtt, Fn::Sub, Fn::Split, Fn::Join,
 * Fn::Select) are resolved with a fake partition, region and account; physical
 * names follow what CloudFormation would create (the name property when set).
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface CfnResource {
  Type: string;
  Properties?: Record<string, any>;
  DependsOn?: string | string[];
}

export interface CfnTemplate {
  Resources: Record<string, CfnResource>;
  Outputs?: Record<string, unknown>;
}

export interface Statement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: string | string[];
  NotResource?: string | string[];
  Principal?: '*' | { AWS?: string | string[]; Service?: string | string[] };
  Condition?: Record<string, Record<string, string | boolean | Array<string | boolean>>>;
}

export interface PolicyDocument {
  Version?: string;
  Statement: Statement | Statement[];
}

export const FAKE = {
  partition: 'aws',
  region: 'eu-west-1',
  accountId: '123456789012',
  stackName: 'vault-ha-control-plane-citest',
} as const;

export class UnresolvableError extends Error {
  override readonly name = 'UnresolvableError';
}

export class UnsupportedConditionError extends Error {
  override readonly name = 'UnsupportedConditionError';
  constructor(readonly operator: string) {
    super(`condition operator ${operator} is not modelled by test/support/iam-policy.ts: add it (with the IAM documentation rule) before using it`);
  }
}

/* --------------------------------------------------------------- intrinsics */

/** Resolves CloudFormation intrinsics in a template fragment to plain JSON. */
export class TemplateResolver {
  constructor(
    readonly template: CfnTemplate,
    readonly env: { partition: string; region: string; accountId: string; stackName: string } = FAKE,
  ) {}

  resource(logicalId: string): CfnResource {
    const r = this.template.Resources[logicalId];
    if (!r) throw new UnresolvableError(`no resource ${logicalId} in the template`);
    return r;
  }

  private prop(logicalId: string, name: string): string | undefined {
    const v = this.resource(logicalId).Properties?.[name];
    return v === undefined ? undefined : String(this.resolve(v));
  }

  private generatedName(logicalId: string): string {
    return `${this.env.stackName}-${logicalId}-FAKE0123`;
  }

  ref(name: string): string {
    const { partition: p, region: r, accountId: a, stackName } = this.env;
    switch (name) {
      case 'AWS::Partition':
        return p;
      case 'AWS::Region':
        return r;
      case 'AWS::AccountId':
        return a;
      case 'AWS::StackName':
        return stackName;
      case 'AWS::URLSuffix':
        return 'amazonaws.com';
      default:
        break;
    }
    const res = this.resource(name);
    switch (res.Type) {
      case 'AWS::SNS::Topic':
        return `arn:${p}:sns:${r}:${a}:${this.prop(name, 'TopicName') ?? this.generatedName(name)}`;
      case 'AWS::KMS::Key':
        return `fake-key-${name}`;
      case 'AWS::KMS::Alias':
        return this.prop(name, 'AliasName')!;
      case 'AWS::SSM::Document':
        return this.prop(name, 'Name') ?? this.generatedName(name);
      case 'AWS::Lambda::Function':
        return this.prop(name, 'FunctionName') ?? this.generatedName(name);
      case 'AWS::IAM::Role':
        return this.prop(name, 'RoleName') ?? this.generatedName(name);
      case 'AWS::DynamoDB::Table':
        return this.prop(name, 'TableName') ?? this.generatedName(name);
      case 'AWS::StepFunctions::StateMachine':
        return this.getAtt(name, 'Arn');
      case 'AWS::CloudWatch::Alarm':
        return this.prop(name, 'AlarmName') ?? this.generatedName(name);
      case 'AWS::Logs::LogGroup':
        return this.prop(name, 'LogGroupName') ?? this.generatedName(name);
      case 'AWS::S3::Bucket':
        return this.prop(name, 'BucketName') ?? this.generatedName(name).toLowerCase();
      default:
        throw new UnresolvableError(`Ref ${name} (${res.Type}) is not modelled`);
    }
  }

  getAtt(logicalId: string, attribute: string): string {
    const { partition: p, region: r, accountId: a } = this.env;
    const res = this.resource(logicalId);
    const key = `${res.Type}.${attribute}`;
    switch (key) {
      case 'AWS::Lambda::Function.Arn':
        return `arn:${p}:lambda:${r}:${a}:function:${this.ref(logicalId)}`;
      case 'AWS::IAM::Role.Arn': {
        const rolePath = this.prop(logicalId, 'Path') ?? '/';
        return `arn:${p}:iam::${a}:role${rolePath}${this.ref(logicalId)}`;
      }
      case 'AWS::DynamoDB::Table.Arn':
        return `arn:${p}:dynamodb:${r}:${a}:table/${this.ref(logicalId)}`;
      case 'AWS::KMS::Key.Arn':
        return `arn:${p}:kms:${r}:${a}:key/${this.ref(logicalId)}`;
      case 'AWS::SNS::Topic.TopicArn':
        return this.ref(logicalId);
      case 'AWS::SNS::Topic.TopicName':
        return this.ref(logicalId).split(':').pop()!;
      case 'AWS::StepFunctions::StateMachine.Arn':
        return `arn:${p}:states:${r}:${a}:stateMachine:${this.prop(logicalId, 'StateMachineName') ?? this.generatedName(logicalId)}`;
      case 'AWS::CloudWatch::Alarm.Arn':
        return `arn:${p}:cloudwatch:${r}:${a}:alarm:${this.ref(logicalId)}`;
      case 'AWS::Logs::LogGroup.Arn':
        return `arn:${p}:logs:${r}:${a}:log-group:${this.ref(logicalId)}:*`;
      case 'AWS::S3::Bucket.Arn':
        return `arn:${p}:s3:::${this.ref(logicalId)}`;
      default:
        throw new UnresolvableError(`Fn::GetAtt ${logicalId}.${attribute} (${res.Type}) is not modelled`);
    }
  }

  private sub(text: string, vars: Record<string, Json>): string {
    return text.replace(/\$\{(!?)([^}]+)\}/g, (_m, bang: string, name: string) => {
      if (bang) return `\${${name}}`;
      if (name in vars) return String(vars[name]);
      const dot = name.indexOf('.');
      if (dot > 0 && !name.startsWith('AWS::')) return this.getAtt(name.slice(0, dot), name.slice(dot + 1));
      return this.ref(name);
    });
  }

  resolve(value: unknown): Json {
    if (value === null || typeof value !== 'object') return value as Json;
    if (Array.isArray(value)) return value.map((v) => this.resolve(v));
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj);
    if (keys.length === 1) {
      const [k] = keys as [string];
      const arg = obj[k];
      switch (k) {
        case 'Ref':
          return this.ref(String(arg));
        case 'Fn::GetAtt': {
          const [id, attr] = Array.isArray(arg) ? (arg as string[]) : String(arg).split(/\.(.+)/);
          return this.getAtt(String(id), String(attr));
        }
        case 'Fn::Sub': {
          if (typeof arg === 'string') return this.sub(arg, {});
          const [text, vars] = arg as [string, Record<string, unknown>];
          const resolvedVars = Object.fromEntries(Object.entries(vars ?? {}).map(([n, v]) => [n, this.resolve(v)]));
          return this.sub(text, resolvedVars);
        }
        case 'Fn::Split': {
          const [delim, source] = arg as [string, unknown];
          return String(this.resolve(source)).split(delim);
        }
        case 'Fn::Join': {
          const [delim, parts] = arg as [string, unknown];
          const list = this.resolve(parts);
          if (!Array.isArray(list)) throw new UnresolvableError('Fn::Join of a non-list');
          return list.map(String).join(delim);
        }
        case 'Fn::Select': {
          const [index, list] = arg as [unknown, unknown];
          const items = this.resolve(list);
          if (!Array.isArray(items)) throw new UnresolvableError('Fn::Select of a non-list');
          return items[Number(this.resolve(index))] ?? null;
        }
        default:
          if (k.startsWith('Fn::')) throw new UnresolvableError(`${k} is not modelled`);
      }
    }
    return Object.fromEntries(keys.map((k) => [k, this.resolve(obj[k])]));
  }

  /** Every statement of a role's inline policies (resolved). */
  roleStatements(roleLogicalId: string): Statement[] {
    const role = this.resource(roleLogicalId);
    if (role.Type !== 'AWS::IAM::Role') throw new UnresolvableError(`${roleLogicalId} is a ${role.Type}, not a role`);
    const policies = (role.Properties?.Policies ?? []) as Array<{ PolicyDocument: unknown }>;
    return policies.flatMap((p) => statementsOf(this.resolve(p.PolicyDocument) as unknown as PolicyDocument));
  }
}

export function statementsOf(doc: PolicyDocument): Statement[] {
  return [doc.Statement].flat();
}

/* ----------------------------------------------------------------- matching */

const list = (v: string | string[] | undefined): string[] => (v === undefined ? [] : [v].flat());

function globToRegExp(pattern: string, flags = ''): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`, `s${flags}`);
}

export function globMatch(pattern: string, value: string, ignoreCase = false): boolean {
  return globToRegExp(pattern, ignoreCase ? 'i' : '').test(value);
}

/** ARN matching as ArnLike does it: the first five segments one by one, the resource part whole. */
export function arnMatch(pattern: string, arn: string): boolean {
  if (pattern === '*') return true;
  const split = (s: string): string[] | undefined => {
    const parts = s.split(':');
    if (parts.length < 6 || parts[0] !== 'arn') return undefined;
    return [...parts.slice(0, 5), parts.slice(5).join(':')];
  };
  const p = split(pattern);
  const v = split(arn);
  if (!p || !v) return globMatch(pattern, arn);
  return p.every((seg, i) => globMatch(seg, v[i]!));
}

function actionMatches(pattern: string, action: string): boolean {
  return globMatch(pattern, action, true);
}

/* --------------------------------------------------------------- conditions */

/** Condition context of one authorization: key → value(s). Keys are matched case-insensitively. */
export type Context = Record<string, string | string[] | undefined>;

const MATCHERS: Record<string, { test: (policy: string, value: string) => boolean; negated: boolean }> = {
  StringEquals: { test: (p, v) => p === v, negated: false },
  StringNotEquals: { test: (p, v) => p === v, negated: true },
  StringEqualsIgnoreCase: { test: (p, v) => p.toLowerCase() === v.toLowerCase(), negated: false },
  StringLike: { test: (p, v) => globMatch(p, v), negated: false },
  StringNotLike: { test: (p, v) => globMatch(p, v), negated: true },
  ArnEquals: { test: (p, v) => arnMatch(p, v), negated: false },
  ArnLike: { test: (p, v) => arnMatch(p, v), negated: false },
  ArnNotEquals: { test: (p, v) => arnMatch(p, v), negated: true },
  ArnNotLike: { test: (p, v) => arnMatch(p, v), negated: true },
  Bool: { test: (p, v) => p.toLowerCase() === v.toLowerCase(), negated: false },
};

function lookup(ctx: Context, key: string): string[] | undefined {
  const wanted = key.toLowerCase();
  for (const [k, v] of Object.entries(ctx)) {
    if (k.toLowerCase() === wanted && v !== undefined) return [v].flat();
  }
  return undefined;
}

/** One operator block of a Condition element (all keys must hold; any value of a key may match). */
export function conditionHolds(operator: string, block: Record<string, unknown>, ctx: Context): boolean {
  let op = operator;
  let qualifier: 'all' | 'any' | undefined;
  if (op.startsWith('ForAllValues:')) {
    qualifier = 'all';
    op = op.slice('ForAllValues:'.length);
  } else if (op.startsWith('ForAnyValue:')) {
    qualifier = 'any';
    op = op.slice('ForAnyValue:'.length);
  }
  const ifExists = op.endsWith('IfExists');
  if (ifExists) op = op.slice(0, -'IfExists'.length);

  return Object.entries(block).every(([key, raw]) => {
    const policyValues = [raw].flat().map((v) => String(v));
    const values = lookup(ctx, key);
    if (op === 'Null') {
      if (qualifier || ifExists) throw new UnsupportedConditionError(operator);
      const absent = values === undefined || values.length === 0;
      return policyValues.some((p) => (p.toLowerCase() === 'true') === absent);
    }
    const m = MATCHERS[op];
    if (!m) throw new UnsupportedConditionError(operator);
    const positive = (v: string): boolean => policyValues.some((p) => m.test(p, v));
    const single = (v: string): boolean => (m.negated ? !positive(v) : positive(v));
    if (qualifier === 'all') return values === undefined || values.every(single);
    if (qualifier === 'any') return values !== undefined && values.some(single);
    // A missing key: ...IfExists holds; a negated operator holds; any other does not.
    if (values === undefined) return ifExists || m.negated;
    return m.negated ? values.every(single) : values.some(single);
  });
}

/* -------------------------------------------------------------- evaluation */

export interface Authorization {
  /** `service:Action` as IAM names it. */
  action: string;
  /** The resource ARN AWS authorizes (or `*` for actions without resource-level permissions). */
  resource: string;
  context?: Context;
}

export type Principal = { kind: 'role'; arn: string; accountId: string } | { kind: 'service'; service: string };

function principalMatches(s: Statement, principal: Principal): 'direct' | 'account' | undefined {
  const p = s.Principal;
  if (p === undefined) return undefined;
  if (p === '*') return 'direct';
  if (principal.kind === 'service') return list(p.Service).includes(principal.service) ? 'direct' : undefined;
  for (const aws of list(p.AWS)) {
    if (aws === '*') return 'direct';
    if (aws === principal.arn) return 'direct';
    if (aws === principal.accountId || new RegExp(`^arn:[a-z-]+:iam::${principal.accountId}:root$`).test(aws)) return 'account';
  }
  return undefined;
}

/** Whether a statement applies to the request (action, resource, conditions), principal aside. */
export function statementApplies(s: Statement, req: Authorization): boolean {
  const actionOk = s.Action !== undefined ? list(s.Action).some((a) => actionMatches(a, req.action)) : !list(s.NotAction).some((a) => actionMatches(a, req.action));
  if (!actionOk) return false;
  const resourceOk =
    s.Resource !== undefined ? list(s.Resource).some((r) => arnMatch(r, req.resource)) : !list(s.NotResource).some((r) => arnMatch(r, req.resource));
  if (!resourceOk) return false;
  return Object.entries(s.Condition ?? {}).every(([op, block]) => conditionHolds(op, block, req.context ?? {}));
}

export interface Decision {
  allowed: boolean;
  /** Sids (or indexes) of the statements that allowed, or the one that denied. */
  by: string[];
  reason: string;
}

const label = (s: Statement, i: number, where: string): string => `${where}:${s.Sid ?? `#${i}`}`;

/** Identity-policy evaluation: explicit Deny wins, else some Allow must apply. */
export function evaluateIdentity(statements: Statement[], req: Authorization): Decision {
  return authorize({ kind: 'role', arn: 'arn:aws:iam::000000000000:role/any', accountId: '000000000000' }, statements, undefined, req);
}

/**
 * Same-account authorization of `principal` for one request, from its identity
 * policy and the resource's policy (if the resource has one).
 */
export function authorize(
  principal: Principal,
  identity: Statement[],
  resourcePolicy: { kind: 'kms' | 'other'; statements: Statement[] } | undefined,
  req: Authorization,
): Decision {
  const allows: string[] = [];
  const resourceDirect: string[] = [];
  const resourceAccount: string[] = [];
  if (principal.kind === 'role') {
    for (const [i, s] of identity.entries()) {
      if (!statementApplies(s, req)) continue;
      if (s.Effect === 'Deny') return { allowed: false, by: [label(s, i, 'identity')], reason: 'explicit deny in the role policy' };
      allows.push(label(s, i, 'identity'));
    }
  }
  for (const [i, s] of (resourcePolicy?.statements ?? []).entries()) {
    const who = principalMatches(s, principal);
    if (!who || !statementApplies(s, req)) continue;
    if (s.Effect === 'Deny') return { allowed: false, by: [label(s, i, 'resource')], reason: 'explicit deny in the resource policy' };
    (who === 'direct' ? resourceDirect : resourceAccount).push(label(s, i, 'resource'));
  }
  if (resourceDirect.length > 0) return { allowed: true, by: resourceDirect, reason: 'the resource policy allows the principal' };
  if (principal.kind === 'service') return { allowed: false, by: [], reason: 'no resource-policy statement allows the service principal' };
  if (resourcePolicy?.kind === 'kms') {
    if (resourceAccount.length === 0) return { allowed: false, by: [], reason: 'the key policy neither allows the role nor delegates to the account' };
    if (allows.length === 0) return { allowed: false, by: resourceAccount, reason: 'the key policy delegates to IAM but no role statement allows' };
    return { allowed: true, by: [...resourceAccount, ...allows], reason: 'key policy delegates to IAM and the role policy allows' };
  }
  if (allows.length > 0) return { allowed: true, by: allows, reason: 'the role policy allows' };
  return { allowed: false, by: [], reason: 'no statement allows (implicit deny)' };
}

/* ----------------------------------------------------- packaged definitions */

export interface TaskState {
  /** Path of state names from the top of the definition (nested Parallel/Map states included). */
  path: string;
  Resource: string;
  Parameters?: Record<string, Json>;
  TimeoutSeconds?: number;
  TimeoutSecondsPath?: string;
}

export interface PackagedStateMachine {
  logicalId: string;
  /** Logical id of the role in RoleArn (Fn::GetAtt X.Arn). */
  roleLogicalId: string;
  definition: { States: Record<string, Record<string, Json>> };
}

/** Logical id behind a `{ "Fn::GetAtt": [X, "Arn"] }` reference. */
export function getAttTarget(value: unknown): string {
  const arg = (value as { 'Fn::GetAtt'?: unknown } | undefined)?.['Fn::GetAtt'];
  if (Array.isArray(arg)) return String(arg[0]);
  if (typeof arg === 'string') return arg.split('.')[0]!;
  throw new UnresolvableError(`not a Fn::GetAtt: ${JSON.stringify(value)}`);
}

/**
 * Every state machine of the template with its definition as deployed:
 * serverless-step-functions writes `DefinitionString` as an Fn::Sub whose
 * variables are the functions' Fn::GetAtt ARNs.
 */
export function stateMachinesOf(resolver: TemplateResolver): PackagedStateMachine[] {
  return Object.entries(resolver.template.Resources)
    .filter(([, r]) => r.Type === 'AWS::StepFunctions::StateMachine')
    .map(([logicalId, r]) => {
      const props = r.Properties ?? {};
      const text = props.DefinitionString !== undefined ? resolver.resolve(props.DefinitionString) : JSON.stringify(resolver.resolve(props.Definition));
      return {
        logicalId,
        roleLogicalId: getAttTarget(props.RoleArn),
        definition: JSON.parse(String(text)) as PackagedStateMachine['definition'],
      };
    });
}

/** Every Task state, including those inside Parallel branches and Map iterators. */
export function tasksOf(definition: { States: Record<string, Record<string, Json>> }, prefix = ''): TaskState[] {
  const out: TaskState[] = [];
  for (const [name, state] of Object.entries(definition.States)) {
    const here = `${prefix}${name}`;
    if (state.Type === 'Task') out.push({ path: here, ...(state as unknown as Omit<TaskState, 'path'>) });
    for (const branch of (state.Branches as Array<{ States: Record<string, Record<string, Json>> }> | undefined) ?? []) out.push(...tasksOf(branch, `${here}/`));
    const inner = (state.ItemProcessor ?? state.Iterator) as { States: Record<string, Record<string, Json>> } | undefined;
    if (inner) out.push(...tasksOf(inner, `${here}/`));
  }
  return out;
}

/**
 * The Lambda function (logical id) a Task invokes, if it invokes one of the
 * template's functions: a bare function ARN as Resource, or the optimized
 * `arn:aws:states:::lambda:invoke` integration with Parameters.FunctionName.
 */
export function invokedFunction(resolver: TemplateResolver, task: TaskState): string | undefined {
  let target: string | undefined;
  if (/^arn:[^:]+:lambda:/.test(task.Resource)) target = task.Resource;
  else if (/^arn:[^:]+:states:::lambda:invoke(\.waitForTaskToken)?$/.test(task.Resource)) target = String(task.Parameters?.FunctionName ?? '');
  if (target === undefined) return undefined;
  const fnName = target.split(':function:')[1]?.split(':')[0] ?? target;
  return Object.entries(resolver.template.Resources).find(
    ([id, r]) => r.Type === 'AWS::Lambda::Function' && (resolver.ref(id) === fnName || resolver.getAtt(id, 'Arn') === target),
  )?.[0];
}
