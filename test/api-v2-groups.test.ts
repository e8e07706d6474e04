// Marathon's v2 groups, deployments and pods routes against real parts: a real etcd, every built-in
// controller in this process, one `capstan agent` OS process running the process driver, and the
// API server on a free loopback port. Requests are plain HTTP (fetch); what they did is read back
// from the store (Apps, their revisions and tasks), not only from the API's answers.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { AppSpec, AppStatus } from '../api/kinds/app.ts';
import { PAUSED_ANNOTATION } from '../api/kinds/wellknown.ts';
import { deploymentIdOf } from '../api/marathon/deployment-id.ts';
import type { CapstanObject } from '../api/object.ts';
import { useApi } from './helpers/api.ts';
import { useCluster } from './helpers/cluster.ts';
import { until } from './helpers/poll.ts';

type App = CapstanObject<AppSpec, AppStatus>;

// A node name, port range (31910–31929, below the kernel's ephemeral range 32768–60999, where a test's own client sockets could hold a port) and namespace of its own, so this file runs beside the other cluster tests.
const SUITE = `api-v2-groups-${process.pid}`;
const NS = 'g2';
const cluster = useCluster({ suite: SUITE, nodes: [{ name: 'avg-n1', ports: '31910-31929' }], leaseTtlSeconds: 1, namespace: NS });
const api = useApi(cluster);
const call = api.call;

/** A Marathon app running a busybox process marked as this suite's. */
function marathonApp(id: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id, cmd: 'exec busybox sleep 3600', instances: 1, cpus: 0.01, mem: 4, env: { CAPSTAN_TEST_SUITE: SUITE }, taskKillGracePeriodSeconds: 1, ...extra };
}

// Debian's python3-marathon is installed for the system interpreter.
const PYTHON = '/usr/bin/python3';
/** thefactory's Marathon client, one call per run, printing what it parsed as JSON. */
const CLIENT_SCRIPT = `
import json, sys
from marathon import MarathonClient
from marathon.models import MarathonApp, MarathonGroup

url, step, args = sys.argv[1], sys.argv[2], sys.argv[3:]
client = MarathonClient(url)

def group_view(group):
    return {"id": group.id, "apps": [[a.id, a.instances] for a in group.apps], "groups": [group_view(g) for g in group.groups]}

if step == "create-group":
    apps = [MarathonApp(id=app_id, cmd="exec busybox sleep 3600", instances=1, cpus=0.01, mem=4,
                        env={"CAPSTAN_TEST_SUITE": args[1]}, task_kill_grace_period_seconds=1) for app_id in args[2:]]
    print(json.dumps(client.create_group(MarathonGroup(id=args[0], apps=apps))))
elif step == "get-group":
    print(json.dumps(group_view(client.get_group(args[0]))))
elif step == "scale-group":
    print(json.dumps(client.scale_group(args[0], float(args[1]))))
elif step == "deployments":
    print(json.dumps([{"id": d.id, "affectedApps": d.affected_apps, "actions": [a.action for a in d.current_actions]} for d in client.list_deployments()]))
elif step == "delete-group":
    print(json.dumps(client.delete_group(args[0], force=True)))
`;

async function marathonClient(step: string, ...args: string[]): Promise<any> {
  const { stdout } = await promisify(execFile)(PYTHON, ['-c', CLIENT_SCRIPT, api.url, step, ...args], { timeout: 30_000 });
  return JSON.parse(stdout);
}

const getApp = (name: string) => cluster.store.get<App>('App', { namespace: NS, name });

async function untilSettled(name: string, instances: number): Promise<App> {
  return until(
    async () => {
      const app = await getApp(name);
      const done = app?.status?.rollout?.phase === 'Complete' && app.status.rollout.completedAt !== undefined && (app.status.observedGeneration ?? 0) >= (app.metadata.generation ?? 1);
      return done && app.status!.running === instances && app;
    },
    { timeoutMs: 40_000, what: `${name}: rollout complete with ${instances} running` },
  ).catch(async (error: Error) => Promise.reject(new Error(`${error.message}\n${JSON.stringify((await getApp(name))?.status)}\n${await cluster.describe()}`)));
}

describe('/v2/groups', () => {
  it('a group with dependencies is created, comes up in dependency order, is shown as a tree, scaled by a factor, and deleted whole', async () => {
    const group = {
      id: '/g2/shop',
      apps: [marathonApp('db'), marathonApp('web', { dependencies: ['db'] })],
    };
    const created = await call('POST', '/v2/groups', group);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.headers.get('location')).toBe(`${api.url}/v2/groups/g2/shop`);
    const deploymentId = created.body.deploymentId as string;
    expect(created.headers.get('marathon-deployment-id')).toBe(deploymentId);

    // Both Apps written at once, web depending on db (the group's relative id resolved).
    const web = (await getApp('shop-web'))!;
    expect(web.spec.dependencies).toEqual([expect.stringMatching(/^(g2\/)?shop-db$/)]);
    expect(await getApp('shop-db')).toBeDefined();

    // One deployment for the group change, listing both apps, db's step before web's.
    const listed = await call('GET', '/v2/deployments');
    const deployment = listed.body.find((d: { id: string }) => d.id === deploymentId);
    expect(deployment, JSON.stringify(listed.body)).toMatchObject({
      affectedApps: ['/g2/shop/db', '/g2/shop/web'],
      steps: [{ actions: [{ app: '/g2/shop/db' }] }, { actions: [{ app: '/g2/shop/web' }] }],
      totalSteps: 2,
    });

    // web's task is made only once db is settled: its first task after db's task started.
    await untilSettled('shop-db', 1);
    await untilSettled('shop-web', 1);
    const [dbTask] = await cluster.tasksOf('shop-db');
    const [webTask] = await cluster.tasksOf('shop-web');
    expect(Date.parse(webTask!.metadata.creationTimestamp!)).toBeGreaterThanOrEqual(Date.parse(dbTask!.status!.startedAt!));
    await until(async () => !(await call('GET', '/v2/deployments')).body.some((d: { id: string }) => d.id === deploymentId), {
      timeoutMs: 10_000,
      what: 'the group deployment to finish',
    });

    // A second POST of the same group is refused.
    expect((await call('POST', '/v2/groups', group)).status).toBe(409);

    // The tree: root → /g2 → /g2/shop with both apps; with embed=group.apps.tasks each app has its tasks.
    const root = await call('GET', '/v2/groups');
    expect(root.status).toBe(200);
    const g2 = root.body.groups.find((g: { id: string }) => g.id === '/g2');
    expect(g2.groups.map((g: { id: string }) => g.id)).toEqual(['/g2/shop']);
    const shop = await call('GET', '/v2/groups/g2/shop?embed=group.apps&embed=group.apps.tasks');
    expect(shop.body.id).toBe('/g2/shop');
    expect(shop.body.groups).toBeUndefined();
    expect(shop.body.apps.map((a: { id: string; tasks: unknown[] }) => [a.id, a.tasks.length])).toEqual([
      ['/g2/shop/db', 1],
      ['/g2/shop/web', 1],
    ]);
    expect((await call('GET', '/v2/groups/g2/nothing')).body).toEqual({ message: "Group '/g2/nothing' does not exist" });
    expect((await call('GET', '/v2/groups/g2/shop/versions')).body).toEqual([shop.body.version]);

    // A dry run answers the plan and writes nothing: web restarts (new command), db is removed.
    const before = (await getApp('shop-web'))!.metadata.generation;
    const plan = await call('PUT', '/v2/groups/g2/shop?dryRun=true', { apps: [marathonApp('web', { cmd: 'exec busybox sleep 3601' })] });
    expect(plan.status, JSON.stringify(plan.body)).toBe(200);
    expect(plan.body.steps).toEqual([{ actions: [{ action: 'RestartApplication', app: '/g2/shop/web' }, { action: 'StopApplication', app: '/g2/shop/db' }] }]);
    expect((await getApp('shop-web'))!.metadata.generation).toBe(before);
    expect(await getApp('shop-db')).toBeDefined();

    // scaleBy 2: every app of the group doubles.
    const scaled = await call('PUT', '/v2/groups/g2/shop', { scaleBy: 2 });
    expect(scaled.status, JSON.stringify(scaled.body)).toBe(200);
    expect([(await getApp('shop-db'))!.spec.instances, (await getApp('shop-web'))!.spec.instances]).toEqual([2, 2]);
    await cluster.untilRunning('shop-db', 2, { timeoutMs: 30_000 });
    await cluster.untilRunning('shop-web', 2, { timeoutMs: 30_000 });

    // DELETE removes every app of the group, and the group with them.
    const deleted = await call('DELETE', '/v2/groups/g2/shop?force=true');
    expect(deleted.status, JSON.stringify(deleted.body)).toBe(200);
    expect(deleted.body.deploymentId).toEqual(expect.any(String));
    await until(async () => !(await getApp('shop-db')) && !(await getApp('shop-web')), { timeoutMs: 30_000, what: 'the group apps to be gone' });
    expect((await call('GET', '/v2/groups/g2/shop')).status).toBe(404);
  }, 150_000);

  it('PUT removes the apps a definition no longer lists, and refuses a locked group without force', async () => {
    expect((await call('PUT', '/v2/groups/g2/two', { apps: [marathonApp('a'), marathonApp('b')] })).status).toBe(200);
    // Both rollouts are in progress: a change is locked.
    const refused = await call('PUT', '/v2/groups/g2/two', { apps: [marathonApp('a')] });
    expect(refused.status).toBe(409);
    expect(refused.body.deployments.length).toBeGreaterThan(0);
    const forced = await call('PUT', '/v2/groups/g2/two?force=true', { apps: [marathonApp('a')] });
    expect(forced.status, JSON.stringify(forced.body)).toBe(200);
    await until(async () => !(await getApp('two-b')), { timeoutMs: 30_000, what: 'b to be removed' });
    expect(await getApp('two-a')).toBeDefined();
  }, 60_000);
});

describe("thefactory's Python Marathon client", () => {
  it('creates a group, reads it and its deployment, scales it by a factor and deletes it', async () => {
    const created = await marathonClient('create-group', '/g2/py', SUITE, 'one', 'two');
    expect(created).toEqual({ version: expect.any(String), deploymentId: expect.any(String) });
    const deployments = await marathonClient('deployments');
    expect(deployments).toContainEqual({ id: created.deploymentId, affectedApps: ['/g2/py/one', '/g2/py/two'], actions: ['StartApplication', 'StartApplication'] });
    expect(await marathonClient('get-group', '/g2/py')).toEqual({ id: '/g2/py', apps: [['/g2/py/one', 1], ['/g2/py/two', 1]], groups: [] });
    await untilSettled('py-one', 1);
    await untilSettled('py-two', 1);
    expect(await marathonClient('scale-group', '/g2/py', '3')).toEqual({ version: expect.any(String), deploymentId: expect.any(String) });
    await cluster.untilRunning('py-one', 3, { timeoutMs: 30_000 });
    await cluster.untilRunning('py-two', 3, { timeoutMs: 30_000 });
    expect((await marathonClient('get-group', '/g2/py')).apps).toEqual([['/g2/py/one', 3], ['/g2/py/two', 3]]);
    expect(await marathonClient('delete-group', '/g2/py')).toEqual({ version: expect.any(String), deploymentId: expect.any(String) });
    await until(async () => !(await getApp('py-one')) && !(await getApp('py-two')), { timeoutMs: 30_000, what: 'the group apps to be gone' });
  }, 120_000);
});

describe('/v2/deployments', () => {
  it('lists a rollout in progress; DELETE rolls the App back to its previous revision; with force it is held where it is', async () => {
    expect((await call('PUT', '/v2/groups/g2', { apps: [marathonApp('roll')] })).status).toBe(200);
    await untilSettled('roll', 1);
    const ofRoll = (deployments: { affectedApps: string[] }[]) => deployments.filter((d) => d.affectedApps.includes('/g2/roll'));
    expect(ofRoll((await call('GET', '/v2/deployments')).body)).toEqual([]);

    // A new version whose tasks keep failing: the rollout stays in progress, the old task kept.
    const broken = await call('PUT', '/v2/groups/g2', { apps: [marathonApp('roll', { cmd: 'exit 1' })] });
    expect(broken.status, JSON.stringify(broken.body)).toBe(200);
    const app = (await getApp('roll'))!;
    expect(broken.body.deploymentId).toBe(deploymentIdOf(app.metadata.uid!, app.metadata.generation!));
    const listed = await until(
      async () => {
        const answer = await call('GET', '/v2/deployments');
        const found = answer.body.find((d: { id: string }) => d.id === broken.body.deploymentId);
        return found?.currentActions?.[0]?.action === 'RestartApplication' && found;
      },
      { timeoutMs: 15_000, what: 'the deployment of the broken version, restarting the app' },
    );
    expect(listed).toMatchObject({ affectedApps: ['/g2/roll'], affectedPods: [], currentStep: 1, totalSteps: 1 });
    await until(async () => (await getApp('roll'))?.status?.currentRevision === 2, { timeoutMs: 15_000, what: 'revision 2 to be current' });

    const unknown = await call('DELETE', '/v2/deployments/no-such-deployment');
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ message: 'DeploymentPlan no-such-deployment does not exist' });

    const rollback = await call('DELETE', `/v2/deployments/${broken.body.deploymentId}`);
    expect(rollback.status, JSON.stringify(rollback.body)).toBe(200);
    expect(rollback.body).toEqual({ deploymentId: expect.any(String), version: expect.any(String) });
    expect(rollback.body.deploymentId).not.toBe(broken.body.deploymentId);
    // The App's template is revision 1's again, and its rollout completes there.
    expect((await getApp('roll'))!.spec.containers[0]!.cmd).toBe('exec busybox sleep 3600');
    const back = await untilSettled('roll', 1);
    expect(back.status!.currentRevision).toBe(1);

    // Force: the next broken version's deployment is stopped where it is (the rollout paused), not rolled back.
    const again = await call('PUT', '/v2/groups/g2', { apps: [marathonApp('roll', { cmd: 'exit 2' })] });
    expect(again.status).toBe(200);
    await until(async () => (await call('GET', '/v2/deployments')).body.some((d: { id: string }) => d.id === again.body.deploymentId), {
      timeoutMs: 10_000,
      what: 'the second deployment to be listed',
    });
    const stopped = await call('DELETE', `/v2/deployments/${again.body.deploymentId}?force=true`);
    expect(stopped.status).toBe(202);
    const held = (await getApp('roll'))!;
    expect(held.metadata.annotations?.[PAUSED_ANNOTATION]).toBe('true');
    expect(held.spec.containers[0]!.cmd).toBe('exit 2');
  }, 120_000);
});

describe('/v2/pods', () => {
  it('creates a pod, shows its instance containers in ::status, kills one instance (replaced), and deletes it', async () => {
    const container = (name: string) => ({ name, exec: { command: { shell: 'exec busybox sleep 3600' } }, resources: { cpus: 0.01, mem: 4 } });
    const pod = { id: '/g2/duo', containers: [container('one'), container('two')], environment: { CAPSTAN_TEST_SUITE: SUITE }, scaling: { kind: 'fixed', instances: 1 } };
    const created = await call('POST', '/v2/pods', pod);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.headers.get('location')).toBe(`${api.url}/v2/pods/g2/duo`);
    expect(created.headers.get('marathon-deployment-id')).toEqual(expect.any(String));
    expect(created.body).toMatchObject({ id: '/g2/duo', containers: [{ name: 'one' }, { name: 'two' }] });
    expect((await call('POST', '/v2/pods', pod)).status).toBe(409);
    expect((await call('GET', '/v2/pods')).body.map((p: { id: string }) => p.id)).toContain('/g2/duo');

    const running = await until(
      async () => {
        const status = (await call('GET', '/v2/pods/g2/duo::status')).body;
        const instance = status.instances?.[0];
        return status.instances?.length === 1 && instance.containers.every((c: { status: string }) => c.status === 'TASK_RUNNING') && instance;
      },
      { timeoutMs: 30_000, what: 'the pod instance with both containers running' },
    );
    expect(running.containers.map((c: { name: string }) => c.name)).toEqual(['one', 'two']);
    // Both containers really run: two busybox processes of the pod's one task on this machine.
    await until(() => cluster.workloadPids('duo').length === 2, { timeoutMs: 10_000, what: "the pod's two container processes" });
    const [task] = await cluster.liveTasksOf('duo');
    expect(running.id).toBe(`g2_duo.${task!.metadata.uid}`);
    expect((await call('GET', '/v2/pods/::status')).body.map((s: { id: string }) => s.id)).toContain('/g2/duo');

    const killed = await call('DELETE', `/v2/pods/g2/duo::instances/${running.id}`);
    expect(killed.status, JSON.stringify(killed.body)).toBe(200);
    expect(killed.body.id).toBe(running.id);
    await until(
      async () => {
        const status = (await call('GET', '/v2/pods/g2/duo::status')).body;
        return status.instances?.length === 1 && status.instances[0].id !== running.id && status.instances[0].status === 'STABLE';
      },
      { timeoutMs: 30_000, what: 'a replacement instance, stable' },
    );
    await until(async () => (await cluster.tasksOf('duo')).every((t) => t.metadata.uid !== task!.metadata.uid), { timeoutMs: 15_000, what: 'the killed task to be gone' });
    await until(() => cluster.workloadPids('duo').length === 2, { timeoutMs: 10_000, what: "the replacement's two container processes" });
    expect((await call('DELETE', '/v2/pods/g2/duo::instances/g2_duo.nothing')).status).toBe(404);

    const versions = await call('GET', '/v2/pods/g2/duo::versions');
    expect(versions.body).toHaveLength(1);

    const deleted = await call('DELETE', '/v2/pods/g2/duo?force=true');
    expect(deleted.status).toBe(202);
    expect(deleted.headers.get('marathon-deployment-id')).toEqual(expect.any(String));
    await until(async () => (await call('GET', '/v2/pods/g2/duo')).status === 404, { timeoutMs: 30_000, what: 'the pod to be gone' });
  }, 120_000);
});
