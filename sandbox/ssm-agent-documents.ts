/**
 * The project's SSM documents (serverless/ssm-documents.yml) as the sandbox's
 * agent runs them: the same parameters, steps, exit codes and progress lines as
 * the shell scripts, executed against a simulated node.
 *
 * Invariant 7 (DESIGN §5): unseal shares and tokens arrive only as parameter
 * NAMES; the executor reads the SecureStrings on the node (`ctx.readParameter`,
 * the instance role's read), sends them to the local Vault, and prints
 * progress only ("unseal progress 2/3", "sealed=false").
 *
 * Differences from the scripts, on purpose:
 *  - the real script lists the shares with `get-parameters-by-path`; the
 *    sandbox agent can read one parameter at a time, so the shares are stored
 *    as `<prefix>1`, `<prefix>2`, ... and read in order until one is missing;
 *  - `VaultAddr` names the node's local listener (https://127.0.0.1:8200 on a
 *    real node); a simulated node listens on its own ephemeral port, which the
 *    agent knows, so only the scheme/host check of the parameter is kept. For
 *    the same reason there is no /etc/vault.d/vault.env here (the scripts read
 *    VAULT_CACERT / VAULT_ADDR from it; the document tests run them against a
 *    real env file);
 *  - the data volume: `agent.hasVolume` is the script's proof by NVMe serial
 *    (the EC2 world attached exactly that volume to exactly this instance), and
 *    a volume that never shows up fails the command like the script does (exit
 *    2, naming the volume id) — there is no fallback to "some other disk". Every
 *    sandbox data volume holds its node's data (there is no blank volume), so
 *    `AllowFormat` is validated but never leads to a format here.
 *
 * Names: the sandbox registers the documents under the code's defaults
 * (`DEFAULT_DOCUMENT_NAMES`), which the task code uses when serverless.yml's
 * environment does not name the deployed (CloudFormation-generated) documents.
 */
import http from 'node:http';
import https from 'node:https';
import { DEFAULT_DOCUMENT_NAMES } from '../functions/adapters/ssm-run.js';
import { ParameterNotFoundError } from './aws/ssm.js';
import { projectDocumentOptions, type DocumentContext, type DocumentRegistry, type DocumentResult } from './aws/ssm-documents.js';

export const PREPARE_NODE_DOCUMENT = DEFAULT_DOCUMENT_NAMES.prepareNode;
export const VAULT_CONTROL_DOCUMENT = DEFAULT_DOCUMENT_NAMES.vaultControl;

/** The parameters the executors read: exactly what serverless/ssm-documents.yml declares (registration reads the declarations from there; a test compares the lists). */
export const PREPARE_NODE_PARAMETERS = ['VolumeId', 'MountPoint', 'UnsealMode', 'SharesParameterPrefix', 'VaultAddr', 'AllowFormat', 'executionTimeout'] as const;
export const VAULT_CONTROL_PARAMETERS = ['Action', 'TokenParameterName', 'ApiPort', 'ClusterPort', 'HaStorage', 'FaultDurationSeconds', 'executionTimeout'] as const;

/** More shares than this under one prefix is a misconfiguration (Vault allows at most 255, real clusters use 5). */
export const MAX_SHARES = 16;

export interface DocumentTimings {
  /** Pause between polls (device visible, Vault answering, sealed=false). Default 100 ms. */
  pollIntervalMs: number;
  /** Wall ms of one real-world second (a network fault's FaultDurationSeconds); default 1000, less when compressed. */
  secondMs: number;
  /** Polls before a step gives up. Default 50. */
  maxPolls: number;
  /** Timeout of one HTTP call to the local Vault. Default 2000 ms. */
  httpTimeoutMs: number;
}

const DEFAULT_TIMINGS: DocumentTimings = { pollIntervalMs: 100, secondMs: 1_000, maxPolls: 50, httpTimeoutMs: 2_000 };

// The same patterns the documents pin with allowedPattern / allowedValues.
const VOLUME_ID = /^(vol-[0-9a-z]{1,32})?$/;
const MOUNT_POINT = /^(\/[A-Za-z0-9_./-]{1,200})?$/;
const SHARES_PREFIX = /^(\/[A-Za-z0-9_./-]{0,500}\/)?$/;
const VAULT_ADDR = /^https?:\/\/[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?$/;
const TOKEN_PARAMETER = /^(\/?[A-Za-z0-9_./-]{1,1011})?$/;

export function registerProjectDocuments(registry: DocumentRegistry, timings: Partial<DocumentTimings> = {}): void {
  const t = { ...DEFAULT_TIMINGS, ...timings };
  // Declared parameters (types, defaults, patterns) and the executionTimeout-driven step timeout come from
  // the real document content, so SendCommand here accepts exactly what SSM accepts for the deployed documents.
  registry.registerDocument(PREPARE_NODE_DOCUMENT, (ctx) => prepareNode(ctx, t), projectDocumentOptions('VaultHAPrepareNodeDocument'));
  // The drill's automatic heal timers, per instance (the document's systemd timer).
  const healTimers = new Map<string, NodeJS.Timeout>();
  registry.registerDocument(VAULT_CONTROL_DOCUMENT, (ctx) => vaultControl(ctx, t, healTimers), projectDocumentOptions('VaultHAVaultControlDocument'));
}

/** Collects stdout lines; the result never carries anything but progress. */
class Output {
  private readonly lines: string[] = [];
  line(s: string): void {
    this.lines.push(s);
  }
  done(exitCode: number, stderr = ''): DocumentResult {
    return { exitCode, stdout: this.lines.join('\n'), stderr };
  }
}

function param(ctx: DocumentContext, name: string, fallback = ''): string {
  return ctx.parameters[name]?.[0] ?? fallback;
}

async function prepareNode(ctx: DocumentContext, t: DocumentTimings): Promise<DocumentResult> {
  const out = new Output();
  const volumeId = param(ctx, 'VolumeId');
  const mountPoint = param(ctx, 'MountPoint', '/opt/vault/data');
  const unsealMode = param(ctx, 'UnsealMode');
  const sharesPrefix = param(ctx, 'SharesParameterPrefix');
  const vaultAddr = param(ctx, 'VaultAddr', 'https://127.0.0.1:8200');
  const allowFormat = param(ctx, 'AllowFormat', 'false');
  if (allowFormat !== 'true' && allowFormat !== 'false') return out.done(1, 'AllowFormat must be "true" or "false"');
  if (!VOLUME_ID.test(volumeId) || !MOUNT_POINT.test(mountPoint) || !SHARES_PREFIX.test(sharesPrefix) || !VAULT_ADDR.test(vaultAddr)) {
    return out.done(1, 'a parameter does not match its allowedPattern');
  }
  if (unsealMode !== 'shamir' && unsealMode !== 'auto') return out.done(1, 'UnsealMode must be shamir or auto');

  if (volumeId !== '') {
    const serial = volumeId.replace('-', '');
    const visible = await poll(t, ctx.abortSignal, () => ctx.agent.hasVolume(volumeId));
    if (!visible) {
      out.line(`device for ${volumeId} not found: no device has NVMe serial ${serial} (by-id link or lsblk SERIAL); refusing to guess, nothing mounted or formatted`);
      return out.done(2);
    }
    out.line(`volume ${volumeId} is attached (NVMe serial ${serial})`);
    await ctx.agent.mount(volumeId, mountPoint);
    out.line(`mounted ${mountPoint}`);
  }

  await ctx.agent.startVault();
  let status = await poll(t, ctx.abortSignal, () => sealStatus(ctx, t));
  if (!status) {
    out.line(`vault did not answer at ${vaultAddr}`);
    return out.done(4);
  }

  if (unsealMode === 'shamir' && status.sealed) {
    for (let i = 1; i <= MAX_SHARES && status.sealed; i++) {
      if (ctx.abortSignal.aborted) return out.done(137);
      let share: string;
      try {
        share = await ctx.readParameter(`${sharesPrefix}${i}`, true);
      } catch (err) {
        if (err instanceof ParameterNotFoundError) break;
        throw err;
      }
      const answer = await vaultCall(ctx, t, 'PUT', '/v1/sys/unseal', JSON.stringify({ key: share }));
      share = '';
      const body = parseSealStatus(answer?.body);
      if (!body) {
        out.line(`unseal failed (http ${answer?.status ?? 'no answer'})`);
        break;
      }
      status = body;
      if (!body.sealed) break;
      out.line(`unseal progress ${body.progress ?? '?'}/${body.t ?? '?'}`);
    }
  }

  const unsealed = await poll(t, ctx.abortSignal, async () => (await sealStatus(ctx, t))?.sealed === false);
  if (unsealed) {
    out.line('sealed=false');
    return out.done(0);
  }
  out.line(`vault is still sealed (mode ${unsealMode})`);
  return out.done(5);
}

async function vaultControl(ctx: DocumentContext, t: DocumentTimings, healTimers: Map<string, NodeJS.Timeout>): Promise<DocumentResult> {
  const out = new Output();
  const action = param(ctx, 'Action');
  const tokenParameter = param(ctx, 'TokenParameterName');
  if (!TOKEN_PARAMETER.test(tokenParameter)) return out.done(1, 'TokenParameterName does not match its allowedPattern');
  const apiPort = param(ctx, 'ApiPort', '8200');
  const clusterPort = param(ctx, 'ClusterPort', '8201');
  const haStorage = param(ctx, 'HaStorage', 'dynamodb');
  const duration = Number(param(ctx, 'FaultDurationSeconds', '900'));
  const drill = ctx.agent.drill;
  const heal = async (): Promise<void> => {
    const timer = healTimers.get(ctx.instanceId);
    if (timer) clearTimeout(timer);
    healTimers.delete(ctx.instanceId);
    await drill?.partitionClients(false);
    drill?.partitionStorage(false);
  };
  // The document arms a timer that removes the rules after FaultDurationSeconds before it adds any.
  const armHeal = (): void => {
    const previous = healTimers.get(ctx.instanceId);
    if (previous) clearTimeout(previous);
    const timer = setTimeout(() => void heal(), duration * t.secondMs);
    timer.unref();
    healTimers.set(ctx.instanceId, timer);
  };
  switch (action) {
    case 'seal': {
      if (tokenParameter === '') {
        out.line('seal needs TokenParameterName');
        return out.done(2);
      }
      // Read on the node as the script does (invariant 7); the simulated node's sys/seal is the agent's seal().
      await ctx.readParameter(tokenParameter, true);
      // Vault refuses to seal a standby (vault/core.go sealInitCommon): sys/seal answers 500.
      const r = drill ? await drill.seal() : 'down';
      const code = r === 'sealed' ? 204 : r === 'standby' ? 500 : 0;
      out.line(`seal http ${code === 0 ? '000' : code}`);
      return out.done(code === 204 ? 0 : 3);
    }
    case 'partition-clients':
      if (!drill) return out.done(4, 'iptables not found: cannot inject partition-clients');
      armHeal();
      await drill.partitionClients(true);
      out.line(`clients cut from port ${apiPort}; heals by itself after ${duration} s`);
      return out.done(0);
    case 'partition-storage':
      if (!drill) return out.done(4, 'iptables not found: cannot inject partition-storage');
      armHeal();
      drill.partitionStorage(true);
      out.line(haStorage === 'raft' ? `Raft peers cut on port ${clusterPort}; heals by itself after ${duration} s` : `Vault cut from DynamoDB; heals by itself after ${duration} s`);
      return out.done(0);
    case 'heal':
      await heal();
      out.line('drill network rules removed');
      return out.done(0);
    case 'step-down': {
      if (tokenParameter === '') {
        out.line('step-down needs TokenParameterName');
        return out.done(2);
      }
      let token = await ctx.readParameter(tokenParameter, true);
      const answer = await vaultCall(ctx, t, 'PUT', '/v1/sys/step-down', undefined, { 'x-vault-token': token });
      token = '';
      const code = answer?.status ?? 0;
      out.line(`step-down http ${code === 0 ? '000' : code}`);
      return out.done(code === 204 ? 0 : 3);
    }
    case 'stop':
      await ctx.agent.stopVault('SIGTERM');
      out.line('vault stopped');
      return out.done(0);
    case 'kill':
      await ctx.agent.stopVault('SIGKILL');
      out.line('vault killed');
      return out.done(0);
    case 'start':
      await ctx.agent.startVault();
      out.line('vault started');
      return out.done(0);
    default:
      return out.done(1, 'Action must be one of step-down, stop, kill, start, seal, partition-clients, partition-storage, heal');
  }
}

interface SealStatus {
  sealed: boolean;
  progress?: number;
  t?: number;
}

function parseSealStatus(body: string | undefined): SealStatus | undefined {
  if (body === undefined) return undefined;
  try {
    const parsed = JSON.parse(body) as { sealed?: unknown; progress?: unknown; t?: unknown };
    if (typeof parsed.sealed !== 'boolean') return undefined;
    return {
      sealed: parsed.sealed,
      ...(typeof parsed.progress === 'number' ? { progress: parsed.progress } : {}),
      ...(typeof parsed.t === 'number' ? { t: parsed.t } : {}),
    };
  } catch {
    return undefined;
  }
}

async function sealStatus(ctx: DocumentContext, t: DocumentTimings): Promise<SealStatus | undefined> {
  const answer = await vaultCall(ctx, t, 'GET', '/v1/sys/seal-status');
  return answer?.status === 200 ? parseSealStatus(answer.body) : undefined;
}

/** One call to the node's local listener; undefined when Vault does not answer (like `curl || true`). */
async function vaultCall(
  ctx: DocumentContext,
  t: DocumentTimings,
  method: string,
  path: string,
  body?: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string } | undefined> {
  const base = ctx.agent.vault?.baseUrl;
  if (base === undefined) return undefined;
  const url = new URL(path, base);
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise((resolve) => {
    const req = mod.request(
      url,
      {
        method,
        agent: false,
        timeout: t.httpTimeoutMs,
        headers: { ...headers, ...(body !== undefined ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) } : {}) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', () => resolve(undefined));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(undefined));
    req.end(body);
  });
}

/** Polls `cond` (bounded by maxPolls) until it is truthy; stops early when the invocation is aborted. */
async function poll<T>(t: DocumentTimings, signal: AbortSignal, cond: () => T | Promise<T>): Promise<T | undefined> {
  for (let i = 0; i < t.maxPolls; i++) {
    if (signal.aborted) return undefined;
    const v = await cond();
    if (v) return v;
    await new Promise((r) => setTimeout(r, t.pollIntervalMs));
  }
  return undefined;
}
