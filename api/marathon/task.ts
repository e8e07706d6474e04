// A Capstan Task → Marathon task JSON, as GET /v2/apps/{id}/tasks and /v2/tasks return it. The
// task id is Marathon's form (ids.ts marathonTaskIdOf) built from the Task's uid, so it is unique
// for the task's whole life and never reused by a successor of the same name.
import type { AppSpec } from '../kinds/app.ts';
import type { HealthResult, TaskPhase, TaskSpec, TaskStatus } from '../kinds/task.ts';
import type { AnyObject, DeepReadonly } from '../object.ts';
import { versionOf } from './version.ts';
import { marathonIdOf, marathonTaskIdOf } from './ids.ts';

/** Marathon's (Mesos') task states, by Capstan phase. A Pending task is not yet launched: staging. */
export const TASK_STATES: Readonly<Record<TaskPhase, string>> = {
  Pending: 'TASK_STAGING',
  Staging: 'TASK_STAGING',
  Starting: 'TASK_STARTING',
  Running: 'TASK_RUNNING',
  Finished: 'TASK_FINISHED',
  Failed: 'TASK_FAILED',
  Killing: 'TASK_KILLING',
  Killed: 'TASK_KILLED',
  Lost: 'TASK_UNREACHABLE',
};

/** The Marathon state of a task: its phase's, TASK_KILLING while it is being deleted and still running. */
export function marathonTaskState(task: DeepReadonly<AnyObject>): string {
  const phase = (task.status as DeepReadonly<Partial<TaskStatus>> | undefined)?.phase ?? 'Pending';
  if (task.metadata.deletionTimestamp !== undefined && (phase === 'Running' || phase === 'Starting')) return 'TASK_KILLING';
  return TASK_STATES[phase];
}

/** The node's address when known, else its name (what Marathon's `host` holds: where to reach the task). */
export function hostOf(nodeName: string | undefined, node: DeepReadonly<AnyObject> | undefined): string {
  return (node?.spec as { address?: string } | undefined)?.address ?? nodeName ?? '';
}

/**
 * A Capstan Task → Marathon task JSON. `node`: the Task's Node, for its address; `appVersion`: the
 * App's version if the caller knows it better than the rollout's start (appToMarathon's extras.version).
 */
export function taskToMarathon(task: DeepReadonly<AnyObject>, app: DeepReadonly<AnyObject>, node?: DeepReadonly<AnyObject>, appVersion?: string): Record<string, unknown> {
  const spec = task.spec as DeepReadonly<Partial<TaskSpec>>;
  const status = task.status as DeepReadonly<Partial<TaskStatus>> | undefined;
  const appId = marathonIdOf(app);
  const host = hostOf(spec.nodeName, node);
  const out: Record<string, unknown> = {
    id: marathonTaskIdOf(appId, task.metadata.uid ?? task.metadata.name),
    appId,
    host,
    ports: [...(spec.hostPorts ?? [])],
    servicePorts: ((app.spec as DeepReadonly<Partial<AppSpec>>).ports ?? []).map((p) => p.servicePort ?? 0),
    slaveId: spec.nodeName ?? '',
    state: marathonTaskState(task),
    version: taskVersion(task, app, appVersion),
    ipAddresses: host ? [{ ipAddress: host, protocol: 'IPv4' }] : [],
    localVolumes: [],
  };
  // Timestamps only when known: clients parse them as dates (python3-marathon fails on "").
  if (task.metadata.creationTimestamp !== undefined) out.stagedAt = task.metadata.creationTimestamp;
  if (status?.startedAt !== undefined) out.startedAt = status.startedAt;
  if (spec.template?.healthChecks?.length) out.healthCheckResults = (status?.healthResults ?? []).map((result) => healthResultToMarathon(result, out.id as string));
  return out;
}

/** Tasks of the App's current revision run its version; older ones the time they were made. */
function taskVersion(task: DeepReadonly<AnyObject>, app: DeepReadonly<AnyObject>, appVersion: string | undefined): string {
  const revision = (task.spec as DeepReadonly<Partial<TaskSpec>>).revision;
  const status = app.status as { currentRevision?: number; rollout?: { startedAt?: string } } | undefined;
  const current = appVersion ?? status?.rollout?.startedAt;
  if (revision !== undefined && revision === status?.currentRevision && current) return current;
  return task.metadata.creationTimestamp ?? versionOf(app);
}

function healthResultToMarathon(result: DeepReadonly<HealthResult>, taskId: string): Record<string, unknown> {
  return {
    alive: result.alive,
    consecutiveFailures: result.consecutiveFailures,
    firstSuccess: result.firstSuccess ?? null,
    lastFailure: result.lastFailure ?? null,
    lastSuccess: result.lastSuccess ?? null,
    lastFailureCause: result.lastFailureCause ?? null,
    instanceId: taskId,
  };
}
