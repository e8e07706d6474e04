// manifests/pod and manifests/stateful do what their READMEs say, on one real node (a `capstan
// agent` process with a private dockerd, the built-in controllers in this process, real etcd):
// the mixed pod's Docker httpd and process container share 127.0.0.1 and a volume, and the counter
// keeps each slot's file on its persistent volume across a task's replacement, and `scale --wipe`
// deletes a kept volume through its agent.
import { afterEach, expect, it } from 'vitest';
import { getCondition } from '../api/object.ts';
import { capstan } from './helpers/cli.ts';
import { useCluster, type Task } from './helpers/cluster.ts';
import { until } from './helpers/poll.ts';

// Port range and node name unique to this file: vitest runs test files in parallel on one machine.
const cluster = useCluster({ suite: `manifests-pods-${process.pid}`, nodes: [{ name: 'mp-n1', ports: '29410-29429' }], docker: true, leaseTtlSeconds: 1 });
const run = (...args: string[]) => capstan(args, { etcd: cluster.etcd.url });
const tasksOf = async (namespace: string, app: string) =>
  (await cluster.store.list<Task>('Task', { namespace, labelSelector: `capstan.io/app=${app}` })).items.filter((t) => !t.metadata.deletionTimestamp);
const running = (tasks: Task[]) => tasks.filter((t) => t.status?.phase === 'Running');
const healthy = (task: Task) => getCondition(task.status?.conditions, 'Healthy')?.status === 'True';

async function page(port: number, path: string): Promise<string | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(1000) });
    return response.ok ? await response.text() : undefined;
  } catch {
    return undefined;
  }
}

// The cluster's own reset empties its namespace only: these Apps live in the manifests' namespaces.
afterEach(async () => {
  await run('-n', 'pod', 'delete', 'app', 'hello', '--wait', '--timeout', '30s');
  await run('-n', 'stateful', 'delete', 'app', 'counter', '--wipe', '--wait', '--timeout', '30s');
}, 70_000);

it('the pod: fetch (a process) reads the page it wrote into the shared volume from web (Docker) over localhost', async () => {
  const applied = await run('apply', '-f', 'manifests/pod/');
  expect(applied).toMatchObject({ code: 0, stderr: '' });
  // Healthy means both checks pass: web answers HTTP, and the COMMAND check run in fetch found the page fetch got through web.
  const [task] = await until(async () => {
    const tasks = running(await tasksOf('pod', 'hello'));
    return tasks.length === 1 && healthy(tasks[0]!) ? tasks : undefined;
  }, { timeoutMs: 90_000, intervalMs: 250, what: 'pod/hello Running and Healthy' });
  expect(task!.status?.containers?.map((c) => [c.name, c.runtime, c.state])).toEqual([
    ['web', 'docker', 'Running'],
    ['fetch', 'process', 'Running'],
  ]);
  expect(await page(task!.spec.hostPorts![0]!, '/')).toContain(`hello from ${task!.metadata.name}, written by fetch`);
  const logs = await run('-n', 'pod', 'logs', task!.metadata.name, '-c', 'fetch');
  expect(logs.stdout).toContain(`hello from ${task!.metadata.name}, written by fetch`);
}, 120_000);

it('the counter: each slot serves its own file from its volume, a replaced task appends to the same file, scale --wipe deletes a kept volume', async () => {
  expect(await run('apply', '-f', 'manifests/stateful/')).toMatchObject({ code: 0, stderr: '' });
  const tasks = await until(async () => {
    const live = running(await tasksOf('stateful', 'counter'));
    return live.length === 2 ? live : undefined;
  }, { timeoutMs: 60_000, intervalMs: 250, what: 'stateful/counter 2 Running' });
  for (const task of tasks) await until(async () => (await page(task.spec.hostPorts![0]!, '/starts.txt'))?.includes('start 1 of this slot'), { intervalMs: 250, what: `${task.metadata.name} serving` });
  const volumes = await run('-n', 'stateful', 'get', 'volumes');
  expect(volumes.stdout).toMatch(/^counter-data-0\s+counter\s+0\s+mp-n1\s+64Mi\s/m);
  expect(volumes.stdout).toMatch(/^counter-data-1\s+counter\s+1\s+mp-n1\s+64Mi\s/m);

  const first = tasks.find((t) => t.spec.slot === 0)!;
  await cluster.store.delete('Task', { namespace: 'stateful', name: first.metadata.name });
  const replacement = await until(async () => running(await tasksOf('stateful', 'counter')).find((t) => t.spec.slot === 0 && t.metadata.name !== first.metadata.name), {
    timeoutMs: 60_000,
    intervalMs: 250,
    what: 'a new task of slot 0',
  });
  const text = await until(async () => {
    const served = await page(replacement.spec.hostPorts![0]!, '/starts.txt');
    return served?.includes('start 2 of this slot') ? served : undefined;
  }, { intervalMs: 250, what: 'slot 0 started twice on its volume' });
  expect(text).toContain(`start 1 of this slot: ${first.metadata.name}`);
  expect(text).toContain(`start 2 of this slot: ${replacement.metadata.name}`);

  // Scale-down keeps slot 1's volume; --wipe deletes it once its task has stopped, and the agent removes it.
  const down = await run('-n', 'stateful', 'scale', 'counter', '1');
  expect(down.stdout).toContain(
    'app/counter: the volumes of slots 1 and above are kept (Reserved) with their data, and a scale-up uses them again: counter-data-1. To delete them and their data: capstan -n stateful scale counter 1 --wipe',
  );
  const wiped = await run('-n', 'stateful', 'scale', 'counter', '1', '--wipe', '--timeout', '30s');
  expect(wiped).toMatchObject({ code: 0, stderr: '' });
  expect(wiped.stdout).toContain('volume/counter-data-1 marked for deletion');
  await until(async () => (await cluster.store.get('Volume', { namespace: 'stateful', name: 'counter-data-1' })) === undefined, { timeoutMs: 30_000, intervalMs: 250, what: 'the agent to remove counter-data-1' });
  expect((await run('-n', 'stateful', 'get', 'volumes', '-o', 'name')).stdout).toBe('volume/counter-data-0\n');
}, 120_000);
