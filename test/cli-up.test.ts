// `capstan up` as a user runs it: a child process that starts etcd, its own dockerd, the controllers,
// a node agent, the DNS server and a load balancer (HAProxy) in its state dir, writes the config file
// other commands then find, applies the demo and prints the URLs where it answers — directly, through
// HAProxy by service port and by virtual host, and by name from DNS; on Ctrl-C it stops everything it
// started, workloads and HAProxy included, and a second run finds its data where the first left it.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus } from 'node:os';
import { request } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findHAProxyProcesses } from '../runtime/lb/haproxy-processes.ts';
import { BIN, REPO, spawnCapstan } from './helpers/cli.ts';
import { until } from './helpers/poll.ts';
import { freePort } from './helpers/ports.ts';

// Short, under /tmp: the state dir holds dockerd's sockets.
const dir = mkdtempSync('/tmp/cup-');
const state = join(dir, 'state');
const env = { HOME: dir, CAPSTAN_CONFIG: join(dir, 'config.yaml'), CAPSTAN_ETCD: undefined, NO_COLOR: '1' };
/** The front door's ports, free ones rather than up's defaults (8600, 8080, 9090), which may be taken here. */
const ports = { dns: 0, http: 0, stats: 0 };
const frontDoorFlags = () => ['--dns-port', String(ports.dns), '--http-port', String(ports.http), '--stats-port', String(ports.stats)];

interface Up {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

function startUp(): Up {
  const childEnv = Object.fromEntries(Object.entries({ ...process.env, ...env }).filter((e): e is [string, string] => e[1] !== undefined));
  // --docker-socket at a path nothing answers on: this test is about the dockerd that up starts.
  const args = [BIN, 'up', '--state-dir', state, '--docker-socket', join(dir, 'no-docker.sock'), ...frontDoorFlags()];
  const child = spawn(process.execPath, args, { cwd: REPO, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => (stdout += chunk));
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

const demoUrl = (up: Up) =>
  until(() => /^demo: (http:\/\/127\.0\.0\.1:\d+\/)$/m.exec(up.stdout())?.[1] ?? (up.child.exitCode !== null ? Promise.reject(new Error('up exited')) : undefined), {
    timeoutMs: 60_000,
    intervalMs: 100,
    what: `up to print the demo URL: ${up.stderr().slice(-2000)}`,
  });

/** The value of the stdout line `<label>: <value>`, once up has printed it (it prints each after checking it works). */
const printed = (up: Up, label: string) =>
  until(() => new RegExp(`^${label}: (.+)$`, 'm').exec(up.stdout())?.[1] ?? (up.child.exitCode !== null ? Promise.reject(new Error('up exited')) : undefined), {
    timeoutMs: 40_000,
    intervalMs: 100,
    what: `up to print "${label}": ${up.stderr().slice(-2000)}`,
  });

function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { timeout: 2_000, headers }, (res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** Processes that name the state dir in their arguments (etcd, dockerd, containerd, shims) or run in it (process-driver workloads). */
function processesOf(path: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      const cwd = readlinkSync(`/proc/${pid}/cwd`);
      if (args.includes(path) || cwd.startsWith(path)) found.push(`${pid} ${args.slice(0, 120)}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

async function interrupt(up: Up, signal: NodeJS.Signals): Promise<void> {
  up.child.kill(signal);
  expect(await up.exited).toBe(0);
}

/** Runs the printed dig command as printed; its answer lines (addresses, with +short). */
async function dig(command: string): Promise<string[]> {
  const [binary, ...args] = command.split(' ');
  expect(binary).toBe('dig');
  const { stdout } = await promisify(execFile)('dig', args, { timeout: 10_000 });
  return stdout.trim().split('\n').filter(Boolean);
}

/** Each way in that up prints besides the demo URL answers: through HAProxy by service port and by virtual host, by name from DNS. */
async function expectFrontDoor(up: Up): Promise<void> {
  const byServicePort = await printed(up, 'demo through the load balancer');
  expect(byServicePort).toMatch(/^http:\/\/127\.0\.0\.1:100\d\d\/$/);
  const page = await get(byServicePort);
  expect(page.status).toBe(200);
  expect(page.body).toMatch(/^hello from [0-9a-f-]{36}$/m);

  const byVhost = await printed(up, 'demo by virtual host');
  expect(byVhost).toBe(`http://web.localhost:${ports.http}/`);
  // *.localhost is 127.0.0.1 to curl and browsers; Node resolves it through the system, so ask the address with the Host header.
  const vhostPage = await get(`http://127.0.0.1:${ports.http}/`, { host: 'web.localhost' });
  expect(vhostPage.status).toBe(200);
  expect(vhostPage.body).toMatch(/^hello from [0-9a-f-]{36}$/m);

  const command = await printed(up, 'demo by name');
  expect(command).toBe(`dig @127.0.0.1 -p ${ports.dns} web.demo.capstan +short`);
  expect(await dig(command)).toEqual(expect.arrayContaining([expect.stringMatching(/^\d+\.\d+\.\d+\.\d+$/)]));

  expect(await printed(up, 'load balancer stats')).toBe(`http://127.0.0.1:${ports.stats}/haproxy?stats (user and password in ${join(state, 'lb', 'stats-credentials')})`);
}

describe('capstan up', () => {
  let running: Up | undefined;
  beforeAll(async () => {
    ports.dns = await freePort();
    ports.http = await freePort();
    ports.stats = await freePort();
  });
  afterAll(async () => {
    if (running && running.child.exitCode === null) {
      running.child.kill('SIGINT');
      await running.exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts etcd, dockerd, the controllers, an agent, DNS and HAProxy, prints where the demo answers directly, through HAProxy and by name, stops all of it on Ctrl-C, and a second run reuses the data', async () => {
    running = startUp();
    const url = await demoUrl(running);
    const page = await get(url);
    expect(page.status).toBe(200);
    expect(page.body).toMatch(/^hello from [0-9a-f-]{36}$/m);
    const log = running.stdout() + running.stderr();
    expect(log).toContain('app/web created');
    expect(log).toMatch(/controllers started: .*gc/);
    expect(log).toMatch(/docker started: dockerd \(pid \d+\)/);
    expect(log).toMatch(/agent started: node local/);
    // The local node's cpus are overcommitted (cli/local/capacity.ts), and up says so.
    expect(log).toContain(`offers ${cpus().length * 4} cpus (${cpus().length} × cpu overcommit 4`);
    expect(log).toMatch(/dns started: answering for capstan\. on 127\.0\.0\.1:\d+/);
    expect(log).toMatch(/lb started: lb-local \(HAProxy, group external\)/);
    await expectFrontDoor(running);
    expect(findHAProxyProcesses(join(state, 'lb')).length).toBeGreaterThan(0);
    expect(readFileSync(env.CAPSTAN_CONFIG, 'utf8')).toMatch(/^etcd: http:\/\/127\.0\.0\.1:\d+\n$/);
    expect(existsSync(join(state, 'etcd', 'data'))).toBe(true);
    expect(existsSync(join(state, 'docker', 'data'))).toBe(true);
    const image = /image local\/busybox:1 (sha256:[0-9a-f]+)/.exec(log)?.[1];
    expect(image).toBeDefined();

    // Another terminal: no flags, no CAPSTAN_ETCD — the config file says where etcd is.
    const tasks = await until(
      async () => {
        const table = await spawnCapstan(['get', 'tasks', '-A', '-o', 'wide'], { env });
        return table.code === 0 && /^demo\s+echo-\S+\s+echo\s+\d+\s+Running\s/m.test(table.stdout) && table.stdout;
      },
      { timeoutMs: 15_000, what: 'every demo task Running' },
    );
    const port = new URL(url).port;
    expect(tasks).toMatch(new RegExp(`^demo\\s+web-\\S+\\s+web\\s+1\\s+Running\\s.*\\slocal\\s+${port}\\s`, 'm'));
    expect(tasks).toMatch(/^demo\s+echo-\S+\s+echo\s+1\s+Running\s.*\slocal\s+\d+\s/m);
    expect(processesOf(state).length).toBeGreaterThan(0);

    await interrupt(running, 'SIGINT');
    expect(running.stderr()).toMatch(/stopped [1-9]\d* workload\(s\) on node local/);
    expect(processesOf(state)).toEqual([]);
    expect(findHAProxyProcesses(join(state, 'lb'))).toEqual([]);
    await expect(get(url)).rejects.toThrow();
    await expect(get(`http://127.0.0.1:${ports.http}/`, { host: 'web.localhost' })).rejects.toThrow();

    running = startUp();
    const second = await demoUrl(running);
    expect((await get(second)).status).toBe(200);
    expect(running.stdout()).toContain('app/web unchanged');
    // The image lives in the engine's data root: the same one, not imported again.
    expect(running.stderr()).toContain(`image local/busybox:1 ${image}`);
    await expectFrontDoor(running);
    await interrupt(running, 'SIGTERM');
    expect(processesOf(state)).toEqual([]);
    expect(findHAProxyProcesses(join(state, 'lb'))).toEqual([]);
  }, 180_000);

  it('names the flag to change when a front-door port is taken, before starting anything', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      const result = await spawnCapstan(['up', '--state-dir', join(dir, 'taken'), ...frontDoorFlags(), '--http-port', String(port)], { env });
      expect(result.code).toBe(1);
      expect(result.stderr.trim()).toBe(`port ${port} on 127.0.0.1 (the load balancer's HTTP frontend) is in use by another program: choose another with --http-port`);
      expect(existsSync(join(dir, 'taken', 'etcd'))).toBe(false);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });
});
