// What the scheduler knows between rounds: one Snapshot of the cluster kept up to date from the
// informer caches, the tasks waiting for a node, and the bindings and Volumes it wrote that the
// cache does not show yet.
//
// The snapshot is updated, not rebuilt: rebuilding it from every cached task costs O(all tasks) per
// round, and with 10,000 tasks bound and new ones arriving a few at a time that would be most of the
// scheduler's work. The caches replace an object whenever it changes, so comparing references finds
// what changed; only those tasks and nodes are looked at again.
import type { AnyObject, DeepReadonly } from '../../api/object.ts';
import type { Cache } from '../contract.ts';
import { boundTask, isBound, isPending, nodeView, volumeView } from './demand.ts';
import { Snapshot, type BoundTask, type VolumeView } from './snapshot.ts';

type Task = DeepReadonly<AnyObject>;

export class SchedulerState {
  readonly snapshot = new Snapshot([], []);
  /** Tasks waiting for a node, by `namespace/name`. */
  readonly pending = new Map<string, Task>();
  private readonly taskRefs = new Map<string, { object: Task; round: number }>();
  private readonly nodeRefs = new Map<string, DeepReadonly<AnyObject>>();
  /** What the snapshot counts for each task: its binding, cached or assumed. */
  private readonly accounted = new Map<string, BoundTask>();
  /**
   * Bindings decided or written that the cache may not show yet ("assumed", as kube-scheduler calls
   * them). Without them the next round, working from a cache a few milliseconds behind, would hand
   * out the same host ports and constraint slots again: each binding write is conditioned on its
   * own task only, so nothing else would catch the double booking.
   */
  private readonly assumed = new Map<string, BoundTask>();
  private round = 0;
  private readonly volumeRefs = new Map<string, DeepReadonly<AnyObject>>();
  /** What the snapshot counts for each Volume, cached or created. */
  private readonly accountedVolumes = new Map<string, VolumeView>();
  /**
   * Volumes this scheduler created that the cache does not show yet: without them the next round
   * would see the slot missing and create it again, or count the node's disk as still free.
   */
  private readonly createdVolumes = new Map<string, VolumeView>();

  /** Brings the snapshot and the pending tasks up to date with the caches. */
  sync(tasks: Cache, nodes: Cache, volumes: Cache): void {
    this.round += 1;
    this.syncNodes(nodes);
    this.syncVolumes(volumes);
    const keys = tasks.keys();
    for (const key of keys) {
      const object = tasks.get(key);
      if (!object) continue;
      const seen = this.taskRefs.get(key);
      if (seen?.object === object) {
        seen.round = this.round;
        continue;
      }
      this.taskRefs.set(key, { object, round: this.round });
      this.observe(key, object);
    }
    // Every cached key is in taskRefs now; any more entries are tasks that are gone.
    if (this.taskRefs.size > keys.length) {
      for (const [key, seen] of this.taskRefs) {
        if (seen.round === this.round) continue;
        this.taskRefs.delete(key);
        this.forget(key);
      }
    }
  }

  /** A placement decided this round: counted at once, so the rest of the round sees it. */
  assume(key: string, binding: BoundTask): void {
    this.pending.delete(key);
    this.assumed.set(key, binding);
    this.account(key, binding);
  }

  /**
   * A binding that was not written (stale task, etcd down, term lost): the task holds nothing, and
   * the next sync looks at it afresh, whether or not its cached object changed meanwhile.
   */
  unassume(key: string): void {
    this.assumed.delete(key);
    this.account(key, undefined);
    this.taskRefs.delete(key);
  }

  /** A Volume created this round: counted at once, and kept until the cache shows it. */
  created(volume: VolumeView): void {
    this.createdVolumes.set(volume.key, volume);
    this.accountVolume(volume.key, volume);
  }

  /** Volumes are few (one per slot and persistent volume): compared in full each round. */
  private syncVolumes(volumes: Cache): void {
    const keys = volumes.keys();
    for (const key of keys) {
      const object = volumes.get(key);
      if (!object || this.volumeRefs.get(key) === object) continue;
      this.volumeRefs.set(key, object);
      // The cache speaks for it from now on, including its deletion.
      this.createdVolumes.delete(key);
      this.accountVolume(key, volumeView(object));
    }
    if (this.volumeRefs.size === keys.length) return;
    const present = new Set(keys);
    for (const key of this.volumeRefs.keys()) {
      if (present.has(key)) continue;
      this.volumeRefs.delete(key);
      this.accountVolume(key, undefined);
    }
  }

  private accountVolume(key: string, next: VolumeView | undefined): void {
    const previous = this.accountedVolumes.get(key);
    if (previous) this.snapshot.releaseVolume(previous);
    if (next) {
      this.snapshot.assumeVolume(next);
      this.accountedVolumes.set(key, next);
    } else {
      this.accountedVolumes.delete(key);
    }
  }

  private syncNodes(nodes: Cache): void {
    const keys = nodes.keys();
    let changed = keys.length !== this.nodeRefs.size;
    for (const key of keys) {
      const object = nodes.get(key);
      if (object && this.nodeRefs.get(key) !== object) {
        this.nodeRefs.set(key, object);
        changed = true;
      }
    }
    if (!changed) return;
    const present = new Set(keys);
    for (const key of this.nodeRefs.keys()) if (!present.has(key)) this.nodeRefs.delete(key);
    this.snapshot.setNodes([...this.nodeRefs.values()].map(nodeView));
  }

  private observe(key: string, task: Task): void {
    if (isPending(task) && !this.assumed.has(key)) this.pending.set(key, task);
    else this.pending.delete(key);
    // The cache shows the task bound, finished or being deleted: an assumption about it is over.
    if (!isPending(task)) this.assumed.delete(key);
    this.account(key, isBound(task) ? boundTask(task) : this.assumed.get(key));
  }

  private forget(key: string): void {
    this.pending.delete(key);
    this.assumed.delete(key);
    this.account(key, undefined);
  }

  private account(key: string, next: BoundTask | undefined): void {
    const previous = this.accounted.get(key);
    if (previous && next && sameBinding(previous, next)) return;
    if (previous) this.snapshot.release(previous);
    if (next) {
      this.snapshot.assume(next);
      this.accounted.set(key, next);
    } else {
      this.accounted.delete(key);
    }
  }
}

function sameBinding(a: BoundTask, b: BoundTask): boolean {
  return (
    a.node === b.node &&
    a.app === b.app &&
    a.revision === b.revision &&
    a.slot === b.slot &&
    a.hostPorts.length === b.hostPorts.length &&
    a.hostPorts.every((port, i) => port === b.hostPorts[i]) &&
    a.resources.cpus === b.resources.cpus &&
    a.resources.mem === b.resources.mem &&
    a.resources.disk === b.resources.disk &&
    a.resources.gpus === b.resources.gpus
  );
}
