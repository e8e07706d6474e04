// The traffic path end to end, on real parts: real etcd, every built-in controller, two `capstan
// agent` processes running Node HTTP servers as process tasks, the load balancer on a real HAProxy,
// and a steady load of 200 requests/s through it (127.0.0.1 only, bounded in count and time). Each
// task answers after 50 ms, so requests are always in flight when a task is stopped.
//
// The promise: no request fails through a rolling upgrade (the seed's 20 instances at 0.85 / 0.15),
// a scale-down 10 → 2, or a rollback of a bad revision. The last case shows the same scale-down with
// the drain step turned off (drainTimeoutSeconds: 0) losing requests, so this test can fail.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppSpec, AppStatus } from '../api/kinds/app.ts';
import type { EndpointsSpec } from '../api/kinds/endpoints.ts';
import type { CapstanObject } from '../api/object.ts';
import { startLoadBalancer, type RunningLoadBalancer } from '../cli/lb.ts';
import { TestCluster } from './helpers/cluster.ts';
import { runLoad, type LoadResult } from './helpers/http-load.ts';
import { until } from './helpers/poll.ts';
import { freePort } from './helpers/ports.ts';

type App = CapstanObject<AppSpec, AppStatus>;
const SERVER = resolve(import.meta.dirname, 'fixtures/traffic/server.mjs');
const RATE = 200;
const log = pino({ level: process.env.TEST_LOG ?? 'silent' });

let cluster: TestCluster;
let lb: RunningLoadBalancer;
let lbDir: string;

beforeAll(async () => {
  // Below the kernel's ephemeral range (32768-60999): an outgoing connection's local port can never hold a task's port.
  const base = 26_000 + Math.floor(Math.random() * 10) * 100;
  cluster = await TestCluster.start({
    suite: 'traffic',
    // Its own service ports: HAProxy binds with SO_REUSEPORT, and another file's load balancer on the
    // same port would silently take half the connections.
    servicePortRange: { from: 12000, to: 12100 },
    nodes: [
      { name: 'edge-a', ports: `${base}-${base + 49}` },
      { name: 'edge-b', ports: `${base + 50}-${base + 99}` },
    ],
  });
  lbDir = mkdtempSync(join(tmpdir(), 'capstan-traffic-'));
  lb = await startLoadBalancer({
    name: 'edge',
    groups: ['external'],
    dir: lbDir,
    bindAddress: '127.0.0.1',
    httpPort: await freePort(),
    statsAddress: '127.0.0.1',
    statsPort: await freePort(),
    drainTimeoutSeconds: 30,
    hardStopAfterSeconds: 10,
    store: cluster.store,
    log,
  });
}, 60_000);

afterAll(async () => {
  await lb?.stop();
  await cluster?.stop();
  if (lbDir) rmSync(lbDir, { recursive: true, force: true });
}, 60_000);

function appSpec(options: { instances: number; version: string; drainTimeoutSeconds?: number; unhealthy?: boolean }): Record<string, unknown> {
  return {
    instances: options.instances,
    driver: 'process',
    containers: [
      {
        name: 'main',
        cmd: `exec node ${SERVER}`,
        env: { VERSION: options.version, DELAY_MS: '50', ...(options.unhealthy ? { UNHEALTHY: '1' } : {}) },
        resources: { cpus: 0.01, mem: 4 },
      },
    ],
    ports: [{ name: 'http' }],
    healthChecks: [{ protocol: 'HTTP', path: '/health', gracePeriodSeconds: 10, intervalSeconds: 1, timeoutSeconds: 1, maxConsecutiveFailures: 3, delaySeconds: 0 }],
    upgradeStrategy: { minimumHealthCapacity: 0.85, maximumOverCapacity: 0.15 },
    progressDeadlineSeconds: 60,
    ...(options.drainTimeoutSeconds !== undefined ? { drainTimeoutSeconds: options.drainTimeoutSeconds } : {}),
    loadBalancer: {},
  };
}

async function app(name: string): Promise<App> {
  return cluster.store.mustGet<App>('App', { namespace: cluster.namespace, name });
}

async function update(name: string, change: (spec: AppSpec) => AppSpec): Promise<void> {
  const current = await app(name);
  await cluster.store.update({ ...current, spec: change(current.spec) });
}

/**
 * Waits until the App's rollout is done on `revision` (Complete, or RolledBack to it) with every
 * instance healthy and ready, and Endpoints list them all.
 */
async function settled(name: string, revision: number, instances: number, timeoutMs = 90_000): Promise<void> {
  await until(
    async () => {
      const current = await app(name);
      const rollout = current.status?.rollout;
      if (rollout?.revision !== revision || !['Complete', 'RolledBack'].includes(rollout.phase) || !rollout.completedAt) return false;
      const endpoints = await cluster.store.get('Endpoints', { namespace: cluster.namespace, name });
      return (endpoints?.spec as EndpointsSpec | undefined)?.ports[0]?.addresses.length === instances;
    },
    { timeoutMs, intervalMs: 100, what: `${name} complete on revision ${revision} with ${instances} instances in Endpoints` },
  ).catch(async (error: Error) => Promise.reject(new Error(`${error.message}\nrollout: ${JSON.stringify((await app(name)).status?.rollout)}\n${await cluster.describe()}`)));
}

async function servicePort(name: string): Promise<number> {
  return until(
    async () => ((await cluster.store.get('Endpoints', { namespace: cluster.namespace, name }))?.spec as EndpointsSpec | undefined)?.ports[0]?.servicePort,
    { what: `${name}'s service port` },
  );
}

/** The load runs while `scenario` does, and a little before and after it. */
async function underLoad(port: number, scenario: () => Promise<void>): Promise<LoadResult> {
  const stop = new AbortController();
  const load = runLoad({ url: `http://127.0.0.1:${port}/`, ratePerSecond: RATE, durationMs: 180_000, timeoutMs: 5_000, signal: stop.signal });
  try {
    await scenario();
  } finally {
    stop.abort();
  }
  return load;
}

/** Which versions answered, by body's second word. */
const versions = (result: LoadResult) => new Set([...result.bodies.keys()].map((body) => body.trim().split(' ')[1]));

describe('zero failed requests through HAProxy while tasks are stopped', () => {
  it('the seed rolling upgrade: 20 instances at 0.85 / 0.15', async () => {
    await cluster.createApp('seed', appSpec({ instances: 20, version: 'v1' }));
    await settled('seed', 1, 20);
    const port = await servicePort('seed');
    const drained = lb.balancer.stats.drained;
    const result = await underLoad(port, async () => {
      await update('seed', (spec) => ({ ...spec, containers: [{ ...spec.containers[0]!, env: { ...spec.containers[0]!.env, VERSION: 'v2' } }] }));
      await settled('seed', 2, 20);
    });
    console.log(`rolling upgrade under load: ${result.sent} requests, ${result.failed} failed`);
    expect(result.failures).toEqual([]);
    expect(versions(result)).toEqual(new Set(['v1', 'v2']));
    // Every one of the 20 old tasks left through HAProxy's drain state, none by the timeout.
    expect(lb.balancer.stats.drained - drained).toBe(20);
    expect(lb.balancer.stats.drainTimeouts).toBe(0);
  }, 180_000);

  it('a rollback of a bad revision (never healthy, rolled back at its deadline)', async () => {
    const port = await servicePort('seed');
    const result = await underLoad(port, async () => {
      await update('seed', (spec) => {
        const bad = appSpec({ instances: 20, version: 'v3', unhealthy: true }) as { containers: AppSpec['containers'] };
        return { ...spec, progressDeadlineSeconds: 8, containers: [{ ...spec.containers[0]!, env: { ...bad.containers[0]!.env } }] };
      });
      await until(async () => (await app('seed')).status?.rollout?.phase === 'RolledBack', { timeoutMs: 60_000, intervalMs: 100, what: 'seed rolled back' });
      await settled('seed', 2, 20);
    });
    console.log(`rollback under load: ${result.sent} requests, ${result.failed} failed`);
    expect(result.failures).toEqual([]);
    expect(versions(result)).toEqual(new Set(['v2']));
    await cluster.reset();
  }, 180_000);

  it('a scale-down 10 → 2', async () => {
    await cluster.createApp('scale', appSpec({ instances: 10, version: 'v1' }));
    await settled('scale', 1, 10);
    const port = await servicePort('scale');
    const result = await underLoad(port, async () => {
      await update('scale', (spec) => ({ ...spec, instances: 2 }));
      await cluster.untilRunning('scale', 2, { timeoutMs: 30_000 });
      await until(async () => (await cluster.tasksOf('scale')).length === 2, { timeoutMs: 30_000, what: 'the 8 stopped tasks gone' }).catch(async (error: Error) =>
        Promise.reject(new Error(`${error.message}\n${await cluster.describe()}\n${JSON.stringify((await cluster.tasksOf('scale')).map((t) => t.status?.conditions))}`)),
      );
    });
    console.log(`scale-down under load: ${result.sent} requests, ${result.failed} failed`);
    expect(result.failures).toEqual([]);
    await cluster.reset();
  }, 180_000);

  it('the same scale-down without the drain step loses requests', async () => {
    await cluster.createApp('careless', appSpec({ instances: 10, version: 'v1', drainTimeoutSeconds: 0 }));
    await settled('careless', 1, 10);
    const port = await servicePort('careless');
    const result = await underLoad(port, async () => {
      await update('careless', (spec) => ({ ...spec, instances: 2 }));
      await until(async () => (await cluster.tasksOf('careless')).length === 2, { timeoutMs: 30_000, what: 'the 8 stopped tasks gone' });
    });
    console.log(`scale-down without drain: ${result.sent} requests, ${result.failed} failed`);
    expect(result.failed).toBeGreaterThan(0);
    await cluster.reset();
  }, 180_000);
});
