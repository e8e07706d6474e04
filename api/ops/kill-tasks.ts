// Kill tasks of an App (Marathon's DELETE /v2/apps/{id}/tasks and POST /v2/tasks/delete). A kill is
// the Task's deletion: the agent stops it (drained first, then SIGTERM, then SIGKILL after the grace
// period) and, without `scale`, the replicas controller starts a replacement as for any lost
// instance. With `scale` the App also loses one instance per task killed; with `wipe` a resident
// App's task also loses the Volumes of its slot, so its replacement starts on empty ones.
//
// Order, with scale: the tasks are deleted first, then instances lowered. In between the replicas
// controller may start a replacement, which the lower count then removes first (an unplaced or
// not-yet-running task is the first victim). The other order would let it pick its own victim among
// the running tasks before the named ones were gone: one task too few, replaced again.
import { isTerminal, type TaskSpec, type TaskStatus } from '../kinds/task.ts';
import type { VolumeSpec } from '../kinds/volume.ts';
import { APP_LABEL } from '../kinds/wellknown.ts';
import type { CapstanObject } from '../object.ts';
import type { Store } from '../store.ts';
import { scaleApp, type ScaleResult } from './scale.ts';

type Task = CapstanObject<TaskSpec, TaskStatus>;
type Volume = CapstanObject<VolumeSpec>;

export interface KillTasksResult {
  /** The tasks killed, as they were just before (already being killed counts: the kill is idempotent). */
  killed: Task[];
  /** With scale: the App's scale-down by the number of live tasks killed. */
  scaled?: ScaleResult;
  /** With wipe: the Volumes deleted (marked: their agents remove the directories). */
  wiped: string[];
}

/** Kills the named tasks of one App. Names not found are skipped (a task may have just gone). */
export async function killTasks(options: { store: Store; namespace: string; app: string; tasks: readonly string[]; scale?: boolean; wipe?: boolean }): Promise<KillTasksResult> {
  const { store, namespace } = options;
  const killed: Task[] = [];
  let live = 0;
  for (const name of options.tasks) {
    // Read first: delete answers a task with finalizers as marked, so whether it was live is lost.
    const before = await store.get<Task>('Task', { namespace, name });
    if (!before || before.spec.app !== options.app) continue;
    if (!(await store.delete<Task>('Task', { namespace, name }))) continue;
    killed.push(before);
    if (!before.metadata.deletionTimestamp && !isTerminal(before.status?.phase)) live += 1;
  }
  const wiped = options.wipe ? await wipeSlots(store, namespace, options.app, killed) : [];
  if (!options.scale) return { killed, wiped };
  const scaled = await scaleApp({ store, namespace, name: options.app, by: -live });
  return { killed, wiped, scaled };
}

async function wipeSlots(store: Store, namespace: string, app: string, tasks: readonly Task[]): Promise<string[]> {
  const slots = new Set(tasks.map((task) => task.spec.slot).filter((slot) => slot !== undefined));
  if (slots.size === 0) return [];
  const { items } = await store.list<Volume>('Volume', { namespace, labelSelector: `${APP_LABEL}=${app}` });
  const wiped: string[] = [];
  for (const volume of items.filter((v) => v.spec.app === app && slots.has(v.spec.slot))) {
    if (await store.delete('Volume', { namespace, name: volume.metadata.name })) wiped.push(volume.metadata.name);
  }
  return wiped;
}

