// The node agent `capstan up` runs in its own process, with both drivers: docker against the engine
// up found or started, process with its sandboxes under the state dir.
//
// In-process rather than a `capstan agent` child: one process for the user to watch and stop, one
// Ctrl-C that reaches everything in the order that matters (workloads before the dockerd and etcd
// they depend on), no second start-up of the TypeScript loader, and no child to leave behind if up
// itself fails half-way. What is lost — an agent crash taking `up` down with it — is what a
// one-machine development cluster can afford; production nodes run `capstan agent`.
//
// Unlike `capstan agent`, stopping also stops the workloads: `up` promises to leave no process
// behind. They are stopped through the agent's own drivers while the agent still runs, so it
// records each task as Killed; the next `up` sees terminal tasks and the replicas controller starts
// new ones, instead of finding "Running" tasks whose workloads vanished.
//
// Metrics as `capstan agent --metrics-port` has them: the agent counts into an AgentMetrics, its
// Store times etcd into the same registry, served on loopback (port 0: any free one).
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { TaskSpec, TaskStatus } from '../../api/kinds/task.ts';
import type { MetricsServer } from '../../api/metrics.ts';
import { isTerminal } from '../../api/kinds/task.ts';
import type { CapstanObject } from '../../api/object.ts';
import type { Store } from '../../api/store.ts';
import type { Agent } from '../../runtime/agent.ts';
import type { Driver } from '../../runtime/driver.ts';
import { LOCAL_CPU_OVERCOMMIT, offeredCpus } from './capacity.ts';

export interface LocalAgentOptions {
  store: Store;
  node: string;
  /** The process driver's sandboxes go to <stateDir>/process, volume directories to <stateDir>/volumes. */
  stateDir: string;
  dockerSocket: string;
  logger: Logger;
  portRange?: { from: number; to: number };
  /** cpus offered per core (capacity.ts); default LOCAL_CPU_OVERCOMMIT. */
  cpuOvercommit?: number;
  /** Serve Prometheus metrics on 127.0.0.1:<port> (0: any free port); omitted: none. */
  metricsPort?: number;
}

type Task = CapstanObject<TaskSpec, TaskStatus>;

/** Longest a Ctrl-C waits on one workload's grace period: a person is waiting. */
const MAX_SHUTDOWN_GRACE_SECONDS = 5;
/** How long to wait for the agent to record the stopped tasks before it stops too. */
const REPORT_WAIT_MS = 3_000;

export class LocalAgent {
  private agent: Agent | undefined;
  private drivers: Driver[] = [];
  private metricsServer: MetricsServer | undefined;

  constructor(private readonly options: LocalAgentOptions) {}

  get endpoint(): string {
    return this.agent?.endpoint ?? '';
  }

  /** Where the agent's metrics are served, once started with metricsPort. */
  get metricsUrl(): string | undefined {
    return this.metricsServer?.url;
  }

  /** What the node offers: the machine's memory, and its cores times the overcommit factor. */
  get capacity() {
    return { cores: cpus().length, overcommit: this.options.cpuOvercommit ?? LOCAL_CPU_OVERCOMMIT, mem: Math.floor(totalmem() / 2 ** 20) };
  }

  async start(): Promise<string[]> {
    const { store, node, stateDir, dockerSocket, logger } = this.options;
    // Loaded here: only `up` pays for dockerode and the agent.
    const [{ Agent }, { freeDiskMiB }, { default: Docker }, { DockerDriver }, { ProcessDriver }, { AgentMetrics, serveMetrics }] = await Promise.all([
      import('../../runtime/agent.ts'),
      import('../../runtime/agent/volumes.ts'),
      import('dockerode'),
      import('../../runtime/drivers/docker.ts'),
      import('../../runtime/drivers/process.ts'),
      import('../../api/metrics.ts'),
    ]);
    const metrics = new AgentMetrics();
    this.drivers = [
      new DockerDriver({ docker: new Docker({ socketPath: dockerSocket }), nodeName: node }),
      new ProcessDriver({ stateDir: join(stateDir, 'process') }),
    ];
    this.agent = new Agent({
      store: store.withMetrics(metrics.etcd),
      metrics,
      nodeName: node,
      address: '127.0.0.1',
      // disk: the free space where volumes are kept (`capstan agent --disk auto`).
      capacity: { cpus: offeredCpus(this.capacity.cores, this.capacity.overcommit), mem: this.capacity.mem, disk: freeDiskMiB(stateDir), gpus: 0 },
      portRange: this.options.portRange ?? { from: 31000, to: 31999 },
      drivers: this.drivers,
      stateDir,
      logger,
    });
    if (this.options.metricsPort !== undefined) this.metricsServer = await serveMetrics({ registry: metrics.registry, port: this.options.metricsPort });
    try {
      await this.agent.start();
    } catch (error) {
      await this.metricsServer?.close();
      throw error;
    }
    return this.drivers.map((d) => d.name);
  }

  /**
   * Stops every workload on this node (recorded as Killed by the agent), then the agent, then sweeps
   * once more: a bound task the agent started while the first round ran must not outlive `up`.
   */
  async stop(): Promise<number> {
    let stopped = await this.stopWorkloads(true).catch((error: unknown) => {
      this.options.logger.warn({ error: (error as Error).message }, 'could not stop every workload');
      return 0;
    });
    await this.agent?.stop();
    stopped += await this.stopWorkloads(false).catch(() => 0);
    await Promise.all(this.drivers.map((driver) => driver.close()));
    await this.metricsServer?.close();
    return stopped;
  }

  private async stopWorkloads(record: boolean): Promise<number> {
    const tasks = (await this.options.store.list<Task>('Task')).items.filter((t) => t.spec.nodeName === this.options.node);
    const grace = new Map(tasks.map((t) => [t.metadata.uid, t.spec.template.taskKillGracePeriodSeconds]));
    const stops: Promise<void>[] = [];
    const uids = new Set<string>();
    for (const driver of this.drivers) {
      const held = await driver.list().catch(() => []);
      for (const workload of held) {
        if (!workload.containers.some((c) => c.state === 'running')) continue;
        const seconds = Math.min(grace.get(workload.taskUid) ?? MAX_SHUTDOWN_GRACE_SECONDS, MAX_SHUTDOWN_GRACE_SECONDS);
        uids.add(workload.taskUid);
        stops.push(driver.stop(workload.taskUid, seconds));
      }
    }
    await Promise.all(stops);
    if (record) await this.untilRecorded(uids);
    return stops.length;
  }

  /** Bounded: the agent reports exits on its next pass; a slow store must not hold up Ctrl-C. */
  private async untilRecorded(uids: ReadonlySet<string>): Promise<void> {
    const deadline = Date.now() + REPORT_WAIT_MS;
    while (uids.size > 0 && Date.now() < deadline) {
      const tasks = (await this.options.store.list<Task>('Task')).items;
      if (!tasks.some((t) => uids.has(t.metadata.uid!) && !isTerminal(t.status?.phase))) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
