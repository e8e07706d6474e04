// describe node's own sections, as kubectl's "Non-terminated Pods" and "Allocated resources": the
// tasks holding the node's resources and what they add up to. Both come from the tasks as stored,
// counted by the rules the scheduler and the nodes controller use (isBound, allocationOf), so the
// totals are the present ones even when status.allocated trails a fresh binding by a moment.
import type { NodeSpec, NodeStatus } from '../api/kinds/node.ts';
import type { TaskSpec, TaskStatus } from '../api/kinds/task.ts';
import type { AnyObject, CapstanObject } from '../api/object.ts';
import type { Store } from '../api/store.ts';
import { allocationOf } from '../controllers/nodes-allocation.ts';
import { isBound, taskResources } from '../controllers/scheduler/demand.ts';
import type { DescribeSection } from './describe.ts';
import { formatTable, indent } from './io.ts';

type Task = CapstanObject<TaskSpec, TaskStatus>;

const say = {
  tasksTitle: (count: number) => `Tasks holding resources (${count} in total)`,
  none: '  <none>',
  portsInUseTitle: 'Host ports in use outside Capstan (skipped by the scheduler)',
};

/** The bound, non-terminal tasks on `node`, by namespace, App and name. */
export async function tasksOnNode(store: Store, node: string): Promise<Task[]> {
  const tasks = (await store.list<Task>('Task')).items.filter((task) => task.spec.nodeName === node && isBound(task));
  const key = (task: Task) => `${task.metadata.namespace}\u0000${task.spec.app}\u0000${task.metadata.name}`;
  return tasks.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

export function nodeSections(node: AnyObject, tasks: readonly Task[]): DescribeSection[] {
  return [
    { title: say.tasksTitle(tasks.length), body: tasksTable(tasks) },
    { title: 'Allocated resources', body: allocatedTable(node.spec as NodeSpec, tasks) },
    { title: say.portsInUseTitle, body: portsInUse(node.status as Partial<NodeStatus> | undefined) },
  ];
}

/** What the agent found listening in its task port range that no task of it holds (status.portsInUse). */
function portsInUse(status: Partial<NodeStatus> | undefined): string {
  const ports = status?.portsInUse ?? [];
  return ports.length === 0 ? say.none : `  ${ports.join(', ')}`;
}

function tasksTable(tasks: readonly Task[]): string {
  if (tasks.length === 0) return say.none;
  const rows = [['APP', 'TASK', 'PHASE', 'CPUS', 'MEM', 'PORTS']];
  for (const task of tasks) {
    const held = taskResources(task.spec);
    rows.push([
      `${task.metadata.namespace}/${task.spec.app}`,
      task.metadata.name,
      task.status?.phase ?? 'Pending',
      round(held.cpus),
      `${round(held.mem)} MiB`,
      (task.spec.hostPorts ?? []).join(',') || '-',
    ]);
  }
  return indent(formatTable(rows));
}

/** Each resource: allocated, allocatable and the share, as kubectl's "Requests (percent)". */
function allocatedTable(spec: NodeSpec, tasks: readonly Task[]): string {
  const allocated = allocationOf(tasks);
  const ports = spec.portRange.to - spec.portRange.from + 1;
  const rows = [
    ['RESOURCE', 'ALLOCATED', 'ALLOCATABLE', 'SHARE'],
    ['cpus', round(allocated.cpus), round(spec.capacity.cpus), share(allocated.cpus, spec.capacity.cpus)],
    ['mem', `${round(allocated.mem)} MiB`, `${round(spec.capacity.mem)} MiB`, share(allocated.mem, spec.capacity.mem)],
    ['disk', `${round(allocated.disk)} MiB`, `${round(spec.capacity.disk ?? 0)} MiB`, share(allocated.disk, spec.capacity.disk ?? 0)],
    ['gpus', round(allocated.gpus), round(spec.capacity.gpus ?? 0), share(allocated.gpus, spec.capacity.gpus ?? 0)],
    ['ports', String(allocated.ports), `${ports} (${spec.portRange.from}-${spec.portRange.to})`, share(allocated.ports, ports)],
  ];
  return indent(formatTable(rows));
}

const round = (value: number) => String(Math.round(value * 1000) / 1000);
const share = (part: number, whole: number) => (whole > 0 ? `${Math.round((part / whole) * 100)}%` : '-');
