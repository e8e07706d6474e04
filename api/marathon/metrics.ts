// Prometheus metrics (prom-client's registry.getMetricsAsJSON()) → Marathon's GET /metrics JSON,
// the Dropwizard registry shape: {version, gauges: {name: {value}}, counters: {name: {count}},
// histograms, meters, timers}. One entry per series, named as Prometheus writes the series
// (`capstan_api_requests_total{method="GET",route="/v2/apps",status="200"}`), so a name read here is
// the same one a Prometheus query uses.
//
// Histograms keep buckets, not samples: their percentiles are estimated within a bucket, as
// Prometheus' histogram_quantile does, and min/max are the edges of the first and last non-empty
// buckets. A histogram in seconds (`_seconds`) is a Dropwizard timer, the others histograms. Meters
// (rates over moving windows) are not kept: a counter's rate is Prometheus' job; timers carry only
// their mean rate since the process started.

/** The Dropwizard metrics-json version Marathon 1.7+ reports. */
export const MARATHON_METRICS_VERSION = '4.0.0';

/** One family as prom-client's getMetricsAsJSON gives it. */
export interface MetricFamily {
  name: string;
  help: string;
  type: string;
  values: readonly { value: number; labels: Readonly<Record<string, string | number | undefined>>; metricName?: string }[];
}

export interface MarathonMetrics {
  version: string;
  gauges: Record<string, { value: number }>;
  counters: Record<string, { count: number }>;
  histograms: Record<string, HistogramSnapshot>;
  meters: Record<string, never>;
  timers: Record<string, HistogramSnapshot & { mean_rate: number; duration_units: 'seconds'; rate_units: 'calls/second' }>;
}

export interface HistogramSnapshot {
  count: number;
  min: number;
  max: number;
  mean: number;
  stddev: number;
  p50: number;
  p75: number;
  p95: number;
  p98: number;
  p99: number;
  p999: number;
}

const QUANTILES = { p50: 0.5, p75: 0.75, p95: 0.95, p98: 0.98, p99: 0.99, p999: 0.999 } as const;

/** `uptimeSeconds`: how long the process has counted, for the timers' mean rate. */
export function metricsToMarathon(families: readonly MetricFamily[], options: { uptimeSeconds: number }): MarathonMetrics {
  const out: MarathonMetrics = { version: MARATHON_METRICS_VERSION, gauges: {}, counters: {}, histograms: {}, meters: {}, timers: {} };
  for (const family of families) {
    if (family.type === 'counter') for (const v of family.values) out.counters[seriesName(family.name, v.labels)] = { count: v.value };
    else if (family.type === 'gauge') for (const v of family.values) out.gauges[seriesName(family.name, v.labels)] = { value: v.value };
    else if (family.type === 'histogram') {
      for (const [labels, series] of histogramSeries(family)) {
        const snapshot = snapshotOf(series);
        const name = seriesName(family.name, labels);
        if (family.name.endsWith('_seconds')) {
          const meanRate = options.uptimeSeconds > 0 ? snapshot.count / options.uptimeSeconds : 0;
          out.timers[name] = { ...snapshot, mean_rate: meanRate, duration_units: 'seconds', rate_units: 'calls/second' };
        } else out.histograms[name] = snapshot;
      }
    }
    // Summaries: none of Capstan's families is one.
  }
  return out;
}

/** `name{a="x",b="y"}`, labels in the order given, as Prometheus' text format writes a series. */
export function seriesName(name: string, labels: Readonly<Record<string, string | number | undefined>>): string {
  const pairs = Object.entries(labels).filter(([, value]) => value !== undefined);
  if (pairs.length === 0) return name;
  return `${name}{${pairs.map(([key, value]) => `${key}=${JSON.stringify(String(value))}`).join(',')}}`;
}

interface Series {
  /** Cumulative counts by upper bound, ascending; +Inf last. */
  buckets: { le: number; count: number }[];
  sum: number;
  count: number;
}

/** A histogram family's series, keyed by their labels without `le`. */
function histogramSeries(family: MetricFamily): [Record<string, string | number | undefined>, Series][] {
  const byKey = new Map<string, { labels: Record<string, string | number | undefined>; series: Series }>();
  for (const value of family.values) {
    const { le, ...labels } = value.labels;
    const key = JSON.stringify(labels);
    let entry = byKey.get(key);
    if (!entry) {
      entry = { labels, series: { buckets: [], sum: 0, count: 0 } };
      byKey.set(key, entry);
    }
    const metric = value.metricName ?? family.name;
    if (metric.endsWith('_bucket')) entry.series.buckets.push({ le: le === '+Inf' ? Infinity : Number(le), count: value.value });
    else if (metric.endsWith('_sum')) entry.series.sum = value.value;
    else if (metric.endsWith('_count')) entry.series.count = value.value;
  }
  return [...byKey.values()].map(({ labels, series }) => [labels, { ...series, buckets: series.buckets.sort((a, b) => a.le - b.le) }]);
}

/** Count, mean, and percentiles, min, max and stddev estimated from the buckets. */
export function snapshotOf(series: Series): HistogramSnapshot {
  const { count, sum } = series;
  const empty = { count, min: 0, max: 0, mean: 0, stddev: 0, p50: 0, p75: 0, p95: 0, p98: 0, p99: 0, p999: 0 };
  if (count === 0) return empty;
  const bounds = boundsOf(series.buckets);
  const filled = bounds.filter((b) => b.count > 0);
  const mean = sum / count;
  // Every sample at its bucket's midpoint: the spread the buckets can show.
  const variance = filled.reduce((acc, b) => acc + b.count * (b.mid - mean) ** 2, 0) / count;
  const snapshot: HistogramSnapshot = { ...empty, mean, stddev: Math.sqrt(variance), min: filled[0]?.lower ?? 0, max: filled.at(-1)?.upper ?? 0 };
  for (const [field, q] of Object.entries(QUANTILES) as [keyof typeof QUANTILES, number][]) snapshot[field] = quantile(bounds, count, q);
  return snapshot;
}

interface Bound {
  lower: number;
  /** The bucket's upper bound; the last finite bound for +Inf, which has none. */
  upper: number;
  mid: number;
  /** Samples in this bucket alone (not cumulative). */
  count: number;
  /** Samples up to and including this bucket. */
  cumulative: number;
}

function boundsOf(buckets: readonly { le: number; count: number }[]): Bound[] {
  const bounds: Bound[] = [];
  let lower = 0;
  let previous = 0;
  for (const bucket of buckets) {
    const upper = Number.isFinite(bucket.le) ? bucket.le : lower;
    bounds.push({ lower, upper, mid: (lower + upper) / 2, count: bucket.count - previous, cumulative: bucket.count });
    lower = upper;
    previous = bucket.count;
  }
  return bounds;
}

/** Linear interpolation within the bucket holding the q-th sample (Prometheus' histogram_quantile). */
function quantile(bounds: readonly Bound[], count: number, q: number): number {
  const rank = q * count;
  for (const bound of bounds) {
    if (bound.cumulative < rank || bound.count === 0) continue;
    const before = bound.cumulative - bound.count;
    return bound.lower + (bound.upper - bound.lower) * ((rank - before) / bound.count);
  }
  return bounds.at(-1)?.upper ?? 0;
}
