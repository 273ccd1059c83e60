/**
 * The order in which a registration plan is applied, shared by every load
 * balancer adapter (target groups, Classic Load Balancers). Decides nothing:
 * the plan, its order and `registerEvenIfDeregisterFails` come from the core
 * planner; this module only runs the calls in that order, in chunks, and
 * reports exactly what changed (invariant 12).
 */

export interface TargetPlan {
  register: string[];
  deregister: string[];
  /** Decided by the planner (RegistrationPlan.order); default deregister-first. */
  order?: 'deregister-first' | 'register-first';
  /** Decided by the planner: go on registering after a failed deregistration. */
  registerEvenIfDeregisterFails?: boolean;
  /** Decided by the planner (register-first only): deregister this plan's registrations again when its deregistration fails. */
  undoRegistrationIfDeregisterFails?: boolean;
}

export interface AppliedTargets {
  registered: string[];
  /** In call order; an undone registration is in both lists (registered, then deregistered again). */
  deregistered: string[];
}

/**
 * Some of a plan was applied before a call failed: `applied` says exactly what
 * changed (invariant 12), `cause` is the adapter error of the failed call.
 */
export class PartialApplyError extends Error {
  override readonly name = 'PartialApplyError';
  constructor(
    readonly applied: AppliedTargets,
    readonly failures: Array<{ step: ApplyStep; error: Error }>,
  ) {
    super(
      `target group changes failed (${failures.map((f) => `${f.step}: ${f.error.message}`).join('; ')}); ` +
        `applied: registered [${applied.registered.join(', ')}], deregistered [${applied.deregistered.join(', ')}]`,
      { cause: failures[0]?.error },
    );
  }
}

/** `undo`: taking back this plan's registrations after its deregistration failed. */
export type ApplyStep = 'register' | 'deregister' | 'undo';

/** One balancer's calls for a batch of ids (each throws an adapter error when the call fails). */
export interface BatchCalls {
  register(batch: string[]): Promise<void>;
  deregister(batch: string[]): Promise<void>;
}

/**
 * Applies a plan in the order the planner chose (core/plan.ts, `orderOfChanges`).
 * Register first: when the registrations fail, nothing is deregistered (the
 * balancer could be left empty); when the deregistrations fail and the planner
 * asked for it (a claimant was leaving), the registrations are undone, so the
 * new target never turns healthy beside the claimant. Deregister first: when
 * the deregistrations fail, the registrations go ahead only if the planner
 * said every removal is dead or non-routable — a missing permission or an ELB
 * brown-out on the deregister call must not keep a new legitimate active out.
 *
 * Empty lists make no call. A batch is recorded as applied only after its call
 * succeeded. On any failure, throws PartialApplyError saying what did change.
 */
export async function applyInOrder(calls: BatchCalls, plan: TargetPlan, batchSize: number): Promise<AppliedTargets> {
  const applied: AppliedTargets = { registered: [], deregistered: [] };
  const failures: Array<{ step: ApplyStep; error: Error }> = [];

  const run = async (step: ApplyStep, ids: string[]): Promise<boolean> => {
    for (const batch of chunks(unique(ids), batchSize)) {
      try {
        await calls[step === 'register' ? 'register' : 'deregister'](batch);
      } catch (err) {
        failures.push({ step, error: err instanceof Error ? err : new Error(String(err)) });
        return false;
      }
      (step === 'register' ? applied.registered : applied.deregistered).push(...batch);
    }
    return true;
  };

  if (plan.order === 'register-first') {
    // Removing the old targets while the new ones failed to come in could empty the balancer.
    if (await run('register', plan.register)) {
      const deregistered = await run('deregister', plan.deregister);
      if (!deregistered && plan.undoRegistrationIfDeregisterFails === true) await run('undo', [...applied.registered]);
    }
  } else {
    const deregistered = await run('deregister', plan.deregister);
    if (deregistered || plan.registerEvenIfDeregisterFails === true) await run('register', plan.register);
  }
  if (failures.length > 0) {
    // A single failure keeps its own type (callers and tests match on it); the
    // partial result travels with it either way.
    throw new PartialApplyError(applied, failures);
  }
  return applied;
}

export function unique(ids: string[]): string[] {
  return [...new Set(ids)];
}

export function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
