/** Hand-made inputs shared by the chart tests (test/unit/bench/charts*.test.ts). */

/** A stored drill report (functions/core/drill.ts DrillReport), by hand: kill-active, i-0bbb routed 9.4 s after the injection. */
export function drillReport(): Record<string, unknown> {
  const t0 = Date.parse('2026-11-30T10:00:00.000Z');
  const at = (s: number) => new Date(t0 + s * 1000).toISOString();
  const poll = (s: number, verdict: string, legit: string | null, reg: Array<[string, string]>) => ({
    at: at(s),
    verdict,
    legitimateActive: legit,
    claimants: legit ? [legit] : [],
    registered: reg.map(([instanceId, state]) => ({ instanceId, state })),
  });
  return {
    kind: 'failover-drill',
    result: 'passed',
    outcome: 'kill-active on i-0aaa: i-0bbb took over and was routed after 9.4 s (max 60 s)',
    cluster: 'prod',
    scenario: 'kill-active',
    executionName: 'drill-prod-1',
    oldActive: 'i-0aaa',
    newActive: 'i-0bbb',
    rtoSeconds: 9.4,
    maxRtoSeconds: 60,
    injected: 'stop Vault on i-0aaa',
    startedAt: at(-12),
    finishedAt: at(40),
    timeline: [
      { at: at(-12), event: 'phase validate started' },
      { at: at(-10), event: 'phase pre-check started' },
      { at: at(0), event: 'fault injected: stop Vault on i-0aaa' },
      { at: at(2), event: 'verdict no-leader' },
      { at: at(9.4), event: 'new active i-0bbb registered and healthy in the target group' },
      { at: at(40), event: 'report built' },
    ],
    phases: [
      { name: 'validate', startedAt: at(-12), endedAt: at(-10), durationMs: 2_000 },
      { name: 'pre-check', startedAt: at(-10), endedAt: at(-1), durationMs: 9_000 },
      { name: 'inject-fault', startedAt: at(-1), endedAt: at(0.2), durationMs: 1_200 },
      { name: 'observe-failover', startedAt: at(0.2), endedAt: at(25), durationMs: 24_800 },
      { name: 'post-check', startedAt: at(25), endedAt: at(40), durationMs: 15_000 },
    ],
    verdicts: [
      poll(-10, 'healthy', 'i-0aaa', [['i-0aaa', 'healthy']]),
      poll(2, 'no-leader', null, [['i-0aaa', 'unhealthy']]),
      poll(6, 'healthy', 'i-0bbb', [['i-0bbb', 'initial']]),
      poll(9.4, 'healthy', 'i-0bbb', [['i-0bbb', 'healthy']]),
    ],
    warnings: [],
  };
}

/**
 * The same drill as functions/core/drill-report.ts now reports it when the
 * drill probes the listener: `times`, `clientProbe`, `rtoMeasure` and the
 * probe's transitions in the timeline ("client requests fail (…)").
 */
export function drillReportWithClients(): Record<string, unknown> {
  const base = drillReport();
  const t0 = Date.parse('2026-11-30T10:00:00.000Z');
  const at = (s: number) => new Date(t0 + s * 1000).toISOString();
  return {
    ...base,
    rtoSeconds: 8.2,
    rtoMeasure: 'client-visible',
    routedRtoSeconds: 7.9,
    clientRtoSeconds: 8.2,
    failedRequests: 37,
    clientProbe: { url: 'https://vault.example.internal', requests: 412, failedRequests: 37, firstFailedAt: at(1.5), lastFailedAt: at(8.1), recoveredAt: at(8.2) },
    times: { injectedAt: at(0), detectedAt: at(1.5), electedAt: at(5), routedAt: at(7.9), clientRecoveredAt: at(8.2), detectionSeconds: 1.5, electionSeconds: 5, routedSeconds: 7.9, clientVisibleSeconds: 8.2 },
    timeline: [
      ...(base['timeline'] as Array<{ at: string; event: string }>).filter((e) => !e.event.startsWith('new active')),
      { at: at(1.5), event: 'client requests fail (503)' },
      { at: at(7.9), event: 'new active i-0bbb registered and healthy in the target group' },
      { at: at(8.2), event: 'client requests succeed again (200)' },
    ].sort((a, b) => Date.parse(a.at) - Date.parse(b.at)),
  };
}
