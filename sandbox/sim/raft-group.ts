/**
 * In-process stand-in for Vault's integrated storage (Raft), modest fidelity:
 * a coordinator that elects one leader among members that are running,
 * unsealed and not partitioned from their peers, with terms and advancing
 * committed/applied indexes. What matters to the control plane is kept:
 * - an election needs a quorum of voters and happens only after the election
 *   timeout without leader contact (so killing the leader leaves a gap);
 * - a leader cut off from its peers keeps claiming leadership until its leader
 *   lease times out (shorter than the election timeout, as in hashicorp/raft,
 *   so Raft does not produce the DynamoDB backend's split-brain window);
 * - a follower keeps its last view of the leader while it cannot hear from
 *   the group, and followers keep naming a dead leader until a new one wins;
 * - a removed peer reports `removed_from_cluster` (530 on Vault 1.19+).
 */
import type { HaParticipant, LeaderView, LeadershipSnapshot, ParticipantHooks } from './ha.js';

export interface RaftGroupOptions {
  /** Time without leader contact before followers elect a new leader. Default 3000 ms. */
  electionTimeoutMs?: number;
  /** A leader that cannot reach a quorum steps down after this long. Default electionTimeoutMs / 2. */
  leaderLeaseTimeoutMs?: number;
  /** Coordinator tick (heartbeats, replication, elections). Default electionTimeoutMs / 6. */
  tickIntervalMs?: number;
  /** After a manual step-down the node does not stand for election for this long. Default 10 000 ms (Vault). */
  stepDownBackoffMs?: number;
  /** Tie-break between equally up-to-date candidates; default Math.random. */
  random?: () => number;
}

interface RaftMember {
  hooks: ParticipantHooks;
  competing: boolean;
  removed: boolean;
  appliedIndex: number;
  view: LeaderView | undefined;
  heldSinceMs: number | undefined;
  notStandingUntilMs: number;
}

export interface RaftGroupSnapshot {
  term: number;
  leader: string | undefined;
  committedIndex: number;
  members: Array<{ name: string; competing: boolean; removed: boolean; appliedIndex: number; leaderView?: string }>;
}

export class RaftGroup {
  readonly electionTimeoutMs: number;
  readonly leaderLeaseTimeoutMs: number;
  readonly tickIntervalMs: number;
  readonly stepDownBackoffMs: number;
  private readonly random: () => number;
  private readonly members = new Map<string, RaftMember>();
  private term = 0;
  private committedIndex = 0;
  private leader: string | undefined;
  private lastLeaderContactMs = Date.now();
  private ticker: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(opts: RaftGroupOptions = {}) {
    this.electionTimeoutMs = opts.electionTimeoutMs ?? 3000;
    this.leaderLeaseTimeoutMs = opts.leaderLeaseTimeoutMs ?? Math.max(1, Math.round(this.electionTimeoutMs / 2));
    this.tickIntervalMs = opts.tickIntervalMs ?? Math.max(1, Math.round(this.electionTimeoutMs / 6));
    this.stepDownBackoffMs = opts.stepDownBackoffMs ?? 10_000;
    this.random = opts.random ?? Math.random;
  }

  /** Adds a member (a node joins the Raft configuration) and returns its HA participant. */
  join(hooks: ParticipantHooks): HaParticipant {
    const existing = this.members.get(hooks.nodeName);
    const member: RaftMember = existing ?? {
      hooks,
      competing: false,
      removed: false,
      appliedIndex: 0,
      view: undefined,
      heldSinceMs: undefined,
      notStandingUntilMs: 0,
    };
    member.hooks = hooks;
    this.members.set(hooks.nodeName, member);
    this.ensureTicker();
    return new RaftParticipant(this, hooks.nodeName);
  }

  /** `vault operator raft remove-peer`: the node stays up but is no longer a voter. */
  removePeer(name: string): boolean {
    const member = this.members.get(name);
    if (!member || member.removed) return false;
    if (this.leader === name) this.demote(member, 'removed from the raft configuration');
    member.removed = true;
    member.view = undefined;
    member.hooks.log('raft-removed', 'removed from the raft configuration');
    return true;
  }

  isRemoved(name: string): boolean {
    return this.members.get(name)?.removed ?? false;
  }

  leaderName(): string | undefined {
    return this.leader;
  }

  snapshot(): RaftGroupSnapshot {
    return {
      term: this.term,
      leader: this.leader,
      committedIndex: this.committedIndex,
      members: [...this.members.entries()].map(([name, m]) => ({
        name,
        competing: m.competing,
        removed: m.removed,
        appliedIndex: m.appliedIndex,
        ...(m.view?.apiAddr ? { leaderView: m.view.apiAddr } : {}),
      })),
    };
  }

  stop(): void {
    this.stopped = true;
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = undefined;
  }

  /** @internal used by RaftParticipant */
  setCompeting(name: string, competing: boolean, reason: string): void {
    const member = this.members.get(name);
    if (!member) return;
    member.competing = competing;
    if (!competing) {
      member.view = undefined;
      if (this.leader === name) this.demote(member, reason);
    }
    this.ensureTicker();
  }

  /** @internal */
  stepDown(name: string): boolean {
    const member = this.members.get(name);
    if (!member || this.leader !== name) return false;
    this.demote(member, 'step-down');
    const now = Date.now();
    member.notStandingUntilMs = now + this.stepDownBackoffMs;
    // A step-down hands leadership over at once rather than waiting for followers to time out.
    this.lastLeaderContactMs = now - this.electionTimeoutMs;
    return true;
  }

  /** @internal */
  memberState(name: string): RaftMember | undefined {
    return this.members.get(name);
  }

  /** @internal */
  indexes(name: string): { term: number; committedIndex: number; appliedIndex: number } {
    return { term: this.term, committedIndex: this.committedIndex, appliedIndex: this.members.get(name)?.appliedIndex ?? 0 };
  }

  private ensureTicker(): void {
    if (this.ticker || this.stopped) return;
    this.ticker = setInterval(() => this.tick(), this.tickIntervalMs);
    this.ticker.unref();
  }

  private voters(): RaftMember[] {
    return [...this.members.values()].filter((m) => !m.removed);
  }

  private quorum(): number {
    return Math.floor(this.voters().length / 2) + 1;
  }

  private reachable(m: RaftMember): boolean {
    return m.competing && !m.removed && !m.hooks.storagePartitioned();
  }

  private demote(member: RaftMember, reason: string): void {
    this.leader = undefined;
    member.heldSinceMs = undefined;
    member.view = undefined;
    member.hooks.log('raft-leadership-lost', reason);
    if (member.competing) member.hooks.onLostActive(reason);
  }

  /** One heartbeat round: leader contact and replication, lease expiry, elections. */
  tick(): void {
    const now = Date.now();
    const leader = this.leader ? this.members.get(this.leader) : undefined;
    if (leader) {
      const reachableVoters = this.voters().filter((m) => this.reachable(m)).length;
      if (this.reachable(leader) && reachableVoters >= this.quorum()) {
        this.lastLeaderContactMs = now;
        this.committedIndex++;
      } else if (now - this.lastLeaderContactMs >= this.leaderLeaseTimeoutMs) {
        this.demote(leader, 'leader lease timed out without quorum contact');
      }
    }
    if (!this.leader && now - this.lastLeaderContactMs >= this.electionTimeoutMs) this.elect(now);
    this.replicate();
  }

  private elect(now: number): void {
    const eligible = this.voters().filter((m) => this.reachable(m));
    if (eligible.length < this.quorum()) return;
    const standing = eligible.filter((m) => m.notStandingUntilMs <= now);
    if (standing.length === 0) return;
    // Raft's vote rule: only a candidate whose log is at least as up to date wins.
    const best = Math.max(...standing.map((m) => m.appliedIndex));
    const candidates = standing.filter((m) => m.appliedIndex === best);
    const winner = candidates[Math.floor(this.random() * candidates.length)] ?? candidates[0];
    if (!winner) return;
    this.term++;
    this.leader = winner.hooks.nodeName;
    this.committedIndex++;
    winner.appliedIndex = this.committedIndex;
    winner.heldSinceMs = now;
    winner.view = undefined;
    this.lastLeaderContactMs = now;
    winner.hooks.log('raft-elected', `leader for term ${this.term}`);
    winner.hooks.onBecameActive();
  }

  private replicate(): void {
    const leader = this.leader ? this.members.get(this.leader) : undefined;
    if (!leader) return;
    if (this.reachable(leader)) leader.appliedIndex = this.committedIndex;
    if (!this.reachable(leader)) return;
    const view: LeaderView = {
      leaderId: leader.hooks.nodeName,
      apiAddr: leader.hooks.apiAddr(),
      clusterAddr: leader.hooks.clusterAddr(),
    };
    for (const member of this.members.values()) {
      if (member === leader || !this.reachable(member)) continue;
      member.appliedIndex = this.committedIndex;
      member.view = view;
    }
  }
}

class RaftParticipant implements HaParticipant {
  readonly type = 'raft' as const;

  constructor(
    private readonly group: RaftGroup,
    private readonly name: string,
  ) {}

  start(): void {
    this.group.setCompeting(this.name, true, 'started');
  }

  async halt(mode: 'graceful' | 'hard'): Promise<void> {
    this.group.setCompeting(this.name, false, mode === 'graceful' ? 'sealed or shut down' : 'killed');
  }

  async stepDown(): Promise<boolean> {
    return this.group.stepDown(this.name);
  }

  isLeader(): boolean {
    return this.group.leaderName() === this.name && (this.group.memberState(this.name)?.competing ?? false);
  }

  leaderView(): LeaderView | undefined {
    const member = this.group.memberState(this.name);
    if (!member) return undefined;
    if (this.isLeader()) {
      return { leaderId: this.name, apiAddr: member.hooks.apiAddr(), clusterAddr: member.hooks.clusterAddr() };
    }
    return member.view;
  }

  snapshot(): LeadershipSnapshot {
    const member = this.group.memberState(this.name);
    const raft = this.group.indexes(this.name);
    return this.isLeader() && member?.heldSinceMs !== undefined
      ? { held: true, heldSinceMs: member.heldSinceMs, raft }
      : { held: false, raft };
  }
}
