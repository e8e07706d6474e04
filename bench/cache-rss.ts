// A controller process for bench (c): with BENCH_WATCH_APPS=1 it runs a controller over Apps (so the
// shared informer lists and caches every App), waits until the cache is full, collects garbage and
// prints its RSS; with 0 it prints the RSS of the same process with an empty cache.
import { pino } from 'pino';
import { connectEtcd } from '../api/etcd.ts';
import { builtinRegistry } from '../api/kinds/builtin.ts';
import { Store } from '../api/store.ts';
import { done } from '../controllers/contract.ts';
import { Manager } from '../controllers/manager.ts';

const client = connectEtcd({ endpoints: process.env.CAPSTAN_ETCD! });
const store = new Store(client, builtinRegistry());
const watch = process.env.BENCH_WATCH_APPS === '1';
const manager = new Manager({
  store,
  leaderElection: false,
  logger: pino({ level: 'silent' }),
  controllers: [{ name: 'noop', watches: [{ kind: watch ? 'App' : 'Node' }], reconcile: async () => done() }],
});
await manager.start();
const informer = manager.informers.informer(watch ? 'App' : 'Node');
await informer.start();
await new Promise((resolve) => setTimeout(resolve, 1_000));
(globalThis as { gc?: () => void }).gc?.();
process.stdout.write(JSON.stringify({ rss: process.memoryUsage().rss, cached: informer.size }));
await manager.stop();
client.close();
process.exit(0);
