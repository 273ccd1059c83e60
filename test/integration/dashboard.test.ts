/**
 * The stage's CloudWatch dashboard (serverless.yml VaultHADashboard,
 * serverless/dashboard.cjs) and the template's other operator-facing pieces:
 * the deployed table name in the functions' environment, the optional email
 * subscription, the region with no silent default.
 *
 * A dashboard graph of a series nobody emits is an empty box on the worst day:
 * every metric must be one functions/adapters/metrics.ts emits (name and
 * dimension set, this stage) or an AWS metric of this stack's own resources,
 * and every Logs Insights query may name only fields the code writes (the
 * logger's own fields, the embedded-metric-format line, the fields of every
 * `logger.log(...)` call in functions/).
 */
import { beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import ts from 'typescript';
import { packagedService, repoRoot, TEST_STAGE } from '../support/packaged-service.js';
import { TemplateResolver, type CfnTemplate } from '../support/iam-policy.js';
import { formatMetrics } from '../../functions/adapters/metrics.js';
import { jsonLogger } from '../../functions/handlers/lib/logger.js';
import { dashboardNameOf } from '../../functions/adapters/notifier.js';

const run = promisify(execFile);

interface Widget {
  type: string;
  properties: Record<string, unknown> & { title?: string; query?: string; metrics?: unknown[][]; alarms?: string[] };
}

let template: CfnTemplate;
let resolver: TemplateResolver;
let widgets: Widget[];

beforeAll(async () => {
  ({ template } = await packagedService());
  resolver = new TemplateResolver(template);
  const dashboard = template.Resources['VaultHADashboard'];
  assert.ok(dashboard, 'no VaultHADashboard in the template');
  assert.equal(dashboard.Type, 'AWS::CloudWatch::Dashboard');
  const body = resolver.resolve(dashboard.Properties?.['DashboardBody']);
  assert.equal(typeof body, 'string', 'DashboardBody resolves to a JSON string');
  widgets = (JSON.parse(body as string) as { widgets: Widget[] }).widgets;
});

const resourcesOfType = (type: string): string[] => Object.entries(template.Resources).filter(([, r]) => r.Type === type).map(([id]) => id);

/* ------------------------------------------------------------ what the code emits */

/** "Namespace|Metric|Dim1,Dim2" for every series formatMetrics declares. */
function emittedSeries(): Set<string> {
  const line = JSON.parse(
    formatMetrics({ cluster: 'prod', stage: TEST_STAGE, verdict: 'healthy', counts: { active: 1 }, registeredTargets: 1, changes: 0, tickDurationMs: 1, probeLatencyMs: 1, probeBlind: false, nonHealthy: false, timestampMs: 0 }),
  ) as { _aws: { CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][]; Metrics: Array<{ Name: string }> }> } };
  const out = new Set<string>();
  for (const d of line._aws.CloudWatchMetrics) for (const m of d.Metrics) for (const dims of d.Dimensions) out.add(`${d.Namespace}|${m.Name}|${[...dims].sort().join(',')}`);
  return out;
}

/** Field names of the object literal passed as the third argument of every `<x>.log(level, message, {...})` in functions/. */
async function loggedFields(): Promise<Set<string>> {
  const fields = new Set<string>();
  // The logger's own fields and the EMF line's properties, from the real code.
  const lines: string[] = [];
  const original = console.log;
  console.log = (l: string) => lines.push(l);
  try {
    jsonLogger('probe', 'debug').log('info', 'x');
  } finally {
    console.log = original;
  }
  for (const k of Object.keys(JSON.parse(lines[0]!) as object)) fields.add(k);
  const emf = JSON.parse(
    formatMetrics({ cluster: 'c', verdict: 'healthy', counts: {}, registeredTargets: 0, changes: 0, tickDurationMs: 1, probeLatencyMs: 1, probeBlind: false, nonHealthy: false, timestampMs: 0 }),
  ) as Record<string, unknown>;
  for (const k of Object.keys(emf)) if (k !== '_aws') fields.add(k);

  const walk = async (dir: string): Promise<string[]> =>
    (await Promise.all((await readdir(dir, { withFileTypes: true })).map((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)])))).flat();
  const files = (await walk(path.join(repoRoot, 'functions'))).filter((f) => f.endsWith('.ts'));
  for (const file of files) {
    const source = ts.createSourceFile(file, await readFile(file, 'utf8'), ts.ScriptTarget.Latest, true);
    const collect = (obj: ts.ObjectLiteralExpression, prefix: string): void => {
      for (const p of obj.properties) {
        if ((ts.isPropertyAssignment(p) || ts.isShorthandPropertyAssignment(p)) && (ts.isIdentifier(p.name) || ts.isStringLiteral(p.name))) {
          const name = `${prefix}${p.name.text}`;
          fields.add(name);
          if (ts.isPropertyAssignment(p) && ts.isObjectLiteralExpression(p.initializer)) collect(p.initializer, `${name}.`);
        }
      }
    };
    const visit = (node: ts.Node): void => {
      if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression) && node.expression.name.text === 'log' && node.arguments.length === 3) {
        const third = node.arguments[2]!;
        if (ts.isObjectLiteralExpression(third)) collect(third, '');
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return fields;
}

const QUERY_WORDS = new Set(['fields', 'filter', 'stats', 'sort', 'limit', 'by', 'as', 'and', 'or', 'not', 'like', 'in', 'desc', 'asc', 'display', 'parse', 'dedup']);

/** The field names a Logs Insights query refers to (not functions, keywords, aliases, literals or @ fields). */
export function queryFields(query: string): { source: string; fields: string[] } {
  const [sourcePart, ...rest] = query.split('\n|');
  const source = /^SOURCE '([^']+)'$/.exec(sourcePart!.trim())?.[1];
  assert.ok(source, `query does not start with SOURCE '<log group>': ${query}`);
  const body = rest
    .join(' | ')
    .replace(/"(?:[^"\\]|\\.)*"/g, ' ')
    .replace(/\/(?:[^/\\]|\\.)+\//g, ' ')
    .replace(/\b\d+[a-z]*\b/g, ' ');
  const aliases = new Set([...body.matchAll(/\bas\s+([A-Za-z_]\w*)/g)].map((m) => m[1]!));
  const fields = [...body.matchAll(/(@?[A-Za-z_][\w.]*)\s*(\()?/g)]
    .filter((m) => m[2] === undefined && !m[1]!.startsWith('@') && !QUERY_WORDS.has(m[1]!) && !aliases.has(m[1]!))
    .map((m) => m[1]!);
  return { source, fields: [...new Set(fields)] };
}

/* ------------------------------------------------------------ the tests */

describe('dashboard', () => {
  it('is named vault-ha-<stage>, the name the notifications link to', () => {
    assert.equal(template.Resources['VaultHADashboard']!.Properties?.['DashboardName'], dashboardNameOf(TEST_STAGE));
    const env = template.Resources['ControllerLambdaFunction']!.Properties?.['Environment'] as { Variables: Record<string, unknown> };
    assert.equal(env.Variables['VAULT_HA_DASHBOARD'], dashboardNameOf(TEST_STAGE));
  });

  it('graphs only series metrics.ts emits (name, dimensions, this stage) or AWS metrics of this stack', () => {
    const emitted = emittedSeries();
    const functions = new Set(resourcesOfType('AWS::Lambda::Function').map((id) => resolver.ref(id)));
    const machines = new Set(resourcesOfType('AWS::StepFunctions::StateMachine').map((id) => resolver.getAtt(id, 'Arn')));
    // The target groups the controller may register in (its IAM scope), by name.
    const tgNames = new Set(
      [JSON.stringify(resolver.resolve(template.Resources['ControllerRole']!.Properties))].flatMap((s) => [...s.matchAll(/targetgroup\/([A-Za-z0-9-]+)\//g)].map((m) => m[1]!)),
    );
    let checked = 0;
    for (const w of widgets.filter((x) => x.type === 'metric')) {
      for (const entry of w.properties.metrics ?? []) {
        const first = entry[0];
        if (typeof first === 'object' && first !== null && 'expression' in first) {
          const expr = String((first as { expression: string }).expression);
          const m = /^SEARCH\('\{([^}]+)\}\s+MetricName="([^"]+)"(.*)',\s*'\w+',\s*\d+\)$/.exec(expr);
          assert.ok(m, `${w.properties.title}: not a SEARCH over one metric: ${expr}`);
          const [ns, ...dims] = m[1]!.split(',');
          const rest = m[3]!;
          if (ns === 'VaultHA') {
            assert.ok(emitted.has(`VaultHA|${m[2]}|${[...dims].sort().join(',')}`), `${w.properties.title}: VaultHA ${m[2]} [${dims.join(',')}] is never emitted`);
            assert.ok(rest.includes(`Stage="${TEST_STAGE}"`), `${w.properties.title}: the search must keep to Stage ${TEST_STAGE}`);
          } else {
            assert.equal(ns, 'AWS/ApplicationELB', `${w.properties.title}: unexpected namespace ${ns}`);
            const named = [...rest.matchAll(/TargetGroup="?(?:targetgroup\/)?([A-Za-z0-9-]+)/g)].map((x) => x[1]!);
            assert.ok(named.length > 0 && named.every((n) => tgNames.has(n)), `${w.properties.title}: must search this stack's target groups (${[...tgNames].join(', ')}), not every one: ${expr}`);
          }
          checked++;
          continue;
        }
        const [ns, name, ...restOf] = entry as [string, string, ...unknown[]];
        const pairs = restOf.filter((x) => typeof x === 'string') as string[];
        const dims: Record<string, string> = {};
        for (let i = 0; i < pairs.length; i += 2) dims[pairs[i]!] = pairs[i + 1]!;
        if (ns === 'VaultHA') {
          assert.ok(emitted.has(`VaultHA|${name}|${Object.keys(dims).sort().join(',')}`), `${w.properties.title}: VaultHA ${name} [${Object.keys(dims).join(',')}] is never emitted`);
          assert.equal(dims['Stage'], TEST_STAGE, `${w.properties.title}: ${name} of another stage`);
        } else if (ns === 'AWS/Lambda') {
          assert.ok(functions.has(dims['FunctionName']!), `${w.properties.title}: ${dims['FunctionName']} is not a function of this stack`);
        } else if (ns === 'AWS/States') {
          assert.ok(machines.has(dims['StateMachineArn']!), `${w.properties.title}: ${dims['StateMachineArn']} is not a state machine of this stack`);
        } else {
          assert.fail(`${w.properties.title}: unexpected namespace ${ns}`);
        }
        checked++;
      }
    }
    assert.ok(checked >= 10, `only ${checked} metrics checked`);
  });

  it('queries only this stack\'s log groups and only fields the code writes', async () => {
    const fields = await loggedFields();
    const logGroups = new Set(resourcesOfType('AWS::Logs::LogGroup').map((id) => resolver.ref(id)));
    const queries = widgets.filter((w) => w.type === 'log');
    assert.ok(queries.length >= 8);
    for (const w of queries) {
      const { source, fields: used } = queryFields(String(w.properties.query));
      assert.ok(logGroups.has(source), `${w.properties.title}: ${source} is not a log group of this stack`);
      assert.ok(used.length > 0, `${w.properties.title}: names no field`);
      for (const f of used) assert.ok(fields.has(f), `${w.properties.title}: no code logs a field "${f}"`);
    }
  });

  it('the field check catches a field nobody writes (the extractor works)', () => {
    assert.deepEqual(queryFields("SOURCE 'g'\n| filter ispresent(Foo) and x = \"a b\"\n| stats max(Bar) as y by Cluster, bin(5m)\n| sort y desc").fields, ['Foo', 'x', 'Bar', 'Cluster']);
  });

  it('shows what the on-call engineer asks first', () => {
    const text = JSON.stringify(widgets);
    const has = (what: string, re: RegExp): void => assert.match(text, re, `no widget for ${what}`);
    has('the verdict timeline', /VerdictNonHealthy/);
    has('the active node', /ActiveNodes/);
    has('registered targets', /RegisteredTargets/);
    has('healthy targets', /HealthyHostCount/);
    has('tick duration', /TickDurationMs/);
    has('probe latency', /ProbeLatencyMs/);
    has('takeovers', /dead-leader takeover/);
    has('replace-node durations and results', /ExecutionTime[^\]]+replace-node|replace-node[^\]]+ExecutionTime/);
    has('drill durations and results', /rtoSeconds/);
    const alarms = widgets.find((w) => w.type === 'alarm')?.properties.alarms ?? [];
    const alarmArns = new Set(resourcesOfType('AWS::CloudWatch::Alarm').map((id) => resolver.getAtt(id, 'Arn')));
    assert.deepEqual(new Set(alarms), alarmArns, 'the alarm widget shows every alarm of the stack');
  });
});

describe('operator-facing template pieces', () => {
  it('every function gets the deployed control table (so the config need not repeat it)', () => {
    for (const id of resourcesOfType('AWS::Lambda::Function')) {
      const env = (template.Resources[id]!.Properties?.['Environment'] as { Variables: Record<string, unknown> }).Variables;
      assert.deepEqual(env['VAULT_HA_CONTROL_TABLE'], { Ref: 'ControlTable' }, id);
    }
  });

  it('subscribes params.alertEmail only when it is set (empty by default: no subscription)', () => {
    const sub = template.Resources['AlertEmailSubscription'];
    assert.ok(sub);
    assert.equal(sub.Type, 'AWS::SNS::Subscription');
    assert.equal((sub as { Condition?: string }).Condition, 'HasAlertEmail');
    assert.deepEqual(sub.Properties?.['TopicArn'], { Ref: 'NotificationsTopic' });
    assert.equal(sub.Properties?.['Protocol'], 'email');
    const conditions = (template as unknown as { Conditions: Record<string, unknown> }).Conditions;
    // With the default (empty) value the condition is false: Not(Equals('', '')).
    assert.deepEqual(conditions['HasAlertEmail'], { 'Fn::Not': [{ 'Fn::Equals': ['', ''] }] });
  });
});

describe('region: the operator\'s, never a silent default', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'vault-ha-region-'));
    for (const rel of ['serverless.yml', 'serverless', 'statemachines', 'scripts', 'package.json']) await cp(path.join(repoRoot, rel), path.join(dir, rel), { recursive: true });
    await symlink(path.join(repoRoot, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  });
  const print = async (env: Record<string, string>, args: string[] = []): Promise<{ code: number; out: string }> => {
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !['AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_PROFILE'].includes(k)));
    try {
      const r = await run(process.execPath, [path.join(repoRoot, 'node_modules/osls/bin/serverless.js'), 'print', '--stage', 'regiontest', '--path', 'provider.region', ...args], {
        cwd: dir,
        env: { ...base, AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'x', SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off', ...env },
        timeout: 120_000,
      });
      return { code: 0, out: r.stdout + r.stderr };
    } catch (e) {
      const err = e as { code?: number; stdout?: string; stderr?: string };
      return { code: err.code ?? 1, out: `${err.stdout ?? ''}${err.stderr ?? ''}` };
    }
  };
  it('comes from --region, else AWS_REGION, else AWS_DEFAULT_REGION, else fails saying how to set it', async () => {
    try {
      const [flag, env, fallback, none] = await Promise.all([
        print({ AWS_REGION: 'eu-central-1' }, ['--region', 'ap-south-1']),
        print({ AWS_REGION: 'eu-central-1', AWS_DEFAULT_REGION: 'us-west-2' }),
        print({ AWS_DEFAULT_REGION: 'us-west-2' }),
        print({}),
      ]);
      assert.equal(flag.out.trim().split('\n').at(-1), 'ap-south-1');
      assert.equal(env.out.trim().split('\n').at(-1), 'eu-central-1');
      assert.equal(fallback.out.trim().split('\n').at(-1), 'us-west-2');
      assert.notEqual(none.code, 0, none.out);
      assert.match(none.out, /no AWS region: pass --region REGION, or set AWS_REGION/);
      assert.doesNotMatch(none.out, /eu-west-1/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
