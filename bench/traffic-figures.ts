// bench:traffic's settings, the figures it gathers, and the table it prints (traffic.bench.ts runs it).
import type { DnsFigures } from './dns.bench.ts';
import { percentile, printTable } from './report.ts';
import type { SteadyLoadResult } from './traffic-load.ts';

export const LOAD = { ratePerSecond: 200, timeoutMs: 5_000, maxDurationMs: 90_000 };
export const TRICKLE_PER_SECOND = 300;
export const ROUTING_UP = [7, 12, 17, 22, 27, 32];
export const ROUTING_DOWN = [26, 20, 14, 8, 2];
export const SCALE_EVENTS = 100;
export const SCALE_BETWEEN = [2, 7] as const;
export const ROLLING_INSTANCES = 20;

export interface RoutingFigures {
  up: { endpoints: number[]; synced: number[]; firstRequest: number[]; byRuntimeApi: number[]; byReload: number[] };
  down: { endpoints: number[]; synced: number[]; lastRequest: number[]; afterDeletion: number };
  reloadsDuringUp: number;
}

export interface ReloadFigures {
  events: number;
  reloads: number;
  runtimeCommands: number;
  syncs: number;
  seconds: number;
  /** Slots the balancer still holds as draining once every removed task is gone. */
  drainingAfter: number;
}

export interface Scenario {
  result: SteadyLoadResult;
  seconds: number;
}

export interface FailureFigures {
  upgrade: Scenario;
  rollback: Scenario;
  scaleDown: Scenario;
  drainTimeouts: number;
}

const pair = (values: number[]) => `${percentile(values, 0.5).toFixed(0)} / ${percentile(values, 0.99).toFixed(0)} ms`;
const failed = (s: Scenario) => `${s.result.failed} / ${s.result.sent} (${s.seconds.toFixed(1)} s)`;

export function report(routing: RoutingFigures, reloads: ReloadFigures, withDrain: FailureFigures, without: FailureFigures, dns: DnsFigures, run: { failedTasks: number; seconds: number }): void {
  const dnsRun = (target: string, inFlight: number) => dns.runs.find((r) => r.target === target && r.inFlight === inFlight)!;
  const dnsRows = [1, 32].map((inFlight) => {
    const [c, b] = [dnsRun('capstan dns', inFlight), dnsRun('bare dgram', inFlight)];
    return [
      `DNS A queries, ${dns.apps} Apps in Endpoints, ${inFlight} in flight: q/s, p99`,
      `${c.queriesPerSecond.toFixed(0)} q/s, ${c.p99Ms.toFixed(2)} ms`,
      `${b.queriesPerSecond.toFixed(0)} q/s, ${b.p99Ms.toFixed(2)} ms bare node:dgram responder`,
      '-',
    ];
  });
  const up = routing.up;
  const down = routing.down;
  printTable([
    ['figure', 'capstan', 'baseline (same run)', 'target'],
    [`healthy → first request via HAProxy, ${up.firstRequest.length} tasks, p50 / p99`, pair(up.firstRequest), `${pair(up.endpoints)} healthy → Endpoints seen by a watch`, 'p99 ≤ 200 ms'],
    [`  of which put in a free slot by the runtime API, ${up.byRuntimeApi.length} tasks`, pair(up.byRuntimeApi), '-', '-'],
    [`  of which routed by a reload (the backend's slots grew), ${up.byReload.length} tasks`, pair(up.byReload), '-', '-'],
    ['  healthy → the balancer sync that routed it returned, p50 / p99', pair(up.synced), '-', '-'],
    [`removed → last request via HAProxy, ${down.lastRequest.length} tasks, p50 / p99`, pair(down.lastRequest), `${pair(down.endpoints)} deletion → Endpoints without it seen`, '-'],
    ['  removed → the balancer sync that drained it returned, p50 / p99', pair(down.synced), '-', '-'],
    [`(a) failed / sent: rolling upgrade of ${ROLLING_INSTANCES}, 0.85 / 0.15`, failed(withDrain.upgrade), `${failed(without.upgrade)} without drain`, '0'],
    ['(b) failed / sent: scale-down 10 → 2', failed(withDrain.scaleDown), `${failed(without.scaleDown)} without drain`, '0'],
    ['(c) failed / sent: failing revision rolled back (deadline 10 s)', failed(withDrain.rollback), `${failed(without.rollback)} without drain`, '0'],
    ...dnsRows,
    [`HAProxy reloads in ${reloads.events} scale events (${SCALE_BETWEEN.join(' ↔ ')})`, String(reloads.reloads), `${reloads.runtimeCommands} runtime API commands in ${reloads.syncs} syncs`, '0'],
  ]);
  console.log('');
  console.log(`Routing: an App scaled ${[2, ...ROUTING_UP].join(' → ')} → ${ROUTING_DOWN.join(' → ')} under a trickle of ${TRICKLE_PER_SECOND} requests/s (one connection each, HAProxy tcp mode, roundrobin);`);
  console.log(`  with n tasks a given task is due a request every n/${TRICKLE_PER_SECOND} s on average (${((32 / TRICKLE_PER_SECOND) * 1000).toFixed(0)} ms at 32), part of both request figures.`);
  console.log(`  HAProxy reloads while scaling up (a scale-up that overflows the backend's slots grows them to twice what it needs): ${routing.reloadsDuringUp}.`);
  console.log(`  Removed tasks whose last request came after their deletion: ${down.afterDeletion} of ${down.lastRequest.length} (a negative figure: none came after it).`);
  console.log(`Failures: ${LOAD.ratePerSecond} requests/s, a new connection each, ${LOAD.timeoutMs / 1000} s timeout; tasks answer after 50 ms.`);
  console.log(`  Drain timeouts reached by the balancer: ${withDrain.drainTimeouts} with drain, ${without.drainTimeouts} without.`);
  console.log(`Reload events took ${reloads.seconds.toFixed(1)} s (each event waits until the tasks run and are routed, or are drained and gone);`);
  console.log(`  slots the balancer still held as draining after the last event, their tasks long gone: ${reloads.drainingAfter}.`);
  console.log(`DNS server start (list ${dns.apps} Apps' Endpoints and their Tasks and Nodes, build the zone): ${dns.startMs.toFixed(0)} ms.`);
  console.log(`Tasks that failed during the bench (crashed, or unhealthy past maxConsecutiveFailures): ${run.failedTasks}.`);
  console.log(`Whole bench: ${run.seconds.toFixed(0)} s.`);
}

