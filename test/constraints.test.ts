// Marathon's constraint semantics end to end (issue 13): three real `capstan agent` processes
// (process driver, one cpu each, racks a, b and c), real etcd, every built-in controller (health
// included: HTTP checks probe the tasks' ports).
//   - A hostname:UNIQUE App on exactly as many nodes as instances upgrades with 0.66 / 0: the new
//     revision's tasks may sit beside old ones (only the placing task's revision counts), the rollout
//     completes and the App never has fewer than 2 healthy tasks.
//   - GROUP_BY keeps filling the other racks when one rack's only node is full.
import { dump } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import type { AppSpec, AppStatus } from '../api/kinds/app.ts';
import { Informer } from '../api/informer.ts';
import type { CapstanObject } from '../api/object.ts';
import { isBound } from '../controllers/scheduler/demand.ts';
import { capstan } from './helpers/cli.ts';
import { HTTPD, useCluster, type Task } from './helpers/cluster.ts';
import { until } from './helpers/poll.ts';
import { watchStates } from './helpers/rollout-states.ts';

type App = CapstanObject<AppSpec, AppStatus>;

// Names and port ranges of this file's own: vitest runs test files in parallel on one machine.
const NODES = [
  { name: 'con-n1', ports: '28110-28129', attributes: { rack: 'a' }, extraArgs: ['--cpus', '1'] },
  { name: 'con-n2', ports: '28130-28149', attributes: { rack: 'b' }, extraArgs: ['--cpus', '1'] },
  { name: 'con-n3', ports: '28150-28169', attributes: { rack: 'c' }, extraArgs: ['--cpus', '1'] },
];
const rackOf = (task: Task) => NODES.find((n) => n.name === task.spec.nodeName)!.attributes.rack;

const cluster = useCluster({ suite: `constraints-${process.pid}`, nodes: NODES, leaseTtlSeconds: 1 });

const web = (page: string) => ({
  driver: 'process',
  containers: [{ cmd: HTTPD(page), resources: { cpus: 0.1, mem: 16 } }],
  ports: [{ name: 'http' }],
  healthChecks: [{ protocol: 'HTTP', portIndex: 0, path: '/', gracePeriodSeconds: 5, intervalSeconds: 1, timeoutSeconds: 1, maxConsecutiveFailures: 3, delaySeconds: 0 }],
});

/** The nodes on which, at some moment, a task of revision 1 and one of revision 2 of `uniq` were both bound and not finished. */
async function watchSharedNodes() {
  const informer = new Informer(cluster.client, cluster.store.kind('Task'));
  const nodes = new Set<string>();
  const subscription = informer.events$.subscribe(() => {
    const revisionsOn = new Map<string, Set<number>>();
    for (const task of informer.list((t) => (t.spec as Task['spec']).app === 'uniq' && isBound(t))) {
      const spec = task.spec as Task['spec'];
      revisionsOn.set(spec.nodeName!, (revisionsOn.get(spec.nodeName!) ?? new Set()).add(spec.revision));
    }
    for (const [node, revisions] of revisionsOn) if (revisions.size > 1) nodes.add(node);
  });
  await informer.start();
  return {
    nodes,
    async stop() {
      subscription.unsubscribe();
      await informer.stop();
    },
  };
}

describe("Marathon's constraints on real agents", () => {
  it('upgrades a 3-instance hostname:UNIQUE App on exactly 3 nodes with 0.66 / 0, never below 2 healthy', async () => {
    // Written as a Marathon user may: the operator in lower case, the field as @hostname.
    const manifest = (page: string) =>
      dump({
        apiVersion: 'capstan/v1',
        kind: 'App',
        metadata: { name: 'uniq', namespace: cluster.namespace },
        spec: cluster.withMarker({
          ...web(page),
          instances: 3,
          constraints: [['@hostname', 'unique']],
          upgradeStrategy: { minimumHealthCapacity: 0.66, maximumOverCapacity: 0 },
          progressDeadlineSeconds: 60,
        }),
      });
    const apply = (page: string) => capstan(['apply', '-f', '-'], { etcd: cluster.etcd.url, stdin: manifest(page) });
    expect(await apply('www1')).toMatchObject({ code: 0, stdout: 'app/uniq created\n' });
    // Stored upper-case, so the same manifest again changes nothing (and makes no revision).
    expect(await apply('www1')).toMatchObject({ code: 0, stdout: 'app/uniq unchanged\n' });
    const settled = (revision: number) =>
      until(
        async () => {
          const app = await cluster.store.mustGet<App>('App', { namespace: cluster.namespace, name: 'uniq' });
          return app.status?.currentRevision === revision && app.status.rollout?.phase === 'Complete' && app;
        },
        { timeoutMs: 60_000, intervalMs: 100, what: `uniq complete on revision ${revision}` },
      ).catch(async (error: Error) => Promise.reject(new Error(`${error.message}\n${await cluster.describe()}`)));
    await settled(1);
    const first = await cluster.liveTasksOf('uniq');
    expect(new Set(first.map((t) => t.spec.nodeName)).size).toBe(3);
    expect((await cluster.store.mustGet<App>('App', { namespace: cluster.namespace, name: 'uniq' })).spec.constraints).toEqual([['@hostname', 'UNIQUE']]);

    const watch = await watchStates(cluster.client, cluster.store.kind('Task'), 'uniq');
    const shared = await watchSharedNodes();
    try {
      expect(await apply('www2')).toMatchObject({ code: 0, stdout: 'app/uniq configured\n' });
      await settled(2);
    } finally {
      await Promise.all([watch.stop(), shared.stop()]);
    }
    const after = await cluster.liveTasksOf('uniq');
    expect(after.map((t) => t.spec.revision)).toEqual([2, 2, 2]);
    expect(new Set(after.map((t) => t.spec.nodeName)).size).toBe(3);
    // minimumHealthCapacity 0.66 of 3 is 2 healthy, at every state the watch saw; maximumOverCapacity 0 is at most 3 live.
    const fewestHealthy = Math.min(...watch.states.map((s) => s.healthy));
    const mostLive = Math.max(...watch.states.map((s) => s.live));
    expect(fewestHealthy).toBeGreaterThanOrEqual(2);
    expect(mostLive).toBeLessThanOrEqual(3);
    // A new task was bound to a node whose old task still held it (running, or stopping): the old
    // revision's tasks were not counted. Counting them, the new task waits until the old one is gone.
    expect(shared.nodes.size).toBeGreaterThan(0);
  });

  it('keeps filling the other racks under GROUP_BY while one rack has no room', async () => {
    // Rack a's only node is full: a filler App pinned there takes its one cpu.
    await cluster.createApp('filler', { driver: 'process', containers: [{ cmd: 'exec busybox sleep 1000', resources: { cpus: 1, mem: 16 } }], constraints: [['hostname', 'CLUSTER', 'con-n1']] });
    await cluster.untilRunning('filler', 1);
    await cluster.createApp('grouped', { ...web('www'), healthChecks: [], instances: 4, constraints: [['rack', 'GROUP_BY']] });
    const running = await cluster.untilRunning('grouped', 4, { timeoutMs: 20_000 });
    const byRack = running.reduce<Record<string, number>>((acc, t) => ({ ...acc, [rackOf(t)]: (acc[rackOf(t)] ?? 0) + 1 }), {});
    expect(byRack).toEqual({ b: 2, c: 2 });
  });
});
