// The directories behind a task's volumes on this node, under <stateDir>/volumes:
// - ephemeral/<taskUid>/<volume>: made before the task starts, shared by the pod's containers that
//   mount it, removed with the task's workload;
// - persistent/<namespace>/<Volume name>-<uid8>: one per Volume object bound to this node, made when
//   the Volume appears (or when its slot's task starts), kept across tasks, agent restarts and
//   upgrades, removed only when the Volume is deleted and no task of its slot runs here. The uid
//   suffix keeps a wiped and re-created Volume of the same name from finding the old data;
// - hostPath volumes are the node's own directories: never made nor removed here.
//
// The Volumes of this node are followed through an informer; the agent calls `sync` on each pass
// and on every Volume event. The agent writes hostPath, usedMiB and the Provisioned condition; the
// rest of the status is the volumes controller's, kept as read.
import { existsSync, mkdirSync, readdirSync, rmSync, lstatSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Observable } from 'rxjs';
import { Informer, type InformerEvent } from '../../api/informer.ts';
import { volumeObjectName, type VolumeSpec, type VolumeStatus } from '../../api/kinds/volume.ts';
import { VOLUME_FINALIZER } from '../../api/kinds/wellknown.ts';
import { DEFAULT_NAMESPACE, getCondition, setCondition, type CapstanObject, type DeepReadonly } from '../../api/object.ts';
import { readModifyWrite } from '../../api/read-modify-write.ts';
import type { Store } from '../../api/store.ts';
import type { TaskObject } from './plan.ts';

export type VolumeObject = DeepReadonly<CapstanObject<VolumeSpec, VolumeStatus>>;

export interface NodeVolumesOptions {
  store: Store;
  nodeName: string;
  /** The agent's state dir: volumes live under <stateDir>/volumes. */
  stateDir: string;
  logger: Logger;
  /** How often usedMiB is measured again (a walk of each directory). */
  usageIntervalMs?: number;
  /**
   * Asks for another sync with fresh facts (the agent's next pass): called when a Volume's write
   * ends that made a sync skip it meanwhile, so a deletion seen then is not left for the next event.
   */
  resync?: () => void;
}

/** Directories this agent may make and remove for a task's volumes, or why it cannot yet. */
export type Placement = { ok: true; paths: Map<string, string> } | { ok: false; retry: boolean; message: string };

export const DEFAULT_USAGE_INTERVAL_MS = 30_000;
/** How soon a wiped Volume still in use, or whose wipe failed, is looked at again. */
const RETRY_MS = 1_000;
const PROVISIONED = 'Provisioned';
const MAX_ATTEMPTS = 10;

export const say = {
  noSlot: (volume: string) =>
    `volume ${volume} is persistent but the task has no instance slot (spec.slot): only the scheduler binds resident tasks; recreate the task through its App`,
  notYet: (name: string, node: string) => `waiting for Volume ${name} of this slot on node ${node} (the scheduler creates it with the binding)`,
  elsewhere: (name: string, node: string, found: string) => `Volume ${name} is on node ${found}, not ${node}: the task was bound to the wrong node`,
  wiped: (name: string) => `Volume ${name} is being deleted (wiped); the slot's task cannot use it`,
  provisioned: (path: string) => `directory ${path}`,
  removed: 'volume directory removed, finalizer released',
  failed: 'could not keep a volume directory; retrying on the next pass',
  orphanRemoved: 'removed the directory of a volume that no longer exists (released while this node was away)',
  orphanEphemeralRemoved: 'removed the ephemeral volumes of a task this node no longer has (deleted while its agent was away)',
};

/** Where the agent keeps a task's ephemeral volume. */
export const ephemeralDir = (stateDir: string, taskUid: string, volume?: string) =>
  volume === undefined ? join(stateDir, 'volumes', 'ephemeral', taskUid) : join(stateDir, 'volumes', 'ephemeral', taskUid, volume);

/** Where the agent keeps a persistent Volume's data. */
export const persistentDir = (stateDir: string, volume: VolumeObject) =>
  join(stateDir, 'volumes', 'persistent', volume.metadata.namespace ?? DEFAULT_NAMESPACE, `${volume.metadata.name}-${(volume.metadata.uid ?? '').slice(0, 8)}`);

/** Free space of the file system holding the volumes dir, in MiB: `--disk auto`. */
export function freeDiskMiB(stateDir: string): number {
  const dir = join(stateDir, 'volumes');
  mkdirSync(dir, { recursive: true });
  const stats = statfsSync(dir);
  return Math.floor((stats.bavail * stats.bsize) / 2 ** 20);
}

export class NodeVolumes {
  private readonly informer: Informer;
  /** Volume uid → when its usage was last measured. */
  private readonly measured = new Map<string, number>();
  /** Volumes with a write in flight, by uid: a pass does not start a second one. */
  private readonly busy = new Set<string>();
  /** Volumes a sync skipped while a write of theirs was in flight: synced again when it ends. */
  private readonly skipped = new Set<string>();
  /** When orphaned volume directories were last looked for; whether the informer has listed Volumes. */
  private swept = 0;
  private listed = false;
  private retry: NodeJS.Timeout | undefined;

  constructor(private readonly options: NodeVolumesOptions) {
    this.informer = new Informer(options.store.client, options.store.kind('Volume'));
  }

  get events$(): Observable<InformerEvent> {
    return this.informer.events$;
  }

  async start(): Promise<void> {
    mkdirSync(join(this.options.stateDir, 'volumes'), { recursive: true });
    await this.informer.start();
    this.listed = true;
  }

  stop(): Promise<void> {
    clearTimeout(this.retry);
    this.retry = undefined;
    return this.informer.stop();
  }

  /** The Volumes bound to this node. */
  mine(): VolumeObject[] {
    return this.informer.list((o) => (o.spec as VolumeSpec).nodeName === this.options.nodeName) as VolumeObject[];
  }

  /**
   * The directory of each of the template's volumes, made now: ephemeral ones for this task,
   * persistent ones of the task's slot. Not placeable yet (its Volume not seen): `retry`.
   */
  place(task: TaskObject): Placement {
    const { stateDir, nodeName } = this.options;
    const paths = new Map<string, string>();
    for (const volume of task.spec.template.volumes ?? []) {
      if (volume.hostPath) paths.set(volume.name, volume.hostPath.path);
      else if (volume.ephemeral) {
        const dir = ephemeralDir(stateDir, task.metadata.uid!, volume.name);
        mkdirSync(dir, { recursive: true });
        paths.set(volume.name, dir);
      } else if (volume.persistent) {
        if (task.spec.slot === undefined) return { ok: false, retry: false, message: say.noSlot(volume.name) };
        const name = volumeObjectName(task.spec.app, volume.name, task.spec.slot);
        const object = this.informer.get(`${task.metadata.namespace ?? DEFAULT_NAMESPACE}/${name}`) as VolumeObject | undefined;
        if (!object) return { ok: false, retry: true, message: say.notYet(name, nodeName) };
        if (object.spec.nodeName !== nodeName) return { ok: false, retry: false, message: say.elsewhere(name, nodeName, object.spec.nodeName) };
        if (object.metadata.deletionTimestamp) return { ok: false, retry: false, message: say.wiped(name) };
        const dir = persistentDir(stateDir, object);
        mkdirSync(dir, { recursive: true });
        paths.set(volume.name, dir);
      }
    }
    return { ok: true, paths };
  }

  /** Removes a task's ephemeral volumes (with its workload). */
  removeEphemeral(taskUid: string): void {
    rmSync(ephemeralDir(this.options.stateDir, taskUid), { recursive: true, force: true });
  }

  /**
   * Keeps each Volume of this node: its directory made and reported (hostPath, Provisioned, usedMiB
   * at most every usageIntervalMs), or, when deleted, removed once `inUse` says no task of its slot
   * runs here, and the finalizer released.
   */
  sync(inUse: (volume: VolumeObject) => boolean, taskKnown: (uid: string) => boolean = () => true): void {
    this.sweep(taskKnown);
    for (const volume of this.mine()) {
      const uid = volume.metadata.uid!;
      if (this.busy.has(uid)) {
        this.skipped.add(uid);
        continue;
      }
      const deleting = volume.metadata.deletionTimestamp !== undefined;
      // A wiped Volume still in use waits for its task to stop: look again soon, whatever wakes us.
      if (deleting && inUse(volume)) {
        this.retrySoon();
        continue;
      }
      const work = deleting ? this.wipe(volume) : this.keep(volume);
      this.busy.add(uid);
      void work
        .catch((error: Error) => {
          this.options.logger.warn({ volume: volume.metadata.name, error: error.message }, say.failed);
          // A failed wipe (a file written while it ran, a write that lost) is not left for the next event.
          if (deleting) this.retrySoon();
        })
        .finally(() => {
          this.busy.delete(uid);
          if (this.skipped.delete(uid)) this.options.resync?.();
        });
    }
  }

  /** One resync a second from now (not several): wipes are level-triggered, not only event-driven. */
  private retrySoon(): void {
    if (this.retry || !this.options.resync) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.options.resync?.();
    }, RETRY_MS);
    this.retry.unref();
  }

  /**
   * Removes, at most every usageIntervalMs, the directories of persistent volumes whose Volume no
   * longer exists: released while this node was away (`capstan delete node`, `delete volume` of a
   * node not ready, or `delete volume --force`), when no agent could remove them; and the ephemeral
   * directories of tasks this agent neither has nor runs (a task deleted, and its workload gone,
   * while the agent was down). Only after the informer has listed every Volume, so a directory is
   * never judged against a partial cache.
   */
  private sweep(taskKnown: (uid: string) => boolean): void {
    const interval = this.options.usageIntervalMs ?? DEFAULT_USAGE_INTERVAL_MS;
    if (!this.listed || Date.now() - this.swept < interval) return;
    this.swept = Date.now();
    for (const dir of orphanedVolumeDirs(this.options.stateDir, this.informer.list() as VolumeObject[])) {
      rmSync(dir, { recursive: true, force: true });
      this.options.logger.info({ dir }, say.orphanRemoved);
    }
    for (const dir of orphanedEphemeralDirs(this.options.stateDir, taskKnown)) {
      rmSync(dir, { recursive: true, force: true });
      this.options.logger.info({ dir }, say.orphanEphemeralRemoved);
    }
  }

  private async keep(volume: VolumeObject): Promise<void> {
    const dir = persistentDir(this.options.stateDir, volume);
    const provisioned = volume.status?.hostPath === dir && getCondition(volume.status?.conditions, PROVISIONED)?.status === 'True';
    const interval = this.options.usageIntervalMs ?? DEFAULT_USAGE_INTERVAL_MS;
    const due = Date.now() - (this.measured.get(volume.metadata.uid!) ?? 0) >= interval;
    if (provisioned && !due) return;
    mkdirSync(dir, { recursive: true });
    const usedMiB = due ? usageMiB(dir) : volume.status?.usedMiB;
    if (due) this.measured.set(volume.metadata.uid!, Date.now());
    const result = await readModifyWrite<VolumeObject>({
      store: this.options.store,
      kind: 'Volume',
      ref: { namespace: volume.metadata.namespace, name: volume.metadata.name, uid: volume.metadata.uid },
      from: { object: volume },
      write: 'updateStatus',
      change: (current) => {
        const status = structuredClone((current.status ?? { phase: 'Pending' }) as VolumeStatus);
        const conditions = setCondition(status.conditions, { type: PROVISIONED, status: 'True', reason: 'DirectoryMade', message: say.provisioned(dir) });
        const next: VolumeStatus = { ...status, hostPath: dir, conditions, ...(usedMiB === undefined ? {} : { usedMiB }) };
        return JSON.stringify(next) === JSON.stringify(status) ? undefined : { ...current, status: next };
      },
      attempts: MAX_ATTEMPTS,
    });
    if (result.outcome === 'updated' && !provisioned) this.options.logger.info({ volume: volume.metadata.name, hostPath: dir }, 'volume directory made');
  }

  private async wipe(volume: VolumeObject): Promise<void> {
    if (!volume.metadata.finalizers?.includes(VOLUME_FINALIZER)) return;
    rmSync(persistentDir(this.options.stateDir, volume), { recursive: true, force: true });
    const result = await readModifyWrite<VolumeObject>({
      store: this.options.store,
      kind: 'Volume',
      ref: { namespace: volume.metadata.namespace, name: volume.metadata.name, uid: volume.metadata.uid },
      write: 'update',
      change: (current) => {
        const finalizers = current.metadata.finalizers ?? [];
        if (!finalizers.includes(VOLUME_FINALIZER)) return undefined;
        return { ...current, metadata: { ...current.metadata, finalizers: finalizers.filter((f) => f !== VOLUME_FINALIZER) } };
      },
      attempts: MAX_ATTEMPTS,
    });
    this.measured.delete(volume.metadata.uid!);
    if (result.outcome === 'updated') this.options.logger.info({ volume: volume.metadata.name }, say.removed);
  }
}

/** The persistent volume directories under `stateDir` that belong to none of `volumes` (any node's). */
export function orphanedVolumeDirs(stateDir: string, volumes: readonly VolumeObject[]): string[] {
  const root = join(stateDir, 'volumes', 'persistent');
  const known = new Set(volumes.map((volume) => persistentDir(stateDir, volume)));
  const namespaces = existsSync(root) ? readdirSync(root, { withFileTypes: true }).filter((entry) => entry.isDirectory()) : [];
  return namespaces.flatMap((namespace) =>
    readdirSync(join(root, namespace.name), { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => join(root, namespace.name, entry.name))
      .filter((dir) => !known.has(dir)),
  );
}

/** The ephemeral volume directories under `stateDir` (one per task uid) of tasks `taskKnown` does not know. */
export function orphanedEphemeralDirs(stateDir: string, taskKnown: (uid: string) => boolean): string[] {
  const root = join(stateDir, 'volumes', 'ephemeral');
  if (!existsSync(root)) return [];
  return readdirSync(root, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && !taskKnown(entry.name))
    .map((entry) => join(root, entry.name));
}

/** What a directory holds, in MiB with two decimals: the sizes of its files, as `du --apparent-size`. */
export function usageMiB(dir: string): number {
  let bytes = 0;
  const pending = [dir];
  while (pending.length > 0) {
    const current = pending.pop()!;
    for (const entry of readdirSync(current, { withFileTypes: true })) {
      const path = join(current, entry.name);
      if (entry.isDirectory()) pending.push(path);
      else if (entry.isFile()) bytes += lstatSync(path).size;
    }
  }
  return Math.round((bytes / 2 ** 20) * 100) / 100;
}
