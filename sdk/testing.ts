// capstan/sdk/testing: what a controller's tests need to run against a real etcd — never a mock of
// it: the bugs that matter live in conflicts, ordering between caches, and leadership.
//
//   const etcd = await startEtcd();                                  // Debian's etcd-server, free loopback ports
//   const { store, close } = await openStore({ etcd: etcd.endpoint, kinds: [myKind] });
//   const manager = await startControllers({ store, controllers: [myController()] });
//   await until(async () => (await store.get('App', ref))?.spec.instances === 5, { what: 'the App scaled to 5' });
//   expect(await eventsOf(store, schedule)).toContainEqual(expect.objectContaining({ reason: 'Scaled' }));
//   await manager.stop(); close(); await etcd.stop();
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import type { KindDefinition } from '../api/kinds/registry.ts';
import type { AnyObject, DeepReadonly } from '../api/object.ts';
import type { Store } from '../api/store.ts';
import { EtcdServer } from '../cli/local/etcd-server.ts';
import { freePort } from '../cli/local/free-port.ts';
import { listEvents, sortEvents } from '../cli/events.ts';
import type { ControllerDefinition } from '../controllers/contract.ts';
import type { InstallableKind } from '../controllers/install-kinds.ts';
import { Manager } from '../controllers/manager.ts';

export { openStore, type OpenedStore, type OpenStoreOptions } from './store.ts';

const say = {
  timedOut: (timeoutMs: number, what: string, last: string) => `timed out after ${timeoutMs} ms waiting for ${what}${last}`,
} as const;

export interface TestEtcd {
  /** The client URL, e.g. http://127.0.0.1:40123. */
  endpoint: string;
  /** Where its data and log are (removed by stop()). */
  dir: string;
  /** Stops etcd and removes its data. */
  stop(): Promise<void>;
}

const START_ATTEMPTS = 3;

/**
 * A real etcd (the `etcd` binary on PATH: Debian's etcd-server) on free loopback ports, with its data
 * in a temporary directory. Several can run at once (test files run in parallel).
 */
export async function startEtcd(): Promise<TestEtcd> {
  const dir = mkdtempSync(join(tmpdir(), 'capstan-test-etcd-'));
  for (let attempt = 1; ; attempt += 1) {
    const server = new EtcdServer({ dataDir: join(dir, `data-${attempt}`), clientPort: await freePort(), peerPort: await freePort(), logFile: join(dir, 'etcd.log') });
    try {
      await server.start();
      return {
        endpoint: server.url,
        dir,
        async stop() {
          await server.stop();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    } catch (error) {
      // A port free a moment ago can be taken before etcd binds it: fresh ports, a few times.
      if (attempt >= START_ATTEMPTS || !/exited during start/.test((error as Error).message)) {
        rmSync(dir, { recursive: true, force: true });
        throw error;
      }
    }
  }
}

export interface StartControllersOptions {
  store: Store;
  controllers: ControllerDefinition[];
  kinds?: (KindDefinition & InstallableKind)[];
  /** The clock reconciles see (ctx.now()): a manualClock's `now`, say. */
  now?: () => Date;
  /** Default: warnings and errors only, so test output stays readable. */
  logger?: Logger;
}

/** A Manager running the controllers in this process, without leader election; `await manager.stop()` when done. */
export async function startControllers(options: StartControllersOptions): Promise<Manager> {
  const manager = new Manager({
    store: options.store,
    controllers: options.controllers,
    leaderElection: false,
    logger: options.logger ?? pino({ level: 'warn' }),
    // Short backoffs: a test waits on retries, a cluster should not.
    queue: { baseBackoffMs: 20, maxBackoffMs: 1_000 },
    shutdownGraceMs: 2_000,
    ...(options.kinds ? { kinds: options.kinds } : {}),
    ...(options.now ? { now: options.now } : {}),
  });
  await manager.start();
  return manager;
}

/**
 * Polls `check` until it returns something other than undefined, null or false, and resolves with
 * it; rejects after `timeoutMs` (default 10 s) naming `what` and the last error. Wait on state with
 * this, never with a fixed sleep.
 */
export async function until<T>(
  check: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  options: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const { timeoutMs = 10_000, intervalMs = 25, what = 'the condition' } = options;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== null && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) throw new Error(say.timedOut(timeoutMs, what, lastError instanceof Error ? ` (last error: ${lastError.message})` : ''));
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export interface RecordedEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
  /** How many times it was recorded (a repeat bumps the count). */
  count: number;
  /** The controller that recorded it. */
  component?: string;
  lastTimestamp: string;
}

/** The events recorded about `object` (this incarnation, when it has a uid), oldest first. */
export async function eventsOf(store: Store, object: DeepReadonly<AnyObject>): Promise<RecordedEvent[]> {
  const { kind, metadata } = object;
  const events = sortEvents(await listEvents(store.client, store, metadata.namespace));
  return events
    .map((event) => event.spec as EventSpec)
    .filter(({ involvedObject: about }) => about.kind === kind && about.name === metadata.name && (metadata.uid === undefined || about.uid === undefined || about.uid === metadata.uid))
    .map((spec) => ({ type: spec.type, reason: spec.reason, message: spec.message, count: spec.count, lastTimestamp: spec.lastTimestamp, ...(spec.source?.component ? { component: spec.source.component } : {}) }));
}

interface EventSpec {
  involvedObject: { kind: string; name: string; namespace?: string; uid?: string };
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
  count: number;
  lastTimestamp: string;
  source?: { component?: string };
}

export interface ManualClock {
  now(): Date;
  /** Moves the clock forward. */
  advance(ms: number): void;
  set(date: Date): void;
}

/**
 * A clock that moves only when told: pass `clock.now` to startControllers and reconciles see that
 * time. Timers (requeueAfter) stay real: advance the clock, then let the controller look again (a
 * change to a watched object, or a short requeue in the controller under test).
 */
export function manualClock(start: Date = new Date()): ManualClock {
  let current = start.getTime();
  return {
    now: () => new Date(current),
    advance: (ms) => {
      current += ms;
    },
    set: (date) => {
      current = date.getTime();
    },
  };
}
