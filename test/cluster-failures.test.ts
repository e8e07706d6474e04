// End to end on a real 3-node cluster (issue "Run workloads for real", item 7): what happens when
// things die. Real etcd, a private real dockerd, the built-in controllers in this process and three
// `capstan agent` OS processes with 1 s node leases. Workloads are killed with SIGKILL (a process's
// pid, a container through the Docker API), agents are killed with SIGKILL and started again with the
// same node name and state dir, and what runs is counted on the machine (/proc, docker ps by label).
// Placement, ports, both drivers and the launch backoff: test/cluster.test.ts.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { alive, answersHttp, HTTPD, TestCluster, type Task } from './helpers/cluster.ts';
import { until } from './helpers/poll.ts';

// Port ranges and names are unique to this file: vitest runs test files in parallel on one machine.
const NODES = [
  { name: 'cb-n1', ports: '24210-24229', attributes: { rack: 'r1' } },
  { name: 'cb-n2', ports: '24230-24249', attributes: { rack: 'r1' } },
  { name: 'cb-n3', ports: '24250-24269', attributes: { rack: 'r2' } },
];
const WEB = { driver: 'process', containers: [{ cmd: HTTPD('www'), resources: { cpus: 0.1, mem: 16 } }], ports: [{ name: 'http' }] };
/** The numbers for a node that goes away. */
const UNREACHABLE = { inactiveAfterSeconds: 3, expungeAfterSeconds: 6 };

let cluster: TestCluster;
const figures: string[] = [];

beforeAll(async () => {
  cluster = await TestCluster.start({ suite: `cluster-failures-${process.pid}`, nodes: NODES, docker: true, leaseTtlSeconds: 1 });
});

afterEach(async () => {
  // Agents killed by a test come back, so the next test starts on the full cluster.
  for (const node of NODES) {
    const agent = cluster.agents.get(node.name)!;
    if (agent.process.exitCode !== null || agent.process.signalCode !== null) await cluster.startAgent(node.name);
  }
  expect([...cluster.portClashesSeen]).toEqual([]);
  await cluster.reset();
});

afterAll(async () => {
  await cluster?.stop();
  console.log(figures.join('\n'));
});

/** A Running task of the App other than `old`, as soon as there is one; with the time it was seen. */
async function untilReplacement(app: string, old: readonly string[], timeoutMs: number): Promise<{ task: Task; at: number }> {
  const task = await until(
    async () => (await cluster.liveTasksOf(app)).find((t) => t.status?.phase === 'Running' && !old.includes(t.metadata.name)),
    { timeoutMs, intervalMs: 10, what: `a replacement task of ${app} to be Running` },
  );
  return { task, at: Date.now() };
}

const serving = (task: Task) => until(() => answersHttp(task.spec.hostPorts![0]!), { timeoutMs: 5_000, intervalMs: 10, what: `${task.metadata.name} to answer` });

describe('failures on a 3-node cluster of real agents', () => {
  it('replaces a process workload killed with kill -9 by a Running one within 2 s', async () => {
    await cluster.createApp('victim', { ...WEB, instances: 1 });
    const [task] = await cluster.untilRunning('victim', 1);
    await serving(task!);
    process.kill(task!.status!.runtime!.pid!, 'SIGKILL');
    const killed = Date.now();

    const replacement = await untilReplacement('victim', [task!.metadata.name], 2_000);
    const latency = replacement.at - killed;
    expect(await serving(replacement.task)).toBe(`hello-${replacement.task.metadata.name}\n`);
    figures.push(`process workload kill -9 → replacement Running: ${latency} ms, answering: ${Date.now() - killed} ms (backoffSeconds 1, the default)`);
    expect(latency).toBeLessThanOrEqual(2_000);
    const dead = (await cluster.tasksOf('victim')).find((t) => t.metadata.name === task!.metadata.name);
    expect(dead?.status).toMatchObject({ phase: 'Failed', exitCode: 137, message: 'killed by SIGKILL' });
    expect(cluster.workloadPids('victim')).toEqual([replacement.task.status!.runtime!.pid]);
  });

  it('replaces a container killed with SIGKILL by a Running one within 2 s', async () => {
    await cluster.createApp('boxed', {
      driver: 'docker',
      instances: 1,
      containers: [{ image: cluster.dockerd!.image, cmd: HTTPD('/tmp/www'), resources: { cpus: 0.1, mem: 32 } }],
      ports: [{ name: 'http' }],
    });
    const [task] = await cluster.untilRunning('boxed', 1);
    await serving(task!);
    const [container] = await cluster.containers('boxed');
    await cluster.dockerd!.docker.getContainer(container!.Id).kill({ signal: 'SIGKILL' });
    const killed = Date.now();

    const replacement = await untilReplacement('boxed', [task!.metadata.name], 2_000);
    const latency = replacement.at - killed;
    expect(await serving(replacement.task)).toBe(`hello-${replacement.task.metadata.name}\n`);
    figures.push(`container docker kill -s KILL → replacement Running: ${latency} ms, answering: ${Date.now() - killed} ms`);
    expect(latency).toBeLessThanOrEqual(2_000);
    expect((await cluster.tasksOf('boxed')).find((t) => t.metadata.name === task!.metadata.name)?.status?.phase).toBe('Failed');
    const running = (await cluster.containers('boxed')).filter((c) => c.State === 'running');
    expect(running).toHaveLength(1);
  });

  it('after kill -9 of an agent its tasks are Lost and Running elsewhere within inactiveAfterSeconds + 3 s; when the node comes back its agent kills the stale workloads', async () => {
    await cluster.createApp('spread', { ...WEB, instances: 2, constraints: [['hostname', 'UNIQUE']], unreachableStrategy: UNREACHABLE });
    const before = await cluster.untilRunning('spread', 2);
    await Promise.all(before.map(serving));
    const doomed = before[0]!;
    const node = doomed.spec.nodeName!;
    const stalePid = doomed.status!.runtime!.pid!;
    // A container on the same node, pinned there: its replacement waits for the node to come back.
    await cluster.createApp('spread-docker', {
      driver: 'docker',
      instances: 1,
      containers: [{ image: cluster.dockerd!.image, cmd: HTTPD('/tmp/www'), resources: { cpus: 0.1, mem: 32 } }],
      ports: [{ name: 'http' }],
      constraints: [['hostname', 'IS', node]],
      unreachableStrategy: UNREACHABLE,
    });
    const [boxed] = await cluster.untilRunning('spread-docker', 1);
    await serving(boxed!);
    const [staleContainer] = await cluster.containers('spread-docker');

    await cluster.killAgent(node);
    const killed = Date.now();
    const lost = await until(async () => (await cluster.tasksOf('spread')).find((t) => t.metadata.name === doomed.metadata.name && t.status?.phase === 'Lost'), {
      timeoutMs: (UNREACHABLE.inactiveAfterSeconds + 3) * 1000,
      intervalMs: 10,
      what: `${doomed.metadata.name} to be Lost`,
    });
    const lostAfter = Date.now() - killed;
    const replacement = await untilReplacement('spread', before.map((t) => t.metadata.name), (UNREACHABLE.inactiveAfterSeconds + 3) * 1000 - (Date.now() - killed));
    const replacedAfter = replacement.at - killed;
    figures.push(`agent kill -9 → task Lost: ${lostAfter} ms, replacement Running elsewhere: ${replacedAfter} ms (inactiveAfterSeconds 3, lease TTL 1 s)`);
    expect(lost.status?.message).toBe(`node ${node} unreachable for more than 3s`);
    // Not before the node had been silent for inactiveAfterSeconds (its last heartbeat is up to one TTL before the kill).
    expect(lostAfter).toBeGreaterThanOrEqual((UNREACHABLE.inactiveAfterSeconds - 1) * 1000);
    expect(replacedAfter).toBeLessThanOrEqual((UNREACHABLE.inactiveAfterSeconds + 3) * 1000);
    expect(replacement.task.spec.nodeName).not.toBe(node);
    await serving(replacement.task);
    // The dead node's workload still runs (nothing can reach it): one more process than instances, for now.
    expect(alive(stalePid)).toBe(true);
    expect(cluster.workloadPids('spread')).toHaveLength(3);
    expect((await cluster.containers('spread-docker')).map((c) => [c.Id, c.State])).toEqual([[staleContainer!.Id, 'running']]);

    // From here on the App must converge to its 2 instances and never exceed the 3 processes above.
    const restarting = Date.now();
    const counts: number[] = [];
    const restarted = cluster.startAgent(node);
    await until(
      () => {
        counts.push(cluster.workloadPids('spread').length);
        return !alive(stalePid);
      },
      { timeoutMs: 15_000, intervalMs: 10, what: 'the returning agent to kill the stale workload' },
    );
    figures.push(`dead node's agent restarted → stale workload killed: ${Date.now() - restarting} ms (including the agent's own start)`);
    await restarted;
    expect(Math.max(...counts)).toBeLessThanOrEqual(3);
    const live = await cluster.liveTasksOf('spread');
    expect(live.map((t) => t.metadata.name).sort()).toEqual([before[1]!.metadata.name, replacement.task.metadata.name].sort());
    expect(cluster.workloadPids('spread').sort()).toEqual(live.map((t) => t.status!.runtime!.pid!).sort());
    // Lost is final: the returning agent stops the workload and lets go of the task, never revives it.
    const after = (await cluster.tasksOf('spread')).find((t) => t.metadata.name === doomed.metadata.name);
    if (after) expect(after.status?.phase).toBe('Lost');
    // The stale container is stopped too, and only then does the pinned replacement start there.
    const [boxedAgain] = await cluster.untilRunning('spread-docker', 1);
    expect(boxedAgain!.metadata.name).not.toBe(boxed!.metadata.name);
    await serving(boxedAgain!);
    const containers = await cluster.containers('spread-docker');
    expect(containers.filter((c) => c.State === 'running')).toHaveLength(1);
    expect(containers.find((c) => c.Id === staleContainer!.Id)?.State ?? 'removed').not.toBe('running');
  });

  it('a node back from the dead takes a pending replacement only once its agent has stopped the stale workload: never more processes than instances, no port clash', async () => {
    // UNIQUE on 3 nodes with 3 instances: the dead node's replacement can only go back to that node.
    const patient = { inactiveAfterSeconds: 3, expungeAfterSeconds: 60 };
    // A workload that ignores SIGTERM takes its whole grace period to stop, as a real server draining
    // connections does: the stale one holds its port for 2 s after its agent is back.
    const stubborn = { ...WEB, containers: [{ cmd: `trap '' TERM; ${HTTPD('www')}`, resources: { cpus: 0.1, mem: 16 } }], taskKillGracePeriodSeconds: 2 };
    await cluster.createApp('full', { ...stubborn, instances: 3, constraints: [['hostname', 'UNIQUE']], unreachableStrategy: patient });
    const before = await cluster.untilRunning('full', 3);
    await Promise.all(before.map(serving));
    const doomed = before[0]!;
    const node = doomed.spec.nodeName!;
    const stalePid = doomed.status!.runtime!.pid!;

    await cluster.killAgent(node);
    await cluster.untilRunning('full', 2, { pending: 1, timeoutMs: 10_000 });
    expect(cluster.workloadPids('full')).toHaveLength(3);

    let staleSeenAlive = Date.now();
    const counts: number[] = [];
    const restarted = cluster.startAgent(node);
    const replacement = await until(
      async () => {
        counts.push(cluster.workloadPids('full').length);
        if (alive(stalePid)) staleSeenAlive = Date.now();
        const live = await cluster.liveTasksOf('full');
        return live.find((t) => t.spec.nodeName === node && t.status?.phase === 'Running' && t.metadata.name !== doomed.metadata.name);
      },
      { timeoutMs: 15_000, intervalMs: 5, what: `the replacement to run on ${node}` },
    );
    await restarted;
    expect(alive(stalePid)).toBe(false);
    expect(await serving(replacement)).toBe(`hello-${replacement.metadata.name}\n`);
    figures.push(`returning node: replacement started ${Date.parse(replacement.status!.startedAt!) - staleSeenAlive} ms after the stale workload was last seen alive; most processes seen at once: ${Math.max(...counts)} (3 instances)`);
    // The replacement started after the stale workload was gone, so it never had to race it for its port.
    expect(Date.parse(replacement.status!.startedAt!)).toBeGreaterThanOrEqual(staleSeenAlive - 5);
    expect(Math.max(...counts)).toBeLessThanOrEqual(3);
    expect((await cluster.tasksOf('full')).filter((t) => t.status?.phase === 'Failed')).toEqual([]);
    expect(cluster.workloadPids('full')).toHaveLength(3);
  });

  it('after kill -9 and a restart with the same name and state dir, the agent adopts its processes and containers: same pids, same container, no duplicates, no orphans', async () => {
    const node = 'cb-n1';
    const pinned = [['hostname', 'IS', node]];
    // A restart takes longer than 3 s on a loaded machine: an App that tolerates a longer absence.
    const patient = { inactiveAfterSeconds: 30, expungeAfterSeconds: 60 };
    await cluster.createApp('kept', { ...WEB, instances: 2, constraints: pinned, unreachableStrategy: patient });
    await cluster.createApp('kept-docker', {
      driver: 'docker',
      instances: 1,
      containers: [{ image: cluster.dockerd!.image, cmd: HTTPD('/tmp/www'), resources: { cpus: 0.1, mem: 32 } }],
      ports: [{ name: 'http' }],
      constraints: pinned,
      unreachableStrategy: patient,
    });
    const processes = await cluster.untilRunning('kept', 2);
    const [boxed] = await cluster.untilRunning('kept-docker', 1);
    await Promise.all([...processes, boxed!].map(serving));
    const pids = cluster.workloadPids('kept').sort();
    const containers = await cluster.containers('kept-docker');
    expect(pids).toEqual(processes.map((t) => t.status!.runtime!.pid!).sort());
    expect(containers).toHaveLength(1);

    await cluster.killAgent(node);
    const killed = Date.now();
    await cluster.startAgent(node);
    figures.push(`agent kill -9 → started again and its Node Ready: ${Date.now() - killed} ms`);

    // The restarted agent has planned every task (a pass follows its start): each is still Running with the same runtime.
    for (const task of [...processes, boxed!]) {
      const now = await until(
        async () => {
          const current = (await cluster.tasksOf(task.spec.app)).find((t) => t.metadata.name === task.metadata.name);
          return current?.status?.phase === 'Running' && current;
        },
        { what: `${task.metadata.name} to stay Running` },
      );
      expect(now.metadata.uid).toBe(task.metadata.uid);
      expect(now.status).toMatchObject({ runtime: task.status!.runtime, startedAt: task.status!.startedAt });
      expect(await answersHttp(task.spec.hostPorts![0]!)).toBe(`hello-${task.metadata.name}\n`);
    }
    expect(cluster.workloadPids('kept').sort()).toEqual(pids);
    expect((await cluster.containers('kept-docker')).map((c) => [c.Id, c.State])).toEqual([[containers[0]!.Id, 'running']]);
    // No task was replaced or added: exactly the instances, all the originals.
    expect((await cluster.tasksOf('kept')).map((t) => t.metadata.name).sort()).toEqual(processes.map((t) => t.metadata.name).sort());
    expect((await cluster.tasksOf('kept-docker')).map((t) => t.metadata.name)).toEqual([boxed!.metadata.name]);
  });
});
