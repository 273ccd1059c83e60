/**
 * Runs the REAL shell scripts of serverless/ssm-documents.yml under bash
 * against a simulated node kept in a scratch directory.
 *
 * The node's tools are stubs on PATH that read and write the scratch
 * directory and log every argv (and the stdin Vault receives):
 *  - `lsblk` lists block devices with their SERIAL (an EBS NVMe device's serial
 *    is its volume id without the dash), `blkid` / `file -s` report what is on
 *    a device (a filesystem, a partition table, or nothing: a blank volume),
 *    `mkfs` puts an xfs on a device, `mount` / `findmnt` / `sleep` /
 *    `systemctl` only record;
 *  - `curl` answers the instance metadata service and a Vault that stays
 *    sealed until it received `sharesToUnseal` shares; `aws` prints the shares
 *    the way `get-parameters-by-path --output text` does, and a step-down token.
 * The node's files are redirected into the scratch directory by rewriting the
 * script's literal paths (/etc/vault.d/vault.env, /dev/disk/by-id, /etc/fstab):
 * the env file there is a REAL systemd-style file, the by-id directory holds
 * real symlinks to fake device files. A script that still names a node path
 * after the rewrite is refused, so a test can never touch this machine's
 * /etc or disks (the tests may run as root).
 */
import { mkdtemp, writeFile, chmod, rm, mkdir, readFile, readdir, symlink } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';

export interface SimDevice {
  /** Kernel name, e.g. nvme1n1. */
  name: string;
  /** What lsblk prints as SERIAL (EBS NVMe: the volume id without its dash). */
  serial: string;
  /** Filesystem on the device (blkid TYPE), or none. */
  fs?: string;
  /** A partition table or another non-filesystem signature (blkid -p finds it, `file -s` names it). */
  partitionTable?: boolean;
}

export interface SimNode {
  devices?: SimDevice[];
  /** udev's /dev/disk/by-id links: serial → device name (the link is nvme-Amazon_Elastic_Block_Store_<serial>). */
  byIdLinks?: Record<string, string>;
  /** Content of /etc/vault.d/vault.env; absent when undefined. `@SCRATCH@` is replaced by the scratch directory. */
  envFile?: string;
  /** Files to create under the scratch directory (relative path → content), e.g. a CA bundle. */
  files?: Record<string, string>;
  /** Unseal shares stored under the prefix (what `aws ssm get-parameters-by-path` returns). */
  shares?: string[];
  /** Shares Vault needs before it reports sealed=false. Default 2. */
  sharesToUnseal?: number;
  /** The step-down token stored in the SecureString parameter. */
  stepDownToken?: string;
  /** HTTP status Vault answers to sys/seal (default 204). */
  sealCode?: number;
  /** Firewall rules present before the script runs (`iptables -S` lines), IPv4 and IPv6. */
  iptablesRules?: string[];
  /** Tools the node lacks (their stubs are left out). */
  missing?: Array<'iptables' | 'ip6tables' | 'systemd-run'>;
  /** The node has no `vault` user (`id -u vault` fails). */
  noVaultUser?: boolean;
}

export interface ScriptRun {
  exitCode: number;
  /** stdout + stderr of the script. */
  output: string;
  /** One line per stub invocation: "<tool> <args joined by spaces>". */
  argv: string[];
  /** Bodies/headers Vault received on stdin. */
  stdin: string;
  /** Filesystem per device name after the run (mkfs changes it). */
  filesystems: Record<string, string>;
  /** Content of the scratch fstab after the run ('' when never written). */
  fstab: string;
  /** `iptables -S` / `ip6tables -S` after the run (one rule a line). */
  iptables: string[];
  ip6tables: string[];
  /** The command the systemd timer (systemd-run) would run later ('' when none was armed). */
  timerCommand: string;
  /** With `fireTimer`: the exit code of the timer's command, run after the script (the rules above are after it). */
  timerExitCode?: number;
  scratch: string;
}

/** The node paths the scripts use; each is redirected into the scratch directory. */
const NODE_PATHS: ReadonlyArray<[string, string]> = [
  ['/etc/vault.d/vault.env', 'vault.env'],
  ['/dev/disk/by-id', 'by-id'],
  ['/etc/fstab', 'fstab'],
];

/**
 * Fills the `{{ Name }}` placeholders with `parameters`, and with each declared
 * default for a parameter not given (as SSM does), then redirects the node paths.
 */
export function instantiate(
  script: string,
  declared: Record<string, { default?: string }>,
  parameters: Record<string, string>,
  scratch: string,
): string {
  let s = script;
  for (const [name, spec] of Object.entries(declared)) {
    const value = parameters[name] ?? spec.default;
    if (value === undefined) continue;
    s = s.split(`{{ ${name} }}`).join(value);
  }
  for (const name of Object.keys(parameters)) assert.ok(name in declared, `parameter ${name} is not declared by the document`);
  assert.doesNotMatch(s, /\{\{\s*\w+\s*\}\}/, 'a parameter placeholder is left (a required parameter was not given)');
  for (const [nodePath, local] of NODE_PATHS) s = s.split(nodePath).join(join(scratch, local));
  assert.doesNotMatch(s, /\/etc\/|\/dev\/disk|\/sbin\//, 'the script names a node path the harness does not redirect');
  return s;
}

const stub = (logFile: string, body: string): string =>
  `#!/bin/bash\nprintf '%s\\n' "$(basename "$0") $*" >> '${logFile}'\nfor LAST; do :; done\n${body}\n`;

async function writeStubs(dir: string, node: SimNode): Promise<void> {
  const bin = join(dir, 'bin');
  await mkdir(bin, { recursive: true });
  const log = join(dir, 'argv.log');
  const tab = join(dir, 'lsblk.tab');
  const fsDir = join(dir, 'fs');
  const sigDir = join(dir, 'sig');
  const stdinLog = join(dir, 'stdin.log');
  const shares = node.shares ?? [];
  const need = node.sharesToUnseal ?? 2;
  const stubs: Record<string, string> = {
    lsblk: `case "$*" in
  "-dn -o NAME,SERIAL") cat '${tab}' ;;
  "-dn -o SERIAL "*) awk -v n="$(basename "$LAST")" '$1 == n { print $2 }' '${tab}' ;;
  *) exit 0 ;;
esac`,
    blkid: `n=$(basename "$LAST")
case "$1" in
  -p) if [ -s '${fsDir}'/"$n" ]; then echo "$LAST: TYPE=\\"$(cat '${fsDir}'/"$n")\\""; elif [ -e '${sigDir}'/"$n" ]; then echo "$LAST: PTTYPE=\\"gpt\\""; else exit 2; fi ;;
  *) case "$*" in
       *"-s TYPE"*) [ -s '${fsDir}'/"$n" ] || exit 2; cat '${fsDir}'/"$n" ;;
       *"-s UUID"*) [ -s '${fsDir}'/"$n" ] || exit 2; echo "uuid-$n" ;;
       *) exit 2 ;;
     esac ;;
esac`,
    file: `n=$(basename "$LAST")
if [ -s '${fsDir}'/"$n" ]; then echo "SGI XFS filesystem data"; elif [ -e '${sigDir}'/"$n" ]; then echo "DOS/MBR boot sector; partition 1 : ID=0xee"; else echo data; fi`,
    mkfs: `printf 'xfs' > '${fsDir}'/"$(basename "$LAST")"`,
    mount: 'exit 0',
    findmnt: 'exit 0',
    sleep: 'exit 0',
    systemctl: 'exit 0',
    aws: `case "$*" in
  *get-parameters-by-path*) printf '%s\\n' '${shares.join('\t')}' ;;
  *get-parameter\\ *) printf '%s\\n' '${node.stepDownToken ?? ''}' ;;
esac`,
    curl: `case "$*" in
  *api/token*) echo tok ;;
  *placement/region*) echo eu-west-1 ;;
  *block-device-mapping/) printf 'ami\\nebs1\\nroot\\n' ;;
  *block-device-mapping/ebs1) echo sdf ;;
  *block-device-mapping/*) echo /dev/xvda ;;
  *sys/unseal*)
    body=$(cat); printf '%s\\n' "$body" >> '${stdinLog}'
    n=$(grep -c key '${stdinLog}')
    if [ "$n" -ge ${need} ]; then echo '{"sealed":false,"t":${need},"n":3,"progress":0}'; else echo "{\\"sealed\\":true,\\"t\\":${need},\\"n\\":3,\\"progress\\":$n}"; fi ;;
  *sys/seal-status*)
    n=$(grep -c key '${stdinLog}' 2>/dev/null || true)
    if [ "$n" -ge ${need} ]; then echo '{"sealed":false,"t":${need},"progress":0}'; else echo '{"sealed":true,"t":${need},"progress":0}'; fi ;;
  *sys/step-down*) cat >> '${stdinLog}'; printf 204 ;;
  */v1/sys/seal) cat >> '${stdinLog}'; printf ${node.sealCode ?? 204} ;;
esac`,
    // `id -u vault`: the drill's storage partition matches the Vault process by its uid. Any other
    // question (PrepareNode's `id vault` before chown) is answered "no such user", as on this machine.
    id: node.noVaultUser ? 'exit 1' : 'if [ "$*" = "-u vault" ]; then echo 998; else exit 1; fi',
    'systemd-run': `printf '%s' "$LAST" > '${join(dir, 'timer.cmd')}'`,
  };
  // A firewall that keeps its rules in the scratch directory, as `-S` prints them.
  for (const fw of ['iptables', 'ip6tables']) {
    const rules = join(dir, `${fw}.rules`);
    stubs[fw] = `touch '${rules}'
case "$1" in
  -S) cat '${rules}' ;;
  -I) shift; printf '%s\n' "-A $*" >> '${rules}' ;;
  -D) shift; want="-A $*"; grep -vxF -- "$want" '${rules}' > '${rules}.tmp' || true; mv '${rules}.tmp' '${rules}' ;;
  *) exit 2 ;;
esac`;
  }
  for (const m of node.missing ?? []) delete stubs[m];
  for (const [name, body] of Object.entries(stubs)) {
    await writeFile(join(bin, name), stub(log, body));
    await chmod(join(bin, name), 0o755);
  }
}

async function writeWorld(dir: string, node: SimNode): Promise<void> {
  for (const d of ['fs', 'sig', 'dev', 'by-id', 'data']) await mkdir(join(dir, d), { recursive: true });
  const devices = node.devices ?? [];
  await writeFile(join(dir, 'lsblk.tab'), devices.map((d) => `${d.name} ${d.serial}\n`).join(''));
  for (const d of devices) {
    await writeFile(join(dir, 'dev', d.name), '');
    if (d.fs) await writeFile(join(dir, 'fs', d.name), d.fs);
    if (d.partitionTable) await writeFile(join(dir, 'sig', d.name), '');
  }
  for (const [serial, name] of Object.entries(node.byIdLinks ?? {})) {
    await symlink(join(dir, 'dev', name), join(dir, 'by-id', `nvme-Amazon_Elastic_Block_Store_${serial}`));
  }
  for (const [rel, content] of Object.entries(node.files ?? {})) {
    await mkdir(join(dir, rel, '..'), { recursive: true });
    await writeFile(join(dir, rel), content);
  }
  if (node.envFile !== undefined) await writeFile(join(dir, 'vault.env'), node.envFile.split('@SCRATCH@').join(dir));
  for (const fw of ['iptables', 'ip6tables']) await writeFile(join(dir, `${fw}.rules`), (node.iptablesRules ?? []).map((r) => `${r}\n`).join(''));
}

/** Runs one document's script on a fresh simulated node; the scratch directory is removed afterwards. */
export async function runNodeScript(
  script: string,
  declared: Record<string, { default?: string }>,
  parameters: Record<string, string | ((scratch: string) => string)>,
  node: SimNode,
  opts: { fireTimer?: boolean } = {},
): Promise<ScriptRun> {
  const dir = await mkdtemp(join(tmpdir(), 'ssm-node-'));
  // A tool the node lacks must not be found further down PATH either (this machine may have it):
  // the system directories are then replaced by one holding links to everything else in them.
  let systemPath = '/usr/bin:/bin';
  if (node.missing?.length) {
    const sys = join(dir, 'sysbin');
    await mkdir(sys, { recursive: true });
    for (const d of ['/usr/bin', '/bin']) {
      for (const name of await readdir(d)) {
        if (node.missing.includes(name as never) || existsSync(join(sys, name))) continue;
        await symlink(join(d, name), join(sys, name));
      }
    }
    systemPath = sys;
  }
  const bash = (script: string[]): Promise<{ exitCode: number; output: string }> =>
    new Promise((resolve) => {
      execFile('/bin/bash', script, { env: { PATH: `${join(dir, 'bin')}:${systemPath}`, LC_ALL: 'C' }, timeout: 20_000 }, (err, out, errOut) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ exitCode: code, output: `${out}${errOut}` });
      });
    });
  try {
    await writeStubs(dir, node);
    await writeWorld(dir, node);
    const params = Object.fromEntries(Object.entries(parameters).map(([k, v]) => [k, typeof v === 'function' ? v(dir) : v]));
    await writeFile(join(dir, 'script.sh'), instantiate(script, declared, params, dir));
    const { exitCode, output } = await bash([join(dir, 'script.sh')]);
    const read = async (f: string): Promise<string> => (existsSync(join(dir, f)) ? readFile(join(dir, f), 'utf8') : '');
    const filesystems: Record<string, string> = {};
    for (const d of node.devices ?? []) {
      const fs = await read(join('fs', d.name));
      if (fs) filesystems[d.name] = fs;
    }
    const lines = (s: string): string[] => s.split('\n').filter((l) => l !== '');
    const timerCommand = await read('timer.cmd');
    // The dead man's switch: the armed timer's command, run as systemd would later (a fresh bash -c).
    const timer = opts.fireTimer && timerCommand !== '' ? await bash(['-c', timerCommand]) : undefined;
    return {
      exitCode,
      output,
      argv: lines(await read('argv.log')),
      stdin: await read('stdin.log'),
      filesystems,
      fstab: await read('fstab'),
      iptables: lines(await read('iptables.rules')),
      ip6tables: lines(await read('ip6tables.rules')),
      timerCommand,
      ...(timer ? { timerExitCode: timer.exitCode } : {}),
      scratch: dir,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
