// What the volumes controller does for one Volume, from plain facts: the phase its status shows,
// the tasks a wipe must stop first, and whether its finalizer must be let go because nothing is
// left to honour it.
import type { VolumePhase } from '../../api/kinds/volume.ts';

const say = {
  bound: (task: string) => `used by task ${task}`,
  reserved: (slot: number) => `no task uses it: slot ${slot} is kept (scaled down, or between tasks) and its next task is placed here`,
  nodeNotReady: (node: string, slot: number) => `node ${node} is not ready: slot ${slot} waits for it`,
  nodeGone: (node: string, slot: number, name: string) =>
    `node ${node} is gone: slot ${slot} waits for it to register again; \`capstan delete volume ${name}\` frees the slot (its data is lost)`,
  stopping: (tasks: readonly string[]) => `wiping: waiting for task ${tasks.join(', ')} to stop`,
  wiping: (node: string) => `wiping: the agent of node ${node} removes the directory`,
  wipingNotReady: (node: string, name: string) =>
    `wiping: the agent of node ${node} removes the directory when the node is back (it is not ready); if the node is lost for good, \`capstan delete node ${node}\` releases volume ${name} without it (the directory stays on that machine)`,
  released: (node: string) => `node ${node} is gone, so nothing can remove the directory: the Volume was released without it`,
};

export interface VolumeFacts {
  name: string;
  slot: number;
  node: string;
  /** deletionTimestamp set: a wipe. */
  deleting: boolean;
}

/** The Volume's node: Ready, there but not ready, or no Node object at all. */
export type NodeState = 'ready' | 'notReady' | 'gone';

/** A task of the Volume's App and slot that holds the slot (bound and not ended). */
export interface SlotTask {
  name: string;
  /** deletionTimestamp set: being stopped already. */
  deleting: boolean;
}

export interface VolumePlan {
  phase: VolumePhase;
  /** The task using it (Bound). */
  task?: string;
  message: string;
  /** Tasks to delete before the wipe can go on. */
  deleteTasks: string[];
  /** Remove the finalizer: the node is gone and no agent can. Say so, in an event. */
  release?: { message: string };
}

export function planVolume(input: { volume: VolumeFacts; node: NodeState; tasks: readonly SlotTask[] }): VolumePlan {
  const { volume, node, tasks } = input;
  if (volume.deleting) {
    const running = tasks.map((t) => t.name);
    const deleteTasks = tasks.filter((t) => !t.deleting).map((t) => t.name);
    // The agent stops a gone node's tasks no more than it removes the directory; the task gc
    // releases those tasks, so the wipe does not wait for them.
    if (node === 'gone') return { phase: 'Deleting', message: say.released(volume.node), deleteTasks, release: { message: say.released(volume.node) } };
    if (running.length > 0) return { phase: 'Deleting', message: say.stopping(running), deleteTasks };
    // Only the node's agent removes the directory: an agent that never comes back holds the slot
    // until the user deletes its Node (released above), so the message says how.
    if (node === 'notReady') return { phase: 'Deleting', message: say.wipingNotReady(volume.node, volume.name), deleteTasks: [] };
    return { phase: 'Deleting', message: say.wiping(volume.node), deleteTasks: [] };
  }
  if (node === 'gone') return { phase: 'Waiting', message: say.nodeGone(volume.node, volume.slot, volume.name), deleteTasks: [] };
  if (node === 'notReady') return { phase: 'Waiting', message: say.nodeNotReady(volume.node, volume.slot), deleteTasks: [] };
  const user = tasks[0];
  if (user) return { phase: 'Bound', task: user.name, message: say.bound(user.name), deleteTasks: [] };
  return { phase: 'Reserved', message: say.reserved(volume.slot), deleteTasks: [] };
}
