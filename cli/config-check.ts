/**
 * `vault-ha config check FILE [--live]`: the deploy traps, caught before they
 * bite.
 *
 * Offline (no AWS call): the schema (functions/config — every invalid field
 * named), placeholders left from the examples (`REPLACE-ME`, the docs' example
 * account 111122223333, target group `.../0123456789abcdef`, launch template
 * `lt-0123456789abcdef0`, EC2 ids that are not `<prefix>-` + 8 or 17 hex
 * digits), a `caBundle` that is not real X.509 (parsed with node:crypto;
 * expired, not yet valid, not a CA), slots/ARNs in different regions, and the
 * control table name a deployed stage does not use.
 *
 * `--live` adds read-only calls with the caller's credentials: the tagged
 * instances, the target group (or the Classic Load Balancer and its health
 * check against the README's recommendation), the control and lock tables, the unseal share
 * parameters (DescribeParameters: names and types only, never a value), the
 * topic, and each slot's launch template, subnet, volume and interface (in the
 * slot's AZ). A placeholder suspicion that a live call proves real (the
 * caller's account is 111122223333, say) is downgraded to info.
 *
 * Exit 0 when there is no error (warnings allowed), 1 otherwise.
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { DescribeLaunchTemplatesCommand, DescribeNetworkInterfacesCommand, DescribeSubnetsCommand, DescribeVolumesCommand } from '@aws-sdk/client-ec2';
import { DescribeLoadBalancersCommand, ElasticLoadBalancingClient, type HealthCheck } from '@aws-sdk/client-elastic-load-balancing';
import { DescribeTargetGroupsCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { ListTopicsCommand } from '@aws-sdk/client-sns';
import { DescribeParametersCommand } from '@aws-sdk/client-ssm';
import { formatIssues, formatPath } from '../functions/config/errors.js';
import { configSchema, type ClusterConfig, type Config } from '../functions/config/schema.js';
import { discoverMembers } from '../functions/adapters/ec2-fleet.js';
import { isAwsError } from '../functions/adapters/errors.js';
import { flag, type OptionsSpec } from './lib/args.js';
import { CONNECTION_TIMEOUT_MS, REQUEST_TIMEOUT_MS, type CliContext } from './lib/context.js';
import { EXIT, NotFoundError, UsageError, type ExitCode } from './lib/errors.js';
import { stageTableName } from './lib/stack.js';
import { ELB_DESCRIBE_RATE } from './lib/elb-api-rate.js';

export const CONFIG_CHECK_OPTIONS: OptionsSpec = { live: { type: 'boolean' } };

export type Level = 'error' | 'warning' | 'info';

export interface Finding {
  level: Level;
  /** Field path as an operator writes it: clusters[0].replacement.slots[1].subnetId */
  path: string;
  message: string;
  /** What a live call can prove real (an id, an ARN, `account:<id>`). */
  resource?: string;
}

export interface LiveCheck {
  cluster: string | null;
  check: string;
  ok: boolean;
  detail: string;
  /** Resources this check proved to exist. */
  confirms?: string[];
}

/** The examples' values (DESIGN §4.1, README, AWS docs): present in a real config only by mistake. */
export const EXAMPLE_ACCOUNTS = ['111122223333', '123456789012'];
export const EXAMPLE_LAUNCH_TEMPLATE = 'lt-0123456789abcdef0';
export const EXAMPLE_TARGET_GROUP_ID = '0123456789abcdef';
const PLACEHOLDER_TEXT = /REPLACE[-_ ]?ME|CHANGE[-_ ]?ME|\bTODO\b|^<[^>]*>$/i;
/** EC2 ids are the prefix and 8 (older) or 17 hexadecimal digits. */
const EC2_ID_FIELDS: Record<string, string> = { subnetId: 'subnet', networkInterfaceId: 'eni', volumeId: 'vol' };
/** A certificate expiring sooner than this is a warning: probes fail TLS when it does. */
const EXPIRY_WARNING_MS = 30 * 24 * 3600 * 1000;
const MAX_LIST_PAGES = 50;

const realEc2Id = (prefix: string, v: string): boolean => new RegExp(`^${prefix}-([0-9a-f]{8}|[0-9a-f]{17})$`).test(v);

/* ------------------------------------------------------------------ offline */

export function checkConfigText(text: string, opts: { stage?: string | undefined; nowMs: number }): { config?: Config; findings: Finding[] } {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return { findings: [{ level: 'error', path: '(root)', message: `not valid JSON (${(e as Error).message})` }] };
  }
  const findings = placeholderFindings(doc);
  const flagged = new Set(findings.map((f) => f.path));
  const parsed = configSchema.safeParse(doc);
  if (!parsed.success) {
    const issues = formatIssues(parsed.error.issues);
    parsed.error.issues.forEach((issue, i) => {
      const path = formatPath(issue.path);
      if (flagged.has(path)) return;
      findings.push({ level: 'error', path, message: (issues[i] ?? '').slice(path.length + 2) });
    });
    return { findings };
  }
  const config = parsed.data;
  findings.push(...semanticFindings(config, doc, opts));
  return { config, findings };
}

/** Walks the raw document: placeholder strings, example values, EC2 ids that cannot be real. */
export function placeholderFindings(doc: unknown): Finding[] {
  const out: Finding[] = [];
  const walk = (v: unknown, path: Array<string | number>): void => {
    if (Array.isArray(v)) return v.forEach((x, i) => walk(x, [...path, i]));
    if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) walk(x, [...path, k]);
      return;
    }
    if (typeof v !== 'string') return;
    const p = formatPath(path);
    const key = String(path.at(-1) ?? '');
    if (PLACEHOLDER_TEXT.test(v)) {
      out.push({ level: 'error', path: p, message: `placeholder "${v}" left in: set the real value` });
      return;
    }
    const prefix = EC2_ID_FIELDS[key];
    if (prefix !== undefined && v.startsWith(`${prefix}-`) && !realEc2Id(prefix, v)) {
      out.push({ level: 'error', path: p, message: `"${v}" is not a real ${prefix} id (EC2 ids are ${prefix}- and 8 or 17 hexadecimal digits): copy it from the EC2 console`, resource: v });
      return;
    }
    if (key === 'id' && path.at(-2) === 'launchTemplate') {
      if (v === EXAMPLE_LAUNCH_TEMPLATE) out.push({ level: 'error', path: p, message: `"${v}" is the example launch template id: set the Vault nodes' launch template (EC2 > Launch templates)`, resource: v });
      else if (v.startsWith('lt-') && !/^lt-[0-9a-f]{17}$/.test(v)) out.push({ level: 'error', path: p, message: `"${v}" is not a real launch template id (lt- and 17 hexadecimal digits)`, resource: v });
      return;
    }
    if (v.startsWith('arn:')) {
      const account = v.split(':')[4] ?? '';
      if (EXAMPLE_ACCOUNTS.includes(account)) {
        out.push({ level: 'error', path: p, message: `account ${account} is the AWS documentation's example account: use your account id (aws sts get-caller-identity)`, resource: `account:${account}` });
      }
      if (/:targetgroup\//.test(v) && v.endsWith(`/${EXAMPLE_TARGET_GROUP_ID}`)) {
        out.push({ level: 'error', path: p, message: 'this is the example target group ARN: copy the real one (EC2 > Target groups, or aws elbv2 describe-target-groups)', resource: v });
      }
    }
  };
  walk(doc, []);
  return out;
}

/** The refill of ELB's documented `Describe*` bucket (cli/lib/elb-api-rate.ts), per account and Region. */
export const ELB_DESCRIBE_REFILL_PER_SECOND = ELB_DESCRIBE_RATE.refillPerSecond;
/** The share of that refill one stack's ticks may use before the check warns (README "Scale": ~40 clusters at 5 s). */
export const ELB_DESCRIBE_SHARE = 0.8;

/** The controller's steady Describe* rate per ELB API version: one target-health read per cluster per probe interval. */
export function elbDescribeRates(config: Config): { v2: number; classic: number } {
  const rates = { v2: 0, classic: 0 };
  for (const c of config.clusters) rates[c.loadBalancer.type === 'classic' ? 'classic' : 'v2'] += 1 / c.policy.probeIntervalSeconds;
  return rates;
}

function semanticFindings(config: Config, doc: unknown, opts: { stage?: string | undefined; nowMs: number }): Finding[] {
  const out: Finding[] = [];
  const rates = elbDescribeRates(config);
  for (const [api, rate] of [['ELB API v2 (target groups): DescribeTargetHealth', rates.v2], ['ELB API v1 (Classic): DescribeInstanceHealth', rates.classic]] as const) {
    // 40 clusters × 0.2 is 8.000000000000002 in floating point: compare with a little room.
    if (rate <= ELB_DESCRIBE_REFILL_PER_SECOND * ELB_DESCRIBE_SHARE + 1e-9) continue;
    out.push({
      level: 'warning',
      path: 'clusters',
      message:
        `${api} once per cluster per probe interval comes to ${rate.toFixed(1)} requests a second, over ${Math.round(ELB_DESCRIBE_SHARE * 100)} % of ` +
        `the ${ELB_DESCRIBE_REFILL_PER_SECOND}/s ELB documents for Describe* per account and Region (shared with every other caller): expect throttled ticks. ` +
        'Lengthen policy.probeIntervalSeconds, split the clusters over accounts, or ask AWS Support for a higher ELB API limit (README "Scale")',
    });
  }
  const rawControlTable = (doc as { controlTable?: unknown }).controlTable;
  // Omitted, the functions use the stack's table (env VAULT_HA_CONTROL_TABLE; functions/config/load.ts).
  if (rawControlTable === undefined) {
    out.push({ level: 'info', path: 'controlTable', message: `not set: the deployed functions use their stack's table (${stageTableName(opts.stage ?? '<stage>')})` });
  } else if (opts.stage !== undefined && config.controlTable !== stageTableName(opts.stage)) {
    out.push({ level: 'warning', path: 'controlTable', message: `"${config.controlTable}" is not the table stage ${opts.stage} deploys (${stageTableName(opts.stage)})` });
  }
  const notifRegion = regionOfArn(config.notifications?.topicArn);
  config.clusters.forEach((c, i) => {
    const base = `clusters[${i}]`;
    if (c.vault.caBundle !== undefined) out.push(...caBundleFindings(c.vault.caBundle, `${base}.vault.caBundle`, opts.nowMs));
    else if (c.vault.scheme === 'https') out.push({ level: 'info', path: `${base}.vault.caBundle`, message: "not set: the nodes' certificates must chain to a public CA in Node's trust store" });
    if (c.policy.dryRun) out.push({ level: 'warning', path: `${base}.policy.dryRun`, message: 'true: the controller reports and changes nothing (to pause for maintenance, use vault-ha pause instead)' });
    const regions = new Map<string, string>();
    const tgRegion = c.loadBalancer.type === 'target-group' ? regionOfArn(c.loadBalancer.targetGroupArn) : undefined;
    if (tgRegion) regions.set(`${base}.loadBalancer.targetGroupArn`, tgRegion);
    if (notifRegion) regions.set('notifications.topicArn', notifRegion);
    c.replacement?.slots.forEach((s, j) => regions.set(`${base}.replacement.slots[${j}].availabilityZone`, s.availabilityZone.replace(/[a-z]$/, '')));
    const distinct = new Set(regions.values());
    if (distinct.size > 1) {
      out.push({ level: 'error', path: base, message: `resources in more than one region (${[...regions].map(([p, r]) => `${p}: ${r}`).join('; ')}): one deployment serves one region` });
    }
  });
  return out;
}

/** Every PEM block must be a real X.509 certificate, valid now, and meant to be a CA. */
export function caBundleFindings(bundle: string, path: string, nowMs: number): Finding[] {
  const out: Finding[] = [];
  const blocks = bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) return [{ level: 'error', path, message: 'no complete PEM certificate (BEGIN/END CERTIFICATE) in the bundle' }];
  blocks.forEach((pem, i) => {
    const which = blocks.length > 1 ? `certificate ${i + 1} of ${blocks.length}` : 'the certificate';
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(pem);
    } catch (e) {
      out.push({ level: 'error', path, message: `${which} is not a valid X.509 certificate (${(e as Error).message}): paste the CA's PEM, e.g. from vault's tls_ca_file` });
      return;
    }
    const from = Date.parse(cert.validFrom);
    const to = Date.parse(cert.validTo);
    const subject = cert.subject.replaceAll('\n', ', ');
    if (Number.isFinite(to) && to < nowMs) out.push({ level: 'error', path, message: `${which} (${subject}) expired ${cert.validTo}` });
    else if (Number.isFinite(from) && from > nowMs) out.push({ level: 'error', path, message: `${which} (${subject}) is not valid before ${cert.validFrom}` });
    else if (Number.isFinite(to) && to - nowMs < EXPIRY_WARNING_MS) out.push({ level: 'warning', path, message: `${which} (${subject}) expires ${cert.validTo}` });
    if (!cert.ca) out.push({ level: 'warning', path, message: `${which} (${subject}) is not a CA certificate: the bundle must hold the CA that signed the nodes' certificates` });
  });
  return out;
}

function regionOfArn(arn: string | undefined): string | undefined {
  const r = arn?.split(':')[3];
  return r ? r : undefined;
}

/* ------------------------------------------------------------------ live */

async function attempt(cluster: string | null, check: string, fn: () => Promise<{ ok: boolean; detail: string; confirms?: string[] }>): Promise<LiveCheck> {
  try {
    return { cluster, check, ...(await fn()) };
  } catch (err) {
    const e = err as { name?: string; message?: string };
    return { cluster, check, ok: false, detail: `${e.name ?? 'Error'}: ${e.message ?? String(err)}` };
  }
}

export async function liveChecks(ctx: CliContext, config: Config): Promise<LiveCheck[]> {
  // The Classic ELB client exists only for a config that names a Classic Load Balancer (same bounds as ctx.clients()).
  const classicElb = config.clusters.some((c) => c.loadBalancer.type === 'classic')
    ? new ElasticLoadBalancingClient({ maxAttempts: 3, requestHandler: { connectionTimeout: CONNECTION_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS } })
    : undefined;
  try {
    return await liveChecksWith(ctx, config, classicElb);
  } finally {
    classicElb?.destroy();
  }
}

async function liveChecksWith(ctx: CliContext, config: Config, classicElb: ElasticLoadBalancingClient | undefined): Promise<LiveCheck[]> {
  const { ddb, ssm, sns } = ctx.clients();
  const checks: Array<Promise<LiveCheck>> = [];
  checks.push(
    attempt(null, 'caller identity (STS GetCallerIdentity)', async () => {
      const id = await ctx.callerIdentity();
      return id ? { ok: true, detail: `${id.arn} (account ${id.account})`, confirms: [`account:${id.account}`] } : { ok: false, detail: 'STS did not answer: credentials or network' };
    }),
  );
  // The region every call goes to comes from the SDK chain (AWS_REGION, the profile): the config's ARNs and AZs must be there.
  const configRegions = new Set(config.clusters.flatMap((c) => [c.loadBalancer.type === 'target-group' ? regionOfArn(c.loadBalancer.targetGroupArn) : undefined, ...(c.replacement?.slots ?? []).map((s) => s.availabilityZone.replace(/[a-z]$/, ''))]).filter((r): r is string => r !== undefined));
  checks.push(
    attempt(null, 'region', async () => {
      const region = await ctx.clients().ec2.config.region();
      const others = [...configRegions].filter((r) => r !== region);
      return others.length === 0
        ? { ok: true, detail: `${region} (from the SDK chain: AWS_REGION, AWS_PROFILE or --region), the config's region` }
        : { ok: false, detail: `the SDK's region is ${region} but the config's resources are in ${others.join(', ')}: set AWS_REGION or --region` };
    }),
  );
  const table = await ctx.table();
  checks.push(attempt(null, `control table ${table}`, () => tableCheck(ctx, table, ['pk', 'sk'])));
  const topic = config.notifications?.topicArn;
  if (topic) {
    checks.push(
      attempt(null, `topic ${topic}`, async () => {
        let nextToken: string | undefined;
        for (let page = 0; page < MAX_LIST_PAGES; page++) {
          const out = await sns.send(new ListTopicsCommand({ ...(nextToken ? { NextToken: nextToken } : {}) }));
          if ((out.Topics ?? []).some((t) => t.TopicArn === topic)) return { ok: true, detail: 'exists', confirms: [topic] };
          nextToken = out.NextToken || undefined;
          if (!nextToken) break;
        }
        return { ok: false, detail: 'no such topic in this account and region' };
      }),
    );
  }
  config.clusters.forEach((c, i) => {
    checks.push(...clusterChecks(ctx, c, ddb, ssm));
    if (c.loadBalancer.type === 'classic' && classicElb) checks.push(classicLoadBalancerCheck(classicElb, c, i));
  });
  return Promise.all(checks);
}

function clusterChecks(ctx: CliContext, c: ClusterConfig, ddb: ReturnType<CliContext['clients']>['ddb'], ssm: ReturnType<CliContext['clients']>['ssm']): Array<Promise<LiveCheck>> {
  const { ec2, elbv2 } = ctx.clients();
  const out: Array<Promise<LiveCheck>> = [];
  out.push(
    attempt(c.name, `instances tagged ${c.discovery.tagKey}=${c.discovery.tagValue}`, async () => {
      const members = await discoverMembers(ec2, c);
      const running = members.filter((m) => m.state === 'running');
      const noSlot = running.filter((m) => m.slot === undefined).map((m) => m.instanceId);
      if (members.length === 0) return { ok: false, detail: 'none: tag the Vault instances (discovery.tagKey/tagValue) or fix the tag in the config' };
      return {
        ok: running.length > 0,
        detail: `${members.length} instance(s), ${running.length} running${noSlot.length ? `; without the ${c.discovery.slotTagKey} tag: ${noSlot.join(', ')}` : ''}`,
      };
    }),
  );
  const lb = c.loadBalancer;
  if (lb.type === 'target-group') out.push(
    attempt(c.name, `target group ${lb.targetGroupArn}`, async () => {
      const tg = (await elbv2.send(new DescribeTargetGroupsCommand({ TargetGroupArns: [lb.targetGroupArn] }))).TargetGroups?.[0];
      if (!tg) return { ok: false, detail: 'not found' };
      const port = lb.targetPort ?? c.vault.port;
      const notes = [`${tg.TargetType ?? '?'} targets, port ${tg.Port ?? '?'}, health check ${tg.HealthCheckPath ?? '?'} matcher ${tg.Matcher?.HttpCode ?? '?'} every ${tg.HealthCheckIntervalSeconds ?? '?'} s`];
      if (tg.Port !== undefined && tg.Port !== port) notes.push(`targets are registered on port ${port} (the config), the group's default is ${tg.Port}`);
      if (tg.HealthCheckPath !== undefined && !tg.HealthCheckPath.startsWith('/v1/sys/health')) notes.push('the health check is not /v1/sys/health (README "ALB health check")');
      return { ok: true, detail: notes.join('; '), confirms: [lb.targetGroupArn] };
    }),
  );
  if (c.haLock.type === 'dynamodb') out.push(attempt(c.name, `Vault lock table ${c.haLock.table}`, () => tableCheck(ctx, (c.haLock as { table: string }).table, ['Path', 'Key'])));
  if (c.unseal.mode === 'shamir') {
    const prefix = c.unseal.sharesParameterPrefix;
    out.push(
      attempt(c.name, `unseal share parameters under ${prefix}`, async () => {
        const found: Array<{ name: string; type: string }> = [];
        let nextToken: string | undefined;
        for (let page = 0; page < MAX_LIST_PAGES; page++) {
          // DescribeParameters: metadata only. The shares' values are never read here (DESIGN §5.7).
          const res = await ssm.send(
            new DescribeParametersCommand({ ParameterFilters: [{ Key: 'Path', Option: 'OneLevel', Values: [prefix.replace(/\/$/, '')] }], MaxResults: 50, ...(nextToken ? { NextToken: nextToken } : {}) }),
          );
          for (const p of res.Parameters ?? []) if (p.Name) found.push({ name: p.Name, type: p.Type ?? '?' });
          nextToken = res.NextToken || undefined;
          if (!nextToken) break;
        }
        if (found.length === 0) return { ok: false, detail: 'no parameter: store the key shares as SecureString parameters under this prefix' };
        const plain = found.filter((p) => p.type !== 'SecureString').map((p) => p.name);
        if (plain.length > 0) return { ok: false, detail: `${found.length} parameter(s), but not SecureString: ${plain.join(', ')}` };
        return { ok: true, detail: `${found.length} SecureString parameter(s): ${found.map((p) => p.name).join(', ')}` };
      }),
    );
  }
  const r = c.replacement;
  if (r) {
    out.push(
      attempt(c.name, `launch template ${r.launchTemplate.id}`, async () => {
        const lt = (await ec2.send(new DescribeLaunchTemplatesCommand({ LaunchTemplateIds: [r.launchTemplate.id] }))).LaunchTemplates?.[0];
        return lt ? { ok: true, detail: `${lt.LaunchTemplateName ?? ''} (latest version ${lt.LatestVersionNumber ?? '?'})`, confirms: [r.launchTemplate.id] } : { ok: false, detail: 'not found' };
      }),
    );
    for (const s of r.slots) {
      out.push(
        attempt(c.name, `slot ${s.name}: subnet ${s.subnetId}`, async () => {
          const sn = (await ec2.send(new DescribeSubnetsCommand({ SubnetIds: [s.subnetId] }))).Subnets?.[0];
          if (!sn) return { ok: false, detail: 'not found' };
          return sn.AvailabilityZone === s.availabilityZone
            ? { ok: true, detail: `in ${sn.AvailabilityZone}`, confirms: [s.subnetId] }
            : { ok: false, detail: `is in ${sn.AvailabilityZone}, the slot says ${s.availabilityZone}`, confirms: [s.subnetId] };
        }),
      );
      const eni = s.networkInterfaceId;
      if (eni) {
        out.push(
          attempt(c.name, `slot ${s.name}: network interface ${eni}`, async () => {
            const ni = (await ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [eni] }))).NetworkInterfaces?.[0];
            if (!ni) return { ok: false, detail: 'not found' };
            return ni.AvailabilityZone === s.availabilityZone
              ? { ok: true, detail: `${ni.Status ?? '?'} in ${ni.AvailabilityZone}${ni.Attachment?.InstanceId ? `, attached to ${ni.Attachment.InstanceId}` : ''}`, confirms: [eni] }
              : { ok: false, detail: `is in ${ni.AvailabilityZone}, the slot says ${s.availabilityZone}`, confirms: [eni] };
          }),
        );
      }
      const vol = s.dataVolume?.volumeId;
      if (vol) {
        out.push(
          attempt(c.name, `slot ${s.name}: data volume ${vol}`, async () => {
            const v = (await ec2.send(new DescribeVolumesCommand({ VolumeIds: [vol] }))).Volumes?.[0];
            if (!v) return { ok: false, detail: 'not found' };
            const where = v.Attachments?.[0]?.InstanceId ? `attached to ${v.Attachments[0].InstanceId}` : v.State ?? '?';
            // EBS attaches a volume only to an instance in its own AZ (DESIGN §5.6).
            return v.AvailabilityZone === s.availabilityZone
              ? { ok: true, detail: `${where} in ${v.AvailabilityZone}`, confirms: [vol] }
              : { ok: false, detail: `is in ${v.AvailabilityZone}, the slot says ${s.availabilityZone}: it could never be attached there`, confirms: [vol] };
          }),
        );
      }
    }
  }
  return out;
}

/**
 * README "Classic Load Balancer", recommended health check (the sandbox's
 * RECOMMENDED_CLASSIC_HEALTH_CHECK; a test keeps the two equal). The path
 * depends on the routing: with `all-unsealed`, `?standbyok=true` lets unsealed
 * standbys pass (a Classic check passes on 200 only: API reference
 * "HealthCheck"); with `active-only`, plain /v1/sys/health.
 */
export const RECOMMENDED_CLASSIC_HEALTH_CHECK = {
  allUnsealedPath: '/v1/sys/health?standbyok=true',
  activeOnlyPath: '/v1/sys/health',
  intervalSeconds: 5,
  timeoutSeconds: 3,
  healthyThreshold: 2,
  unhealthyThreshold: 2,
} as const;

/**
 * A Classic health check against the README's recommendation: a summary, one
 * note per deviation, and `broken` when no instance can ever pass (the check
 * speaks HTTP to Vault's TLS listener, or HTTPS to a plain one: a Classic
 * HTTP(S) check passes on `200 OK` only). Pure.
 */
export function classicHealthCheckNotes(
  hc: HealthCheck | undefined,
  cluster: { vault: Pick<ClusterConfig['vault'], 'scheme' | 'port'>; loadBalancer: { routing: 'active-only' | 'all-unsealed' } },
): { broken: boolean; notes: string[] } {
  const rec = RECOMMENDED_CLASSIC_HEALTH_CHECK;
  const scheme = cluster.vault.scheme === 'https' ? 'HTTPS' : 'HTTP';
  const wantPath = cluster.loadBalancer.routing === 'all-unsealed' ? rec.allUnsealedPath : rec.activeOnlyPath;
  const recommendedTarget = `${scheme}:${cluster.vault.port}${wantPath}`;
  if (!hc?.Target) return { broken: false, notes: [`no health check reported (README "Classic Load Balancer" recommends ${recommendedTarget})`] };
  const notes = [`health check ${hc.Target} every ${hc.Interval ?? '?'} s, timeout ${hc.Timeout ?? '?'} s, healthy/unhealthy threshold ${hc.HealthyThreshold ?? '?'}/${hc.UnhealthyThreshold ?? '?'}`];
  let broken = false;
  const m = /^(HTTPS?|TCP|SSL):(\d+)(\/.*)?$/i.exec(hc.Target);
  const protocol = m?.[1]?.toUpperCase();
  const port = m?.[2] !== undefined ? Number(m[2]) : undefined;
  const path = m?.[3] ?? '';
  if (protocol === 'TCP' || protocol === 'SSL') {
    notes.push(`a ${protocol} check passes on any running Vault, sealed or not: use ${recommendedTarget} (README "Classic Load Balancer")`);
  } else if (protocol !== undefined && protocol !== scheme) {
    broken = true;
    notes.push(`the check speaks ${protocol} but Vault (vault.scheme) speaks ${scheme}: no instance can ever pass, the balancer answers 503 to every request; use ${recommendedTarget}`);
  }
  if (port !== undefined && port !== cluster.vault.port) notes.push(`the check goes to port ${port}, Vault listens on ${cluster.vault.port} (vault.port)`);
  if (protocol === 'HTTP' || protocol === 'HTTPS') {
    if (!path.startsWith('/v1/sys/health')) notes.push(`the check is not /v1/sys/health: use ${recommendedTarget} (README "Classic Load Balancer")`);
    else if (cluster.loadBalancer.routing === 'all-unsealed' && !/[?&]standbyok=true\b/.test(path)) {
      notes.push(`only the active passes ${path}: the unsealed standbys that all-unsealed routing registers never serve; use ${recommendedTarget}`);
    } else if (cluster.loadBalancer.routing === 'active-only' && /[?&]standbyok=true\b/.test(path)) {
      notes.push(`with active-only routing the README recommends ${recommendedTarget} (standbyok=true lets a standby pass while it is still registered)`);
    }
  }
  const timing: Array<[string, number | undefined, number, string]> = [
    ['interval', hc.Interval, rec.intervalSeconds, ' s'],
    ['timeout', hc.Timeout, rec.timeoutSeconds, ' s'],
    ['healthy threshold', hc.HealthyThreshold, rec.healthyThreshold, ''],
    ['unhealthy threshold', hc.UnhealthyThreshold, rec.unhealthyThreshold, ''],
  ];
  const off = timing.filter(([, v, want]) => v !== undefined && v !== want).map(([name, v, want, unit]) => `${name} ${v}${unit} (recommended ${want}${unit})`);
  if (off.length > 0) notes.push(off.join(', '));
  if (hc.HealthyThreshold !== undefined && hc.Interval !== undefined && hc.HealthyThreshold * hc.Interval > rec.healthyThreshold * rec.intervalSeconds) {
    // A new instance is OutOfService until HealthyThreshold passes in a row (README "Classic Load Balancer").
    notes.push(`a new or recovering instance serves only after ${hc.HealthyThreshold} × ${hc.Interval} s = ${hc.HealthyThreshold * hc.Interval} s`);
  }
  return { broken, notes };
}

/** `--live` for `loadBalancer.type: classic`: the balancer exists (DescribeLoadBalancers by name) and how it checks health. */
export function classicLoadBalancerCheck(elb: ElasticLoadBalancingClient, c: ClusterConfig, index: number): Promise<LiveCheck> {
  const lb = c.loadBalancer;
  if (lb.type !== 'classic') throw new Error(`cluster ${c.name} has no Classic Load Balancer`);
  const field = `clusters[${index}].loadBalancer.loadBalancerName`;
  return attempt(c.name, `Classic Load Balancer ${lb.loadBalancerName}`, async () => {
    let found;
    try {
      found = (await elb.send(new DescribeLoadBalancersCommand({ LoadBalancerNames: [lb.loadBalancerName] }))).LoadBalancerDescriptions?.[0];
    } catch (err) {
      // ELB answers LoadBalancerNotFound (SDK v3: AccessPointNotFoundException) for a name it does not know.
      if (!isAwsError(err, 'LoadBalancerNotFound', 'AccessPointNotFoundException')) throw err;
    }
    if (!found) {
      return {
        ok: false,
        detail: `not found: no Classic Load Balancer named "${lb.loadBalancerName}" in this account and region; fix ${field} (aws elb describe-load-balancers --query "LoadBalancerDescriptions[].LoadBalancerName")`,
      };
    }
    const { broken, notes } = classicHealthCheckNotes(found.HealthCheck, c);
    const instances = found.Instances?.length ?? 0;
    return { ok: !broken, detail: [`${instances} registered instance(s)`, ...notes].join('; '), confirms: [lb.loadBalancerName] };
  });
}

async function tableCheck(ctx: CliContext, table: string, keys: [string, string]): Promise<{ ok: boolean; detail: string }> {
  const t = (await ctx.clients().ddb.send(new DescribeTableCommand({ TableName: table }))).Table;
  const hash = t?.KeySchema?.find((k) => k.KeyType === 'HASH')?.AttributeName;
  const range = t?.KeySchema?.find((k) => k.KeyType === 'RANGE')?.AttributeName;
  if (hash !== keys[0] || range !== keys[1]) return { ok: false, detail: `key schema is ${hash ?? '?'}/${range ?? '?'}, expected ${keys[0]}/${keys[1]}` };
  return { ok: true, detail: `${t?.TableStatus ?? '?'}, key ${hash}/${range}` };
}

/* ------------------------------------------------------------------ command */

export async function configCheckCommand(ctx: CliContext): Promise<ExitCode> {
  const [sub, file, ...rest] = ctx.args.positionals;
  if (sub !== 'check') throw new UsageError(`unknown config subcommand "${sub ?? ''}" (known: check)`);
  if (file === undefined) throw new UsageError('config check needs a FILE');
  if (rest.length > 0) throw new UsageError(`unexpected argument ${rest[0]}`);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new NotFoundError(`cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const nowMs = ctx.now();
  const { config, findings } = checkConfigText(text, { stage: ctx.stage, nowMs });
  let live: LiveCheck[] | undefined;
  if (flag(ctx.args, 'live') && config) {
    // The live checks look at FILE's resources (table included), not at whatever the other config sources hold.
    ctx.useConfig(config);
    live = await liveChecks(ctx, config);
    const confirmed = new Set(live.flatMap((l) => l.confirms ?? []));
    for (const f of findings) {
      if (f.level === 'error' && f.resource !== undefined && confirmed.has(f.resource)) {
        f.level = 'info';
        f.message = `${f.message} — but it exists for this caller (confirmed live)`;
      }
    }
  }
  const errors = findings.filter((f) => f.level === 'error').length + (live ?? []).filter((l) => !l.ok).length;
  const ok = errors === 0;
  ctx.out.result({ file, ok, findings, ...(live ? { live } : {}) });
  const out = ctx.out;
  out.line(`${file}: ${ok ? out.paint('green', 'OK') : out.paint('red', `${errors} problem(s)`)}`);
  for (const f of findings) out.line(`  ${(f.level === 'error' ? out.paint('red', 'error') : f.level === 'warning' ? out.paint('yellow', 'warning') : 'info').padEnd(7)}  ${f.path}: ${f.message}`);
  if (live) {
    out.line('  live checks (read-only):');
    for (const l of live) out.line(`    ${l.ok ? out.paint('green', 'ok  ') : out.paint('red', 'FAIL')}  ${l.cluster ? `${l.cluster}: ` : ''}${l.check}: ${l.detail}`);
  } else if (flag(ctx.args, 'live')) {
    out.line('  live checks skipped: fix the schema errors first');
  }
  return ok ? EXIT.ok : EXIT.failed;
}
