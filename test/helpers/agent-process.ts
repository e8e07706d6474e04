// `capstan agent` as its own OS process, as a node runs it: for tests that kill -9 it, restart it and
// check that what it left running is adopted.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { ProcessDriver } from '../../runtime/drivers/process.ts';
import { BIN, REPO } from './cli.ts';
import { until } from './poll.ts';

export interface AgentProcessOptions {
  etcd: string;
  node: string;
  stateDir: string;
  dockerSocket: string;
  leaseTtlSeconds?: number;
  extraArgs?: string[];
}

export interface AgentProcess {
  process: ChildProcess;
  stderr(): string;
  /** Resolves once the agent logged that it started (Node registered, lease held, tasks adopted). */
  started: Promise<void>;
  exited: Promise<void>;
  /** kill -9 and wait for the exit. */
  kill(): Promise<void>;
  /** SIGTERM and wait for the exit. */
  terminate(): Promise<void>;
}

export function startAgentProcess(options: AgentProcessOptions): AgentProcess {
  const args = [
    BIN,
    'agent',
    '--node', options.node,
    '--state-dir', options.stateDir,
    '--docker-socket', options.dockerSocket,
    '--lease-ttl', String(options.leaseTtlSeconds ?? 2),
    '--cpus', '4',
    '--mem', '4096',
    ...(options.extraArgs ?? []),
  ];
  const child = spawn(process.execPath, args, {
    cwd: REPO,
    env: { ...process.env, CAPSTAN_ETCD: options.etcd, NO_COLOR: '1', HOME: '/nonexistent' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const started = until(() => stderr.includes('agent started') || (child.exitCode !== null ? Promise.reject(new Error(`agent exited: ${stderr}`)) : false), {
    timeoutMs: 20_000,
    intervalMs: 10,
    what: `agent ${options.node} to start`,
  }).then(() => undefined);
  const stop = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  return { process: child, stderr: () => stderr, started, exited, kill: () => stop('SIGKILL'), terminate: () => stop('SIGTERM') };
}

/**
 * Removes the tasks an agent's process driver still runs under `agentStateDir` once the agent is
 * killed: kill -9 leaves them running by design (a restarted agent adopts them).
 */
export async function removeProcessTasks(agentStateDir: string): Promise<void> {
  const processes = new ProcessDriver({ stateDir: join(agentStateDir, 'process') });
  for (const task of await processes.list().catch(() => [])) await processes.remove(task.taskUid).catch(() => undefined);
  await processes.close();
}
