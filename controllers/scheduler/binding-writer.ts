// Writes a scheduling round's bindings while the round is still placing. Each group of bindings
// that fills one transaction goes out as soon as it is decided, with a few transactions in flight,
// so etcd commits the first bindings while the scheduler computes the rest: neither waits idle for
// the other. For a backlog of 10,000 tasks the first binding goes out within about 0.02 s of the
// caches syncing; writing only after the whole round was placed would hold it back about 0.47 s.
import type { AnyObject } from '../../api/object.ts';
import type { BindingRequest, Store } from '../../api/store.ts';

/** One task's binding: the task as read, `{ nodeName, hostPorts }`, and the node's index entry. */
export type Binding = BindingRequest;

export interface BindingWriterOptions {
  store: Store;
  /** Called with the tasks (as read) whose binding did not land: stale, or its transaction failed. */
  onUnwritten: (tasks: readonly AnyObject[]) => void;
  /** Transactions in flight at once. Default BINDING_TXNS_IN_FLIGHT. */
  concurrency?: number;
}

/**
 * Binding transactions in flight at once. A binding's round trip under a burst is 10-30 ms (etcd's
 * queue, and this process's event loop busy placing), so with 4 in flight the scheduler spends 60%
 * of a 10,000-task burst waiting for one to come back; with 16 it does not wait, and etcd still
 * answers every one of them well inside its request timeout.
 */
export const BINDING_TXNS_IN_FLIGHT = 16;

export class BindingWriter {
  private group: Binding[] = [];
  private readonly groupSize: number;
  private readonly concurrency: number;
  private readonly inFlight = new Set<Promise<void>>();
  private stale = 0;
  private failure: { error: unknown } | undefined;

  constructor(private readonly options: BindingWriterOptions) {
    this.groupSize = options.store.bindingsPerTransaction(1);
    this.concurrency = options.concurrency ?? BINDING_TXNS_IN_FLIGHT;
  }

  /** Queues a binding; true when a transaction's worth is waiting and the caller should `send()`. */
  add(binding: Binding): boolean {
    this.group.push(binding);
    return this.group.length >= this.groupSize;
  }

  /** Set once a transaction failed for a reason other than a stale task (etcd down, fence lost). */
  get failed(): boolean {
    return this.failure !== undefined;
  }

  /**
   * Sends the queued bindings as one transaction. Resolves when the caller may go on placing: at
   * once (after letting the request leave the process) while fewer than `concurrency` are in
   * flight, otherwise when one of them ends.
   */
  async send(): Promise<void> {
    if (this.group.length === 0) return;
    const group = this.group;
    this.group = [];
    const write = this.options.store.bindMany(group).then(
      ({ failed }) => {
        if (failed.length === 0) return;
        // A transaction is all or nothing, so one stale task fails the others of its group too.
        this.stale += failed.length;
        this.options.onUnwritten(failed.map((binding) => binding.object));
      },
      (error: unknown) => {
        this.failure ??= { error };
        this.options.onUnwritten(group.map((binding) => binding.object));
      },
    );
    this.inFlight.add(write);
    void write.finally(() => this.inFlight.delete(write));
    // Placing the next group is synchronous work; without a turn of the event loop first, the
    // request would sit in the process until that work is done.
    if (this.inFlight.size >= this.concurrency) await Promise.race(this.inFlight);
    else await new Promise((resolve) => setImmediate(resolve));
  }

  /**
   * Sends what is queued and waits for every transaction. Returns how many bindings were not written
   * because their transaction held a task that changed meanwhile; throws the first infrastructure
   * error. Either way `onUnwritten` has heard of every binding that did not land.
   */
  async flush(): Promise<number> {
    if (this.failure) this.options.onUnwritten(this.group.map((binding) => binding.object));
    else await this.send();
    this.group = [];
    await Promise.all(this.inFlight);
    if (this.failure) throw this.failure.error;
    return this.stale;
  }
}
