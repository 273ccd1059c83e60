/**
 * The configuration contract (DESIGN §4.1) and the state machine input
 * contracts (DESIGN §4.5). Field names here are fixed: tests and tools outside
 * this repository depend on them. New fields must be optional with defaults.
 */
import { X509Certificate } from 'node:crypto';
import { z } from 'zod';

/** Every free-form string is bounded: a hostile value must not become a huge error, log line or item. */
const nonEmpty = z.string().trim().min(1).max(1024);
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

const addressSchema = z.union([
  z.literal('privateIp'),
  z.literal('privateDnsName'),
  z.object({ tag: nonEmpty }).strict(),
]);

export const vaultSchema = z
  .object({
    scheme: z.enum(['https', 'http']).default('https'),
    port: z.number().int().min(1).max(65535).default(8200),
    address: addressSchema.default('privateIp'),
    /** PEM bundle of the private CA that signed the nodes' certificates. Added to Node's trust store, never replacing verification. */
    caBundle: z
      .string()
      .max(65_536)
      .superRefine((s, ctx) => {
        const problem = caBundleProblem(s);
        if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
      })
      .optional(),
    probeTimeoutMs: z.number().int().min(100).max(30_000).default(2000),
    /** Responses larger than this are treated as a failed probe. */
    maxResponseBytes: z.number().int().min(1024).max(1_048_576).default(65_536),
  })
  .strict();

export const loadBalancerSchema = z
  .object({
    targetGroupArn: z.string().regex(TARGET_GROUP_ARN_PATTERN, 'must be an ELBv2 target group ARN'),
    routing: z.enum(['active-only', 'all-unsealed']).default('active-only'),
    /** Port registered for each target; defaults to vault.port. */
    targetPort: z.number().int().min(1).max(65535).optional(),
  })
  .strict();

export const haLockSchema = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('dynamodb'),
      table: nonEmpty.default('vault-dynamodb-backend'),
      /** Clock skew tolerated when comparing the lock's Expires (writer's clock) with ours. */
      skewToleranceMs: z.number().int().min(0).max(60_000).default(1000),
    })
    .strict(),
  z.object({ type: z.literal('raft') }).strict(),
]);

export const unsealSchema = z.discriminatedUnion('mode', [
  z
    .object({
      mode: z.literal('shamir'),
      /** SSM path under which the key shares live as SecureString parameters, read on the node itself. */
      sharesParameterPrefix: z
        .string()
        .regex(/^\/[A-Za-z0-9_.\-/]*\/$/, 'must be an SSM parameter path starting and ending with "/"'),
    })
    .strict(),
  z.object({ mode: z.literal('auto') }).strict(),
]);

export const slotSchema = z
  .object({
    name: z.string().max(63).regex(SLOT_NAME, 'must be 1-63 letters, digits, ".", "_" or "-"'),
    availabilityZone: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d[a-z]$/, 'must be an availability zone name such as eu-west-1a'),
    subnetId: z.string().regex(/^subnet-[0-9a-z]+$/, 'must be a subnet id (subnet-...)'),
    networkInterfaceId: z.string().regex(/^eni-[0-9a-z]+$/, 'must be a network interface id (eni-...)').optional(),
    dataVolume: z
      .object({
        volumeId: z.string().regex(/^vol-[0-9a-z]+$/, 'must be a volume id (vol-...)'),
        device: z.string().regex(/^\/dev\/(sd[f-p]|xvd[f-p])$/, 'must be a device name /dev/sdf../dev/sdp or /dev/xvdf../dev/xvdp'),
        /** Where the SSM document mounts the volume on the node. */
        mountPoint: z.string().regex(/^\/[A-Za-z0-9_.\-/]+$/).default('/opt/vault/data'),
      })
      .strict()
      .optional(),
  })
  .strict();

export const replacementSchema = z
  .object({
    launchTemplate: z
      .object({
        id: z.string().regex(/^lt-[0-9a-z]+$/, 'must be a launch template id (lt-...)'),
        version: z.string().regex(/^(\$Latest|\$Default|\d+)$/, 'must be $Latest, $Default or a version number').default('$Latest'),
      })
      .strict(),
    slots: z.array(slotSchema).min(1),
    /** What happens to the old instance: stop keeps it for forensics, terminate removes it. */
    oldInstance: z.enum(['stop', 'terminate']).default('terminate'),
    /** What happens to a replacement instance that failed half-way. */
    onFailure: z.enum(['terminate', 'keep-tagged']).default('terminate'),
    volumeDetachTimeoutSeconds: z.number().int().min(10).max(3600).default(300),
    standbyTimeoutSeconds: z.number().int().min(10).max(3600).default(600),
  })
  .strict();

export const policySchema = z
  .object({
    dryRun: z.boolean().default(false),
    probeIntervalSeconds: z.number().min(1).max(60).default(5),
    unhealthyThreshold: z.number().int().min(1).max(10).default(2),
    fencing: z.enum(['none', 'deregister', 'break-lock']).default('deregister'),
    /** Consecutive ticks of zombie-leader evidence before `break-lock` deletes the lock item. */
    breakLockAfterTicks: z.number().int().min(2).max(20).default(3),
    autoReplace: z.boolean().default(false),
    /** How long a slot's node must be gone before autoReplace starts replace-node. */
    autoReplaceAfterSeconds: z.number().int().min(60).max(86_400).default(600),
    /** Leadership changes within `flappingWindowTicks` ticks that make the verdict `flapping`. */
    flappingChanges: z.number().int().min(2).max(20).default(3),
    flappingWindowTicks: z.number().int().min(3).max(100).default(12),
    /**
     * Dead-leader takeover (DESIGN §5.10): delete the DynamoDB lock item of a
     * holder proven dead that missed a renewal, so a standby takes it within
     * Vault's 1 s retry instead of the 15 s TTL.
     */
    deadLeaderTakeover: z.boolean().default(true),
  })
  .strict();

const policyDefaults = policySchema.parse({});
const vaultDefaults = vaultSchema.parse({});

export const clusterSchema = z
  .object({
    name: z.string().max(63).regex(CLUSTER_NAME, 'must be 1-63 letters, digits, "_" or "-"'),
    discovery: z
      .object({
        // EC2 tag limits: key 128, value 256 characters.
        tagKey: nonEmpty.pipe(z.string().max(128)),
        tagValue: nonEmpty.pipe(z.string().max(256)),
        /** Tag whose value names the replacement slot an instance fills. */
        slotTagKey: nonEmpty.default('vault-slot'),
      })
      .strict(),
    vault: vaultSchema.default(vaultDefaults),
    loadBalancer: loadBalancerSchema,
    haLock: haLockSchema,
    unseal: unsealSchema.default({ mode: 'auto' }),
    replacement: replacementSchema.optional(),
    policy: policySchema.default(policyDefaults),
  })
  .strict()
  .superRefine((c, ctx) => {
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
  });

export const configSchema = z
  .object({
    controlTable: nonEmpty.default('vault-ha-control'),
    notifications: z
      .object({ topicArn: z.string().regex(/^arn:aws[a-zA-Z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/, 'must be an SNS topic ARN') })
      .strict()
      .optional(),
    clusters: z.array(clusterSchema).min(1),
  })
  .strict()
  .superRefine((c, ctx) => {
    const names = new Set<string>();
    c.clusters.forEach((cl, i) => {
      if (names.has(cl.name)) ctx.addIssue({ code: 'custom', path: ['clusters', i, 'name'], message: `duplicate cluster name "${cl.name}"` });
      names.add(cl.name);
    });
  });

export type Config = z.infer<typeof configSchema>;
export type ClusterConfig = Config['clusters'][number];
export type SlotConfig = z.infer<typeof slotSchema>;
export type VaultConfig = z.infer<typeof vaultSchema>;
export type PolicyConfig = z.infer<typeof policySchema>;

/* ---------------- state machine inputs (DESIGN §4.5) ---------------- */

const inputClusterName = z.string().max(63).regex(CLUSTER_NAME, 'must be a cluster name of the configuration (1-63 letters, digits, "_" or "-")');

export const replaceNodeInputSchema = z
  .object({
    cluster: inputClusterName,
    slot: z.string().max(63).regex(SLOT_NAME, 'must be a slot name of the cluster (1-63 letters, digits, ".", "_" or "-")').optional(),
    instanceId: z.string().regex(/^i-[0-9a-f]{8,17}$/, 'must be an EC2 instance id (i-...)').optional(),
    reason: z.string().max(256).optional(),
    dryRun: z.boolean().default(false),
    force: z.boolean().default(false),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (v.slot === undefined && v.instanceId === undefined) {
      ctx.addIssue({ code: 'custom', path: ['slot'], message: 'Required (or give instanceId)' });
    }
    if (v.slot !== undefined && v.instanceId !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['instanceId'], message: 'give either slot or instanceId, not both' });
    }
  });
export type ReplaceNodeInput = z.infer<typeof replaceNodeInputSchema>;

export const DRILL_SCENARIOS = ['step-down', 'kill-active', 'stop-active-instance', 'terminate-active'] as const;
export const failoverDrillInputSchema = z
  .object({
    cluster: inputClusterName,
    scenario: z.enum(DRILL_SCENARIOS),
    dryRun: z.boolean().default(false),
    maxRtoSeconds: z.number().min(1).max(3600).default(120),
  })
  .strict();
export type FailoverDrillInput = z.infer<typeof failoverDrillInputSchema>;
