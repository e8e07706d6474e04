// The SDK against a real etcd: a defined kind installed as a CustomKind when its controller starts,
// typed caches, ctx.updateStatus writing only changes, fail-fast on unknown kinds, the runner's
// config discovery, and the testing kit itself.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  defineKind,
  done,
  invalid,
  isStoreError,
  Manager,
  refKey,
  requeueAfter,
  runControllers,
  setCondition,
  type ControllerDefinition,
  type OpenedStore,
} from '../sdk/index.ts';
import { eventsOf, manualClock, openStore, startControllers, startEtcd, until, type TestEtcd } from '../sdk/testing.ts';

const thresholdKind = defineKind({
  kind: 'Threshold',
  spec: z.strictObject({
    app: z.string().min(1, { error: 'the name of an App' }),
    minimum: z.number().int().min(0).default(1),
    /** Checked by the controller: JSON Schema cannot compare two fields. */
    maximum: z.number().int().min(0).optional(),
  }),
  status: z.object({ observedInstances: z.number().optional(), breached: z.boolean().optional(), checkedAt: z.string().optional(), conditions: z.array(z.any()).optional() }),
  columns: [{ header: 'App', jsonPath: '.spec.app' }],
});

/** Compares an App's instances with a Threshold; writes status and an event. */
/** `writes` counts the status writes per key. */
function thresholdController(writes: Map<string, number>, now?: () => Date): ControllerDefinition {
  return {
    name: 'threshold',
    watches: [
      { kind: thresholdKind },
      { kind: 'App', map: (event, caches) => caches(thresholdKind).list((t) => t.metadata.namespace === event.object.metadata.namespace && t.spec.app === event.object.metadata.name).map((t) => refKey(t.metadata)) },
    ],
    async reconcile(key, ctx) {
      const threshold = ctx.informer(thresholdKind).get(key);
      if (!threshold) return done();
      const { spec } = threshold;
      if (spec.maximum !== undefined && spec.maximum < spec.minimum) return invalid('spec.maximum', `a number not below spec.minimum (${spec.minimum}), found ${spec.maximum}`);
      const app = ctx.informer('App').get(refKey({ namespace: threshold.metadata.namespace, name: spec.app }));
      const instances = app ? ((app.spec as { instances?: number }).instances ?? 1) : 0;
      const breached = instances < spec.minimum;
      const status = {
        observedInstances: instances,
        breached,
        ...(now ? { checkedAt: now().toISOString() } : {}),
        conditions: setCondition(threshold.status?.conditions, { type: 'Breached', status: breached ? 'True' : 'False', reason: breached ? 'TooFew' : 'Enough' }, new Date(0)),
      };
      if (await ctx.updateStatus(threshold, status)) {
        writes.set(key, (writes.get(key) ?? 0) + 1);
        if (breached) await ctx.events.record(threshold, { type: 'Warning', reason: 'Breached', message: `App ${spec.app} has ${instances} instances, fewer than ${spec.minimum}` });
      }
      return now ? requeueAfter(50) : done();
    },
  };
}

const app = (name: string, instances: number) => ({ apiVersion: 'capstan/v1', kind: 'App', metadata: { name, namespace: 'default' }, spec: { driver: 'process', containers: [{ cmd: 'sleep 1000' }], instances } });
const threshold = (name: string, spec: Record<string, unknown>) => ({ apiVersion: 'capstan/v1', kind: 'Threshold', metadata: { name, namespace: 'default' }, spec });

let etcd: TestEtcd;
let opened: OpenedStore;

beforeAll(async () => {
  etcd = await startEtcd();
  opened = await openStore({ etcd: etcd.endpoint, kinds: [thresholdKind] });
}, 30_000);

afterAll(async () => {
  opened?.close();
  await etcd?.stop();
});

describe('a controller with a kind defined in code', () => {
  it('installs the CustomKind, reads typed objects, and writes status and events only on change', async () => {
    const { store } = opened;
    const writes = new Map<string, number>();
    const manager = await startControllers({ store, controllers: [thresholdController(writes)], kinds: [thresholdKind] });
    try {
      const installed = await store.get('CustomKind', { name: 'thresholds' });
      expect(installed).toMatchObject({ metadata: { labels: { 'capstan.io/defined-by': 'controller' } }, spec: { names: { kind: 'Threshold' } } });

      await store.create(app('web', 1));
      await store.create(threshold('web-min', { app: 'web', minimum: 3 }));
      const breached = await until(async () => {
        const t = await store.get('Threshold', { namespace: 'default', name: 'web-min' });
        return (t?.status as { breached?: boolean } | undefined)?.breached === true && t;
      }, { what: 'the Threshold to report a breach' });
      expect(breached.status).toMatchObject({ observedInstances: 1, conditions: [{ type: 'Breached', status: 'True', reason: 'TooFew' }] });
      const events = await until(async () => {
        const found = await eventsOf(store, breached);
        return found.length > 0 && found;
      }, { what: 'the Breached event' });
      expect(events).toEqual([expect.objectContaining({ type: 'Warning', reason: 'Breached', message: 'App web has 1 instances, fewer than 3', count: 1, component: 'threshold' })]);

      // Its own status write wakes it (a watched object changed); the status is then unchanged: no
      // second write. Another object reconciled after it shows the queue has moved past it.
      const { resourceVersion } = breached.metadata;
      await store.create(threshold('other', { app: 'nothing' }));
      await until(() => writes.get('default/other') === 1, { what: 'the second Threshold reconciled' });
      expect(writes.get('default/web-min')).toBe(1);
      expect((await store.get('Threshold', { namespace: 'default', name: 'web-min' }))?.metadata.resourceVersion).toBe(resourceVersion);

      // Scaling the App reaches the Threshold through the App watch's map.
      const web = await store.get('App', { namespace: 'default', name: 'web' });
      await store.update({ ...web!, spec: { ...(web!.spec as object), instances: 3 } });
      await until(async () => ((await store.get('Threshold', { namespace: 'default', name: 'web-min' }))?.status as { breached?: boolean } | undefined)?.breached === false, { what: 'the breach to clear after scaling' });
    } finally {
      await manager.stop();
    }
  }, 30_000);

  it('reports a rule JSON Schema cannot say with invalid(...), as the Invalid condition', async () => {
    const { store } = opened;
    const manager = await startControllers({ store, controllers: [thresholdController(new Map())], kinds: [thresholdKind] });
    try {
      await store.create(threshold('upside-down', { app: 'web', minimum: 5, maximum: 2 }));
      const condition = await until(async () => {
        const t = await store.get('Threshold', { namespace: 'default', name: 'upside-down' });
        return ((t?.status as { conditions?: { type: string; status: string; message?: string }[] } | undefined)?.conditions ?? []).find((c) => c.type === 'Invalid');
      }, { what: 'the Invalid condition' });
      expect(condition).toMatchObject({ status: 'True', message: 'spec.maximum: a number not below spec.minimum (5), found 2' });
    } finally {
      await manager.stop();
    }
  }, 30_000);

  it('sees the time a manual clock gives', async () => {
    const { store } = opened;
    const clock = manualClock(new Date('2030-01-01T08:00:00Z'));
    const manager = await startControllers({ store, controllers: [thresholdController(new Map(), clock.now)], kinds: [thresholdKind] });
    try {
      await store.create(threshold('clocked', { app: 'web' }));
      const checkedAt = async () => ((await store.get('Threshold', { namespace: 'default', name: 'clocked' }))?.status as { checkedAt?: string } | undefined)?.checkedAt;
      expect(await until(checkedAt, { what: 'the first check' })).toBe('2030-01-01T08:00:00.000Z');
      clock.advance(90 * 60_000);
      expect(await until(async () => (await checkedAt()) === '2030-01-01T09:30:00.000Z' && 'moved', { what: 'the check after the clock moved' })).toBe('moved');
    } finally {
      await manager.stop();
    }
  }, 30_000);

  it('refuses, when constructed, a controller watching a kind no one registered, naming both', () => {
    const watcher: ControllerDefinition = { name: 'alerts', watches: [{ kind: 'AppAlert' }], reconcile: async () => done() };
    expect(() => new Manager({ store: opened.store, controllers: [watcher] })).toThrow(
      /controller alerts watches kind "AppAlert", which this process does not know: define it with defineKind and pass it in `kinds`/,
    );
  });

  it('updates an installed CustomKind when a new version of the controller changes the kind', async () => {
    const { store } = opened;
    const v2 = defineKind({ ...thresholdKind, kind: 'Threshold', spec: z.strictObject({ app: z.string(), minimum: z.number().int().default(1), maximum: z.number().int().optional(), note: z.string().optional() }), columns: [] });
    const manager = await startControllers({ store, controllers: [{ name: 'threshold-v2', watches: [{ kind: v2 }], reconcile: async () => done() }] });
    try {
      const installed = await store.get('CustomKind', { name: 'thresholds' });
      expect(Object.keys((installed?.spec as { schema: { properties: object } }).schema.properties)).toContain('note');
    } finally {
      await manager.stop();
      // Put v1 back for the other tests of this file.
      await startControllers({ store, controllers: [], kinds: [thresholdKind] }).then((m) => m.stop());
    }
  }, 30_000);
});

describe('runControllers', () => {
  let home: string;
  beforeAll(() => {
    home = mkdtempSync(join(tmpdir(), 'capstan-sdk-home-'));
  });
  afterAll(() => rmSync(home, { recursive: true, force: true }));

  const quiet = { handleSignals: false, exitOnError: false } as const;
  const noop: ControllerDefinition = { name: 'noop', watches: [{ kind: thresholdKind }], reconcile: async () => done() };

  it.each([
    ['--etcd', (url: string) => ({ argv: ['--etcd', url], env: { HOME: '/nonexistent' } }), '--etcd'],
    ['CAPSTAN_ETCD', (url: string) => ({ argv: [], env: { HOME: '/nonexistent', CAPSTAN_ETCD: url } }), 'CAPSTAN_ETCD'],
  ])('finds etcd from %s', async (_case, options, source) => {
    const running = await runControllers({ controllers: [noop], kinds: [thresholdKind], ...quiet, ...options(etcd.endpoint), argv: [...options(etcd.endpoint).argv, '--no-leader-election', '--log-level', 'warn'] });
    try {
      expect(running).toMatchObject({ etcd: etcd.endpoint, etcdSource: source });
      expect(running.manager.isLeading('noop')).toBe(true);
    } finally {
      await running.stop();
    }
  }, 30_000);

  it('finds etcd from the config file `capstan up` writes, and campaigns for leadership by default', async () => {
    const configPath = join(home, 'config.yaml');
    writeFileSync(configPath, `etcd: ${etcd.endpoint}\n`);
    const running = await runControllers({ controllers: [noop], ...quiet, argv: ['--lease-ttl', '2', '--log-level', 'warn', '--metrics-port', '0'], env: { CAPSTAN_CONFIG: configPath } });
    try {
      expect(running.etcdSource).toBe(configPath);
      await until(() => running.manager.isLeading('noop'), { what: 'leadership' });
      const metrics = await (await fetch(running.metricsUrl!)).text();
      expect(metrics).toMatch(/capstan_controller_leader\{controller="noop"\} 1/);
    } finally {
      await running.stop();
    }
  }, 30_000);

  it.each([
    [['--lease-ttl', '0'], /--lease-ttl: expected a whole number of at least 1, found "0"/],
    [['--metrics-port', 'x'], /--metrics-port: expected a port number from 0 to 65535, found "x"/],
    [['--log-level', 'loud'], /--log-level: expected one of trace, debug, info, warn, error, found "loud"/],
    [['--etdc', 'x'], /Unknown option '--etdc'/],
  ])('refuses %j with a usage error', async (argv, message) => {
    const error = await runControllers({ controllers: [noop], ...quiet, argv, env: {} }).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'RunError', exitCode: 2, message: expect.stringMatching(message) });
    expect((error as Error).message).toContain('--no-leader-election');
  });

  it('says in one sentence that etcd cannot be reached', async () => {
    const error = await runControllers({ controllers: [noop], ...quiet, argv: ['--etcd', 'http://127.0.0.1:1'], env: {} }).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/^cannot reach etcd at http:\/\/127\.0\.0\.1:1 \(.*\): start it with `capstan up`/);
    expect(isStoreError(error)).toBe(false);
  });
});
