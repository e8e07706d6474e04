// One place that turns "where is the store" into a connected etcd client, and an unreachable etcd
// into one clear sentence.
import { ExponentialBackoff, noop } from 'cockatiel';
import { Etcd3, GRPCGenericError } from 'etcd3';
import { EtcdUnreachableError } from './etcd-errors.ts';

export { EtcdUnreachableError };

/** Accepts `http://host:port`, `https://host:port` or `host:port`; several separated by commas. */
export function normaliseEndpoints(value: string): string[] {
  return value
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => (/^https?:\/\//.test(part) ? part : `http://${part}`))
    .map((part) => part.replace(/\/+$/, ''));
}

export interface EtcdConnectOptions {
  endpoints: string;
  /** Per-call deadline for unary calls (watches are streams and have none). */
  callTimeoutMs?: number;
}

/**
 * A client tuned for a controller system: unary calls carry a deadline so a dead etcd surfaces as an
 * error instead of a hang, retries are left to the callers (the controller runtime retries with
 * backoff per key; a hidden retry inside the client would double-count), and watch streams
 * reconnect within a second so informers resume quickly after an etcd restart.
 */
export function connectEtcd(options: EtcdConnectOptions): Etcd3 {
  const callTimeoutMs = options.callTimeoutMs ?? 5_000;
  const client = new Etcd3({
    hosts: normaliseEndpoints(options.endpoints),
    dialTimeout: 2_000,
    // gRPC's default 4 MB receive limit would fail an informer's list of ~6,000 Apps; etcd itself
    // sends responses of any size. Lists are one response today; paging them is the next step.
    grpcOptions: { 'grpc.max_receive_message_length': 512 * 2 ** 20 },
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
    faultHandling: {
      host: () => noop,
      global: noop,
      // etcd3 declares an IBackoff but calls next() on it, which is what the factory provides.
      watchBackoff: new ExponentialBackoff({ initialDelay: 50, maxDelay: 1_000 }) as never,
    },
  });
  tolerateLateWatchResponses(client);
  return client;
}

/**
 * etcd3 1.1's watch manager throws ("Failed to find watcher for IWatchResponse") from inside the
 * gRPC stream's data handler when a response arrives for a watch it has already removed. That
 * happens when etcd cancels a watch (compaction) while the client is cancelling it too: both
 * cancellations are answered, and the second answer finds nobody. Thrown there, it is an uncaught
 * exception that would kill an agent or a controller process. A response for a watch nobody holds
 * has no one to tell, so it is dropped; everything else goes through unchanged.
 */
function tolerateLateWatchResponses(client: Etcd3): void {
  type Manager = { watchers: { id: unknown }[]; handleResponse(response: { watch_id: unknown }): void };
  const manager = (client as unknown as { watchManager?: Manager }).watchManager;
  if (!manager || typeof manager.handleResponse !== 'function') return;
  const handle = manager.handleResponse.bind(manager);
  manager.handleResponse = (response) => {
    if (manager.watchers.some((watcher) => watcher.id === response.watch_id)) handle(response);
  };
}

/**
 * Resolves with what `call` answers when etcd answers within `timeoutMs`; rejects with
 * EtcdUnreachableError when etcd is down or silent that long. `call` is etcd's status unless given,
 * and then any failure counts as unreachable. A command passes its first read as `call` instead, so
 * that knowing etcd is there costs no call of its own (another gRPC service and a round trip: about
 * 13 ms of a CLI start); an error etcd answers that read with is the command's, rethrown as it is.
 */
export async function ensureReachable<T = unknown>(client: Etcd3, endpoints: string, timeoutMs = 3_000, call?: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const silent = new Error(`no answer within ${timeoutMs / 1000} s`);
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(silent), timeoutMs);
  });
  try {
    return await Promise.race([call ? call() : (client.maintenance.status() as Promise<T>), timeout]);
  } catch (error) {
    const transport = error === silent ? error : grpcFailure(error);
    if (call && !transport) throw error;
    throw new EtcdUnreachableError(normaliseEndpoints(endpoints).join(','), briefReason(transport ?? error));
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The gRPC failure in `error` or among its causes (the Store wraps them): no connection, no answer
 * by the deadline, or an answer that is not etcd's. etcd's own refusals (EtcdError: permission
 * denied, ...) are not gRPC failures.
 */
function grpcFailure(error: unknown): Error | undefined {
  for (let cause: unknown = error; cause instanceof Error; cause = cause.cause) {
    if (cause instanceof GRPCGenericError) return cause;
  }
  return undefined;
}

function briefReason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (/ECONNREFUSED|connection refused/i.test(message)) return 'connection refused';
  if (/deadline|timed out|no answer/i.test(message)) return 'no answer in time';
  if (/ENOTFOUND|getaddrinfo/i.test(message)) return 'unknown host';
  return message.split('\n')[0] ?? message;
}
