// A real cluster on one machine for the end-to-end tests (test/cluster*.test.ts): a real etcd,
// optionally a private real dockerd, the built-in controllers in this process, and one
// `capstan agent` OS process per node, each with its own node name, port range, attributes and
// state dir. Workloads are real processes and containers; the helpers below find them on the
// machine (/proc, docker ps by label) so that tests count what really runs, not what the store says.
import { afterAll, afterEach, beforeAll } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import type { Subscription } from 'rxjs';
import { pino } from 'pino';
import { connectEtcd } from '../../api/etcd.ts';
import { Informer } from '../../api/informer.ts';
import { builtinRegistry } from '../../api/kinds/builtin.ts';
import type { NodeSpec, NodeStatus } from '../../api/kinds/node.ts';
import type { TaskSpec, TaskStatus } from '../../api/kinds/task.ts';
import { APP_LABEL } from '../../api/kinds/wellknown.ts';
import { getCondition, type CapstanObject } from '../../api/object.ts';
import { Store } from '../../api/store.ts';
import { runControllers, type RunningControllers } from '../../controllers/builtin.ts';
import { LABELS } from '../../runtime/drivers/docker.ts';
import { removeProcessTasks, startAgentProcess, type AgentProcess } from './agent-process.ts';
import { startDocker, type TestDocker } from './dockerd.ts';
import { startEtcd, type TestEtcd } from './etcd.ts';
import { until } from './poll.ts';

export type Task = CapstanObject<TaskSpec, TaskStatus>;
export type Node = CapstanObject<NodeSpec, NodeStatus>;

export interface ClusterNode {
  name: string;
  /** The node's host port range, e.g. "24110-24129": distinct per node and per test file. */
  ports: string;
  attributes?: Record<string, string>;
  /** More `capstan agent` flags for this node. */
  extraArgs?: string[];
}

export interface ClusterOptions {
  /** Unique per test file: names the state dirs and marks every workload's environment. */
  suite: string;
  nodes: ClusterNode[];
  docker?: boolean;
  leaseTtlSeconds?: number;
  namespace?: string;
  /** Where the endpoints controller allocates service ports: a range of the file's own when it runs a load balancer. */
  servicePortRange?: { from: number; to: number };
  /** Ended tasks the task gc keeps per App (the controllers' default when omitted). */
  terminalTaskHistory?: number;
}

/** The environment variable every App of a suite carries, so its workloads are found on the machine. */
export const SUITE_ENV = 'CAPSTAN_TEST_SUITE';

export class TestCluster {
  readonly namespace: string;
  readonly agents = new Map<string, AgentProcess>();
  /** Every moment two Running tasks on one node held the same host port, as a watch on Tasks saw it (none expected). */
  readonly portClashesSeen = new Set<string>();
  private readonly tasks: Informer;
  private watch: Subscription | undefined;
  private readonly stateRoot = mkdtempSync(join(tmpdir(), 'capstan-cluster-'));

  private constructor(
    readonly options: ClusterOptions,
    readonly etcd: TestEtcd,
    readonly dockerd: TestDocker | undefined,
    readonly client: Etcd3,
    readonly store: Store,
    readonly controllers: RunningControllers,
  ) {
    this.namespace = options.namespace ?? 'default';
    this.tasks = new Informer(client, store.kind('Task'));
  }

  static async start(options: ClusterOptions): Promise<TestCluster> {
    const [etcd, dockerd] = await Promise.all([startEtcd(), options.docker ? startDocker() : Promise.resolve(undefined)]);
    const client = connectEtcd({ endpoints: etcd.url });
    const store = new Store(client, builtinRegistry());
    const controllers = await runControllers({
      store,
      leaderElection: false,
      handleSignals: false,
      logger: pino({ level: 'silent' }),
      ...(options.servicePortRange ? { servicePortRange: options.servicePortRange } : {}),
      ...(options.terminalTaskHistory !== undefined ? { terminalTaskHistory: options.terminalTaskHistory } : {}),
    });
    const cluster = new TestCluster(options, etcd, dockerd, client, store, controllers);
    // "No port clash ever": checked on every change of every task, not only at the end of a test.
    cluster.watch = cluster.tasks.events$.subscribe(() => {
      for (const clash of portClashes(cluster.tasks.list() as unknown as Task[])) cluster.portClashesSeen.add(clash);
    });
    await cluster.tasks.start();
    await Promise.all(options.nodes.map((node) => cluster.startAgent(node.name)));
    return cluster;
  }

  stateDir(node: string): string {
    return join(this.stateRoot, node);
  }

  /** Starts (or starts again, with the same name and state dir) a node's agent; resolves once it runs and its Node is Ready. */
  async startAgent(name: string): Promise<AgentProcess> {
    const node = this.options.nodes.find((n) => n.name === name);
    if (!node) throw new Error(`no node ${name} in this cluster`);
    const attributes = Object.entries(node.attributes ?? {}).flatMap(([k, v]) => ['--attr', `${k}=${v}`]);
    const agent = startAgentProcess({
      etcd: this.etcd.url,
      node: name,
      stateDir: this.stateDir(name),
      dockerSocket: this.dockerd?.engine.socketPath ?? '/nonexistent/docker.sock',
      leaseTtlSeconds: this.options.leaseTtlSeconds ?? 1,
      extraArgs: ['--ports', node.ports, '--drivers', this.dockerd ? 'docker,process' : 'process', ...attributes, ...(node.extraArgs ?? [])],
    });
    this.agents.set(name, agent);
    await agent.started;
    await this.untilNodeReady(name, true);
    return agent;
  }

  /** kill -9 of the agent process; its workloads keep running, as on a real node whose agent crashed. */
  async killAgent(name: string): Promise<void> {
    await this.agents.get(name)?.kill();
  }

  async untilNodeReady(name: string, ready: boolean, timeoutMs = 10_000): Promise<Node> {
    return until(
      async () => {
        const node = await this.store.get<Node>('Node', { name });
        return getCondition(node?.status?.conditions, 'Ready')?.status === (ready ? 'True' : 'False') && node;
      },
      { timeoutMs, what: `node ${name} to be ${ready ? 'Ready' : 'NotReady'}` },
    );
  }

  /** Creates an App with the store; every App of the suite carries the suite's marker in its environment. */
  async createApp(name: string, spec: Record<string, unknown>): Promise<void> {
    await this.store.create({ apiVersion: 'capstan/v1', kind: 'App', metadata: { name, namespace: this.namespace }, spec: this.withMarker(spec) });
  }

  withMarker(spec: Record<string, unknown>): Record<string, unknown> {
    const containers = (spec['containers'] as Record<string, unknown>[]).map((c) => ({
      ...c,
      env: { ...((c['env'] as Record<string, string> | undefined) ?? {}), [SUITE_ENV]: this.options.suite },
    }));
    return { taskKillGracePeriodSeconds: 1, ...spec, containers };
  }

  async tasksOf(app: string): Promise<Task[]> {
    return (await this.store.list<Task>('Task', { namespace: this.namespace, labelSelector: `${APP_LABEL}=${app}` })).items;
  }

  /** Tasks of the App that are neither finished nor being deleted. */
  async liveTasksOf(app: string): Promise<Task[]> {
    return (await this.tasksOf(app)).filter((t) => !t.metadata.deletionTimestamp && !['Finished', 'Failed', 'Killed', 'Lost'].includes(t.status?.phase ?? 'Pending'));
  }

  /** Waits until exactly `count` live tasks of the App are Running (and none beyond), returns them. */
  async untilRunning(app: string, count: number, options: { timeoutMs?: number; pending?: number } = {}): Promise<Task[]> {
    try {
      return await until(
        async () => {
          const live = await this.liveTasksOf(app);
          const running = live.filter((t) => t.status?.phase === 'Running');
          return running.length === count && live.length === count + (options.pending ?? 0) && running;
        },
        { timeoutMs: options.timeoutMs ?? 15_000, intervalMs: 10, what: `${app}: ${count} tasks Running` },
      );
    } catch (error) {
      throw new Error(`${(error as Error).message}\n${await this.describe()}`, { cause: error });
    }
  }

  /** What the store says about nodes and tasks, and what the agents said: for failure messages. */
  async describe(): Promise<string> {
    const nodes = (await this.store.list<Node>('Node')).items.map((n) => `node ${n.metadata.name} Ready=${getCondition(n.status?.conditions, 'Ready')?.status}`);
    const tasks = (await this.store.list<Task>('Task', { namespace: this.namespace })).items.map(
      (t) => `task ${t.metadata.name} ${t.spec.nodeName ?? '-'} ${t.spec.hostPorts ?? ''} ${t.status?.phase} ${t.status?.message ?? ''}${t.metadata.deletionTimestamp ? ' (deleting)' : ''}`,
    );
    const agents = [...this.agents].map(([name, agent]) => `agent ${name} stderr (tail):\n${agent.stderr().split('\n').slice(-15).join('\n')}`);
    return [...nodes, ...tasks, ...agents].join('\n');
  }

  /** Deletes every App and waits until their tasks, processes and containers are gone. */
  async reset(): Promise<void> {
    const apps = (await this.store.list('App', { namespace: this.namespace })).items;
    await Promise.all(apps.map((a) => this.store.delete('App', { namespace: this.namespace, name: a.metadata.name }).catch(() => undefined)));
    await until(async () => (await this.store.list('Task', { namespace: this.namespace })).items.length === 0, { timeoutMs: 20_000, what: 'every task to be gone' }).catch(
      async (error: Error) => Promise.reject(new Error(`${error.message}\n${await this.describe()}`)),
    );
    await until(() => this.workloadPids().length === 0, { timeoutMs: 10_000, what: 'every workload process of the suite to exit' });
    if (this.dockerd) await until(async () => (await this.containers()).length === 0, { timeoutMs: 10_000, what: 'every container to be removed' });
  }

  /**
   * The live workload processes of this suite (optionally of one App) on this machine, found in /proc
   * by the marker in their environment. Every workload of these tests ends in `exec busybox ...`, so
   * only busybox processes count: the process driver's wrapper shells (/bin/sh) and the short-lived
   * helpers a command runs before its exec (mkdir) are left out, and each task counts once.
   */
  workloadPids(app?: string): number[] {
    const marker = `${SUITE_ENV}=${this.options.suite}`;
    const parents = new Map<number, number>();
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const environ = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
        if (!environ.includes(marker) || (app !== undefined && !environ.includes(`CAPSTAN_APP=${app}`))) continue;
        const argv0 = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0')[0];
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        if (argv0 === 'busybox' && state !== 'Z') parents.set(Number(entry), Number(ppid));
      } catch {
        // gone meanwhile
      }
    }
    // busybox httpd forks a child per connection (kept while the client keeps the connection alive):
    // a process whose parent is a workload is part of that workload.
    return [...parents].filter(([, ppid]) => !parents.has(ppid)).map(([pid]) => pid);
  }

  /** Containers on the private dockerd (all, or one App's), running or not. */
  async containers(app?: string) {
    if (!this.dockerd) return [];
    const label = app === undefined ? [LABELS.node] : [`${LABELS.app}=${app}`];
    return this.dockerd.docker.listContainers({ all: true, filters: { label } });
  }

  async stop(): Promise<void> {
    this.watch?.unsubscribe();
    await this.tasks.stop();
    await this.controllers.stop().catch(() => undefined);
    await Promise.all([...this.agents.values()].map((a) => a.kill()));
    for (const node of this.options.nodes) await removeProcessTasks(this.stateDir(node.name));
    rmSync(this.stateRoot, { recursive: true, force: true });
    await this.dockerd?.stop();
    this.client.close();
    await this.etcd.stop();
  }
}

/** A process or container that serves `hello-<task name>` on $PORT0 with busybox httpd. */
export const HTTPD = (home: string) => `mkdir -p ${home} && echo hello-$CAPSTAN_TASK_NAME > ${home}/index.html && exec busybox httpd -f -p $PORT0 -h ${home}`;

export async function answersHttp(port: number, host = '127.0.0.1'): Promise<string | undefined> {
  try {
    const response = await fetch(`http://${host}:${port}/`, { signal: AbortSignal.timeout(500) });
    return await response.text();
  } catch {
    return undefined;
  }
}

/** Whether a process exists and has not exited (a zombie waiting for its reaper counts as gone). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !['Z', 'X'].includes(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3));
  } catch {
    return false;
  }
}

/** Tasks per node, and per value of a node attribute. */
export function countBy(tasks: readonly Task[], key: (t: Task) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const task of tasks) counts[key(task)] = (counts[key(task)] ?? 0) + 1;
  return counts;
}

/** No two Running tasks on one node share a host port; returns the clashes found (none expected). */
export function portClashes(tasks: readonly Task[]): string[] {
  const seen = new Map<string, string>();
  const clashes: string[] = [];
  for (const task of tasks.filter((t) => t.status?.phase === 'Running')) {
    for (const port of task.spec.hostPorts ?? []) {
      const key = `${task.spec.nodeName}:${port}`;
      const other = seen.get(key);
      if (other) clashes.push(`${key} held by ${other} and ${task.metadata.name}`);
      seen.set(key, task.metadata.name);
    }
  }
  return clashes;
}

/**
 * A TestCluster for a test file, as `useStore` is a store: started in beforeAll, reset after each
 * test, stopped in afterAll. Read it from a hook or a test, not at the file's top level.
 */
export function useCluster(options: ClusterOptions): TestCluster {
  let started: TestCluster | undefined;
  beforeAll(async () => {
    started = await TestCluster.start(options);
  }, 60_000);
  afterEach(async () => {
    await started?.reset();
  }, 30_000);
  afterAll(async () => {
    await started?.stop();
  }, 60_000);
  return new Proxy({} as TestCluster, {
    get(_target, property) {
      if (!started) throw new Error('useCluster: the cluster is started in beforeAll; read it from a hook or a test');
      const value = Reflect.get(started, property, started) as unknown;
      return typeof value === 'function' ? value.bind(started) : value;
    },
  });
}
