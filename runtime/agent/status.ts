// Pure translations between a Task and what the agent and the drivers speak: the next TaskStatus for
// a reported change, and the TaskLaunch a driver starts.
import { isTerminal, type ContainerStatus, type TaskStatus } from '../../api/kinds/task.ts';
import { deepEqual } from '../../api/merge.ts';
import { DEFAULT_NAMESPACE, setCondition, type DeepReadonly } from '../../api/object.ts';
import { containerRuntime } from '../../api/kinds/app.ts';
import type { DriverName, TaskLaunch } from '../driver.ts';
import { messages, type StatusChange, type TaskObject } from './plan.ts';

/**
 * The status after `change`, or undefined when nothing is to be written: a terminal phase in the
 * store is final, and a change that is already there is not written again.
 */
export function applyChange(
  current: DeepReadonly<TaskStatus> | undefined,
  change: StatusChange,
  options: { nodeName: string; now?: Date },
): TaskStatus | undefined {
  if (isTerminal(current?.phase)) return undefined;
  const now = options.now ?? new Date();
  const base = structuredClone((current ?? { phase: 'Pending' }) as TaskStatus);
  let next: TaskStatus;
  switch (change.phase) {
    case 'Staging':
      next = {
        ...base,
        phase: 'Staging',
        conditions: setCondition(
          base.conditions,
          { type: 'Scheduled', status: 'True', reason: 'Bound', message: `bound to node ${options.nodeName}` },
          now,
        ),
      };
      break;
    case 'Starting':
      next = { ...base, phase: 'Starting', runtime: change.runtime, ...containersOf(change) };
      break;
    case 'Running':
      next = { ...base, phase: 'Running', startedAt: change.startedAt, runtime: change.runtime, ...containersOf(change) };
      break;
    case 'Killing':
      next = { ...base, phase: 'Killing' };
      break;
    default: {
      next = { ...base, phase: change.phase, message: change.message, finishedAt: change.finishedAt ?? now.toISOString() };
      if (change.exitCode !== undefined) next.exitCode = change.exitCode;
      else delete next.exitCode;
      if (change.signal !== undefined) next.signal = change.signal;
      else delete next.signal;
      if (change.outputTail?.length) next.outputTail = [...change.outputTail];
      else delete next.outputTail;
      Object.assign(next, containersOf(change));
    }
  }
  // The message is the agent's present one, and only an ending has one: a reason written before
  // (the scheduler's "0/1 nodes fit: ...") must not outlive the state it described.
  if (!isTerminal(next.phase)) delete next.message;
  return deepEqual(next, base) ? undefined : next;
}

/** The change's per-container states, when it has them: a change without them keeps the stored ones. */
const containersOf = (change: { containers?: ContainerStatus[] }) => (change.containers ? { containers: structuredClone(change.containers) } : {});

/**
 * What the drivers start for a task bound here, or the sentence why it cannot be started. `volumes`
 * maps each of the template's volumes to its directory on this node (agent/volumes.ts).
 */
export function launchFor(task: TaskObject, host: string, volumes: ReadonlyMap<string, string> = new Map()): TaskLaunch | string {
  const { template, hostPorts = [] } = task.spec;
  if (template.ports.length !== hostPorts.length) return messages.portsMismatch(template.ports.length, hostPorts.length);
  const unplaced = template.containers.flatMap((c) => c.volumeMounts.filter((m) => !volumes.has(m.name)).map((m) => [c.name, m.name] as const))[0];
  if (unplaced) return messages.volumeUnplaced(unplaced[0], unplaced[1]);
  return {
    taskUid: task.metadata.uid!,
    taskName: task.metadata.name,
    namespace: task.metadata.namespace ?? DEFAULT_NAMESPACE,
    app: task.spec.app,
    containers: template.containers.map((c) => ({
      name: c.name,
      ...(c.image !== undefined ? { image: c.image } : {}),
      ...(c.cmd !== undefined ? { cmd: c.cmd } : {}),
      ...(c.args !== undefined ? { args: [...c.args] } : {}),
      env: { ...c.env },
      resources: { ...c.resources },
      ...(c.volumeMounts.length > 0 ? { mounts: c.volumeMounts.map((m) => ({ hostPath: volumes.get(m.name)!, mountPath: m.mountPath, readOnly: m.readOnly })) } : {}),
    })),
    ports: template.ports.map((port, index) => ({ ...(port.name ? { name: port.name } : {}), hostPort: hostPorts[index]! })),
    host,
    // Apps carry env per container; the task-wide env is Capstan's own (taskEnvironment adds it).
    env: {},
    killGracePeriodSeconds: template.taskKillGracePeriodSeconds,
  };
}

/**
 * One launch per driver: each container goes to its runtime (containerRuntime: an image runs under
 * Docker, none as a process), in the order the template first names each runtime. Every part keeps
 * the task's uid, ports and host: the pod shares the node's network.
 */
export function launchParts(task: TaskObject, launch: TaskLaunch): { driver: DriverName; launch: TaskLaunch }[] {
  const { template } = task.spec;
  const parts = new Map<DriverName, TaskLaunch>();
  launch.containers.forEach((container, index) => {
    const driver = containerRuntime(template, template.containers[index]!);
    const part = parts.get(driver) ?? { ...launch, containers: [] };
    part.containers.push(container);
    parts.set(driver, part);
  });
  return [...parts].map(([driver, part]) => ({ driver, launch: part }));
}
