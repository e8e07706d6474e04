// Host ports that something outside Capstan holds on a node (issue 12, point 9): a real agent process
// (process driver) reports them in its Node's status.portsInUse, the scheduler hands them to no task,
// a task whose port is taken between placement and start is failed before it starts with the reason,
// and a task that still loses its bind is replaced on another port. The "outside" holders are plain
// listeners opened by this test process.
//
// The agent scans its sockets at start, after a failed task, and here only every 600 s otherwise:
// a port taken after the start is unknown to the scheduler until a task fails on it, which is the
// race these tests need, made deterministic.
import { createServer, type Server } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readEphemeralRange } from '../runtime/agent/ports-in-use.ts';
import { startAgentProcess } from './helpers/agent-process.ts';
import { capstan } from './helpers/cli.ts';
import { answersHttp, HTTPD, TestCluster, type Node, type Task } from './helpers/cluster.ts';
import { until } from './helpers/poll.ts';

// Names and ports unique to this file: vitest runs test files in parallel on one machine.
const NODE = 'pt-n1';
const RANGE = { from: 24600, to: 24609 };

const WEB = { driver: 'process', containers: [{ cmd: HTTPD('www'), resources: { cpus: 0.1, mem: 16 } }], ports: [{ name: 'http' }] };

let cluster: TestCluster;
const listeners: Server[] = [];

/** A plain TCP listener of this process: a port held outside Capstan. */
async function hold(port: number, host = '127.0.0.1'): Promise<Server> {
  const server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, exclusive: true }, () => resolve());
  });
  listeners.push(server);
  return server;
}

async function portsInUse(): Promise<number[]> {
  return (await cluster.store.get<Node>('Node', { name: NODE }))?.status?.portsInUse ?? [];
}

/** The lowest port of the range the scheduler would hand out now: neither reported in use nor held by a task. */
async function lowestFreePort(): Promise<number> {
  const reported = new Set(await portsInUse());
  const tasks = (await cluster.store.list<Task>('Task', { namespace: cluster.namespace })).items;
  const held = new Set(tasks.flatMap((t) => t.spec.hostPorts ?? []));
  for (let port = RANGE.from; port <= RANGE.to; port += 1) if (!reported.has(port) && !held.has(port)) return port;
  throw new Error('no free port left in the test range');
}

beforeAll(async () => {
  // Held before the agent starts: its first scan finds it.
  await hold(RANGE.from);
  cluster = await TestCluster.start({
    suite: `ports-${process.pid}`,
    nodes: [{ name: NODE, ports: `${RANGE.from}-${RANGE.to}`, extraArgs: ['--ports-scan-interval', '600'] }],
    leaseTtlSeconds: 1,
  });
});

afterEach(async () => {
  expect([...cluster.portClashesSeen]).toEqual([]);
  await cluster.reset();
});

afterAll(async () => {
  await cluster?.stop();
  await Promise.all(listeners.map((server) => new Promise((resolve) => server.close(resolve))));
});

describe('host ports held outside Capstan', () => {
  it('reports a held port in the Node status, and a hostPort 0 task lands on another port and serves', async () => {
    await until(async () => (await portsInUse()).includes(RANGE.from), { timeoutMs: 10_000, what: `node ${NODE} to report port ${RANGE.from} in use` });
    expect(await portsInUse()).toEqual([RANGE.from]);
    const described = await capstan(['describe', 'node', NODE], { etcd: cluster.etcd.url });
    expect(described.stdout).toMatch(new RegExp(`Host ports in use outside Capstan \\(skipped by the scheduler\\):\\n  ${RANGE.from}\\n`));

    await cluster.createApp('skip', { ...WEB, instances: 1 });
    const [task] = await cluster.untilRunning('skip', 1);
    expect(task!.spec.hostPorts).toEqual([RANGE.from + 1]);
    const body = await until(() => answersHttp(RANGE.from + 1), { timeoutMs: 5_000, what: 'the task to answer HTTP' });
    expect(body).toBe(`hello-${task!.metadata.name}\n`);
  });

  it('does not start a task asking for the held port as its fixed host port, and says why', async () => {
    await until(async () => (await portsInUse()).includes(RANGE.from), { timeoutMs: 10_000, what: `node ${NODE} to report port ${RANGE.from} in use` });
    await cluster.createApp('fixed', { ...WEB, instances: 1, ports: [{ name: 'http', hostPort: RANGE.from }] });
    const [task] = await until(
      async () => {
        const tasks = await cluster.tasksOf('fixed');
        return tasks.length === 1 && tasks[0]!.status?.message?.includes('in use outside Capstan') && tasks;
      },
      { timeoutMs: 10_000, what: 'the fixed-port task to say why it is not placed' },
    );
    expect(task!.status?.message).toBe(`0/1 nodes fit: 1 port ${RANGE.from} in use outside Capstan`);
    expect(task!.spec.nodeName).toBeUndefined();
    expect(task!.status?.phase).toBe('Pending');
    expect(cluster.workloadPids('fixed')).toEqual([]);
  });

  it('fails a task whose port was taken after placement before starting it, and runs its replacement on another port', async () => {
    const port = await lowestFreePort();
    // Taken after the agent's last scan: the scheduler does not know, and places the task on it.
    await hold(port);
    await cluster.createApp('race', { ...WEB, instances: 1 });

    const failed = await until(
      async () => (await cluster.tasksOf('race')).find((t: Task) => t.status?.phase === 'Failed'),
      { timeoutMs: 15_000, what: 'the task placed on the taken port to fail' },
    );
    expect(failed.spec.hostPorts).toEqual([port]);
    expect(failed.status?.message).toBe(`host port ${port} is in use on node ${NODE} by a process outside Capstan`);
    // Never started: no workload ran, so there was no crash loop on the port.
    expect(failed.status?.runtime).toBeUndefined();
    expect(await portsInUse()).toContain(port);

    const [replacement] = await cluster.untilRunning('race', 1, { timeoutMs: 20_000 });
    expect(replacement!.spec.hostPorts![0]).not.toBe(port);
    const body = await until(() => answersHttp(replacement!.spec.hostPorts![0]!), { timeoutMs: 5_000, what: 'the replacement to answer HTTP' });
    expect(body).toBe(`hello-${replacement!.metadata.name}\n`);
  });

  it('replaces a task that still fails to bind its port on another port, the port reported in use', async () => {
    const port = await lowestFreePort();
    // Held on another loopback address: the agent's check binds the node's address (127.0.0.1) and
    // succeeds, but the workload binds the wildcard address and fails, as a race after the check would.
    await hold(port, '127.0.0.2');
    await cluster.createApp('late', { ...WEB, instances: 1 });

    const failed = await until(
      async () => (await cluster.tasksOf('late')).find((t: Task) => t.status?.phase === 'Failed'),
      { timeoutMs: 15_000, what: 'the task that cannot bind to fail' },
    );
    expect(failed.spec.hostPorts).toEqual([port]);
    // Started, and failed by itself: its workload ran.
    expect(failed.status?.runtime).toBeDefined();
    expect(await portsInUse()).toContain(port);

    const [replacement] = await cluster.untilRunning('late', 1, { timeoutMs: 20_000 });
    expect(replacement!.spec.hostPorts![0]).not.toBe(port);
    const tasks = await cluster.tasksOf('late');
    expect(tasks.filter((t) => t.spec.hostPorts?.[0] === port)).toHaveLength(1);
  });

  it("keeps an agent's log server off its task ports, and warns when they overlap the kernel's ephemeral range", async () => {
    // The whole ephemeral range: every port the kernel hands out for port 0 is a task port here.
    const ephemeral = await readEphemeralRange();
    const range = `${ephemeral.from}-${ephemeral.to}`;
    const agent = startAgentProcess({
      etcd: cluster.etcd.url,
      node: 'pt-n2',
      stateDir: cluster.stateDir('pt-n2'),
      dockerSocket: '/nonexistent/docker.sock',
      extraArgs: ['--drivers', 'process', '--ports', range],
    });
    try {
      await agent.started;
      expect(agent.stderr()).toContain(`task port range ${range} overlaps the kernel's ephemeral range`);
      const endpoint = await until(async () => (await cluster.store.get<Node>('Node', { name: 'pt-n2' }))?.status?.agentEndpoint, { what: 'node pt-n2 to say where its log server is' });
      const port = Number(new URL(endpoint).port);
      expect(port < ephemeral.from || port > ephemeral.to, `log server on ${port}`).toBe(true);
    } finally {
      await agent.terminate();
      await cluster.store.delete('Node', { name: 'pt-n2' });
    }
  });
});
