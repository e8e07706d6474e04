// Leader election for one controller on /capstan/leaders/<name> (DESIGN.md "Leadership"), after
// etcd's concurrency/election.go:
//   campaign  = one transaction: if the key's create_revision is 0, put it bound to my lease;
//   the term  = that create revision: every write of the leader compares on it (Store.withFence),
//               so a deposed leader's late write fails with Fenced instead of landing;
//   followers = watch the key and campaign again the moment it is deleted (resign or lease expiry);
//   loss      = the lease may have expired: declared at once, before the server's TTL runs out.
//
// etcd3's Lease emits 'lost' only after 2 × TTL without a keepalive answer, too late: by then a new
// leader has worked for a whole TTL. So we keep our own deadline. The server extends a lease by TTL
// from when it receives a keepalive, which is after we sent it; so `send time + TTL` is a time
// before which the lease surely still holds. We stop leading a margin before that.
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Etcd3, Lease, Watcher } from 'etcd3';
import { BehaviorSubject, type Observable } from 'rxjs';
import type { Logger } from 'pino';
import { cappedBackoff } from '../api/backoff.ts';
import { leaderKey } from '../api/keys.ts';
import type { Fence } from '../api/store.ts';
import { openWatch } from '../api/watch.ts';

export interface Term {
  fence: Fence;
  identity: string;
  /** Aborted the moment this term ends (lost or resigned). */
  signal: AbortSignal;
}

/**
 * Following (the leader's identity when known), leading in a term, or stopped. An election always
 * leads with a term; a Manager run without election leads with none (`Leadership<Term | undefined>`).
 */
export type Leadership<T extends Term | undefined = Term> =
  | { state: 'following'; leader?: string }
  | { state: 'leading'; term: T }
  | { state: 'stopped' };

export interface LeaderElectionOptions {
  client: Etcd3;
  /** The controller's name: the key is leaderKey(name). */
  name: string;
  ttlSeconds: number;
  identity?: string;
  log?: Logger;
}

export const defaultIdentity = () => `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;

export class LeaderElection {
  readonly key: string;
  readonly identity: string;
  private readonly state = new BehaviorSubject<Leadership>({ state: 'following' });
  private stopped = false;
  private loop: Promise<void> | undefined;
  private current: { abort: AbortController; ended: Promise<void>; end(reason: string): void } | undefined;
  private wake: (() => void) | undefined;

  constructor(private readonly options: LeaderElectionOptions) {
    this.key = leaderKey(options.name);
    this.identity = options.identity ?? defaultIdentity();
  }

  /** Following, leading (with the term), or stopped; replays the current state to a new subscriber. */
  get leadership$(): Observable<Leadership> {
    return this.state.asObservable();
  }

  get leading(): boolean {
    return this.state.value.state === 'leading';
  }

  start(): void {
    this.loop ??= this.campaignLoop();
  }

  /** Resigns (revokes the lease, so a follower takes over at once) and stops campaigning. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    this.current?.end('resigned');
    await this.loop;
    this.state.next({ state: 'stopped' });
    this.state.complete();
  }

  private async campaignLoop(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      try {
        const won = await this.campaign();
        failures = 0;
        if (!won) await this.waitForVacancy();
      } catch (error) {
        // etcd unreachable: keep following and try again after 200 ms, 400 ms, … up to one TTL.
        failures += 1;
        this.options.log?.warn({ err: error, key: this.key }, 'leader election: campaign failed, retrying');
        await this.pause(cappedBackoff({ firstMs: 200, maxMs: this.options.ttlSeconds * 1000, attempt: failures }));
      }
    }
  }

  /** One attempt. Resolves true after a whole term (won, then lost or resigned), false if someone else leads. */
  private async campaign(): Promise<boolean> {
    const { client, ttlSeconds } = this.options;
    const lease = client.lease(ttlSeconds);
    lease.on('lost', () => undefined); // handled in lead(); a listener keeps it from being an unhandled 'error'
    const validUntil = trackValidity(lease, ttlSeconds * 1000);
    let leaseId: string;
    try {
      leaseId = await lease.grant();
    } catch (error) {
      lease.release();
      throw error;
    }
    let result;
    try {
      result = await client
        .if(this.key, 'Create', '==', 0)
        .then(client.put(this.key).value(this.identity).lease(leaseId))
        .else(client.get(this.key))
        .commit();
    } catch (error) {
      lease.release(); // it expires on its own; etcd is not answering anyway
      throw error;
    }
    if (!result.succeeded || this.stopped) {
      await lease.revoke().catch(() => undefined);
      if (!result.succeeded) {
        const holder = result.responses[0]?.response_range?.kvs[0]?.value?.toString();
        this.state.next(holder ? { state: 'following', leader: holder } : { state: 'following' });
      }
      return false;
    }
    await this.lead(lease, { key: this.key, createRevision: String(result.header.revision) }, validUntil);
    return true;
  }

  private async lead(lease: Lease, fence: Fence, validUntil: () => number): Promise<void> {
    const ttlMs = this.options.ttlSeconds * 1000;
    // Stop leading this long before the lease could expire: covers timer granularity and a pause
    // between our check and a write (the fence covers the rest).
    const marginMs = Math.max(100, ttlMs / 10);

    const abort = new AbortController();
    let end!: (reason: string) => void;
    const ended = new Promise<void>((resolve) => {
      end = (reason) => {
        if (abort.signal.aborted) return;
        abort.abort(new Error(`leadership of ${this.key} ended: ${reason}`));
        resolve();
      };
    });
    this.current = { abort, ended, end };
    lease.on('lost', (error: Error) => end(`lease lost: ${error.message}`));
    const check = setInterval(() => {
      if (Date.now() >= validUntil() - marginMs) end('keepalive deadline passed; the lease may have expired');
    }, Math.max(20, Math.min(250, ttlMs / 20)));

    this.options.log?.info({ key: this.key, identity: this.identity, createRevision: fence.createRevision }, 'leader election: leading');
    this.state.next({ state: 'leading', term: { fence, identity: this.identity, signal: abort.signal } });
    await ended;
    clearInterval(check);
    this.current = undefined;
    const reason = String((abort.signal.reason as Error | undefined)?.message ?? 'ended');
    this.options.log?.warn({ key: this.key, identity: this.identity, reason }, 'leader election: no longer leading');
    if (!this.stopped) this.state.next({ state: 'following' });
    // Revoking deletes our key at once, so a follower need not wait for the TTL. If the lease is
    // already gone this fails harmlessly.
    await lease.revoke().catch(() => lease.release());
  }

  /** Waits until the leader key is deleted, or a TTL has passed (a cheap re-check if a watch broke). */
  private async waitForVacancy(): Promise<void> {
    const { client, ttlSeconds } = this.options;
    let watcher: Watcher | undefined;
    try {
      const current = await client.get(this.key).exec();
      const kv = current.kvs[0];
      if (!kv) return;
      let vacated!: () => void;
      const vacancy = new Promise<void>((resolve) => (vacated = resolve));
      this.wake = vacated;
      watcher = await openWatch(client.watch().key(this.key).startRevision(String(BigInt(current.header.revision) + 1n)), {
        delete: () => vacated(),
        error: () => vacated(),
      });
      setTimeout(vacated, ttlSeconds * 1000).unref();
      await vacancy;
    } finally {
      this.wake = undefined;
      await watcher?.cancel().catch(() => undefined);
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      setTimeout(resolve, ms).unref();
    });
  }
}

/**
 * A time before which the lease surely holds: the send time of the last answered keepalive (or of
 * the grant) plus the TTL. Keepalive answers on one stream come in the order they were sent.
 */
function trackValidity(lease: Lease, ttlMs: number): () => number {
  let validUntil = Date.now() + ttlMs;
  const sent: number[] = [];
  lease.on('keepaliveEstablished', () => sent.splice(0));
  lease.on('keepaliveFired', () => sent.push(Date.now()));
  lease.on('keepaliveSucceeded', () => {
    const at = sent.shift();
    if (at !== undefined) validUntil = Math.max(validUntil, at + ttlMs);
  });
  return () => validUntil;
}
