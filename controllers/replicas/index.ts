// The replicas controller: each Revision has exactly `spec.instances` live Tasks.
//
// It compares the Revision's wanted count with its live tasks in the informer cache, creates or
// kills the difference, and replaces finished and failed tasks after Marathon's launch backoff (the
// task gc deletes ended tasks beyond each App's history). The rollout controller decides each
// Revision's count; this one only makes it true.
//
// The cache lags the store: a task created a moment ago may not be in it yet, and counting without
// it would create another. So the controller remembers, per Revision, the names it created and
// deleted ("expectations", as Kubernetes' ReplicaSet controller does) and waits until the cache has
// caught up before counting again. The memory is per process and short-lived; after a restart the
// informer's fresh list is complete, so nothing is over-created across restarts either.
import { randomBytes } from 'node:crypto';
import { getCondition, refKey, type AnyObject, type CapstanObject, type DeepReadonly } from '../../api/object.ts';
import { isStoreError } from '../../api/errors.ts';
import type { AppSpec, Constraint, TaskFailure } from '../../api/kinds/app.ts';
import type { RevisionSpec, RevisionStatus } from '../../api/kinds/revision.ts';
import { isTerminal, type TaskSpec, type TaskStatus } from '../../api/kinds/task.ts';
import { APP_LABEL, LAUNCH_DELAY_RESET_ANNOTATION, REVISION_LABEL } from '../../api/kinds/wellknown.ts';
import { deepEqual } from '../../api/merge.ts';
import { done, requeueAfter, toOwner, type Caches, type ControllerDefinition, type ReconcileContext } from '../contract.ts';
import { nodeView } from '../scheduler/demand.ts';
import { attributeOf } from '../scheduler/snapshot.ts';
import { planReplicas, type Backoff, type TaskFacts } from './plan.ts';

export const REPLICAS = 'replicas';
const EXPECTATION_TIMEOUT_MS = 30_000;
const CHECK_CACHE_AGAIN_MS = 50;

export const say = {
  created: (count: number, revision: string) => `created ${count} task(s) of ${revision}`,
  /** One message per revision and exit, so that repeats are counted (x5) rather than listed. */
  taskFailed: (failure: TaskFailure) => `task of revision ${failure.revision} ${failure.phase.toLowerCase()}: ${failure.message}`,
  backOff: (revision: number) => `back-off restarting failed task of revision ${revision}`,
  delayReset: (revision: number) => `launch delay of revision ${revision} reset (capstan app reset-delay): launching now`,
} as const;

type Revision = DeepReadonly<CapstanObject<RevisionSpec, RevisionStatus>>;
type Task = DeepReadonly<AnyObject>;

interface Expectation {
  creates: Set<string>;
  deletes: Set<string>;
  until: number;
}

export function replicasController(): ControllerDefinition {
  const expectations = new Map<string, Expectation>();
  return {
    name: REPLICAS,
    primaryKind: 'Revision',
    concurrency: 4,
    watches: [{ kind: 'Revision' }, { kind: 'Task', map: toOwner('Revision') }, { kind: 'App', map: revisionsOfApp }, { kind: 'Node', map: noKeys }],
    reconcile: (key, ctx) => reconcileRevision(key, ctx, expectations),
  };
}

/**
 * Nodes are read for the values of GROUP_BY fields when scaling down; a node's change alone never
 * makes a revision's count wrong, so it queues nothing.
 */
const noKeys = () => [];

/** The App holds the backoff settings and killSelection: its change concerns its revisions. */
function revisionsOfApp(event: { object: DeepReadonly<AnyObject> }, caches: Caches): string[] {
  const uid = event.object.metadata.uid;
  if (!uid) return [];
  return caches('Revision')
    .byIndex('owner', uid)
    .map((r) => refKey(r.metadata));
}

async function reconcileRevision(key: string, ctx: ReconcileContext, expectations: Map<string, Expectation>) {
  const revision = ctx.informer('Revision').get(key) as Revision | undefined;
  if (!revision || revision.metadata.deletionTimestamp) {
    expectations.delete(key);
    return done();
  }
  const namespace = revision.metadata.namespace!;
  const app = ctx.informer('App').get(refKey({ namespace, name: revision.spec.app }));
  // An App being deleted gets no new tasks: the gc takes its revisions and their tasks away, and a
  // replacement made meanwhile would only be one more task to stop (and, for a resident App, a slot
  // the scheduler would have to refuse).
  if (!app || app.metadata.deletionTimestamp) return done();
  const tasks = revision.metadata.uid ? ctx.informer('Task').byIndex('owner', revision.metadata.uid) : [];

  const expectation = expectations.get(key);
  if (expectation && !satisfied(expectation, tasks, ctx.now().getTime())) return requeueAfter(CHECK_CACHE_AGAIN_MS);
  expectations.delete(key);

  const spec = app.spec as DeepReadonly<AppSpec>;
  const resetStamp = app.metadata.annotations?.[LAUNCH_DELAY_RESET_ANNOTATION];
  const groupBy = groupByFields(revision);
  const nodes = ctx.informer('Node');
  const plan = planReplicas({
    wanted: revision.spec.instances,
    tasks: tasks.map((task) => facts(task, groupBy, (name) => nodes.get(name))),
    groupBy,
    backoff: revision.status?.backoff as Backoff | undefined,
    settings: spec,
    now: ctx.now(),
    ...(resetStamp ? { resetStamp } : {}),
  });

  const created = new Set<string>();
  try {
    for (let i = 0; i < plan.create; i += 1) created.add(await createTask(revision, ctx));
    for (const name of plan.kill) await deleteTask(namespace, name, ctx);
  } finally {
    if (created.size || plan.kill.length) {
      expectations.set(key, { creates: created, deletes: new Set(plan.kill), until: ctx.now().getTime() + EXPECTATION_TIMEOUT_MS });
    }
  }
  const failures = plan.failed.map((name) => tasks.find((t) => t.metadata.name === name)!).map((t) => failureOf(t, revision.spec.number));
  const lastTaskFailure = failures.at(-1) ?? revision.status?.lastTaskFailure;
  await writeStatus(revision, { ...countTasks(tasks), backoff: plan.backoff, ...(lastTaskFailure ? { lastTaskFailure: lastTaskFailure as TaskFailure } : {}) }, ctx);
  for (const failure of failures) {
    await ctx.events.record(app, { type: 'Warning', reason: 'TaskFailed', message: say.taskFailed(failure) });
  }
  if (failures.length > 0 && plan.backoff.nextLaunchAt && Date.parse(plan.backoff.nextLaunchAt) > ctx.now().getTime()) {
    await ctx.events.record(app, { type: 'Warning', reason: 'BackOff', message: say.backOff(revision.spec.number) });
  }
  if (plan.delayReset) await ctx.events.record(app, { reason: 'LaunchDelayReset', message: say.delayReset(revision.spec.number) });
  if (plan.create > 0) {
    await ctx.events.record(revision, { reason: 'TasksCreated', message: say.created(plan.create, revision.metadata.name) });
  }
  return plan.recheckAfterMs !== undefined ? requeueAfter(Math.max(plan.recheckAfterMs, 10)) : done();
}

function satisfied(expectation: Expectation, tasks: readonly Task[], now: number): boolean {
  if (now > expectation.until) return true;
  const present = new Set(tasks.map((t) => t.metadata.name));
  const gone = (name: string) => !present.has(name) || Boolean(tasks.find((t) => t.metadata.name === name)?.metadata.deletionTimestamp);
  return [...expectation.creates].every((name) => present.has(name)) && [...expectation.deletes].every(gone);
}

/** The fields of the revision's GROUP_BY constraints (operators are stored upper-case). */
function groupByFields(revision: Revision): string[] {
  const constraints = revision.spec.template.constraints as readonly Constraint[];
  const fields = constraints.filter(([, operator]) => operator === 'GROUP_BY').map(([field]) => field);
  return [...new Set(fields)];
}

/** Each GROUP_BY field's value on the task's node, resolved as the scheduler does (demand.ts, snapshot.ts). */
function groupValuesOf(node: DeepReadonly<AnyObject> | undefined, fields: readonly string[]): Record<string, string | undefined> {
  const view = node ? nodeView(node) : undefined;
  return Object.fromEntries(fields.map((field) => [field, view && attributeOf(view, field)]));
}

function facts(task: Task, groupBy: readonly string[], nodeNamed: (name: string) => DeepReadonly<AnyObject> | undefined): TaskFacts {
  const spec = task.spec as DeepReadonly<TaskSpec>;
  const status = task.status as DeepReadonly<TaskStatus> | undefined;
  const healthy = status?.conditions?.find((c) => c.type === 'Healthy')?.status;
  const result: TaskFacts = {
    name: task.metadata.name,
    uid: task.metadata.uid ?? '',
    phase: status?.phase ?? 'Pending',
    bound: spec.nodeName !== undefined,
    healthy: healthy === undefined ? undefined : healthy === 'True',
    healthChecked: spec.template.healthChecks.length > 0,
    deleting: Boolean(task.metadata.deletionTimestamp),
    createdAt: task.metadata.creationTimestamp ?? '',
  };
  if (status?.startedAt) result.startedAt = status.startedAt;
  if (status?.finishedAt) result.finishedAt = status.finishedAt;
  if (spec.slot !== undefined) result.slot = spec.slot;
  if (groupBy.length > 0 && spec.nodeName !== undefined) result.groupValues = groupValuesOf(nodeNamed(spec.nodeName), groupBy);
  return result;
}

/** A terminal task as the App's lastTaskFailure shows it. */
function failureOf(task: Task, revision: number): TaskFailure {
  const spec = task.spec as DeepReadonly<TaskSpec>;
  const status = task.status as DeepReadonly<TaskStatus>;
  const failure: TaskFailure = {
    task: task.metadata.name,
    revision,
    phase: status.phase === 'Finished' ? 'Finished' : 'Failed',
    message: status.message ?? status.phase,
    timestamp: status.finishedAt ?? task.metadata.creationTimestamp ?? '',
  };
  if (spec.nodeName) failure.node = spec.nodeName;
  if (status.exitCode !== undefined) failure.exitCode = status.exitCode;
  if (status.signal) failure.signal = status.signal;
  if (status.outputTail?.length) failure.outputTail = [...status.outputTail];
  return failure;
}

/** `<revision>-<5 random chars>`, within the 63 characters of a DNS label. */
function taskName(revision: string): string {
  const suffix = randomBytes(4).readUInt32BE(0).toString(36).padStart(5, '0').slice(-5);
  return `${revision.slice(0, 57).replace(/-+$/, '')}-${suffix}`;
}

async function createTask(revision: Revision, ctx: ReconcileContext): Promise<string> {
  for (;;) {
    const name = taskName(revision.metadata.name);
    const task: AnyObject = {
      apiVersion: 'capstan/v1',
      kind: 'Task',
      metadata: {
        name,
        namespace: revision.metadata.namespace,
        labels: { [APP_LABEL]: revision.spec.app, [REVISION_LABEL]: revision.metadata.name },
        ownerReferences: [
          { apiVersion: 'capstan/v1', kind: 'Revision', name: revision.metadata.name, uid: revision.metadata.uid!, controller: true, blockOwnerDeletion: true },
        ],
      },
      spec: { app: revision.spec.app, revision: revision.spec.number, template: revision.spec.template },
      status: { phase: 'Pending' },
    };
    try {
      await ctx.store.create(task);
      return name;
    } catch (error) {
      // A name collision is a 1-in-60-million event; any other failure goes back to the runtime.
      if (!isStoreError(error, 'AlreadyExists')) throw error;
    }
  }
}

async function deleteTask(namespace: string, name: string, ctx: ReconcileContext): Promise<void> {
  try {
    await ctx.store.delete('Task', { namespace, name });
  } catch (error) {
    if (!isStoreError(error, 'NotFound')) throw error;
  }
}

/**
 * Live tasks of the revision by state. A running task with no health checks counts as healthy, and
 * one with no readiness checks as ready once healthy (Marathon's rule).
 */
export function countTasks(tasks: readonly Task[]): Pick<RevisionStatus, 'tasks' | 'running' | 'healthy' | 'ready' | 'unschedulable'> {
  const counts = { tasks: 0, running: 0, healthy: 0, ready: 0 };
  const unplaced: { message: string; since: string }[] = [];
  for (const task of tasks) {
    const status = task.status as DeepReadonly<TaskStatus> | undefined;
    const phase = status?.phase ?? 'Pending';
    if (task.metadata.deletionTimestamp || isTerminal(phase)) continue;
    counts.tasks += 1;
    const scheduled = getCondition(status?.conditions, 'Scheduled');
    if (phase === 'Pending' && scheduled?.status === 'False') unplaced.push({ message: scheduled.message ?? '', since: scheduled.lastTransitionTime ?? '' });
    if (phase !== 'Running') continue;
    counts.running += 1;
    const template = (task.spec as DeepReadonly<TaskSpec>).template;
    const condition = (type: string) => status?.conditions?.find((c) => c.type === type)?.status;
    const healthy = template.healthChecks.length === 0 || condition('Healthy') === 'True';
    const ready = healthy && (template.readinessChecks.length === 0 || condition('Ready') === 'True');
    if (healthy) counts.healthy += 1;
    if (ready) counts.ready += 1;
  }
  const newest = unplaced.sort((a, b) => a.since.localeCompare(b.since)).at(-1);
  return newest ? { ...counts, unschedulable: { tasks: unplaced.length, message: newest.message } } : counts;
}

async function writeStatus(revision: Revision, next: Partial<RevisionStatus> & { backoff: Backoff }, ctx: ReconcileContext): Promise<void> {
  const current = (revision.status ?? {}) as Record<string, unknown>;
  // Counted afresh each time: gone when no task is unplaced any more.
  const { unschedulable: _, ...kept } = current;
  const status = { ...kept, ...next, observedGeneration: revision.metadata.generation };
  if (deepEqual(status, current)) return;
  // A Conflict (someone wrote the status since the cache saw it) is thrown to the runtime, which
  // retries with backoff; the next reconcile recomputes from the fresh status.
  await ctx.store.updateStatus({ ...(revision as AnyObject), status });
}
