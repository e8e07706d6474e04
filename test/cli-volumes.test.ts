// The commands of pods and persistent volumes against a real etcd, with no controllers and no agents:
// the test writes the Volumes and Tasks that the scheduler, the volumes controller and the agents
// would (test/volume-slots.test.ts and test/agent.test.ts run those), and plays an agent stopping a
// task by writing its phase. `get volumes`, `scale` (keeping or wiping the volumes of the slots scaled
// away), `delete volume`, `delete app` (keeping or wiping), `describe app` (containers, volumes), and
// the manifests of manifests/pod and manifests/stateful.
import { beforeEach, describe, expect, it } from 'vitest';
import { appSpecSchema, containerRuntime, isResident, templateOf, type AppSpec } from '../api/kinds/app.ts';
import { builtinRegistry } from '../api/kinds/builtin.ts';
import type { TaskSpec, TaskStatus } from '../api/kinds/task.ts';
import { volumeObjectName, type VolumeSpec, type VolumeStatus } from '../api/kinds/volume.ts';
import { APP_LABEL, VOLUME_FINALIZER } from '../api/kinds/wellknown.ts';
import type { CapstanObject } from '../api/object.ts';
import { capstan, startCapstan } from './helpers/cli.ts';
import { useStore } from './helpers/etcd.ts';
import { until } from './helpers/poll.ts';

type App = CapstanObject<AppSpec>;
type Task = CapstanObject<TaskSpec, TaskStatus>;
type Volume = CapstanObject<VolumeSpec, VolumeStatus>;
const NS = 'default';

const residentSpec = (instances: number) =>
  appSpecSchema.parse({
    instances,
    containers: [
      { name: 'web', image: 'local/busybox:1', cmd: 'httpd -f -p $PORT_HTTP -h /srv', resources: { cpus: 0.1, mem: 32 }, volumeMounts: [{ name: 'data', mountPath: '/srv', readOnly: true }] },
      { name: 'counter', cmd: 'echo start >> data/starts.txt; sleep 1000', resources: { cpus: 0.05, mem: 16 }, volumeMounts: [{ name: 'data', mountPath: 'data' }] },
    ],
    ports: [{ name: 'http' }],
    volumes: [{ name: 'data', persistent: { size: 64 } }],
  });

describe('capstan get volumes, scale --wipe, delete volume, delete app --wipe, describe app', () => {
  const db = useStore(builtinRegistry(), { clearEachTest: true });
  const run = (...args: string[]) => capstan(args, { etcd: db.etcd.url });

  /** Nodes n0..n3, Ready, as their agents and the nodes controller would have them: a Volume's line names what its node's state means. */
  beforeEach(async () => {
    for (const name of ['n0', 'n1', 'n2', 'n3']) {
      const node = await db.store.create({ apiVersion: 'capstan/v1', kind: 'Node', metadata: { name }, spec: { address: '127.0.0.1', capacity: { cpus: 4, mem: 4096 } } });
      await db.store.updateStatus({ ...node, status: { conditions: [{ type: 'Ready', status: 'True', reason: 'AgentHeartbeat', message: '', lastTransitionTime: new Date().toISOString() }] } });
    }
  });

  async function createResidentApp(name: string, instances: number) {
    await db.store.create({ apiVersion: 'capstan/v1', kind: 'App', metadata: { name, namespace: NS }, spec: residentSpec(instances) });
  }

  /** What the scheduler creates at a slot's first placement: the slot's Volume on node n<slot>. */
  async function createVolume(app: string, slot: number, status?: VolumeStatus) {
    const created = await db.store.create<Volume>({
      apiVersion: 'capstan/v1',
      kind: 'Volume',
      metadata: { name: volumeObjectName(app, 'data', slot), namespace: NS, labels: { [APP_LABEL]: app }, finalizers: [VOLUME_FINALIZER] },
      spec: { app, volume: 'data', slot, size: 64, nodeName: `n${slot}` },
    });
    if (status) await db.store.updateStatus({ ...created, status });
  }

  /** A task of the slot, bound to the slot's node and running there. */
  async function createTask(app: string, slot: number) {
    const created = await db.store.create<Task>({
      apiVersion: 'capstan/v1',
      kind: 'Task',
      metadata: { name: `${app}-1-slot${slot}`, namespace: NS, labels: { [APP_LABEL]: app } },
      spec: { app, revision: 1, template: templateOf(residentSpec(1)), nodeName: `n${slot}`, hostPorts: [31000 + slot], slot },
    });
    await db.store.updateStatus({ ...created, status: { phase: 'Running' } });
  }

  /** As the agent does once the workload has stopped. */
  async function stopTask(name: string) {
    const task = await db.store.mustGet<Task>('Task', { namespace: NS, name });
    await db.store.updateStatus({ ...task, status: { ...task.status!, phase: 'Killed' } });
  }

  const volume = (app: string, slot: number) => db.store.get<Volume>('Volume', { namespace: NS, name: volumeObjectName(app, 'data', slot) });
  const deleting = async (app: string, slot: number) => (await volume(app, slot))?.metadata.deletionTimestamp !== undefined;

  it('get volumes shows each slot: app, slot, node, size, phase, used; -o wide adds the message', async () => {
    await createVolume('db', 0, { phase: 'Bound', task: 'db-1-slot0', usedMiB: 3 });
    await createVolume('db', 1, { phase: 'Waiting', message: 'node n1 is not ready: the slot waits for it' });
    await createVolume('db', 2);

    const table = await run('get', 'volumes');
    expect(table.code).toBe(0);
    const rows = table.stdout.trimEnd().split('\n').map((row) => row.split(/\s{2,}/));
    expect(rows[0]).toEqual(['NAME', 'APP', 'SLOT', 'NODE', 'SIZE', 'PHASE', 'USED', 'AGE']);
    expect(rows.slice(1).map((row) => row.slice(0, 7))).toEqual([
      ['db-data-0', 'db', '0', 'n0', '64Mi', 'Bound', '3Mi'],
      ['db-data-1', 'db', '1', 'n1', '64Mi', 'Waiting', '-'],
      ['db-data-2', 'db', '2', 'n2', '64Mi', 'Pending', '-'],
    ]);
    const wide = await run('get', 'vol', '-o', 'wide');
    expect(wide.stdout.split('\n')[0]).toMatch(/^NAME\s+APP\s+SLOT\s+NODE\s+SIZE\s+PHASE\s+USED\s+MESSAGE\s+AGE$/);
    expect(wide.stdout).toContain('node n1 is not ready: the slot waits for it');
  });

  it('scale down of a resident App keeps the volumes of the slots scaled away, and says how to wipe them', async () => {
    await createResidentApp('db', 3);
    for (const slot of [0, 1, 2]) await createVolume('db', slot);

    const scaled = await run('scale', 'db', '1');
    expect(scaled.code).toBe(0);
    expect(scaled.stdout).toContain('app/db scaled from 3 to 1\n');
    expect(scaled.stdout).toContain('app/db: the volumes of slots 1 and above are kept (Reserved) with their data, and a scale-up uses them again: db-data-1, db-data-2.');
    expect(scaled.stdout).toContain('capstan scale db 1 --wipe');
    for (const slot of [0, 1, 2]) expect(await deleting('db', slot)).toBe(false);

    // Scaling up says nothing of volumes; scaling to 0 keeps every slot's.
    expect(await run('scale', 'db', '2')).toMatchObject({ code: 0, stdout: 'app/db scaled from 1 to 2\n' });
    expect((await run('scale', 'db', '0')).stdout).toContain('app/db: the volumes of every slot are kept (Reserved)');
  });

  it('scale --wipe waits until the tasks of the slots scaled away have stopped, then deletes their volumes only', async () => {
    await createResidentApp('db', 3);
    for (const slot of [0, 1, 2]) {
      await createVolume('db', slot);
      await createTask('db', slot);
    }

    // A task that never stops: the wipe gives up, naming it, and deletes nothing.
    const timedOut = await run('scale', 'db', '2', '--wipe', '--timeout', '1s');
    expect(timedOut.code).toBe(1);
    expect(timedOut.stderr).toContain('app/db: after 1 s these tasks still run: db-1-slot2 (slot 2, node n2, Running). Their volumes were not wiped.');
    expect(await deleting('db', 2)).toBe(false);

    const wiping = startCapstan(['scale', 'db', '1', '--wipe', '--timeout', '30s'], { etcd: db.etcd.url });
    await until(() => wiping.stdout().includes('app/db: waiting for the tasks of slots 1 and above to stop before wiping their volumes'), { what: 'scale --wipe waiting' });
    expect(await deleting('db', 1)).toBe(false);
    // The agents stop the two tasks: one ends Killed, the other is gone altogether.
    await stopTask('db-1-slot1');
    const slot2 = await db.store.mustGet<Task>('Task', { namespace: NS, name: 'db-1-slot2' });
    await db.store.update({ ...slot2, metadata: { ...slot2.metadata, finalizers: [] } });
    await db.store.delete('Task', { namespace: NS, name: 'db-1-slot2' });

    const done = await wiping.done;
    expect(done).toMatchObject({ code: 0, stderr: '' });
    expect(done.stdout).toContain('volume/db-data-1 marked for deletion: the agent of node n1 removes its directory (64Mi) and its data, then it is gone');
    expect(done.stdout).toContain('volume/db-data-2 marked for deletion: the agent of node n2');
    expect(done.stdout).not.toContain('db-data-0');
    expect([await deleting('db', 0), await deleting('db', 1), await deleting('db', 2)]).toEqual([false, true, true]);
    // The finalizer holds them for the agent: still listed.
    expect((await run('get', 'volumes')).stdout).toMatch(/^db-data-1\s/m);

    expect(await run('scale', 'db', '5', '--wipe')).toMatchObject({ code: 0, stdout: 'app/db scaled from 1 to 5\napp/db has no volumes of slots 5 and above: nothing to wipe\n' });
  });

  it('delete volume marks it for its agent; --wait names the finalizer and node it waits for', async () => {
    await createVolume('db', 0);
    const deleted = await run('delete', 'volume', 'db-data-0');
    expect(deleted).toMatchObject({ code: 0, stderr: '' });
    expect(deleted.stdout).toBe('volume/db-data-0 marked for deletion: the agent of node n0 removes its directory (64Mi) and its data, then it is gone (capstan get volumes shows it Deleting until then)\n');
    expect(await deleting('db', 0)).toBe(true);

    // One in use: its task goes first (the volumes controller's part), and the message says so.
    await createVolume('db', 1, { phase: 'Bound', task: 'db-1-slot1' });
    expect((await run('delete', 'vol', 'db-data-1')).stdout).toContain(
      'volume/db-data-1 marked for deletion: the volumes controller stops its task db-1-slot1 first, then the agent of node n1 removes its directory',
    );

    const waited = await run('delete', 'volume', 'db-data-0', '--wait', '--timeout', '1s');
    expect(waited.code).toBe(1);
    expect(waited.stderr).toMatch(/volume\/db-data-0 still exists after 1 s, waiting for volume\/db-data-0 \(finalizers capstan\.io\/volume.*, on node n0\)/);
    expect(await run('delete', 'volume', 'nope')).toMatchObject({ code: 1, stderr: 'volume/nope not found\n' });
  });

  it('delete volume of a node not ready, or gone, says the slot is freed now and the data stays on that machine', async () => {
    const n2 = await db.store.mustGet('Node', { name: 'n2' });
    await db.store.updateStatus({ ...n2, status: { conditions: [{ type: 'Ready', status: 'False', reason: 'NodeStatusUnknown', message: '', lastTransitionTime: new Date().toISOString() }] } });
    await createVolume('db', 2);
    expect((await run('delete', 'volume', 'db-data-2')).stdout).toBe(
      'volume/db-data-2 marked for deletion: its node n2 is not ready, so the volumes controller releases it now and slot 2 starts again on a new, empty volume; ' +
        'the data (64Mi) stays on that machine until its agent comes back and removes the directory\n',
    );
    await db.store.delete('Node', { name: 'n3' });
    await createVolume('db', 3);
    expect((await run('delete', 'volume', 'db-data-3')).stdout).toContain('volume/db-data-3 marked for deletion: its node n3 is gone, so the volumes controller releases it now');
  });

  it('delete app keeps a resident App\'s volumes and names them; --wipe deletes them with it', async () => {
    await createResidentApp('db', 2);
    await createResidentApp('cache', 1);
    for (const slot of [0, 1]) await createVolume('db', slot);
    await createVolume('cache', 0);

    const kept = await run('delete', 'app', 'db');
    expect(kept.code).toBe(0);
    expect(kept.stdout).toBe(
      'app/db deleted\napp/db: its volumes are kept with their data: db-data-0, db-data-1. To delete them: capstan delete volume db-data-0 db-data-1 (or delete the App with --wipe)\n',
    );
    expect([await deleting('db', 0), await deleting('db', 1)]).toEqual([false, false]);

    const wiped = await run('delete', 'app', 'cache', '--wipe');
    expect(wiped.code).toBe(0);
    expect(wiped.stdout).toContain('app/cache deleted\nvolume/cache-data-0 marked for deletion: the agent of node n0');
    expect(await deleting('cache', 0)).toBe(true);
    expect(await deleting('db', 0)).toBe(false);

    const notApps = await run('delete', 'task', 'x', '--wipe');
    expect(notApps.code).toBe(2);
    expect(notApps.stderr).toContain('--wipe deletes the volumes of Apps, found kind "Task"');
  });

  it('describe app shows each container with its runtime and mounts, and each slot\'s volume', async () => {
    await createResidentApp('db', 2);
    await createVolume('db', 0, { phase: 'Bound', task: 'db-1-slot0', usedMiB: 3 });
    await createVolume('db', 1, { phase: 'Reserved' });

    const { code, stdout } = await run('describe', 'app', 'db');
    expect(code).toBe(0);
    const section = (title: string) => stdout.slice(stdout.indexOf(`\n${title}:\n`) + 1).split(/\n(?=\S)/)[0];
    expect(section('Containers')).toContain('  web (docker)\n    Image:     local/busybox:1\n');
    expect(section('Containers')).toContain('    Mounts:    data → /srv (ro)');
    expect(section('Containers')).toContain('  counter (process)\n    Command:   echo start >> data/starts.txt; sleep 1000\n');
    expect(section('Containers')).toContain('    Mounts:    data → data');
    const volumes = section('Volumes');
    expect(volumes).toContain('  data: persistent: 64Mi per instance slot');
    expect(volumes).toMatch(/^ {2}0\s+db-data-0\s+n0\s+64Mi\s+Bound\s+3Mi\s+db-1-slot0\s/m);
    expect(volumes).toMatch(/^ {2}1\s+db-data-1\s+n1\s+64Mi\s+Reserved\s+-\s+-\s/m);
    expect(stdout.indexOf('\nVolumes:\n')).toBeLessThan(stdout.indexOf('\nTraffic:\n'));
  });

  it('the pod and stateful manifests apply: a Docker and a process container sharing a volume; a resident counter', async () => {
    const applied = await run('apply', '-f', 'manifests/pod/', '-f', 'manifests/stateful/');
    expect(applied).toMatchObject({ code: 0, stderr: '' });
    expect(applied.stdout).toMatch(/^app\/hello created$/m);
    expect(applied.stdout).toMatch(/^app\/counter created$/m);

    const hello = await db.store.mustGet<App>('App', { namespace: 'pod', name: 'hello' });
    expect(hello.spec.containers.map((c) => [c.name, containerRuntime(hello.spec, c)])).toEqual([
      ['web', 'docker'],
      ['fetch', 'process'],
    ]);
    expect(hello.spec.volumes).toEqual([{ name: 'www', ephemeral: {} }]);
    expect(hello.spec.healthChecks.map((check) => check.container)).toEqual([undefined, 'fetch']);

    const counter = await db.store.mustGet<App>('App', { namespace: 'stateful', name: 'counter' });
    expect(isResident(counter.spec)).toBe(true);
    expect(containerRuntime(counter.spec, counter.spec.containers[0]!)).toBe('process');
    expect(counter.spec.upgradeStrategy).toEqual({ minimumHealthCapacity: 0.5, maximumOverCapacity: 0 });
  });
});
