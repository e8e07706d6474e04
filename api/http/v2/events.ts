// GET /v2/events: Marathon's event stream as server-sent events (`event: <type>\ndata: <json>\n\n`),
// from the EventHub (api/marathon/events.ts), created on the first subscriber and shared by all the
// server's clients. `?event_type=` (repeatable) keeps only those types; a new client first gets
// `event_stream_attached` with its address; a comment line every KEEP_ALIVE_MS keeps proxies from
// closing an idle stream.
//
// The hub's events reach the clients through one EventFanout (event-fanout.ts): each turn's events
// are encoded once and each client gets them in one write.
//
// A slow client never slows the hub or the other clients: each turn's events are written at once and
// what the client has not taken yet waits in its socket's buffer. Once that passes the buffer limit, the
// client gets a last `event_stream_detached` saying why and the stream ends; the socket is destroyed
// DROP_GRACE_MS later if the client still has not read to the end, so it holds at most the limit
// plus one event meanwhile.
import type { ServerResponse } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { EventHub, type MarathonEvent } from '../../marathon/events.ts';
import { encodeEvent, EventFanout } from './event-fanout.ts';
import type { ApiContext, RouteModule } from '../context.ts';
import { parseOr422 } from '../errors.ts';

export { encodeEvent } from './event-fanout.ts';

export interface EventsRouteOptions {
  /** Bytes written to a client and not yet taken by it beyond which it is dropped. */
  bufferLimitBytes?: number;
  keepAliveMs?: number;
}

export const DEFAULT_BUFFER_LIMIT_BYTES = 1024 * 1024;
export const KEEP_ALIVE_MS = 15_000;
const DROP_GRACE_MS = 30_000;

export const say = {
  notAcceptable: (accept: string) => `/v2/events answers text/event-stream only, and the request accepts "${accept}": send Accept: text/event-stream`,
  dropped: (limit: number) =>
    `event stream closed: the client fell more than ${limit} bytes behind; connect again to follow the events from now on`,
  hubFailed: (reason: string) => `could not start the event stream (${reason}); try again`,
} as const;

const querySchema = z.object({ event_type: z.union([z.string(), z.array(z.string())]).optional() });

/** The route module with its limits; `eventsRoutes` has the defaults. */
export function eventsRoutesWith(options: EventsRouteOptions = {}): RouteModule {
  const limit = options.bufferLimitBytes ?? DEFAULT_BUFFER_LIMIT_BYTES;
  const keepAliveMs = options.keepAliveMs ?? KEEP_ALIVE_MS;
  return (server, ctx) => {
    let hub: Promise<EventHub> | undefined;
    const open = new Set<() => void>();
    const fanout = new EventFanout();
    const hubOf = () => (hub ??= startHub(ctx, fanout).catch((error: unknown) => {
      hub = undefined;
      throw error;
    }));
    // Open streams would hold the server's close forever: end them first.
    server.addHook('preClose', async () => {
      for (const close of open) close();
    });
    server.addHook('onClose', async () => {
      // A hub that failed to start has nothing to stop; its request was told why.
      if (hub) await (await hub.catch(() => undefined))?.stop();
    });
    server.get('/v2/events', async (request: FastifyRequest, reply: FastifyReply) => {
      const accept = request.headers.accept;
      if (accept !== undefined && !acceptsEventStream(accept)) return reply.code(406).send({ message: say.notAcceptable(accept) });
      const query = parseOr422(querySchema, request.query, reply);
      if (!query) return reply;
      const types = new Set([query.event_type ?? []].flat());
      try {
        await hubOf();
      } catch (error) {
        ctx.log.warn({ err: error }, 'the event stream could not start');
        return reply.code(503).send({ message: say.hubFailed((error as Error).message) });
      }
      reply.hijack();
      const close = stream({ response: reply.raw, remoteAddress: request.ip, fanout, types, limit, keepAliveMs, now: () => ctx.now() });
      open.add(close);
      reply.raw.on('close', () => open.delete(close));
      return reply;
    });
  };
}

export const eventsRoutes: RouteModule = eventsRoutesWith();

/** The hub, its events going to the fan-out for as long as it runs (its stop completes them). */
async function startHub(ctx: ApiContext, fanout: EventFanout): Promise<EventHub> {
  const hub = new EventHub({ informers: ctx.informers, log: ctx.log, now: () => ctx.now() });
  hub.events$.subscribe((event) => fanout.publish(event));
  try {
    await hub.start();
  } catch (error) {
    // The next request starts another hub: this one must not go on publishing beside it.
    await hub.stop();
    throw error;
  }
  return hub;
}

/** `text/event-stream`, `text/*` or `*∕*` among the media ranges (parameters such as q ignored). */
export function acceptsEventStream(accept: string): boolean {
  return accept
    .split(',')
    .map((range) => range.split(';')[0]!.trim().toLowerCase())
    .some((range) => range === 'text/event-stream' || range === 'text/*' || range === '*/*' || range === '');
}

interface StreamOptions {
  response: ServerResponse;
  remoteAddress: string;
  fanout: EventFanout;
  types: ReadonlySet<string>;
  limit: number;
  keepAliveMs: number;
  now: () => Date;
}

/** Streams the hub's events to one client; returns what ends the stream (the server closing). */
function stream(options: StreamOptions): () => void {
  const { response, remoteAddress, fanout, types, limit } = options;
  let ended = false;
  let keepAlive: NodeJS.Timeout | undefined;
  const client = { types, deliver: (chunk: Buffer) => write(chunk) };
  const end = () => {
    if (ended) return;
    ended = true;
    fanout.delete(client);
    clearInterval(keepAlive);
    response.end();
  };
  const write = (chunk: Buffer | string) => {
    if (ended) return;
    if (response.writableLength + Buffer.byteLength(chunk) > limit) return drop();
    response.write(chunk);
  };
  const drop = () => {
    const detached = { eventType: 'event_stream_detached', timestamp: options.now().toISOString(), remoteAddress, message: say.dropped(limit) };
    response.write(encodeEvent(detached));
    end();
    // The client may never read again: its socket goes, with what it holds, after a grace.
    setTimeout(() => response.destroy(), DROP_GRACE_MS).unref();
  };
  // One response per connection: when the stream ends (a drop), the connection ends with it.
  response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache, no-transform', connection: 'close' });
  const attached: MarathonEvent = { eventType: 'event_stream_attached', timestamp: options.now().toISOString(), remoteAddress };
  // Something at once either way, so the client knows it is attached.
  write(types.size === 0 || types.has(attached.eventType) ? encodeEvent(attached) : ':\n\n');
  const close = () => {
    end();
    response.destroy();
  };
  response.on('close', end);
  if (ended) return close;
  fanout.add(client);
  keepAlive = setInterval(() => write(':\n\n'), options.keepAliveMs);
  keepAlive.unref();
  return close;
}
