// The rollout controller: turns an App into numbered Revisions, decides each Revision's instance
// count (the replicas controller makes the count true), tracks the rollout's progress and rolls back
// one that stalls, holds Apps whose dependencies are not ready, and sums the App's status.
//
// Pause and restart are metadata annotations, so that they need no schema change and read the same
// in a manifest: `capstan.io/paused: "true"` holds the rollout where it is; `capstan.io/restartedAt`
// is part of a revision's identity (kept on the Revision), so a new stamp makes a new revision with
// the same template, which replaces every task.
import type { AnyObject, CapstanObject, DeepReadonly } from '../../api/object.ts';
import { DEFAULT_NAMESPACE, parseRefKey, refKey, setCondition } from '../../api/object.ts';
import { isStoreError } from '../../api/errors.ts';
import { deepEqual } from '../../api/merge.ts';
import type { AppSpec, AppStatus, AppTemplate, TaskFailure } from '../../api/kinds/app.ts';
import { revisionName, withTemplateOf, type RevisionSpec, type RevisionStatus } from '../../api/kinds/revision.ts';
import { APP_LABEL, PAUSED_ANNOTATION, RESTARTED_AT_ANNOTATION } from '../../api/kinds/wellknown.ts';
import { done, requeueAfter, type ControllerDefinition, type ReconcileContext, type Result } from '../contract.ts';
import { appPhase } from './app-phase.ts';
import { appKey, dependencyState, dependentsOf } from './dependencies.ts';
import { isRevisionOf, planRollout, type RevisionFacts } from './plan.ts';
import { nextProgress, settleMsFor, type Progress } from './progress.ts';
import type { ControllerMetrics } from '../../api/metrics.ts';
import { recordRollout } from './metrics.ts';

export const ROLLOUT = 'rollout';

type App = DeepReadonly<CapstanObject<AppSpec, AppStatus>>;
type Revision = DeepReadonly<CapstanObject<RevisionSpec, RevisionStatus>>;

export function rolloutController(options: { metrics?: ControllerMetrics } = {}): ControllerDefinition {
  const { metrics } = options;
  return {
    name: ROLLOUT,
    primaryKind: 'App',
    concurrency: 4,
    watches: [
      // An App's change concerns itself and the Apps that depend on it.
      { kind: 'App', map: (event, caches) => [appKey(event.object), ...dependentsOf(event.object, caches('App').list(hasDependencies))] },
      { kind: 'Revision', map: (event) => ownerApp(event.object) },
    ],
    reconcile: async (key, ctx) => {
      const result = await reconcileApp(key, ctx);
      if (metrics) recordRollout(metrics, key, ctx.informer('App').get(key) as App | undefined, revisionsOf(key, ctx));
      return result;
    },
  };
}

function revisionsOf(key: string, ctx: ReconcileContext): Revision[] {
  const uid = ctx.informer('App').get(key)?.metadata.uid;
  return (uid ? ctx.informer('Revision').byIndex('owner', uid) : []) as Revision[];
}

const hasDependencies = (o: DeepReadonly<AnyObject>) => ((o.spec as DeepReadonly<AppSpec>).dependencies?.length ?? 0) > 0;
function ownerApp(object: DeepReadonly<AnyObject>): string[] {
  const owner = object.metadata.ownerReferences?.find((ref) => ref.controller && ref.kind === 'App');
  return owner ? [refKey({ namespace: object.metadata.namespace ?? DEFAULT_NAMESPACE, name: owner.name })] : [];
}

async function reconcileApp(key: string, ctx: ReconcileContext): Promise<Result> {
  const app = ctx.informer('App').get(key) as App | undefined;
  if (!app || app.metadata.deletionTimestamp) return done();
  const revisions = (app.metadata.uid ? ctx.informer('Revision').byIndex('owner', app.metadata.uid) : []) as Revision[];
  const spec = app.spec as AppSpec;
  const annotations = app.metadata.annotations ?? {};
  const paused = annotations[PAUSED_ANNOTATION] === 'true';
  const restartedAt = annotations[RESTARTED_AT_ANNOTATION] ?? '';
  const dependencies = dependencyState(app, (k) => ctx.informer('App').get(k));
  const facts = revisions.map(factsOf);
  const previous = app.status?.rollout;

  // A rollback whose template write did not land (its status did): write it again.
  const pending = previous?.phase === 'RolledBack' && previous.generation === app.metadata.generation ? previous.revision : undefined;
  const target = pending !== undefined ? revisions.find((r) => r.spec.number === pending) : undefined;
  if (target && !isRevisionOf(factsOf(target), spec, restartedAt)) {
    await rollBackTo(key, target, ctx, app.metadata.generation);
    return done();
  }

  const stable = newestStable(revisions);
  const plan = planRollout({ spec, restartedAt, revisions: facts, hold: paused || !dependencies.ready, stableRevision: stable });
  if (plan.create) await createRevision(app, plan.create, ctx);
  for (const { name, instances } of plan.scale) await scaleRevision(app.metadata.namespace!, name, instances, ctx);
  for (const name of plan.forget) await ctx.store.delete('Revision', { namespace: app.metadata.namespace, name }).catch(ignoreNotFound);

  // A revision created just now is not in the cache yet: it has nothing running.
  const created = plan.create ? { ...plan.create, name: revisionName(app.metadata.name, plan.create.number), tasks: 0, running: 0, healthy: 0, ready: 0, failures: 0 } : undefined;
  const current = created ?? facts.find((r) => r.number === plan.current);
  // Every instance healthy and ready, none failing: not rolled back from. It becomes the rollback
  // target (fullyHealthyAt) only once its rollout is Complete, which a crash loop never is, even when
  // its first task is seen up before it is seen failing.
  const fullyHealthy = current && current.instances === spec.instances && spec.instances > 0 && current.ready >= spec.instances && !current.failures;
  const currentRevision = revisions.find((r) => r.spec.number === plan.current);

  const progress = nextProgress({
    now: ctx.now(),
    generation: app.metadata.generation ?? 0,
    instances: spec.instances,
    progressDeadlineSeconds: spec.progressDeadlineSeconds,
    previous,
    current,
    others: facts.filter((r) => r !== current),
    stable: fullyHealthy ? current.number : stable,
    paused,
    waiting: dependencies.ready ? null : dependencies.message,
    templatePending: !created && !revisions.some((r) => r.spec.number === plan.current && isRevisionOf(factsOf(r), spec, restartedAt)),
    settleMs: settleMsFor(spec),
  });
  const marked = fullyHealthy && progress.rollout.phase === 'Complete';
  // Marked again when it becomes the latest fully healthy one once more (after an undo, say).
  if (marked && currentRevision && stable !== current.number) await markFullyHealthy(currentRevision, ctx);
  const stableNow = marked ? current.number : stable;
  const phaseRecheckMs = await writeAppStatus(app, revisions, { progress, current: plan.current, stable: stableNow, dependencies: dependencies.ready ? null : dependencies.message }, ctx);
  // After the status write, which is conditioned on the status read: a reconcile that saw a stale
  // status fails there (Conflict, retried) instead of announcing the same transition again.
  await recordTransitions(app, previous, progress, ctx);
  if (progress.rollback) {
    const to = revisions.find((r) => r.spec.number === progress.rollback!.to);
    if (to) await rollBackTo(key, to, ctx, app.metadata.generation);
    return done();
  }
  const recheckMs = Math.min(progress.recheckAfterMs ?? Infinity, phaseRecheckMs ?? Infinity);
  return recheckMs !== Infinity ? requeueAfter(recheckMs) : done();
}

function factsOf(revision: Revision): RevisionFacts {
  return {
    name: revision.metadata.name,
    number: revision.spec.number,
    template: revision.spec.template as AppTemplate,
    restartedAt: revision.metadata.annotations?.[RESTARTED_AT_ANNOTATION] ?? '',
    instances: revision.spec.instances,
    tasks: revision.status?.tasks ?? 0,
    running: revision.status?.running ?? 0,
    healthy: revision.status?.healthy ?? 0,
    ready: revision.status?.ready ?? 0,
    failures: revision.status?.backoff?.failures ?? 0,
  };
}


/** The revision most recently fully healthy: the rollback target. */
function newestStable(revisions: readonly Revision[]): number | undefined {
  const stable = revisions.filter((r) => r.status?.fullyHealthyAt).sort((a, b) => a.status!.fullyHealthyAt!.localeCompare(b.status!.fullyHealthyAt!));
  return stable.at(-1)?.spec.number;
}

async function createRevision(app: App, create: NonNullable<ReturnType<typeof planRollout>['create']>, ctx: ReconcileContext) {
  const name = revisionName(app.metadata.name, create.number);
  const revision: AnyObject = {
    apiVersion: 'capstan/v1',
    kind: 'Revision',
    metadata: {
      name,
      namespace: app.metadata.namespace,
      labels: { [APP_LABEL]: app.metadata.name },
      ...(create.restartedAt ? { annotations: { [RESTARTED_AT_ANNOTATION]: create.restartedAt } } : {}),
      ownerReferences: [{ apiVersion: 'capstan/v1', kind: 'App', name: app.metadata.name, uid: app.metadata.uid!, controller: true, blockOwnerDeletion: true }],
    },
    spec: { app: app.metadata.name, number: create.number, template: create.template, instances: create.instances },
  };
  try {
    await ctx.store.create(revision);
    await ctx.events.record(app, { reason: 'RevisionCreated', message: `revision ${create.number} created` });
  } catch (error) {
    // Created by an earlier attempt whose cache update we have not seen yet: nothing to do.
    if (!isStoreError(error, 'AlreadyExists')) throw error;
  }
}

async function scaleRevision(namespace: string, name: string, instances: number, ctx: ReconcileContext) {
  const current = await ctx.store.get<CapstanObject<RevisionSpec>>('Revision', { namespace, name });
  if (!current || current.spec.instances === instances) return;
  await ctx.store.update({ ...current, spec: { ...current.spec, instances } });
}

async function markFullyHealthy(revision: Revision, ctx: ReconcileContext) {
  const status = { ...(revision.status as RevisionStatus), fullyHealthyAt: ctx.now().toISOString() };
  await ctx.store.updateStatus({ ...(revision as AnyObject), status });
}

/**
 * The App's template becomes the stable revision's again, as `rollout undo` does: that Revision is
 * then current, scaled back up with the tasks it still has, and the stalled one scaled down.
 */
/**
 * Writes the revision's template back into the App. `decidedAt`: the App's generation the rollback
 * was decided at; an App changed since (the user applied something newer between the status write
 * and this one) is left as it is: the newer change is a new rollout, not to be overwritten by a
 * rollback decided about an older one.
 */
export async function rollBackTo(key: string, revision: Revision | DeepReadonly<CapstanObject<RevisionSpec>>, ctx: Pick<ReconcileContext, 'store'>, decidedAt?: number) {
  const app = await ctx.store.get<CapstanObject<AppSpec>>('App', parseRefKey(key));
  if (!app || (decidedAt !== undefined && app.metadata.generation !== decidedAt)) return;
  // Conditioned on the resourceVersion just read: a change landing meanwhile makes this a Conflict.
  await ctx.store.update(withTemplateOf(app, revision));
}

async function recordTransitions(app: App, previous: AppStatus['rollout'] | undefined, progress: Progress, ctx: ReconcileContext) {
  const next = progress.rollout;
  if (previous?.phase === next.phase && previous.revision === next.revision) return;
  const message = next.message ?? '';
  if (progress.rollback) {
    await ctx.events.record(app, { type: 'Warning', reason: 'ProgressDeadlineExceeded', message });
    await ctx.events.record(app, { type: 'Warning', reason: 'RolledBack', message: `rolling back to revision ${progress.rollback.to}` });
  } else if (next.phase === 'Failed') await ctx.events.record(app, { type: 'Warning', reason: 'ProgressDeadlineExceeded', message });
  else if (next.phase === 'Complete') await ctx.events.record(app, { reason: 'RolloutComplete', message });
  else if (next.phase === 'Waiting') await ctx.events.record(app, { type: 'Warning', reason: 'DependenciesNotReady', message });
  else if (next.phase === 'Paused') await ctx.events.record(app, { reason: 'RolloutPaused', message });
  else if (next.phase === 'Progressing' && previous?.revision !== next.revision) {
    await ctx.events.record(app, { reason: 'RolloutStarted', message: `rolling out revision ${next.revision}` });
  }
}

interface StatusInput {
  progress: Progress;
  current: number | undefined;
  stable: number | undefined;
  /** null: dependencies ready (or none). */
  dependencies: string | null;
}

/** Writes the App's status; returns when its phase changes by itself (a launch delay ending). */
async function writeAppStatus(app: App, revisions: readonly Revision[], input: StatusInput, ctx: ReconcileContext): Promise<number | undefined> {
  const sum = (field: 'tasks' | 'running' | 'healthy' | 'ready') => revisions.reduce((n, r) => n + (r.status?.[field] ?? 0), 0);
  const running = sum('running');
  const healthy = sum('healthy');
  const instances = app.spec.instances;
  const previous = (app.status ?? {}) as Partial<AppStatus>;
  const now = ctx.now();
  const current = revisions.find((r) => r.spec.number === input.current);
  const failures = current?.status?.backoff?.failures ?? 0;
  const view = appPhase({
    now,
    app: app.metadata.name,
    instances,
    running,
    healthy,
    rollout: input.progress.rollout,
    dependencies: input.dependencies,
    ...(current ? { current: { number: current.spec.number, ...(current.status as RevisionStatus | undefined) } } : {}),
  });
  let conditions = setCondition(
    previous.conditions,
    healthy < instances
      ? { type: 'Available', status: 'False', reason: 'InstancesMissing', message: `${healthy}/${instances} healthy` }
      : failures > 0
        ? { type: 'Available', status: 'False', reason: 'TasksFailing', message: `${healthy}/${instances} healthy, but ${view.message}` }
        : { type: 'Available', status: 'True', reason: 'InstancesHealthy', message: `${healthy}/${instances} healthy` },
    now,
  );
  conditions = setCondition(conditions, input.progress.condition, now);
  if (input.dependencies !== null || previous.conditions?.some((c) => c.type === 'DependenciesReady')) {
    conditions = setCondition(
      conditions,
      input.dependencies === null
        ? { type: 'DependenciesReady', status: 'True', reason: 'DependenciesHealthy', message: 'every dependency is healthy' }
        : { type: 'DependenciesReady', status: 'False', reason: 'DependenciesNotReady', message: input.dependencies },
      now,
    );
  }
  const status: AppStatus = {
    ...(previous as AppStatus),
    observedGeneration: app.metadata.generation,
    instances,
    staged: sum('tasks') - running,
    running,
    healthy,
    unhealthy: running - healthy,
    ready: sum('ready'),
    revisions: revisions
      .map((r) => ({ revision: r.spec.number, instances: r.spec.instances, running: r.status?.running ?? 0, healthy: r.status?.healthy ?? 0, ready: r.status?.ready ?? 0 }))
      .sort((a, b) => a.revision - b.revision),
    rollout: input.progress.rollout,
    conditions,
  };
  if (input.current !== undefined) status.currentRevision = input.current;
  if (input.stable !== undefined) status.stableRevision = input.stable;
  status.phase = view.phase;
  status.reason = view.reason;
  status.message = view.message;
  if (view.launchDelay) status.launchDelay = view.launchDelay;
  else delete status.launchDelay;
  const lastTaskFailure = newestFailure([previous.lastTaskFailure, ...revisions.map((r) => r.status?.lastTaskFailure as TaskFailure | undefined)]);
  if (lastTaskFailure) status.lastTaskFailure = lastTaskFailure;
  if (!deepEqual(status, previous)) await ctx.store.updateStatus({ ...(app as AnyObject), status });
  return view.recheckAfterMs;
}

/** Marathon's lastTaskFailure: the newest of any revision, the App's own kept after its revision is gone. */
function newestFailure(failures: readonly (TaskFailure | undefined)[]): TaskFailure | undefined {
  return failures.filter((f): f is TaskFailure => f !== undefined).sort((a, b) => a.timestamp.localeCompare(b.timestamp)).at(-1);
}

function ignoreNotFound(error: unknown): void {
  if (!isStoreError(error, 'NotFound')) throw error;
}
