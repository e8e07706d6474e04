// Opening an etcd watch without losing its first events.
//
// etcd confirms a watch and then at once sends what happened since its start revision, and the
// etcd3 client emits those events as soon as they arrive, possibly in the same tick as the
// confirmation. `await builder.create()` resolves a tick later, so listeners added after it can miss
// them for good: an agent never heard that its task was being deleted. Here the listeners are on the
// watcher before it connects.
import type { IKeyValue, WatchBuilder, Watcher } from 'etcd3';

export interface WatchListeners {
  put?: (kv: IKeyValue) => void;
  delete?: (kv: IKeyValue) => void;
  /**
   * Errors once the watch is established, e.g. etcd cancelling it because its start revision was
   * compacted (which may come with the confirmation). A failure to establish it rejects instead.
   */
  error?: (error: Error) => void;
}

export async function openWatch(builder: WatchBuilder, listeners: WatchListeners): Promise<Watcher> {
  const watcher = builder.watcher();
  let connected = false;
  let fail!: (error: Error) => void;
  const established = new Promise<void>((resolve, reject) => {
    fail = reject;
    watcher.once('connected', () => {
      connected = true;
      resolve();
    });
  });
  if (listeners.put) watcher.on('put', listeners.put);
  if (listeners.delete) watcher.on('delete', listeners.delete);
  // Always listening: an 'error' with no listener would be thrown from the client's stream handler.
  watcher.on('error', (error: Error) => (connected ? listeners.error?.(error) : fail(error)));
  await established;
  return watcher;
}
