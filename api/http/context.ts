// What every route module of the HTTP API receives (api/http/server.ts builds it once per server):
// the store, the shared informers the reads are served from, and the server's identity. Route
// modules are plain functions registering routes on the fastify instance; routes.ts lists them.
import type { Etcd3 } from 'etcd3';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { InformerFactory } from '../informer.ts';
import type { KindRegistry } from '../kinds/registry.ts';
import type { ApiMetrics } from '../metrics.ts';
import type { Store } from '../store.ts';

export interface ApiContext {
  store: Store;
  client: Etcd3;
  registry: KindRegistry;
  /**
   * Informers shared by every route (one per kind per server). The server starts those of App,
   * Revision, Task, Node, Volume and Endpoints before it listens; a route needing another kind
   * calls `await ctx.informers.informer(kind).start()` (idempotent) first.
   */
  informers: InformerFactory;
  log: Logger;
  /** The URL the server listens on (http://127.0.0.1:PORT). */
  url: string;
  /** Clock of the server (tests may replace it). */
  now(): Date;
  /** The server's metrics (GET /metrics, api/http/metrics.ts); `store` times its etcd requests into them. */
  metrics: ApiMetrics;
}

/** One group of routes: registers them (and any hooks) on the server. */
export type RouteModule = (server: FastifyInstance, ctx: ApiContext) => void | Promise<void>;
