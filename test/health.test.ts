// Health and readiness checks end to end: real etcd, the built-in controllers in this process (the
// health controller among them), `capstan agent` as its own process with the process driver and a
// private real dockerd, and real HTTP/HTTPS/TCP servers run as tasks. The servers answer what the
// test writes into a control directory, so a test turns a task sick or well by writing a file.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtinRegistry } from '../api/kinds/builtin.ts';
import type { RevisionStatus } from '../api/kinds/revision.ts';
import type { TaskSpec, TaskStatus } from '../api/kinds/task.ts';
import { getCondition, type CapstanObject } from '../api/object.ts';
import { runControllers, type RunningControllers } from '../controllers/builtin.ts';
import { LABELS } from '../runtime/drivers/docker.ts';
import { removeProcessTasks, startAgentProcess, type AgentProcess } from './helpers/agent-process.ts';
import { capstan } from './helpers/cli.ts';
import { startDocker, type TestDocker } from './helpers/dockerd.ts';
import { useStore } from './helpers/etcd.ts';
import { until } from './helpers/poll.ts';

type Task = CapstanObject<TaskSpec, TaskStatus>;
const NS = 'default';
const log = pino({ level: 'silent' });

// A task's server: /health and /ready answer the status code in <control>/<app>.health|.ready
// (200 when absent) and count their requests in <control>/<app>.health.count; with TLS_CERT set it
// serves HTTPS. PORT1, when there is one, is left closed (a TCP check on it fails).
const SERVER = `
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
const dir = process.env.CONTROL_DIR, app = process.env.CAPSTAN_APP;
const counts = {};
const answer = (request, response) => {
  const what = request.url === '/ready' ? 'ready' : 'health';
  counts[what] = (counts[what] ?? 0) + 1;
  writeFileSync(dir + '/' + app + '.' + what + '.count', String(counts[what]));
  let status = 200;
  try { status = Number(readFileSync(dir + '/' + app + '.' + what, 'utf8').trim()); } catch {}
  response.writeHead(status).end(String(status));
};
const server = process.env.TLS_CERT
  ? https.createServer({ cert: readFileSync(process.env.TLS_CERT), key: readFileSync(process.env.TLS_KEY) }, answer)
  : http.createServer(answer);
server.listen(Number(process.env.PORT0), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
`;

const db = useStore(builtinRegistry());
let docker: TestDocker;
let dir: string;
let control: string;
let agent: AgentProcess;
let controllers: RunningControllers;

beforeAll(async () => {
  docker = await startDocker();
  dir = mkdtempSync(join(tmpdir(), 'capstan-health-'));
  control = join(dir, 'control');
  execFileSync('mkdir', ['-p', control]);
  writeFileSync(join(dir, 'server.mjs'), SERVER);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
  agent = startAgentProcess({ etcd: db.etcd.url, node: 'n1', stateDir: join(dir, 'agent'), dockerSocket: docker.engine.socketPath });
  await agent.started;
  controllers = await runControllers({ store: db.store, leaderElection: false, logger: log, handleSignals: false });
}, 120_000);

afterAll(async () => {
  await controllers?.stop();
  await agent?.kill();
  if (dir) {
    await removeProcessTasks(join(dir, 'agent'));
    rmSync(dir, { recursive: true, force: true });
  }
  await docker?.stop();
});

const check = { gracePeriodSeconds: 0, intervalSeconds: 1, timeoutSeconds: 1, delaySeconds: 0 };

async function serverApp(name: string, spec: Record<string, unknown>, env: Record<string, string> = {}) {
  await db.store.create({
    apiVersion: 'capstan/v1',
    kind: 'App',
    metadata: { name, namespace: NS },
    spec: {
      driver: 'process',
      containers: [{ cmd: `exec ${process.execPath} ${join(dir, 'server.mjs')}`, env: { CONTROL_DIR: control, ...env }, resources: { cpus: 0.1, mem: 32 } }],
      ports: [{ name: 'http' }],
      taskKillGracePeriodSeconds: 1,
      ...spec,
    },
  });
}

const setAnswer = (app: string, what: 'health' | 'ready', status: number) => writeFileSync(join(control, `${app}.${what}`), String(status));
const requests = (app: string, what: 'health' | 'ready') => {
  const file = join(control, `${app}.${what}.count`);
  return existsSync(file) ? Number(readFileSync(file, 'utf8')) : 0;
};

const tasksOf = async (app: string) => (await db.store.list<Task>('Task', { namespace: NS, labelSelector: `capstan.io/app=${app}` })).items;
const condition = (task: Task | undefined, type: string) => getCondition(task?.status?.conditions, type);

/** Waits for a task of `app` matching `predicate`. */
function taskOf(app: string, predicate: (task: Task) => boolean, what: string, timeoutMs = 20_000): Promise<Task> {
  return until(async () => (await tasksOf(app)).find(predicate), { timeoutMs, intervalMs: 50, what: `${app}: ${what}` });
}

const running = (t: Task) => t.status?.phase === 'Running';
const healthy = (status: string) => (t: Task) => running(t) && condition(t, 'Healthy')?.status === status;

describe('health checks', () => {
  it('an HTTP check that answers 200 makes the task Healthy, shown by get tasks', async () => {
    await serverApp('ok', { healthChecks: [{ protocol: 'HTTP', path: '/health', portIndex: 0, ...check }] });
    const task = await taskOf('ok', healthy('True'), 'Healthy=True');
    expect(task.status?.healthResults?.[0]).toMatchObject({ index: 0, alive: true, consecutiveFailures: 0 });
    expect(task.status?.healthResults?.[0]?.firstSuccess).toBeDefined();
    expect(condition(task, 'Healthy')?.message).toContain('HTTP 200');
    const listing = await capstan(['get', 'tasks', '-n', NS], { etcd: db.etcd.url });
    expect(listing.stdout).toMatch(/ok-\S+\s+ok\s+1\s+Running\s+True/);
  });

  it('writes the status on transitions only, not on every probe', async () => {
    const task = await taskOf('ok', healthy('True'), 'Healthy=True');
    const before = Number(task.metadata.resourceVersion);
    const probed = requests('ok', 'health');
    await until(() => requests('ok', 'health') >= probed + 3, { what: '3 more probes' });
    const after = (await db.store.get<Task>('Task', { namespace: NS, name: task.metadata.name }))!;
    // The object's resourceVersion is the later of its spec and status revisions: unchanged.
    expect(Number(after.metadata.resourceVersion)).toBe(before);
  });

  it('an HTTP check answering 500 kills the task after maxConsecutiveFailures; it is replaced and the backoff counts it', async () => {
    setAnswer('sick', 'health', 500);
    await serverApp('sick', { healthChecks: [{ protocol: 'HTTP', path: '/health', maxConsecutiveFailures: 2, ...check }], backoffSeconds: 1 });
    const failed = await taskOf('sick', (t) => t.status?.phase === 'Failed', 'a task failed by its health check');
    expect(failed.status?.message).toBe('killed after 2 consecutive failed health checks (check 0 (HTTP /health): HTTP 500)');
    expect(condition(failed, 'Healthy')).toMatchObject({ status: 'False', reason: 'KilledUnhealthy' });
    await taskOf('sick', (t) => t.metadata.uid !== failed.metadata.uid && t.status?.phase !== 'Failed', 'a replacement');
    const revision = await until(async () => {
      const r = await db.store.get<CapstanObject<unknown, RevisionStatus & { backoff?: { failures: number } }>>('Revision', { namespace: NS, name: 'sick-1' });
      return (r?.status?.backoff?.failures ?? 0) >= 1 && r;
    }, { what: 'the backoff to count the kill' });
    expect(revision.status?.backoff?.failures).toBeGreaterThanOrEqual(1);
  });

  it('failures inside gracePeriodSeconds do not count until the first success', async () => {
    setAnswer('slow', 'health', 500);
    await serverApp('slow', { healthChecks: [{ protocol: 'HTTP', path: '/health', ...check, gracePeriodSeconds: 30, maxConsecutiveFailures: 1 }] });
    // Three failed probes with maxConsecutiveFailures 1: any one counted would have killed the task.
    await until(() => requests('slow', 'health') >= 3, { timeoutMs: 20_000, what: 'three failing probes' });
    const during = (await tasksOf('slow')).filter(running);
    expect(during).toHaveLength(1);
    expect(condition(during[0], 'Healthy')).toBeUndefined();
    setAnswer('slow', 'health', 200);
    const task = await taskOf('slow', healthy('True'), 'Healthy=True after the grace period failures');
    expect(task.metadata.uid).toBe(during[0]!.metadata.uid);
    expect(task.status?.healthResults?.[0]?.lastFailure).toBeUndefined();
  });

  it('a task healthy at first that turns unhealthy is killed and replaced', async () => {
    await serverApp('turns', { healthChecks: [{ protocol: 'HTTP', path: '/health', maxConsecutiveFailures: 2, ...check }] });
    const first = await taskOf('turns', healthy('True'), 'Healthy=True');
    setAnswer('turns', 'health', 503);
    const failed = await taskOf('turns', (t) => t.metadata.uid === first.metadata.uid && t.status?.phase === 'Failed', 'the first task failed');
    expect(failed.status?.message).toContain('killed after 2 consecutive failed health checks');
    expect(failed.status?.healthResults?.[0]).toMatchObject({ alive: false, consecutiveFailures: 2, lastFailureCause: 'HTTP 503' });
    expect(failed.status?.healthResults?.[0]?.firstSuccess).toBe(first.status?.healthResults?.[0]?.firstSuccess);
    setAnswer('turns', 'health', 200);
    await taskOf('turns', (t) => t.metadata.uid !== first.metadata.uid && healthy('True')(t), 'a healthy replacement', 30_000);
  });

  it('TCP checks: a listening port is alive, a closed one is not (maxConsecutiveFailures 0 never kills)', async () => {
    await serverApp('tcp', {
      ports: [{ name: 'http' }, { name: 'closed' }],
      healthChecks: [
        { protocol: 'TCP', portIndex: 0, ...check },
        { protocol: 'TCP', portName: 'closed', ...check, maxConsecutiveFailures: 0 },
      ],
    });
    const task = await taskOf('tcp', healthy('False'), 'Healthy=False from the closed port');
    await until(async () => {
      const t = (await tasksOf('tcp')).find(running);
      return t?.status?.healthResults?.length === 2 && t;
    }, { what: 'both TCP results' }).then((t) => {
      expect(t.status?.healthResults?.[0]).toMatchObject({ alive: true });
      expect(t.status?.healthResults?.[1]).toMatchObject({ alive: false });
      expect(t.status?.healthResults?.[1]?.lastFailureCause).toContain('ECONNREFUSED');
    });
    expect(condition(task, 'Healthy')?.message).toContain('check 1 (TCP)');
  });

  it('HTTPS with a self-signed certificate is accepted', async () => {
    await serverApp('tls', { healthChecks: [{ protocol: 'HTTPS', path: '/health', ...check }] }, { TLS_CERT: join(dir, 'cert.pem'), TLS_KEY: join(dir, 'key.pem') });
    const task = await taskOf('tls', healthy('True'), 'Healthy=True over HTTPS');
    expect(condition(task, 'Healthy')?.message).toContain('HTTPS /health');
  });

  it('readiness follows httpStatusCodesForReady', async () => {
    setAnswer('ready', 'ready', 503);
    await serverApp('ready', { readinessChecks: [{ protocol: 'HTTP', path: '/ready', portName: 'http', intervalSeconds: 1, timeoutSeconds: 1, httpStatusCodesForReady: [204] }] });
    const notReady = await taskOf('ready', (t) => running(t) && condition(t, 'Ready')?.status === 'False', 'Ready=False on 503');
    expect(condition(notReady, 'Ready')?.message).toContain('HTTP 503');
    setAnswer('ready', 'ready', 200);
    await until(() => requests('ready', 'ready') >= 2, { what: 'a probe answered 200' });
    const still = (await tasksOf('ready')).find(running);
    expect(condition(still, 'Ready')?.status).toBe('False');
    setAnswer('ready', 'ready', 204);
    const ready = await taskOf('ready', (t) => running(t) && condition(t, 'Ready')?.status === 'True', 'Ready=True on 204');
    expect(ready.metadata.uid).toBe(notReady.metadata.uid);
  });
});

describe('COMMAND checks run by the agent', () => {
  it('inside a docker container: `test -f /tmp/ok` toggles Healthy', async () => {
    await db.store.create({
      apiVersion: 'capstan/v1',
      kind: 'App',
      metadata: { name: 'cmd', namespace: NS },
      spec: {
        driver: 'docker',
        containers: [{ image: docker.image, cmd: 'sleep 3600', resources: { cpus: 0.1, mem: 32 } }],
        healthChecks: [{ protocol: 'COMMAND', command: 'test -f /tmp/ok', ...check, maxConsecutiveFailures: 0 }],
        taskKillGracePeriodSeconds: 1,
      },
    });
    const sick = await taskOf('cmd', healthy('False'), 'Healthy=False without /tmp/ok', 60_000);
    expect(sick.status?.healthResults?.[0]?.lastFailureCause).toBe('exit 1');
    const [container] = await docker.docker.listContainers({ filters: { label: [`${LABELS.taskUid}=${sick.metadata.uid}`] } });
    const run = async (cmd: string[]) => {
      const exec = await docker.docker.getContainer(container!.Id).exec({ Cmd: cmd });
      const stream = await exec.start({});
      await new Promise((resolve) => stream.on('end', resolve).resume());
    };
    await run(['touch', '/tmp/ok']);
    const well = await taskOf('cmd', healthy('True'), 'Healthy=True with /tmp/ok');
    expect(well.metadata.uid).toBe(sick.metadata.uid);
    await run(['rm', '/tmp/ok']);
    await taskOf('cmd', healthy('False'), 'Healthy=False again');
  });

  it('an HTTP check and a COMMAND check on one task: Healthy only when both pass', async () => {
    await serverApp('both', {
      healthChecks: [
        { protocol: 'HTTP', path: '/health', ...check },
        { protocol: 'COMMAND', command: `test -f ${join(control, 'both.ok')}`, ...check, maxConsecutiveFailures: 0 },
      ],
    });
    const half = await taskOf('both', healthy('False'), 'Healthy=False while the command fails');
    await until(async () => {
      const t = (await tasksOf('both')).find(running);
      return t?.status?.healthResults?.[0]?.alive === true && t;
    }, { what: 'the HTTP result beside the failing command' });
    writeFileSync(join(control, 'both.ok'), '');
    const whole = await taskOf('both', healthy('True'), 'Healthy=True with both');
    expect(whole.metadata.uid).toBe(half.metadata.uid);
    expect(whole.status?.healthResults?.map((r) => r.alive)).toEqual([true, true]);
  });
});
