// The rollout scenarios of test/rollout.test.ts, on real parts instead of simulated nodes: real etcd,
// every built-in controller in this process (health included: HTTP checks probe the tasks' host
// ports), a private real dockerd and two `capstan agent` OS processes running both drivers, with
// busybox httpd as the workload. An informer on Tasks records the App after every event, and the
// assertions are about those recorded states, as in test/rollout-seed.test.ts.
import type { AppSpec, AppStatus } from '../api/kinds/app.ts';
import type { EventSpec } from '../api/kinds/event.ts';
import { isStoreError } from '../api/errors.ts';
import { getCondition, type CapstanObject } from '../api/object.ts';
import { describe, expect, it } from 'vitest';
import { listEvents } from '../cli/events.ts';
import { spawnCapstan } from './helpers/cli.ts';
import { useCluster, type Task } from './helpers/cluster.ts';
import { until } from './helpers/poll.ts';
import { watchStates, type RolloutState } from './helpers/rollout-states.ts';

type App = CapstanObject<AppSpec, AppStatus>;
type StoredEvent = CapstanObject<EventSpec>;
const NS = 'ra';
// Port ranges of their own (25110–25199), so that this file runs beside the other cluster tests.
const NODES = [
  { name: 'ra-n1', ports: '25110-25154' },
  { name: 'ra-n2', ports: '25155-25199' },
];

type State = RolloutState;

const cluster = useCluster({ suite: `rollout-agents-${process.pid}`, nodes: NODES, docker: true, leaseTtlSeconds: 1, namespace: NS });

/** Writes `page` as index.html and `ok` as healthPage in the task's own working directory, serves them on $PORT0. */
const httpd = (page: string, healthPage = 'healthz') => `echo ${page} > index.html && echo ok > ${healthPage} && exec busybox httpd -f -p $PORT0`;
/** In a container the file system is the task's own: the page goes to /www. */
const containerHttpd = (page: string) => `mkdir -p /www && echo ${page} > /www/index.html && echo ok > /www/healthz && exec busybox httpd -f -p $PORT0 -h /www`;

const httpCheck = { protocol: 'HTTP', portIndex: 0, path: '/healthz', delaySeconds: 0, gracePeriodSeconds: 3, intervalSeconds: 1, timeoutSeconds: 1, maxConsecutiveFailures: 3 };

function appSpec(options: { cmd: string; instances: number; docker?: boolean; extra?: Record<string, unknown> }): Record<string, unknown> {
  return {
    instances: options.instances,
    driver: options.docker ? 'docker' : 'process',
    containers: [{ ...(options.docker ? { image: cluster.dockerd!.image } : {}), cmd: options.cmd, resources: { cpus: 0.01, mem: options.docker ? 32 : 4 } }],
    ports: [{ name: 'http' }],
    healthChecks: [httpCheck],
    progressDeadlineSeconds: 60,
    ...options.extra,
  };
}

const getApp = (name: string) => cluster.store.mustGet<App>('App', { namespace: NS, name });

async function setCmd(name: string, cmd: string): Promise<void> {
  for (;;) {
    try {
      const app = await getApp(name);
      await cluster.store.update({ ...app, spec: { ...app.spec, containers: [{ ...app.spec.containers[0]!, cmd }] } });
      return;
    } catch (error) {
      if (!isStoreError(error, 'Conflict')) throw error;
    }
  }
}

async function settledOn(name: string, revision: number, phase = 'Complete', timeoutMs = 40_000): Promise<App> {
  let last: App | undefined;
  return until(
    async () => {
      const app = (last = await getApp(name));
      return app.status?.currentRevision === revision && app.status.rollout?.phase === phase && Boolean(app.status.rollout.completedAt) && app;
    },
    { timeoutMs, intervalMs: 50, what: `${name} settled on revision ${revision} (${phase})` },
  ).catch(async (error: Error) => {
    throw new Error(`${error.message}; last status: ${JSON.stringify(last?.status?.rollout)}\n${await cluster.describe()}`);
  });
}

/**
 * Creates App web with `spec`, changes its command to `cmd` once it settled, and returns what its
 * tasks went through until the new revision settled, and the seconds that took.
 */
async function upgradeWeb(spec: Record<string, unknown>, cmd: string): Promise<{ states: readonly State[]; seconds: string }> {
  await cluster.createApp('web', spec);
  await settledOn('web', 1);
  const watch = await watchStates(cluster.client, cluster.store.kind('Task'), 'web');
  const started = Date.now();
  try {
    await setCmd('web', cmd);
    await settledOn('web', 2);
  } finally {
    await watch.stop();
  }
  return { states: watch.states, seconds: ((Date.now() - started) / 1000).toFixed(1) };
}

const summary = (states: readonly State[]) =>
  `${states.length} states, min healthy ${Math.min(...states.map((s) => s.healthy))}, max live ${Math.max(...states.map((s) => s.live))}`;

describe('rolling upgrades with real agents, both drivers, and real HTTP health checks', () => {
  it('defaults 1.0 / 1.0, 4 docker instances: the 4 new tasks start first, then the old ones go as new ones become healthy', async () => {
    const { states, seconds } = await upgradeWeb(appSpec({ cmd: containerHttpd('v1'), instances: 4, docker: true }), containerHttpd('v2'));
    console.log(`docker 1.0 / 1.0: ${seconds} s, ${summary(states)}`);
    expect(Math.min(...states.map((s) => s.healthy))).toBeGreaterThanOrEqual(4);
    expect(Math.max(...states.map((s) => s.live))).toBeLessThanOrEqual(8);
    // All four new ones were live while all four old ones still were, and healthy.
    expect(states.some((s) => s.byRevision[1]?.live === 4 && s.byRevision[1].healthy === 4 && s.byRevision[2]?.live === 4)).toBe(true);
    // No old task went before a new one was healthy: old live + new healthy never fell below 4.
    expect(states.every((s) => (s.byRevision[1]?.live ?? 0) + (s.byRevision[2]?.healthy ?? 0) >= 4)).toBe(true);
    expect(states.at(-1)).toMatchObject({ live: 4, healthy: 4, byRevision: { 2: { live: 4, healthy: 4 } } });
    const running = await cluster.liveTasksOf('web');
    expect(running.every((t) => t.spec.revision === 2 && t.status?.runtime?.driver === 'docker')).toBe(true);
    // What really runs converges too: the old containers stop within their kill grace period (1 s).
    await until(async () => (await cluster.containers('web')).filter((c) => c.State === 'running').length === 4, { timeoutMs: 10_000, what: '4 running containers of web' });
  }, 60_000);

  it('0.5 / 0, 4 process instances: 2 old tasks are killed before any new one exists, never more than 4 live', async () => {
    const upgrade = appSpec({ cmd: httpd('v1'), instances: 4, extra: { upgradeStrategy: { minimumHealthCapacity: 0.5, maximumOverCapacity: 0 } } });
    const { states, seconds } = await upgradeWeb(upgrade, httpd('v2'));
    console.log(`process 0.5 / 0: ${seconds} s, ${summary(states)}`);
    const firstNew = states.findIndex((s) => (s.byRevision[2]?.live ?? 0) > 0);
    expect(firstNew).toBeGreaterThan(0);
    expect(states.slice(0, firstNew).some((s) => s.live === 2)).toBe(true);
    expect(states[firstNew]!.byRevision[1]?.live).toBe(2);
    expect(Math.min(...states.map((s) => s.healthy))).toBeGreaterThanOrEqual(2);
    expect(Math.max(...states.map((s) => s.live))).toBeLessThanOrEqual(4);
    expect(states.at(-1)).toMatchObject({ live: 4, healthy: 4, byRevision: { 2: { live: 4, healthy: 4 } } });
  }, 60_000);

  it('a revision whose health never passes is rolled back within progressDeadlineSeconds, the old revision answering every poll', async () => {
    const deadlineSeconds = 5;
    await cluster.createApp('fragile', appSpec({ cmd: httpd('v1'), instances: 3, extra: { progressDeadlineSeconds: deadlineSeconds } }));
    await settledOn('fragile', 1);
    const old = await cluster.liveTasksOf('fragile');
    const oldPorts = old.map((t) => t.spec.hostPorts![0]!);
    expect(oldPorts).toHaveLength(3);

    // Poll every old task over HTTP, from before the apply until the rollback is done.
    let polling = true;
    const answers: number[] = [];
    const poller = (async () => {
      while (polling) {
        const codes = await Promise.all(
          oldPorts.map((port) =>
            fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2000) }).then(
              (r) => r.status,
              () => 0,
            ),
          ),
        );
        answers.push(...codes);
        // Paces the probe (not a wait for state): a busy loop would fork httpd children back to back.
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();

    const started = Date.now();
    let rolledBack: App;
    try {
      // Revision 2 writes another page than the one its health check asks for: /healthz is a 404.
      await setCmd('fragile', httpd('v2', 'other'));
      rolledBack = await settledOn('fragile', 1, 'RolledBack', (deadlineSeconds + 10) * 1000);
    } finally {
      polling = false;
      await poller;
    }
    const seconds = (Date.now() - started) / 1000;
    console.log(`rollback: ${seconds.toFixed(1)} s after the apply (deadline ${deadlineSeconds} s), ${answers.length} polls of the old tasks, ${answers.filter((c) => c === 200).length} answered 200`);
    expect(seconds).toBeLessThanOrEqual(deadlineSeconds + 8);
    expect(answers.length).toBeGreaterThan(3 * 50);
    expect(answers.every((code) => code === 200)).toBe(true);
    // The old tasks are the ones still serving: none was replaced.
    expect((await cluster.liveTasksOf('fragile')).map((t) => t.metadata.name).sort()).toEqual(old.map((t) => t.metadata.name).sort());

    expect(rolledBack.status!.rollout!.phase).toBe('RolledBack');
    expect(getCondition(rolledBack.status!.conditions, 'Progressing')).toMatchObject({ status: 'False', reason: 'RolledBack' });
    // Events are leased keys (read as describe reads them), recorded after the App's status: wait for them.
    const reasons = async () =>
      ((await listEvents(cluster.client, cluster.store, NS)) as StoredEvent[]).filter((e) => e.spec.involvedObject.name === 'fragile').map((e) => e.spec.reason);
    await until(async () => {
      const all = await reasons();
      return ['ProgressDeadlineExceeded', 'RolledBack'].every((r) => all.includes(r));
    }, {
      timeoutMs: 5_000,
      what: 'events ProgressDeadlineExceeded and RolledBack of fragile',
    }).catch(async (error: Error) => Promise.reject(new Error(`${error.message}; events: ${(await reasons()).join(', ')}`)));
    const described = await spawnCapstan(['-n', NS, 'describe', 'app', 'fragile'], { env: { CAPSTAN_ETCD: cluster.etcd.url } });
    expect(described.code).toBe(0);
    expect(described.stdout).toContain('rolled back');
  }, 60_000);

  it('db → api → web: each App starts only once its dependency is healthy', async () => {
    await Promise.all([
      cluster.createApp('web', appSpec({ cmd: httpd('web'), instances: 2, extra: { dependencies: ['api'] } })),
      cluster.createApp('api', appSpec({ cmd: httpd('api'), instances: 2, extra: { dependencies: ['db'] } })),
      cluster.createApp('db', appSpec({ cmd: httpd('db'), instances: 2 })),
    ]);
    for (const name of ['db', 'api', 'web']) await settledOn(name, 1);
    const tasks = (await cluster.store.list<Task>('Task', { namespace: NS })).items.filter((t) => !t.metadata.deletionTimestamp);
    const of = (app: string) => tasks.filter((t) => t.spec.app === app);
    const healthySince = (t: Task) => Date.parse(getCondition(t.status?.conditions, 'Healthy')!.lastTransitionTime!);
    const allHealthy = (app: string) => Math.max(...of(app).map(healthySince));
    const firstStarted = (app: string) => Math.min(...of(app).map((t) => Date.parse(t.status!.startedAt!)));
    for (const app of ['db', 'api', 'web']) {
      expect(of(app)).toHaveLength(2);
      expect(of(app).every((t) => t.status?.phase === 'Running' && getCondition(t.status.conditions, 'Healthy')?.status === 'True')).toBe(true);
    }
    console.log(`dependencies: db healthy → api started ${firstStarted('api') - allHealthy('db')} ms, api healthy → web started ${firstStarted('web') - allHealthy('api')} ms`);
    expect(firstStarted('api')).toBeGreaterThan(allHealthy('db'));
    expect(firstStarted('web')).toBeGreaterThan(allHealthy('api'));
  }, 60_000);
});
