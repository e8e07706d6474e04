// A crash-looping App as a user meets it, on real parts: real etcd, every built-in controller in this
// process, a private real dockerd and one `capstan agent` OS process running both drivers. The App's status says
// Delayed with the launch delay and its last task failure (exit code and output lines, read by the
// agent), `get apps` and `describe app` show it, the rollout is never announced complete, and
// `capstan app reset-delay` launches the next task at once without a new revision.
import type { AppSpec, AppStatus } from '../api/kinds/app.ts';
import type { EventSpec } from '../api/kinds/event.ts';
import type { RevisionSpec } from '../api/kinds/revision.ts';
import { APP_LABEL } from '../api/kinds/wellknown.ts';
import { getCondition, type CapstanObject } from '../api/object.ts';
import { describe, expect, it } from 'vitest';
import { listEvents } from '../cli/events.ts';
import { capstan } from './helpers/cli.ts';
import { useCluster } from './helpers/cluster.ts';
import { until } from './helpers/poll.ts';

type App = CapstanObject<AppSpec, AppStatus>;
type StoredEvent = CapstanObject<EventSpec>;
const NS = 'cl';
// A port range and node name of its own (26010–26029), so that this file runs beside the other cluster tests.
const NODES = [{ name: 'cl-n1', ports: '26010-26029' }];

const cluster = useCluster({ suite: `crash-loop-${process.pid}`, nodes: NODES, docker: true, leaseTtlSeconds: 1, namespace: NS });

/** Prints a line on each stream and exits 3 at once. */
const CRASH = 'echo "boom: config missing"; echo "see /etc/app.conf" >&2; exit 3';

function spec(cmd: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { instances: 1, driver: 'process', containers: [{ cmd, resources: { cpus: 0.01, mem: 4 } }], ...extra };
}

const run = (...args: string[]) => capstan(['-n', NS, ...args], { etcd: cluster.etcd.url });
const getApp = async (name: string) => (await cluster.store.get<App>('App', { namespace: NS, name }))!;
const eventsOf = async (name: string) =>
  ((await listEvents(cluster.client, cluster.store, NS)) as StoredEvent[]).filter((e) => e.spec.involvedObject.kind === 'App' && e.spec.involvedObject.name === name);
const revisionsOf = async (name: string) =>
  (await cluster.store.list<CapstanObject<RevisionSpec>>('Revision', { namespace: NS, labelSelector: `${APP_LABEL}=${name}` })).items;

async function untilDelayed(name: string, failures: number): Promise<App> {
  return until(
    async () => {
      const app = await getApp(name);
      return app.status?.phase === 'Delayed' && (app.status.launchDelay?.failures ?? 0) >= failures && app;
    },
    { timeoutMs: 30_000, what: `${name} to be Delayed after ${failures} failure(s)` },
  ).catch(async (error: Error) => Promise.reject(new Error(`${error.message}\n${JSON.stringify((await getApp(name)).status, null, 1)}\n${await cluster.describe()}`)));
}

describe('a crash-looping App', () => {
  it('shows Delayed with the launch delay and its last failure, and never RolloutComplete', async () => {
    await cluster.createApp('crash', spec(CRASH, { backoffSeconds: 2, backoffFactor: 2, maxLaunchDelaySeconds: 60 }));
    const started = Date.now();
    const app = await untilDelayed('crash', 2);
    const status = app.status!;

    expect(status).toMatchObject({ phase: 'Delayed', reason: 'BackOff' });
    expect(status.message).toContain('`capstan app reset-delay crash` launches now');
    // 2 s × 2^(n-1) after the n-th failure in a row, and the end of it still ahead.
    expect(status.launchDelay!.seconds).toBeCloseTo(2 * 2 ** (status.launchDelay!.failures - 1), 1);
    expect(Date.parse(status.launchDelay!.until)).toBeGreaterThan(started);
    expect(status.lastTaskFailure).toMatchObject({ revision: 1, node: 'cl-n1', phase: 'Failed', exitCode: 3, message: 'exited with code 3' });
    expect(status.lastTaskFailure!.outputTail).toEqual(['boom: config missing', 'see /etc/app.conf']);
    expect(status.rollout?.phase).not.toBe('Complete');
    // Not a rollback target, though its first task was up for a moment.
    expect(status.stableRevision).toBeUndefined();
    expect(getCondition(status.conditions, 'Available')?.status).toBe('False');

    // The failures are the crash loop's events, counted (recorded just after the status they follow);
    // no rollout is announced complete.
    const events = await until(
      async () => {
        const found = await eventsOf('crash');
        return (found.find((e) => e.spec.reason === 'TaskFailed')?.spec.count ?? 0) >= 2 && found;
      },
      { what: 'TaskFailed counted twice' },
    );
    const reasons = events.map((e) => e.spec.reason);
    expect(reasons).not.toContain('RolloutComplete');
    expect(events.find((e) => e.spec.reason === 'TaskFailed')).toMatchObject({ spec: { type: 'Warning', message: 'task of revision 1 failed: exited with code 3' } });
    expect(reasons).toContain('BackOff');

    // What a person sees.
    const table = await run('get', 'apps');
    expect(table.stdout).toMatch(/^crash\s+Delayed\s+\d of 1\s+\d of 1\s/m);
    const described = await run('describe', 'app', 'crash');
    expect(described.stdout).toContain('Delayed (BackOff)');
    expect(described.stdout).toMatch(/Launch delay:\s+\d+(\.\d+)? s after \d+ failure\(s\) in a row/);
    expect(described.stdout).toContain('Delayed until:');
    expect(described.stdout).toMatch(/Ended:\s+Failed, exit code 3 at /);
    expect(described.stdout).toContain('      boom: config missing\n      see /etc/app.conf');
  }, 60_000);

  it('in a container too: the agent reads the last lines through Docker', async () => {
    await cluster.createApp('boxed', { ...spec(CRASH, { backoffSeconds: 30 }), driver: 'docker', containers: [{ image: cluster.dockerd!.image, cmd: CRASH, resources: { cpus: 0.01, mem: 32 } }] });
    const app = await untilDelayed('boxed', 1);
    expect(app.status!.lastTaskFailure).toMatchObject({ exitCode: 3 });
    // Docker orders the two streams by when it read each pipe: either line may come first.
    expect([...app.status!.lastTaskFailure!.outputTail!].sort()).toEqual(['boom: config missing', 'see /etc/app.conf']);
  }, 60_000);

  it('capstan app reset-delay launches the next task at once, without a new revision; rollout restart starts without delay too', async () => {
    // A minute's delay after the first failure: any launch within seconds is the reset's doing.
    await cluster.createApp('slow', spec(CRASH, { backoffSeconds: 60, maxLaunchDelaySeconds: 600 }));
    const delayed = await untilDelayed('slow', 1);
    const generation = delayed.metadata.generation;
    const launched = (await cluster.tasksOf('slow')).length;

    const reset = await run('app', 'reset-delay', 'slow');
    expect(reset).toMatchObject({ code: 0, stderr: '' });
    expect(reset.stdout).toMatch(/^app\/slow launch delay reset \(it was 60 s after 1 failure\(s\) in a row\); the next task launches now\n$/);
    await until(async () => (await cluster.tasksOf('slow')).length > launched, { timeoutMs: 15_000, what: 'a task launched after the reset' });
    // It fails as well: the count starts again from one, with the first delay.
    const again = await until(
      async () => {
        const app = await getApp('slow');
        return app.status?.phase === 'Delayed' && app.status.lastTaskFailure?.task !== delayed.status!.lastTaskFailure!.task && app;
      },
      { timeoutMs: 15_000, what: 'the relaunched task to fail and be delayed' },
    );
    expect(again.status!.launchDelay).toMatchObject({ seconds: 60, failures: 1 });
    expect(again.metadata.generation).toBe(generation);
    expect((await revisionsOf('slow')).map((r) => r.spec.number)).toEqual([1]);
    await until(async () => (await eventsOf('slow')).some((e) => e.spec.reason === 'LaunchDelayReset'), { what: 'a LaunchDelayReset event' });

    // A new revision starts without the old one's delay.
    const restart = await run('rollout', 'restart', 'slow');
    expect(restart.code).toBe(0);
    await until(async () => (await cluster.tasksOf('slow')).some((t) => t.spec.revision === 2), { timeoutMs: 15_000, what: 'a task of revision 2 at once' });
  }, 60_000);
});

describe('a healthy App', () => {
  it('is Running 1 of 1, with one RolloutComplete', async () => {
    await cluster.createApp('fine', spec('exec busybox sleep 600'));
    const app = await until(
      async () => {
        const found = await getApp('fine');
        return found.status?.phase === 'Running' && found;
      },
      { timeoutMs: 20_000, what: 'fine to be Running' },
    );
    expect(app.status).toMatchObject({ reason: 'InstancesRunning', message: '1 of 1 running, 1 healthy', running: 1, healthy: 1 });
    expect(app.status!.launchDelay).toBeUndefined();
    expect(app.status!.lastTaskFailure).toBeUndefined();
    const table = await run('get', 'apps');
    expect(table.stdout).toMatch(/^fine\s+Running\s+1 of 1\s+1 of 1\s+1\s+True\s/m);
    const complete = await until(
      async () => {
        const found = (await eventsOf('fine')).filter((e) => e.spec.reason === 'RolloutComplete');
        return found.length > 0 && found;
      },
      { what: 'the RolloutComplete event' },
    );
    expect(complete.map((e) => e.spec.count)).toEqual([1]);
  }, 40_000);
});
