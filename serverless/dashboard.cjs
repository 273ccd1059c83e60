/**
 * The stage's CloudWatch dashboard (serverless.yml: VaultHADashboard), as the
 * `DashboardBody` of AWS::CloudWatch::Dashboard: a `Fn::Sub` over the JSON body,
 * so log groups, functions, state machines and alarms are this stack's own.
 *
 * What is a metric and what is not (functions/adapters/metrics.ts): only five
 * series are CloudWatch metrics (VerdictNonHealthy per cluster and per stage,
 * ProbeBlind, StandbyNodes, TickDurationMs per stage). Everything else the
 * controller knows per cluster (active nodes, registered targets, changes,
 * probe latency) is a property of the same embedded-metric-format log line,
 * and takeovers, replacements and drills are log lines of their own: those
 * widgets are Logs Insights queries on the functions' log groups (billed per
 * GB scanned when the dashboard is viewed, not per series). Logs Insights
 * finds those fields by itself: in a Lambda log event it discovers the fields
 * of the first embedded JSON fragment (CloudWatch Logs User Guide, "Supported
 * logs and discovered fields"), which is the whole line our logger writes.
 * Executions come from the AWS/States metrics of the two state machines.
 *
 * test/integration/dashboard.test.ts parses the packaged template and checks
 * every metric against metrics.ts (name and dimensions) or this stack's AWS
 * resources, and every query's fields against what the code logs.
 *
 * A plain CommonJS file: serverless (osls) loads it with require() while it
 * resolves `${file(./serverless/dashboard.cjs)}`.
 */
'use strict';

const NAMESPACE = 'VaultHA';

/** `SOURCE '<log group>' | line | line`, the log group being a `${LogicalId}` of the template. */
function query(logGroupLogicalId, lines) {
  return [`SOURCE '\${${logGroupLogicalId}}'`, ...lines].join('\n| ');
}

function logWidget(x, y, w, h, title, logGroup, lines, view = 'table', extra = {}) {
  return { type: 'log', x, y, width: w, height: h, properties: { title, region: '${AWS::Region}', query: query(logGroup, lines), view, ...extra } };
}

function metricWidget(x, y, w, h, title, metrics, extra = {}) {
  return { type: 'metric', x, y, width: w, height: h, properties: { title, region: '${AWS::Region}', view: 'timeSeries', period: 60, metrics, ...extra } };
}

/**
 * The target groups of `targetGroupArns` as search terms on the TargetGroup
 * dimension (`targetgroup/<name>/<id>`): exact for a full ARN, the name alone
 * (a partial match) for a `targetgroup/<name>/*` pattern.
 */
function targetGroupTerms(targetGroupArns) {
  const terms = [];
  for (const arn of String(targetGroupArns).split(',')) {
    const m = /targetgroup\/([A-Za-z0-9-]+)\/([^/,\s]+)/.exec(arn);
    if (!m) continue;
    terms.push(m[2].includes('*') ? `TargetGroup=${m[1]}` : `TargetGroup="targetgroup/${m[1]}/${m[2]}"`);
  }
  return terms.length > 0 ? `(${terms.join(' OR ')})` : '';
}

function stateMachineWidgets(y, label, logicalId, logGroup, resultLines) {
  const arn = `\${${logicalId}}`;
  const m = (name, stat, extra = {}) => ['AWS/States', name, 'StateMachineArn', arn, { stat, ...extra }];
  return [
    metricWidget(0, y, 8, 6, `${label}: executions`, [
      m('ExecutionsStarted', 'Sum'),
      m('ExecutionsSucceeded', 'Sum', { color: '#2ca02c' }),
      m('ExecutionsFailed', 'Sum', { color: '#d62728' }),
      m('ExecutionsTimedOut', 'Sum'),
      m('ExecutionsAborted', 'Sum'),
    ], { view: 'bar', period: 3600 }),
    metricWidget(8, y, 8, 6, `${label}: duration (ms)`, [m('ExecutionTime', 'Average'), m('ExecutionTime', 'Maximum')], { period: 3600 }),
    logWidget(16, y, 8, 6, `${label}: results`, logGroup, resultLines),
  ];
}

/** @returns the DashboardBody: `{ "Fn::Sub": "<json>" }`. */
module.exports = async ({ resolveVariable }) => {
  const stage = await resolveVariable('sls:stage');
  const targetGroups = targetGroupTerms(await resolveVariable('param:targetGroupArns'));
  const vaultHa = (name, stat, dims, extra = {}) => [NAMESPACE, name, ...dims.flatMap((d) => [d, d === 'Stage' ? stage : undefined]).filter((v) => v !== undefined), { stat, ...extra }];

  const widgets = [
    {
      type: 'text',
      x: 0,
      y: 0,
      width: 24,
      height: 2,
      properties: {
        markdown:
          `## vault-ha ${stage}\n` +
          'Verdicts, routing and workflows of the control plane. What each verdict means and what to do: README "Verdicts and what to do". ' +
          `From a terminal: \`npx vault-ha status --stage ${stage}\`, \`npx vault-ha history --stage ${stage}\`.`,
      },
    },

    // --- verdict timeline
    metricWidget(0, 2, 12, 6, 'Verdict not healthy (1) per cluster, and for the stage', [
      [{ expression: `SEARCH('{${NAMESPACE},Stage,Cluster} MetricName="VerdictNonHealthy" Stage="${stage}"', 'Maximum', 60)`, id: 'clusters', label: '' }],
      vaultHa('VerdictNonHealthy', 'Maximum', ['Stage'], { label: `any cluster of ${stage}`, color: '#d62728' }),
    ], { yAxis: { left: { min: 0, max: 1 } } }),
    logWidget(12, 2, 12, 6, 'Verdicts per 5 minutes (controller ticks)', 'ControllerLogGroup', ['filter ispresent(Verdict)', 'stats count(*) by Verdict, bin(5m)'], 'timeSeries', {
      stacked: true,
    }),

    // --- active node
    logWidget(0, 8, 8, 6, 'Active nodes per cluster (1 = one active)', 'ControllerLogGroup', ['filter ispresent(ActiveNodes)', 'stats max(ActiveNodes) by Cluster, bin(1m)'], 'timeSeries'),
    metricWidget(8, 8, 8, 6, 'Standby nodes (the least redundant cluster)', [vaultHa('StandbyNodes', 'Minimum', ['Stage'])], { yAxis: { left: { min: 0 } } }),
    logWidget(16, 8, 8, 6, 'Now: verdict and outcome per cluster (the outcome names the active)', 'ControllerLogGroup', [
      'filter ispresent(verdict) and ispresent(cluster)',
      'stats latest(verdict) as current, latest(message) as outcome, max(@timestamp) as at by cluster',
    ]),

    // --- registered and healthy targets
    logWidget(0, 14, 8, 6, 'Registered targets per cluster (after each tick)', 'ControllerLogGroup', ['filter ispresent(RegisteredTargets)', 'stats max(RegisteredTargets) by Cluster, bin(1m)'], 'timeSeries'),
    metricWidget(8, 14, 8, 6, 'Healthy and unhealthy targets (the ALB)', [
      [{ expression: `SEARCH('{AWS/ApplicationELB,LoadBalancer,TargetGroup} MetricName="HealthyHostCount" ${targetGroups}', 'Minimum', 60)`, id: 'healthy', label: 'healthy' }],
      [{ expression: `SEARCH('{AWS/ApplicationELB,LoadBalancer,TargetGroup} MetricName="UnHealthyHostCount" ${targetGroups}', 'Maximum', 60)`, id: 'unhealthy', label: 'unhealthy' }],
    ], { yAxis: { left: { min: 0 } } }),
    logWidget(16, 14, 8, 6, 'Target changes made by the controller', 'ControllerLogGroup', ['filter ispresent(TargetChanges)', 'stats sum(TargetChanges) by Cluster, bin(5m)'], 'bar'),

    // --- the controller's pace and its view of the nodes
    metricWidget(0, 20, 8, 6, 'Tick duration (ms)', [vaultHa('TickDurationMs', 'Average', ['Stage']), vaultHa('TickDurationMs', 'Maximum', ['Stage'])]),
    logWidget(8, 20, 8, 6, 'Probe latency per cluster (ms, slowest node)', 'ControllerLogGroup', ['filter ispresent(ProbeLatencyMs)', 'stats max(ProbeLatencyMs) by Cluster, bin(1m)'], 'timeSeries'),
    metricWidget(16, 20, 8, 6, 'Probe blind (1), controller invocations and errors', [
      vaultHa('ProbeBlind', 'Maximum', ['Stage'], { color: '#ff7f0e' }),
      ['AWS/Lambda', 'Invocations', 'FunctionName', '${ControllerLambdaFunction}', { stat: 'Sum', yAxis: 'right' }],
      ['AWS/Lambda', 'Errors', 'FunctionName', '${ControllerLambdaFunction}', { stat: 'Sum', yAxis: 'right', color: '#d62728' }],
    ]),

    // --- takeovers and fencing, and the ticks that were not healthy
    logWidget(0, 26, 12, 6, 'Dead-leader takeovers and broken zombie locks', 'ControllerLogGroup', [
      'filter message like /dead-leader takeover|broke the zombie lock/',
      'fields @timestamp, cluster, message',
      'sort @timestamp desc',
      'limit 50',
    ]),
    logWidget(12, 26, 12, 6, 'Ticks that were not healthy (latest first)', 'ControllerLogGroup', [
      'filter ispresent(verdict) and verdict != "healthy"',
      'fields @timestamp, cluster, verdict, message',
      'sort @timestamp desc',
      'limit 100',
    ]),

    // --- replace-node and failover-drill
    ...stateMachineWidgets(32, 'replace-node', 'ReplaceNodeStateMachine', 'ReplaceNodeTasksLogGroup', [
      'filter message = "plan" or message = "replacement failed"',
      'fields @timestamp, cluster, slot, message, error, volume',
      'sort @timestamp desc',
      'limit 50',
    ]),
    ...stateMachineWidgets(38, 'failover-drill', 'FailoverDrillStateMachine', 'FailoverDrillTasksLogGroup', [
      'filter message = "drill finished" or message = "drill aborted"',
      'fields @timestamp, cluster, scenario, result, rtoSeconds, error',
      'sort @timestamp desc',
      'limit 50',
    ]),

    {
      type: 'alarm',
      x: 0,
      y: 44,
      width: 24,
      height: 3,
      properties: {
        title: 'Alarms',
        alarms: ['NonHealthyVerdictAlarm', 'ProbeBlindAlarm', 'ControllerErrorsAlarm', 'ControllerNotRunningAlarm'].map((id) => `\${${id}.Arn}`),
      },
    },
  ];
  return { 'Fn::Sub': JSON.stringify({ start: '-PT6H', periodOverride: 'inherit', widgets }) };
};

module.exports.targetGroupTerms = targetGroupTerms;
