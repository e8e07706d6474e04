// A pod's App and its Tasks → GET /v2/pods/{id}::status: the pod's state, and each instance (a Task)
// with its containers as the agent last reported them.
import type { AppSpec } from '../kinds/app.ts';
import type { TaskSpec, TaskStatus } from '../kinds/task.ts';
import { isTerminal } from '../kinds/task.ts';
import { getCondition } from '../object.ts';
import type { AnyObject, DeepReadonly } from '../object.ts';
import { versionOf } from './app.ts';
import { marathonIdOf, marathonTaskIdOf } from './ids.ts';
import { podToMarathon } from './pod-to.ts';
import { hostOf, TASK_STATES } from './task.ts';

type TaskView = DeepReadonly<AnyObject>;

/** STABLE: every wanted instance runs healthy; TERMINAL: none wanted and none left; DEGRADED otherwise. */
function podState(app: DeepReadonly<AnyObject>, tasks: readonly TaskView[]): string {
  const wanted = (app.spec as DeepReadonly<AppSpec>).instances;
  const live = tasks.filter((task) => !isTerminal(phaseOf(task)));
  if (wanted === 0 && live.length === 0) return 'TERMINAL';
  const stable = live.filter((task) => instanceStatus(task) === 'STABLE').length;
  return stable >= wanted && live.length === wanted ? 'STABLE' : 'DEGRADED';
}

const phaseOf = (task: TaskView) => (task.status as DeepReadonly<Partial<TaskStatus>> | undefined)?.phase ?? 'Pending';

/** Marathon's instance status: PENDING, STAGING, STARTING, then STABLE (running and healthy) or DEGRADED; TERMINAL once ended. */
function instanceStatus(task: TaskView): string {
  const phase = phaseOf(task);
  if (isTerminal(phase) || phase === 'Killing') return 'TERMINAL';
  if (phase === 'Running') {
    const healthy = getCondition((task.status as DeepReadonly<Partial<TaskStatus>> | undefined)?.conditions as never, 'Healthy')?.status;
    return healthy === 'False' ? 'DEGRADED' : 'STABLE';
  }
  return phase.toUpperCase();
}

/** A Capstan App (a pod) and its Tasks → the status of GET /v2/pods/{id}::status. */
export function podStatusToMarathon(app: DeepReadonly<AnyObject>, tasks: readonly TaskView[], node?: (name: string) => DeepReadonly<AnyObject> | undefined): Record<string, unknown> {
  const spec = app.spec as DeepReadonly<AppSpec>;
  const id = marathonIdOf(app);
  const version = versionOf(app);
  const since = (task: TaskView) => (task.status as DeepReadonly<Partial<TaskStatus>> | undefined)?.startedAt ?? task.metadata.creationTimestamp ?? version;
  const changed = [version, ...tasks.map(since)].sort().at(-1)!;
  return {
    id,
    spec: podToMarathon(app),
    status: podState(app, tasks),
    statusSince: changed,
    instances: tasks.map((task) => instanceToMarathon(task, spec, id, since(task), node)),
    terminationHistory: [],
    lastUpdated: changed,
    lastChanged: changed,
  };
}

function instanceToMarathon(task: TaskView, spec: DeepReadonly<AppSpec>, podId: string, since: string, node?: (name: string) => DeepReadonly<AnyObject> | undefined): Record<string, unknown> {
  const taskSpec = task.spec as DeepReadonly<Partial<TaskSpec>>;
  const status = task.status as DeepReadonly<Partial<TaskStatus>> | undefined;
  const containers = taskSpec.template?.containers ?? spec.containers;
  const ports = taskSpec.template?.ports ?? spec.ports;
  const sum = (field: 'cpus' | 'mem' | 'disk' | 'gpus') => containers.reduce((total, c) => total + (c.resources?.[field] ?? 0), 0);
  return {
    id: marathonTaskIdOf(podId, task.metadata.uid ?? task.metadata.name),
    status: instanceStatus(task),
    statusSince: since,
    agentHostname: hostOf(taskSpec.nodeName, taskSpec.nodeName ? node?.(taskSpec.nodeName) : undefined),
    agentId: taskSpec.nodeName ?? '',
    resources: { cpus: sum('cpus'), mem: sum('mem'), disk: sum('disk'), gpus: sum('gpus') },
    networks: [],
    containers: containers.map((container, i) => {
      const observed = status?.containers?.[i];
      const state = observed?.state === 'Running' ? 'TASK_RUNNING' : observed?.state === 'Exited' ? (observed.exitCode === 0 ? 'TASK_FINISHED' : 'TASK_FAILED') : TASK_STATES[phaseOf(task)];
      const out: Record<string, unknown> = {
        name: container.name,
        status: state,
        statusSince: observed?.startedAt ?? since,
        containerId: observed?.containerId ?? `${task.metadata.uid ?? task.metadata.name}.${container.name}`,
        endpoints: ports.flatMap((port, p) => (port.name !== undefined ? [{ name: port.name, allocatedHostPort: taskSpec.hostPorts?.[p] ?? port.hostPort }] : [])),
        resources: { ...container.resources },
        lastUpdated: since,
        lastChanged: since,
      };
      if (observed?.state === 'Exited') out.termination = { exitCode: observed.exitCode ?? null, message: observed.reason ?? '' };
      return out;
    }),
    specReference: `/v2/pods${podId}::versions/${since}`,
    localVolumes: [],
    lastUpdated: since,
    lastChanged: since,
  };
}
