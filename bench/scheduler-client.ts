// The rest of the world for bench:scheduler, in its own OS process: it creates the stream round's
// tasks and watches the bindings land, so the process that runs the scheduler does only the
// scheduler's work. (A real cluster's tasks come from the replicas controller or `capstan apply`,
// and nobody else in the scheduler's process decodes its bindings a second time.)
//
// Protocol over the fork IPC channel, one request at a time:
//   → { watch: count }             ← { watching: true }, later ← { first, last } (epoch ms)
//   → { prepare: tasks }           ← { prepared: true }
//   → { create: true }             ← { created: epoch ms } once every prepared task is written
// Times are performance.timeOrigin + performance.now(), comparable across the two processes.
import { connectEtcd } from '../api/etcd.ts';
import { builtinRegistry } from '../api/kinds/builtin.ts';
import type { AnyObject } from '../api/object.ts';
import { Store } from '../api/store.ts';
import { openWatch } from '../api/watch.ts';
import { createMany } from './create-many.ts';

const INDEX_PREFIX = '/capstan/index/nodes/';
const now = () => performance.timeOrigin + performance.now();

const client = connectEtcd({ endpoints: process.argv[2]! });
const store = new Store(client, builtinRegistry());

type Request = { watch: number } | { prepare: AnyObject[] } | { create: true };

let prepared: AnyObject[] = [];

process.on('message', (request: Request) => {
  void handle(request).catch((error: unknown) => {
    process.send!({ error: error instanceof Error ? error.message : String(error) });
  });
});
process.on('disconnect', () => client.close());

async function handle(request: Request): Promise<void> {
  if ('watch' in request) return watchBindings(request.watch);
  if ('prepare' in request) {
    prepared = request.prepare;
    process.send!({ prepared: true });
    return;
  }
  await createMany(store, prepared);
  prepared = [];
  process.send!({ created: now() });
}

/** Reports when the first and the `count`-th distinct task showed up in the nodes' task index. */
async function watchBindings(count: number): Promise<void> {
  const bound = new Set<string>();
  let first = 0;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const watcher = await openWatch(client.watch().prefix(INDEX_PREFIX), {
    put: (kv) => {
      const key = kv.key.toString();
      if (bound.has(key)) return;
      if (bound.size === 0) first = now();
      bound.add(key);
      if (bound.size === count) {
        process.send!({ first, last: now() });
        finish();
      }
    },
    error: (error) => process.send!({ error: error.message }),
  });
  process.send!({ watching: true });
  await finished;
  await watcher.cancel();
}
