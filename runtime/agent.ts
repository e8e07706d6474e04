// The node agent (DESIGN.md "Runtime"): registers its Node, keeps the node's lease, watches the Tasks
// bound to it and drives them through the drivers, reports their status, serves their logs.
//
// Level-triggered like a controller: every change (a Task event, an exit, a finished action, a
// periodic tick) asks for one pass, and a pass plans every task from the cache and what the drivers
// hold (agent/plan.ts, pure) and hands each task uid's actions to one worker at a time. A uid with
// work in flight is skipped and planned again once its work is done, so a task is never started twice
// and a slow stop (grace period) never holds up the others.
//
// Which Tasks: only those the node's index names (/capstan/index/nodes/<node>/tasks/, written by the
// scheduler in each binding's transaction; api/node-index.ts), followed through a KeyedInformer, so
// the agent's cache and watch traffic grow with its own tasks, not the cluster's. Entries go stale
// when a task is deleted while no agent holds it, or by a crash between steps: each pass removes the
// entries whose task is gone, another incarnation, or bound elsewhere, conditioned on the uid.
//
// Pods: a task's containers each run under their own runtime (containerRuntime), so a pod mixing
// them is two driver launches under one uid, started together and removed together if either fails
// to start; the workloads it leaves are kept per uid and per driver (agent/workloads.ts). Volumes:
// the directories behind them are agent/volumes.ts's.
//
// Stopping (SIGTERM): workloads keep running, to be adopted by the next agent; the lease is revoked,
// so the node turns NotReady at once instead of a TTL later. Tasks are not affected until the nodes
// controller's unreachableStrategy.inactiveAfterSeconds passes, so a restart within it is seamless;
// a longer absence turns them Lost, and the returning agent then stops them.
import type { Logger } from 'pino';
import type { Subscription } from 'rxjs';
import { cappedBackoff } from '../api/backoff.ts';
import { KeyedInformer } from '../api/keyed-informer.ts';
import { nodeLeaseKey, nodeTasksIndexPrefix } from '../api/keys.ts';
import { containerRuntime } from '../api/kinds/app.ts';
import type { FaultDomain, NodeResources } from '../api/kinds/node.ts';
import { isTerminal, type TaskStatus } from '../api/kinds/task.ts';
import { AGENT_FINALIZER } from '../api/kinds/wellknown.ts';
import { removeNodeTaskIndexEntry } from '../api/node-index.ts';
import { readModifyWrite } from '../api/read-modify-write.ts';
import type { AgentMetrics, TaskFailureReason } from '../api/metrics.ts';
import type { Store } from '../api/store.ts';
import { taskOutcome, type Driver, type DriverName } from './driver.ts';
import { CommandChecks } from './agent/command-checks.ts';
import { NodeLease } from './agent/lease.ts';
import { LogsServer, type ExecTarget, type LogSource } from './agent/logs-server.ts';
import { registerNode, writePortsInUse } from './agent/node.ts';
import { firstPortInUse } from './agent/port-check.ts';
import { inRange, overlap, readEphemeralRange, readPortsInUse, type PortRange } from './agent/ports-in-use.ts';
import { drainTask } from './agent/drain.ts';
import {
  containersOf,
  containerStatuses,
  messages,
  partOf,
  planAgent,
  runningChange,
  runtimeOf,
  type AgentAction,
  type StatusChange,
  type TaskObject,
  type Workload,
  type WorkloadPart,
} from './agent/plan.ts';
import { withOutputTail } from './agent/output-tail.ts';
import { applyChange, launchFor, launchParts } from './agent/status.ts';
import { NodeVolumes, type VolumeObject } from './agent/volumes.ts';
import { Workloads } from './agent/workloads.ts';

export interface AgentOptions {
  store: Store;
  nodeName: string;
  /** Where this node's tasks are reached; also HOST in their environment and where logs are served. */
  address: string;
  /** Constraint attributes; `hostname` defaults to the node name. */
  attributes?: Record<string, string>;
  /** Read by constraints as `@region` and `@zone`; a node without one lacks both. */
  faultDomain?: FaultDomain;
  capacity: NodeResources;
  portRange?: { from: number; to: number };
  /** Configured drivers; those whose list() fails at start (docker down) are not offered. */
  drivers: Driver[];
  /** The agent's own state: the directories of volumes go under <stateDir>/volumes (agent/volumes.ts). */
  stateDir: string;
  /** How often a persistent volume's usage (status.usedMiB) is measured again; default 30 s. */
  volumeUsageIntervalMs?: number;
  leaseTtlSeconds?: number;
  logger: Logger;
  /** Port of the log server on `address`; 0 (default) for any free port. */
  logsPort?: number;
  version?: string;
  /** Safety-net pass interval; every change triggers a pass anyway. */
  resyncIntervalMs?: number;
  /** How often the node's sockets are scanned for ports in use outside Capstan; a failed task triggers a scan anyway. */
  portsScanIntervalMs?: number;
  /** Where launches and failures are counted (the store's etcd requests are timed by the caller: store.withMetrics). */
  metrics?: AgentMetrics;
}

export const DEFAULT_LEASE_TTL_SECONDS = 2;
export const DEFAULT_PORTS_SCAN_INTERVAL_MS = 10_000;
const DEFAULT_PORT_RANGE: PortRange = { from: 31000, to: 32000 };
/** Listens of the log server on a kernel-chosen port before giving up on finding one outside the task ports. */
const LISTEN_ATTEMPTS = 20;
const MAX_ATTEMPTS = 10;
const BACKOFF_MS = { firstMs: 100, maxMs: 5_000 };

export class Agent {
  private readonly workloads = new Workloads();
  private readonly drivers = new Map<DriverName, Driver>();
  private readonly busy = new Set<string>();
  private readonly inflight = new Set<Promise<void>>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly subscriptions: Subscription[] = [];
  private readonly informer: KeyedInformer;
  /** Index entries being removed, by `namespace/name`. */
  private readonly unindexing = new Set<string>();
  private readonly logs: LogsServer;
  private readonly commandChecks: CommandChecks;
  private readonly volumes: NodeVolumes;
  private lease: NodeLease | undefined;
  private readonly portRange: PortRange;
  /** The scan in progress or last done: scans run one after another (reportPortsInUse). */
  private portsScan: Promise<void> = Promise.resolve();
  /** A scan waiting for the one in progress, not started yet. */
  private queuedScan: Promise<void> | undefined;
  private portsScanFailing = false;
  private passQueued = false;
  private ready = false;
  private stopped = false;
  /** http://<address>:<port> of the log server, once started. */
  endpoint = '';

  constructor(private readonly options: AgentOptions) {
    this.informer = new KeyedInformer(options.store.client, options.store.kind('Task'), nodeTasksIndexPrefix(options.nodeName), {
      onRelist: (reason) => options.logger.info({ reason }, 're-reading the node\'s tasks'),
    });
    this.portRange = options.portRange ?? DEFAULT_PORT_RANGE;
    this.logs = new LogsServer({ host: options.address, port: options.logsPort ?? 0, lookup: (ns, name) => this.logSource(ns, name), exec: (ns, name) => this.execTarget(ns, name) });
    this.commandChecks = new CommandChecks({
      store: options.store,
      exec: (task, container, command, timeoutMs) => this.driver(this.driverOf(task, container)).exec(task.metadata.uid!, container, command, timeoutMs),
      log: options.logger,
      ...(options.metrics ? { results: options.metrics.probes } : {}),
    });
    this.volumes = new NodeVolumes({
      store: options.store,
      nodeName: options.nodeName,
      stateDir: options.stateDir,
      logger: options.logger,
      resync: () => this.requestPass(),
      ...(options.volumeUsageIntervalMs !== undefined ? { usageIntervalMs: options.volumeUsageIntervalMs } : {}),
    });
  }

  private get log(): Logger {
    return this.options.logger;
  }

  async start(): Promise<void> {
    const { store, nodeName, address } = this.options;
    await this.warnOnEphemeralOverlap();
    this.endpoint = await this.listenOutsideTaskPorts();
    const available = await this.openDrivers();
    await this.informer.start();
    await this.volumes.start();
    const ttl = this.options.leaseTtlSeconds ?? DEFAULT_LEASE_TTL_SECONDS;
    const attributes = { hostname: nodeName, ...this.options.attributes };
    const faultDomain = this.options.faultDomain ? { faultDomain: this.options.faultDomain } : {};
    const spec = { address, attributes, ...faultDomain, capacity: this.options.capacity, portRange: this.portRange, drivers: available };
    const status = { agentVersion: this.options.version ?? '0.1.0', availableDrivers: available, leaseTTLSeconds: ttl, agentEndpoint: this.endpoint };
    await registerNode(store, nodeName, spec, status);
    await this.reportPortsInUse();
    this.lease = new NodeLease({ client: store.client, key: nodeLeaseKey(nodeName), ttlSeconds: ttl, value: JSON.stringify({ node: nodeName, address }), logger: this.log });
    await this.lease.start();
    this.subscriptions.push(
      this.informer.events$.subscribe((event) => {
        if (this.mine(event.object) || (event.old && this.mine(event.old))) this.requestPass();
      }),
      this.volumes.events$.subscribe((event) => {
        if (this.mine(event.object)) this.requestPass();
      }),
    );
    const tick = setInterval(() => this.requestPass(), this.options.resyncIntervalMs ?? 5_000);
    this.timers.add(tick);
    const scan = setInterval(() => void this.reportPortsInUse(), this.options.portsScanIntervalMs ?? DEFAULT_PORTS_SCAN_INTERVAL_MS);
    this.timers.add(scan);
    this.ready = true;
    this.requestPass();
    this.log.info({ node: nodeName, drivers: available, endpoint: this.endpoint, adopted: this.workloads.view.size }, 'agent started');
  }

  /** Stops watching and serving; workloads keep running for the next agent to adopt. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    for (const subscription of this.subscriptions) subscription.unsubscribe();
    this.commandChecks.stop();
    await Promise.race([Promise.allSettled([...this.inflight]), delay(5_000)]);
    await this.portsScan;
    await this.informer.stop();
    await this.volumes.stop();
    await this.lease?.stop();
    await this.logs.close();
    this.log.info({ node: this.options.nodeName }, 'agent stopped');
  }

  /** Subscribes to each driver's exits, then lists what it holds (in that order: no exit falls between). */
  private async openDrivers(): Promise<DriverName[]> {
    for (const driver of this.options.drivers) {
      const mark = this.workloads.mark();
      const subscription = this.watchExits(driver);
      try {
        this.workloads.merge(driver.name, await driver.list(), mark);
        this.drivers.set(driver.name, driver);
        this.subscriptions.push(subscription);
      } catch (error) {
        subscription.unsubscribe();
        this.log.warn({ driver: driver.name, error: (error as Error).message }, 'driver not available; not offered by this node');
      }
    }
    if (this.drivers.size === 0) throw new Error(`agent: no driver of node ${this.options.nodeName} is available`);
    return [...this.drivers.keys()];
  }

  private watchExits(driver: Driver): Subscription {
    return driver.watchExits().subscribe({
      next: (exit) => {
        this.workloads.recordExit(exit);
        this.requestPass();
      },
      // The event stream broke (dockerd restarted): watch again, then list for what was missed.
      error: (error: Error) => {
        if (this.stopped) return;
        this.log.warn({ driver: driver.name, error: error.message }, 'exit watch broke; watching again');
        this.after(BACKOFF_MS.maxMs / 5, () => void this.rewatch(driver));
      },
    });
  }

  private async rewatch(driver: Driver): Promise<void> {
    const mark = this.workloads.mark();
    const subscription = this.watchExits(driver);
    this.subscriptions.push(subscription);
    try {
      this.workloads.merge(driver.name, await driver.list(), mark);
      this.requestPass();
    } catch (error) {
      this.log.warn({ driver: driver.name, error: (error as Error).message }, 'driver list failed after a broken watch');
    }
  }

  private mine(object: { spec: unknown }): boolean {
    return (object.spec as { nodeName?: string }).nodeName === this.options.nodeName;
  }

  private requestPass(): void {
    if (this.passQueued || this.stopped || !this.ready) return;
    this.passQueued = true;
    setImmediate(() => {
      this.passQueued = false;
      if (!this.stopped) this.pass();
    });
  }

  private pass(): void {
    this.removeStaleIndexEntries();
    const tasks = this.informer.list((o) => this.mine(o)) as TaskObject[];
    this.commandChecks.sync(tasks);
    const uids = new Set(tasks.map((task) => task.metadata.uid));
    this.volumes.sync(
      (volume) => this.volumeInUse(volume, tasks),
      (uid) => uids.has(uid) || this.workloads.view.has(uid),
    );
    for (const { uid, actions } of planAgent({ nodeName: this.options.nodeName, tasks, workloads: this.workloads.view })) {
      if (this.busy.has(uid)) continue;
      this.busy.add(uid);
      const work = this.apply(uid, actions).then(
        () => {
          this.failures.delete(uid);
          this.busy.delete(uid);
          this.requestPass();
        },
        (error: unknown) => {
          // Held busy through the backoff, so that a failing action is not retried in a hot loop.
          const failures = (this.failures.get(uid) ?? 0) + 1;
          this.failures.set(uid, failures);
          this.log.warn({ task: uid, error: (error as Error).message, failures }, 'agent action failed; retrying');
          this.after(cappedBackoff({ ...BACKOFF_MS, attempt: failures }), () => {
            this.busy.delete(uid);
            this.requestPass();
          });
        },
      );
      this.inflight.add(work);
      void work.finally(() => this.inflight.delete(work));
    }
  }

  private async apply(uid: string, actions: AgentAction[]): Promise<void> {
    for (const action of actions) {
      if (this.stopped) return;
      switch (action.type) {
        case 'start':
          await this.startTask(action.task);
          break;
        case 'report':
          // A task that failed may have failed to bind a host port: the ports in use are written
          // before the failure, so the replacement it brings is placed knowing them.
          if (action.change.phase === 'Failed' && (action.task.spec.hostPorts?.length ?? 0) > 0) await this.reportPortsInUse();
          await this.report(action.task, await this.withOutputTail(uid, action.change));
          break;
        case 'stop':
          this.log.info({ task: uid, reason: action.reason, drivers: action.drivers }, 'stopping workload');
          await Promise.all(action.drivers.map((driver) => this.driver(driver).stop(uid, action.gracePeriodSeconds)));
          this.workloads.markStopped(uid);
          break;
        case 'remove':
          this.log.info({ task: uid, reason: action.reason, drivers: action.drivers }, 'removing workload');
          await Promise.all(action.drivers.map((driver) => this.driver(driver).remove(uid)));
          this.volumes.removeEphemeral(uid);
          this.workloads.forget(uid);
          break;
        case 'release':
          await this.release(action.task);
          break;
        case 'drain':
          await this.drain(action.task);
          break;
      }
    }
  }

  /**
   * Staging → driver.start → Starting → Running, each reported as it happens. A pod whose containers
   * mix runtimes starts one part per driver, at once; if one part fails to start, the others are
   * removed and the task fails as a whole.
   */
  private async startTask(task: TaskObject): Promise<void> {
    const { nodeName, address } = this.options;
    const uid = task.metadata.uid!;
    const placement = this.volumes.place(task);
    // A Volume not seen yet is a wait, not a failure: the action fails and is retried with backoff.
    if (!placement.ok && placement.retry) throw new Error(placement.message);
    const launch = placement.ok ? launchFor(task, address, placement.paths) : placement.message;
    const parts = typeof launch === 'string' ? [] : launchParts(task, launch);
    const unavailable = parts.find((part) => !this.drivers.has(part.driver));
    const refusal = typeof launch === 'string' ? launch : unavailable ? messages.driverUnavailable(unavailable.driver, nodeName) : undefined;
    if (refusal !== undefined) {
      const reason = typeof launch === 'string' ? 'volume' : 'driverUnavailable';
      return void (await this.report(task, { phase: 'Failed', message: refusal }, reason));
    }
    const inUse = await firstPortInUse(address, hostPortsOf(task));
    if (inUse !== undefined) {
      this.log.info({ task: refOf(task), port: inUse }, 'host port in use; not starting');
      await this.reportPortsInUse();
      return void (await this.report(task, { phase: 'Failed', message: messages.hostPortInUse(inUse, nodeName) }, 'hostPortInUse'));
    }
    const staged = await this.report(task, { phase: 'Staging' });
    if (!staged || isTerminal(staged.status?.phase)) return;
    const results = await Promise.allSettled(
      parts.map(async (part): Promise<WorkloadPart> => ({ driver: part.driver, running: await this.driver(part.driver).start(part.launch) })),
    );
    const failure = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failure) {
      const message = (failure.reason as Error).message;
      this.log.info({ task: uid, error: message }, 'start failed');
      if (parts.length > 1) await this.removeParts(uid, parts.map((part) => part.driver));
      return void (await this.report(staged, { phase: 'Failed', message }, 'startFailed'));
    }
    for (const part of parts) this.options.metrics?.launches.inc({ driver: part.driver });
    let workload: Workload | undefined;
    for (const result of results) if (result.status === 'fulfilled') workload = this.workloads.set(result.value);
    if (!workload) return;
    const starting = await this.report(staged, { phase: 'Starting', runtime: runtimeOf(workload, staged), containers: containerStatuses(staged, workload) });
    // An exit already seen is reported by the next pass.
    if (starting && taskOutcome(containersOf(workload)) === 'running') await this.report(starting, runningChange(workload, starting));
  }

  /** A pod starts whole or not at all: what one driver started is removed when another failed. */
  private async removeParts(uid: string, drivers: DriverName[]): Promise<void> {
    const removals = drivers.map((name) =>
      this.driver(name)
        .remove(uid)
        .catch((error: Error) => this.log.warn({ task: uid, driver: name, error: error.message }, say.partLeft)),
    );
    await Promise.all(removals);
    this.workloads.forget(uid);
  }

  /** A persistent Volume is in use while a task of its App and slot runs here: its directory stays until then. */
  private volumeInUse(volume: VolumeObject, tasks: readonly TaskObject[]): boolean {
    return tasks.some((task) => {
      const same = task.spec.app === volume.spec.app && task.spec.slot === volume.spec.slot && task.metadata.namespace === volume.metadata.namespace;
      const workload = same ? this.workloads.get(task.metadata.uid!) : undefined;
      return workload !== undefined && containersOf(workload).some((c) => c.state === 'running');
    });
  }

  /** The driver of one of the task's containers: the part holding it, else its runtime. */
  private driverOf(task: TaskObject, container: string): DriverName {
    const workload = this.workloads.get(task.metadata.uid!);
    const held = workload ? partOf(workload, container)?.driver : undefined;
    if (held) return held;
    const { template } = task.spec;
    const declared = template.containers.find((c) => c.name === container);
    return declared ? containerRuntime(template, declared) : template.driver;
  }

  /**
   * Scans the node's sockets and writes the ports of its range held outside Capstan to the Node's
   * status when they changed. Scans run one after another, so one asked for after a failed bind
   * reads the socket tables after that failure.
   */
  private reportPortsInUse(): Promise<void> {
    // A queued scan has read nothing yet, so it serves every caller until it starts: a hundred
    // tasks failing at once cost two scans, not a hundred.
    if (this.queuedScan) return this.queuedScan;
    const next = this.portsScan.then(() => {
      this.queuedScan = undefined;
      return this.scanPorts();
    });
    this.queuedScan = next;
    this.portsScan = next;
    return next;
  }

  private async scanPorts(): Promise<void> {
    if (this.stopped) return;
    try {
      const ours = this.portsOfRunningTasks();
      const outside = (await readPortsInUse(this.portRange)).filter((port) => !ours.has(port));
      if (await writePortsInUse(this.options.store, this.options.nodeName, outside)) this.log.info({ portsInUse: outside }, 'ports in use outside Capstan');
      this.portsScanFailing = false;
    } catch (error) {
      // Said once per outage; the next scan (interval or failed task) tries again.
      if (!this.portsScanFailing) this.log.warn({ error: (error as Error).message }, say.scanFailed);
      this.portsScanFailing = true;
    }
  }

  /** Host ports of the tasks whose workload runs here: those sockets are Capstan's own. */
  private portsOfRunningTasks(): Set<number> {
    const ports = new Set<number>();
    for (const task of this.informer.list((o) => this.mine(o)) as TaskObject[]) {
      const workload = this.workloads.get(task.metadata.uid!);
      const running = workload && containersOf(workload).some((c) => c.state === 'running');
      if (running) for (const port of task.spec.hostPorts ?? []) ports.add(port);
    }
    return ports;
  }

  /**
   * The log server on a kernel-chosen port (port 0) gets one from the ephemeral range, which may
   * overlap this node's task ports: it listens again until the port lies outside them, and when the
   * range covers all the kernel hands out, on the first free port above the range, then below it.
   */
  private async listenOutsideTaskPorts(): Promise<string> {
    if (this.options.logsPort) return this.logs.listen();
    for (let attempt = 1; attempt <= LISTEN_ATTEMPTS; attempt += 1) {
      const endpoint = await this.logs.listen(0);
      if (!inRange(Number(new URL(endpoint).port), this.portRange)) return endpoint;
      await this.logs.close();
    }
    for (const port of portsBeside(this.portRange, LISTEN_ATTEMPTS)) {
      try {
        return await this.logs.listen(port);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
      }
    }
    throw new Error(say.logsPortInRange(this.portRange, LISTEN_ATTEMPTS));
  }

  private async warnOnEphemeralOverlap(): Promise<void> {
    const ephemeral = await readEphemeralRange();
    const shared = overlap(this.portRange, ephemeral);
    if (shared) this.log.warn({ portRange: this.portRange, ephemeral }, say.ephemeralOverlap(this.portRange, ephemeral, shared));
  }

  /**
   * Writes a status change on the freshest object: the cache first, then a fresh read after a
   * conflict. Returns the object as written (or as found, when there was nothing to write), or
   * undefined when the task is gone.
   */
  /** `failure`: why, when `change` fails the task (default: its workload exited, or is gone). */
  private async report(task: TaskObject, change: StatusChange, failure?: TaskFailureReason): Promise<TaskObject | undefined> {
    const result = await this.writeStatusOf(task, (current) => applyChange(current.status, change, { nodeName: this.options.nodeName }));
    if (result.outcome === 'gone') return undefined;
    // Counted once: the write that turned the task Failed (a repeated report changes nothing).
    if (result.outcome === 'updated' && change.phase === 'Failed' && task.status?.phase !== 'Failed') {
      this.options.metrics?.failures.inc({ reason: failure ?? ('exitCode' in change || 'container' in change ? 'exited' : 'workloadGone') });
    }
    // Only what was written: a pass on a cache that lags its own last write reads the store afresh
    // and finds nothing to change, which is not news.
    if (result.outcome === 'updated') this.log.info({ task: refOf(task), phase: result.object.status?.phase, message: result.object.status?.message }, 'task status');
    return result.object;
  }

  /** `next` computes the status from the freshest object, undefined when there is nothing to write. */
  private async writeStatus(task: TaskObject, next: (current: TaskObject) => TaskStatus | undefined): Promise<TaskObject | undefined> {
    const result = await this.writeStatusOf(task, next);
    return result.outcome === 'gone' ? undefined : result.object;
  }

  private writeStatusOf(task: TaskObject, next: (current: TaskObject) => TaskStatus | undefined) {
    return readModifyWrite<TaskObject>({
      store: this.options.store,
      kind: 'Task',
      ref: incarnationOf(task),
      from: { object: task },
      write: 'updateStatus',
      change: (current) => {
        const status = next(current);
        return status && { ...current, status };
      },
      attempts: MAX_ATTEMPTS,
    });
  }

  /** Drain before kill (agent/drain.ts drainTask); the next pass stops the task. */
  private async drain(task: TaskObject): Promise<void> {
    const current = await this.fresh(task);
    if (!current) return;
    const outcome = await drainTask({ task: current, store: this.options.store, writeStatus: (t, next) => this.writeStatus(t, next) });
    if (outcome) this.log.info({ task: refOf(task), outcome: outcome.reason, ms: outcome.ms }, 'task drained');
  }

  /** Index entries whose task is gone, is another incarnation, or is bound to another node. */
  private removeStaleIndexEntries(): void {
    for (const { key, uid, object } of this.informer.indexed()) {
      const stale = !object || object.metadata.uid !== uid || !this.mine(object);
      if (stale && !this.unindexing.has(key)) void this.unindex(key, uid, 'stale index entry removed');
    }
  }

  private async unindex(key: string, uid: string, message: string): Promise<void> {
    this.unindexing.add(key);
    const [namespace, name] = key.split('/') as [string, string];
    try {
      if (await removeNodeTaskIndexEntry(this.options.store.client, { node: this.options.nodeName, namespace, name, uid })) this.log.info({ task: key, uid }, message);
    } catch (error) {
      // etcd unreachable: the next pass tries again.
      this.log.warn({ task: key, error: (error as Error).message }, 'index entry removal failed');
    } finally {
      this.unindexing.delete(key);
    }
  }

  /** Removes the agent's finalizer (the last step of a deletion, or of a Lost task stopped here). */
  private async release(task: TaskObject): Promise<void> {
    const result = await readModifyWrite<TaskObject>({
      store: this.options.store,
      kind: 'Task',
      ref: incarnationOf(task),
      write: 'update',
      change: (current) => {
        const finalizers = current.metadata.finalizers ?? [];
        if (!finalizers.includes(AGENT_FINALIZER)) return undefined;
        return { ...current, metadata: { ...current.metadata, finalizers: finalizers.filter((f) => f !== AGENT_FINALIZER) } };
      },
      attempts: MAX_ATTEMPTS,
    });
    if (result.outcome !== 'updated') return;
    this.log.info({ task: refOf(task) }, 'finalizer removed');
    // A task that never started (or whose workload is gone) had no remove to take its ephemeral volumes.
    if (result.object.metadata.deletionTimestamp) this.volumes.removeEphemeral(task.metadata.uid!);
    // The task is gone with its last finalizer: so goes its index entry.
    const { deletionTimestamp, finalizers = [] } = result.object.metadata;
    if (deletionTimestamp && finalizers.length === 0) await this.unindex(refOf(task), task.metadata.uid!, 'index entry removed');
  }

  /** The task as stored now, if it is still the same incarnation. */
  private async fresh(task: TaskObject): Promise<TaskObject | undefined> {
    const current = await this.options.store.get<never>('Task', { namespace: task.metadata.namespace, name: task.metadata.name });
    const object = current as TaskObject | undefined;
    return object?.metadata.uid === task.metadata.uid ? object : undefined;
  }

  /** `capstan exec`: only in a Running task's workload, in one of its template's containers. */
  private execTarget(namespace: string, name: string): ExecTarget {
    const task = this.informer.get(`${namespace}/${name}`) as TaskObject | undefined;
    if (!task || !this.mine(task)) return { found: false, message: `task ${namespace}/${name} is not bound to node ${this.options.nodeName}` };
    const uid = task.metadata.uid!;
    const phase = task.status?.phase ?? 'Pending';
    const workload = this.workloads.get(uid);
    if (phase !== 'Running' || !workload) return { found: false, message: `task ${namespace}/${name} is not running (phase ${phase}): exec needs a Running task` };
    const containers = task.spec.template.containers.map((c) => c.name);
    return {
      found: true,
      start: (request) => {
        if (request.container !== undefined && !containers.includes(request.container)) {
          throw new Error(`task ${namespace}/${name} has no container "${request.container}" (its containers: ${containers.join(', ')})`);
        }
        // The default is the template's first container, whichever driver runs it.
        const container = request.container ?? containers[0]!;
        return this.driver(this.driverOf(task, container)).execStream(uid, { ...request, container });
      },
    };
  }

  private logSource(namespace: string, name: string): LogSource {
    const task = this.informer.get(`${namespace}/${name}`) as TaskObject | undefined;
    if (!task || !this.mine(task)) return { found: false, message: `task ${namespace}/${name} is not bound to node ${this.options.nodeName}` };
    const uid = task.metadata.uid!;
    const workload = this.workloads.get(uid);
    if (!workload) return { found: false, message: `task ${namespace}/${name} has no workload on node ${this.options.nodeName} (phase ${task.status?.phase ?? 'Pending'})` };
    const first = task.spec.template.containers[0]!.name;
    return {
      found: true,
      open: (options) => {
        const container = options.container ?? first;
        return this.driver(this.driverOf(task, container)).logs(uid, { ...options, container });
      },
    };
  }

  /** A Failed or Finished ending with the last lines of the workload's output (agent/output-tail.ts). */
  private withOutputTail(uid: string, change: StatusChange): Promise<StatusChange> {
    const workload = this.workloads.view.get(uid);
    const container = 'container' in change ? change.container : undefined;
    const part = workload && (container !== undefined ? partOf(workload, container) : workload.parts[0]);
    return withOutputTail({
      change,
      driver: part ? this.drivers.get(part.driver) : undefined,
      taskUid: uid,
      onError: (error) => this.log.warn({ task: uid, error: error.message }, 'could not read the output of an ended task; its status goes without it'),
    });
  }

  private driver(name: DriverName): Driver {
    const driver = this.drivers.get(name);
    if (!driver) throw new Error(messages.driverUnavailable(name, this.options.nodeName));
    return driver;
  }

  private after(ms: number, run: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.stopped) run();
    }, ms);
    this.timers.add(timer);
  }
}

/** Runs an agent until `signal` aborts, then stops it (workloads keep running). */
export async function runAgent(options: AgentOptions & { signal: AbortSignal }): Promise<void> {
  const agent = new Agent(options);
  await agent.start();
  if (!options.signal.aborted) await new Promise<void>((resolve) => options.signal.addEventListener('abort', () => resolve(), { once: true }));
  await agent.stop();
}

const say = {
  partLeft: 'could not remove the started part of a pod whose other part failed to start; the next pass removes it as an orphan',
  scanFailed: 'cannot report the ports in use outside Capstan; until a scan succeeds the scheduler may hand out a port that is taken',
  logsPortInRange: (range: PortRange, attempts: number) =>
    `agent: no port for the log server outside the task port range ${range.from}-${range.to} (${attempts} kernel-chosen ones fell in it, and the ${attempts} beside it on each side are taken); pass --logs-port with a free port outside it`,
  ephemeralOverlap: (range: PortRange, ephemeral: PortRange, shared: PortRange) =>
    `task port range ${range.from}-${range.to} overlaps the kernel's ephemeral range ${ephemeral.from}-${ephemeral.to} (net.ipv4.ip_local_port_range): ` +
    `outgoing connections and port-0 listeners of any process may take ports ${shared.from}-${shared.to}; they are reported in use and skipped, ` +
    `but a task may still lose its port between placement and start. Choose --ports below ${ephemeral.from}`,
};

/** Up to `count` ports just above the range, then up to `count` just below it (unprivileged ones only). */
function portsBeside(range: PortRange, count: number): number[] {
  const above = Array.from({ length: count }, (_, i) => range.to + 1 + i).filter((port) => port <= 65535);
  const below = Array.from({ length: count }, (_, i) => range.from - 1 - i).filter((port) => port >= 1024);
  return [...above, ...below];
}

/** The task's host ports with their protocols, as its workload will bind them. */
const hostPortsOf = (task: TaskObject) =>
  task.spec.template.ports.map((port, i) => ({ port: task.spec.hostPorts?.[i] ?? 0, protocol: port.protocol })).filter((p) => p.port > 0);
const refOf = (task: TaskObject) => `${task.metadata.namespace}/${task.metadata.name}`;
const incarnationOf = ({ metadata }: TaskObject) => ({ namespace: metadata.namespace, name: metadata.name, uid: metadata.uid });
const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());
