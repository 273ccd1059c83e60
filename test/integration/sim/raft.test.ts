/**
 * Simulated nodes on integrated storage (Raft): election, re-election after
 * the leader dies, leader views, indexes and removed peers (530 on 1.19+).
 */
import { afterEach, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { HEALTH_STATUS, VAULT_PATHS, type VaultHealthBody, type VaultLeaderBody } from '../../../functions/core/vault-api.js';
import { createSimCluster, type SimCluster } from '../../../sandbox/sim/cluster.js';
import type { SimulatedVaultNode } from '../../../sandbox/sim/vault-node.js';
import { waitFor } from '../../../sandbox/sim/wait.js';
import { simRequest } from '../../../sandbox/sim/probe.js';

const ELECTION_TIMEOUT_MS = 200;
const WAIT = { timeoutMs: 5000, intervalMs: 5 };

let cluster: SimCluster | undefined;

afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

async function raftCluster(count: number): Promise<SimCluster> {
  cluster = await createSimCluster({ count, ha: 'raft', raft: { electionTimeoutMs: ELECTION_TIMEOUT_MS, stepDownBackoffMs: 300 } });
  return cluster;
}

function actives(nodes: SimulatedVaultNode[]): SimulatedVaultNode[] {
  return nodes.filter((n) => n.status().isActive);
}

async function soleActive(nodes: SimulatedVaultNode[], exclude?: SimulatedVaultNode): Promise<SimulatedVaultNode> {
  return waitFor(
    () => {
      const a = actives(nodes);
      return a.length === 1 && a[0] !== exclude ? a[0] : undefined;
    },
    { ...WAIT, description: 'exactly one raft leader' },
  );
}

async function leaderBody(n: SimulatedVaultNode): Promise<VaultLeaderBody> {
  return (await simRequest(`${n.baseUrl}${VAULT_PATHS.leader}`, { timeoutMs: 1000 })).json as VaultLeaderBody;
}

describe('Raft HA', () => {
  it('elects exactly one leader among three unsealed nodes', async () => {
    const { nodes } = await raftCluster(3);
    const leader = await soleActive(nodes);
    const codes = await Promise.all(nodes.map(async (n) => (await simRequest(`${n.baseUrl}${VAULT_PATHS.health}`)).status));
    assert.equal(codes.filter((c) => c === HEALTH_STATUS.active).length, 1);
    assert.equal(codes.filter((c) => c === HEALTH_STATUS.standby).length, 2);
    assert.equal(leader.status().raft?.term !== undefined && leader.status().raft!.term >= 1, true);
  });

  it("followers name the leader's api_addr and report advancing raft indexes", async () => {
    const { nodes } = await raftCluster(3);
    const leader = await soleActive(nodes);
    const follower = nodes.find((n) => n !== leader)!;
    const first = await waitFor(
      async () => {
        const body = await leaderBody(follower);
        return body.leader_address === leader.apiAddr() ? body : undefined;
      },
      { ...WAIT, description: 'the follower to learn the leader' },
    );
    assert.equal(typeof first.raft_committed_index, 'number');
    const later = await waitFor(
      async () => {
        const body = await leaderBody(follower);
        return (body.raft_committed_index ?? 0) > (first.raft_committed_index ?? 0) ? body : undefined;
      },
      { ...WAIT, description: 'the committed index to advance' },
    );
    assert.ok((later.raft_applied_index ?? 0) <= (later.raft_committed_index ?? 0));
  });

  it('re-elects a new leader in a higher term no sooner than the election timeout after the leader is killed', async () => {
    const { nodes } = await raftCluster(3);
    const old = await soleActive(nodes);
    const oldTerm = old.status().raft!.term;
    const killedAt = Date.now();
    await old.kill();
    const successor = await soleActive(nodes, old);
    const status = successor.status();
    assert.ok(status.raft!.term > oldTerm);
    assert.ok((status.activeSinceMs ?? 0) - killedAt >= ELECTION_TIMEOUT_MS - 50, 'waited for the election timeout');
  });

  it('does not elect a leader without a quorum', async () => {
    const { nodes } = await raftCluster(3);
    const old = await soleActive(nodes);
    const others = nodes.filter((n) => n !== old);
    await Promise.all([old.kill(), others[0]!.kill()]);
    await new Promise((r) => setTimeout(r, 3 * ELECTION_TIMEOUT_MS));
    assert.equal(others[1]!.status().isActive, false);
  });

  it('a leader cut off from its peers steps down after its lease, before a new leader is elected', async () => {
    const { nodes } = await raftCluster(3);
    const cut = await soleActive(nodes);
    cut.partitionStorage(true);
    await waitFor(() => !cut.status().isActive, { ...WAIT, description: 'the cut-off leader to step down' });
    const stillNoneAt = actives(nodes).length;
    assert.equal(stillNoneAt, 0, 'no overlap: the lease expired before the election timeout');
    const successor = await soleActive(nodes, cut);
    assert.notEqual(successor.name, cut.name);
  });

  it('a removed peer answers 530 with removed_from_cluster on Vault 1.19', async () => {
    const { nodes, raftGroup } = await raftCluster(3);
    const leader = await soleActive(nodes);
    const victim = nodes.find((n) => n !== leader)!;
    assert.equal(raftGroup?.removePeer(victim.name), true);
    const r = await simRequest(`${victim.baseUrl}${VAULT_PATHS.health}`);
    assert.equal(r.status, HEALTH_STATUS.removed);
    assert.equal((r.json as VaultHealthBody).removed_from_cluster, true);
    const healthy = (await simRequest(`${leader.baseUrl}${VAULT_PATHS.health}`)).json as VaultHealthBody;
    assert.equal(healthy.removed_from_cluster, false);
  });
});
