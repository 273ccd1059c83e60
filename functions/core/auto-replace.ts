/**
 * policy.autoReplace: decide whether the controller should start replace-node
 * for a slot whose node has been gone for longer than the configured time.
 * Pure: the world (members, classified nodes, EC2 status checks, the slots'
 * gone-since times) comes in, a decision with reasons goes out.
 */
import type { Member, NodeHealth, VerdictKind } from './types.js';

/** EC2 status check summary per instance (DescribeInstanceStatus). */
export type StatusCheck = 'ok' | 'impaired' | 'insufficient-data' | 'initializing' | 'not-applicable';

export interface AutoReplaceInput {
  cluster: string;
  enabled: boolean;
  afterSeconds: number;
  /** Configured slot names. */
  slots: string[];
  members: Member[];
  nodes: NodeHealth[];
  statusChecks: Record<string, StatusCheck>;
  /** Slot → when it was first seen gone (ms), from the previous ticks. */
  goneSinceMs: Record<string, number>;
  verdict: VerdictKind;
  legitimateActive?: string;
  nowMs: number;
}

export interface AutoReplaceDecision {
  /** Updated slot → gone-since map to store for the next tick. */
  goneSinceMs: Record<string, number>;
  /** The replacement to start now, if any (at most one per cluster and tick). */
  start?: { slot: string; instanceId?: string; executionName: string; reason: string };
  /** Why nothing was started for a gone slot (reported, not alarmed). */
  notes: string[];
}

const GONE_STATES = new Set(['stopped', 'stopping', 'terminated', 'shutting-down']);

/** Why a slot counts as gone, or undefined when its node is there. */
function goneReason(slot: string, input: AutoReplaceInput): { reason: string; instanceId?: string } | undefined {
  const inSlot = input.members.filter((m) => m.slot === slot);
  const live = inSlot.filter((m) => !GONE_STATES.has(m.state));
  if (live.length === 0) {
    const last = inSlot.find((m) => m.state !== 'terminated') ?? inSlot[0];
    return last
      ? { reason: `${last.instanceId} is ${last.state}`, ...(last.state !== 'terminated' ? { instanceId: last.instanceId } : {}) }
      : { reason: 'no instance carries the slot tag' };
  }
  for (const m of live) {
    const node = input.nodes.find((n) => n.instanceId === m.instanceId);
    const check = input.statusChecks[m.instanceId];
    // Unreachable alone is not enough (a security group change would trigger a
    // fleet-wide replacement); EC2's own status check must agree.
    if (node?.class === 'unreachable' && check === 'impaired') {
      return { reason: `${m.instanceId} is unreachable and its EC2 status check failed`, instanceId: m.instanceId };
    }
  }
  return undefined;
}

/** Execution names: 1-80 chars of [A-Za-z0-9_-]; derived from the outage so retries dedupe. */
export function autoReplaceExecutionName(cluster: string, slot: string, goneSinceMs: number): string {
  const clean = (s: string) => s.replace(/[^A-Za-z0-9_-]/g, '-');
  return `auto-${clean(cluster)}-${clean(slot)}-${Math.floor(goneSinceMs / 1000)}`.slice(0, 80);
}

export function decideAutoReplace(input: AutoReplaceInput): AutoReplaceDecision {
  const goneSinceMs: Record<string, number> = {};
  const gone: Array<{ slot: string; since: number; reason: string; instanceId?: string }> = [];
  for (const slot of input.slots) {
    const why = goneReason(slot, input);
    if (!why) continue;
    const since = input.goneSinceMs[slot] ?? input.nowMs;
    goneSinceMs[slot] = since;
    gone.push({ slot, since, ...why });
  }
  const notes: string[] = [];
  if (!input.enabled || gone.length === 0) return { goneSinceMs, notes };
  if (input.verdict === 'probe-blind') {
    notes.push('auto-replace held: probe blind, the controller cannot tell a dead node from its own network fault');
    return { goneSinceMs, notes };
  }
  const due = gone
    .filter((g) => input.nowMs - g.since >= input.afterSeconds * 1000)
    .filter((g) => {
      if (g.instanceId !== undefined && g.instanceId === input.legitimateActive) {
        notes.push(`auto-replace held for ${g.slot}: ${g.instanceId} is the legitimate active`);
        return false;
      }
      return true;
    })
    .sort((a, b) => a.since - b.since || a.slot.localeCompare(b.slot));
  for (const g of gone) {
    if (!due.includes(g) && input.nowMs - g.since < input.afterSeconds * 1000) {
      notes.push(`slot ${g.slot} gone for ${Math.round((input.nowMs - g.since) / 1000)} s of ${input.afterSeconds} s (${g.reason})`);
    }
  }
  const first = due[0];
  if (!first) return { goneSinceMs, notes };
  if (due.length > 1) notes.push(`one replacement at a time: ${due.slice(1).map((d) => d.slot).join(', ')} wait`);
  return {
    goneSinceMs,
    notes,
    start: {
      slot: first.slot,
      ...(first.instanceId ? { instanceId: first.instanceId } : {}),
      executionName: autoReplaceExecutionName(input.cluster, first.slot, first.since),
      reason: `${first.reason} for ${Math.round((input.nowMs - first.since) / 1000)} s (≥ ${input.afterSeconds} s)`,
    },
  };
}
