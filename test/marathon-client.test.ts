// A real Marathon client written by others drives the API: thefactory's `marathon` package for Python
// (Debian's python3-marathon), in a real python3 subprocess per step, against the API server on real
// etcd with the built-in controllers and a `capstan agent` running the process driver. Each step
// prints what the client parsed as JSON; the test checks that, and the store and the machine behind it.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppSpec } from '../api/kinds/app.ts';
import { startApiServer, type RunningApiServer } from '../api/http/server.ts';
import type { CapstanObject } from '../api/object.ts';
import { useCluster } from './helpers/cluster.ts';
import { until } from './helpers/poll.ts';

type App = CapstanObject<AppSpec>;

// Debian's package is installed for the system interpreter, not for a python3 a version manager may put first on PATH.
const PYTHON = '/usr/bin/python3';
// A node name and port range of its own (31730–31749), so that this file runs beside the other cluster tests.
const SUITE = `marathon-client-${process.pid}`;
const cluster = useCluster({ suite: SUITE, nodes: [{ name: 'mc-n1', ports: '31730-31749' }], leaseTtlSeconds: 1 });

/** One step per run: the client's call and what it parsed, printed as JSON on stdout. */
const SCRIPT = `
import json, sys
from marathon import MarathonClient
from marathon.models import MarathonApp

url, step, args = sys.argv[1], sys.argv[2], sys.argv[3:]
client = MarathonClient(url)

def app_view(app):
    return {"id": app.id, "cmd": app.cmd, "instances": app.instances, "cpus": app.cpus, "mem": app.mem,
            "env": app.env, "tasksRunning": app.tasks_running, "deployments": [d.id for d in (app.deployments or [])],
            "tasks": [task_view(t) for t in (app.tasks or [])]}

def task_view(task):
    return {"id": task.id, "appId": task.app_id, "host": task.host, "ports": task.ports, "state": task.state}

if step == "create":
    app = MarathonApp(cmd="exec busybox sleep 3600", instances=int(args[1]), cpus=0.01, mem=4,
                      env={"CAPSTAN_TEST_SUITE": args[2]}, task_kill_grace_period_seconds=1)
    print(json.dumps(app_view(client.create_app(args[0], app))))
elif step == "list":
    print(json.dumps([app_view(a) for a in client.list_apps(embed_tasks=True)]))
elif step == "get":
    print(json.dumps(app_view(client.get_app(args[0]))))
elif step == "scale":
    print(json.dumps(client.scale_app(args[0], instances=int(args[1]))))
elif step == "tasks":
    print(json.dumps([task_view(t) for t in client.list_tasks(args[0] if args else None)]))
elif step == "kill":
    result = client.kill_task(args[0], args[1], scale=args[2] == "scale")
    print(json.dumps(result if isinstance(result, dict) else task_view(result)))
elif step == "delete":
    print(json.dumps(client.delete_app(args[0])))
elif step == "deployments":
    print(json.dumps([d.id for d in (client.get_app(args[0]).deployments or [])]))
elif step == "missing":
    from marathon.exceptions import NotFoundError
    try:
        client.get_app(args[0])
        print(json.dumps({"found": True}))
    except NotFoundError as error:
        print(json.dumps({"status": error.status_code, "message": error.error_message}))
`;

let api: RunningApiServer;
let dir: string;

beforeAll(async () => {
  api = await startApiServer({ store: cluster.store, client: cluster.client, registry: cluster.store.registry });
  dir = mkdtempSync(join(tmpdir(), 'capstan-marathon-client-'));
  writeFileSync(join(dir, 'client.py'), SCRIPT);
}, 30_000);
afterAll(async () => {
  await api?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Runs one step of the script; its stdout parsed as JSON. A failing step fails with python's stderr. */
async function client(step: string, ...args: string[]): Promise<any> {
  try {
    const { stdout } = await promisify(execFile)(PYTHON, [join(dir, 'client.py'), api.url, step, ...args], { timeout: 30_000 });
    return JSON.parse(stdout);
  } catch (error) {
    const failed = error as { stderr?: string; message: string };
    throw new Error(`python client step "${step} ${args.join(' ')}" failed: ${failed.stderr ?? failed.message}`, { cause: error });
  }
}

const getApp = async (name: string) => cluster.store.get<App>('App', { namespace: 'default', name });

/** As a Marathon script does before its next change: waits until the app shows no deployment (its lock is gone). */
async function untilDeployed(id: string): Promise<void> {
  await until(async () => (await client('deployments', id)).length === 0, { timeoutMs: 30_000, intervalMs: 250, what: `${id} to have no deployment` });
}

describe("thefactory's python Marathon client", () => {
  it('creates, lists, gets, scales, reads tasks, kills a task with scale and deletes an app', async () => {
    const created = await client('create', '/pyweb', '2', SUITE);
    expect(created).toMatchObject({ id: '/pyweb', cmd: 'exec busybox sleep 3600', instances: 2, cpus: 0.01, mem: 4 });
    expect(created.deployments).toHaveLength(1);
    expect((await getApp('pyweb'))!.spec).toMatchObject({ instances: 2, containers: [{ cmd: 'exec busybox sleep 3600' }] });
    const running = await cluster.untilRunning('pyweb', 2, { timeoutMs: 30_000 });
    expect(cluster.workloadPids('pyweb')).toHaveLength(2);

    const listed = await until(
      async () => {
        const apps = await client('list');
        return apps[0]?.tasksRunning === 2 && apps;
      },
      { timeoutMs: 15_000, what: 'list_apps to show 2 tasks running' },
    );
    expect(listed.map((a: { id: string }) => a.id)).toEqual(['/pyweb']);
    expect(listed[0].tasks).toHaveLength(2);

    const got = await client('get', '/pyweb');
    expect(got).toMatchObject({ id: '/pyweb', instances: 2, env: { CAPSTAN_TEST_SUITE: SUITE } });

    const tasks = await client('tasks', '/pyweb');
    expect(tasks).toHaveLength(2);
    expect(tasks.map((t: { id: string }) => t.id.split('.')[1]).sort()).toEqual(running.map((t) => t.metadata.uid).sort());
    expect(tasks.every((t: { appId: string; state: string }) => t.appId === '/pyweb' && t.state === 'TASK_RUNNING')).toBe(true);
    expect(tasks.map((t: { ports: number[] }) => t.ports[0]).sort()).toEqual(running.map((t) => t.spec.hostPorts![0]).sort());
    expect((await client('tasks')).map((t: { id: string }) => t.id).sort()).toEqual(tasks.map((t: { id: string }) => t.id).sort());

    await untilDeployed('/pyweb');
    const scaled = await client('scale', '/pyweb', '3');
    expect(scaled).toEqual({ version: expect.any(String), deploymentId: expect.any(String) });
    expect((await getApp('pyweb'))!.spec.instances).toBe(3);
    const three = await cluster.untilRunning('pyweb', 3, { timeoutMs: 30_000 });
    expect(three.map((t) => t.metadata.uid)).toEqual(expect.arrayContaining(running.map((t) => t.metadata.uid)));

    await untilDeployed('/pyweb');
    const victim = tasks[0].id as string;
    const killed = await client('kill', '/pyweb', victim, 'scale');
    expect(killed).toEqual({ version: expect.any(String), deploymentId: expect.any(String) });
    const left = await cluster.untilRunning('pyweb', 2, { timeoutMs: 30_000 });
    expect(left.map((t) => t.metadata.uid)).not.toContain(victim.split('.')[1]);
    expect((await getApp('pyweb'))!.spec.instances).toBe(2);

    await untilDeployed('/pyweb');
    const deleted = await client('delete', '/pyweb');
    expect(deleted).toEqual({ version: expect.any(String), deploymentId: expect.any(String) });
    await until(async () => (await getApp('pyweb')) === undefined && cluster.workloadPids('pyweb').length === 0, {
      timeoutMs: 20_000,
      what: '/pyweb and its processes gone',
    });
    expect(await client('missing', '/pyweb')).toEqual({ status: 404, message: "App '/pyweb' does not exist" });
  }, 120_000);
});
