// The seed scenario of the rolling upgrade, on real parts: real etcd, every built-in controller
// (health included: HTTP checks probe the tasks' ports), two `capstan agent` processes with the
// process driver running busybox httpd. An informer on Tasks records the App after every event; at
// every recorded state the App keeps minHealthy healthy tasks and at most maxCapacity live ones.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Informer } from '../api/informer.ts';
import type { AppSpec, AppStatus } from '../api/kinds/app.ts';
import { builtinRegistry } from '../api/kinds/builtin.ts';
import type { TaskSpec } from '../api/kinds/task.ts';
import type { CapstanObject } from '../api/object.ts';
import { runControllers, type RunningControllers } from '../controllers/builtin.ts';
import { countTasks } from '../controllers/replicas/index.ts';
import { removeProcessTasks, startAgentProcess, type AgentProcess } from './helpers/agent-process.ts';
import { useStore } from './helpers/etcd.ts';
import { until } from './helpers/poll.ts';

type App = CapstanObject<AppSpec, AppStatus>;
const NODES = ['s1', 's2'];

const db = useStore(builtinRegistry());
let controllers: RunningControllers;
let stateDir: string;
const agents: AgentProcess[] = [];

beforeAll(async () => {
  stateDir = mkdtempSync(join(tmpdir(), 'capstan-rollout-seed-'));
  controllers = await runControllers({ store: db.store, leaderElection: false, logger: pino({ level: 'silent' }), handleSignals: false });
  // Each agent its own host port range, away from the default one other tests use.
  // Below the kernel's ephemeral range (32768-60999), where an outgoing connection's local port could
  // hold a task's host port and fail its start (EADDRINUSE).
  const base = 27_000 + Math.floor(Math.random() * 10) * 100;
  NODES.forEach((node, i) => {
    const ports = `${base + i * 50}-${base + i * 50 + 49}`;
    agents.push(startAgentProcess({ etcd: db.etcd.url, node, stateDir: join(stateDir, node), dockerSocket: '/nonexistent', extraArgs: ['--drivers', 'process', '--ports', ports] }));
  });
  await Promise.all(agents.map((a) => a.started));
}, 60_000);

afterAll(async () => {
  await controllers?.stop();
  await Promise.all(agents.map((a) => a.kill()));
  for (const node of NODES) await removeProcessTasks(join(stateDir, node));
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
}, 60_000);

const httpd = (page: string) => `echo ${page} > index.html && exec busybox httpd -f -p $PORT0`;

describe('the seed scenario: 20 instances, 0.85 / 0.15, command changed, real agents and health checks', () => {
  it('keeps at least 17 healthy and at most 23 live tasks at every recorded state, and ends with 20 healthy on the new revision', async () => {
    await db.store.create({
      apiVersion: 'capstan/v1',
      kind: 'App',
      metadata: { name: 'seed', namespace: 'default' },
      spec: {
        instances: 20,
        driver: 'process',
        containers: [{ cmd: httpd('v1'), resources: { cpus: 0.01, mem: 4 } }],
        ports: [{ name: 'http' }],
        healthChecks: [{ protocol: 'HTTP', portIndex: 0, path: '/', gracePeriodSeconds: 5, intervalSeconds: 1, timeoutSeconds: 1, maxConsecutiveFailures: 3, delaySeconds: 0 }],
        upgradeStrategy: { minimumHealthCapacity: 0.85, maximumOverCapacity: 0.15 },
        progressDeadlineSeconds: 60,
      },
    });
    let last: App | undefined;
    const settled = (revision: number) =>
      until(
        async () => {
          const app = (last = await db.store.mustGet<App>('App', { namespace: 'default', name: 'seed' }));
          const rollout = app.status?.rollout;
          return app.status?.currentRevision === revision && rollout?.phase === 'Complete' && Boolean(rollout.completedAt) && app;
        },
        { timeoutMs: 90_000, intervalMs: 100, what: `seed complete on revision ${revision}` },
      ).catch(async (error: Error) => {
        // Which tasks held it up, and why: phase, node, ports and message of every task not Running.
        const tasks = (await db.store.list('Task', { namespace: 'default' })).items
          .filter((t) => (t.status as { phase?: string } | undefined)?.phase !== 'Running')
          .map((t) => ({ name: t.metadata.name, deleting: Boolean(t.metadata.deletionTimestamp), node: (t.spec as TaskSpec).nodeName, ports: (t.spec as TaskSpec).hostPorts, status: t.status }));
        throw new Error(`${error.message}; last status: ${JSON.stringify({ rollout: last?.status?.rollout, revisions: last?.status?.revisions })}; tasks not Running: ${JSON.stringify(tasks)}`);
      });
    await settled(1);

    const informer = new Informer(db.client, db.store.kind('Task'));
    const states: { live: number; healthy: number; newHealthy: number }[] = [];
    const record = () => {
      const tasks = informer.list((t) => (t.spec as TaskSpec).app === 'seed');
      const all = countTasks(tasks);
      const fresh = countTasks(tasks.filter((t) => (t.spec as TaskSpec).revision === 2));
      states.push({ live: all.tasks, healthy: all.healthy, newHealthy: fresh.healthy });
    };
    const subscription = informer.events$.subscribe(record);
    await informer.start();
    record();
    const started = Date.now();
    try {
      const app = await db.store.mustGet<App>('App', { namespace: 'default', name: 'seed' });
      await db.store.update({ ...app, spec: { ...app.spec, containers: [{ ...app.spec.containers[0]!, cmd: httpd('v2') }] } });
      await settled(2);
    } finally {
      subscription.unsubscribe();
      await informer.stop();
    }
    const seconds = (Date.now() - started) / 1000;
    console.log(`seed rollout: ${seconds.toFixed(1)} s, ${states.length} states, min healthy ${Math.min(...states.map((s) => s.healthy))}, max live ${Math.max(...states.map((s) => s.live))}`);
    expect(states.length).toBeGreaterThan(40);
    expect(Math.min(...states.map((s) => s.healthy))).toBeGreaterThanOrEqual(17);
    expect(Math.max(...states.map((s) => s.live))).toBeLessThanOrEqual(23);
    expect(states.at(-1)).toEqual({ live: 20, healthy: 20, newHealthy: 20 });
  }, 180_000);
});
