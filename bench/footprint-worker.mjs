// One fresh process of `npm run bench -- --footprint` (bench/footprint.ts). Plain
// JavaScript on purpose: the process loads nothing but the built bundle, so its
// timings and memory are the bundle's own.
//
//   node [--max-old-space-size=N] bench/footprint-worker.mjs init <handler.mjs>
//     imports the handler module once; prints {"importMs": ...}
//   node [--max-old-space-size=N] bench/footprint-worker.mjs invoke <handler.mjs> <budgetMs> <result.json> [<event JSON>]
//     imports it and calls `handler(event, context)` once (event `{}` unless given,
//     e.g. `{"shard":0,"of":10}`), the way Lambda does, with a
//     context whose remaining time counts down from budgetMs (the loop ticks until
//     its budget runs out). The handler's log lines go to stdout as on Lambda; the
//     result (CPU time, peak RSS) goes to result.json.
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';

const [mode, handlerPath, budgetArg, resultPath, eventArg] = process.argv.slice(2);
const t0 = performance.now();
const mod = await import(pathToFileURL(handlerPath).href);
const importMs = performance.now() - t0;

if (mode === 'init') {
  // Also the time since the process began (Node's own start-up included).
  process.stdout.write(`${JSON.stringify({ importMs, sinceProcessStartMs: performance.now() })}\n`);
} else if (mode === 'invoke') {
  const budgetMs = Number(budgetArg);
  const startedAt = Date.now();
  const context = {
    awsRequestId: `footprint-${process.pid}`,
    functionName: 'controller',
    getRemainingTimeInMillis: () => budgetMs - (Date.now() - startedAt),
  };
  // CPU time sampled every 50 ms, so the parent can attribute it to the ticks it sees in the logs.
  const cpuSamples = [];
  const sampler = setInterval(() => {
    const u = process.cpuUsage();
    cpuSamples.push([Date.now(), (u.user + u.system) / 1000]);
  }, 50);
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  let error;
  let report;
  try {
    report = await mod.handler(eventArg ? JSON.parse(eventArg) : {}, context);
  } catch (e) {
    error = `${e?.name ?? 'Error'}: ${e?.message ?? e}`;
  }
  const cpu = process.cpuUsage(cpu0);
  clearInterval(sampler);
  const result = {
    importMs,
    invocationMs: performance.now() - wall0,
    cpuMs: (cpu.user + cpu.system) / 1000,
    // resourceUsage().maxRSS is in kilobytes.
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    heapUsedBytes: process.memoryUsage().heapUsed,
    cpuSamples,
    ticks: report?.ticks ?? 0,
    verdicts: (report?.clusters ?? []).reduce((acc, c) => ({ ...acc, [c.verdict.kind]: (acc[c.verdict.kind] ?? 0) + 1 }), {}),
    ...(error ? { error } : {}),
  };
  writeFileSync(resultPath, JSON.stringify(result));
  // The SDK's keep-alive sockets would hold the process open.
  process.exit(0);
} else {
  throw new Error(`unknown mode ${mode}`);
}
