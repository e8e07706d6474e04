// A real one-machine cluster for the runtime benches: a private etcd, optionally a private dockerd with
// the busybox image, the built-in controllers in this process (no leader election), and one
// `capstan agent` OS process per node with its own name, port range and state dir. stop() leaves
// nothing behind: Apps deleted, agents stopped, leftover workloads (an agent killed -9 leaves its
// processes running, by design) killed by their sandbox directory, dockerd and etcd stopped. Ctrl-C or
// SIGTERM does the same without the graceful parts (interrupt.ts): agents killed, then their
// workloads, dockerd with its containers, etcd.
import { mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Informer, type InformerEvent } from '../api/informer.ts';
import type { TaskSpec, TaskStatus } from '../api/kinds/task.ts';
import { getCondition, type AnyObject, type CapstanObject } from '../api/object.ts';
import { runControllers, type RunningControllers } from '../controllers/builtin.ts';
import { startAgentProcess, type AgentProcess } from '../test/helpers/agent-process.ts';
import { startDocker, type TestDocker } from '../test/helpers/dockerd.ts';
import { until } from '../test/helpers/poll.ts';
import { onInterrupt } from './interrupt.ts';
import { startBenchEtcd, type BenchEtcd } from './local-etcd.ts';

export type Task = CapstanObject<TaskSpec, TaskStatus>;

export interface BenchNode {
  name: string;
  /** e.g. "21000-21199": distinct per node, below the kernel's ephemeral range (32768-60999). */
  ports: string;
}

export const NAMESPACE = 'bench';

export class BenchCluster {
  readonly agents = new Map<string, AgentProcess>();
  readonly tasks: Informer;
  /** Drops the interruption steps once stop() has done their work. */
  private readonly undoOnInterrupt: (() => void)[] = [];

  private constructor(
    readonly etcd: BenchEtcd,
    readonly docker: TestDocker | undefined,
    readonly controllers: RunningControllers,
    private readonly stateRoot: string,
    private readonly leaseTtlSeconds: number,
  ) {
    this.tasks = new Informer(etcd.client, etcd.store.kind('Task'));
  }

  static async start(options: { nodes: BenchNode[]; docker: boolean; leaseTtlSeconds?: number }): Promise<BenchCluster> {
    const etcd = await startBenchEtcd();
    const docker = options.docker ? await startDocker() : undefined;
    const undoDocker = docker ? onInterrupt('dockerd and its containers', () => docker.stop()) : () => undefined;
    const controllers = await runControllers({ store: etcd.store, leaderElection: false, logger: pino({ level: 'error' }), handleSignals: false });
    const cluster = new BenchCluster(etcd, docker, controllers, mkdtempSync(join(tmpdir(), 'capstan-bench-nodes-')), options.leaseTtlSeconds ?? 1);
    cluster.undoOnInterrupt.push(undoDocker, onInterrupt('agents and their workloads', () => cluster.killAgentsAndWorkloads()));
    await cluster.tasks.start();
    await Promise.all(options.nodes.map((node) => cluster.startAgent(node)));
    return cluster;
  }

  get store() {
    return this.etcd.store;
  }

  async startAgent(node: BenchNode): Promise<void> {
    const agent = startAgentProcess({
      etcd: this.etcd.url,
      node: node.name,
      stateDir: join(this.stateRoot, node.name),
      dockerSocket: this.docker?.engine.socketPath ?? join(this.stateRoot, 'no-docker.sock'),
      leaseTtlSeconds: this.leaseTtlSeconds,
      extraArgs: ['--ports', node.ports, '--cpus', '16', '--mem', '16384', '--drivers', this.docker ? 'docker,process' : 'process'],
    });
    this.agents.set(node.name, agent);
    await agent.started;
    await until(
      async () => {
        const object = await this.store.get('Node', { name: node.name });
        return getCondition((object?.status as { conditions?: [] } | undefined)?.conditions, 'Ready')?.status === 'True';
      },
      { timeoutMs: 15_000, what: `node ${node.name} Ready` },
    );
  }

  async createApp(name: string, spec: Record<string, unknown>): Promise<AnyObject> {
    return this.store.create({ apiVersion: 'capstan/v1', kind: 'App', metadata: { name, namespace: NAMESPACE }, spec });
  }

  /** Deletes the App and waits until its tasks (and so its workloads: the agents' finalizer) are gone. */
  async deleteApp(name: string, timeoutMs = 60_000): Promise<void> {
    await this.store.delete('App', { namespace: NAMESPACE, name });
    await until(() => this.tasksOf(name).length === 0, { timeoutMs, intervalMs: 100, what: `the tasks of ${name} to be gone` });
  }

  tasksOf(app: string): Task[] {
    return this.tasks.list((t) => t.metadata.namespace === NAMESPACE && (t.spec as TaskSpec).app === app) as Task[];
  }

  /** Every task event of one App, as the watch delivers it, stamped when this process saw it. */
  onTask(app: string, handler: (event: InformerEvent, seenAt: number) => void): { unsubscribe(): void } {
    return this.tasks.events$.subscribe((event) => {
      if ((event.object.spec as TaskSpec).app === app) handler(event, Date.now());
    });
  }

  async stop(): Promise<void> {
    await this.tasks.stop().catch(() => undefined);
    for (const agent of this.agents.values()) await agent.terminate();
    // Process workloads outlive their agent by design: find them by their sandbox under stateRoot.
    killProcessesUnder(this.stateRoot);
    await this.controllers.stop();
    await this.docker?.stop();
    await this.etcd.stop();
    rmSync(this.stateRoot, { recursive: true, force: true });
    for (const undo of this.undoOnInterrupt) undo();
  }

  /** On an interruption: no graceful stops (etcd may already be gone), only nothing left running. */
  private async killAgentsAndWorkloads(): Promise<void> {
    await Promise.all([...this.agents.values()].map((agent) => agent.kill()));
    killProcessesUnder(this.stateRoot);
    rmSync(this.stateRoot, { recursive: true, force: true });
  }
}

/** SIGKILLs every process whose working directory lies under `dir`; returns how many. */
export function killProcessesUnder(dir: string): number {
  let killed = 0;
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      if (readlinkSync(`/proc/${pid}/cwd`).startsWith(dir)) {
        process.kill(Number(pid), 'SIGKILL');
        killed += 1;
      }
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return killed;
}
