// Marathon's v2 apps, tasks and queue routes against real parts: a real etcd, every built-in
// controller in this process, one `capstan agent` OS process running the process driver, and the
// API server on a free loopback port. Requests are plain HTTP (fetch); what they did is read back
// from the store and from the machine's processes, not only from the API's answers.
import { describe, expect, it } from 'vitest';
import type { AppSpec, AppStatus } from '../api/kinds/app.ts';
import { LAUNCH_DELAY_RESET_ANNOTATION, RESTARTED_AT_ANNOTATION } from '../api/kinds/wellknown.ts';
import { deploymentIdOf } from '../api/marathon/deployment-id.ts';
import type { CapstanObject } from '../api/object.ts';
import { useApi } from './helpers/api.ts';
import { useCluster } from './helpers/cluster.ts';
import { until } from './helpers/poll.ts';

type App = CapstanObject<AppSpec, AppStatus>;

// A node name and port range of its own (31710–31729), so that this file runs beside the other cluster tests.
const SUITE = `api-v2-apps-${process.pid}`;
const cluster = useCluster({ suite: SUITE, nodes: [{ name: 'av2-n1', ports: '31710-31729' }], leaseTtlSeconds: 1 });
const api = useApi(cluster);
const call = api.call;

/** A Marathon app that runs a busybox process marked as this suite's, with Marathon's default port. */
function marathonApp(id: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id, cmd: 'exec busybox sleep 3600', instances: 2, cpus: 0.01, mem: 4, env: { CAPSTAN_TEST_SUITE: SUITE }, taskKillGracePeriodSeconds: 1, ...extra };
}

const getApp = async (name: string) => cluster.store.get<App>('App', { namespace: 'default', name });
const uidsOf = (tasks: readonly { metadata: { uid?: string } }[]) => tasks.map((t) => t.metadata.uid!).sort();

/** Waits until the App's rollout is complete (no deployment left in Marathon's terms). */
async function untilSettled(name: string, instances: number): Promise<App> {
  return until(
    async () => {
      const app = await getApp(name);
      const done = app?.status?.rollout?.phase === 'Complete' && (app.status.observedGeneration ?? 0) >= (app.metadata.generation ?? 1);
      return done && app.status!.running === instances && app;
    },
    { timeoutMs: 30_000, what: `${name}: rollout complete with ${instances} running` },
  ).catch(async (error: Error) => Promise.reject(new Error(`${error.message}\n${JSON.stringify((await getApp(name))?.status)}\n${await cluster.describe()}`)));
}

describe('POST and GET /v2/apps', () => {
  it('creates an app: 201 with Location and Marathon-Deployment-Id, its tasks run, a second POST is 409', async () => {
    const created = await call('POST', '/v2/apps', marathonApp('/web'));
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const stored = (await getApp('web'))!;
    const deploymentId = deploymentIdOf(stored.metadata.uid!, stored.metadata.generation!);
    expect(created.headers.get('marathon-deployment-id')).toBe(deploymentId);
    expect(created.headers.get('location')).toBe(`${api.url}/v2/apps/web`);
    expect(created.body).toMatchObject({ id: '/web', instances: 2, cmd: 'exec busybox sleep 3600', deployments: [{ id: deploymentId }] });

    const tasks = await cluster.untilRunning('web', 2);
    expect(cluster.workloadPids('web')).toHaveLength(2);
    const shown = await until(
      async () => {
        const answer = await call('GET', '/v2/apps/web');
        return answer.body.app?.tasksRunning === 2 && answer;
      },
      { timeoutMs: 10_000, what: 'GET /v2/apps/web to show 2 tasks running' },
    );
    expect(shown.body.app.tasks.map((t: { id: string }) => t.id.split('.')[1]).sort()).toEqual(uidsOf(tasks));
    expect(shown.body.app.tasks[0]).toMatchObject({ appId: '/web', state: 'TASK_RUNNING' });

    const again = await call('POST', '/v2/apps', marathonApp('/web'));
    expect(again.status).toBe(409);
    expect(again.body.message).toBe('An app with id [/web] already exists.');
  }, 60_000);

  it('lists apps filtered by id, cmd and label, embedding tasks when asked', async () => {
    expect((await call('POST', '/v2/apps', marathonApp('/alpha', { instances: 1, labels: { tier: 'front' } }))).status).toBe(201);
    expect((await call('POST', '/v2/apps', marathonApp('/beta', { instances: 1, cmd: 'exec busybox sleep 3601' }))).status).toBe(201);
    await cluster.untilRunning('alpha', 1);
    await cluster.untilRunning('beta', 1);

    const ids = async (query: string) => (await call('GET', `/v2/apps${query}`)).body.apps.map((a: { id: string }) => a.id);
    expect(await ids('')).toEqual(['/alpha', '/beta']);
    expect(await ids('?id=ALP')).toEqual(['/alpha']);
    expect(await ids('?cmd=3601')).toEqual(['/beta']);
    expect(await ids('?label=tier==front')).toEqual(['/alpha']);
    expect(await ids('?label=tier')).toEqual(['/alpha']);
    expect(await ids('?label=!tier')).toEqual(['/beta']);
    // Marathon's `{group}/*`: every app of the group (here the root), by id.
    const group = await call('GET', '/v2/apps/*');
    expect(group.body['*'].map((a: { id: string }) => a.id)).toEqual(['/alpha', '/beta']);

    const embedded = await until(
      async () => {
        const answer = await call('GET', '/v2/apps?embed=apps.tasks&id=alpha');
        return answer.body.apps[0]?.tasks?.length === 1 && answer;
      },
      { timeoutMs: 10_000, what: 'the embedded task of /alpha' },
    );
    expect(embedded.body.apps[0].tasks[0]).toMatchObject({ appId: '/alpha' });
  }, 60_000);

  it('answers 404 with Marathon’s message for an unknown app, and 422 with details for an invalid one', async () => {
    const missing = await call('GET', '/v2/apps/nope');
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({ message: "App '/nope' does not exist" });

    const invalid = await call('POST', '/v2/apps', marathonApp('/bad', { instances: -1 }));
    expect(invalid.status).toBe(422);
    expect(invalid.body.message).toBe('Object is not valid');
    expect(invalid.body.details.map((d: { path: string }) => d.path)).toContain('/instances');
    expect(await getApp('bad')).toBeUndefined();
  });
});

describe('PUT, PATCH and the deployment lock', () => {
  it('rolls out a new definition: 200 with the deployment id, new tasks replace the old, versions list both', async () => {
    expect((await call('POST', '/v2/apps', marathonApp('/web'))).status).toBe(201);
    const first = uidsOf(await cluster.untilRunning('web', 2));
    await untilSettled('web', 2);

    const updated = await call('PUT', '/v2/apps/web', { cmd: 'exec busybox sleep 3602' });
    expect(updated.status, JSON.stringify(updated.body)).toBe(200);
    const app = (await getApp('web'))!;
    expect(updated.body).toEqual({ version: expect.any(String), deploymentId: deploymentIdOf(app.metadata.uid!, app.metadata.generation!) });
    expect(updated.headers.get('marathon-deployment-id')).toBe(updated.body.deploymentId);
    // A partial update: what the body leaves out stays as it was.
    expect(app.spec.instances).toBe(2);

    await until(
      async () => {
        const live = await cluster.liveTasksOf('web');
        return live.length === 2 && live.every((t) => t.status?.phase === 'Running' && !first.includes(t.metadata.uid!) && t.spec.template.containers[0]!.cmd === 'exec busybox sleep 3602');
      },
      { timeoutMs: 30_000, what: 'both tasks replaced by the new definition' },
    );

    const versions = await until(
      async () => {
        const answer = await call('GET', '/v2/apps/web/versions');
        return answer.body.versions?.length === 2 && answer;
      },
      { timeoutMs: 10_000, what: 'two versions' },
    );
    const [newest, oldest] = versions.body.versions as string[];
    expect(Date.parse(newest!)).toBeGreaterThanOrEqual(Date.parse(oldest!));
    const old = await call('GET', `/v2/apps/web/versions/${oldest}`);
    expect(old.status).toBe(200);
    expect(old.body).toMatchObject({ id: '/web', cmd: 'exec busybox sleep 3600', version: oldest });
    expect((await call('GET', '/v2/apps/web/versions/2001-01-01T00:00:00.000Z')).status).toBe(404);

    // PUT {version}: back to that version's definition (its Revision becomes current again).
    await untilSettled('web', 2);
    const rolledBack = await call('PUT', '/v2/apps/web', { version: oldest });
    expect(rolledBack.status, JSON.stringify(rolledBack.body)).toBe(200);
    expect((await getApp('web'))!.spec.containers[0]!.cmd).toBe('exec busybox sleep 3600');
    await until(
      async () => {
        const live = await cluster.liveTasksOf('web');
        return live.length === 2 && live.every((t) => t.status?.phase === 'Running' && t.spec.template.containers[0]!.cmd === 'exec busybox sleep 3600');
      },
      { timeoutMs: 30_000, what: 'both tasks back on the first definition' },
    );
    expect((await call('PUT', '/v2/apps/web?force=true', { version: '2001-01-01T00:00:00.000Z' })).status).toBe(404);
  }, 90_000);

  it('scales with PUT {instances}: spec.instances only, the running tasks are kept', async () => {
    expect((await call('POST', '/v2/apps', marathonApp('/web'))).status).toBe(201);
    const before = uidsOf(await cluster.untilRunning('web', 2));
    await untilSettled('web', 2);
    const generation = (await getApp('web'))!.metadata.generation!;

    const scaled = await call('PUT', '/v2/apps/web', { instances: 3 });
    expect(scaled.status, JSON.stringify(scaled.body)).toBe(200);
    const after = await cluster.untilRunning('web', 3);
    expect(uidsOf(after)).toEqual(expect.arrayContaining(before));
    const app = (await getApp('web'))!;
    expect(app.spec.instances).toBe(3);
    expect(app.metadata.generation).toBe(generation + 1);
    expect(scaled.body.deploymentId).toBe(deploymentIdOf(app.metadata.uid!, generation + 1));

    // The scale-up is a deployment until its tasks run: PATCH waits for it to finish, as Marathon's lock asks.
    await untilSettled('web', 3);
    const patched = await call('PATCH', '/v2/apps/web', { instances: 1 });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    await cluster.untilRunning('web', 1);
    expect((await call('PATCH', '/v2/apps/ghost', { instances: 1 })).status).toBe(404);
  }, 60_000);

  it('PUT of an absent app creates it with 201; a write while its deployment runs is 409 unless forced', async () => {
    // A health check that never passes: the rollout never completes, so its deployment keeps the lock.
    const never = { healthChecks: [{ protocol: 'HTTP', portIndex: 0, path: '/', gracePeriodSeconds: 300, intervalSeconds: 1, timeoutSeconds: 1, maxConsecutiveFailures: 0 }] };
    const created = await call('PUT', '/v2/apps/stuck', marathonApp('/stuck', { instances: 1, ...never }));
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const deploymentId = created.headers.get('marathon-deployment-id');
    expect(created.body.deploymentId).toBe(deploymentId);
    await cluster.untilRunning('stuck', 1);

    const refused = await call('PUT', '/v2/apps/stuck', { cmd: 'exec busybox sleep 3603' });
    expect(refused.status).toBe(409);
    expect(refused.body).toEqual({
      message: `App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/${deploymentId}'.`,
      deployments: [{ id: deploymentId }],
    });
    expect((await getApp('stuck'))!.spec.containers[0]!.cmd).toBe('exec busybox sleep 3600');
    expect((await call('POST', '/v2/apps/stuck/restart')).status).toBe(409);

    const forced = await call('PUT', '/v2/apps/stuck?force=true', { cmd: 'exec busybox sleep 3603' });
    expect(forced.status).toBe(200);
    expect(forced.body.deploymentId).not.toBe(deploymentId);
    expect((await getApp('stuck'))!.spec.containers[0]!.cmd).toBe('exec busybox sleep 3603');
  }, 60_000);
});

describe('Marathon writes and the fields Marathon has no word for', () => {
  it('a PUT keeps the App\'s Capstan-only fields (progressDeadlineSeconds, drainTimeoutSeconds, revisionHistoryLimit) instead of resetting them', async () => {
    await cluster.createApp('tuned', {
      instances: 1,
      driver: 'process',
      progressDeadlineSeconds: 77,
      drainTimeoutSeconds: 2,
      revisionHistoryLimit: 4,
      containers: [{ cmd: 'exec busybox sleep 3600', resources: { cpus: 0.01, mem: 4 } }],
    });
    const changed = await call('PUT', '/v2/apps/tuned?force=true', { cmd: 'exec busybox sleep 3601' });
    expect(changed.status, JSON.stringify(changed.body)).toBe(200);
    const spec = (await getApp('tuned'))!.spec;
    expect(spec.containers[0]!.cmd).toBe('exec busybox sleep 3601');
    expect({ progressDeadlineSeconds: spec.progressDeadlineSeconds, drainTimeoutSeconds: spec.drainTimeoutSeconds, revisionHistoryLimit: spec.revisionHistoryLimit }).toEqual({
      progressDeadlineSeconds: 77,
      drainTimeoutSeconds: 2,
      revisionHistoryLimit: 4,
    });
  }, 60_000);
});

describe('PUT and PATCH /v2/apps: many apps in one change', () => {
  it('creates and updates several apps as one set, one deployment; one invalid app writes nothing', async () => {
    const invalid = await call('PUT', '/v2/apps', [marathonApp('/one'), marathonApp('/two', { instances: -1 })]);
    expect(invalid.status).toBe(422);
    expect(invalid.body.details.map((d: { path: string }) => d.path)).toContain('/1/instances');
    expect(await getApp('one')).toBeUndefined();

    const created = await call('PUT', '/v2/apps', [marathonApp('/one', { instances: 1 }), marathonApp('/two', { instances: 1 })]);
    expect(created.status, JSON.stringify(created.body)).toBe(200);
    expect(created.body).toEqual({ version: expect.any(String), deploymentId: expect.any(String) });
    await cluster.untilRunning('one', 1);
    await cluster.untilRunning('two', 1);
    await untilSettled('one', 1);
    await untilSettled('two', 1);

    const patched = await call('PATCH', '/v2/apps', [{ id: '/one', instances: 2 }, { id: '/two', cmd: 'exec busybox sleep 3604' }]);
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    expect(patched.body.deploymentId).not.toBe(created.body.deploymentId);
    expect((await getApp('one'))!.spec).toMatchObject({ instances: 2, containers: [{ cmd: 'exec busybox sleep 3600' }] });
    expect((await getApp('two'))!.spec).toMatchObject({ instances: 1, containers: [{ cmd: 'exec busybox sleep 3604' }] });
    await cluster.untilRunning('one', 2);
    expect((await call('PATCH', '/v2/apps', [{ id: '/ghost', instances: 1 }])).status).toBe(422);
  }, 60_000);
});

describe('restart, kill, delete', () => {
  it('restarts every task by a rolling upgrade', async () => {
    const created = await call('POST', '/v2/apps', marathonApp('/web'));
    expect(created.status).toBe(201);
    const before = uidsOf(await cluster.untilRunning('web', 2));
    await untilSettled('web', 2);

    const restarted = await call('POST', '/v2/apps/web/restart');
    expect(restarted.status).toBe(200);
    expect(restarted.body).toEqual({ version: expect.any(String), deploymentId: expect.any(String) });
    // A restart is a deployment of its own: not the creation's id again.
    expect(restarted.body.deploymentId).not.toBe(created.headers.get('marathon-deployment-id'));
    expect(restarted.headers.get('marathon-deployment-id')).toBe(restarted.body.deploymentId);
    expect((await getApp('web'))!.metadata.annotations?.[RESTARTED_AT_ANNOTATION]).toBe(restarted.body.version);
    await until(
      async () => {
        const live = await cluster.liveTasksOf('web');
        return live.length === 2 && live.every((t) => t.status?.phase === 'Running' && !before.includes(t.metadata.uid!));
      },
      { timeoutMs: 30_000, what: 'every task replaced' },
    );
    expect((await call('POST', '/v2/apps/nope/restart')).status).toBe(404);
  }, 60_000);

  it('kills a task: replaced without scale; with scale=true the app loses it and keeps the others', async () => {
    expect((await call('POST', '/v2/apps', marathonApp('/web', { instances: 3 }))).status).toBe(201);
    await cluster.untilRunning('web', 3);
    await untilSettled('web', 3);
    const ids = async () => (await call('GET', '/v2/apps/web/tasks')).body.tasks.map((t: { id: string }) => t.id) as string[];
    const [first, second, ...rest] = await ids();

    const killed = await call('DELETE', `/v2/apps/web/tasks/${first}`);
    expect(killed.status).toBe(200);
    expect(killed.body.task).toMatchObject({ id: first, appId: '/web' });
    const replaced = await cluster.untilRunning('web', 3, { timeoutMs: 30_000 });
    expect(replaced.map((t) => t.metadata.uid)).not.toContain(first!.split('.')[1]);
    expect((await getApp('web'))!.spec.instances).toBe(3);
    await untilSettled('web', 3);

    const scaled = await call('DELETE', `/v2/apps/web/tasks/${second}?scale=true`);
    expect(scaled.status, JSON.stringify(scaled.body)).toBe(200);
    expect(scaled.body).toEqual({ version: expect.any(String), deploymentId: expect.any(String) });
    const left = await cluster.untilRunning('web', 2, { timeoutMs: 30_000 });
    expect((await getApp('web'))!.spec.instances).toBe(2);
    const kept = uidsOf(left);
    expect(kept).not.toContain(second!.split('.')[1]);
    expect(kept).toEqual(expect.arrayContaining(rest.map((id) => id.split('.')[1])));

    expect((await call('DELETE', '/v2/apps/web/tasks/web.no-such-uid')).status).toBe(404);
    expect((await call('DELETE', `/v2/apps/web/tasks/${rest[0]}?scale=true&wipe=true`)).status).toBe(400);
  }, 90_000);

  it('POST /v2/tasks/delete?scale=true kills tasks by id across apps and scales each down', async () => {
    expect((await call('POST', '/v2/apps', marathonApp('/one'))).status).toBe(201);
    expect((await call('POST', '/v2/apps', marathonApp('/two'))).status).toBe(201);
    await cluster.untilRunning('one', 2);
    await cluster.untilRunning('two', 2);
    await untilSettled('one', 2);
    await untilSettled('two', 2);

    const running = await call('GET', '/v2/tasks?status=running');
    const victims = ['/one', '/two'].map((id) => running.body.tasks.find((t: { appId: string }) => t.appId === id).id as string);
    const answer = await call('POST', '/v2/tasks/delete?scale=true', { ids: victims });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    // One deployment for the change, though it scaled two apps.
    expect(answer.body).toEqual({ version: expect.any(String), deploymentId: expect.any(String) });
    expect(answer.headers.get('marathon-deployment-id')).toBe(answer.body.deploymentId);
    await cluster.untilRunning('one', 1);
    await cluster.untilRunning('two', 1);
    expect((await getApp('one'))!.spec.instances).toBe(1);
    expect((await getApp('two'))!.spec.instances).toBe(1);
    expect((await call('POST', '/v2/tasks/delete', { ids: ['no-dot'] })).status).toBe(400);
  }, 60_000);

  it('lists tasks as Marathon’s text lines for scripts', async () => {
    // A load-balanced app (marathon-lb's label): the endpoints controller allocates its service port.
    expect((await call('POST', '/v2/apps', marathonApp('/web', { labels: { HAPROXY_GROUP: 'external' } }))).status).toBe(201);
    const tasks = await cluster.untilRunning('web', 2);
    const text = await until(
      async () => {
        const answer = await call('GET', '/v2/apps/web/tasks', undefined, { accept: 'text/plain' });
        const fields = (answer.body as string).split('\t');
        return answer.status === 200 && fields.length >= 4 && Number(fields[1]) > 0 && (answer.body as string);
      },
      { timeoutMs: 15_000, what: 'a text line with the service port and both tasks' },
    );
    const [line] = text.trimEnd().split('\n');
    const [appId, servicePort, ...hosts] = line!.split('\t').filter((field) => field !== '');
    expect(appId).toBe('web');
    expect(Number(servicePort)).toBeGreaterThan(0);
    expect(hosts.map((h) => Number(h.split(':')[1])).sort()).toEqual(tasks.map((t) => t.spec.hostPorts![0]).sort());
    const all = await call('GET', '/v2/tasks', undefined, { accept: 'text/plain' });
    expect(all.body).toContain(line);
  }, 60_000);

  it('deletes an app: 200 with the deployment, its tasks stop, then 404', async () => {
    expect((await call('POST', '/v2/apps', marathonApp('/web'))).status).toBe(201);
    await cluster.untilRunning('web', 2);
    const uid = (await getApp('web'))!.metadata.uid!;

    const deleted = await call('DELETE', '/v2/apps/web');
    expect(deleted.status).toBe(200);
    expect(deleted.body).toEqual({ version: expect.any(String), deploymentId: deploymentIdOf(uid, 0) });
    expect(deleted.headers.get('marathon-deployment-id')).toBe(deploymentIdOf(uid, 0));
    await until(async () => (await cluster.tasksOf('web')).length === 0 && cluster.workloadPids('web').length === 0, { timeoutMs: 20_000, what: 'the tasks of /web gone' });
    expect((await call('GET', '/v2/apps/web')).status).toBe(404);
    expect((await call('DELETE', '/v2/apps/web')).body).toEqual({ message: "App '/web' does not exist" });
  }, 60_000);
});

describe('the launch queue', () => {
  it('shows a crash-looping app with its delay, and DELETE /v2/queue/{id}/delay launches the next task now', async () => {
    const crash = marathonApp('/crash', { instances: 1, cmd: 'exit 3', backoffSeconds: 120, backoffFactor: 1, maxLaunchDelaySeconds: 300 });
    expect((await call('POST', '/v2/apps', crash)).status).toBe(201);
    const queued = await until(
      async () => {
        const answer = await call('GET', '/v2/queue');
        const entry = answer.body.queue.find((e: { app: { id: string } }) => e.app.id === '/crash');
        return entry?.delay.timeLeftSeconds > 0 && entry;
      },
      { timeoutMs: 30_000, what: '/crash in the queue with a launch delay' },
    );
    expect(queued).toMatchObject({ count: 1, delay: { overdue: false } });
    expect(queued.delay.timeLeftSeconds).toBeLessThanOrEqual(120);
    const failedBefore = (await getApp('crash'))!.status?.lastTaskFailure?.task;

    const reset = await call('DELETE', '/v2/queue/crash/delay');
    expect(reset.status).toBe(204);
    expect((await getApp('crash'))!.metadata.annotations?.[LAUNCH_DELAY_RESET_ANNOTATION]).toBeDefined();
    // Far sooner than the 120 s delay: the next task is launched at once (and fails in its turn).
    await until(
      async () => {
        const failed = (await getApp('crash'))!.status?.lastTaskFailure?.task;
        return failed !== undefined && failed !== failedBefore;
      },
      { timeoutMs: 20_000, what: 'a task launched and failed after the reset' },
    );
    expect((await call('DELETE', '/v2/queue/nope/delay')).status).toBe(404);
  }, 60_000);
});
