// `capstan exec` and `capstan logs --previous` through a real node agent (`capstan agent` in its own
// OS process), a real etcd, a private real dockerd and real processes. Tasks are created already
// bound, with the agent's finalizer and the node's index entry, as the scheduler leaves them.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appSpecSchema } from '../api/kinds/app.ts';
import { builtinRegistry } from '../api/kinds/builtin.ts';
import type { TaskSpec, TaskStatus } from '../api/kinds/task.ts';
import { AGENT_FINALIZER, APP_LABEL } from '../api/kinds/wellknown.ts';
import { nodeTaskIndexEntry } from '../api/node-index.ts';
import type { CapstanObject } from '../api/object.ts';
import { removeProcessTasks, startAgentProcess, type AgentProcess } from './helpers/agent-process.ts';
import { BIN, capstan, spawnCapstan } from './helpers/cli.ts';
import { startDocker, type TestDocker } from './helpers/dockerd.ts';
import { useStore } from './helpers/etcd.ts';
import { until } from './helpers/poll.ts';
import { freePort } from './helpers/ports.ts';

type Task = CapstanObject<TaskSpec, TaskStatus>;
const NODE = 'exec-n1';
const NS = 'default';

const db = useStore(builtinRegistry());
let docker: TestDocker;
let stateDir: string;
let agent: AgentProcess;

beforeAll(async () => {
  docker = await startDocker();
  stateDir = mkdtempSync(join(tmpdir(), 'capstan-exec-'));
  agent = startAgentProcess({ etcd: db.etcd.url, node: NODE, stateDir, dockerSocket: docker.engine.socketPath, extraArgs: ['--ports', '24400-24419'] });
  await agent.started;
}, 120_000);

afterAll(async () => {
  await agent?.kill();
  if (stateDir) {
    await removeProcessTasks(stateDir);
    rmSync(stateDir, { recursive: true, force: true });
  }
  await docker?.stop();
});

const run = (args: string[], stdin?: string) => capstan(args, { etcd: db.etcd.url, ...(stdin !== undefined ? { stdin } : {}) });

/** A Task bound to NODE as the scheduler leaves it (finalizer, index entry), one container `main`. */
async function boundTask(name: string, options: { driver: 'process' | 'docker'; cmd: string; app?: string; node?: string }): Promise<Task> {
  const app = options.app ?? name;
  const container = { name: 'main', cmd: options.cmd, env: { GREETING: 'hello' }, resources: { cpus: 0.1, mem: 32 }, ...(options.driver === 'docker' ? { image: docker.image } : {}) };
  const template = { driver: options.driver, containers: [container], ports: [], taskKillGracePeriodSeconds: 1 };
  const nodeName = options.node ?? NODE;
  const task = await db.store.create<Task>({
    apiVersion: 'capstan/v1',
    kind: 'Task',
    metadata: { name, namespace: NS, finalizers: [AGENT_FINALIZER], labels: { [APP_LABEL]: app } },
    spec: { app, revision: 1, template, nodeName, hostPorts: [] } as unknown as TaskSpec,
    status: { phase: 'Pending' },
  });
  const { key, value } = nodeTaskIndexEntry({ node: nodeName, namespace: NS, name, uid: task.metadata.uid! });
  await db.client.put(key).value(value);
  return task;
}

async function untilPhase(name: string, phase: TaskStatus['phase']): Promise<Task> {
  return until(
    async () => {
      const task = await db.store.get<Task>('Task', { namespace: NS, name });
      return task?.status?.phase === phase ? task : undefined;
    },
    { timeoutMs: 30_000, what: `task ${name} to be ${phase}` },
  );
}

describe.each(['process', 'docker'] as const)('capstan exec, %s driver', (driver) => {
  const name = `${driver}-shell`;

  beforeAll(async () => {
    await boundTask(name, { driver, cmd: 'echo started; exec sleep 1000' });
    await untilPhase(name, 'Running');
  }, 60_000);

  it("runs the command with the task's environment, stdout and stderr apart, and exits with its code", async () => {
    const result = await run(['exec', name, '--', 'sh', '-c', 'echo "$GREETING from $CAPSTAN_TASK_NAME"; echo oops >&2; exit 3']);
    expect(result).toEqual({ code: 3, stdout: `hello from ${name}\n`, stderr: 'oops\n' });
  });

  it("an App names its newest Running task, as kubectl's deploy/NAME does", async () => {
    await db.store.create({ apiVersion: 'capstan/v1', kind: 'App', metadata: { name, namespace: NS }, spec: { driver, containers: [{ cmd: 'sleep 1000' }] } });
    try {
      for (const target of [name, `app/${name}`]) {
        const result = await run(['exec', target, '--', 'sh', '-c', 'echo "$CAPSTAN_TASK_NAME"']);
        expect(result).toEqual({ code: 0, stdout: `${name}\n`, stderr: '' });
      }
    } finally {
      await db.store.delete('App', { namespace: NS, name });
    }
  });

  it('passes stdin with -i; without -i the command reads an empty stdin', async () => {
    const piped = await run(['exec', '-i', name, '--', 'sh', '-c', 'tr a-z A-Z; echo done'], 'piped through\nthe agent\n');
    expect(piped).toEqual({ code: 0, stdout: 'PIPED THROUGH\nTHE AGENT\ndone\n', stderr: '' });
    const closed = await run(['exec', name, '--', 'sh', '-c', 'cat; echo eof'], 'ignored');
    expect(closed).toEqual({ code: 0, stdout: 'eof\n', stderr: '' });
  });

  it('runs argv without a shell, and says so when the command does not exist', async () => {
    expect(await run(['exec', name, '--', 'echo', '$GREETING', 'a  b'])).toEqual({ code: 0, stdout: '$GREETING a  b\n', stderr: '' });
    const missing = await run(['exec', name, '--', 'no-such-command']);
    expect(missing.code).toBeGreaterThanOrEqual(126);
    expect(missing.stderr).toMatch(/no-such-command/);
  });

  it('an unknown container is one sentence', async () => {
    const result = await run(['exec', '-c', 'sidecar', name, '--', 'true']);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`task default/${name} has no container "sidecar" (its containers: main) (said the agent of node "${NODE}", HTTP 404)\n`);
  });

  it('the real command exits with the code of the command', async () => {
    const result = await spawnCapstan(['exec', name, '--', 'sh', '-c', 'echo out; exit 42'], { env: { CAPSTAN_ETCD: db.etcd.url } });
    expect(result).toMatchObject({ code: 42, stdout: 'out\n', stderr: '' });
  });
});

describe('capstan exec, when the caller goes away', () => {
  it('the agent kills the command (process driver)', async () => {
    await boundTask('long', { driver: 'process', cmd: 'exec sleep 1000' });
    await untilPhase('long', 'Running');
    const pidFile = join(stateDir, 'exec-pid');
    const cli = spawn(process.execPath, [BIN, 'exec', 'long', '--', 'sh', '-c', `echo $$ > ${pidFile}; exec sleep 1000`], {
      env: { ...process.env, CAPSTAN_ETCD: db.etcd.url },
      stdio: 'ignore',
    });
    const pid = await until(() => existsSync(pidFile) && Number(readFileSync(pidFile, 'utf8').trim()), { timeoutMs: 15_000, what: 'the command to start' });
    expect(alive(pid)).toBe(true);
    cli.kill('SIGKILL');
    // Generous: on a loaded machine the agent's kill and the reaping of the command can take seconds.
    await until(() => !alive(pid), { timeoutMs: 30_000, what: 'the command to be killed' });
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('capstan exec refusals', () => {
  it('a task that is not running is one sentence, and so is an unreachable agent', async () => {
    await boundTask('ended', { driver: 'process', cmd: 'echo bye; exit 2' });
    await untilPhase('ended', 'Failed');
    const ended = await run(['exec', 'ended', '--', 'true']);
    expect(ended).toMatchObject({ code: 1, stdout: '' });
    expect(ended.stderr).toBe('task "ended" is not running (phase Failed: exited with code 2): exec needs a Running task; its output is in `capstan logs ended`\n');

    // A node whose agent is gone: its endpoint answers nothing.
    const port = await freePort();
    const ghost = await db.store.create({ apiVersion: 'capstan/v1', kind: 'Node', metadata: { name: 'exec-ghost' }, spec: { address: '127.0.0.1', capacity: { cpus: 1, mem: 64 } } });
    await db.store.updateStatus({ ...ghost, status: { agentEndpoint: `http://127.0.0.1:${port}` } });
    const orphan = await boundTask('orphan', { driver: 'process', cmd: 'sleep 1', node: 'exec-ghost' });
    await db.store.updateStatus({ ...orphan, status: { phase: 'Running' } });
    const unreachable = await run(['exec', 'orphan', '--', 'true']);
    expect(unreachable).toMatchObject({ code: 1, stdout: '' });
    expect(unreachable.stderr).toBe(`cannot reach the agent of node "exec-ghost" at http://127.0.0.1:${port} (ECONNREFUSED): is \`capstan agent --node exec-ghost\` running?\n`);

    expect(await run(['exec', 'ended'])).toMatchObject({ code: 2, stderr: 'exec needs a command after --: capstan exec TASK [-c CONTAINER] -- CMD [ARGS...]\n' });
  });
});

describe('capstan logs --previous', () => {
  it("prints the App's most recently terminated task, says which on stderr, and keeps stdout for the log", async () => {
    await db.store.create({ apiVersion: 'capstan/v1', kind: 'App', metadata: { name: 'crashy', namespace: NS }, spec: appSpecSchema.parse({ driver: 'process', containers: [{ cmd: 'x' }] }) });
    await boundTask('crashy-1', { driver: 'process', app: 'crashy', cmd: 'echo first run; echo first error >&2; exit 3' });
    await untilPhase('crashy-1', 'Failed');
    await boundTask('crashy-2', { driver: 'process', app: 'crashy', cmd: 'echo second run; exec sleep 1000' });
    await untilPhase('crashy-2', 'Running');

    for (const target of ['crashy-2', 'crashy', 'app/crashy']) {
      const previous = await run(['logs', target, '--previous']);
      expect(previous).toMatchObject({ code: 0, stdout: 'first run\nfirst error\n' });
      expect(previous.stderr).toMatch(/^# logs of crashy-1, Failed \(exited with code 3\) \d+s ago\n$/);
    }
    // Without -p an App means its newest Running task.
    await until(async () => (await run(['logs', 'crashy'])).stdout === 'second run\n', { timeoutMs: 10_000, what: 'the running task to log' });
    expect(await run(['logs', '-p', 'crashy-1'])).toMatchObject({ code: 1, stderr: expect.stringContaining('app "crashy" has no terminated task whose logs are kept') });
    expect(await run(['logs', 'nothing-here'])).toMatchObject({ code: 1, stderr: 'no task or App named "nothing-here" in namespace "default" (list them with `capstan get all -n default`)\n' });
  });
});
