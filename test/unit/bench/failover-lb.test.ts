/**
 * The failover benchmark's `--lb` dimension: cells per balancer, their names and
 * selection, ratios and targets never compared across balancers, and each
 * balancer's health-check settings (AWS's defaults vs the recommended ones).
 */
import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { BenchArgumentError, parseFailoverArgs, selectCells } from '../../../bench/failover.js';
import { LB_SETTINGS, MAX_OBSERVE_MS, maxObserveMs, setupSpec } from '../../../bench/failover-run.js';
import { cellName, summarizeCell, withRatios, type CellKey, type RunMetrics } from '../../../bench/failover-stats.js';
import { RECOMMENDED_CLASSIC_HEALTH_CHECK, RECOMMENDED_TARGET_GROUP } from '../../../sandbox/environment.js';

const run = (rtoSeconds: number): RunMetrics => ({
  clientRtoMs: rtoSeconds * 1000,
  recovered: true,
  failedRequests: 1,
  requests: 100,
  emptyTargetGroupSamples: 0,
  twoActivesRoutedSamples: 0,
  samples: 10,
});

describe('--lb', () => {
  it('defaults to the ALB alone: the 16 cells and their names are unchanged', () => {
    const a = parseFailoverArgs(['--failover'], new Date('2026-12-01T10:00:00Z'));
    assert.deepEqual(a.lbs, ['alb']);
    assert.equal(a.cells.length, 16);
    assert.ok(a.cells.every((c) => c.lb === undefined));
    assert.equal(cellName(a.cells[0]!), 'kill-active/aws-default/classic');
  });

  it('adds a balancer\'s cells, named with its prefix; a pattern without one applies to every balancer chosen', () => {
    const a = parseFailoverArgs(['--failover', '--lb', 'alb,classic', '--only', '*/aws-default/default']);
    assert.deepEqual(a.cells.map(cellName).sort(), [
      'classic:kill-active/aws-default/default',
      'classic:step-down/aws-default/default',
      'kill-active/aws-default/default',
      'step-down/aws-default/default',
    ]);
  });

  it('a prefixed pattern picks one balancer', () => {
    assert.deepEqual(selectCells('classic:kill-active/*/classic', ['alb', 'classic']).map(cellName), [
      'classic:kill-active/aws-default/classic',
      'classic:kill-active/aggressive/classic',
    ]);
    assert.throws(() => selectCells('classic:kill-active/*/*', ['alb']), BenchArgumentError);
  });

  it('refuses an unknown balancer, naming the argument', () => {
    assert.throws(() => parseFailoverArgs(['--lb', 'gwlb']), (e: unknown) => e instanceof BenchArgumentError && e.argument === '--lb');
  });
});

describe('cells per balancer', () => {
  it('ratios compare a cell with the classic setup of its own balancer only', () => {
    const key = (setup: CellKey['setup'], lb?: CellKey['lb']): CellKey => ({ scenario: 'kill-active', alb: 'aws-default', setup, ...(lb ? { lb } : {}) });
    const cells = withRatios([
      summarizeCell(key('classic'), [run(10)]),
      summarizeCell(key('default'), [run(5)]),
      summarizeCell(key('classic', 'classic'), [run(300)]),
      summarizeCell(key('default', 'classic'), [run(30)]),
    ]);
    assert.deepEqual(cells.map((c) => [cellName(c), c.lb, c.ratioToClassic]), [
      ['kill-active/aws-default/classic', 'alb', null],
      ['kill-active/aws-default/default', 'alb', 0.5],
      ['classic:kill-active/aws-default/classic', 'classic', null],
      ['classic:kill-active/aws-default/default', 'classic', 0.1],
    ]);
  });

  it('Classic: AWS\'s defaults (healthy threshold 10 every 30 s) and the recommended settings; its default setup passes standbys with standbyok', () => {
    assert.deepEqual(LB_SETTINGS.classic['aws-default'], { intervalSeconds: 30, timeoutSeconds: 5, healthyThresholdCount: 10, unhealthyThresholdCount: 2, deregistrationDelaySeconds: 0 });
    assert.equal(LB_SETTINGS.classic.aggressive.intervalSeconds, RECOMMENDED_CLASSIC_HEALTH_CHECK.intervalSeconds);
    assert.equal(setupSpec('default', 'all-unsealed', 'classic').path, '/v1/sys/health?standbyok=true');
    assert.equal(setupSpec('classic', 'all-unsealed', 'classic').path, '/v1/sys/health');
    assert.equal(setupSpec('default', 'all-unsealed', 'alb').matcher, RECOMMENDED_TARGET_GROUP.matcher);
  });

  it('observes long enough for a Classic instance to come back at AWS\'s defaults; the ALB keeps its cap', () => {
    assert.equal(maxObserveMs('alb', LB_SETTINGS.alb['aws-default']), MAX_OBSERVE_MS);
    assert.ok(maxObserveMs('classic', LB_SETTINGS.classic['aws-default']) >= (10 + 2) * 30_000 + 60_000);
    assert.equal(maxObserveMs('classic', LB_SETTINGS.classic.aggressive), MAX_OBSERVE_MS);
  });
});
