/**
 * The sandbox's runtime as the SSM documents and EC2 see it: unsealing through
 * VaultHA-PrepareNode reads the shares on the node and never lets one into a
 * command's parameters or output (DESIGN §5.7); a node's identity follows its
 * data volume onto a replacement instance; the live view renders the cluster.
 */
import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, test } from '@jest/globals';
import { SHARES_PREFIX, STEP_DOWN_TOKEN_PARAMETER, startSandbox, type Sandbox } from '../../sandbox/environment.js';
import { PREPARE_NODE_DOCUMENT, VAULT_CONTROL_DOCUMENT } from '../../sandbox/ssm-agent-documents.js';
import { renderView } from '../../sandbox/view.js';
import { waitFor } from '../../sandbox/sim/index.js';
import { REPLACE_NODE_MAX_SPEED } from '../../sandbox/scenarios.js';

describe('sandbox runtime and SSM documents', () => {
  let sb: Sandbox;

  beforeAll(async () => {
    // ×8, not the default ×20: at ×20 the lock's TTL is 750 ms, and a loaded CI
    // machine's event-loop stall can hand leadership over between choosing the
    // active and the command reaching it (a standby answers step-down with 307).
    sb = await startSandbox({ ha: 'dynamodb', fast: true, speed: REPLACE_NODE_MAX_SPEED });
  });
  afterAll(async () => {
    await sb?.stop();
  });

  test('PrepareNode unseals a sealed node from SecureStrings read on the node and prints progress only', async () => {
    const standby = sb.slots.find((s) => !s.node.isActive())!;
    await sb.seal(standby.name);
    assert.equal(standby.node.status().sealed, true);

    const outcome = await sb.unseal(standby.name);

    assert.equal(outcome.status, 'Success');
    assert.equal(standby.node.status().sealed, false);
    assert.match(outcome.output, /unseal progress 1\/3/);
    assert.match(outcome.output, /sealed=false/);
    const sent = sb.ssm.auditLog().filter((e) => e.kind === 'send-command' && e.documentName === PREPARE_NODE_DOCUMENT);
    assert.equal(sent.length, 1);
    assert.deepEqual(sent[0]!.kind === 'send-command' ? sent[0]!.parameters.SharesParameterPrefix : undefined, [SHARES_PREFIX]);
  });

  test('step-down through VaultControl reads the token on the node and hands leadership over', async () => {
    const active = sb.activeSlot()!;
    const leadership = () => sb.timeline.filter((e) => /became-active|lost-active|step-down/.test(`${e.kind} ${e.detail}`)).map((e) => `${e.kind}: ${e.detail}`);
    const outcome = await sb.stepDown(active.name).catch((err: Error) => {
      throw new Error(`${err.message}; leadership events: ${leadership().join(' | ')}`);
    });
    assert.equal(outcome.status, 'Success');
    assert.match(outcome.output, /step-down http 204/);
    await waitFor(() => sb.activeSlot() !== undefined && sb.activeSlot() !== active, { timeoutMs: 5_000, description: 'a new active' });
    const sent = sb.ssm.auditLog().find((e) => e.kind === 'send-command' && e.documentName === VAULT_CONTROL_DOCUMENT);
    assert.deepEqual(sent?.kind === 'send-command' ? sent.parameters.TokenParameterName : undefined, [STEP_DOWN_TOKEN_PARAMETER]);
  });

  test('no unseal share and no token ever appears in SSM command parameters or output', () => {
    // The audit did record the commands (so the search below searched something).
    assert.equal(sb.ssm.auditContainsAny([SHARES_PREFIX]), true);
    assert.equal(sb.ssm.auditContainsAny(sb.shares), false);
    assert.equal(sb.ssm.auditContainsAny([sb.rootToken]), false);
    const timelineText = sb.timeline.map((e) => e.detail).join('\n');
    assert.ok(!sb.shares.some((share) => timelineText.includes(share)), 'no share in the sandbox timeline');
  });

  test('PrepareNode fails when the named volume is not attached to the instance (device not found)', async () => {
    const [a, b] = sb.slots;
    const id = sb.instanceOf(a!.name)!;
    await assert.rejects(
      sb.runDocument(PREPARE_NODE_DOCUMENT, id, { VolumeId: b!.volumeId, MountPoint: '/opt/vault/data', UnsealMode: 'shamir', SharesParameterPrefix: SHARES_PREFIX, VaultAddr: 'http://127.0.0.1:8200' }),
      (err: Error) => err.name === 'SandboxCommandError' && /Failed/.test(err.message) && /device for vol-[0-9a-f]+ not found/.test(err.message),
    );
  });

  test("a replacement instance that gets the slot's data volume brings the same node back", async () => {
    const slot = sb.slots.find((s) => !s.node.isActive())!;
    const world = sb.aws.world;
    const oldId = sb.instanceOf(slot.name)!;
    const urlBefore = slot.node.baseUrl;

    world.terminateInstances([oldId]);
    await waitFor(() => world.volume(slot.volumeId)?.state === 'available' && world.networkInterface(slot.networkInterfaceId)?.status === 'available', {
      timeoutMs: 10_000,
      description: 'volume and network interface released',
    });
    assert.equal(slot.node.status().running, false, 'the old instance took its Vault process down with it');

    const lt = sb.config.clusters[0]!.replacement!.launchTemplate.id;
    const inst = world.runInstances({
      minCount: 1,
      maxCount: 1,
      launchTemplate: { launchTemplateId: lt },
      networkInterfaces: [{ deviceIndex: 0, networkInterfaceId: slot.networkInterfaceId }],
      tagSpecifications: [{ resourceType: 'instance', tags: { 'vault-cluster': 'sandbox', 'vault-slot': slot.name } }],
    });
    await waitFor(() => world.instance(inst.instanceId)?.state === 'running', { timeoutMs: 10_000, description: 'new instance running' });
    assert.equal(slot.node.status().running, false, 'no Vault until the data volume is mounted');
    world.attachVolume(slot.volumeId, inst.instanceId, slot.device);
    await waitFor(() => world.volume(slot.volumeId)?.attachment?.state === 'attached', { timeoutMs: 10_000, description: 'volume attached' });

    const outcome = await sb.unseal(slot.name);

    assert.equal(outcome.status, 'Success');
    const st = slot.node.status();
    assert.equal(st.running && !st.sealed, true, 'the node runs unsealed');
    assert.equal(slot.node.name, slot.name);
    assert.equal(slot.node.baseUrl, urlBefore, 'same node, same address');
    assert.equal(sb.runtime.hostOf(slot.node), inst.instanceId);
    assert.equal(world.instance(inst.instanceId)?.tags['vault-url'], urlBefore);
    assert.equal(sb.ssm.auditContainsAny(sb.shares), false);
  });

  test('the live view shows every slot, the lock holder, the verdict and the client rate', async () => {
    await waitFor(() => sb.controller.last?.report?.clusters[0]?.verdict.kind === 'healthy', { timeoutMs: 10_000, description: 'healthy tick' });
    const frame = renderView(sb.view(), { selected: 'vault-a' });
    for (const s of sb.slots) assert.match(frame, new RegExp(s.name));
    assert.match(frame, /holder/);
    assert.match(frame, /verdict {3}healthy/);
    // One window: the rate of the requests completed over the last 10 s (sandbox/view.ts), or none yet.
    assert.match(frame, /clients {3}(\d+\.\d% of \d+ requests through the listener ok over the last 10 s|no request through the listener completed)/);
    assert.ok(!frame.includes('\x1b['), 'no ANSI codes without color');
  });
});
