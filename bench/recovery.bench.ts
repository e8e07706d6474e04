// npm run bench:recovery — kill -9 an agent holding 20 tasks: seconds until all 20 run elsewhere.
//
// A real one-machine cluster (etcd, the controllers in this process, `capstan agent` processes with a
// 1 s node lease). An App of 20 process-driver instances (busybox httpd) with
// unreachableStrategy.inactiveAfterSeconds 3 is placed while only bench-r1 is up, so bench-r1 holds
// all 20; then bench-r2 and bench-r3 join, bench-r1 is killed with SIGKILL, and the clock runs from
// the kill until 20 tasks of the App are Running on the other two (as this process's watch sees
// them). Target: inactiveAfterSeconds + 2 s. Beside it, from the same run: the time the same 20 tasks
// took to start from nothing (the part of a recovery that is not waiting), and the milestones of the
// recovery (node NotReady, tasks Lost).
import type { TaskStatus } from '../api/kinds/task.ts';
import { getCondition } from '../api/object.ts';
import { until } from '../test/helpers/poll.ts';
import { BenchCluster } from './cluster.ts';
import { printTable } from './report.ts';

const INSTANCES = 20;
const INACTIVE_AFTER_SECONDS = 3;
const VICTIM = { name: 'bench-r1', ports: '23000-23099' };
const SURVIVORS = [
  { name: 'bench-r2', ports: '23100-23199' },
  { name: 'bench-r3', ports: '23200-23299' },
];
const APP = 'survivor';

async function main() {
  const cluster = await BenchCluster.start({ nodes: [VICTIM], docker: false, leaseTtlSeconds: 1 });
  try {
    console.log(`capstan bench:recovery — etcd ${cluster.etcd.url}, agents with a 1 s lease, node ${process.version}\n`);
    const runningOn = (predicate: (node: string) => boolean) =>
      cluster.tasksOf(APP).filter((t) => t.status?.phase === 'Running' && predicate(t.spec.nodeName ?? '')).length;

    const createdAt = performance.now();
    await cluster.createApp(APP, {
      instances: INSTANCES,
      driver: 'process',
      containers: [{ cmd: 'exec busybox httpd -f -p $PORT0', resources: { cpus: 0.01, mem: 8 } }],
      ports: [{ name: 'http' }],
      unreachableStrategy: { inactiveAfterSeconds: INACTIVE_AFTER_SECONDS, expungeAfterSeconds: 60 },
    });
    await until(() => runningOn((n) => n === VICTIM.name) === INSTANCES, { timeoutMs: 60_000, intervalMs: 20, what: `${INSTANCES} tasks Running on ${VICTIM.name}` });
    const coldStartSeconds = (performance.now() - createdAt) / 1000;
    for (const node of SURVIVORS) await cluster.startAgent(node);

    // Milestones, stamped as this process's watches see them.
    let lostAt = 0;
    let recoveredAt = 0;
    const subscription = cluster.onTask(APP, () => {
      const now = performance.now();
      const lost = cluster.tasksOf(APP).filter((t) => t.spec.nodeName === VICTIM.name && (t.status as TaskStatus | undefined)?.phase === 'Lost').length;
      if (!lostAt && lost === INSTANCES) lostAt = now;
      if (!recoveredAt && runningOn((n) => n !== VICTIM.name && n !== '') >= INSTANCES) recoveredAt = now;
    });
    const killedAt = performance.now();
    await cluster.agents.get(VICTIM.name)!.kill();
    const notReadyAt = await until(
      async () => {
        const node = await cluster.store.get('Node', { name: VICTIM.name });
        return getCondition((node?.status as { conditions?: [] } | undefined)?.conditions, 'Ready')?.status === 'False' && performance.now();
      },
      { timeoutMs: 30_000, intervalMs: 20, what: `${VICTIM.name} NotReady` },
    );
    await until(() => recoveredAt > 0, { timeoutMs: 60_000, intervalMs: 20, what: `${INSTANCES} tasks Running elsewhere` });
    subscription.unsubscribe();
    const seconds = (at: number) => ((at - killedAt) / 1000).toFixed(2);
    const spread = SURVIVORS.map((node) => `${node.name} ${runningOn((n) => n === node.name)}`).join(', ');

    printTable([
      ['figure (s after kill -9)', 'capstan', 'baseline', 'target'],
      [`all ${INSTANCES} Running elsewhere (${spread})`, seconds(recoveredAt), `${coldStartSeconds.toFixed(2)} cold start of the same ${INSTANCES}`, `≤ ${INACTIVE_AFTER_SECONDS + 2} (inactiveAfterSeconds ${INACTIVE_AFTER_SECONDS} + 2)`],
      ['  node NotReady (lease expired, seen by a poll)', seconds(notReadyAt), '1 s lease TTL', ''],
      [`  all ${INSTANCES} Lost`, lostAt ? seconds(lostAt) : '-', `${INACTIVE_AFTER_SECONDS} inactiveAfterSeconds`, ''],
    ]);
  } finally {
    await cluster.stop();
  }
}

await main();
