// The controllers process of bench:gitops (d): only the gitops controllers (`capstan controllers
// --only gitrepositories,syncs`), against an empty store. It prints its RSS once the controllers are
// up, then creates a GitRepository and a Sync of the bench's repository, waits until the Sync is Ready
// at BENCH_GIT_REVISION, and prints its RSS again: {"before": bytes, "after": bytes, "objects": n}.
import { pino } from 'pino';
import { connectEtcd } from '../api/etcd.ts';
import { builtinRegistry } from '../api/kinds/builtin.ts';
import type { SyncStatus } from '../api/kinds/sync.ts';
import { getCondition } from '../api/object.ts';
import { Store } from '../api/store.ts';
import { runControllers } from '../controllers/builtin.ts';
import { until } from '../test/helpers/poll.ts';

const NAMESPACE = 'rss';
const SYNC_DEADLINE_MS = 180_000;

const say = {
  notSynced: (revision: string) => `Sync ${NAMESPACE}/bench to be Ready at ${revision.slice(0, 7)}`,
};

const client = connectEtcd({ endpoints: process.env.CAPSTAN_ETCD! });
const store = new Store(client, builtinRegistry());
const revision = process.env.BENCH_GIT_REVISION!;
const controllers = await runControllers({
  store,
  only: ['gitrepositories', 'syncs'],
  leaderElection: false,
  handleSignals: false,
  logger: pino({ level: 'silent' }),
  gitCacheDir: process.env.BENCH_GIT_CACHE!,
});

const settledRss = async () => {
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().rss;
};

const before = await settledRss();
await store.create({ apiVersion: 'capstan/v1', kind: 'GitRepository', metadata: { name: 'bench', namespace: NAMESPACE }, spec: { url: process.env.BENCH_GIT_URL!, interval: '1h' } });
await store.create({ apiVersion: 'capstan/v1', kind: 'Sync', metadata: { name: 'bench', namespace: NAMESPACE }, spec: { sourceRef: { name: 'bench' }, path: 'apps' } });
const status = await until(
  async () => {
    const s = (await store.get('Sync', { namespace: NAMESPACE, name: 'bench' }))?.status as SyncStatus | undefined;
    return s?.lastAppliedRevision === revision && getCondition(s.conditions, 'Ready')?.status === 'True' && s;
  },
  { timeoutMs: SYNC_DEADLINE_MS, intervalMs: 100, what: say.notSynced(revision) },
);
const after = await settledRss();
process.stdout.write(JSON.stringify({ before, after, objects: status.inventory?.length ?? 0 }));
await controllers.stop();
client.close();
process.exit(0);
