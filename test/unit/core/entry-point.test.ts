/**
 * functions/core is the functional core (DESIGN, STYLE): pure decisions, no
 * AWS SDK, no HTTP, no node: modules. Its entry point re-exports the
 * decisions, and no file of the core may import I/O.
 */
import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import * as core from '../../../functions/core/index.js';
import { assessLeadership } from '../../../functions/core/assess.js';
import { classifyHealth } from '../../../functions/core/classify.js';
import { planRegistrations } from '../../../functions/core/plan.js';

const CORE_DIR = new URL('../../../functions/core/', import.meta.url);

describe('functions/core entry point', () => {
  it('re-exports the decisions themselves (not copies) under their own names', () => {
    assert.equal(core.assessLeadership, assessLeadership);
    assert.equal(core.classifyHealth, classifyHealth);
    assert.equal(core.planRegistrations, planRegistrations);
    for (const name of ['observeLock', 'normaliseAddress', 'standbyVotes', 'nodesNamedBy', 'updateFailureCounts', 'rememberTick', 'tickMemoryOf']) {
      assert.equal(typeof (core as Record<string, unknown>)[name], 'function', name);
    }
  });

  it('no file of the core imports a package (the AWS SDK, node: modules, an HTTP client) or the adapters', async () => {
    const files = (await readdir(CORE_DIR)).filter((f) => f.endsWith('.ts'));
    assert.ok(files.length > 5, `core files: ${files.join(', ')}`);
    const offenders: string[] = [];
    for (const f of files) {
      const text = await readFile(new URL(f, CORE_DIR), 'utf8');
      for (const m of text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/gm)) {
        const spec = m[1]!;
        // Only the core itself and the (pure, zod) config schemas; never ../adapters, ../handlers or a package.
        if (!spec.startsWith('./') && !spec.startsWith('../config/')) offenders.push(`${f}: ${spec}`);
      }
      if (/\bimport\(/.test(text)) offenders.push(`${f}: dynamic import`);
    }
    assert.deepEqual(offenders, []);
  });
});
