/**
 * config/<stage>.example.json: a starting point per stage that validates, takes
 * the deployed control table and topic from the stack (no controlTable, no
 * notifications), and that `vault-ha config check` refuses until every example
 * value is replaced.
 */
import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CONTROL_TABLE_ENV, loadConfig, parseConfig } from '../../../functions/config/load.js';
import { placeholderFindings } from '../../../cli/config-check.js';

const example = (stage: string): { text: string; doc: Record<string, unknown> } => {
  const text = readFileSync(new URL(`../../../config/${stage}.example.json`, import.meta.url), 'utf8');
  return { text, doc: JSON.parse(text) as Record<string, unknown> };
};

describe.each(['dev', 'prod'])('config/%s.example.json', (stage) => {
  it('validates against the configuration contract', () => {
    const c = parseConfig(example(stage).doc, `config/${stage}.example.json`);
    assert.equal(c.clusters.length, 1);
    assert.equal(c.clusters[0]!.name, stage);
    assert.ok(c.clusters[0]!.replacement, 'replacement slots are part of the example');
  });

  it('names neither the control table nor the topic: the deployed stack provides both', async () => {
    const { doc, text } = example(stage);
    assert.equal('controlTable' in doc, false);
    assert.equal('notifications' in doc, false);
    const c = await loadConfig({ VAULT_HA_CONFIG: text, [CONTROL_TABLE_ENV]: `vault-ha-control-${stage}` });
    assert.equal(c.controlTable, `vault-ha-control-${stage}`);
  });

  it('is refused by vault-ha config check until the example values are replaced', () => {
    const errors = placeholderFindings(example(stage).doc).filter((f) => f.level === 'error');
    const paths = errors.map((f) => f.path);
    assert.ok(paths.includes('clusters[0].loadBalancer.targetGroupArn'), paths.join(', '));
    assert.ok(paths.includes('clusters[0].replacement.launchTemplate.id'), paths.join(', '));
    assert.ok(paths.some((p) => p.endsWith('.subnetId')), paths.join(', '));
  });
});

describe('stage differences', () => {
  it('dev starts in dry run (watch the verdicts first); prod acts and replaces dead nodes', () => {
    const dev = parseConfig(example('dev').doc);
    const prod = parseConfig(example('prod').doc);
    assert.equal(dev.clusters[0]!.policy.dryRun, true);
    assert.equal(prod.clusters[0]!.policy.dryRun, false);
    assert.equal(prod.clusters[0]!.policy.autoReplace, true);
  });
});
