// Controller metrics in a registry of their own (never prom-client's global one, so two managers in
// one test process do not collide), and an optional loopback /metrics endpoint.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export class ControllerMetrics {
  readonly registry = new Registry();
  readonly queueDepth = new Gauge({
    name: 'capstan_controller_queue_depth',
    help: 'Keys waiting to be reconciled',
    labelNames: ['controller'] as const,
    registers: [this.registry],
  });
  readonly reconciles = new Counter({
    name: 'capstan_controller_reconciles_total',
    help: 'Reconciles finished, by result (done, requeueAfter, retry, invalid)',
    labelNames: ['controller', 'result'] as const,
    registers: [this.registry],
  });
  readonly errors = new Counter({
    name: 'capstan_controller_reconcile_errors_total',
    help: 'Reconciles that returned retry or threw',
    labelNames: ['controller'] as const,
    registers: [this.registry],
  });
  readonly latency = new Histogram({
    name: 'capstan_controller_reconcile_duration_seconds',
    help: 'Time spent in one reconcile',
    labelNames: ['controller'] as const,
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10],
    registers: [this.registry],
  });
  readonly leading = new Gauge({
    name: 'capstan_controller_leader',
    help: '1 while this process leads the controller',
    labelNames: ['controller'] as const,
    registers: [this.registry],
  });
}

export interface MetricsServer {
  url: string;
  close(): Promise<void>;
}

/** Serves GET /metrics on 127.0.0.1:`port` (0 picks a free port). */
export async function serveMetrics(options: { registry: Registry; port: number; host?: string }): Promise<MetricsServer> {
  const server: Server = createServer((request, response) => {
    if (request.method !== 'GET' || request.url !== '/metrics') {
      response.writeHead(404).end('not found: try GET /metrics\n');
      return;
    }
    options.registry
      .metrics()
      .then((body) => response.writeHead(200, { 'content-type': options.registry.contentType }).end(body))
      .catch((error: unknown) => response.writeHead(500).end(String(error)));
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}/metrics`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
