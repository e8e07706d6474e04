// Prometheus text read with a real parser (parse-prometheus-text-format), never with regexes: every
// component's /metrics is checked through here.
import parsePrometheusTextFormat from 'parse-prometheus-text-format';

export interface Sample {
  labels?: Record<string, string>;
  /** Counters and gauges. */
  value?: string;
  /** Histograms. */
  count?: string;
  sum?: string;
  buckets?: Record<string, string>;
}

export interface Family {
  name: string;
  help: string;
  type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED';
  metrics: Sample[];
}

/**
 * Families by name; a histogram's also as its series `<name>_count`, `_sum` and `_bucket`, one
 * sample per label set. Throws when the text is not Prometheus' format.
 */
export function parseMetrics(text: string): Map<string, Family> {
  const families = parsePrometheusTextFormat(text) as Family[];
  const byName = new Map(families.map((family) => [family.name, family]));
  // The parser (1.1.1) folds a labelled histogram's series into one sample and drops its labels,
  // count and sum. Without their TYPE line, the same lines parse as untyped families, one per run of
  // lines of one series name (so `_count` comes once per label set): merged here by name.
  const histograms = families.filter((family) => family.type === 'HISTOGRAM').map((family) => family.name);
  if (histograms.length === 0) return byName;
  const typeLines = new Set(histograms.map((name) => `# TYPE ${name} histogram`));
  const untyped = parsePrometheusTextFormat(text.split('\n').filter((line) => !typeLines.has(line)).join('\n')) as Family[];
  for (const family of untyped) {
    if (!histograms.some((name) => family.name.startsWith(`${name}_`))) continue;
    const seen = byName.get(family.name);
    byName.set(family.name, seen ? { ...seen, metrics: [...seen.metrics, ...family.metrics] } : family);
  }
  return byName;
}

/** Fetches `url` and parses it. */
export async function scrape(url: string): Promise<Map<string, Family>> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  if (response.status !== 200) throw new Error(`${url} answered ${response.status}: ${await response.text()}`);
  return parseMetrics(await response.text());
}

/** The value of the family's sample whose labels include `labels` (counters, gauges), summed over matches; 0 when none. */
export function valueOf(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  return samplesOf(families, name, labels).reduce((sum, sample) => sum + Number(sample.value ?? sample.count ?? 0), 0);
}

/** How many observations a histogram holds in its series whose labels include `labels`. */
export function countOf(families: Map<string, Family>, histogram: string, labels: Record<string, string> = {}): number {
  return valueOf(families, `${histogram}_count`, labels);
}

export function samplesOf(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): Sample[] {
  const family = families.get(name);
  return (family?.metrics ?? []).filter((sample) => Object.entries(labels).every(([key, value]) => sample.labels?.[key] === value));
}
