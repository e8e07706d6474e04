// The rollout controller: turns an App into numbered Revisions and decides each Revision's
// instance count (the replicas controller makes the count true), and sums the App's status.
import type { AnyObject, CapstanObject, DeepReadonly } from '../../api/object.ts';
import { setCondition } from '../../api/object.ts';
import { isStoreError } from '../../api/errors.ts';
import type { AppSpec, AppStatus } from '../../api/kinds/app.ts';
import { revisionName, type RevisionSpec, type RevisionStatus } from '../../api/kinds/revision.ts';
import { APP_LABEL } from '../../api/kinds/wellknown.ts';
import { done, toOwner, type ControllerDefinition, type ReconcileContext } from '../contract.ts';
import { planRollout, type RevisionFacts } from './plan.ts';

export const ROLLOUT = 'rollout';

type App = DeepReadonly<CapstanObject<AppSpec, AppStatus>>;
type Revision = DeepReadonly<CapstanObject<RevisionSpec, RevisionStatus>>;

export function rolloutController(): ControllerDefinition {
  return {
    name: ROLLOUT,
    primaryKind: 'App',
    concurrency: 4,
    watches: [{ kind: 'App' }, { kind: 'Revision', map: toOwner('App') }],
    reconcile: reconcileApp,
  };
}

async function reconcileApp(key: string, ctx: ReconcileContext) {
  const app = ctx.informer('App').get(key) as App | undefined;
  if (!app || app.metadata.deletionTimestamp) return done();
  const revisions = ctx
    .informer('Revision')
    .list((r) => r.metadata.ownerReferences?.some((o) => o.uid === app.metadata.uid) ?? false) as Revision[];
  const plan = planRollout(app.spec as AppSpec, revisions.map(facts));

  if (plan.create) await createRevision(app, plan.create, ctx);
  for (const { name, instances } of plan.scale) await scaleRevision(app.metadata.namespace!, name, instances, ctx);
  for (const name of plan.forget) await ctx.store.delete('Revision', { namespace: app.metadata.namespace, name }).catch(ignoreNotFound);
  await writeAppStatus(app, revisions, plan.current, ctx);
  return done();
}

function facts(revision: Revision): RevisionFacts {
  return {
    name: revision.metadata.name,
    number: revision.spec.number,
    template: revision.spec.template as RevisionFacts['template'],
    instances: revision.spec.instances,
    tasks: revision.status?.tasks ?? 0,
    running: revision.status?.running ?? 0,
    healthy: revision.status?.healthy ?? 0,
    ready: revision.status?.ready ?? 0,
  };
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

async function writeAppStatus(app: App, revisions: readonly Revision[], current: number, ctx: ReconcileContext) {
  const sum = (field: 'tasks' | 'running' | 'healthy' | 'ready') => revisions.reduce((n, r) => n + (r.status?.[field] ?? 0), 0);
  const running = sum('running');
  const healthy = sum('healthy');
  const instances = app.spec.instances;
  const available = healthy >= instances;
  const previous = (app.status ?? {}) as Partial<AppStatus>;
  const status: AppStatus = {
    ...(previous as AppStatus),
    observedGeneration: app.metadata.generation,
    instances,
    staged: sum('tasks') - running,
    running,
    healthy,
    unhealthy: running - healthy,
    ready: sum('ready'),
    currentRevision: current,
    revisions: revisions
      .map((r) => ({ revision: r.spec.number, instances: r.spec.instances, running: r.status?.running ?? 0, healthy: r.status?.healthy ?? 0, ready: r.status?.ready ?? 0 }))
      .sort((a, b) => a.revision - b.revision),
    conditions: setCondition(
      previous.conditions,
      available
        ? { type: 'Available', status: 'True', reason: 'InstancesHealthy', message: `${healthy}/${instances} healthy` }
        : { type: 'Available', status: 'False', reason: 'InstancesMissing', message: `${healthy}/${instances} healthy` },
      ctx.now(),
    ),
  };
  if (JSON.stringify(status) === JSON.stringify(previous)) return;
  await ctx.store.updateStatus({ ...(app as AnyObject), status });
}

function ignoreNotFound(error: unknown): void {
  if (!isStoreError(error, 'NotFound')) throw error;
}
