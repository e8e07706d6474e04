// The probe loops of many tasks in one process, keyed by task uid: the health controller runs one for
// the HTTP, HTTPS and TCP checks of every Running task, each node agent one for the COMMAND checks of
// its own tasks.
//
// - Each check runs on its own fixed cadence (schedule.ts): slot k is origin + k × interval, where
//   the origin is when the task started plus the check's delaySeconds. A late probe does not delay the next.
// - Probes in flight are bounded (a process never opens more than `concurrency` connections at once);
//   a probe waiting for a free slot starts late, and how late is reported to `observe`.
// - A check whose previous probe is still running skips its slot rather than piling up.
// - Results are folded in memory (fold.ts). Only a transition marks the task for a write, and the
//   writer writes each marked task once with its latest state, a few tasks at a time: a task whose
//   state changes again while being written is written once more afterwards, never concurrently.
import type { Logger } from 'pino';
import { asyncScheduler, merge, map, type SchedulerLike, type Subscription } from 'rxjs';
import type { HealthCheck, ReadinessCheck } from '../../api/kinds/app.ts';
import type { HealthResult } from '../../api/kinds/task.ts';
import type { DeepReadonly } from '../../api/object.ts';
import { foldHealth, foldReadiness, type HealthUpdate, type ReadinessState } from './fold.ts';
import { cadence } from './schedule.ts';

/** What one probe concluded; undefined when it was stopped before concluding (no result). */
export type Verdict = { ok: boolean; text: string } | undefined;

export interface PlannedProbe {
  kind: 'health' | 'readiness';
  /** Index in template.healthChecks or template.readinessChecks. */
  index: number;
  /** Slot 0 (ms since the epoch): when the task started plus the check's delaySeconds. */
  originMs: number;
  intervalMs: number;
  run(signal: AbortSignal): Promise<Verdict>;
}

/** Everything the loops need to probe one task. */
export interface TaskProbes {
  uid: string;
  /** Equal fingerprints mean the same probes: a sync with an unchanged one keeps the running loops. */
  fingerprint: string;
  startedAt?: string;
  healthChecks: DeepReadonly<HealthCheck[]>;
  readinessChecks: DeepReadonly<ReadinessCheck[]>;
  probes: PlannedProbe[];
  /** The states to resume from (what the store holds), by health check index. */
  initial: ReadonlyMap<number, HealthResult>;
}

export interface ProbeSample {
  uid: string;
  scheduledAt: number;
  startedAt: number;
  durationMs: number;
  ok: boolean | undefined;
}

export interface ProbeLoopsOptions {
  /** Writes a task's health after a transition; at most one call per uid at a time. */
  write(uid: string, update: HealthUpdate): Promise<void>;
  /** Probes in flight at once. Default 256. */
  concurrency?: number;
  /** Status writes in flight at once. Default 8. */
  writeConcurrency?: number;
  /** Every probe's timing, for metrics and the bench. */
  observe?: (sample: ProbeSample) => void;
  /** Skipped slots (the check's previous probe still running). */
  onSkip?: (uid: string) => void;
  scheduler?: SchedulerLike;
  log?: Logger;
}

interface Loop {
  plan: TaskProbes;
  subscription: Subscription;
  stop: AbortController;
  health: Map<number, HealthResult>;
  readiness: Map<number, ReadinessState>;
  inFlight: Set<string>;
  kill?: { index: number };
  last?: { index: number; detail: string };
}

const RETRY_WRITE_MS = 500;

export class ProbeLoops {
  private readonly loops = new Map<string, Loop>();
  private readonly slots: (() => void)[] = [];
  private running = 0;
  private readonly dirty = new Set<string>();
  private readonly writing = new Set<string>();
  private writes = 0;
  private readonly scheduler: SchedulerLike;

  constructor(private readonly options: ProbeLoopsOptions) {
    this.scheduler = options.scheduler ?? asyncScheduler;
  }

  get size(): number {
    return this.loops.size;
  }

  uids(): string[] {
    return [...this.loops.keys()];
  }

  /** Starts, keeps, restarts (changed probes) or stops (undefined) the loops of one task. */
  sync(uid: string, plan: TaskProbes | undefined): void {
    const loop = this.loops.get(uid);
    if (loop && plan && loop.plan.fingerprint === plan.fingerprint) return;
    if (loop) this.stopLoop(uid, loop);
    if (plan && plan.probes.length > 0) this.startLoop(plan);
  }

  stopAll(): void {
    for (const [uid, loop] of this.loops) this.stopLoop(uid, loop);
  }

  private startLoop(plan: TaskProbes): void {
    const loop: Loop = {
      plan,
      stop: new AbortController(),
      health: new Map(plan.initial),
      readiness: new Map(),
      inFlight: new Set(),
      subscription: undefined as unknown as Subscription,
    };
    const slots = plan.probes.map((probe) =>
      cadence({ originMs: probe.originMs, intervalMs: probe.intervalMs, scheduler: this.scheduler }).pipe(map((slot) => ({ probe, slot }))),
    );
    this.loops.set(plan.uid, loop);
    loop.subscription = merge(...slots).subscribe(({ probe, slot }) => this.fire(loop, probe, slot));
  }

  private stopLoop(uid: string, loop: Loop): void {
    loop.subscription.unsubscribe();
    loop.stop.abort();
    this.loops.delete(uid);
    this.dirty.delete(uid);
  }

  private fire(loop: Loop, probe: PlannedProbe, slot: number): void {
    const key = `${probe.kind}/${probe.index}`;
    if (loop.inFlight.has(key)) return void this.options.onSkip?.(loop.plan.uid);
    loop.inFlight.add(key);
    void this.acquire()
      .then(async () => {
        const startedAt = this.scheduler.now();
        let verdict: Verdict;
        try {
          verdict = loop.stop.signal.aborted ? undefined : await probe.run(loop.stop.signal);
        } finally {
          this.release();
        }
        this.options.observe?.({ uid: loop.plan.uid, scheduledAt: slot, startedAt, durationMs: this.scheduler.now() - startedAt, ok: verdict?.ok });
        if (verdict && !loop.stop.signal.aborted) this.record(loop, probe, verdict);
      })
      .catch((error: unknown) => this.options.log?.warn({ task: loop.plan.uid, error: (error as Error).message }, 'probe failed to run'))
      .finally(() => loop.inFlight.delete(key));
  }

  private record(loop: Loop, probe: PlannedProbe, verdict: NonNullable<Verdict>): void {
    if (probe.kind === 'readiness') {
      const { state, changed } = foldReadiness(loop.readiness.get(probe.index), verdict.ok, verdict.text);
      loop.readiness.set(probe.index, state);
      if (changed) this.markDirty(loop.plan.uid);
      return;
    }
    const check = loop.plan.healthChecks[probe.index]!;
    const before = loop.health.get(probe.index) ?? { index: probe.index, alive: false, consecutiveFailures: 0 };
    const outcome = verdict.ok ? { ok: true as const, detail: verdict.text } : { ok: false as const, cause: verdict.text };
    const options = { at: new Date(this.scheduler.now()), check, ...(loop.plan.startedAt ? { startedAt: loop.plan.startedAt } : {}) };
    const { state, change } = foldHealth(before, outcome, options);
    loop.health.set(probe.index, state);
    if (change === 'none') return;
    loop.last = { index: probe.index, detail: verdict.text };
    if (change === 'kill') {
      // Killed: no more probes of this task; the write fails it and the agent stops it.
      loop.kill = { index: probe.index };
      loop.subscription.unsubscribe();
    }
    this.markDirty(loop.plan.uid);
  }

  private markDirty(uid: string): void {
    this.dirty.add(uid);
    this.drainWrites();
  }

  private drainWrites(): void {
    const limit = this.options.writeConcurrency ?? 8;
    for (const uid of this.dirty) {
      if (this.writes >= limit) return;
      if (this.writing.has(uid)) continue;
      this.dirty.delete(uid);
      const loop = this.loops.get(uid);
      if (!loop) continue;
      this.writing.add(uid);
      this.writes += 1;
      const update: HealthUpdate = { health: new Map(loop.health) };
      if (loop.plan.readinessChecks.length > 0 && loop.readiness.size > 0) update.readiness = new Map(loop.readiness);
      if (loop.kill) update.kill = loop.kill;
      if (loop.last) update.last = loop.last;
      void this.options
        .write(uid, update)
        .catch((error: unknown) => {
          this.options.log?.warn({ task: uid, error: (error as Error).message }, 'health status write failed; retrying');
          const retry = setTimeout(() => this.loops.get(uid) === loop && this.markDirty(uid), RETRY_WRITE_MS);
          retry.unref();
        })
        .finally(() => {
          this.writing.delete(uid);
          this.writes -= 1;
          this.drainWrites();
        });
    }
  }

  private acquire(): Promise<void> {
    if (this.running < (this.options.concurrency ?? 256)) {
      this.running += 1;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.slots.push(resolve));
  }

  /** Hands the slot straight to the next waiting probe, if any. */
  private release(): void {
    const next = this.slots.shift();
    if (next) next();
    else this.running -= 1;
  }
}
