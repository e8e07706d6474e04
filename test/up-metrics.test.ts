// `capstan up` serves every component's metrics: the agent, the controllers, DNS, the load balancer
// and the API it runs in its process (api/metrics.ts), and etcd's own. Up prints one line per
// component, `<component> metrics: URL`; each URL answers Prometheus text (read with a parser) holding
// that component's families, and the etcd latencies of the Store it was given; Ctrl-C closes them all.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, REPO } from './helpers/cli.ts';
import { until } from './helpers/poll.ts';
import { freePort } from './helpers/ports.ts';
import { countOf, scrape, valueOf } from './helpers/prometheus.ts';

// Short, under /tmp: the state dir holds dockerd's sockets.
const dir = mkdtempSync('/tmp/cum-');
const ETCD_LATENCIES = 'capstan_etcd_request_duration_seconds';

/**
 * Each component up runs, a family only it serves (etcd's is etcd's own), and whether it has made
 * Store requests by now, timed into its registry: the agent registers its node and the controllers
 * take their leases, while DNS, the load balancer and an idle API only watch (not timed) so far.
 */
const components = [
  { name: 'etcd', family: 'etcd_server_has_leader', ours: false, storeRequests: false },
  { name: 'agent', family: 'capstan_agent_task_launches_total', ours: true, storeRequests: true },
  { name: 'controllers', family: 'capstan_controller_reconciles_total', ours: true, storeRequests: true },
  { name: 'dns', family: 'capstan_dns_queries_total', ours: true, storeRequests: false },
  { name: 'lb', family: 'capstan_lb_reloads_total', ours: true, storeRequests: false },
  { name: 'api', family: 'capstan_api_requests_total', ours: true, storeRequests: false },
] as const;

let child: ChildProcess | undefined;

afterAll(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((resolve) => child!.on('exit', resolve));
    child.kill('SIGINT');
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('capstan up', () => {
  it('prints where each component serves its metrics, each answers Prometheus text with its families, and Ctrl-C closes them', async () => {
    const flags = ['--dns-port', String(await freePort()), '--http-port', String(await freePort()), '--stats-port', String(await freePort()), '--api-port', String(await freePort())];
    // No CAPSTAN_ETCD: up's own etcd is the one.
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', HOME: dir, CAPSTAN_CONFIG: join(dir, 'config.yaml'), CAPSTAN_ETCD: undefined };
    // --docker-socket where nothing answers: up starts its own dockerd in the state dir. No demo: the
    // components are what is measured.
    const args = [BIN, 'up', '--no-apply', '--state-dir', join(dir, 'state'), '--docker-socket', join(dir, 'no-docker.sock'), ...flags];
    child = spawn(process.execPath, args, { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk) => (stdout += chunk));
    child.stderr!.on('data', (chunk) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => child!.on('exit', (code) => resolve(code)));
    const metricsLines = () => [...stdout.matchAll(/^(\S+) metrics: (.*)$/gm)].map((m) => ({ name: m[1]!, url: m[2]! }));

    // The API starts last: once it printed its line, every component has.
    await until(() => (metricsLines().some((line) => line.name === 'api') ? true : child!.exitCode !== null ? Promise.reject(new Error(`up exited: ${stderr.slice(-2000)}`)) : undefined), {
      timeoutMs: 90_000,
      intervalMs: 100,
      what: `up to print "api metrics: URL" (stderr: ${stderr.slice(-2000)})`,
    });
    const lines = metricsLines();
    // One line per component, in the order they start, each right after its start line's component.
    expect(lines.map((line) => line.name)).toEqual(components.map((c) => c.name));
    for (const line of lines) expect(line.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    expect(new Set(lines.map((line) => line.url)).size).toBe(lines.length);
    const api = /^api: (http:\/\/127\.0\.0\.1:\d+)$/m.exec(stdout)?.[1];
    expect(lines.find((line) => line.name === 'api')!.url).toBe(`${api}/metrics`);

    for (const component of components) {
      const url = lines.find((line) => line.name === component.name)!.url;
      const families = await scrape(url);
      expect(families.has(component.family), `${component.name}: ${component.family} at ${url}`).toBe(true);
      if (!component.ours) continue;
      // The component's own registry, with prom-client's process metrics, and its Store's etcd requests timed into it.
      expect(families.has('process_cpu_user_seconds_total'), `${component.name}: process metrics`).toBe(true);
      expect(families.has(ETCD_LATENCIES), `${component.name}: ${ETCD_LATENCIES}`).toBe(true);
      if (component.storeRequests) expect(countOf(families, ETCD_LATENCIES), `${component.name}: etcd requests timed`).toBeGreaterThan(0);
    }
    // The controllers reconcile (the node the agent registered, at least) and lead, alone, every controller.
    const controllersUrl = lines.find((line) => line.name === 'controllers')!.url;
    await until(async () => valueOf(await scrape(controllersUrl), 'capstan_controller_reconciles_total') > 0, { timeoutMs: 30_000, what: 'a reconcile counted' });
    expect(valueOf(await scrape(controllersUrl), 'capstan_controller_leader', { controller: 'nodes' })).toBe(1);
    // The API counts the scrapes of its own /metrics by route pattern.
    const apiUrl = lines.find((line) => line.name === 'api')!.url;
    expect(valueOf(await scrape(apiUrl), 'capstan_api_requests_total', { method: 'GET', route: '/metrics', status: '200' })).toBeGreaterThan(0);

    child.kill('SIGINT');
    expect(await exited).toBe(0);
    for (const line of lines) await expect(fetch(line.url, { signal: AbortSignal.timeout(5_000) }), `${line.name} closed`).rejects.toThrow();
  }, 180_000);
});
