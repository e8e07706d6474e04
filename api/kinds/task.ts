// Task: one instance of one Revision (a Marathon task, a Kubernetes pod), owned by the Revision.
// The replicas controller creates it with the template; the scheduler binds it, writing `nodeName`,
// `hostPorts` and (a resident App's) `slot` once (into the binding key the store joins into the spec, KindDefinition.binding);
// the node agent and the health controller write its status.
import { z } from 'zod';
import { API_VERSION, getCondition } from '../object.ts';
import type { AnyObject, CommonStatus } from '../object.ts';
import { appTemplateSchema } from './app.ts';
import type { KindDefinition } from './registry.ts';
import { AGENT_FINALIZER } from './wellknown.ts';

export const taskSpecSchema = z.strictObject({
  app: z.string().min(1),
  /** The revision number (the Revision object is `<app>-<revision>`). */
  revision: z.number().int().min(1),
  template: appTemplateSchema,
  /** Written once by the scheduler: the node the task is bound to. */
  nodeName: z.string().min(1).optional(),
  /** Written with nodeName: the node's port for each of template.ports, in order (PORT0, PORT1, ...). */
  hostPorts: z.array(z.number().int().min(1).max(65535)).optional(),
  /**
   * Written with nodeName for a resident App (app.ts isResident): the instance slot, from 0, whose
   * Volumes (volume.ts) the task mounts; the node is the one holding them.
   */
  slot: z.number().int().min(0).optional(),
});
export type TaskSpec = z.infer<typeof taskSpecSchema>;

export const TASK_PHASES = ['Pending', 'Staging', 'Starting', 'Running', 'Finished', 'Failed', 'Killing', 'Killed', 'Lost'] as const;
export type TaskPhase = (typeof TASK_PHASES)[number];

/** Phases a task never leaves: the replicas controller replaces such tasks, the gc removes them. */
export const TERMINAL_PHASES: readonly TaskPhase[] = ['Finished', 'Failed', 'Killed', 'Lost'];

export function isTerminal(phase: TaskPhase | undefined): boolean {
  return phase !== undefined && TERMINAL_PHASES.includes(phase);
}

/**
 * Scheduled (bound to a node), Healthy (all health checks pass), Ready (all readiness checks pass),
 * Draining (a planned stop: True while the load balancers let go of it, False once they have, or the
 * drain timeout passed; the agent stops it only then).
 */
export type TaskConditionType = 'Scheduled' | 'Healthy' | 'Ready' | 'Draining';

/** One health check's state, in the order of template.healthChecks. */
export interface HealthResult {
  index: number;
  alive: boolean;
  consecutiveFailures: number;
  firstSuccess?: string;
  lastSuccess?: string;
  lastFailure?: string;
  lastFailureCause?: string;
}

export interface TaskStatus extends CommonStatus {
  phase: TaskPhase;
  message?: string;
  exitCode?: number;
  /** The signal that ended it, when one did (SIGKILL, ...). */
  signal?: string;
  /** Failed or Finished: the last lines of the workload's output (at most 10 lines, 2 KiB), read by the agent at the exit. */
  outputTail?: string[];
  startedAt?: string;
  finishedAt?: string;
  healthResults?: HealthResult[];
  /** What the agent needs to adopt the running task after a restart; the first container's runtime. */
  runtime?: { driver: 'docker' | 'process'; containerIds?: string[]; pid?: number; sandbox?: string };
  /** Each of the pod's containers, in the order of template.containers (written by the agent). */
  containers?: ContainerStatus[];
}

/** One container of a task: the task runs when all of them run, and fails when one fails. */
export interface ContainerStatus {
  name: string;
  runtime: 'docker' | 'process';
  state: 'Waiting' | 'Running' | 'Exited';
  pid?: number;
  containerId?: string;
  startedAt?: string;
  finishedAt?: string;
  exitCode?: number;
  signal?: string;
  /** Why it waits or exited, in a word (ImagePull, Error, Killed, ...). */
  reason?: string;
}

const specOf = (object: AnyObject) => object.spec as Partial<TaskSpec>;
const statusOf = (object: AnyObject) => object.status as Partial<TaskStatus> | undefined;
const conditionOf = (o: AnyObject, type: TaskConditionType) => getCondition(statusOf(o)?.conditions, type)?.status ?? '-';

export const taskKind: KindDefinition = {
  apiVersion: API_VERSION,
  kind: 'Task',
  plural: 'tasks',
  singular: 'task',
  shortNames: ['tk'],
  namespaced: true,
  spec: taskSpecSchema,
  binding: { fields: ['nodeName', 'hostPorts', 'slot'], finalizer: AGENT_FINALIZER },
  columns: [
    { header: 'APP', value: (o) => specOf(o).app ?? '' },
    { header: 'REVISION', value: (o) => String(specOf(o).revision ?? '-') },
    { header: 'PHASE', value: (o) => statusOf(o)?.phase ?? 'Pending' },
    { header: 'HEALTHY', value: (o) => conditionOf(o, 'Healthy') },
    { header: 'READY', value: (o) => conditionOf(o, 'Ready') },
    { header: 'NODE', value: (o) => specOf(o).nodeName ?? '<none>' },
    { header: 'PORTS', wide: true, value: (o) => (specOf(o).hostPorts ?? []).join(',') || '-' },
    { header: 'SLOT', wide: true, value: (o) => String(specOf(o).slot ?? '-') },
    { header: 'EXIT', wide: true, value: (o) => String(statusOf(o)?.exitCode ?? '-') },
    { header: 'MESSAGE', wide: true, value: (o) => statusOf(o)?.message ?? '' },
  ],
};
