import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { getCondition, type CommonStatus } from '../api/object.ts';
import { done, invalid, retry, type ControllerDefinition, type ReconcileContext, type Result } from '../controllers/contract.ts';
import { runControllers, UnknownControllerError } from '../controllers/builtin.ts';
import { Manager } from '../controllers/manager.ts';
import { useStore } from './helpers/etcd.ts';
import { widget, widgetRegistry } from './helpers/kinds.ts';
import { until } from './helpers/poll.ts';

const log = pino({ level: 'silent' });

describe('the controller runtime on a real etcd', () => {
  const db = useStore(widgetRegistry(), { clearEachTest: true });
  let manager: Manager | undefined;

  afterEach(async () => {
    await manager?.stop();
    manager = undefined;
  });

  /** Runs one controller over Widgets; `decide` returns each reconcile's result. Records every call. */
  async function run(decide: (key: string, call: number, ctx: ReconcileContext) => Promise<Result> | Result) {
    const calls: { key: string; at: number }[] = [];
    const definition: ControllerDefinition = {
      name: 'widgets',
      watches: [{ kind: 'Widget' }],
      concurrency: 2,
      async reconcile(key, ctx) {
        calls.push({ key, at: performance.now() });
        return decide(key, calls.filter((c) => c.key === key).length, ctx);
      },
    };
    manager = new Manager({ store: db.store, controllers: [definition], leaderElection: false, logger: log });
    await manager.start();
    const callsOf = (key: string) => calls.filter((c) => c.key === key);
    return { calls, callsOf };
  }

  it('reconciles every key that existed before it started and every key created afterwards', async () => {
    await db.store.create(widget('a'));
    await db.store.create(widget('b', 1, 'shop'));
    const { callsOf } = await run(async (key, _call, ctx) => {
      const object = ctx.informer('Widget').get(key)!;
      await ctx.store.updateStatus({ ...object, status: { observedGeneration: object.metadata.generation } } as never);
      return done();
    });
    await until(() => callsOf('default/a').length > 0 && callsOf('shop/b').length > 0, { what: 'existing keys reconciled' });
    await db.store.create(widget('c'));
    // The reconcile is recorded before its status write lands: wait for the write, not the call.
    const observed = async () => (await db.store.mustGet<{ status: CommonStatus } & ReturnType<typeof widget>>('Widget', { name: 'c' })).status?.observedGeneration;
    await until(async () => (await observed()) !== undefined, { what: 'a new key reconciled' });
    expect(await observed()).toBe(1);
    expect(callsOf('default/c').length).toBeGreaterThan(0);
  });

  it('writes an Invalid condition for an invalid spec and does not reconcile it again until its generation changes', async () => {
    const { callsOf } = await run((key, _call, ctx) => {
      const size = (ctx.informer('Widget').get(key)!.spec as { size: number }).size;
      return size % 2 === 1 ? invalid('spec.size', `must be even, found ${size}`) : done();
    });
    const created = await db.store.create(widget('odd', 3));
    const invalidCondition = async () => {
      const object = await db.store.mustGet('Widget', { name: 'odd' });
      return getCondition((object.status as CommonStatus | undefined)?.conditions, 'Invalid');
    };
    const condition = await until(async () => (await invalidCondition())?.status === 'True' && invalidCondition(), { what: 'Invalid condition' });
    expect(condition).toMatchObject({ status: 'True', reason: 'InvalidSpec', message: 'spec.size: must be even, found 3' });

    // A metadata-only change queues the key again, but the generation is the same: no reconcile.
    const current = await db.store.mustGet('Widget', { name: 'odd' });
    await db.store.update({ ...current, metadata: { ...current.metadata, labels: { touched: 'yes' } } });
    // Keys are worked on in order: once a key queued after it is done, the touched key was seen.
    await db.store.create(widget('barrier', 2));
    await until(() => callsOf('default/barrier').length > 0, { what: 'barrier reconciled' });
    expect(callsOf('default/odd')).toHaveLength(1);

    // A spec change (new generation) is reconciled, and the condition is cleared.
    const latest = await db.store.mustGet('Widget', { name: 'odd' });
    await db.store.update({ ...latest, spec: { size: 4 } });
    await until(async () => (await invalidCondition())?.status === 'False', { what: 'Invalid condition cleared' });
    // (The runtime's own status write may queue it once more; that is level-triggered and harmless.)
    expect(callsOf('default/odd').length).toBeGreaterThanOrEqual(2);
    expect(created.metadata.generation).toBe(1);
    const metrics = await manager!.metrics.registry.metrics();
    expect(metrics).toContain('capstan_controller_reconciles_total{controller="widgets",result="invalid"} 1');
    const events = await db.client.getAll().prefix('/capstan/events/default/odd.').strings();
    expect(Object.values(events).map((v) => JSON.parse(v).spec)).toEqual([
      expect.objectContaining({ reason: 'InvalidSpec', type: 'Warning', message: 'spec.size: must be even, found 3', count: 1 }),
    ]);
  });

  it('backs off a key that returns retry: 5 ms, then 10, then 20', async () => {
    const { callsOf } = await run((_key, call) => (call <= 3 ? retry(new Error(`not yet (${call})`)) : done()));
    await db.store.create(widget('flaky'));
    const calls = await until(() => callsOf('default/flaky').length === 4 && callsOf('default/flaky'), { what: 'four attempts' });
    const gaps = calls.slice(1).map((c, i) => c.at - calls[i]!.at);
    gaps.forEach((gap, i) => expect(gap).toBeGreaterThanOrEqual(5 * 2 ** i - 1));
    expect(gaps[2]!).toBeGreaterThan(gaps[0]!);
  });

  it('retries a reconcile that throws, and counts it as an error', async () => {
    const { callsOf } = await run((_key, call) => {
      if (call <= 2) throw new Error('infrastructure failure');
      return done();
    });
    await db.store.create(widget('thrower'));
    await until(() => callsOf('default/thrower').length === 3, { what: 'third attempt' });
    await until(async () => (await manager!.metrics.registry.metrics()).includes('capstan_controller_reconcile_errors_total{controller="widgets"} 2'), {
      what: 'two errors counted',
    });
  });

  it('runs the built-in controllers chosen with --only and serves their metrics on loopback', async () => {
    await expect(runControllers({ store: db.store, only: ['gc', 'nope'], handleSignals: false })).rejects.toThrow(UnknownControllerError);
    const running = await runControllers({ store: db.store, only: ['gc'], leaderElection: false, metricsPort: 0, handleSignals: false, logger: log });
    try {
      expect(running.controllers).toEqual(['gc']);
      expect(running.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      const owner = await db.store.create(widget('owner'));
      await db.store.create({ ...widget('dependent'), metadata: { name: 'dependent', namespace: 'default', ownerReferences: [
        { apiVersion: 'capstan/v1', kind: 'Widget', name: 'owner', uid: owner.metadata.uid!, controller: true },
      ] } });
      await db.store.delete('Widget', { name: 'owner' });
      await until(async () => (await db.store.get('Widget', { name: 'dependent' })) === undefined, { what: 'gc collecting the dependent' });
      const body = await (await fetch(running.metricsUrl!)).text();
      expect(body).toContain('capstan_controller_reconciles_total{controller="gc",result="done"}');
    } finally {
      await running.stop();
    }
  });
});
