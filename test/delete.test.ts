// `capstan delete --wait`, `--force` and `--timeout` against a real etcd with the controllers that
// own Apps, Revisions and Tasks (rollout, replicas, gc, task-gc) running in this process. The node
// is simulated: the test binds the tasks (as the scheduler) and releases their agent finalizer (as
// the agent, once a workload stopped), so it decides when a task has finished terminating.
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { builtinRegistry } from '../api/kinds/builtin.ts';
import { nodeTaskIndexKey } from '../api/keys.ts';
import { AGENT_FINALIZER, APP_LABEL, FOREGROUND_FINALIZER } from '../api/kinds/wellknown.ts';
import { nodeTaskIndexEntry } from '../api/node-index.ts';
import type { AnyObject } from '../api/object.ts';
import { runControllers, type RunningControllers } from '../controllers/builtin.ts';
import { capstan, startCapstan } from './helpers/cli.ts';
import { TestCluster } from './helpers/cluster.ts';
import { useStore } from './helpers/etcd.ts';
import { until } from './helpers/poll.ts';

const NODE = 'delete-n1';
/** The real agent's node: name and host ports unique to this file (vitest runs files in parallel). */
const AGENT_NODE = { name: 'del-n1', ports: '24700-24719' };
/** A workload that takes about a second to stop: on SIGTERM its shell sleeps 1 s before exiting. */
const SLOW_TO_STOP = "exec busybox sh -c 'trap \"busybox sleep 1; exit 0\" TERM; while true; do busybox sleep 0.1; done'";

describe('capstan delete', () => {
  const db = useStore(builtinRegistry());
  let controllers: RunningControllers;
  const run = (...args: string[]) => capstan(args, { etcd: db.etcd.url });

  beforeAll(async () => {
    controllers = await runControllers({
      store: db.store,
      only: ['rollout', 'replicas', 'gc', 'task-gc'],
      leaderElection: false,
      handleSignals: false,
      logger: pino({ level: 'silent' }),
    });
  });
  afterAll(async () => {
    await controllers?.stop();
  });
  beforeEach(async () => {
    await db.client.delete().prefix('/capstan/');
    await db.store.create({
      apiVersion: 'capstan/v1',
      kind: 'Node',
      metadata: { name: NODE },
      spec: { address: '127.0.0.1', attributes: { hostname: NODE }, capacity: { cpus: 4, mem: 4096 } },
    });
  });

  const tasksOf = async (app: string) => (await db.store.list('Task', { namespace: 'default', labelSelector: `${APP_LABEL}=${app}` })).items;
  const exists = async (kind: string, name: string) => (await db.store.get(kind, { namespace: 'default', name })) !== undefined;

  /** An App whose `instances` tasks are bound to NODE and Running: each holds the agent's finalizer. */
  async function runningApp(name: string, instances: number): Promise<AnyObject[]> {
    await db.store.create({ apiVersion: 'capstan/v1', kind: 'App', metadata: { name, namespace: 'default' }, spec: { driver: 'process', instances, containers: [{ cmd: 'sleep 600' }] } });
    const created = await until(async () => {
      const tasks = await tasksOf(name);
      return tasks.length === instances && tasks;
    }, { what: `${instances} tasks of ${name}` });
    const requests = created.map((task) => ({
      object: task,
      binding: { nodeName: NODE, hostPorts: [] },
      alsoPut: [nodeTaskIndexEntry({ node: NODE, namespace: 'default', name: task.metadata.name, uid: task.metadata.uid! })],
    }));
    expect((await db.store.bindMany(requests)).failed).toEqual([]);
    for (const task of created) {
      const bound = await db.store.mustGet('Task', { namespace: 'default', name: task.metadata.name });
      await db.store.updateStatus({ ...bound, status: { phase: 'Running', startedAt: new Date().toISOString() } });
    }
    const running = await tasksOf(name);
    expect(running.map((t) => t.metadata.finalizers)).toEqual(running.map(() => [AGENT_FINALIZER]));
    return running;
  }

  /** What the agent does once the workload stopped: report how it ended and remove its finalizer. */
  async function agentReleases(name: string): Promise<void> {
    const task = await db.store.mustGet('Task', { namespace: 'default', name });
    const killed = await db.store.updateStatus({ ...task, status: { ...(task.status as object), phase: 'Killed', finishedAt: new Date().toISOString() } });
    await db.store.update({ ...killed, metadata: { ...killed.metadata, finalizers: (killed.metadata.finalizers ?? []).filter((f) => f !== AGENT_FINALIZER) } });
  }

  it('--wait returns only after every task is gone, and the App is deleted last (foreground)', async () => {
    const tasks = await runningApp('web', 2);
    const deleting = startCapstan(['delete', 'app', 'web', '--wait', '--timeout', '30s'], { etcd: db.etcd.url });
    let finished = false;
    void deleting.done.then(() => (finished = true));

    // Every task is told to stop; the App and its Revision stay, marked, waiting for them.
    await until(async () => (await tasksOf('web')).every((t) => t.metadata.deletionTimestamp), { what: 'both tasks marked for deletion' });
    const app = await db.store.mustGet('App', { namespace: 'default', name: 'web' });
    expect(app.metadata.deletionTimestamp).toBeDefined();
    expect(app.metadata.finalizers).toContain(FOREGROUND_FINALIZER);

    await agentReleases(tasks[0]!.metadata.name);
    await until(async () => (await tasksOf('web')).length === 1, { what: 'the first task gone' });
    expect(finished).toBe(false);
    expect(await exists('App', 'web')).toBe(true);

    await agentReleases(tasks[1]!.metadata.name);
    const result = await deleting.done;
    // Read at once: nothing of the App was left behind when the command returned.
    const [left, revisions, appLeft] = [await tasksOf('web'), (await db.store.list('Revision', { namespace: 'default' })).items, await exists('App', 'web')];
    expect({ tasks: left.length, revisions: revisions.length, app: appLeft }).toEqual({ tasks: 0, revisions: 0, app: false });
    expect(result).toMatchObject({ code: 0, stdout: 'app/web marked for deletion (waiting for finalizers)\napp/web deleted\n', stderr: '' });
  });

  it('--wait --timeout 2s gives up after about 2 s and names the tasks and nodes it waited for', async () => {
    const [task] = await runningApp('stuck', 1);
    const started = Date.now();
    const result = await run('delete', 'app', 'stuck', '--wait', '--timeout', '2s');
    const elapsed = Date.now() - started;
    expect(result.code).toBe(1);
    expect(elapsed).toBeGreaterThanOrEqual(2_000);
    expect(elapsed).toBeLessThan(10_000);
    expect(result.stderr).toContain('app/stuck still exists after 2 s, waiting for ');
    expect(result.stderr).toContain(`task/${task!.metadata.name} (finalizers ${AGENT_FINALIZER}, on node ${NODE})`);
    expect(result.stderr).toContain('--force');

    // A bare number stays seconds, as before durations were accepted.
    const bare = await run('delete', 'app', 'stuck', '--wait', '--timeout', '1');
    expect(bare).toMatchObject({ code: 1, stderr: expect.stringContaining('app/stuck still exists after 1 s') });
  });

  it('--timeout refuses what is not a duration', async () => {
    const result = await run('delete', 'app', 'web', '--wait', '--timeout', 'soon');
    expect(result).toMatchObject({ code: 2, stderr: expect.stringContaining('--timeout: expected a duration such as 90s, 5m or 1h (a bare number is seconds), found "soon"') });
  });

  it('--force removes the finalizers of the App and its dependents at once and warns which workloads may still run', async () => {
    const tasks = await runningApp('held', 2);
    // A first deletion is stuck on the agent (its node is down, say): the App stays, marked.
    expect((await run('delete', 'app', 'held', '--wait', '--timeout', '1s')).code).toBe(1);
    expect((await tasksOf('held')).every((t) => t.metadata.deletionTimestamp)).toBe(true);

    const result = await run('delete', 'app', 'held', '--force');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('app/held deleted (finalizers removed)\n');
    for (const task of tasks) {
      expect(result.stderr).toContain(`task/${task.metadata.name} (finalizers ${AGENT_FINALIZER}, on node ${NODE})`);
      expect(result.stderr).toContain(`task ${task.metadata.name} on node ${NODE} (Running)`);
      expect(await db.client.get(nodeTaskIndexKey(NODE, 'default', task.metadata.name))).toBeNull();
    }
    expect(result.stderr).toMatch(/^warning: app\/held: removed finalizers without waiting for their owners: /m);
    expect(result.stderr).toMatch(/^warning: these workloads may still be running, until their node's agent sees the task gone and stops it/m);
    expect(await tasksOf('held')).toEqual([]);
    expect(await exists('App', 'held')).toBe(false);
    expect((await db.store.list('Revision', { namespace: 'default' })).items).toEqual([]);
  });

  it('--force on an object nothing holds deletes it without a warning', async () => {
    await db.store.create({ apiVersion: 'capstan/v1', kind: 'App', metadata: { name: 'idle', namespace: 'default' }, spec: { driver: 'process', instances: 0, containers: [{ cmd: 'sleep 600' }] } });
    await until(async () => (await db.store.list('Revision', { namespace: 'default' })).items.length === 1, { what: 'idle\'s revision' });
    const result = await run('delete', 'app', 'idle', '--force');
    expect(result).toMatchObject({ code: 0, stdout: 'app/idle deleted (finalizers removed)\n', stderr: '' });
    expect(await exists('App', 'idle')).toBe(false);
  });
});

describe('capstan delete --wait with a real agent', () => {
  let cluster: TestCluster;
  beforeAll(async () => {
    cluster = await TestCluster.start({ suite: `delete-${process.pid}`, nodes: [AGENT_NODE], leaseTtlSeconds: 1 });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('returns after the workloads have stopped and their tasks are gone, not before', async () => {
    await cluster.createApp('slow', { driver: 'process', instances: 2, taskKillGracePeriodSeconds: 5, containers: [{ cmd: SLOW_TO_STOP, resources: { cpus: 0.1, mem: 16 } }] });
    await cluster.untilRunning('slow', 2);
    // Running is reported once the wrapper runs; its busybox comes a moment later (seen in CI under load).
    await until(() => cluster.workloadPids('slow').length === 2, { what: "both of slow's busybox processes" });

    const started = Date.now();
    const result = await capstan(['delete', 'app', 'slow', '--wait', '--timeout', '60s'], { etcd: cluster.etcd.url });
    const elapsed = Date.now() - started;
    // Read at once: nothing of the App is left, in the store or on the machine.
    const [tasks, pids] = [await cluster.tasksOf('slow'), cluster.workloadPids('slow')];
    expect({ tasks: tasks.map((t) => t.metadata.name), pids }).toEqual({ tasks: [], pids: [] });
    expect(result).toMatchObject({ code: 0, stdout: 'app/slow marked for deletion (waiting for finalizers)\napp/slow deleted\n' });
    expect(elapsed).toBeGreaterThanOrEqual(1_000); // the workloads' own second to stop
  });
});
