// The parser ships without types: what the tests read of it (test/helpers/prometheus.ts).
declare module 'parse-prometheus-text-format' {
  export default function parsePrometheusTextFormat(text: string): unknown[];
}
