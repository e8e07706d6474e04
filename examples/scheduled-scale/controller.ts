// The ScheduledScale controller: keeps the target App's spec.instances at what the schedule says
// now, and wakes itself at the next boundary. Level-triggered: whenever it runs it recomputes from
// the clock and the caches, so a missed wake-up, a restart or a manual change of the App is
// corrected on the next reconcile.
import { isStoreError } from '../../api/errors.ts';
import type { InformerEvent } from '../../api/informer.ts';
import { deepEqual } from '../../api/merge.ts';
import { parseRefKey, refKey, setCondition, type AnyObject, type DeepReadonly } from '../../api/object.ts';
import { done, invalid, requeueAfter, type Caches, type ControllerDefinition, type ReconcileContext, type Result } from '../../controllers/contract.ts';
import type { ScheduledScaleSpec, ScheduledScaleStatus } from './kind.ts';
import { isTimeZone, planAt } from './plan.ts';

/** Wake at least this often, whatever the schedule says: cheap insurance against clock jumps. */
const MAX_SLEEP_MS = 60 * 60_000;
const CONFLICT_ATTEMPTS = 5;

export function scheduledScaleController(): ControllerDefinition {
  return {
    name: 'scheduled-scale',
    watches: [
      { kind: 'ScheduledScale' },
      // An App that appears, or whose instances someone changed, concerns the schedules targeting it.
      { kind: 'App', map: schedulesTargeting },
    ],
    reconcile,
  };
}

function schedulesTargeting(event: InformerEvent, caches: Caches): string[] {
  const { namespace, name } = event.object.metadata;
  return caches('ScheduledScale')
    .list((s) => s.metadata.namespace === namespace && (s.spec as ScheduledScaleSpec).app === name)
    .map((s) => refKey(s.metadata));
}

async function reconcile(key: string, ctx: ReconcileContext): Promise<Result> {
  const schedule = ctx.informer('ScheduledScale').get(key);
  if (!schedule) return done();
  const spec = schedule.spec as ScheduledScaleSpec;
  // Checked here rather than in the schema: what counts is the time zone data of the Node running
  // the controller, not of the machine that applied the manifest.
  if (!isTimeZone(spec.timeZone)) {
    return invalid('spec.timeZone', `an IANA time zone such as "Europe/Berlin" or "UTC", found "${spec.timeZone}"`);
  }
  const now = ctx.now();
  const plan = planAt(spec, now);
  const { namespace } = parseRefKey(key);
  const outcome = await scaleApp(ctx, { namespace, name: spec.app }, plan.instances);
  if (outcome === 'scaled') {
    await ctx.events.record(schedule, { reason: 'Scaled', message: `scaled App ${spec.app} to ${plan.instances} instances (${plan.window})` });
  }

  const previous = (schedule.status ?? {}) as ScheduledScaleStatus;
  const status: ScheduledScaleStatus = {
    observedGeneration: schedule.metadata.generation,
    instances: plan.instances,
    window: plan.window,
    conditions: setCondition(
      previous.conditions,
      outcome === 'missing'
        ? { type: 'AppFound', status: 'False', reason: 'AppNotFound', message: `no App "${spec.app}" in namespace ${namespace}; waiting for it` }
        : { type: 'AppFound', status: 'True', reason: 'AppFound' },
      now,
    ),
  };
  const lastScaledAt = outcome === 'scaled' ? now.toISOString() : previous.lastScaledAt;
  if (lastScaledAt) status.lastScaledAt = lastScaledAt;
  if (plan.next) {
    status.nextChangeAt = plan.next.at.toISOString();
    status.nextInstances = plan.next.instances;
  }
  // Writing an unchanged status would wake us again through our own watch, forever.
  if (!deepEqual(previous, status)) await ctx.store.updateStatus({ ...(schedule as AnyObject), status });

  return plan.next ? requeueAfter(Math.min(plan.next.at.getTime() - now.getTime(), MAX_SLEEP_MS)) : done();
}

/** Sets the App's spec.instances, re-reading and trying again when someone else wrote it meanwhile. */
async function scaleApp(ctx: ReconcileContext, ref: { namespace?: string; name: string }, instances: number): Promise<'scaled' | 'unchanged' | 'missing'> {
  const cached = ctx.informer('App').get(refKey(ref));
  if (cached && instancesOf(cached) === instances) return 'unchanged';
  for (let attempt = 1; ; attempt += 1) {
    const app = await ctx.store.get('App', ref);
    if (!app) return 'missing';
    if (instancesOf(app) === instances) return 'unchanged';
    try {
      await ctx.store.update({ ...app, spec: { ...(app.spec as object), instances } });
      return 'scaled';
    } catch (error) {
      // Conflict: someone changed the App between our read and our write. Read again; after a few
      // tries give up and let the runtime retry with backoff.
      if (!isStoreError(error, 'Conflict') || attempt >= CONFLICT_ATTEMPTS) throw error;
    }
  }
}

const instancesOf = (app: DeepReadonly<AnyObject> | AnyObject) => (app.spec as { instances?: number }).instances;
