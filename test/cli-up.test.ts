// `capstan up` as a user runs it: a child process that starts etcd in its state dir, writes the
// config file other commands then find, applies the demo, and on Ctrl-C stops what it started.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, REPO, spawnCapstan } from './helpers/cli.ts';
import { until } from './helpers/poll.ts';

const dir = mkdtempSync(join(tmpdir(), 'capstan-up-'));
const env = { HOME: dir, CAPSTAN_CONFIG: join(dir, 'config.yaml'), CAPSTAN_ETCD: undefined, NO_COLOR: '1' };

function startUp(): { child: ChildProcess; stderr: () => string; exited: Promise<number | null> } {
  const childEnv = Object.fromEntries(Object.entries({ ...process.env, ...env }).filter((e): e is [string, string] => e[1] !== undefined));
  const child = spawn(process.execPath, [BIN, 'up', '--state-dir', join(dir, 'state')], { cwd: REPO, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  child.stdout!.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, stderr: () => stderr, exited };
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('capstan up', () => {
  let running: ReturnType<typeof startUp> | undefined;
  afterAll(async () => {
    if (running && running.child.exitCode === null) {
      running.child.kill('SIGINT');
      await running.exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts etcd, applies the demo, points the config file at it, and stops it on Ctrl-C; a second run reuses the data', async () => {
    running = startUp();
    await until(() => running!.stderr().includes('ready.'), { timeoutMs: 20_000, what: `up to be ready: ${running!.stderr()}` });
    expect(running.stderr()).toContain('app/web created');
    expect(running.stderr()).toMatch(/controllers started: .*gc/);
    const etcdPid = Number(/pid (\d+)/.exec(running.stderr())![1]);
    expect(readFileSync(env.CAPSTAN_CONFIG, 'utf8')).toMatch(/^etcd: http:\/\/127\.0\.0\.1:\d+\n$/);
    expect(existsSync(join(dir, 'state', 'etcd', 'data'))).toBe(true);

    // Another terminal: no flags, no CAPSTAN_ETCD — the config file says where etcd is.
    const table = await spawnCapstan(['get', 'apps', '-A'], { env });
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^demo\s+web\s/m);

    running.child.kill('SIGINT');
    expect(await running.exited).toBe(0);
    expect(alive(etcdPid)).toBe(false);

    running = startUp();
    await until(() => running!.stderr().includes('ready.'), { timeoutMs: 20_000, what: 'the second up to be ready' });
    expect(running.stderr()).toContain('app/web unchanged');
    running.child.kill('SIGTERM');
    expect(await running.exited).toBe(0);
  });
});
