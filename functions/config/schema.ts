/**
 * The configuration contract (DESIGN §4.1) and the state machine input
 * contracts (DESIGN §4.5). Field names here are fixed: tests and tools outside
 * this repository depend on them. New fields must be optional with defaults.
 */
import { X509Certificate } from 'node:crypto';
// zod 4's tree-shakable build: functions, not methods, so a bundle carries only
// the validators it uses (the classic `zod` build shipped ~440 KB in every
// function). Same core, same issues; the English messages come from zod's own
// locale, so errors read as they did with classic zod (errors.ts depends on them).
import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';

z.config(en());

/** Every free-form string is bounded: a hostile value must not become a huge error, log line or item. */
const nonEmpty = z.string().check(z.trim(), z.minLength(1), z.maxLength(1024));
const CLUSTER_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;
const SLOT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** Why a CA bundle is unusable, or undefined when every PEM block in it is a parseable X.509 certificate. */
export function caBundleProblem(pem: string): string | undefined {
  const blocks = pem.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) return 'must be a PEM bundle containing at least one certificate';
  for (const [i, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch {
      return `certificate ${i + 1} of the bundle is not a valid X.509 certificate (a placeholder?)`;
    }
  }
  return undefined;
}

export const TARGET_GROUP_ARN_PATTERN =
  /^arn:aws[a-zA-Z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:targetgroup\/[A-Za-z0-9-]{1,32}\/[0-9a-f]{16}$/;

/** An integer in [min, max]. */
const intIn = (min: number, max: number) => z.int().check(z.gte(min), z.lte(max));
/** A number in [min, max]. */
const numberIn = (min: number, max: number) => z.number().check(z.gte(min), z.lte(max));
/** A string matching `pattern`, with `message` when it does not. */
const matching = (pattern: RegExp, message?: string) => z.string().check(z.regex(pattern, message));

const addressSchema = z.union([
  z.literal('privateIp'),
  z.literal('privateDnsName'),
  z.strictObject({ tag: nonEmpty }),
]);

export const vaultSchema = z.strictObject({
  scheme: z._default(z.enum(['https', 'http']), 'https'),
  port: z._default(intIn(1, 65535), 8200),
  address: z._default(addressSchema, 'privateIp'),
  /** PEM bundle of the private CA that signed the nodes' certificates. Added to Node's trust store, never replacing verification. */
  caBundle: z.optional(
    z.string().check(
      z.maxLength(65_536),
      z.superRefine((s, ctx) => {
        const problem = caBundleProblem(s);
        if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
      }),
    ),
  ),
  probeTimeoutMs: z._default(intIn(100, 30_000), 2000),
  /** Responses larger than this are treated as a failed probe. */
  maxResponseBytes: z._default(intIn(1024, 1_048_576), 65_536),
});

/** Classic Load Balancer names: 1-32 letters, digits and hyphens, not starting or ending with a hyphen. */
export const CLASSIC_LOAD_BALANCER_NAME_PATTERN = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$/;

/**
 * all-unsealed by default: the failover benchmark (README "Performance") shows it
 * fastest with the recommended health check (matcher 200,429: a standby forwards,
 * so a failover never waits for a new registration to pass the ALB's checks).
 */
export const routingSchema = z._default(z.enum(['active-only', 'all-unsealed']), 'all-unsealed');

/** Fields every balancer type shares. */
const balancerCommon = {
  routing: routingSchema,
  /** A URL through the load balancer that drills and tools may send bounded probe requests to. */
  listenerUrl: z.optional(z.url({ protocol: /^https?$/ }).check(z.maxLength(1024))),
};

/**
 * `loadBalancer.type` (DESIGN §4.1): `target-group` (the default; an ALB or NLB
 * target group of target type `instance` or `ip`, found with DescribeTargetGroups)
 * or `classic` (a Classic Load Balancer, registered by instance id).
 */
export const loadBalancerSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z._default(z.literal('target-group'), 'target-group'),
    targetGroupArn: matching(TARGET_GROUP_ARN_PATTERN, 'must be an ELBv2 target group ARN'),
    ...balancerCommon,
    /** Port registered for each target; defaults to vault.port. */
    targetPort: z.optional(intIn(1, 65535)),
  }),
  z.strictObject({
    type: z.literal('classic'),
    loadBalancerName: matching(CLASSIC_LOAD_BALANCER_NAME_PATTERN, 'must be a Classic Load Balancer name (1-32 letters, digits or hyphens)'),
    ...balancerCommon,
  }),
], { error: (issue) => (issue.code === 'invalid_union' ? 'must be "target-group" (the default) or "classic"' : undefined) });

export const haLockSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('dynamodb'),
    table: z._default(nonEmpty, 'vault-dynamodb-backend'),
    /** Clock skew tolerated when comparing the lock's Expires (writer's clock) with ours. */
    skewToleranceMs: z._default(intIn(0, 60_000), 1000),
  }),
  z.strictObject({ type: z.literal('raft') }),
  /**
   * Storage whose HA lock the controller cannot read (MySQL, PostgreSQL, Consul...):
   * leadership from the nodes' own views only, as with Raft; no lock evidence,
   * so no stale/zombie verdicts, no break-lock fencing, no dead-leader takeover.
   */
  z.strictObject({ type: z.literal('none') }),
]);

export const unsealSchema = z.discriminatedUnion('mode', [
  z.strictObject({
    mode: z.literal('shamir'),
    /** SSM path under which the key shares live as SecureString parameters, read on the node itself. */
    sharesParameterPrefix: matching(/^\/[A-Za-z0-9_.\-/]*\/$/, 'must be an SSM parameter path starting and ending with "/"'),
  }),
  z.strictObject({ mode: z.literal('auto') }),
]);

export const slotSchema = z.strictObject({
  name: z.string().check(z.maxLength(63), z.regex(SLOT_NAME, 'must be 1-63 letters, digits, ".", "_" or "-"')),
  availabilityZone: matching(/^[a-z]{2}(-[a-z]+)+-\d[a-z]$/, 'must be an availability zone name such as eu-west-1a'),
  subnetId: matching(/^subnet-[0-9a-z]+$/, 'must be a subnet id (subnet-...)'),
  networkInterfaceId: z.optional(matching(/^eni-[0-9a-z]+$/, 'must be a network interface id (eni-...)')),
  dataVolume: z.optional(
    z.strictObject({
      volumeId: matching(/^vol-[0-9a-z]+$/, 'must be a volume id (vol-...)'),
      device: matching(/^\/dev\/(sd[f-p]|xvd[f-p])$/, 'must be a device name /dev/sdf../dev/sdp or /dev/xvdf../dev/xvdp'),
      /** Where the SSM document mounts the volume on the node. */
      mountPoint: z._default(matching(/^\/[A-Za-z0-9_.\-/]+$/), '/opt/vault/data'),
    }),
  ),
});

export const replacementSchema = z.strictObject({
  launchTemplate: z.strictObject({
    id: matching(/^lt-[0-9a-z]+$/, 'must be a launch template id (lt-...)'),
    version: z._default(matching(/^(\$Latest|\$Default|\d+)$/, 'must be $Latest, $Default or a version number'), '$Latest'),
  }),
  slots: z.array(slotSchema).check(z.minLength(1)),
  /** What happens to the old instance: stop keeps it for forensics, terminate removes it. */
  oldInstance: z._default(z.enum(['stop', 'terminate']), 'terminate'),
  /** What happens to a replacement instance that failed half-way. */
  onFailure: z._default(z.enum(['terminate', 'keep-tagged']), 'terminate'),
  volumeDetachTimeoutSeconds: z._default(intIn(10, 3600), 300),
  standbyTimeoutSeconds: z._default(intIn(10, 3600), 600),
});

export const policySchema = z.strictObject({
  dryRun: z._default(z.boolean(), false),
  probeIntervalSeconds: z._default(numberIn(1, 60), 5),
  unhealthyThreshold: z._default(intIn(1, 10), 2),
  fencing: z._default(z.enum(['none', 'deregister', 'break-lock']), 'deregister'),
  /** Consecutive ticks of zombie-leader evidence before `break-lock` deletes the lock item. */
  breakLockAfterTicks: z._default(intIn(2, 20), 3),
  autoReplace: z._default(z.boolean(), false),
  /** How long a slot's node must be gone before autoReplace starts replace-node. */
  autoReplaceAfterSeconds: z._default(intIn(60, 86_400), 600),
  /** Leadership changes within `flappingWindowTicks` ticks that make the verdict `flapping`. */
  flappingChanges: z._default(intIn(2, 20), 3),
  flappingWindowTicks: z._default(intIn(3, 100), 12),
  /**
   * Dead-leader takeover (DESIGN §5.10): delete the DynamoDB lock item of a
   * holder proven dead that missed a renewal, so a standby takes it within
   * Vault's 1 s retry instead of the 15 s TTL.
   */
  deadLeaderTakeover: z._default(z.boolean(), true),
});

const policyDefaults = policySchema.parse({});
const vaultDefaults = vaultSchema.parse({});

export const clusterSchema = z
  .strictObject({
    name: z.string().check(z.maxLength(63), z.regex(CLUSTER_NAME, 'must be 1-63 letters, digits, "_" or "-"')),
    discovery: z.strictObject({
      // EC2 tag limits: key 128, value 256 characters.
      tagKey: z.pipe(nonEmpty, z.string().check(z.maxLength(128))),
      tagValue: z.pipe(nonEmpty, z.string().check(z.maxLength(256))),
      /** Tag whose value names the replacement slot an instance fills. */
      slotTagKey: z._default(nonEmpty, 'vault-slot'),
    }),
    vault: z._default(vaultSchema, vaultDefaults),
    loadBalancer: loadBalancerSchema,
    haLock: haLockSchema,
    unseal: z._default(unsealSchema, { mode: 'auto' as const }),
    replacement: z.optional(replacementSchema),
    policy: z._default(policySchema, policyDefaults),
  })
  .check(
    z.superRefine((c, ctx) => {
      const seen = new Set<string>();
      c.replacement?.slots.forEach((s, i) => {
        if (seen.has(s.name)) {
          ctx.addIssue({ code: 'custom', path: ['replacement', 'slots', i, 'name'], message: `duplicate slot name "${s.name}"` });
        }
        seen.add(s.name);
      });
      const vols = new Set<string>();
      c.replacement?.slots.forEach((s, i) => {
        const v = s.dataVolume?.volumeId;
        if (v && vols.has(v)) {
          ctx.addIssue({ code: 'custom', path: ['replacement', 'slots', i, 'dataVolume', 'volumeId'], message: `volume ${v} is used by two slots` });
        }
        if (v) vols.add(v);
      });
      if (c.vault.caBundle && c.vault.scheme !== 'https') {
        ctx.addIssue({ code: 'custom', path: ['vault', 'caBundle'], message: 'a CA bundle needs vault.scheme "https"' });
      }
    }),
  );

export const configSchema = z
  .strictObject({
    controlTable: z._default(nonEmpty, 'vault-ha-control'),
    notifications: z.optional(
      z.strictObject({ topicArn: matching(/^arn:aws[a-zA-Z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/, 'must be an SNS topic ARN') }),
    ),
    clusters: z.array(clusterSchema).check(z.minLength(1)),
  })
  .check(
    z.superRefine((c, ctx) => {
      const names = new Set<string>();
      c.clusters.forEach((cl, i) => {
        if (names.has(cl.name)) ctx.addIssue({ code: 'custom', path: ['clusters', i, 'name'], message: `duplicate cluster name "${cl.name}"` });
        names.add(cl.name);
      });
    }),
  );

export type Config = z.infer<typeof configSchema>;
export type ClusterConfig = Config['clusters'][number];
export type SlotConfig = z.infer<typeof slotSchema>;
export type VaultConfig = z.infer<typeof vaultSchema>;
export type PolicyConfig = z.infer<typeof policySchema>;
export type LoadBalancerConfig = ClusterConfig['loadBalancer'];
export type HaLockConfig = ClusterConfig['haLock'];

/* ---------------- state machine inputs (DESIGN §4.5) ---------------- */

const inputClusterName = z
  .string()
  .check(z.maxLength(63), z.regex(CLUSTER_NAME, 'must be a cluster name of the configuration (1-63 letters, digits, "_" or "-")'));

export const replaceNodeInputSchema = z
  .strictObject({
    cluster: inputClusterName,
    slot: z.optional(
      z.string().check(z.maxLength(63), z.regex(SLOT_NAME, 'must be a slot name of the cluster (1-63 letters, digits, ".", "_" or "-")')),
    ),
    instanceId: z.optional(matching(/^i-[0-9a-f]{8,17}$/, 'must be an EC2 instance id (i-...)')),
    reason: z.optional(z.string().check(z.maxLength(256))),
    dryRun: z._default(z.boolean(), false),
    force: z._default(z.boolean(), false),
  })
  .check(
    z.superRefine((v, ctx) => {
      if (v.slot === undefined && v.instanceId === undefined) {
        ctx.addIssue({ code: 'custom', path: ['slot'], message: 'Required (or give instanceId)' });
      }
      if (v.slot !== undefined && v.instanceId !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['instanceId'], message: 'give either slot or instanceId, not both' });
      }
    }),
  );
export type ReplaceNodeInput = z.infer<typeof replaceNodeInputSchema>;

export const DRILL_SCENARIOS = [
  'step-down',
  'kill-active',
  'stop-active-instance',
  'terminate-active',
  // Injected through SSM (VaultControl) on the node and undone by the drill's restore.
  'partition-clients',
  'partition-storage',
  'seal-active',
] as const;
/** A CloudWatch alarm name (PutMetricAlarm: 1-255 characters, no control characters). */
const alarmName = z.string().check(z.regex(/^[^\u0000-\u001f\u007f]{1,255}$/, 'must be a CloudWatch alarm name (1-255 characters)'));
export const failoverDrillInputSchema = z.strictObject({
  cluster: inputClusterName,
  scenario: z.enum(DRILL_SCENARIOS),
  dryRun: z._default(z.boolean(), false),
  maxRtoSeconds: z._default(numberIn(1, 3600), 120),
  /** Stop condition: the drill stops (and restores) as soon as one of these alarms is in ALARM. */
  stopOnAlarms: z._default(z.array(alarmName).check(z.maxLength(20)), []),
  /** Bring the faulted node back as an unsealed standby after the observation (default true). */
  restore: z._default(z.boolean(), true),
  /** Stop condition: two nodes claiming active for longer than this (Vault's DynamoDB HA allows ~10 s by design, DESIGN §3.4). */
  maxSplitBrainSeconds: z._default(numberIn(1, 3600), 20),
});
export type FailoverDrillInput = z.infer<typeof failoverDrillInputSchema>;

/* ---------------- controller invocation (sharding) ---------------- */

/**
 * The controller's event: EventBridge's scheduled event (any shape, ignored)
 * or one rule per shard passing `{ "shard": i, "of": N }`.
 */
export const controllerShardSchema = z
  .strictObject({
    shard: intIn(0, 999),
    of: intIn(1, 1000),
  })
  .check(
    z.refine((s) => s.shard < s.of, { message: 'shard must be below of', path: ['shard'] }),
  );
export type ControllerShard = z.infer<typeof controllerShardSchema>;
