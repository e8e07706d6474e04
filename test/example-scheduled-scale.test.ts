// The SDK example end to end on a real etcd, through the public entry points only (capstan/sdk and
// capstan/sdk/testing), as a user's own tests would be: the ScheduledScale controller scales a real
// App (the built-in kind) when its window opens, installs its CustomKind so that the `capstan`
// command validates ScheduledScales in the kind author's words, and runs as a process of its own.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFINED_BY_LABEL, getCondition, type Manager, type Store } from 'capstan/sdk';
import { eventsOf, manualClock, openStore, startControllers, startEtcd, until, type TestEtcd } from 'capstan/sdk/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { scheduledScaleController } from '../examples/scheduled-scale/controller.ts';
import { controllers, kinds } from '../examples/scheduled-scale/index.ts';
import { scheduledScaleKind, type ScheduledScale } from '../examples/scheduled-scale/kind.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const EXAMPLE_MANIFEST = readFileSync(join(ROOT, 'examples/scheduled-scale/web-business-hours.yaml'), 'utf8');

const app = (namespace: string, name: string, instances: number) => ({
  apiVersion: 'capstan/v1',
  kind: 'App',
  metadata: { namespace, name },
  spec: { instances, driver: 'process', containers: [{ cmd: 'sleep 600' }] },
});
const schedule = (namespace: string, name: string, spec: Record<string, unknown>) => ({ apiVersion: 'capstan/v1', kind: 'ScheduledScale', metadata: { namespace, name }, spec });

interface Exited {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end (or kills it after `timeoutMs`), feeding it `stdin`. */
function run(args: string[], options: { env: Record<string, string>; stdin?: string; timeoutMs?: number }): Promise<Exited> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.stdin ?? '');
  });
}

describe('the scheduled-scale example', () => {
  let etcd: TestEtcd;
  let store: Store;
  let close: () => void;
  let manager: Manager | undefined;
  let home: string;

  beforeAll(async () => {
    etcd = await startEtcd();
    ({ store, close } = await openStore({ etcd: etcd.endpoint, kinds: [scheduledScaleKind] }));
    home = mkdtempSync(join(tmpdir(), 'capstan-example-home-'));
  });

  afterEach(async () => {
    await manager?.stop();
    manager = undefined;
  });

  afterAll(async () => {
    close();
    await etcd.stop();
    rmSync(home, { recursive: true, force: true });
  });

  // Each test works in a namespace of its own: the schedules of one never target the Apps of another.
  const instancesOf = async (namespace: string, name: string) => ((await store.mustGet('App', { namespace, name })).spec as { instances: number }).instances;
  /** The stored ScheduledScale, typed by the kind's own schemas. */
  const typedSchedule = (namespace: string, name: string) => store.mustGet<ScheduledScale>('ScheduledScale', { namespace, name });

  it("scales the App to the window's instances when the window opens, and holds it there", async () => {
    const clock = manualClock(new Date('2024-01-01T07:59:58.500Z')); // a Monday, 1.5 s before the window opens
    await store.create(app('morning', 'web', 2));
    manager = await startControllers({ store, controllers: [scheduledScaleController()], kinds: [scheduledScaleKind], now: clock.now });
    await store.create(schedule('morning', 'business-hours', { app: 'web', windows: [{ days: ['Mon', 'Tue', 'Wed', 'Thu', 'Fri'], from: '08:00', to: '18:00', instances: 5 }], otherwise: 1 }));

    await until(async () => (await instancesOf('morning', 'web')) === 1, { what: 'otherwise: 1 instance' });
    const before = await until(async () => {
      const { status } = await typedSchedule('morning', 'business-hours');
      return status?.nextChangeAt !== undefined && status;
    }, { what: 'status with the next change' });
    expect(before).toMatchObject({ instances: 1, window: 'otherwise', nextChangeAt: '2024-01-01T08:00:00.000Z', nextInstances: 5, observedGeneration: 1 });

    // The controller sleeps until 08:00 on a real timer (1.5 s); by the time it wakes, its clock says 08:00.
    clock.advance(1_500);
    await until(async () => (await instancesOf('morning', 'web')) === 5, { timeoutMs: 10_000, what: 'the window opening: 5 instances' });
    const during = await until(async () => {
      const { status } = await typedSchedule('morning', 'business-hours');
      return status?.window === 'Mon,Tue,Wed,Thu,Fri 08:00-18:00' && status;
    }, { what: 'status naming the window' });
    expect(during).toMatchObject({ instances: 5, lastScaledAt: '2024-01-01T08:00:00.000Z', nextChangeAt: '2024-01-01T18:00:00.000Z', nextInstances: 1 });

    // A manual scale while the schedule owns the App is put back.
    const web = await store.mustGet('App', { namespace: 'morning', name: 'web' });
    await store.update({ ...web, spec: { ...(web.spec as object), instances: 3 } });
    await until(async () => (await instancesOf('morning', 'web')) === 5, { what: 'the manual change reverted' });

    const events = await eventsOf(store, await typedSchedule('morning', 'business-hours'));
    expect(events.filter((e) => e.reason === 'Scaled').map((e) => e.message)).toEqual(
      expect.arrayContaining(['scaled App web to 1 instances (otherwise)', 'scaled App web to 5 instances (Mon,Tue,Wed,Thu,Fri 08:00-18:00)']),
    );
  });

  it('waits for a missing App and scales it once it appears; rejects an unknown time zone as invalid', async () => {
    manager = await startControllers({ store, controllers, kinds, now: manualClock(new Date('2024-01-01T12:00:00.000Z')).now });
    await store.create(schedule('waiting', 'api-always', { app: 'api', windows: [{ from: '00:00', to: '00:00', instances: 4 }], otherwise: 0 }));
    const missing = await until(async () => getCondition((await typedSchedule('waiting', 'api-always')).status?.conditions, 'AppFound')?.reason === 'AppNotFound' && (await typedSchedule('waiting', 'api-always')), {
      what: 'AppFound=False, reason AppNotFound',
    });
    expect(getCondition(missing.status?.conditions, 'AppFound')).toMatchObject({ status: 'False', message: 'no App "api" in namespace waiting; waiting for it' });
    await store.create(app('waiting', 'api', 1));
    await until(async () => (await instancesOf('waiting', 'api')) === 4, { what: 'the new App scaled' });
    await until(async () => getCondition((await typedSchedule('waiting', 'api-always')).status?.conditions, 'AppFound')?.status === 'True', { what: 'AppFound=True' });

    await store.create(schedule('waiting', 'martian', { app: 'api', timeZone: 'Mars/Olympus_Mons', windows: [{ from: '00:00', to: '00:00', instances: 9 }], otherwise: 0 }));
    const condition = await until(async () => getCondition((await typedSchedule('waiting', 'martian')).status?.conditions, 'Invalid'), { what: 'the Invalid condition' });
    expect(condition).toMatchObject({ status: 'True', reason: 'InvalidSpec' });
    expect(condition.message).toContain('spec.timeZone: an IANA time zone');
    const warnings = await until(async () => {
      const found = (await eventsOf(store, await typedSchedule('waiting', 'martian'))).filter((e) => e.type === 'Warning');
      return found.length > 0 && found;
    }, { what: 'a Warning event about the martian schedule' });
    expect(warnings[0]?.message).toContain('spec.timeZone');
    expect(await instancesOf('waiting', 'api')).toBe(4);
  });

  it("installs the kind's CustomKind when it starts, so the capstan command validates ScheduledScales in the author's words", async () => {
    manager = await startControllers({ store, controllers, kinds });
    const customKind = await store.get('CustomKind', { name: 'scheduledscales' });
    expect(customKind).toMatchObject({ metadata: { labels: { [DEFINED_BY_LABEL]: 'controller' } }, spec: { names: { kind: 'ScheduledScale', shortNames: ['ss'] } } });

    // The real command, in a process that has none of the example's code: it knows the kind from the
    // CustomKind alone. A bad time of day is reported with the kind author's message, not a regex.
    const env = { CAPSTAN_ETCD: etcd.endpoint, HOME: home, NO_COLOR: '1' };
    const bad = EXAMPLE_MANIFEST.replace('from: "08:00"', 'from: "8am"');
    expect(bad).not.toBe(EXAMPLE_MANIFEST);
    const refused = await run(['bin/capstan.js', 'apply', '-f', '-'], { env, stdin: bad });
    expect(refused.code, refused.stderr).not.toBe(0);
    expect(refused.stderr).toContain('spec.windows[0].from: expected a time of day as HH:MM, 24-hour, e.g. "08:00", found "8am"');
    expect(refused.stderr).not.toContain('[01]');
    expect(await store.get('ScheduledScale', { namespace: 'shop', name: 'web-business-hours' })).toBeUndefined();

    const applied = await run(['bin/capstan.js', 'apply', '-f', 'examples/scheduled-scale/web-business-hours.yaml'], { env });
    expect(applied.code, applied.stderr).toBe(0);
    expect((await typedSchedule('shop', 'web-business-hours')).spec).toMatchObject({ app: 'web', timeZone: 'Europe/Berlin', otherwise: 1 });
  });

  it('imports Capstan only through its public entry points, as a project outside this repository must', () => {
    const dir = join(ROOT, 'examples/scheduled-scale');
    const specifiers = readdirSync(dir)
      .filter((file) => file.endsWith('.ts'))
      .flatMap((file) => [...readFileSync(join(dir, file), 'utf8').matchAll(/^import [^;]*? from '([^']+)';$/gms)].map((match) => ({ file, from: match[1] })));
    expect(specifiers.map((s) => s.from)).toContain('capstan/sdk');
    const elsewhere = specifiers.filter(({ from }) => !/^(capstan\/sdk(\/testing)?|zod|vitest|node:.+|\.\/[\w-]+\.ts)$/.test(from ?? ''));
    expect(elsewhere).toEqual([]);
  });

  it('runs as its own process with the one command from the README, and exits 0 on SIGTERM', async () => {
    const child = spawn(process.execPath, ['--conditions=capstan-source', '--import', 'tsx', 'examples/scheduled-scale/main.ts', '--etcd', etcd.endpoint, '--lease-ttl', '2', '--log-level', 'warn'], {
      cwd: ROOT,
      env: { ...process.env, HOME: home },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await store.create(app('process', 'web', 1));
      await store.create(schedule('process', 'always-three', { app: 'web', windows: [{ from: '00:00', to: '00:00', instances: 3 }], otherwise: 0 }));
      await until(async () => (await instancesOf('process', 'web')) === 3, { timeoutMs: 20_000, what: 'the process scaling the App' }).catch((error: Error) => {
        throw new Error(`${error.message}; its stderr: ${stderr}`);
      });
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    }
  });
});
