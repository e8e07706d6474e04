import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { MARATHON_METRICS_VERSION, metricsToMarathon, seriesName, snapshotOf, type MetricFamily } from './metrics.ts';

describe('seriesName', () => {
  it.each([
    ['capstan_x_total', {}, 'capstan_x_total'],
    ['capstan_x_total', { controller: 'rollout' }, 'capstan_x_total{controller="rollout"}'],
    ['capstan_x_total', { route: '/v2/apps/*', status: 200 }, 'capstan_x_total{route="/v2/apps/*",status="200"}'],
    ['capstan_x_total', { quote: 'say "hi"', gone: undefined }, 'capstan_x_total{quote="say \\"hi\\""}'],
  ])('%s %j → %s', (name, labels, expected) => {
    expect(seriesName(name, labels)).toBe(expected);
  });
});

describe('snapshotOf: a histogram from its buckets', () => {
  const buckets = (pairs: [number, number][]) => pairs.map(([le, count]) => ({ le, count }));
  it.each([
    ['empty', { buckets: buckets([[1, 0], [Infinity, 0]]), sum: 0, count: 0 }, { count: 0, mean: 0, p50: 0, p99: 0, min: 0, max: 0 }],
    // 10 samples in (0, 1]: percentiles interpolate within the bucket.
    ['one bucket', { buckets: buckets([[1, 10], [2, 10], [Infinity, 10]]), sum: 5, count: 10 }, { count: 10, mean: 0.5, p50: 0.5, p99: 0.99, min: 0, max: 1 }],
    // 5 in (0, 1], 5 in (1, 2]: the median is the first bucket's top, p75 halfway through the second.
    ['two buckets', { buckets: buckets([[1, 5], [2, 10], [Infinity, 10]]), sum: 10, count: 10 }, { count: 10, mean: 1, p50: 1, p75: 1.5, min: 0, max: 2 }],
    // Samples above the last bound: the estimate stops at that bound, as histogram_quantile does.
    ['overflow', { buckets: buckets([[1, 0], [Infinity, 4]]), sum: 20, count: 4 }, { count: 4, mean: 5, p50: 1, max: 1 }],
  ])('%s', (_name, series, expected) => {
    const snapshot = snapshotOf(series);
    for (const [field, value] of Object.entries(expected)) expect(snapshot[field as keyof typeof snapshot]).toBeCloseTo(value, 9);
  });
});

describe('metricsToMarathon', () => {
  it("gives Marathon's /metrics shape: gauges {value}, counters {count}, timers for _seconds histograms, histograms for the others", async () => {
    const registry = new Registry();
    new Gauge({ name: 'capstan_q', help: 'h', labelNames: ['controller'], registers: [registry] }).set({ controller: 'rollout' }, 3);
    new Counter({ name: 'capstan_c_total', help: 'h', registers: [registry] }).inc(7);
    const seconds = new Histogram({ name: 'capstan_d_seconds', help: 'h', labelNames: ['op'], buckets: [0.1, 1], registers: [registry] });
    seconds.observe({ op: 'get' }, 0.05);
    seconds.observe({ op: 'get' }, 0.5);
    new Histogram({ name: 'capstan_size_bytes', help: 'h', buckets: [10], registers: [registry] }).observe(4);
    const families = (await registry.getMetricsAsJSON()) as unknown as MetricFamily[];
    const json = metricsToMarathon(families, { uptimeSeconds: 10 });
    expect(Object.keys(json)).toEqual(['version', 'gauges', 'counters', 'histograms', 'meters', 'timers']);
    expect(json.version).toBe(MARATHON_METRICS_VERSION);
    expect(json.gauges).toEqual({ 'capstan_q{controller="rollout"}': { value: 3 } });
    expect(json.counters).toEqual({ capstan_c_total: { count: 7 } });
    expect(json.meters).toEqual({});
    const timer = json.timers['capstan_d_seconds{op="get"}']!;
    expect(timer).toMatchObject({ count: 2, mean: 0.275, min: 0, max: 1, mean_rate: 0.2, duration_units: 'seconds', rate_units: 'calls/second' });
    expect(timer.p50).toBeCloseTo(0.1, 9);
    expect(Object.keys(timer)).toEqual(expect.arrayContaining(['p75', 'p95', 'p98', 'p99', 'p999', 'stddev']));
    expect(json.histograms['capstan_size_bytes']).toMatchObject({ count: 1, mean: 4, max: 10 });
  });
});
