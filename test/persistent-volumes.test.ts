// A resident App's data on local persistent volumes, with the real controllers and two real agents
// (`capstan agent` OS processes, process driver, real etcd): three instance slots of a counter, each
// appending a line per start to a file on its slot's volume and serving it over HTTP. What the
// scheduler and volumes controller do on simulated nodes is in volume-slots.test.ts, one agent's
// directories in pods.test.ts, the manifest and a task's replacement in manifests-pods.test.ts;
// here, with real agents: a rolling upgrade keeps every slot's data and node, a kill -9 of an agent
// is adopted with its data, and an agent lost for good leaves its slot waiting (never recreated
// empty elsewhere) until the user wipes the volume, after which the slot starts empty on the live node.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { Informer } from '../api/informer.ts';
import { isTerminal } from '../api/kinds/task.ts';
import type { VolumeSpec, VolumeStatus } from '../api/kinds/volume.ts';
import { getCondition, type CapstanObject } from '../api/object.ts';
import { removeProcessTasks } from './helpers/agent-process.ts';
import { capstan } from './helpers/cli.ts';
import { alive, useCluster, type Task } from './helpers/cluster.ts';
import { until } from './helpers/poll.ts';

type Volume = CapstanObject<VolumeSpec, VolumeStatus>;

// Node names and port ranges of this file's own: vitest runs test files in parallel on one machine.
const NODES = ['pv-n1', 'pv-n2'];
const cluster = useCluster({
  suite: `persistent-volumes-${process.pid}`,
  nodes: [
    { name: 'pv-n1', ports: '29610-29629' },
    { name: 'pv-n2', ports: '29630-29649' },
  ],
  leaseTtlSeconds: 1,
});
const run = (...args: string[]) => capstan(args, { etcd: cluster.etcd.url });
/** The Apps a test made: deleted with their volumes after it (the cluster's reset keeps Volumes, as `delete app` does). */
const made: string[] = [];

afterEach(async () => {
  for (const app of made.splice(0)) {
    const deleted = await run('delete', 'app', app, '--wipe', '--wait', '--timeout', '60s');
    expect(deleted.code, deleted.stderr).toBe(0);
  }
}, 90_000);

/**
 * A counter with three slots: each start appends `start N: <task> <VERSION>` to data/starts.txt on
 * its slot's persistent volume, and busybox httpd serves the file, healthy once it does.
 */
async function createCounter(name: string, extra: Record<string, unknown> = {}): Promise<void> {
  made.push(name);
  await cluster.createApp(name, {
    instances: 3,
    driver: 'process',
    backoffSeconds: 0,
    drainTimeoutSeconds: 0,
    containers: [
      {
        name: 'main',
        cmd: [
          'touch data/starts.txt',
          'n=$(( $(busybox wc -l < data/starts.txt) + 1 ))',
          'echo "start $n: $CAPSTAN_TASK_NAME $VERSION" >> data/starts.txt',
          'exec busybox httpd -f -p $PORT_HTTP -h data',
        ].join('\n'),
        env: { VERSION: 'v1' },
        resources: { cpus: 0.05, mem: 16 },
        volumeMounts: [{ name: 'data', mountPath: 'data' }],
      },
    ],
    ports: [{ name: 'http' }],
    volumes: [{ name: 'data', persistent: { size: 16 } }],
    healthChecks: [{ protocol: 'HTTP', portName: 'http', path: '/starts.txt', gracePeriodSeconds: 30, intervalSeconds: 1, timeoutSeconds: 1, delaySeconds: 0 }],
    ...extra,
  });
}

/** The file a slot's task serves from its volume. */
async function served(task: Task): Promise<string | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${task.spec.hostPorts![0]}/starts.txt`, { signal: AbortSignal.timeout(1000) });
    return response.ok ? await response.text() : undefined;
  } catch {
    return undefined;
  }
}

/** Waits until the task serves exactly `text`: a workload that keeps running keeps its file. */
async function untilServed(task: Task, text: string): Promise<void> {
  let last: string | undefined;
  await until(async () => (last = await served(task)) === text, { timeoutMs: 10_000, intervalMs: 250, what: `${task.metadata.name} to serve ${JSON.stringify(text)}` }).catch(
    (error: Error) => Promise.reject(new Error(`${error.message}; it served ${JSON.stringify(last)}`)),
  );
}

const healthy = (task: Task) => getCondition(task.status?.conditions, 'Healthy')?.status === 'True';
const lines = (...starts: [task: string, version: string][]) => starts.map(([task, version], i) => `start ${i + 1}: ${task} ${version}\n`).join('');

interface Slot {
  task: Task;
  text: string;
}

/** Waits until the App has exactly `count` live tasks, all Running, healthy and serving their file, and `ready` holds; by slot. */
async function untilServing(app: string, count: number, what: string, ready: (slots: Slot[]) => boolean = () => true): Promise<Slot[]> {
  try {
    return await until(
      async () => {
        const live = await cluster.liveTasksOf(app);
        if (live.length !== count || !live.every((t) => t.status?.phase === 'Running' && healthy(t) && t.spec.slot !== undefined)) return undefined;
        const texts = await Promise.all(live.map(served));
        if (texts.some((text) => text === undefined)) return undefined;
        const slots = live.map((task, i) => ({ task, text: texts[i]! })).sort((a, b) => a.task.spec.slot! - b.task.spec.slot!);
        return ready(slots) ? slots : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 250, what: `${app}: ${what}` },
    );
  } catch (error) {
    throw new Error(`${(error as Error).message}\n${await cluster.describe()}`, { cause: error });
  }
}

/** The three slots first started: one line each, slots 0..2, on both nodes (spread). */
async function firstStarts(app: string): Promise<Slot[]> {
  const slots = await untilServing(app, 3, '3 slots serving their first start');
  expect(slots.map((s) => s.task.spec.slot)).toEqual([0, 1, 2]);
  for (const { task, text } of slots) expect(text).toBe(lines([task.metadata.name, 'v1']));
  expect(new Set(slots.map((s) => s.task.spec.nodeName))).toEqual(new Set(NODES));
  return slots;
}

const volumesOf = async (app: string) =>
  (await cluster.store.list<Volume>('Volume', { namespace: cluster.namespace, labelSelector: `capstan.io/app=${app}` })).items.sort((a, b) => a.spec.slot - b.spec.slot);

/**
 * Every change of every Task, checked as it happens: no slot of `app` ever held by two live tasks at
 * once, and no task of a slot bound anywhere but the slot's node (`nodes`, by slot).
 */
async function watchSlots(app: string, nodes: readonly string[]) {
  const tasks = new Informer(cluster.client, cluster.store.kind('Task'));
  const seen = new Set<string>();
  /** Every task seen holding a slot: the check above ran on them. */
  const holdersSeen = new Set<string>();
  const subscription = tasks.events$.subscribe(() => {
    const holders = (tasks.list() as unknown as Task[]).filter((t) => t.spec.app === app && t.spec.slot !== undefined && t.spec.nodeName && !isTerminal(t.status?.phase));
    for (const task of holders) {
      const slot = task.spec.slot!;
      holdersSeen.add(task.metadata.name);
      if (task.spec.nodeName !== nodes[slot]) seen.add(`task ${task.metadata.name} of slot ${slot} bound to ${task.spec.nodeName}, not ${nodes[slot]}`);
      const sharing = holders.filter((t) => t.spec.slot === slot).map((t) => t.metadata.name);
      if (sharing.length > 1) seen.add(`slot ${slot} held by ${sharing.join(' and ')}`);
    }
  });
  await tasks.start();
  return {
    seen,
    holdersSeen,
    stop: async () => {
      subscription.unsubscribe();
      await tasks.stop();
    },
  };
}

it("a rolling upgrade (an env var changed) replaces each slot's task in place: every file keeps its earlier line, every slot stays on its node", async () => {
  await createCounter('upgraded');
  const before = await firstStarts('upgraded');
  const volumes = await volumesOf('upgraded');
  const nodes = before.map((s) => s.task.spec.nodeName!);
  expect(volumes.map((v) => [v.spec.slot, v.spec.nodeName])).toEqual(nodes.map((node, slot) => [slot, node]));

  const watch = await watchSlots('upgraded', nodes);
  let after: Slot[] = [];
  try {
    const app = await cluster.store.mustGet<CapstanObject<{ containers: { env: Record<string, string> }[] }>>('App', { namespace: cluster.namespace, name: 'upgraded' });
    const [container] = app.spec.containers;
    await cluster.store.update({ ...app, spec: { ...app.spec, containers: [{ ...container!, env: { ...container!.env, VERSION: 'v2' } }] } });
    after = await untilServing('upgraded', 3, 'every slot replaced by revision 2 and serving', (slots) =>
      slots.every((s) => s.task.spec.revision === 2 && s.text.includes(' v2\n')),
    );
    for (const [slot, { task, text }] of after.entries()) {
      expect(task.spec.nodeName).toBe(nodes[slot]);
      expect(text).toBe(lines([before[slot]!.task.metadata.name, 'v1'], [task.metadata.name, 'v2']));
    }
  } finally {
    await watch.stop();
  }
  expect([...watch.seen]).toEqual([]);
  expect(watch.holdersSeen).toEqual(new Set([...before, ...after].map((s) => s.task.metadata.name)));
  // The same Volumes throughout, each now Bound to its slot's new task.
  const bound = await until(
    async () => {
      const now = await volumesOf('upgraded');
      return now.every((v) => v.status?.phase === 'Bound' && v.status.task && !before.some((s) => s.task.metadata.name === v.status!.task)) && now;
    },
    { timeoutMs: 15_000, intervalMs: 250, what: 'every Volume Bound to its new task' },
  );
  expect(bound.map((v) => v.metadata.uid)).toEqual(volumes.map((v) => v.metadata.uid));
}, 180_000);

it('kill -9 of an agent: the restarted agent adopts its tasks (same pid) with their data, and a task it then loses is replaced on its volume', async () => {
  // Long enough that the agent's restart never turns its tasks Lost.
  await createCounter('adopted', { unreachableStrategy: { inactiveAfterSeconds: 60, expungeAfterSeconds: 120 } });
  const before = await firstStarts('adopted');
  const node = 'pv-n1';
  const mine = before.filter((s) => s.task.spec.nodeName === node);
  const pids = new Map(mine.map(({ task }) => [task.metadata.name, task.status!.containers![0]!.pid!]));
  expect(pids.size).toBeGreaterThan(0);

  await cluster.killAgent(node);
  await cluster.untilNodeReady(node, false);
  // No agent runs there: its workloads go on serving their volumes by themselves.
  for (const { task, text } of mine) await untilServed(task, text);
  await cluster.startAgent(node);

  // Adopted: the same tasks, started once, by the same processes, serving the same files.
  const adopted = await untilServing('adopted', 3, 'the same tasks serving after the restart');
  expect(adopted.map((s) => s.task.metadata.name)).toEqual(before.map((s) => s.task.metadata.name));
  for (const [slot, { task, text }] of adopted.entries()) {
    expect(text).toBe(before[slot]!.text);
    expect(task.status?.startedAt).toBe(before[slot]!.task.status?.startedAt);
  }
  for (const [name, pid] of pids) {
    expect(alive(pid)).toBe(true);
    expect(adopted.find((s) => s.task.metadata.name === name)!.task.status!.containers![0]!.pid).toBe(pid);
  }

  // The restarted agent watches what it adopted: its workload killed, the slot's next task starts on
  // the same volume and finds the first start's line.
  const [victim] = mine;
  process.kill(pids.get(victim!.task.metadata.name)!, 'SIGKILL');
  const slot = victim!.task.spec.slot!;
  const replaced = await untilServing('adopted', 3, `slot ${slot} replaced on its volume`, (slots) => slots[slot]!.task.metadata.name !== victim!.task.metadata.name);
  expect(replaced[slot]!.task.spec.nodeName).toBe(node);
  expect(replaced[slot]!.text).toBe(lines([victim!.task.metadata.name, 'v1'], [replaced[slot]!.task.metadata.name, 'v1']));
  const failed = (await cluster.tasksOf('adopted')).find((t) => t.metadata.name === victim!.task.metadata.name);
  if (failed) expect(failed.status).toMatchObject({ phase: 'Failed', signal: 'SIGKILL' });
}, 180_000);

it('scale 3 → 1 → 3: the slots scaled away keep their volumes (Reserved), and the scale-up brings them back on them, data and node', async () => {
  await createCounter('rescaled');
  const before = await firstStarts('rescaled');
  const volumes = await volumesOf('rescaled');

  const down = await run('scale', 'rescaled', '1');
  expect(down.code, down.stderr).toBe(0);
  expect(down.stdout).toContain('the volumes of slots 1 and above are kept (Reserved) with their data');
  await untilServing('rescaled', 1, 'one slot left serving', (slots) => slots[0]!.task.metadata.name === before[0]!.task.metadata.name);
  const reserved = await until(
    async () => {
      const now = await volumesOf('rescaled');
      return now.filter((v) => v.spec.slot > 0).every((v) => v.status?.phase === 'Reserved') && now;
    },
    { timeoutMs: 15_000, intervalMs: 250, what: 'the volumes of slots 1 and 2 Reserved' },
  );
  expect(reserved.map((v) => v.metadata.uid)).toEqual(volumes.map((v) => v.metadata.uid));
  expect((await run('get', 'volumes')).stdout).toMatch(/^rescaled-data-2\s+rescaled\s+2\s+\S+\s+16Mi\s+Reserved\s/m);

  const up = await run('scale', 'rescaled', '3');
  expect(up.code, up.stderr).toBe(0);
  const after = await untilServing('rescaled', 3, 'three slots serving again', (slots) => slots.slice(1).every((s, i) => s.task.metadata.name !== before[i + 1]!.task.metadata.name));
  for (const slot of [1, 2]) {
    // The kept volume, on its node, with the first task's line and the new one's after it.
    expect(after[slot]!.task.spec.nodeName).toBe(before[slot]!.task.spec.nodeName);
    expect(after[slot]!.text).toBe(lines([before[slot]!.task.metadata.name, 'v1'], [after[slot]!.task.metadata.name, 'v1']));
  }
  expect(after[0]).toMatchObject({ task: { metadata: { name: before[0]!.task.metadata.name } }, text: before[0]!.text });
  expect((await volumesOf('rescaled')).map((v) => v.metadata.uid)).toEqual(volumes.map((v) => v.metadata.uid));
}, 180_000);

it("two Apps asking for more disk than a node has: the second stays Pending with the reason, the agent's disk counted by the scheduler", async () => {
  // Each agent reports the free space of its volumes directory (--disk auto): sizes just over half of
  // the smaller node's, so each node takes one such volume and no more.
  const disks = await Promise.all(NODES.map(async (name) => ((await cluster.store.mustGet('Node', { name })).spec as { capacity: { disk: number } }).capacity.disk));
  const size = Math.floor(Math.min(...disks) * 0.6);
  expect(size).toBeGreaterThan(16);
  await createCounter('roomy', { instances: 2, volumes: [{ name: 'data', persistent: { size } }] });
  await untilServing('roomy', 2, 'both slots serving, one on each node');
  await createCounter('cramped', { instances: 1, volumes: [{ name: 'data', persistent: { size } }] });
  const pending = await until(async () => (await cluster.liveTasksOf('cramped')).find((t) => !t.spec.nodeName && t.status?.message?.includes('insufficient disk')), {
    timeoutMs: 30_000,
    intervalMs: 250,
    what: 'the second App Pending for disk',
  });
  expect(pending.status?.message).toMatch(new RegExp(`^0/2 nodes fit: .*node pv-n1: insufficient disk \\(wants ${size} MiB`));
  expect(pending.status?.message).toContain(`${cluster.namespace}/roomy ${size}`);
  // Nothing made for the App that did not fit.
  expect(await volumesOf('cramped')).toEqual([]);
}, 120_000);

// Last in the file: it takes an agent away.
it("an agent lost: its slot waits for its node while the others serve; deleting the volume alone starts the slot empty on the live node, and the returning agent removes the old directory", async () => {
  await createCounter('stranded', { unreachableStrategy: { inactiveAfterSeconds: 1, expungeAfterSeconds: 3 } });
  const before = await firstStarts('stranded');
  // Three slots on two nodes: the node with one of them is lost.
  const lone = before.filter((s) => before.filter((o) => o.task.spec.nodeName === s.task.spec.nodeName).length === 1);
  expect(lone).toHaveLength(1);
  const { task: lostTask } = lone[0]!;
  const lostNode = lostTask.spec.nodeName!;
  const liveNode = NODES.find((n) => n !== lostNode)!;
  const slot = lostTask.spec.slot!;
  const volumeName = `stranded-data-${slot}`;
  const oldVolume = (await volumesOf('stranded'))[slot]!;
  expect(oldVolume.metadata.name).toBe(volumeName);

  // The machine is gone: its agent and its workloads.
  await cluster.killAgent(lostNode);
  await removeProcessTasks(cluster.stateDir(lostNode));
  await cluster.untilNodeReady(lostNode, false);

  // The slot's replacement waits for the node, never placed on the live node with an empty volume.
  const waiting = await until(
    async () => (await cluster.liveTasksOf('stranded')).find((t) => !t.spec.nodeName && t.status?.message?.startsWith('waiting for node')),
    { timeoutMs: 30_000, intervalMs: 250, what: `slot ${slot}'s replacement Pending, waiting for ${lostNode}` },
  );
  expect(waiting.status?.message).toBe(`waiting for node ${lostNode}, which holds volume ${volumeName} (slot ${slot}): the node is not ready; wipe the volume (capstan delete volume ${volumeName}) to free the slot`);
  const waitingVolume = await until(async () => (await volumesOf('stranded')).find((v) => v.spec.slot === slot && v.status?.phase === 'Waiting'), {
    timeoutMs: 15_000,
    intervalMs: 250,
    what: `${volumeName} Waiting`,
  });
  expect(waitingVolume.status?.message).toBe(`node ${lostNode} is not ready: slot ${slot} waits for it; \`capstan delete volume ${volumeName}\` frees the slot (its data is lost)`);
  expect((await run('get', 'volumes')).stdout).toMatch(new RegExp(`^${volumeName}\\s+stranded\\s+${slot}\\s+${lostNode}\\s+16Mi\\s+Waiting\\s`, 'm'));
  expect((await run('describe', 'app', 'stranded')).stdout).toContain(`node ${lostNode} is not ready: slot ${slot} waits for it`);
  // The other slots keep serving, the same tasks with the same files.
  const others = before.filter((s) => s.task.spec.slot !== slot);
  for (const { task, text } of others) await untilServed(task, text);
  expect((await cluster.liveTasksOf('stranded')).filter((t) => t.spec.nodeName).map((t) => t.metadata.name).sort()).toEqual(others.map((s) => s.task.metadata.name).sort());
  expect((await volumesOf('stranded')).map((v) => v.spec.nodeName)).toEqual(before.map((s) => s.task.spec.nodeName));

  // The user gives up on the data: `delete volume` alone frees the slot. The node's agent, which
  // would remove the directory, is away, so the volumes controller releases the Volume without it.
  const deleted = await run('delete', 'volume', volumeName);
  expect(deleted).toMatchObject({ code: 0, stderr: '' });
  expect(deleted.stdout).toContain(`volume/${volumeName} marked for deletion: its node ${lostNode} is not ready, so the volumes controller releases it now and slot ${slot} starts again`);

  // A fresh Volume of the slot on the live node, and the slot starts again: an empty file.
  const fresh = await until(
    async () => {
      const volume = (await volumesOf('stranded')).find((v) => v.spec.slot === slot);
      return volume && volume.metadata.uid !== oldVolume.metadata.uid && volume;
    },
    { timeoutMs: 60_000, intervalMs: 250, what: `a new ${volumeName}` },
  );
  expect(fresh.spec.nodeName).toBe(liveNode);
  expect((await run('get', 'events')).stdout).toMatch(new RegExp(`VolumeReleased\\s+volume/${volumeName}\\s+node ${lostNode} is not ready`));
  // Released without its agent, as the message said: the old directory stays on the lost machine...
  const oldDir = oldVolume.status!.hostPath!;
  expect(oldDir.startsWith(cluster.stateDir(lostNode))).toBe(true);
  expect(existsSync(join(oldDir, 'starts.txt'))).toBe(true);
  const after = await untilServing('stranded', 3, `slot ${slot} serving again on ${liveNode}`, (slots) => slots[slot]!.task.metadata.name !== lostTask.metadata.name);
  expect(after[slot]!.task.spec.nodeName).toBe(liveNode);
  expect(after[slot]!.text).toBe(lines([after[slot]!.task.metadata.name, 'v1']));
  for (const { task, text } of others) expect(after[task.spec.slot!]).toMatchObject({ task: { metadata: { name: task.metadata.name } }, text });
  await until(async () => (await volumesOf('stranded')).every((v) => v.status?.phase === 'Bound'), { timeoutMs: 15_000, intervalMs: 250, what: 'every Volume Bound' });

  // ...until its agent comes back: it finds the Volume gone and removes the directory.
  await cluster.startAgent(lostNode);
  await until(async () => !existsSync(oldDir), { timeoutMs: 30_000, intervalMs: 250, what: `the returning agent of ${lostNode} to remove ${oldDir}` });
}, 180_000);
