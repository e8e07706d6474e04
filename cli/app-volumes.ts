// An App's Volumes as the commands see them: `describe app` lists them, `scale` and `delete app` say
// which are kept and, with --wipe, delete them. A Volume has no owner (the gc must never take data
// with its App), so it is found by its label and spec.app, never by ownerReferences.
//
// Deleting a Volume only marks it: the agent of its node removes the directory, then the finalizer,
// so these commands say so rather than wait for an agent that may be down. A Volume whose node is not
// ready or gone is released by the volumes controller at once (the slot is freed; the agent removes
// the directory if the node comes back), and the line printed says that instead.
import { isTerminal, type TaskSpec, type TaskStatus } from '../api/kinds/task.ts';
import { mebibytes, type VolumeSpec, type VolumeStatus } from '../api/kinds/volume.ts';
import { APP_LABEL } from '../api/kinds/wellknown.ts';
import { getCondition, type CapstanObject, type Condition } from '../api/object.ts';
import type { Store } from '../api/store.ts';
import { CliError } from './errors.ts';

export type VolumeObject = CapstanObject<VolumeSpec, VolumeStatus>;
type Task = CapstanObject<TaskSpec, TaskStatus>;

const POLL_MS = 200;

export const say = {
  marked: (volume: VolumeObject) =>
    `volume/${volume.metadata.name} marked for deletion: ${volume.status?.task ? `the volumes controller stops its task ${volume.status.task} first, then ` : ''}` +
    `the agent of node ${volume.spec.nodeName} removes its directory (${mebibytes(volume.spec.size)}) and its data, then it is gone (capstan get volumes shows it Deleting until then)`,
  markedAway: (volume: VolumeObject, node: 'is not ready' | 'is gone') =>
    `volume/${volume.metadata.name} marked for deletion: its node ${volume.spec.nodeName} ${node}, so the volumes controller releases it now and slot ${volume.spec.slot} ` +
    `starts again on a new, empty volume; the data (${mebibytes(volume.spec.size)}) stays on that machine until its agent comes back and removes the directory`,
  deleted: (volume: VolumeObject) => `volume/${volume.metadata.name} deleted (no finalizer held it: its directory, if any, was already released)`,
  stillRunning: (what: string, after: string, tasks: Task[]) =>
    `${what}: after ${after} these tasks still run: ${tasks.map(describeTask).join('; ')}. Their volumes were not wiped. ` +
    'Are the controllers running (capstan controllers, or capstan up) and the nodes of those tasks up? Wait longer with --timeout, and run the command again.',
} as const;

const formatDuration = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`);
const describeTask = (task: Task) => `${task.metadata.name} (slot ${task.spec.slot}, node ${task.spec.nodeName}, ${task.status?.phase ?? 'Pending'})`;

/** The App's Volumes, by slot, then by volume name. */
export async function volumesOf(store: Store, ref: { namespace: string; app: string }): Promise<VolumeObject[]> {
  const { items } = await store.list<VolumeObject>('Volume', { namespace: ref.namespace, labelSelector: `${APP_LABEL}=${ref.app}` });
  return items
    .filter((volume) => volume.spec.app === ref.app)
    .sort((a, b) => a.spec.slot - b.spec.slot || a.spec.volume.localeCompare(b.spec.volume));
}

export const fromSlot = (volumes: readonly VolumeObject[], slot: number) => volumes.filter((volume) => volume.spec.slot >= slot);

/**
 * Waits until no task of the App bound to a slot ≥ `slot` is live: gone, or ended (Killed, Failed,
 * ... : the workload has stopped, and a Failed task may be kept as history, so waiting for it to
 * disappear could last forever). Only then is a volume of those slots no one's to lose.
 */
export async function waitSlotsStopped(
  store: Store,
  options: { namespace: string; app: string; slot: number; timeoutMs: number; what: string },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const { items } = await store.list<Task>('Task', { namespace: options.namespace, labelSelector: `${APP_LABEL}=${options.app}` });
    const live = items.filter((task) => task.spec.app === options.app && (task.spec.slot ?? -1) >= options.slot && !isTerminal(task.status?.phase));
    if (live.length === 0) return;
    if (Date.now() > deadline) throw new CliError(say.stillRunning(options.what, formatDuration(options.timeoutMs), live));
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** Deletes each Volume (marks it: the finalizer waits for the agent); a line per Volume. One already gone is skipped. */
export async function wipe(store: Store, volumes: readonly VolumeObject[]): Promise<string[]> {
  const lines: string[] = [];
  for (const volume of volumes) {
    const before = await store.delete<VolumeObject>('Volume', { namespace: volume.metadata.namespace, name: volume.metadata.name });
    if (before) lines.push(before.metadata.finalizers?.length ? await markedLine(store, before) : say.deleted(before));
  }
  return lines;
}

/** The line for a Volume marked for deletion, by the state of its node: its agent removes the directory, or the Volume is released without it. */
export async function markedLine(store: Store, volume: VolumeObject): Promise<string> {
  const node = await store.get('Node', { name: volume.spec.nodeName });
  if (!node) return say.markedAway(volume, 'is gone');
  const ready = getCondition((node.status as { conditions?: Condition[] } | undefined)?.conditions, 'Ready')?.status === 'True';
  return ready ? say.marked(volume) : say.markedAway(volume, 'is not ready');
}
