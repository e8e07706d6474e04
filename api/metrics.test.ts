import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { countOf, parseMetrics } from '../test/helpers/prometheus.ts';
import { AgentMetrics, ApiMetrics, collectProcessMetrics, ControllerMetrics, DnsMetrics, EtcdMetrics, LbMetrics, serveMetrics } from './metrics.ts';

describe('the metric families of each component', () => {
  it.each([
    ['controllers', () => new ControllerMetrics(), ['capstan_controller_queue_depth', 'capstan_controller_reconciles_total', 'capstan_controller_reconcile_errors_total', 'capstan_controller_reconcile_duration_seconds', 'capstan_controller_leader', 'capstan_rollout_instances', 'capstan_rollout_target_instances', 'capstan_probe_results_total']],
    ['agent', () => new AgentMetrics(), ['capstan_agent_task_launches_total', 'capstan_agent_task_failures_total', 'capstan_probe_results_total']],
    ['dns', () => new DnsMetrics(), ['capstan_dns_queries_total', 'capstan_dns_answer_duration_seconds']],
    ['lb', () => new LbMetrics(), ['capstan_lb_reloads_total', 'capstan_lb_runtime_updates_total']],
    ['api', () => new ApiMetrics(), ['capstan_api_requests_total', 'capstan_api_request_duration_seconds']],
  ])('%s: its own families plus the etcd latencies, every one named capstan_* with help text', async (_component, make, families) => {
    const metrics = make();
    const registered = (await metrics.registry.getMetricsAsJSON()).map((m) => ({ name: m.name, help: m.help }));
    expect(registered.map((m) => m.name).sort()).toEqual([...families, 'capstan_etcd_request_duration_seconds'].sort());
    for (const family of registered) {
      expect(family.name).toMatch(/^capstan_[a-z_]+$/);
      expect(family.help.length).toBeGreaterThan(10);
    }
  });

  it('two components in one process keep apart: each has a registry of its own, none is the global one', async () => {
    const a = new ControllerMetrics();
    const b = new ControllerMetrics();
    a.reconciles.inc({ controller: 'rollout', result: 'done' });
    expect((await b.reconciles.get()).values).toEqual([]);
    expect(a.registry).not.toBe(b.registry);
    const { register } = await import('prom-client');
    expect(register.getSingleMetric('capstan_controller_reconciles_total')).toBeUndefined();
  });
});

describe('EtcdMetrics.time', () => {
  it('observes an answered request as ok and a failed one as error, rethrowing the failure', async () => {
    const metrics = new EtcdMetrics(new Registry());
    await expect(metrics.time('get', async () => 'answer')).resolves.toBe('answer');
    const failure = new Error('etcd down');
    await expect(metrics.time('update', async () => Promise.reject(failure))).rejects.toBe(failure);
    const counts = (await metrics.requests.get()).values.filter((v) => v.metricName === 'capstan_etcd_request_duration_seconds_count');
    expect(counts.map((v) => [v.labels, v.value])).toEqual([
      [{ operation: 'get', result: 'ok' }, 1],
      [{ operation: 'update', result: 'error' }, 1],
    ]);
  });
});

describe('collectProcessMetrics', () => {
  it('adds the process metrics once, however often it is called', async () => {
    const registry = new Registry();
    collectProcessMetrics(registry);
    collectProcessMetrics(registry);
    const names = (await registry.getMetricsAsJSON()).map((m) => m.name);
    expect(names).toContain('process_cpu_user_seconds_total');
    expect(names).toContain('nodejs_eventloop_lag_seconds');
    expect(new Set(names).size).toBe(names.length);
  });
});

describe('serveMetrics', () => {
  it('answers GET /metrics with Prometheus text on loopback, process metrics included, and 404 elsewhere', async () => {
    const metrics = new AgentMetrics();
    metrics.launches.inc({ driver: 'process' }, 2);
    const server = await serveMetrics({ registry: metrics.registry, port: 0 });
    try {
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      const response = await fetch(server.url);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toContain('text/plain');
      const families = parseMetrics(await response.text());
      const launches = families.get('capstan_agent_task_launches_total');
      expect(launches?.type).toBe('COUNTER');
      expect(launches?.metrics).toEqual([{ labels: { driver: 'process' }, value: '2' }]);
      expect(families.has('process_resident_memory_bytes')).toBe(true);
      const other = await fetch(server.url.replace('/metrics', '/other'));
      expect(other.status).toBe(404);
      expect(await other.text()).toContain('GET /metrics');
    } finally {
      await server.close();
    }
  });
});

describe('the tests\' Prometheus reader (test/helpers/prometheus.ts) on a labelled histogram', () => {
  it('keeps one count per label set, which the parser alone folds into one unlabelled sample', async () => {
    const metrics = new ControllerMetrics();
    metrics.latency.observe({ controller: 'a' }, 0.002);
    metrics.latency.observe({ controller: 'b' }, 0.2);
    metrics.latency.observe({ controller: 'b' }, 0.3);
    const families = parseMetrics(await metrics.registry.metrics());
    expect(families.get('capstan_controller_reconcile_duration_seconds')?.type).toBe('HISTOGRAM');
    expect(countOf(families, 'capstan_controller_reconcile_duration_seconds', { controller: 'a' })).toBe(1);
    expect(countOf(families, 'capstan_controller_reconcile_duration_seconds', { controller: 'b' })).toBe(2);
    expect(countOf(families, 'capstan_controller_reconcile_duration_seconds')).toBe(3);
  });
});
