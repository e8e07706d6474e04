// The HTTP API `capstan up` runs (api/http, what `capstan api` serves), on loopback only and without
// authentication: a single machine's playground. Its URL is printed on stdout (`api: URL`), the line
// scripts read, as they read `demo: URL`, and the dashboard's after it (`dashboard: URL/ui/`).
import type { Logger } from 'pino';
import type { Session } from '../context.ts';
import { CliError } from '../errors.ts';
import type { Output } from '../io.ts';
import type { Component } from './component.ts';
import { firstFree, LOOPBACK } from './ports.ts';

/**
 * Marathon's 8080 is the load balancer's HTTP frontend in up (front-door.ts): the API takes the
 * next port when free, else any free one; --api-port asks for one and fails when it is taken.
 */
export const UP_API_PORT = 8081;

const say = {
  portTaken: (port: number) => `port ${port} on ${LOOPBACK} (the HTTP API) is in use by another program: choose another with --api-port`,
  /** The dashboard `capstan api` serves (api/http/ui.ts). */
  dashboard: (url: string) => `${url}/ui/`,
  where: (url: string) => `${url} (Marathon's REST API on /v2, events on /v2/events, the native API on /api/v1; loopback, no authentication)`,
} as const;

export function apiComponent(options: { session: () => Session; etcd: string; port?: number; log: Logger; out: Output }): Component & { readonly url: string | undefined } {
  let server: { url: string; close(): Promise<void> } | undefined;
  return {
    name: 'api',
    get url() {
      return server?.url;
    },
    /** GET /metrics on the API itself (api/http/metrics.ts): Prometheus text, Marathon's JSON when asked. */
    get metricsUrl() {
      return server && `${server.url}/metrics`;
    },
    async start() {
      const { startApiServer } = await import('../../api/http/server.ts');
      const session = options.session();
      const port = options.port ?? (await firstFree([UP_API_PORT]));
      try {
        server = await startApiServer({ store: session.store, client: session.client, registry: session.registry, host: LOOPBACK, port, etcd: options.etcd, log: options.log.child({ name: 'api' }) });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new CliError(say.portTaken(port));
        throw error;
      }
      options.out.write(`api: ${server.url}\n`);
      options.out.write(`dashboard: ${say.dashboard(server.url)}\n`);
      return say.where(server.url);
    },
    async stop() {
      await server?.close();
    },
  };
}
