/**
 * Jest setup file (jest.config.mjs `setupFiles`): a `structuredClone` whose
 * result belongs to the test file's realm.
 *
 * Jest runs each test file in its own V8 context but hands it Node's own
 * `structuredClone`, which builds its copy with the objects of Node's main
 * context. `node:assert/strict`'s deepEqual compares prototypes, so a cloned
 * `['a']` would not equal an `['a']` written in the test ("Compared values have
 * no visual difference"). Under `node --test` there is one realm and no such
 * difference; this keeps the sandbox's clones (SSM audit log, SNS messages, ALB
 * stats) comparable. The clone itself is still Node's (same semantics and
 * errors); only the containers are rebuilt here, sharing cycles as the clone does.
 */
const nodeClone = globalThis.structuredClone;

function adopt(value: unknown, seen: Map<object, unknown>): unknown {
  if (value === null || typeof value !== 'object') return value;
  const known = seen.get(value);
  if (known !== undefined) return known;
  const tag = Object.prototype.toString.call(value);
  switch (tag) {
    case '[object Array]': {
      const out: unknown[] = [];
      seen.set(value, out);
      (value as unknown[]).forEach((v, i) => {
        out[i] = adopt(v, seen);
      });
      return out;
    }
    case '[object Object]': {
      const out: Record<string, unknown> = Object.getPrototypeOf(value) === null ? Object.create(null) : {};
      seen.set(value, out);
      for (const [k, v] of Object.entries(value)) out[k] = adopt(v, seen);
      return out;
    }
    case '[object Date]': {
      const out = new Date((value as Date).getTime());
      seen.set(value, out);
      return out;
    }
    case '[object RegExp]': {
      const r = value as RegExp;
      const out = new RegExp(r.source, r.flags);
      seen.set(value, out);
      return out;
    }
    case '[object Map]': {
      const out = new Map<unknown, unknown>();
      seen.set(value, out);
      for (const [k, v] of value as Map<unknown, unknown>) out.set(adopt(k, seen), adopt(v, seen));
      return out;
    }
    case '[object Set]': {
      const out = new Set<unknown>();
      seen.set(value, out);
      for (const v of value as Set<unknown>) out.add(adopt(v, seen));
      return out;
    }
    default:
      // Errors, ArrayBuffers, typed arrays, boxed primitives…: Node's clone as is.
      return value;
  }
}

globalThis.structuredClone = ((value: unknown, options?: Parameters<typeof structuredClone>[1]) =>
  adopt(nodeClone(value, options), new Map())) as typeof structuredClone;
