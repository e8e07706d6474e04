// What the volumes controller does for one Volume, from plain facts: the phase its status shows,
// the tasks a wipe must stop first, and whether its finalizer must be let go because nothing is
// left to honour it.
import type { VolumePhase } from '../../api/kinds/volume.ts';

const say = {
  bound: (task: string) => `used by task ${task}`,
  reserved: (slot: number) => `no task uses it: slot ${slot} is kept (scaled down, or between tasks) and its next task is placed here`,
  nodeNotReady: (node: string, slot: number, name: string) =>
    `node ${node} is not ready: slot ${slot} waits for it; \`capstan delete volume ${name}\` frees the slot (its data is lost)`,
  nodeGone: (node: string, slot: number, name: string) =>
    `node ${node} is gone: slot ${slot} waits for it to register again; \`capstan delete volume ${name}\` frees the slot (its data is lost)`,
  stopping: (tasks: readonly string[]) => `wiping: waiting for task ${tasks.join(', ')} to stop`,
  wiping: (node: string) => `wiping: the agent of node ${node} removes the directory`,
  released: (node: string) => `node ${node} is gone, so nothing can remove the directory: the Volume was released without it`,
  releasedNotReady: (node: string) =>
    `node ${node} is not ready, so its agent cannot remove the directory now: the Volume was released without it, and the agent removes the directory (and stops the slot's task) if the node comes back`,
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
  /** Remove the finalizer: the node is gone or not ready, and its agent cannot. Say so, in an event. */
  release?: { message: string };
}

export function planVolume(input: { volume: VolumeFacts; node: NodeState; tasks: readonly SlotTask[] }): VolumePlan {
  const { volume, node, tasks } = input;
  if (volume.deleting) {
    const running = tasks.map((t) => t.name);
    const deleteTasks = tasks.filter((t) => !t.deleting).map((t) => t.name);
    // Only the node's agent removes the directory. A node that is gone or not ready cannot, and the
    // user asked for the data to go: the Volume is released now, so the slot is freed (on a new,
    // empty volume elsewhere) once its task is let go (the task gc for a gone node, the nodes
    // controller's expungeAfterSeconds for one not ready), not when, or if, the node comes back. A
    // node that does come back finds the Volume gone: its agent stops the task and removes the
    // directory (runtime/agent/volumes.ts, orphanedVolumeDirs).
    if (node === 'gone') return { phase: 'Deleting', message: say.released(volume.node), deleteTasks, release: { message: say.released(volume.node) } };
    if (node === 'notReady') return { phase: 'Deleting', message: say.releasedNotReady(volume.node), deleteTasks, release: { message: say.releasedNotReady(volume.node) } };
    if (running.length > 0) return { phase: 'Deleting', message: say.stopping(running), deleteTasks };
    return { phase: 'Deleting', message: say.wiping(volume.node), deleteTasks: [] };
  }
  if (node === 'gone') return { phase: 'Waiting', message: say.nodeGone(volume.node, volume.slot, volume.name), deleteTasks: [] };
  if (node === 'notReady') return { phase: 'Waiting', message: say.nodeNotReady(volume.node, volume.slot, volume.name), deleteTasks: [] };
  const user = tasks[0];
  if (user) return { phase: 'Bound', task: user.name, message: say.bound(user.name), deleteTasks: [] };
  return { phase: 'Reserved', message: say.reserved(volume.slot), deleteTasks: [] };
}
