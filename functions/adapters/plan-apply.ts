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
}

export interface AppliedTargets {
  registered: string[];
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
    readonly failures: Array<{ step: 'register' | 'deregister'; error: Error }>,
  ) {
    super(
      `target group changes failed (${failures.map((f) => `${f.step}: ${f.error.message}`).join('; ')}); ` +
        `applied: registered [${applied.registered.join(', ')}], deregistered [${applied.deregistered.join(', ')}]`,
      { cause: failures[0]?.error },
    );
  }
}

/** One balancer's calls for a batch of ids (each throws an adapter error when the call fails). */
export interface BatchCalls {
  register(batch: string[]): Promise<void>;
  deregister(batch: string[]): Promise<void>;
}

/**
 * Applies a plan in the order the planner chose. Deregister first when a node
 * that claims active leaves (the other order could route the old and the new
 * active both for a moment); register first otherwise, so the balancer never
 * passes through empty. When deregistration fails and the planner said every
 * removal is dead or non-routable, the registrations still go ahead: a missing
 * permission or an ELB brown-out on the deregister call must not keep a new
 * legitimate active out of the balancer.
 *
 * Empty lists make no call. A batch is recorded as applied only after its call
 * succeeded. On any failure, throws PartialApplyError saying what did change.
 */
export async function applyInOrder(calls: BatchCalls, plan: TargetPlan, batchSize: number): Promise<AppliedTargets> {
  const applied: AppliedTargets = { registered: [], deregistered: [] };
  const failures: Array<{ step: 'register' | 'deregister'; error: Error }> = [];

  const run = async (step: 'register' | 'deregister', ids: string[]): Promise<boolean> => {
    for (const batch of chunks(unique(ids), batchSize)) {
      try {
        await calls[step](batch);
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
    if (await run('register', plan.register)) await run('deregister', plan.deregister);
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
