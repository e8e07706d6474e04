// Marathon's events from one change of one stored object (before → after). Pure: the rules are
// table-tested without a store (event-rules.test.ts); EventHub (events.ts) only feeds the informers'
// changes through them. Event types and field names are Marathon's (core/event/Events.scala).
//
// What a store change means in Marathon's terms:
// - An App created or changed (its generation or labels): `api_post_event` with its definition, and
//   `group_change_success` for its group, as Marathon posts both once it accepted a change; deleted:
//   `app_terminated_event` and `group_change_success`. An App that is a Marathon pod says it with
//   `pod_created_event`, `pod_updated_event`, `pod_deleted_event` instead.
// - The App's deployment (deployments.ts `deploymentOf`, read from status.rollout): `deployment_info`
//   when one starts or reaches its next step, `deployment_step_success` for the step it leaves,
//   `deployment_success` when it is over; `deployment_step_failure` and `deployment_failed` when it
//   gives up (rolled back, or stalled past its deadline), is superseded by a newer one, or its App
//   is deleted. Deleting an App starts its stop deployment (the id DELETE answered), which succeeds
//   once its last task is gone (`stoppedEvents`, told by the hub). The deployment of a group change
//   spans its Apps: it starts with the first and succeeds with the last (a failure is told by each
//   App that fails).
// - A Task's Marathon state (task.ts `taskToMarathon`) changing: `status_update_event` and
//   `instance_changed_event`; a task deleted before it ended was killed (TASK_KILLED).
// - A Task's Healthy condition turning True or False: `health_status_changed_event`; its reason
//   turning KilledUnhealthy (the health controller fails a task past maxConsecutiveFailures):
//   `unhealthy_task_kill_event`.
//
// The store does not say who made a change, so `clientIp` is null. Capstan runs one task per
// instance: an instance's id is its task's id.
import { deepEqual } from '../merge.ts';
import { DEFAULT_NAMESPACE, getCondition, type AnyObject, type Condition, type DeepReadonly } from '../object.ts';
import { appToMarathon } from './app.ts';
import { deploymentOf } from './deployments.ts';
import { marathonIdOf } from './ids.ts';
import { isMarathonPod, podToMarathon } from './pod.ts';
import { taskToMarathon } from './task.ts';

export interface MarathonEvent {
  eventType: string;
  timestamp: string;
  [field: string]: unknown;
}

type Stored = DeepReadonly<AnyObject>;

/** One object's change: both sides for a change, `after` only when added, `before` only when deleted. */
export interface Change {
  before?: Stored;
  after?: Stored;
}

/** What the rules read beside the changed object. */
export interface EventContext {
  timestamp: string;
  /** The App a Task belongs to; also one just deleted, while its tasks end. */
  app(namespace: string, name: string): Stored | undefined;
  node(name: string): Stored | undefined;
  /** Whether an App other than `app` still has deployment `id` in progress: a group change's deployment spans its Apps. */
  deploymentShared(id: string, app: Stored): boolean;
}

/** The health controller's reason for a task it failed (runtime/probes/fold.ts `reasons.killed`; api/ may not import runtime/). */
const KILLED_UNHEALTHY = 'KilledUnhealthy';

const ENDED_STATES = ['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_LOST', 'TASK_ERROR', 'TASK_DROPPED', 'TASK_GONE', 'TASK_UNREACHABLE'];

export function appEvents(change: Change, context: EventContext): MarathonEvent[] {
  return [...definitionEvents(change, context), ...deploymentEvents(change, context)];
}

function definitionEvents({ before, after }: Change, context: EventContext): MarathonEvent[] {
  if (before && after && !definitionChanged(before, after)) return [];
  const object = (after ?? before)!;
  const timestamp = context.timestamp;
  const id = marathonIdOf(object);
  const definition = after ? appToMarathon(after) : undefined;
  const version = typeof definition?.['version'] === 'string' ? definition['version'] : timestamp;
  const group = { eventType: 'group_change_success', timestamp, groupId: parentOf(id), version };
  if (isMarathonPod(object)) {
    const eventType = !after ? 'pod_deleted_event' : before ? 'pod_updated_event' : 'pod_created_event';
    return [{ eventType, timestamp, clientIp: null, uri: `/v2/pods${id}` }, group];
  }
  if (!definition) return [{ eventType: 'app_terminated_event', timestamp, appId: id }, group];
  return [{ eventType: 'api_post_event', timestamp, clientIp: null, uri: `/v2/apps${id}`, appDefinition: definition }, group];
}

/** What a Marathon user changes: the spec (its generation moves) or the labels. */
function definitionChanged(before: Stored, after: Stored): boolean {
  return before.metadata.generation !== after.metadata.generation || !deepEqual(before.metadata.labels ?? {}, after.metadata.labels ?? {});
}

/** `/prod/web` → `/prod`; `/web` → `/`. */
export function parentOf(id: string): string {
  const slash = id.lastIndexOf('/');
  return slash <= 0 ? '/' : id.slice(0, slash);
}

type Deployment = Record<string, unknown> & { id: string };

function deploymentEvents({ before, after }: Change, context: EventContext): MarathonEvent[] {
  if (!after) return deletionEvents(before!, context);
  const timestamp = context.timestamp;
  const was = before ? (deploymentOf(before) as Deployment | undefined) : undefined;
  const is = deploymentOf(after) as Deployment | undefined;
  const events: MarathonEvent[] = [];
  if (was && was.id !== is?.id) {
    // Over: done when no deployment is left and it did not give up, else superseded by a newer
    // change. One that gave up was told so then.
    const succeeded = is === undefined && !gaveUp(after);
    // A group change's deployment succeeds with its last App.
    const told = gaveUp(before!) || (succeeded && context.deploymentShared(was.id, after));
    if (!told) events.push(...ending(was, after, succeeded, timestamp));
  } else if (was && is) {
    if (stepOf(is) > stepOf(was)) {
      events.push({ eventType: 'deployment_step_success', timestamp, plan: planOf(was, after), currentStep: currentStepOf(was) });
      events.push({ eventType: 'deployment_info', timestamp, plan: planOf(is, after), currentStep: currentStepOf(is) });
    }
    if (!gaveUp(before!) && gaveUp(after)) events.push(...ending(is, after, false, timestamp));
  }
  // A group change's deployment starts with its first App.
  if (is && is.id !== was?.id && !context.deploymentShared(is.id, after)) {
    events.push({ eventType: 'deployment_info', timestamp, plan: planOf(is, after), currentStep: currentStepOf(is) });
  }
  return events;
}

/**
 * An App deleted: a deployment it had in progress was superseded (failed), and its stop deployment
 * (the id DELETE answered) starts, unless it had started already (a deletion waiting on
 * finalizers). `stoppedEvents` ends it once the App's last task is gone.
 */
function deletionEvents(app: Stored, context: EventContext): MarathonEvent[] {
  const was = deploymentOf(app) as Deployment | undefined;
  const stop = stopDeploymentOf(app, context);
  const events: MarathonEvent[] = [];
  if (was?.id === stop.id) return events;
  if (was && !gaveUp(app)) events.push(...ending(was, app, false, context.timestamp));
  events.push({ eventType: 'deployment_info', timestamp: context.timestamp, plan: planOf(stop, app), currentStep: currentStepOf(stop) });
  return events;
}

/** A deleted App's last task is gone: its stop deployment succeeded. */
export function stoppedEvents(app: Stored, context: EventContext): MarathonEvent[] {
  return ending(stopDeploymentOf(app, context), app, true, context.timestamp);
}

/** The deployment deleting the App: deploymentOf's for the App marked deleted. */
function stopDeploymentOf(app: Stored, context: EventContext): Deployment {
  const deleting = app.metadata.deletionTimestamp ? app : { ...app, metadata: { ...app.metadata, deletionTimestamp: context.timestamp } };
  return deploymentOf(deleting) as Deployment;
}

function ending(deployment: Deployment, app: Stored, succeeded: boolean, timestamp: string): MarathonEvent[] {
  const plan = planOf(deployment, app);
  return [
    { eventType: succeeded ? 'deployment_step_success' : 'deployment_step_failure', timestamp, plan, currentStep: currentStepOf(deployment) },
    { eventType: succeeded ? 'deployment_success' : 'deployment_failed', timestamp, id: deployment.id, plan },
  ];
}

/**
 * The App's latest change gave up: its rollout Failed (stalled with nothing to go back to), or was
 * RolledBack from this generation. The rollback's own template write is a new generation, hence a
 * deployment of its own, which succeeds once back on the stable revision.
 */
function gaveUp(app: Stored): boolean {
  const rollout = (app.status as { rollout?: { phase?: string; generation?: number } } | undefined)?.rollout;
  if (rollout?.phase === 'Failed') return true;
  return rollout?.phase === 'RolledBack' && rollout.generation === app.metadata.generation;
}

function stepOf(deployment: Deployment): number {
  return typeof deployment['currentStep'] === 'number' ? deployment['currentStep'] : 0;
}

/** Marathon's DeploymentStep: the actions of the deployment's current step. */
function currentStepOf(deployment: Deployment): unknown {
  const steps = Array.isArray(deployment['steps']) ? (deployment['steps'] as unknown[]) : [];
  return steps[stepOf(deployment) - 1] ?? { actions: deployment['currentActions'] ?? [] };
}

/**
 * Marathon's DeploymentPlan, for the App's group: the target holds the App as it is now (none when
 * it is being deleted, and then the original holds it); otherwise the original has no apps, since
 * the store keeps no earlier definition to show.
 */
function planOf(deployment: Deployment, app: Stored): Record<string, unknown> {
  const id = marathonIdOf(app);
  const version = deployment['version'];
  const pod = isMarathonPod(app);
  const group = (held: boolean) => ({
    id: parentOf(id),
    apps: held && !pod ? [appToMarathon(app)] : [],
    groups: [],
    pods: held && pod ? [podToMarathon(app)] : [],
    dependencies: [],
    version,
  });
  const stopping = Boolean(app.metadata.deletionTimestamp) || (deployment['steps'] as { actions?: { action?: string }[] }[] | undefined)?.[0]?.actions?.[0]?.action === 'StopApplication';
  return {
    id: deployment.id,
    version,
    original: group(stopping),
    target: group(!stopping),
    steps: deployment['steps'] ?? [],
  };
}

export function taskEvents({ before, after }: Change, context: EventContext): MarathonEvent[] {
  const object = (after ?? before)!;
  const spec = object.spec as { app?: string; nodeName?: string; template?: { healthChecks?: readonly unknown[] } };
  const app = spec.app ? context.app(object.metadata.namespace ?? DEFAULT_NAMESPACE, spec.app) : undefined;
  if (!app) return [];
  const node = spec.nodeName ? context.node(spec.nodeName) : undefined;
  const was = before ? taskToMarathon(before, app, node) : undefined;
  const is = taskToMarathon(object, app, node);
  const wasState = was?.['state'] as string | undefined;
  // A task deleted before it ended was killed; one deleted after it ended says nothing more.
  if (!after && wasState !== undefined && ENDED_STATES.includes(wasState)) return [];
  const state = after ? (is['state'] as string) : 'TASK_KILLED';
  const timestamp = context.timestamp;
  const appId = marathonIdOf(app);
  const taskId = is['id'] as string;
  const version = is['version'];
  const events: MarathonEvent[] = [];
  if (state !== wasState) {
    events.push({
      eventType: 'status_update_event',
      timestamp,
      slaveId: is['slaveId'] ?? null,
      taskId,
      taskStatus: state,
      message: (object.status as { message?: string } | undefined)?.message ?? '',
      appId,
      host: is['host'] ?? null,
      ipAddresses: is['ipAddresses'] ?? [],
      ports: is['ports'] ?? [],
      version,
    });
  }
  const condition = conditionOf(after, state);
  if (condition !== (before ? conditionOf(before, wasState!) : undefined)) {
    events.push({
      eventType: 'instance_changed_event',
      timestamp,
      instanceId: taskId,
      condition,
      runSpecId: appId,
      agentId: is['slaveId'] ?? null,
      host: is['host'] ?? null,
      runSpecVersion: version,
    });
  }
  if (!after) return events;
  const checked = (spec.template?.healthChecks?.length ?? 0) > 0;
  return [...events, ...healthEvents(before, after, { checked, timestamp, appId, task: is })];
}

/** A task's Healthy condition turning True or False, and the health controller's kill. */
function healthEvents(before: Stored | undefined, after: Stored, about: { checked: boolean; timestamp: string; appId: string; task: Record<string, unknown> }): MarathonEvent[] {
  const { timestamp, appId, task } = about;
  const ids = { appId, taskId: task['id'], instanceId: task['id'], version: task['version'] };
  const was = healthyOf(before);
  const is = healthyOf(after);
  const events: MarathonEvent[] = [];
  if (about.checked && is && is.status !== 'Unknown' && is.status !== was?.status) {
    events.push({ eventType: 'health_status_changed_event', timestamp, ...ids, alive: is.status === 'True' });
  }
  if (is?.reason === KILLED_UNHEALTHY && was?.reason !== KILLED_UNHEALTHY) {
    events.push({ eventType: 'unhealthy_task_kill_event', timestamp, ...ids, reason: is.message ?? '', host: task['host'] ?? null, slaveId: task['slaveId'] ?? null });
  }
  return events;
}

/**
 * Marathon's instance condition: its task's state in words (TASK_RUNNING → Running), and Scheduled
 * for a task not yet launched (Pending), which Marathon's TASK_STAGING does not tell apart.
 */
function conditionOf(task: Stored | undefined, state: string): string {
  if (task && ((task.status as { phase?: string } | undefined)?.phase ?? 'Pending') === 'Pending') return 'Scheduled';
  const word = state.replace(/^TASK_/, '').toLowerCase();
  return word.charAt(0).toUpperCase() + word.slice(1);
}

function healthyOf(task: Stored | undefined): DeepReadonly<Condition> | undefined {
  return getCondition((task?.status as { conditions?: Condition[] } | undefined)?.conditions, 'Healthy');
}
