// The ScheduledScale controller: keeps the target App's spec.instances at what the schedule says
// now, and wakes itself at the next boundary. Level-triggered: whenever it runs it recomputes from
// the clock and the caches, so a missed wake-up, a restart or a manual change of the App is
// corrected on the next reconcile.
import {
  done,
  invalid,
  parseRefKey,
  readModifyWrite,
  refKey,
  requeueAfter,
  setCondition,
  type AnyObject,
  type Caches,
  type ControllerDefinition,
  type DeepReadonly,
  type InformerEvent,
  type ObjectName,
  type ReconcileContext,
  type Result,
} from 'capstan/sdk';
import { scheduledScaleKind, type ScheduledScaleStatus } from './kind.ts';
import { isTimeZone, planAt } from './plan.ts';

/** Wake at least this often, whatever the schedule says: cheap insurance against clock jumps. */
const MAX_SLEEP_MS = 60 * 60_000;
const CONFLICT_ATTEMPTS = 5;

const say = {
  badTimeZone: (zone: string) => `an IANA time zone such as "Europe/Berlin" or "UTC", found "${zone}"`,
  scaled: (app: string, instances: number, window: string) => `scaled App ${app} to ${instances} instances (${window})`,
  appMissing: (app: ObjectName) => `no App "${app.name}" in namespace ${app.namespace}; waiting for it`,
} as const;

export function scheduledScaleController(): ControllerDefinition {
  return {
    name: 'scheduled-scale',
    watches: [
      { kind: scheduledScaleKind },
      // An App that appears, or whose instances someone changed, concerns the schedules targeting it.
      { kind: 'App', map: schedulesTargeting },
    ],
    reconcile,
  };
}

function schedulesTargeting(event: InformerEvent, caches: Caches): string[] {
  const { namespace, name } = event.object.metadata;
  return caches(scheduledScaleKind)
    .list((s) => s.metadata.namespace === namespace && s.spec.app === name)
    .map((s) => refKey(s.metadata));
}

async function reconcile(key: string, ctx: ReconcileContext): Promise<Result> {
  const schedule = ctx.informer(scheduledScaleKind).get(key);
  if (!schedule) return done();
  const { spec } = schedule;
  // Checked here rather than in the schema: what counts is the time zone data of the Node running
  // the controller, not of the machine that applied the manifest.
  if (!isTimeZone(spec.timeZone)) return invalid('spec.timeZone', say.badTimeZone(spec.timeZone));
  const now = ctx.now();
  const plan = planAt(spec, now);
  // The App is in the schedule's namespace.
  const app = { ...parseRefKey(key), name: spec.app };
  const outcome = await scaleApp(ctx, app, plan.instances);
  if (outcome === 'scaled') await ctx.events.record(schedule, { reason: 'Scaled', message: say.scaled(spec.app, plan.instances, plan.window) });

  const previous: DeepReadonly<ScheduledScaleStatus> = schedule.status ?? {};
  const status: ScheduledScaleStatus = {
    observedGeneration: schedule.metadata.generation,
    instances: plan.instances,
    window: plan.window,
    conditions: setCondition(
      previous.conditions,
      outcome === 'missing'
        ? { type: 'AppFound', status: 'False', reason: 'AppNotFound', message: say.appMissing(app) }
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
  // Writes nothing when the status is unchanged: our own write would wake us again, forever.
  await ctx.updateStatus(schedule, status);

  return plan.next ? requeueAfter(Math.min(plan.next.at.getTime() - now.getTime(), MAX_SLEEP_MS)) : done();
}

/**
 * Sets the App's spec.instances with a write conditioned on what was read; when someone else wrote
 * the App meanwhile, reads it again and retries, and after a few conflicts throws, so the runtime
 * retries the key with backoff.
 */
async function scaleApp(ctx: ReconcileContext, ref: ObjectName, instances: number): Promise<'scaled' | 'unchanged' | 'missing'> {
  const cached = ctx.informer('App').get(refKey(ref));
  if (cached && instancesOf(cached) === instances) return 'unchanged';
  // The cache may be behind the store (an App created a moment ago): the first attempt reads the store.
  const written = await readModifyWrite<DeepReadonly<AnyObject>>({
    store: ctx.store,
    kind: 'App',
    ref,
    attempts: CONFLICT_ATTEMPTS,
    write: 'update',
    change: (app) => (instancesOf(app) === instances ? undefined : { ...app, spec: { ...(app.spec as object), instances } }),
  });
  if (written.outcome === 'gone') return 'missing';
  return written.outcome === 'updated' ? 'scaled' : 'unchanged';
}

/** The App kind is built in, with no typed definition here: its spec is read as what we need of it. */
const instancesOf = (app: DeepReadonly<AnyObject>) => (app.spec as { instances?: number }).instances;
