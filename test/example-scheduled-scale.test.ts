// The SDK example end to end on a real etcd: the ScheduledScale controller scales a real App (the
// built-in kind) when its window opens, with a clock that starts two seconds before the window.
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { builtinRegistry } from '../api/kinds/builtin.ts';
import { getCondition, type AnyObject, type CommonStatus } from '../api/object.ts';
import { Manager } from '../controllers/manager.ts';
import { scheduledScaleController } from '../examples/scheduled-scale/controller.ts';
import { scheduledScaleKind, type ScheduledScaleStatus } from '../examples/scheduled-scale/kind.ts';
import { spawnScript, type Child } from './helpers/child.ts';
import { useStore } from './helpers/etcd.ts';
import { until } from './helpers/poll.ts';

const app = (name: string, instances: number) => ({
  apiVersion: 'capstan/v1',
  kind: 'App',
  metadata: { name },
  spec: { instances, driver: 'process', containers: [{ cmd: 'sleep 600' }] },
});
const schedule = (name: string, spec: Record<string, unknown>) => ({ apiVersion: 'capstan/v1', kind: 'ScheduledScale', metadata: { name }, spec });

describe('the scheduled-scale example', () => {
  const db = useStore(builtinRegistry().register(scheduledScaleKind), { clearEachTest: true });
  let manager: Manager | undefined;
  const instancesOf = async (name: string) => ((await db.store.mustGet('App', { name })).spec as { instances: number }).instances;
  const statusOf = async (name: string) => ((await db.store.mustGet('ScheduledScale', { name })).status ?? {}) as ScheduledScaleStatus;

  afterEach(async () => {
    await manager?.stop();
    manager = undefined;
  });

  /** Runs the controller in process with a clock that reads `startAt` now and then runs at real speed. */
  async function runAt(startAt: string) {
    const offset = Date.parse(startAt) - Date.now();
    manager = new Manager({
      store: db.store,
      controllers: [scheduledScaleController()],
      leaderElection: false,
      logger: pino({ level: 'silent' }),
      now: () => new Date(Date.now() + offset),
    });
    await manager.start();
  }

  it('scales the App to the window\'s instances when the window opens, and holds it there', async () => {
    await db.store.create(app('web', 2));
    await runAt('2024-01-01T07:59:58.500Z'); // a Monday, 1.5 s before the window opens
    await db.store.create(schedule('business-hours', { app: 'web', windows: [{ days: ['Mon', 'Tue', 'Wed', 'Thu', 'Fri'], from: '08:00', to: '18:00', instances: 5 }], otherwise: 1 }));

    await until(async () => (await instancesOf('web')) === 1, { what: 'otherwise: 1 instance' });
    const before = await until(async () => {
      const status = await statusOf('business-hours');
      return status.nextChangeAt && status;
    }, { what: 'status with the next change' });
    expect(before).toMatchObject({ instances: 1, window: 'otherwise', nextChangeAt: '2024-01-01T08:00:00.000Z', nextInstances: 5, observedGeneration: 1 });

    await until(async () => (await instancesOf('web')) === 5, { timeoutMs: 5_000, what: 'the window opening: 5 instances' });
    await until(async () => (await statusOf('business-hours')).window === 'Mon,Tue,Wed,Thu,Fri 08:00-18:00', { what: 'status naming the window' });
    expect(await statusOf('business-hours')).toMatchObject({ instances: 5, nextChangeAt: '2024-01-01T18:00:00.000Z', nextInstances: 1 });

    // A manual scale while the schedule owns the App is put back.
    const web = await db.store.mustGet('App', { name: 'web' });
    await db.store.update({ ...web, spec: { ...(web.spec as object), instances: 3 } });
    await until(async () => (await instancesOf('web')) === 5, { what: 'the manual change reverted' });

    const events = Object.values(await db.client.getAll().prefix('/capstan/events/default/business-hours.').strings()).map((v) => JSON.parse(v) as AnyObject);
    expect(events.map((e) => (e.spec as { reason: string }).reason)).toContain('Scaled');
  });

  it('waits for a missing App and scales it once it appears; rejects an unknown time zone as invalid', async () => {
    await runAt('2024-01-01T12:00:00.000Z');
    await db.store.create(schedule('api-always', { app: 'api', windows: [{ from: '00:00', to: '00:00', instances: 4 }], otherwise: 0 }));
    await until(async () => getCondition((await statusOf('api-always')).conditions, 'AppFound')?.reason === 'AppNotFound', { what: 'AppNotFound' });
    await db.store.create(app('api', 1));
    await until(async () => (await instancesOf('api')) === 4, { what: 'the new App scaled' });

    await db.store.create(schedule('martian', { app: 'api', timeZone: 'Mars/Olympus_Mons', windows: [{ from: '00:00', to: '00:00', instances: 9 }], otherwise: 0 }));
    const condition = await until(async () => getCondition(((await db.store.mustGet('ScheduledScale', { name: 'martian' })).status as CommonStatus | undefined)?.conditions, 'Invalid'), {
      what: 'Invalid condition',
    });
    expect(condition).toMatchObject({ status: 'True', reason: 'InvalidSpec' });
    expect(condition.message).toContain('spec.timeZone');
    expect(await instancesOf('api')).toBe(4);
  });

  it('runs as its own process with the one command from the README', async () => {
    let child: Child | undefined;
    try {
      child = spawnScript('examples/scheduled-scale/main.ts', {}, ['--etcd', db.etcd.url, '--lease-ttl', '2', '--log-level', 'warn']);
      await db.store.create(app('web', 1));
      await db.store.create(schedule('always-three', { app: 'web', windows: [{ from: '00:00', to: '00:00', instances: 3 }], otherwise: 0 }));
      await until(async () => (await instancesOf('web')) === 3, { timeoutMs: 15_000, what: `the process scaling the App (stderr: ${child.stderr()})` });
      child.signal('SIGTERM');
      const code = await new Promise<number | null>((resolve) => child!.process.once('exit', (c) => resolve(c)));
      expect(code).toBe(0);
    } finally {
      await child?.dispose();
    }
  });
});
