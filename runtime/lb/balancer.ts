// `capstan lb`: marathon-lb's role on Capstan's architecture. It watches Apps and Endpoints, keeps a
// real HAProxy (haproxy.ts, master-worker) routing to exactly the serving tasks, and tells the agents
// when a task it routed to has been drained, so they can stop it without losing a request.
//
// One sync at a time, re-run while changes keep coming (level-triggered: each sync reads the caches
// as they are now, never replays events):
//
// 1. What to route: for each Endpoints, the App's services (admission.ts: marathon-lb's rules, and
//    which Apps are left out) — or, once the App is deleted, the services it last had, kept until its
//    Endpoints go, so its last tasks are drained through the runtime API and not cut off by a reload —
//    with the serving addresses in slots (slots.ts; servers.ts says what slots mean to HAProxy).
// 2. How to apply it: render the configuration twice, with the servers as they are and with every
//    server blanked (the "shape"). The shape unchanged: only addresses and states moved, so the
//    runtime API applies them (no reload), and the file is rewritten so that a restarted HAProxy
//    starts from it. The shape changed: check (`haproxy -c`), leave out any App whose part fails
//    (an Event and condition LoadBalanced=False on it say why), install and reload hitlessly.
// 3. Drain (drains.ts): a server whose task left Endpoints is put in `drain` (no new connections) and watched
//    until its current connections reach zero — and, if HAProxy reloaded meanwhile, until the old
//    workers that may still hold its connections are gone — or the drain timeout; then `maint`, and
//    its slot is free.
// 4. Acknowledge: per App, the Endpoints revision this load balancer has converged to with nothing
//    left draining, written under its lease (api/keys.ts drainedKey) — what runtime/agent/drain.ts
//    waits for before SIGTERM.
import type { Logger } from 'pino';
import type { Subscription } from 'rxjs';
import { cappedBackoff } from '../../api/backoff.ts';
import { createEventRecorder } from '../../api/events.ts';
import { Informer } from '../../api/informer.ts';
import { drainedKey, loadBalancerLeaseKey } from '../../api/keys.ts';
import type { AppSpec } from '../../api/kinds/app.ts';
import type { EndpointsSpec } from '../../api/kinds/endpoints.ts';
import { parseRefKey, type CapstanObject, type DeepReadonly } from '../../api/object.ts';
import type { LbMetrics } from '../../api/metrics.ts';
import type { Store } from '../../api/store.ts';
import { NodeLease } from '../agent/lease.ts';
import type { LbRenderOptions, LbService } from './model.ts';
import { serviceKey } from './model.ts';
import { renderConfig } from './render.ts';
import { Admission } from './admission.ts';
import { Drains } from './drains.ts';
import type { LbServiceSpec } from './services.ts';
import { changeCommands, REFUSALS, shapeOf, slotCommands, withServers } from './servers.ts';
import { freeSlot, placeServers, type BackendSlots, type SlotChange } from './slots.ts';

/** `haproxy -c` on a text; errors carry the 1-based line haproxy blamed, when it named one. */
export type ConfigCheck = (text: string) => Promise<{ ok: true } | { ok: false; errors: { line?: number; message: string }[] }>;

/** What the balancer needs of a running HAProxy (haproxy.ts provides it). */
export interface HAProxyControl {  /** Writes the configuration atomically; with `reload`, saves the server state and reloads hitlessly. */
  install(text: string, options: { reload: boolean; checked?: boolean }): Promise<{ outcome: string; errors?: { line?: number; message: string }[] }>;
  /** Runtime API (admin socket) commands, in order, on one connection; their answers run together. */
  commands(commands: readonly string[]): Promise<string>;
  /** Current sessions per `backend/server`, from `show stat`. */
  sessions(): Promise<Map<string, number>>;
  /** Workers from before the last reload still running (they finish the connections they hold). */
  oldWorkers(): Promise<number>;
}

export interface BalancerOptions {
  store: Store;
  /** This load balancer's name: its lease and drain records. Unique per running `capstan lb`. */
  name: string;
  /** marathon-lb's --group: the groups served; '*' serves all. */
  groups: string[];
  render: LbRenderOptions;
  /** Checks a configuration; works before HAProxy runs (the first one is checked before it starts). */
  check: ConfigCheck;
  log: Logger;
  /** The longest a server is left draining; the App's own drainTimeoutSeconds usually ends it first (the agent stops the task). */
  drainTimeoutMs?: number;
  leaseTtlSeconds?: number;
  /** How often draining servers' connections are read. */
  drainPollMs?: number;
  /** Where reloads and runtime API updates are counted. */
  metrics?: LbMetrics;
}

/** What one sync did, for logs, `lb status` and the bench's reload count. */
export interface SyncReport {
  reloaded: boolean;
  runtimeCommands: number;
  draining: number;
  excluded: string[];
}

const DEFAULT_DRAIN_TIMEOUT_MS = 60_000;
const DEFAULT_DRAIN_POLL_MS = 25;
const RETRY_SYNC_MS = { firstMs: 100, maxMs: 5_000 };

export class Balancer {
  readonly apps: Informer;
  readonly endpoints: Informer;
  private readonly lease: NodeLease;
  private haproxy: HAProxyControl | undefined;
  private readonly subscriptions: Subscription[] = [];
  private slots = new Map<string, BackendSlots>();
  private readonly admission: Admission;
  private readonly drains = new Drains();
  /** Per App: the Endpoints revision last synced, and the one acknowledged under the lease. */
  private readonly synced = new Map<string, bigint>();
  private readonly acknowledged = new Map<string, bigint>();
  private shape: string | undefined;
  /** HAProxy restarted: its runtime state is the file's and a stale server-state file's until set again. */
  private resync = false;
  private installed: string | undefined;
  private dirty = false;
  private running: Promise<void> | undefined;
  private drainTimer: NodeJS.Timeout | undefined;
  private turn: Promise<void> = Promise.resolve();
  private retryTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private stopped = false;
  /** Counters since start. */
  readonly stats = { syncs: 0, reloads: 0, runtimeCommands: 0, drained: 0, drainTimeouts: 0 };
  /** Called after each sync (tests and the bench watch it). */
  onSync: ((report: SyncReport) => void) | undefined;

  constructor(private readonly options: BalancerOptions) {
    const { store } = options;
    this.apps = new Informer(store.client, store.kind('App'));
    this.endpoints = new Informer(store.client, store.kind('Endpoints'));
    this.lease = new NodeLease({
      client: store.client,
      key: loadBalancerLeaseKey(options.name),
      ttlSeconds: options.leaseTtlSeconds ?? 5,
      value: JSON.stringify({ name: options.name, groups: options.groups, pid: process.pid }),
      logger: options.log,
      // Drain records went with the lost lease: write them again.
      onRenewed: () => {
        this.acknowledged.clear();
        this.request();
      },
    });
    const events = createEventRecorder({ client: store.client, registry: store.registry, component: `lb/${options.name}`, log: options.log, now: () => new Date() });
    this.admission = new Admission({ store, name: options.name, groups: options.groups, events, log: options.log, appOf: (key) => this.apps.get(key) });
  }

  /**
   * Lists Apps and Endpoints and makes the first configuration (checked; an App failing it left
   * out): what HAProxy starts with, so that a new HAProxy — or one taking over from a running one
   * after `capstan lb` restarted — serves every App from its first moment.
   */
  async prepare(): Promise<string> {
    await Promise.all([this.apps.start(), this.endpoints.start()]);
    const plan = this.plan();
    const valid = await this.validate(plan.services);
    this.slots = plan.next;
    this.installed = valid.text;
    this.shape = shapeOf(valid.services, this.options.render);
    this.forgetGone(plan.desired);
    return valid.text;
  }

  /** Drives `haproxy` (started with prepare()'s configuration), then registers, so agents wait for it only once it serves. */
  async start(haproxy: HAProxyControl): Promise<void> {
    this.haproxy = haproxy;
    await this.sync();
    await this.lease.start();
    this.subscriptions.push(this.apps.events$.subscribe(() => this.request()), this.endpoints.events$.subscribe(() => this.request()));
    // Acknowledgements were held until the lease existed.
    this.request();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const s of this.subscriptions) s.unsubscribe();
    clearTimeout(this.drainTimer);
    clearTimeout(this.retryTimer);
    await this.running?.catch(() => undefined);
    await this.lease.stop();
    await Promise.all([this.apps.stop(), this.endpoints.stop()]);
  }

  /** The HAProxy master died and was started again from the installed file: set every slot again. */
  restarted(): void {
    this.resync = true;
    this.request();
  }

  /** Something changed: sync, once the sync under way (if any) is done. */
  request(): void {
    if (this.stopped) return;
    this.dirty = true;
    if (this.running) return;
    this.running = this.loop().finally(() => (this.running = undefined));
  }

  /**
   * Syncs and drain checks run one at a time: both read and replace the slots, and a drain check
   * freeing a slot in the middle of a sync would be undone by the slots that sync computed.
   */
  private serially<T>(work: () => Promise<T>): Promise<T> {
    const next = this.turn.then(work);
    this.turn = next.then(
      () => undefined,
      () => undefined,
    );
    return next;
  }

  private async loop(): Promise<void> {
    while (this.dirty && !this.stopped) {
      this.dirty = false;
      try {
        await this.serially(() => this.sync());
        this.failures = 0;
      } catch (error) {
        // HAProxy or etcd refused something: the state is re-read and everything tried again.
        this.failures += 1;
        const ms = cappedBackoff({ ...RETRY_SYNC_MS, attempt: this.failures });
        this.options.log.warn({ err: error, retryInMs: ms }, 'load balancer sync failed; retrying');
        clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(() => this.request(), ms);
        return;
      }
    }
  }

  /** What to route now, in slots, and what moved in the slots HAProxy has. */
  private plan() {
    const desired = this.desired();
    const next = new Map<string, BackendSlots>();
    const changes: { service: LbServiceSpec; change: SlotChange }[] = [];
    let reshaped = [...this.slots.keys()].some((key) => !desired.has(key));
    for (const [key, { service, addresses }] of desired) {
      const placement = placeServers(this.slots.get(key), addresses);
      next.set(key, placement.next);
      reshaped ||= placement.reshaped;
      for (const change of placement.changes) changes.push({ service, change });
    }
    const services = [...desired.values()].map(({ service }) => withServers(service, next.get(serviceKey(service))!));
    return { desired, next, changes, reshaped, services };
  }

  private async sync(): Promise<SyncReport> {
    const haproxy = this.haproxy;
    if (!haproxy) throw new Error('the balancer syncs only once start() gave it an HAProxy');
    const { desired, next, changes, reshaped, services } = this.plan();
    const commands: string[] = [];
    if (this.resync) {
      // HAProxy was restarted from the file and the last saved server state: set every slot as it is.
      this.resync = false;
      for (const [key, { service }] of desired) if (this.slots.has(key)) commands.push(...slotCommands(service, next.get(key)!));
    } else {
      // What moved in the backends the running HAProxy has goes through its runtime API, also before a
      // reload: the server-state file saved for the new worker must already say it.
      for (const { service, change } of changes) if (this.slots.has(serviceKey(service))) commands.push(...changeCommands(service, change));
    }
    if (commands.length) await this.sendCounted(commands);
    const runtimeCommands = commands.length;
    let reloaded = false;
    let excluded: string[] = [];
    // Rendered once: compared here, and kept as the installed shape when the check left nothing out.
    const shape = shapeOf(services, this.options.render);
    if (reshaped || shape !== this.shape) {
      const valid = await this.validate(services);
      excluded = valid.excluded;
      installed(await this.reload(haproxy, valid.text));
      this.installed = valid.text;
      this.shape = valid.services === services ? shape : shapeOf(valid.services, this.options.render);
      reloaded = true;
      this.stats.reloads += 1;
    } else {
      const text = renderConfig(services, this.options.render).text;
      if (text !== this.installed) {
        installed(await haproxy.install(text, { reload: false }));
        this.installed = text;
      }
    }
    this.slots = next;
    for (const { service, change } of changes) {
      if (change.type === 'drain') this.drains.begin(service, change, { reloads: this.stats.reloads, now: Date.now() });
      else this.drains.cancel(service, change.slot);
    }
    this.scheduleDrainCheck();
    this.forgetGone(desired);
    await this.acknowledge();
    this.stats.syncs += 1;
    this.stats.runtimeCommands += runtimeCommands;
    const report = { reloaded, runtimeCommands, draining: this.drains.size, excluded };
    this.onSync?.(report);
    return report;
  }

  /** Every service to route, by service key, with its serving addresses; records each App's Endpoints revision. */
  private desired(): Map<string, { service: LbServiceSpec; addresses: { task: string; address: string; port: number }[] }> {
    const desired = new Map<string, { service: LbServiceSpec; addresses: { task: string; address: string; port: number }[] }>();
    for (const endpoints of this.endpoints.list()) {
      const appKey = `${endpoints.metadata.namespace}/${endpoints.metadata.name}`;
      const spec = endpoints.spec as DeepReadonly<EndpointsSpec>;
      this.synced.set(appKey, BigInt(endpoints.metadata.resourceVersion ?? '0'));
      const services = this.admission.services(appKey, this.apps.get(appKey) as DeepReadonly<CapstanObject<AppSpec>> | undefined, spec);
      for (const service of services) {
        const port = spec.ports.find((p) => p.index === service.portIndex);
        const addresses = (port?.addresses ?? []).map((a) => ({ task: a.task, address: a.address, port: a.hostPort }));
        desired.set(serviceKey(service), { service, addresses });
      }
    }
    return desired;
  }

  /**
   * `haproxy -c` on the whole configuration; an App whose lines an error names is left out and the
   * rest checked again, so one bad App never stops the others from being served.
   */
  private async validate(services: LbService[]): Promise<{ text: string; services: LbService[]; excluded: string[] }> {
    let kept = services;
    const excluded: string[] = [];
    for (;;) {
      const rendered = renderConfig(kept, this.options.render);
      const result = await this.options.check(rendered.text);
      if (result.ok) {
        await this.admission.accepted(kept);
        return { text: rendered.text, services: kept, excluded };
      }
      const blamed = new Map<string, string>();
      for (const error of result.errors) {
        const section = error.line === undefined ? undefined : rendered.sections.find((s) => s.lines.some(([from, to]) => error.line! >= from && error.line! <= to));
        if (!section) continue;
        const appKey = section.key.slice(0, section.key.lastIndexOf(':'));
        if (!blamed.has(appKey)) blamed.set(appKey, error.message);
      }
      if (blamed.size === 0) throw new Error(`haproxy refused the configuration, and no App's part is to blame: ${result.errors.map((e) => e.message).join('; ')}`);
      for (const [appKey, message] of blamed) {
        await this.admission.exclude(appKey, this.apps.get(appKey), message);
        excluded.push(appKey);
      }
      kept = kept.filter((s) => !blamed.has(`${s.namespace}/${s.app}`));
    }
  }

  /** Sends runtime API commands in one round trip; an answer HAProxy gives only to a refusal is logged. */
  /** Installs `text` with a reload, counted by result: ok, invalid (HAProxy refused it), failed (threw). */
  private async reload(haproxy: HAProxyControl, text: string): ReturnType<HAProxyControl['install']> {
    const reloads = this.options.metrics?.reloads;
    try {
      const result = await haproxy.install(text, { reload: true, checked: true });
      reloads?.inc({ result: result.outcome === 'rejected' ? 'invalid' : 'ok' });
      return result;
    } catch (error) {
      reloads?.inc({ result: 'failed' });
      throw error;
    }
  }

  /** send, with the commands counted by result. */
  private async sendCounted(commands: readonly string[]): Promise<void> {
    const updates = this.options.metrics?.runtimeUpdates;
    try {
      await this.send(commands);
      updates?.inc({ result: 'ok' }, commands.length);
    } catch (error) {
      updates?.inc({ result: 'failed' }, commands.length);
      throw error;
    }
  }

  private async send(commands: readonly string[]): Promise<void> {
    const answer = await this.haproxy!.commands(commands);
    for (const line of answer.split('\n')) {
      if (REFUSALS.test(line)) this.options.log.warn({ answer: line.trim() }, 'HAProxy refused a runtime API command');
    }
  }

  private scheduleDrainCheck(): void {
    if (this.drainTimer || this.drains.size === 0 || this.stopped) return;
    this.drainTimer = setTimeout(() => {
      this.drainTimer = undefined;
      this.serially(() => this.checkDrains()).then(
        () => this.scheduleDrainCheck(),
        (error: unknown) => {
          this.options.log.warn({ err: error }, 'reading connection counts failed; trying again');
          this.scheduleDrainCheck();
        },
      );
    }, this.options.drainPollMs ?? DEFAULT_DRAIN_POLL_MS);
  }

  /** Ends the drains whose connections are gone (or that ran out of time); frees their slots. */
  private async checkDrains(): Promise<void> {
    const haproxy = this.haproxy!;
    if (this.drains.size === 0) return;
    const reloads = this.stats.reloads;
    const [sessions, oldWorkers] = await Promise.all([haproxy.sessions(), this.drains.needsOldWorkers(reloads) ? haproxy.oldWorkers() : 0]);
    const ended = this.drains.settle({ sessions, oldWorkers, reloads, timeoutMs: this.options.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS, now: Date.now() });
    for (const { drain, late } of ended) {
      if (late) this.stats.drainTimeouts += 1;
      else this.stats.drained += 1;
      const slots = this.slots.get(drain.service);
      if (slots?.entries[drain.slot]?.task !== drain.task) continue;
      await this.send([`set server ${drain.backend}/${drain.server} state maint`]);
      this.slots.set(drain.service, freeSlot(slots, drain.slot, drain.task));
    }
    if (ended.length) await this.acknowledge();
  }

  /** Writes, per App with nothing left draining, the Endpoints revision this load balancer has converged to. */
  private async acknowledge(): Promise<void> {
    if (this.stopped) return;
    const pending = this.drains.pendingApps();
    for (const [appKey, revision] of this.synced) {
      if (pending.has(appKey) || (this.acknowledged.get(appKey) ?? -1n) >= revision) continue;
      const { namespace, name } = parseRefKey(appKey) as { namespace: string; name: string };
      try {
        await this.lease.putOnLease(drainedKey(this.options.name, namespace, name), String(revision));
      } catch {
        // Not registered yet (start) or the lease is being granted again: onRenewed writes them all.
        return;
      }
      this.acknowledged.set(appKey, revision);
    }
  }

  /** Apps whose Endpoints are gone: forget what was kept for them. */
  private forgetGone(desired: Map<string, unknown>): void {
    const present = new Set(this.endpoints.keys());
    for (const key of [...this.synced.keys()]) {
      if (present.has(key)) continue;
      this.synced.delete(key);
      this.acknowledged.delete(key);
      this.admission.forget(key);
      const { namespace, name } = parseRefKey(key) as { namespace: string; name: string };
      void this.options.store.client.delete().key(drainedKey(this.options.name, namespace, name)).catch(() => undefined);
    }
    this.drains.keepOnly(desired);
  }

  /** What `capstan lb status` and tests read: the slots as this process holds them. */
  slotsOf(key: string): BackendSlots | undefined {
    return this.slots.get(key);
  }
}

/** A configuration that passed the check a moment ago and is refused now: throw, and the sync is retried. */
function installed(result: { outcome: string; errors?: { line?: number; message: string }[] }): void {
  if (result.outcome === 'rejected') throw new Error(`haproxy refused the configuration: ${(result.errors ?? []).map((e) => e.message).join('; ')}`);
}

