// Rolling upgrades, rollback, pause/resume/undo and dependencies through the real controllers
// (rollout, replicas, scheduler, nodes, gc) on real etcd, with simulated nodes. What an agent and the
// health checks would do is played by this test: a bound task turns Running, and its Healthy and
// Ready conditions are set from its command (a command containing "broken" never becomes healthy).
// That stand-in is only for these pure-rollout tests: test/rollout-seed.test.ts runs real agents and
// real health checks.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Lease } from 'etcd3';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { nodeLeaseKey } from '../api/keys.ts';
import type { AppSpec, AppStatus } from '../api/kinds/app.ts';
import { builtinRegistry } from '../api/kinds/builtin.ts';
import type { RevisionSpec, RevisionStatus } from '../api/kinds/revision.ts';
import { isTerminal, type TaskSpec, type TaskStatus } from '../api/kinds/task.ts';
import { AGENT_FINALIZER } from '../api/kinds/wellknown.ts';
import { isStoreError } from '../api/errors.ts';
import { getCondition, type CapstanObject } from '../api/object.ts';
import { runControllers, type RunningControllers } from '../controllers/builtin.ts';
import { capstan } from './helpers/cli.ts';
import { useStore } from './helpers/etcd.ts';
import { until } from './helpers/poll.ts';
import { watchStates, type RolloutState } from './helpers/rollout-states.ts';

type Task = CapstanObject<TaskSpec, TaskStatus>;
type App = CapstanObject<AppSpec, AppStatus>;
type Revision = CapstanObject<RevisionSpec, RevisionStatus>;
const NS = 'default';
const log = pino({ level: 'silent' });
/** A new task becomes healthy and ready this long after it starts running. */
const HEALTHY_AFTER_MS = 250;

type State = RolloutState;

describe('rolling upgrades on simulated nodes', () => {
  const db = useStore(builtinRegistry(), { clearEachTest: true });
  let controllers: RunningControllers | undefined;
  let stopAgent: (() => Promise<void>) | undefined;
  const leases: Lease[] = [];

  beforeEach(async () => {
    // No health controller: this test plays the health of its tasks itself.
    controllers = await runControllers({ store: db.store, leaderElection: false, logger: log, handleSignals: false, only: ['rollout', 'replicas', 'scheduler', 'nodes', 'gc'] });
    for (const name of ['n1', 'n2']) await addNode(name);
    stopAgent = fakeAgent();
  });
  afterEach(async () => {
    await stopAgent?.();
    await controllers?.stop();
    for (const lease of leases.splice(0)) await lease.revoke().catch(() => undefined);
  });

  async function addNode(name: string) {
    await db.store.create({
      apiVersion: 'capstan/v1',
      kind: 'Node',
      metadata: { name },
      spec: { address: '127.0.0.1', attributes: { hostname: name }, capacity: { cpus: 64, mem: 65536 }, portRange: { from: 31000, to: 31999 } },
      status: { leaseTTLSeconds: 1 },
    });
    const lease = db.client.lease(1);
    await lease.put(nodeLeaseKey(name)).value('alive');
    leases.push(lease);
    await until(async () => getCondition(((await db.store.mustGet('Node', { name })).status as { conditions?: [] })?.conditions, 'Ready')?.status === 'True', {
      what: `${name} Ready`,
    });
  }

  /**
   * What the agents and health checks would do: bound tasks run; a task is healthy and ready
   * HEALTHY_AFTER_MS after it started unless its command contains "broken"; a deleted task's
   * workload stops at once (the agent's finalizer goes).
   */
  function fakeAgent(): () => Promise<void> {
    let stopped = false;
    const loop = (async () => {
      while (!stopped) {
        const { items } = await db.store.list<Task>('Task').catch(() => ({ items: [] as Task[] }));
        for (const task of items) await playTask(task).catch(() => undefined);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    return async () => {
      stopped = true;
      await loop;
    };
  }

  async function playTask(task: Task) {
    if (task.metadata.deletionTimestamp) {
      if (task.metadata.finalizers?.includes(AGENT_FINALIZER)) {
        await db.store.update({ ...task, metadata: { ...task.metadata, finalizers: task.metadata.finalizers.filter((f) => f !== AGENT_FINALIZER) } });
      }
      return;
    }
    if (!task.spec.nodeName || isTerminal(task.status?.phase)) return;
    const now = new Date();
    if (task.status?.phase !== 'Running') {
      await db.store.updateStatus({ ...task, status: { ...task.status, phase: 'Running', startedAt: now.toISOString() } });
      return;
    }
    const broken = task.spec.template.containers.some((c) => c.cmd?.includes('broken'));
    const due = now.getTime() - Date.parse(task.status.startedAt!) >= HEALTHY_AFTER_MS;
    const wanted = broken ? 'False' : due ? 'True' : undefined;
    if (!wanted || getCondition(task.status.conditions, 'Healthy')?.status === wanted) return;
    const condition = (type: string) => ({ type, status: wanted, reason: wanted === 'True' ? 'Passed' : 'Failed', lastTransitionTime: now.toISOString() });
    await db.store.updateStatus({ ...task, status: { ...task.status, conditions: [condition('Healthy'), condition('Ready')] } });
  }


  const container = (cmd: string) => ({ cmd, resources: { cpus: 0.01, mem: 1 } });
  // A COMMAND check is probed by agents only: here, the test plays it.
  const checked = { healthChecks: [{ protocol: 'COMMAND', command: 'true', gracePeriodSeconds: 0, intervalSeconds: 1, timeoutSeconds: 1 }] };

  async function createApp(name: string, spec: Record<string, unknown>) {
    await db.store.create({ apiVersion: 'capstan/v1', kind: 'App', metadata: { name, namespace: NS }, spec: { driver: 'process', containers: [container('sleep 100')], ...checked, ...spec } });
  }
  async function changeApp(name: string, change: (app: App) => App) {
    for (;;) {
      try {
        return await db.store.update(change(await db.store.mustGet<App>('App', { namespace: NS, name })));
      } catch (error) {
        if (!isStoreError(error, 'Conflict')) throw error;
      }
    }
  }
  const setCmd = (name: string, cmd: string) => changeApp(name, (app) => ({ ...app, spec: { ...app.spec, containers: [{ ...app.spec.containers[0]!, cmd }] } }));
  const getApp = (name: string) => db.store.mustGet<App>('App', { namespace: NS, name });
  const settledOn = (name: string, revision: number, phase = 'Complete') =>
    until(
      async () => {
        const app = await getApp(name);
        return app.status?.currentRevision === revision && app.status.rollout?.phase === phase && Boolean(app.status.rollout.completedAt) && app;
      },
      { timeoutMs: 30_000, what: `${name} settled on revision ${revision} (${phase})` },
    );
  const revisionsOf = async (name: string) =>
    (await db.store.list<Revision>('Revision', { namespace: NS, labelSelector: `capstan.io/app=${name}` })).items.sort((a, b) => a.spec.number - b.spec.number);
  /** Creates App web with `spec`, changes its command once it settled, and returns what its tasks went through until the new revision settled. */
  const statesOfUpgrade = async (spec: Record<string, unknown>) => {
    await createApp('web', spec);
    await settledOn('web', 1);
    const watch = await watchStates(db.client, db.store.kind('Task'), 'web');
    await setCmd('web', 'sleep 200');
    await settledOn('web', 2);
    await watch.stop();
    return watch.states;
  };

  it('defaults 1.0 / 1.0 with 4 instances: 4 new tasks start, then the old ones go one by one', async () => {
    const states = await statesOfUpgrade({ instances: 4 });
    expect(Math.min(...states.map((s) => s.healthy))).toBeGreaterThanOrEqual(4);
    expect(Math.max(...states.map((s) => s.live))).toBeLessThanOrEqual(8);
    // All four new ones were live while all four old ones still were.
    expect(states.some((s) => s.byRevision[1]?.live === 4 && s.byRevision[2]?.live === 4)).toBe(true);
    // The old ones went one at a time: the old count took every value from 4 down to 0.
    const oldCounts = [...new Set(states.map((s) => s.byRevision[1]?.live ?? 0))];
    expect(oldCounts).toEqual([4, 3, 2, 1, 0]);
    expect(states.at(-1)!.byRevision[2]).toEqual({ live: 4, healthy: 4 });
  });

  it('0.5 / 0 with 4 instances kills 2 old tasks before any new one starts, and never exceeds 4', async () => {
    const states = await statesOfUpgrade({ instances: 4, upgradeStrategy: { minimumHealthCapacity: 0.5, maximumOverCapacity: 0 } });
    const firstNew = states.find((s) => (s.byRevision[2]?.live ?? 0) > 0)!;
    expect(firstNew.byRevision[1]?.live).toBe(2);
    expect(Math.min(...states.map((s) => s.healthy))).toBeGreaterThanOrEqual(2);
    expect(Math.max(...states.map((s) => s.live))).toBeLessThanOrEqual(4);
  });

  it('a revision whose health never passes is rolled back within progressDeadlineSeconds, the old revision serving throughout', async () => {
    await createApp('web', { instances: 3, progressDeadlineSeconds: 3 });
    await settledOn('web', 1);
    const watch = await watchStates(db.client, db.store.kind('Task'), 'web');
    const started = Date.now();
    await setCmd('web', 'sleep 100 # broken');
    const rolledBack = await settledOn('web', 1, 'RolledBack');
    const elapsed = (Date.now() - started) / 1000;
    await watch.stop();
    expect(elapsed).toBeLessThan(3 + 4);
    expect(elapsed).toBeGreaterThanOrEqual(3);
    // Revision 1 kept every instance healthy the whole time (1.0 / 1.0 never kills a healthy old task
    // before a new one is healthy and ready).
    expect(Math.min(...watch.states.map((s) => s.byRevision[1]?.healthy ?? 0))).toBe(3);
    expect(watch.states.at(-1)!.byRevision[2]?.live ?? 0).toBe(0);
    // The App's template is revision 1's again; no revision 3 was made for it.
    expect(rolledBack.spec.containers[0]!.cmd).toBe('sleep 100');
    expect((await revisionsOf('web')).map((r) => r.spec.number)).toEqual([1, 2]);
    const progressing = getCondition(rolledBack.status!.conditions, 'Progressing')!;
    expect(progressing).toMatchObject({ status: 'False', reason: 'RolledBack' });
    expect(progressing.message).toBe('revision 2 made no progress for 3 s (progressDeadlineSeconds): rolled back to revision 1, its last fully healthy revision');

    const describe = await capstan(['describe', 'app', 'web'], { etcd: db.etcd.url });
    expect(describe.stdout).toContain('RolledBack');
    expect(describe.stdout).toContain('revision 2 made no progress for 3 s');
    expect(describe.stdout).toMatch(/ProgressDeadlineExceeded/);
    const status = await capstan(['rollout', 'status', 'web', '--timeout', '5s'], { etcd: db.etcd.url });
    expect(status.code).toBe(1);
    expect(status.stdout).toContain('RolledBack');
  });

  it('pause holds a template change, resume rolls it out, undo goes back to revision 1 and reuses it', async () => {
    await createApp('web', { instances: 2 });
    await settledOn('web', 1);
    expect((await capstan(['rollout', 'pause', 'web'], { etcd: db.etcd.url })).stdout).toBe('app/web paused\n');
    const changed = await setCmd('web', 'sleep 200');
    await until(async () => {
      const app = await getApp('web');
      return app.status?.observedGeneration === changed.metadata.generation && app.status?.rollout?.phase === 'Paused' && app;
    }, { what: 'the rollout to say Paused' });
    expect((await revisionsOf('web')).map((r) => r.spec.number)).toEqual([1]);

    expect((await capstan(['rollout', 'resume', 'web'], { etcd: db.etcd.url })).code).toBe(0);
    const status = await capstan(['rollout', 'status', 'web', '--timeout', '20s'], { etcd: db.etcd.url });
    expect(status.code).toBe(0);
    expect(status.stdout).toContain('Complete');
    await settledOn('web', 2);

    const undo = await capstan(['rollout', 'undo', 'web'], { etcd: db.etcd.url });
    expect(undo.stdout).toBe('app/web rolled back to revision 1\n');
    const back = await settledOn('web', 1);
    expect(back.spec.containers[0]!.cmd).toBe('sleep 100');
    expect((await revisionsOf('web')).map((r) => r.spec.number)).toEqual([1, 2]);

    const history = await capstan(['rollout', 'history', 'web'], { etcd: db.etcd.url });
    // Revision 2 was fully healthy once, but the stable revision (the rollback target) is 1 again.
    expect(history.stdout).toMatch(/^1 \(current\)\s+2\s+2\s+yes\s+\S+\s+sleep 100$/m);
    expect(history.stdout).toMatch(/^2\s+0\s+0\s+no\s+\S+\s+sleep 200$/m);

    await capstan(['rollout', 'undo', 'web', '--to-revision', '2'], { etcd: db.etcd.url });
    await settledOn('web', 2);
  });

  it('rollout restart replaces every task under a new revision of the same template', async () => {
    await createApp('web', { instances: 2 });
    await settledOn('web', 1);
    const before = (await db.store.list<Task>('Task', { namespace: NS })).items.map((t) => t.metadata.name);
    expect((await capstan(['rollout', 'restart', 'web'], { etcd: db.etcd.url })).code).toBe(0);
    await settledOn('web', 2);
    const after = (await db.store.list<Task>('Task', { namespace: NS })).items.filter((t) => !t.metadata.deletionTimestamp && t.spec.revision === 2);
    expect(after).toHaveLength(2);
    expect(after.some((t) => before.includes(t.metadata.name))).toBe(false);
    const [first, second] = await revisionsOf('web');
    expect(second!.spec.template).toEqual(first!.spec.template);
  });

  it('applying the App\'s manifest again keeps rollout restart and pause: no second restart, still paused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'capstan-apply-'));
    const file = join(dir, 'web.yaml');
    writeFileSync(
      file,
      stringify({ apiVersion: 'capstan/v1', kind: 'App', metadata: { name: 'web', namespace: NS }, spec: { instances: 2, driver: 'process', containers: [container('sleep 100')], ...checked } }),
    );
    try {
      expect((await capstan(['apply', '-f', file], { etcd: db.etcd.url })).code).toBe(0);
      await settledOn('web', 1);
      expect((await capstan(['rollout', 'restart', 'web'], { etcd: db.etcd.url })).code).toBe(0);
      await settledOn('web', 2);
      const again = await capstan(['apply', '-f', file], { etcd: db.etcd.url });
      expect(again.code).toBe(0);
      expect(again.stdout).toContain('unchanged');
      expect((await capstan(['rollout', 'pause', 'web'], { etcd: db.etcd.url })).code).toBe(0);
      expect((await capstan(['apply', '-f', file], { etcd: db.etcd.url })).code).toBe(0);
      const app = await getApp('web');
      expect(app.metadata.annotations).toMatchObject({ 'capstan.io/paused': 'true' });
      expect(app.metadata.annotations?.['capstan.io/restartedAt']).toBeDefined();
      expect((await revisionsOf('web')).map((r) => r.spec.number)).toEqual([1, 2]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('starts db, then api, then web (dependencies), observed in the tasks\' start times', async () => {
    await createApp('web', { instances: 2, dependencies: ['api'] });
    await createApp('api', { instances: 2, dependencies: ['db'] });
    await createApp('db', { instances: 2 });
    for (const name of ['db', 'api', 'web']) await settledOn(name, 1);
    const { items } = await db.store.list<Task>('Task', { namespace: NS });
    const times = (app: string) => items.filter((t) => t.spec.app === app).map((t) => ({ created: Date.parse(t.metadata.creationTimestamp!), started: Date.parse(t.status!.startedAt!) }));
    const lastStarted = (app: string) => Math.max(...times(app).map((t) => t.started));
    const firstCreated = (app: string) => Math.min(...times(app).map((t) => t.created));
    // Not merely started later: created only once the dependency's tasks were all running (and healthy).
    expect(firstCreated('api')).toBeGreaterThan(lastStarted('db'));
    expect(firstCreated('web')).toBeGreaterThan(lastStarted('api'));
  });

  it('a missing dependency shows in status and describe, and the App starts once it exists', async () => {
    await createApp('api', { instances: 1, dependencies: ['ghost', 'other/db'] });
    const waiting = await until(async () => {
      const app = await getApp('api');
      return getCondition(app.status?.conditions, 'DependenciesReady')?.status === 'False' && app;
    }, { what: 'DependenciesReady=False' });
    expect(getCondition(waiting.status!.conditions, 'DependenciesReady')!.message).toBe('missing App(s): default/ghost, other/db');
    expect(waiting.status!.rollout?.phase).toBe('Waiting');
    expect((await revisionsOf('api'))).toHaveLength(0);
    const describe = await capstan(['describe', 'app', 'api'], { etcd: db.etcd.url });
    expect(describe.stdout).toContain('missing App(s): default/ghost, other/db');

    await createApp('ghost', { instances: 1 });
    await db.store.create({ apiVersion: 'capstan/v1', kind: 'App', metadata: { name: 'db', namespace: 'other' }, spec: { driver: 'process', containers: [container('sleep 100')], ...checked } });
    const ready = await settledOn('api', 1);
    expect(getCondition(ready.status!.conditions, 'DependenciesReady')).toMatchObject({ status: 'True' });
  });

  it('apply rejects a dependency cycle, in the input or through the store, naming it', async () => {
    const app = (name: string, deps: string[]) =>
      `apiVersion: capstan/v1\nkind: App\nmetadata: {name: ${name}}\nspec: {driver: process, containers: [{cmd: sleep 1}], dependencies: [${deps.join(', ')}]}\n`;
    const input = [app('a', ['b']), app('b', ['c']), app('c', ['a'])].join('---\n');
    const result = await capstan(['apply', '-f', '-'], { etcd: db.etcd.url, stdin: input });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('the cycle a → b → c → a');
    expect(result.stderr).toContain('nothing was applied');

    expect((await capstan(['apply', '-f', '-'], { etcd: db.etcd.url, stdin: app('x', ['y']) })).code).toBe(0);
    const closing = await capstan(['apply', '-f', '-'], { etcd: db.etcd.url, stdin: app('y', ['x']) });
    expect(closing.code).toBe(1);
    expect(closing.stderr).toContain('the cycle y → x → y');
  });

  it('the examples apply cleanly together: capstan apply -f manifests/', async () => {
    const result = await capstan(['apply', '-f', 'manifests/'], { etcd: db.etcd.url });
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/^app\/rolling created$/m);
    expect(result.stdout).toMatch(/^app\/fragile created$/m);
  });

  it('apply --wait follows the rollout it started and exits 0 when it completes, 1 when it is rolled back', async () => {
    const manifest = (cmd: string) =>
      `apiVersion: capstan/v1\nkind: App\nmetadata: {name: web}\nspec:\n  instances: 3\n  driver: process\n  progressDeadlineSeconds: 2\n  containers: [{cmd: "${cmd}", resources: {cpus: 0.01, mem: 1}}]\n  healthChecks: [{protocol: COMMAND, command: "true"}]\n`;
    const first = await capstan(['apply', '-f', '-', '--wait', '--timeout', '30s'], { etcd: db.etcd.url, stdin: manifest('sleep 100') });
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^app\/web created$/m);
    expect(first.stdout).toMatch(/^app\/web {2}revision 1: new 3\/3 ready, old 0, healthy 3 {2}Complete/m);

    const bad = await capstan(['apply', '-f', '-', '--wait', '--timeout', '30s'], { etcd: db.etcd.url, stdin: manifest('sleep 100 # broken') });
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('RolledBack — revision 2 made no progress for 2 s');

    const timeout = await capstan(['apply', '-f', '-', '--wait', '--timeout', '1s'], { etcd: db.etcd.url, stdin: manifest('sleep 300 # broken') });
    expect(timeout.code).toBe(1);
    expect(timeout.stderr).toContain('timed out after 1 s waiting for app/web');
  });
});

