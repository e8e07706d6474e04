// Every component's /metrics on real parts: the controllers (in this process, `metricsPort: 0`), an
// agent (`capstan agent --metrics-port`, its own OS process, process driver), the DNS server
// (`capstan dns --metrics-port 0`, asked by the real dig), a load balancer on a real HAProxy and the
// HTTP API — after some activity: an App that serves behind health checks and the load balancer, and
// one that crashes. Each endpoint is read with a Prometheus text parser (test/helpers/prometheus.ts),
// and the API's also in Marathon's JSON shape.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtinRegistry } from '../api/kinds/builtin.ts';
import { startApiServer, type RunningApiServer } from '../api/http/server.ts';
import type { MarathonMetrics } from '../api/marathon/metrics.ts';
import { startLoadBalancer, type RunningLoadBalancer } from '../cli/lb.ts';
import { runControllers, type RunningControllers } from '../controllers/builtin.ts';
import { findHAProxyProcesses } from '../runtime/lb/haproxy-processes.ts';
import { removeProcessTasks, startAgentProcess, type AgentProcess } from './helpers/agent-process.ts';
import { startCapstan, type RunningCli } from './helpers/cli.ts';
import { HTTPD } from './helpers/cluster.ts';
import { useStore } from './helpers/etcd.ts';
import { until } from './helpers/poll.ts';
import { freePort } from './helpers/ports.ts';
import { countOf, samplesOf, scrape, valueOf } from './helpers/prometheus.ts';

const run = promisify(execFile);
const log = pino({ level: process.env.TEST_LOG ?? 'silent' });
// Names and ranges of this file's own: vitest runs test files in parallel on one machine.
const NODE = 'met-n1';
const TASK_PORTS = '29810-29829';
const SERVICE_PORTS = { from: 13700, to: 13719 };
const NS = 'default';

const web = (home: string) => ({
  instances: 2,
  driver: 'process',
  containers: [{ name: 'main', cmd: HTTPD(home), resources: { cpus: 0.1, mem: 16 } }],
  ports: [{ name: 'http' }],
  // HTTP: probed by the health controller; COMMAND: by the agent.
  healthChecks: [
    { protocol: 'HTTP', portIndex: 0, path: '/', gracePeriodSeconds: 5, intervalSeconds: 1, timeoutSeconds: 1, maxConsecutiveFailures: 3 },
    { protocol: 'COMMAND', command: 'true', gracePeriodSeconds: 5, intervalSeconds: 1, timeoutSeconds: 2, maxConsecutiveFailures: 3 },
  ],
  loadBalancer: {},
  taskKillGracePeriodSeconds: 1,
});
const crash = { instances: 1, driver: 'process', containers: [{ name: 'main', cmd: 'exit 3', resources: { cpus: 0.1, mem: 16 } }], taskKillGracePeriodSeconds: 1 };

describe('metrics from every component', () => {
  const db = useStore(builtinRegistry());
  const dir = mkdtempSync(join(tmpdir(), 'capstan-metrics-'));
  let controllers: RunningControllers | undefined;
  let agent: AgentProcess | undefined;
  let agentMetrics = '';
  let lb: RunningLoadBalancer | undefined;
  let dns: RunningCli | undefined;
  let api: RunningApiServer | undefined;

  beforeAll(async () => {
    controllers = await runControllers({ store: db.store, leaderElection: false, handleSignals: false, metricsPort: 0, logger: log, servicePortRange: SERVICE_PORTS });
    const agentPort = await freePort();
    agentMetrics = `http://127.0.0.1:${agentPort}/metrics`;
    agent = startAgentProcess({
      etcd: db.etcd.url,
      node: NODE,
      stateDir: join(dir, 'agent'),
      dockerSocket: '/nonexistent/docker.sock',
      leaseTtlSeconds: 1,
      extraArgs: ['--ports', TASK_PORTS, '--drivers', 'process', '--metrics-port', String(agentPort)],
    });
    lb = await startLoadBalancer({
      name: 'metrics-lb',
      groups: ['external'],
      dir: join(dir, 'lb'),
      bindAddress: '127.0.0.1',
      httpPort: await freePort(),
      statsAddress: '127.0.0.1',
      statsPort: await freePort(),
      drainTimeoutSeconds: 5,
      hardStopAfterSeconds: 5,
      metricsPort: 0,
      store: db.store,
      log,
    });
    dns = startCapstan(['dns', '--listen', '127.0.0.1:0', '--metrics-port', '0'], { etcd: db.etcd.url });
    api = await startApiServer({ store: db.store, client: db.client, registry: db.store.registry, log });
    await agent.started;
    // Created once the load balancer runs, so that routing them is a reload it counts.
    await db.store.create({ apiVersion: 'capstan/v1', kind: 'App', metadata: { name: 'web', namespace: NS }, spec: web(join(dir, 'www')) });
    await db.store.create({ apiVersion: 'capstan/v1', kind: 'App', metadata: { name: 'crash', namespace: NS }, spec: crash });
    await until(
      async () => {
        const endpoints = await db.store.get('Endpoints', { namespace: NS, name: 'web' });
        const ports = (endpoints?.spec as { ports?: { addresses: unknown[] }[] } | undefined)?.ports;
        return ports?.[0]?.addresses.length === 2;
      },
      { timeoutMs: 30_000, what: 'both tasks of web serving (running, healthy, in Endpoints)' },
    );
  }, 60_000);

  afterAll(async () => {
    for (const name of ['web', 'crash']) await db.store.delete('App', { namespace: NS, name }).catch(() => undefined);
    await until(async () => (await db.store.list('Task', { namespace: NS })).items.length === 0, { timeoutMs: 20_000, what: 'every task to be gone' }).catch((error: Error) =>
      log.warn(error.message),
    );
    await agent?.terminate();
    await removeProcessTasks(join(dir, 'agent'));
    await lb?.stop();
    dns?.interrupt();
    await dns?.done;
    await api?.close();
    await controllers?.stop();
    expect(findHAProxyProcesses(join(dir, 'lb'))).toEqual([]);
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('controllers: reconciles and their durations per controller, queue depth, rollout progress per App, probe results, etcd latencies', async () => {
    const url = controllers!.metricsUrl!;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const families = await until(
      async () => {
        const scraped = await scrape(url);
        const healthy = valueOf(scraped, 'capstan_rollout_instances', { namespace: NS, app: 'web', revision: 'new', state: 'healthy' });
        return healthy === 2 && valueOf(scraped, 'capstan_probe_results_total', { protocol: 'HTTP', check: 'health', result: 'ok' }) >= 2 && scraped;
      },
      { timeoutMs: 20_000, what: 'web rolled out (2 healthy in capstan_rollout_instances) and its probes counted' },
    );
    for (const controller of ['rollout', 'replicas', 'scheduler', 'health', 'endpoints']) {
      expect(valueOf(families, 'capstan_controller_reconciles_total', { controller }), controller).toBeGreaterThan(0);
      expect(countOf(families, 'capstan_controller_reconcile_duration_seconds', { controller }), controller).toBeGreaterThan(0);
      expect(samplesOf(families, 'capstan_controller_queue_depth', { controller }), controller).toHaveLength(1);
      expect(valueOf(families, 'capstan_controller_leader', { controller }), controller).toBe(1);
    }
    expect(families.get('capstan_controller_reconcile_duration_seconds')?.type).toBe('HISTOGRAM');
    expect(valueOf(families, 'capstan_rollout_target_instances', { namespace: NS, app: 'web' })).toBe(2);
    expect(valueOf(families, 'capstan_rollout_instances', { namespace: NS, app: 'web', revision: 'new', state: 'wanted' })).toBe(2);
    expect(valueOf(families, 'capstan_rollout_instances', { namespace: NS, app: 'web', revision: 'old', state: 'running' })).toBe(0);
    // The controllers write through their Store: creates (revisions, tasks), updates, status writes.
    for (const operation of ['create', 'update', 'updateStatus']) {
      expect(countOf(families, 'capstan_etcd_request_duration_seconds', { operation, result: 'ok' }), operation).toBeGreaterThan(0);
    }
    expect(valueOf(families, 'process_resident_memory_bytes')).toBeGreaterThan(10 * 2 ** 20);
  });

  it('agent: task launches by driver, failures by reason, COMMAND check results, etcd latencies', async () => {
    const families = await until(
      async () => {
        const scraped = await scrape(agentMetrics);
        const failed = valueOf(scraped, 'capstan_agent_task_failures_total', { reason: 'exited' }) >= 1;
        return failed && valueOf(scraped, 'capstan_probe_results_total', { protocol: 'COMMAND', check: 'health', result: 'ok' }) >= 2 && scraped;
      },
      { timeoutMs: 20_000, what: "the crashing App's failure and web's COMMAND checks counted by the agent" },
    );
    // Two of web and at least one of crash (more as it restarts).
    expect(valueOf(families, 'capstan_agent_task_launches_total', { driver: 'process' })).toBeGreaterThanOrEqual(3);
    expect(families.get('capstan_agent_task_failures_total')?.help).toContain('by reason');
    expect(countOf(families, 'capstan_etcd_request_duration_seconds', { operation: 'updateStatus', result: 'ok' })).toBeGreaterThan(0);
    expect(valueOf(families, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
  });

  it('dns: queries by type and response code', async () => {
    const listening = await until(() => /on 127\.0\.0\.1:(\d+) /.exec(dns!.stdout()), { timeoutMs: 10_000, what: `capstan dns to listen (stderr: ${dns!.stderr()})` });
    const metricsUrl = await until(() => /metrics at (\S+)/.exec(dns!.stdout())?.[1], { what: 'capstan dns to say where its metrics are' });
    const dig = (name: string, type: string) => run('dig', ['+tries=1', '+time=2', '-p', listening[1]!, '@127.0.0.1', name, type]);
    await until(async () => (await dig('web.default.capstan', 'A')).stdout.includes('status: NOERROR'), { what: 'web.default.capstan to resolve' });
    expect((await dig('nothing.default.capstan', 'A')).stdout).toContain('status: NXDOMAIN');
    expect((await dig('_http._tcp.web.default.capstan', 'SRV')).stdout).toContain('status: NOERROR');
    const families = await scrape(metricsUrl);
    expect(valueOf(families, 'capstan_dns_queries_total', { type: 'A', rcode: 'NOERROR' })).toBeGreaterThanOrEqual(1);
    expect(valueOf(families, 'capstan_dns_queries_total', { type: 'A', rcode: 'NXDOMAIN' })).toBeGreaterThanOrEqual(1);
    expect(valueOf(families, 'capstan_dns_queries_total', { type: 'SRV', rcode: 'NOERROR' })).toBe(1);
    expect(countOf(families, 'capstan_dns_answer_duration_seconds')).toBe(valueOf(families, 'capstan_dns_queries_total'));
  });

  it('lb: reloads and runtime API updates by result', async () => {
    expect(lb!.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const families = await until(
      async () => {
        const scraped = await scrape(lb!.metricsUrl!);
        return valueOf(scraped, 'capstan_lb_reloads_total', { result: 'ok' }) >= 1 && scraped;
      },
      { timeoutMs: 20_000, what: 'the load balancer to have reloaded HAProxy for web' },
    );
    expect(valueOf(families, 'capstan_lb_reloads_total', { result: 'failed' })).toBe(0);
    expect(families.get('capstan_lb_runtime_updates_total')?.type).toBe('COUNTER');
    expect(lb!.balancer.stats.reloads).toBe(valueOf(families, 'capstan_lb_reloads_total', { result: 'ok' }));
  });

  it('api: requests by route pattern (not URL) and status, as Prometheus text and as Marathon JSON', async () => {
    const { url } = api!;
    expect((await fetch(`${url}/ping`)).status).toBe(200);
    const app = await fetch(`${url}/v2/apps/web`);
    const other = await fetch(`${url}/v2/apps/some/other/app`);
    expect((await fetch(`${url}/no/such/route`)).status).toBe(404);
    const families = await scrape(`${url}/metrics`);
    expect(valueOf(families, 'capstan_api_requests_total', { method: 'GET', route: '/ping', status: '200' })).toBe(1);
    // Both app URLs are one route: the wildcard pattern.
    const appRequests = samplesOf(families, 'capstan_api_requests_total', { route: '/v2/apps/*' });
    expect(appRequests.reduce((sum, s) => sum + Number(s.value), 0)).toBe(2);
    expect(appRequests.map((s) => s.labels?.['status']).sort()).toEqual([...new Set([String(app.status), String(other.status)])].sort());
    expect(valueOf(families, 'capstan_api_requests_total', { route: 'unmatched', status: '404' })).toBe(1);
    expect(countOf(families, 'capstan_api_request_duration_seconds', { route: '/ping' })).toBe(1);
    expect(families.has('capstan_etcd_request_duration_seconds')).toBe(true);
    expect(families.has('process_cpu_user_seconds_total')).toBe(true);

    const response = await fetch(`${url}/metrics`, { headers: { accept: 'application/json' } });
    expect(response.headers.get('content-type')).toContain('application/json');
    const json = (await response.json()) as MarathonMetrics;
    expect(Object.keys(json).sort()).toEqual(['counters', 'gauges', 'histograms', 'meters', 'timers', 'version']);
    // Still one /ping: the scrape in between is counted under /metrics.
    expect(json.counters['capstan_api_requests_total{method="GET",route="/ping",status="200"}']).toEqual({ count: 1 });
    expect(json.timers['capstan_api_request_duration_seconds{method="GET",route="/ping"}']).toMatchObject({ count: 1, duration_units: 'seconds', rate_units: 'calls/second' });
    expect(json.gauges['process_resident_memory_bytes']?.value).toBeGreaterThan(0);
  });
});
