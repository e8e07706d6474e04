// bench:traffic's eyes on one App's traffic path: when its Endpoints list and drop each task (a
// watch in this process), and when the balancer's sync gives a task a serving slot or drains it.
import { Informer } from '../api/informer.ts';
import type { EndpointsSpec } from '../api/kinds/endpoints.ts';
import type { DeepReadonly } from '../api/object.ts';
import type { RunningLoadBalancer } from '../cli/lb.ts';
import { NAMESPACE, type BenchCluster } from './cluster.ts';

export const addressesOf = (spec: DeepReadonly<EndpointsSpec>) => (spec.ports[0]?.addresses ?? []).map((a) => a.task);

/** What this process sees of one App's traffic path: its Endpoints, by watch, and the balancer's slots after each sync. */
export class Watchers {
  /** Per task: when the Endpoints first listed it, and when they first no longer did. */
  readonly listed = new Map<string, number>();
  readonly unlisted = new Map<string, number>();
  /** Per task: the end of the balancer sync that gave it a serving slot, and of the one that drained it. */
  readonly routed = new Map<string, number>();
  readonly drained = new Map<string, number>();
  /** Tasks whose serving slot came with a reload (the backend's slots grew), not through the runtime API. */
  readonly routedByReload = new Set<string>();
  private readonly endpoints: Informer;
  private current = new Set<string>();

  constructor(
    cluster: BenchCluster,
    private readonly lb: RunningLoadBalancer,
  ) {
    this.endpoints = new Informer(cluster.store.client, cluster.store.kind('Endpoints'));
  }

  async start(): Promise<void> {
    this.endpoints.events$.subscribe((event) => {
      const seenAt = Date.now();
      const tasks = new Set(event.type === 'deleted' ? [] : addressesOf(event.object.spec as DeepReadonly<EndpointsSpec>));
      const app = event.key;
      for (const task of tasks) if (!this.listed.has(task)) this.listed.set(task, seenAt);
      for (const key of this.current) {
        const [keyApp, task] = key.split('|') as [string, string];
        if (keyApp === app && !tasks.has(task) && !this.unlisted.has(task)) this.unlisted.set(task, seenAt);
      }
      this.current = new Set([...[...this.current].filter((key) => !key.startsWith(`${app}|`)), ...[...tasks].map((task) => `${app}|${task}`)]);
    });
    await this.endpoints.start();
  }

  /** Follows the slots of one service after every sync. */
  follow(app: string, servicePort: number): void {
    const key = `${NAMESPACE}/${app}:${servicePort}`;
    let serving = new Set<string>();
    this.lb.balancer.onSync = (report) => {
      const now = Date.now();
      const entries = this.lb.balancer.slotsOf(key)?.entries ?? [];
      const next = new Set(entries.flatMap((e) => (e && !e.draining ? [e.task] : [])));
      for (const task of next) {
        if (this.routed.has(task)) continue;
        this.routed.set(task, now);
        if (report.reloaded) this.routedByReload.add(task);
      }
      for (const task of serving) if (!next.has(task) && !this.drained.has(task)) this.drained.set(task, now);
      serving = next;
    };
  }

  endpointsOf(app: string): string[] {
    const object = this.endpoints.get(`${NAMESPACE}/${app}`);
    return object ? addressesOf(object.spec as DeepReadonly<EndpointsSpec>) : [];
  }

  /** Tasks in a serving slot, and how many slots are draining. */
  slotsOf(app: string, servicePort: number): { serving: number; draining: number } {
    const entries = this.lb.balancer.slotsOf(`${NAMESPACE}/${app}:${servicePort}`)?.entries ?? [];
    return { serving: entries.filter((e) => e && !e.draining).length, draining: entries.filter((e) => e?.draining).length };
  }

  async stop(): Promise<void> {
    this.lb.balancer.onSync = undefined;
    await this.endpoints.stop();
  }
}
