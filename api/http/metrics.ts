// GET /metrics on the API: the server's metrics (ctx.metrics, api/metrics.ts) as Prometheus text, or
// as Marathon's JSON (api/marathon/metrics.ts) when the client asks for JSON; and the hook that
// counts every request by method, route pattern and status.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { collectProcessMetrics } from '../metrics.ts';
import { metricsToMarathon, type MetricFamily } from '../marathon/metrics.ts';
import type { RouteModule } from './context.ts';

/** The route label of a request no route matched (a 404): one series, whatever the URL. */
export const UNMATCHED_ROUTE = 'unmatched';

export const metricsRoutes: RouteModule = (server: FastifyInstance, ctx) => {
  const { metrics } = ctx;
  collectProcessMetrics(metrics.registry);
  const startedAt = Date.now();

  // onResponse runs once the answer is sent; the route pattern (`/v2/apps/*`), never the URL, so a
  // thousand app ids stay one series.
  server.addHook('onResponse', (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
    const route = request.routeOptions.url ?? UNMATCHED_ROUTE;
    metrics.requests.inc({ method: request.method, route, status: String(reply.statusCode) });
    metrics.latency.observe({ method: request.method, route }, reply.elapsedTime / 1000);
    done();
  });

  server.get('/metrics', async (request, reply) => {
    if (prefersJson(request.headers.accept)) {
      const families = (await metrics.registry.getMetricsAsJSON()) as unknown as MetricFamily[];
      return reply.send(metricsToMarathon(families, { uptimeSeconds: (Date.now() - startedAt) / 1000 }));
    }
    const text = await metrics.registry.metrics();
    return reply.header('content-type', metrics.registry.contentType).send(text);
  });
};

/**
 * Whether an Accept header prefers JSON to Prometheus text: application/json is acceptable and
 * weighs at least as much as text/plain and OpenMetrics. No header, or a scraper's, gets text.
 */
export function prefersJson(accept: string | undefined): boolean {
  if (!accept) return false;
  const weights = new Map<string, number>();
  for (const part of accept.split(',')) {
    const [type = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    const q = params.find((p) => p.startsWith('q='));
    const weight = q ? Number(q.slice(2)) : 1;
    weights.set(type, Math.max(weights.get(type) ?? 0, Number.isFinite(weight) ? weight : 0));
  }
  const json = weights.get('application/json') ?? 0;
  const text = Math.max(weights.get('text/plain') ?? 0, weights.get('application/openmetrics-text') ?? 0);
  return json > 0 && json >= text;
}
