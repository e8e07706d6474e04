// The agent's decisions, as a pure function: from the Tasks bound to this node (as the store says)
// and the workloads the drivers hold (as the node says), what to do for each task uid. The agent
// (runtime/agent.ts) applies the actions; tests hit this with plain objects (plan.test.ts).
//
// Keyed by task uid, not name: a Task deleted and re-created under the same name is another task,
// and its predecessor's workload must be stopped, never adopted.
import { containerRuntime, runtimesOf } from '../../api/kinds/app.ts';
import { isTerminal, type ContainerStatus, type TaskPhase, type TaskSpec, type TaskStatus } from '../../api/kinds/task.ts';
import { AGENT_FINALIZER } from '../../api/kinds/wellknown.ts';
import { deepEqual } from '../../api/merge.ts';
import type { CapstanObject, DeepReadonly } from '../../api/object.ts';
import { taskOutcome, type ContainerExit, type ContainerState, type DriverName, type RunningTask } from '../driver.ts';

export type TaskObject = DeepReadonly<CapstanObject<TaskSpec, TaskStatus>>;

/** What one driver holds for one task uid on this node. */
export interface WorkloadPart {
  driver: DriverName;
  running: RunningTask;
}

/**
 * What the drivers hold for one task uid on this node: one part per driver. A pod whose containers
 * mix runtimes (containerRuntime) has a docker part and a process part under the same uid.
 */
export interface Workload {
  parts: WorkloadPart[];
}

/** Every container of the workload, whichever driver holds it. */
export const containersOf = (workload: Workload): ContainerState[] => workload.parts.flatMap((part) => part.running.containers);

export const driversOf = (workload: Workload): DriverName[] => workload.parts.map((part) => part.driver);

/** The part holding `container`, if any. */
export const partOf = (workload: Workload, container: string): WorkloadPart | undefined =>
  workload.parts.find((part) => part.running.containers.some((c) => c.name === container));

export type TaskRuntime = NonNullable<TaskStatus['runtime']>;

/** A status the agent reports; `applyChange` turns it into the next TaskStatus. */
export type StatusChange =
  | { phase: 'Staging' }
  | { phase: 'Starting'; runtime: TaskRuntime; containers?: ContainerStatus[] }
  | { phase: 'Running'; startedAt: string; runtime: TaskRuntime; containers?: ContainerStatus[] }
  | { phase: 'Killing' }
  | {
      phase: 'Finished' | 'Failed' | 'Killed';
      exitCode?: number;
      signal?: string;
      message: string;
      finishedAt?: string;
      /** The container whose exit this is: the agent reads its output's last lines into `outputTail`. */
      container?: string;
      outputTail?: string[];
      containers?: ContainerStatus[];
    };

/** Why a workload is stopped or removed: for logs. */
export type StopReason = 'deleting' | 'stale' | 'lost' | 'pod-failed' | 'orphan';

export type AgentAction =
  /** Staging → driver.start → Starting → Running (or Failed with the driver's sentence). */
  | { type: 'start'; task: TaskObject }
  | { type: 'report'; task: TaskObject; change: StatusChange }
  /** SIGTERM, SIGKILL after the grace period, in every driver holding a part; the remains (logs) stay. */
  | { type: 'stop'; drivers: DriverName[]; gracePeriodSeconds: number; reason: StopReason }
  /** Kills whatever still runs in every driver holding a part and forgets the remains. */
  | { type: 'remove'; drivers: DriverName[]; reason: StopReason }
  /** Removes AGENT_FINALIZER from the Task (with a fresh read). */
  | { type: 'release'; task: TaskObject }
  /**
   * The first step of a planned stop: condition Draining True, wait (at most the template's
   * drainTimeoutSeconds from the deletion) until no load balancer routes to the task, Draining False.
   * The next pass then stops it.
   */
  | { type: 'drain'; task: TaskObject };

export interface TaskPlan {
  uid: string;
  actions: AgentAction[];
}

export const messages = {
  workloadGone: (node: string) => `the workload is no longer on node ${node} (removed while the agent was away?)`,
  killedBeforeStart: 'killed before it started',
  driverUnavailable: (driver: string, node: string) => `the ${driver} driver is not available on node ${node}`,
  hostPortInUse: (port: number, node: string) => `host port ${port} is in use on node ${node} by a process outside Capstan`,
  portsMismatch: (ports: number, hostPorts: number) =>
    `the template has ${ports} port(s) but the binding has ${hostPorts} host port(s)`,
  containerReason: (container: string, reason: string) => `container ${container} ${reason}`,
  volumeUnplaced: (container: string, volume: string) =>
    `container ${container} mounts volume ${volume}, which the template does not define or the node has no directory for yet`,
  partGone: (drivers: string[], node: string) =>
    `the pod's ${drivers.join(' and ')} containers are no longer on node ${node} (removed outside Capstan?); a pod fails as a whole`,
  draining: (seconds: number) => `out of Endpoints; waiting up to ${seconds} s for the load balancers to let go`,
  drained: (ms: number, loadBalancers: number) => `drained in ${ms} ms (${loadBalancers} load balancer${loadBalancers === 1 ? '' : 's'})`,
  drainTimeout: (seconds: number, waitingFor: string[]) => `drain timeout (${seconds} s) passed, still waiting for ${waitingFor.join(', ')}; stopping anyway`,
};

export interface PlanInput {
  nodeName: string;
  /** Tasks whose spec.nodeName is this node. */
  tasks: readonly TaskObject[];
  workloads: ReadonlyMap<string, Workload>;
}

/** One plan per task uid that either the store binds here or a driver holds here. */
export function planAgent(input: PlanInput): TaskPlan[] {
  const byUid = new Map<string, TaskObject>();
  for (const task of input.tasks) if (task.metadata.uid) byUid.set(task.metadata.uid, task);
  const uids = new Set([...byUid.keys(), ...input.workloads.keys()]);
  const plans: TaskPlan[] = [];
  for (const uid of uids) {
    const actions = planTask(byUid.get(uid), input.workloads.get(uid), input.nodeName);
    if (actions.length > 0) plans.push({ uid, actions });
  }
  return plans;
}

export function planTask(task: TaskObject | undefined, workload: Workload | undefined, nodeName: string): AgentAction[] {
  const live = workload ? containersOf(workload).some((c) => c.state === 'running') : false;
  // Gone from the store, or bound elsewhere: nothing here should run or remain.
  if (!task) return workload ? [{ type: 'remove', drivers: driversOf(workload), reason: 'orphan' }] : [];

  const phase: TaskPhase = task.status?.phase ?? 'Pending';
  const grace = task.spec.template.taskKillGracePeriodSeconds;
  const release: AgentAction[] = (task.metadata.finalizers ?? []).includes(AGENT_FINALIZER) ? [{ type: 'release', task }] : [];
  const stop = (reason: StopReason): AgentAction[] =>
    workload ? [{ type: 'stop', drivers: driversOf(workload), gracePeriodSeconds: grace, reason }] : [];
  const ended = (deleting: boolean): StatusChange => withContainers(endOf(workload, deleting), task, workload);

  if (task.metadata.deletionTimestamp) {
    if (live && needsDrain(task, phase)) return [{ type: 'drain', task }];
    if (live) {
      const killing: AgentAction[] = isTerminal(phase) || phase === 'Killing' ? [] : [{ type: 'report', task, change: { phase: 'Killing' } }];
      return [...killing, ...stop('deleting')];
    }
    // Stopped (or never started): say how it ended, drop the remains, then let the object go.
    const final: AgentAction[] = isTerminal(phase) ? [] : [{ type: 'report', task, change: ended(true) }];
    const remove: AgentAction[] = workload ? [{ type: 'remove', drivers: driversOf(workload), reason: 'deleting' }] : [];
    return [...final, ...remove, ...release];
  }

  if (isTerminal(phase)) {
    // Final in the store: never changed here. A workload still running is stale (a node back from a
    // partition whose tasks were declared Lost, or a pod's remaining containers after one failed).
    if (phase === 'Lost') return [...(live ? stop('lost') : []), ...release];
    return live ? stop('stale') : [];
  }

  const missing = missingParts(task, workload);
  if (!workload || containersOf(workload).length === 0 || (missing.length > 0 && phase !== 'Running' && phase !== 'Killing')) {
    // Running means it was started here; if it is not here now, it is gone and must be replaced.
    if (phase === 'Running' || phase === 'Killing') {
      return [{ type: 'report', task, change: { phase: 'Failed', message: messages.workloadGone(nodeName) } }];
    }
    // Pending, or Staging/Starting of a start the agent did not finish (a mixed pod may have one part
    // only): starts are idempotent per uid and driver.
    return [{ type: 'start', task }];
  }
  // A Running pod that lost a whole part (its driver's containers removed behind the agent's back)
  // is a pod with failed containers: it fails as a whole.
  if (missing.length > 0 && phase === 'Running') {
    return [{ type: 'report', task, change: { phase: 'Failed', message: messages.partGone(missing, nodeName) } }, ...(live ? stop('pod-failed') : [])];
  }

  const outcome = taskOutcome(containersOf(workload));
  if (outcome === 'running') {
    const change = runningChange(workload, task);
    const upToDate = phase === 'Running' && sameRuntime(task.status?.runtime, change.runtime) && deepEqual(task.status?.containers ?? [], change.containers ?? []);
    return upToDate || phase === 'Killing' ? [] : [{ type: 'report', task, change }];
  }
  // One failed container fails a pod: report it, then stop the others.
  return [{ type: 'report', task, change: ended(false) }, ...(live ? stop('pod-failed') : [])];
}

/** The runtimes the template's containers need that no driver holds a part for. */
function missingParts(task: TaskObject, workload: Workload | undefined): DriverName[] {
  const held = new Set(workload ? driversOf(workload) : []);
  return [...runtimesOf(task.spec.template)].filter((runtime) => !held.has(runtime));
}

/** Marathon's default drain is none; Capstan's is the App's drainTimeoutSeconds (5 s) for tasks with ports. */
export const DEFAULT_DRAIN_TIMEOUT_SECONDS = 5;

/**
 * A Running task with ports may be in Endpoints and so in a load balancer: it is drained before it
 * is stopped, once (Draining False says it is done, whichever way it ended). A task that never ran
 * was never routed to, and a failed one (a health kill) is not a planned stop.
 */
export function needsDrain(task: TaskObject, phase: TaskPhase): boolean {
  const { template } = task.spec;
  if (phase !== 'Running' || template.ports.length === 0) return false;
  if ((template.drainTimeoutSeconds ?? DEFAULT_DRAIN_TIMEOUT_SECONDS) <= 0) return false;
  return task.status?.conditions?.find((c) => c.type === 'Draining')?.status !== 'False';
}

/** How a task ended, from its containers' exits. */
export function endOf(workload: Workload | undefined, deleting: boolean): Ending {
  if (!workload || containersOf(workload).length === 0) return { phase: 'Killed', message: messages.killedBeforeStart };
  const containers = containersOf(workload);
  const exited = containers.filter((c): c is Extract<ContainerState, { state: 'exited' }> => c.state === 'exited');
  const finishedAt = exited.map((c) => c.exit.finishedAt).sort().at(-1);
  const many = containers.length > 1;
  const describe = (c: (typeof exited)[number]) => (many ? messages.containerReason(c.name, c.exit.reason) : c.exit.reason);
  const failed = exited.find((c) => c.exit.outcome === 'failed');
  // A task being deleted that exits on our SIGTERM with a non-zero code was killed, not failed.
  const signal = (c: (typeof exited)[number]) => (c.exit.signal ? { signal: c.exit.signal } : {});
  if (failed && !deleting) return { phase: 'Failed', exitCode: failed.exit.exitCode ?? undefined, ...signal(failed), message: describe(failed), finishedAt, container: failed.name };
  const stopped = exited.find((c) => c.exit.outcome === 'stopped') ?? (deleting ? (failed ?? exited[0]) : undefined);
  if (stopped) return { phase: 'Killed', exitCode: stopped.exit.exitCode ?? undefined, ...signal(stopped), message: describe(stopped), finishedAt };
  return { phase: 'Finished', exitCode: 0, message: exited[0] ? describe(exited[0]) : 'exited', finishedAt, ...(exited[0] ? { container: exited[0].name } : {}) };
}

/** status.runtime: the template's first container's driver and pid (the part holding it). */
export function runtimeOf(workload: Workload, task: TaskObject): TaskRuntime {
  const first = task.spec.template.containers[0]?.name;
  const part = (first !== undefined ? partOf(workload, first) : undefined) ?? workload.parts[0];
  if (!part) return { driver: task.spec.template.driver };
  const pid = part.running.containers.find((c) => c.name === first)?.pid ?? part.running.containers[0]?.pid;
  return pid === undefined ? { driver: part.driver } : { driver: part.driver, pid };
}

/** Running since its first container started; the runtime record lets a restarted agent be checked against it. */
export function runningChange(workload: Workload, task: TaskObject): Extract<StatusChange, { phase: 'Running' }> {
  const startedAt = containersOf(workload).map((c) => c.startedAt).sort()[0] ?? new Date().toISOString();
  return { phase: 'Running', startedAt, runtime: runtimeOf(workload, task), containers: containerStatuses(task, workload) };
}

/**
 * status.containers: each of the template's containers, in its order, as the drivers hold it now.
 * One the drivers do not hold (yet) is Waiting.
 */
export function containerStatuses(task: TaskObject, workload: Workload | undefined): ContainerStatus[] {
  const { template } = task.spec;
  return template.containers.map((container) => {
    const runtime = containerRuntime(template, container);
    const state = workload ? containersOf(workload).find((c) => c.name === container.name) : undefined;
    if (!state) return { name: container.name, runtime, state: 'Waiting' };
    const pid = state.pid === undefined ? {} : { pid: state.pid };
    if (state.state === 'running') return { name: container.name, runtime, state: 'Running', ...pid, startedAt: state.startedAt };
    const { exit } = state;
    return {
      name: container.name,
      runtime,
      state: 'Exited',
      ...pid,
      startedAt: state.startedAt,
      finishedAt: exit.finishedAt,
      ...(exit.exitCode !== null ? { exitCode: exit.exitCode } : {}),
      ...(exit.signal ? { signal: exit.signal } : {}),
      reason: exitReason(exit),
    };
  });
}

/** Kubernetes' words for how a container ended. */
function exitReason(exit: ContainerExit): string {
  if (exit.outcome === 'stopped') return 'Killed';
  return exit.outcome === 'succeeded' ? 'Completed' : 'Error';
}

type Ending = Extract<StatusChange, { phase: 'Finished' | 'Failed' | 'Killed' }>;

function withContainers(change: Ending, task: TaskObject, workload: Workload | undefined): Ending {
  return workload ? { ...change, containers: containerStatuses(task, workload) } : change;
}

function sameRuntime(a: DeepReadonly<TaskRuntime> | undefined, b: TaskRuntime): boolean {
  return a?.driver === b.driver && a.pid === b.pid;
}
