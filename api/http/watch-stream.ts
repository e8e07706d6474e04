// One watch of the native API: the objects an informer holds that a filter admits, as Kubernetes'
// watch events (`{type: ADDED|MODIFIED|DELETED, object}`), first the current ones as ADDED, then each
// change, written as NDJSON lines or as server-sent events.
//
// Bounded per watcher: the informer's stream is synchronous and shared, so a watcher must never make
// it wait. Each event is written at once; what the client has not read yet queues in the socket's
// buffer, and once that passes `limitBytes` the watch ends with a final ERROR event (a Kubernetes
// Status saying why, as an expired watch gets: code 410) instead of growing without bound. The
// client re-lists and watches again.
import type { ServerResponse } from 'node:http';
import type { Observable, Subscription } from 'rxjs';
import type { InformerEvent } from '../informer.ts';
import type { AnyObject, DeepReadonly } from '../object.ts';

export type WatchFormat = 'ndjson' | 'sse';
export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'ERROR';

export interface WatchSource {
  /** The objects held now. */
  list(): readonly DeepReadonly<AnyObject>[];
  /** Every change after subscribing; synchronous with list(), so nothing falls between them. */
  events$: Observable<InformerEvent>;
}

export interface WatchStreamOptions {
  source: WatchSource;
  /** Which objects this watch is about (namespace, label selector). */
  admits: (object: DeepReadonly<AnyObject>) => boolean;
  response: ServerResponse;
  format: WatchFormat;
  /** Bytes written but not yet taken by the client beyond which the watch ends. */
  limitBytes: number;
  /** Told once when the watch ends because the client fell behind. */
  onOverflow?: (bufferedBytes: number) => void;
}

/** How long an overflowed watch's last bytes wait for the client to read them before the socket is cut. */
const OVERFLOW_GRACE_MS = 30_000;

export const say = {
  tooSlow: (limit: number) =>
    `watch closed: the client fell more than ${limit} bytes behind the stream; list again and start a new watch from there`,
} as const;

/** Opens the stream; returns a function that ends it (also called when the client goes away). */
export function streamWatch(options: WatchStreamOptions): () => void {
  const { response, format, limitBytes } = options;
  response.writeHead(200, {
    'content-type': format === 'sse' ? 'text/event-stream' : 'application/x-ndjson',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  });
  // Sent now, not with the first event: a watch of an empty selection is open all the same, and a
  // browser's EventSource only reports it open once it has the headers.
  response.flushHeaders();
  let subscription: Subscription | undefined;
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    subscription?.unsubscribe();
    response.end();
  };
  const send = (type: WatchEventType, object: unknown) => {
    if (ended) return;
    response.write(encode(format, type, object));
    if (response.writableLength > limitBytes) {
      options.onOverflow?.(response.writableLength);
      response.write(encode(format, 'ERROR', { apiVersion: 'v1', kind: 'Status', status: 'Failure', reason: 'TooSlow', code: 410, message: say.tooSlow(limitBytes) }));
      // Once the last bytes are handed to the kernel, the connection closes (the response lets go
      // of its socket when it finishes, hence held here), so a client that reads again gets the
      // final line and then the end of the stream; one that never reads again cannot hold its
      // socket and buffer for good.
      const socket = response.socket;
      const cut = setTimeout(() => socket?.destroy(), OVERFLOW_GRACE_MS).unref();
      response.once('finish', () => {
        clearTimeout(cut);
        socket?.destroy();
      });
      end();
    }
  };
  response.on('close', end);
  // Subscribe, then list, in the same turn: a change lands either in the list or in the stream.
  subscription = options.source.events$.subscribe((event) => {
    const type = watchEventOf(event, options.admits);
    if (type) send(type, event.object);
  });
  for (const object of options.source.list()) if (options.admits(object)) send('ADDED', object);
  return end;
}

/**
 * What a watcher sees of a change, given what it selects: a change that brings an object into the
 * selection is its ADDED, one that takes it out its DELETED (as Kubernetes' filtered watches say);
 * a change outside the selection, nothing.
 */
export function watchEventOf(event: Pick<InformerEvent, 'type' | 'object' | 'old'>, admits: (object: DeepReadonly<AnyObject>) => boolean): Exclude<WatchEventType, 'ERROR'> | undefined {
  const now = admits(event.object);
  const before = event.type !== 'added' && event.old !== undefined && admits(event.old);
  if (event.type === 'deleted') return before || now ? 'DELETED' : undefined;
  if (before) return now ? 'MODIFIED' : 'DELETED';
  return now ? 'ADDED' : undefined;
}

function encode(format: WatchFormat, type: WatchEventType, object: unknown): string {
  const line = JSON.stringify({ type, object });
  return format === 'sse' ? `event: ${type}\ndata: ${line}\n\n` : `${line}\n`;
}
