// The HTTP API server (`capstan api`, and `capstan up` runs one): fastify on one address, with
// Marathon's system routes (system.ts), every route module of routes.ts, and authentication when
// configured (auth.ts). It builds the ApiContext the modules share: the store, and informers started
// before it listens, so the first request is served from a filled cache.
import type { Etcd3 } from 'etcd3';
import { fastify, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { pino, type Logger } from 'pino';
import { InformerFactory } from '../informer.ts';
import { loadCustomKinds } from '../kinds/custom.ts';
import type { KindRegistry } from '../kinds/registry.ts';
import { ApiMetrics } from '../metrics.ts';
import type { Store } from '../store.ts';
import { requireAuth, type AuthConfig } from './auth.ts';
import { acceptEmptyJsonBodies } from './json-body.ts';
import type { ApiContext, RouteModule } from './context.ts';
import { systemRoutes } from './system.ts';

/** Loopback, as Marathon's `--http_address` is not: only credentials make another address safe. */
export const DEFAULT_API_HOST = '127.0.0.1';
/** Marathon's HTTP port. */
export const DEFAULT_API_PORT = 8080;
/** Kinds nearly every route reads: their informers start before the server listens. */
const PRIMED_KINDS = ['App', 'Revision', 'Task', 'Node', 'Volume', 'Endpoints'] as const;

export const say = {
  notLoopback: (host: string) =>
    `refusing to listen on ${host} without authentication: anyone who reaches it could change the cluster; give --auth FILE (bearer tokens or user:password lines), or listen on 127.0.0.1`,
  customKinds: (refused: string) => `CustomKinds not served by the API: ${refused}`,
} as const;

export interface ApiServerOptions {
  store: Store;
  client: Etcd3;
  registry: KindRegistry;
  /** Default 127.0.0.1; another address needs `auth`. */
  host?: string;
  /** Default 0: any free port (the CLI defaults to 8080). */
  port?: number;
  auth?: AuthConfig;
  log?: Logger;
  /** Default every module of routes.ts. */
  routes?: readonly RouteModule[];
  /** The etcd endpoint, shown in /v2/info. */
  etcd?: string;
  now?: () => Date;
}

export interface RunningApiServer {
  url: string;
  ctx: ApiContext;
  close(): Promise<void>;
}

/** Why the server must not listen on `host`, or null: a non-loopback address needs authentication. */
export function listenRefusal(host: string, auth: AuthConfig | undefined): string | null {
  return auth || isLoopback(host) ? null : say.notLoopback(host);
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

export class ApiServerError extends Error {
  override readonly name = 'ApiServerError';
}

export async function startApiServer(options: ApiServerOptions): Promise<RunningApiServer> {
  const host = options.host ?? DEFAULT_API_HOST;
  const refusal = listenRefusal(host, options.auth);
  if (refusal) throw new ApiServerError(refusal);
  const log = options.log ?? pino({ level: 'silent' });
  const informers = new InformerFactory(options.store, { onRelist: (reason) => log.warn({ reason }, 'informer re-listing') });
  const server = fastify({
    // fastify logs every request at info, which would drown the log of `capstan up`: its own logger
    // says warnings and errors only (a 5xx among them); the routes log through ctx.log.
    loggerInstance: log.child({}, { level: 'warn' }) as FastifyBaseLogger,
    // Watches and event streams never end by themselves: close() cuts them.
    forceCloseConnections: true,
  });
  acceptEmptyJsonBodies(server);
  try {
    await followCustomKinds(informers, options.registry, log);
    await Promise.all(PRIMED_KINDS.map((kind) => informers.informer(kind).start()));
    const frameworkId = `capstan-${(await options.client.maintenance.status()).header.cluster_id}`;
    const metrics = new ApiMetrics();
    const ctx: ApiContext = {
      store: options.store.withMetrics(metrics.etcd),
      client: options.client,
      registry: options.registry,
      informers,
      log,
      url: '',
      now: options.now ?? (() => new Date()),
      metrics,
    };
    if (options.auth) requireAuth(server, options.auth);
    // routes.ts loads every module of the API; a caller naming its own modules (a test) loads only those.
    const routes = options.routes ?? (await import('./routes.ts')).routeModules;
    for (const module of [systemRoutes({ frameworkId, etcd: options.etcd }), ...routes]) await module(server, ctx);
    const address = await server.listen({ host, port: options.port ?? 0 });
    ctx.url = urlOf(address, host);
    return {
      url: ctx.url,
      ctx,
      close: async () => {
        await server.close();
        await informers.stop();
      },
    };
  } catch (error) {
    await server.close().catch(() => undefined);
    await informers.stop();
    throw error;
  }
}

/**
 * Keeps the registry's user kinds as the store holds them: a CustomKind applied after the server
 * started is listed, read and watched like any kind from then on.
 */
async function followCustomKinds(informers: InformerFactory, registry: KindRegistry, log: Logger): Promise<void> {
  const informer = informers.informer('CustomKind');
  await informer.start();
  const load = () => {
    const { refused } = loadCustomKinds(registry, informer.list() as never);
    if (refused.length > 0) log.warn(say.customKinds(refused.map((r) => `${r.name} (${r.reason})`).join('; ')));
  };
  load();
  informer.events$.subscribe(() => load());
}

/** fastify's address, with a host as given (an IPv6 address in brackets). */
function urlOf(address: string, host: string): string {
  const port = new URL(address).port;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

export type { FastifyInstance };
