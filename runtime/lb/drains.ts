// The servers a load balancer is draining: each one put in HAProxy's `drain` state when its task
// left Endpoints, and done when its connections are gone — and, if HAProxy reloaded since the drain
// began, when the old workers that may still hold its connections are gone too — or when the drain
// timeout passes. The balancer then puts the server in `maint`, frees its slot, and acknowledges
// the App's Endpoints revision (api/keys.ts drainedKey) once none of its servers is draining.
import type { LbServiceSpec } from './services.ts';
import { serviceKey } from './model.ts';
import { backendName } from './render.ts';
import { drainKey } from './servers.ts';
import { slotName, type SlotChange } from './slots.ts';

export interface Drain {
  key: string;
  /** The service key (`ns/app:port`) whose slots hold it. */
  service: string;
  backend: string;
  server: string;
  slot: number;
  task: string;
  app: string;
  since: number;
  /** Reloads count when the drain began: a reload since means old workers may hold its connections. */
  reloadsAtStart: number;
}

export interface DrainCheck {
  /** Current sessions per `backend/server`, from the current worker. */
  sessions: ReadonlyMap<string, number>;
  /** Workers from before the last reload still running (asked only when needsOldWorkers()). */
  oldWorkers: number;
  reloads: number;
  timeoutMs: number;
  now: number;
}

export class Drains {
  private readonly byKey = new Map<string, Drain>();

  get size(): number {
    return this.byKey.size;
  }

  begin(service: LbServiceSpec, change: SlotChange, options: { reloads: number; now: number }): void {
    const key = drainKey(service, change.slot);
    this.byKey.set(key, {
      key,
      service: serviceKey(service),
      backend: backendName(service),
      server: slotName(change.slot),
      slot: change.slot,
      task: change.entry.task,
      app: `${service.namespace}/${service.app}`,
      since: options.now,
      reloadsAtStart: options.reloads,
    });
  }

  /** A task that serves again was taken back out of its drain. */
  cancel(service: LbServiceSpec, slot: number): void {
    this.byKey.delete(drainKey(service, slot));
  }

  /** Drains of services no longer routed: their backend is gone from the configuration. */
  keepOnly(services: ReadonlySet<string> | ReadonlyMap<string, unknown>): void {
    for (const drain of [...this.byKey.values()]) if (!services.has(drain.service)) this.byKey.delete(drain.key);
  }

  /** Apps with a server still draining: their drain is not acknowledged yet. */
  pendingApps(): Set<string> {
    return new Set([...this.byKey.values()].map((d) => d.app));
  }

  /** Whether ending a drain depends on the old workers: HAProxy reloaded since one began. */
  needsOldWorkers(reloads: number): boolean {
    return [...this.byKey.values()].some((d) => d.reloadsAtStart !== reloads);
  }

  /** The drains that are over, removed from those tracked: idle (no connection left anywhere) or late. */
  settle(check: DrainCheck): { drain: Drain; late: boolean }[] {
    const ended: { drain: Drain; late: boolean }[] = [];
    for (const drain of [...this.byKey.values()]) {
      const idle = (check.sessions.get(`${drain.backend}/${drain.server}`) ?? 0) === 0 && (drain.reloadsAtStart === check.reloads || check.oldWorkers === 0);
      const late = check.now - drain.since > check.timeoutMs;
      if (!idle && !late) continue;
      this.byKey.delete(drain.key);
      ended.push({ drain, late: !idle });
    }
    return ended;
  }
}
