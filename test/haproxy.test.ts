// The HAProxy process manager and runtime API against the real haproxy 2.6, on loopback, with tiny
// node:http backends in this process.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, get, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { parseCheckOutput } from '../runtime/lb/haproxy-config.ts';
import { findHAProxyProcesses } from '../runtime/lb/haproxy-processes.ts';
import { HAProxyProcess, type HAProxyRestart } from '../runtime/lb/haproxy.ts';
import { runLoad } from './helpers/http-load.ts';
import { until } from './helpers/poll.ts';
import { freePort } from './helpers/ports.ts';

interface Backend {
  name: string;
  port: number;
  server: Server;
  /** While held, requests wait (an open connection) until release(). */
  hold(): void;
  release(): void;
  held(): number;
}

async function startBackend(name: string): Promise<Backend> {
  const waiting: (() => void)[] = [];
  let holding = false;
  const server = createServer((_, res) => {
    const answer = () => res.end(name);
    if (holding) waiting.push(answer);
    else answer();
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  return {
    name,
    port,
    server,
    hold: () => (holding = true),
    release: () => {
      holding = false;
      for (const answer of waiting.splice(0)) answer();
    },
    held: () => waiting.length,
  };
}

interface ServerLine {
  name: string;
  port: number;
  /** Extra server options, e.g. 'disabled'. */
  options?: string;
}

function configText(options: {
  dir: string;
  frontendPort: number;
  servers: ServerLine[];
  hardStopAfterSeconds?: number;
  /** Marks a version: answered in the X-Config header. */
  version?: string;
}): string {
  return [
    'global',
    '  master-worker',
    '  log stderr format raw local0 notice',
    `  stats socket ${options.dir}/admin.sock mode 600 level admin expose-fd listeners`,
    `  server-state-file ${options.dir}/server-state`,
    `  hard-stop-after ${options.hardStopAfterSeconds ?? 5}s`,
    '  mworker-max-reloads 1',
    'defaults',
    '  mode http',
    '  log global',
    '  load-server-state-from-file global',
    '  option redispatch',
    // A soft-stopping worker answers the next request on an idle keep-alive connection (then closes it)
    // instead of closing it under a client that may be sending on it.
    '  option idle-close-on-response',
    '  retries 3',
    '  timeout connect 1s',
    '  timeout client 10s',
    '  timeout server 10s',
    '  timeout http-keep-alive 1s',
    'frontend web',
    `  bind 127.0.0.1:${options.frontendPort}`,
    `  http-response set-header X-Config ${options.version ?? 'v1'}`,
    '  default_backend app',
    'backend app',
    '  balance roundrobin',
    ...options.servers.map((s) => `  server ${s.name} 127.0.0.1:${s.port} check inter 1s rise 2 fall 3 ${s.options ?? ''}`.trimEnd()),
    '',
  ].join('\n');
}

/** One GET through the frontend: status, body and the config version that answered. */
function fetchOnce(port: number, timeoutMs = 2_000): Promise<{ status: number; body: string; version: string }> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, version: String(res.headers['x-config'] ?? '') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/** Masters of a directory: its haproxy processes whose parent is not one of them. */
function masters(dir: string): number[] {
  const all = findHAProxyProcesses(dir);
  const pids = new Set(all.map((p) => p.pid));
  return all.filter((p) => !pids.has(p.ppid)).map((p) => p.pid);
}

/** A logger whose lines the test can read. */
function recordingLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) }), lines };
}

describe('HAProxy in master-worker mode', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function setup(options: { servers?: (backends: Backend[]) => ServerLine[]; hardStopAfterSeconds?: number } = {}) {
    const dir = mkdtempSync(join(tmpdir(), 'capstan-haproxy-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const backends = [await startBackend('A'), await startBackend('B'), await startBackend('C')];
    cleanups.push(() => {
      for (const backend of backends) {
        backend.release();
        backend.server.closeAllConnections();
        backend.server.close();
      }
    });
    const frontendPort = await freePort();
    const servers = options.servers?.(backends) ?? [{ name: 's1', port: backends[0]!.port }];
    const config = (version: string, override?: ServerLine[]) =>
      configText({ dir, frontendPort, servers: override ?? servers, version, hardStopAfterSeconds: options.hardStopAfterSeconds });
    const { log, lines } = recordingLog();
    const start = async () => {
      const haproxy = await HAProxyProcess.start({ dir, config: config('v1'), log });
      cleanups.push(() => haproxy.stop());
      return haproxy;
    };
    return { dir, backends, frontendPort, config, log, lines, start };
  }

  it.each([{ keepAlive: false }, { keepAlive: true }])('reloads five times under a steady load (keep-alive: $keepAlive) without failing a request', async ({ keepAlive }) => {
    const env = await setup({ servers: (b) => [{ name: 's1', port: b[0]!.port }, { name: 's2', port: b[1]!.port }] });
    const haproxy = await env.start();
    const load = runLoad({ url: `http://127.0.0.1:${env.frontendPort}/`, ratePerSecond: 200, durationMs: 3_000, timeoutMs: 3_000, keepAlive });
    const workers: number[] = [];
    for (let i = 2; i <= 6; i++) {
      await new Promise((resolve) => setTimeout(resolve, 400));
      const started = Date.now();
      const result = await haproxy.install(env.config(`v${i}`));
      expect(result.outcome).toBe('reloaded');
      if (result.outcome === 'reloaded') workers.push(result.workerPid);
      console.log(`reload ${i - 1}: new worker serving after ${Date.now() - started} ms`);
    }
    const result = await load;
    console.log(`load (keep-alive: ${keepAlive}) during reloads: sent ${result.sent}, ok ${result.ok}, failed ${result.failed}`);
    expect(result.failures).toEqual([]);
    expect(result.ok).toBe(result.sent);
    expect(new Set(workers).size).toBe(5);
    expect((await fetchOnce(env.frontendPort)).version).toBe('v6');
    expect(await haproxy.install(env.config('v6'))).toEqual({ outcome: 'unchanged' });
  });

  it('reports the lines haproxy -c blames and keeps serving the installed configuration', async () => {
    const env = await setup();
    const haproxy = await env.start();
    const bad = env.config('v2').replace('  balance roundrobin', '  balance roundrobin\n  bogus_keyword 3');
    const line = bad.split('\n').indexOf('  bogus_keyword 3') + 1;
    const result = await haproxy.install(bad);
    expect(result.outcome).toBe('rejected');
    if (result.outcome === 'rejected') expect(result.errors).toEqual([{ line, message: "unknown keyword 'bogus_keyword' in 'backend' section" }]);
    expect(readFileSync(join(env.dir, 'haproxy.cfg'), 'utf8')).toBe(env.config('v1'));
    expect((await fetchOnce(env.frontendPort)).version).toBe('v1');
  });

  it('moves, drains and disables servers through the runtime API without a reload', async () => {
    const env = await setup({
      servers: (b) => [{ name: 's1', port: b[0]!.port }, { name: 's2', port: 1, options: 'disabled' }],
    });
    const [a, , c] = env.backends as [Backend, Backend, Backend];
    const haproxy = await env.start();
    const api = haproxy.runtime;
    const worker = (await haproxy.processes()).workers[0]!.pid;

    // An empty slot gets a task: address, then ready (and health up, so it serves before `rise` checks).
    await api.setServer('app', 's2', { address: '127.0.0.1', port: c.port });
    await api.setState('app', 's2', 'ready');
    await api.setHealth('app', 's2', 'up');
    const bodies = new Set<string>();
    for (let i = 0; i < 6; i++) bodies.add((await fetchOnce(env.frontendPort)).body);
    expect([...bodies].sort()).toEqual(['A', 'C']);

    await api.setState('app', 's1', 'maint');
    for (let i = 0; i < 4; i++) expect((await fetchOnce(env.frontendPort)).body).toBe('C');

    // Drain: the connection open on s2 is served to its end, new requests go to s1 only.
    c.hold();
    const open = fetchOnce(env.frontendPort, 10_000);
    await until(() => c.held() === 1, { what: 'a request held open on C' });
    await api.setState('app', 's1', 'ready');
    await api.setState('app', 's2', 'drain');
    for (let i = 0; i < 4; i++) expect((await fetchOnce(env.frontendPort)).body).toBe('A');
    expect((await api.sessions()).get('app/s2')).toBe(1);
    c.release();
    expect(await open).toMatchObject({ status: 200, body: 'C' });
    await until(async () => (await api.sessions()).get('app/s2') === 0, { timeoutMs: 3_000, what: 'scur of app/s2 to reach 0' });
    const s2 = (await api.showStat()).find((row) => row.pxname === 'app' && row.svname === 's2');
    expect(s2).toMatchObject({ status: 'DRAIN', addr: `127.0.0.1:${c.port}`, scur: 0 });

    expect((await haproxy.processes()).workers.map((w) => w.pid)).toEqual([worker]);
    await expect(api.setState('app', 'nope', 'ready')).rejects.toThrow(/HAProxy refused "set server app\/nope state ready"/);
  });

  it('keeps a server put in maintenance through the runtime API in maintenance across a reload', async () => {
    const env = await setup({ servers: (b) => [{ name: 's1', port: b[0]!.port }, { name: 's2', port: b[1]!.port }] });
    const haproxy = await env.start();
    await haproxy.runtime.setState('app', 's2', 'maint');
    const result = await haproxy.install(env.config('v2'));
    expect(result.outcome).toBe('reloaded');
    const state = await haproxy.runtime.showServersState();
    expect(state.rows.find((row) => row.server === 's2')).toMatchObject({ admin: 'maint' });
    for (let i = 0; i < 4; i++) expect(await fetchOnce(env.frontendPort)).toMatchObject({ body: 'A', version: 'v2' });
  });

  it('restarts a master killed with SIGKILL on the installed configuration and says so', async () => {
    const env = await setup();
    const haproxy = await env.start();
    await haproxy.install(env.config('v2'));
    const restarts: HAProxyRestart[] = [];
    haproxy.restarts.subscribe((restart) => restarts.push(restart));
    const killed = haproxy.masterPid!;
    const started = Date.now();
    process.kill(killed, 'SIGKILL');
    // The old worker may answer for a moment after its master died: wait for the restart first.
    await until(() => restarts.length === 1, { timeoutMs: 3_000, what: 'the restart to be reported' });
    const answer = await until(() => fetchOnce(env.frontendPort, 500), { timeoutMs: 2_000, what: 'the frontend to answer again' });
    console.log(`restarted and serving ${Date.now() - started} ms after the master was killed`);
    expect(answer).toMatchObject({ status: 200, version: 'v2' });
    expect(restarts[0]!.masterPid).not.toBe(killed);
    expect(haproxy.masterPid).toBe(restarts[0]!.masterPid);
    expect(env.lines.some((line) => line.includes('restarting it with the installed configuration'))).toBe(true);
    expect(masters(env.dir)).toEqual([haproxy.masterPid]);
  });

  it('a second manager on the same directory replaces the first one\'s master, and the first stands down', async () => {
    const env = await setup();
    const first = await env.start();
    const left = first.masterPid!;
    const second = await HAProxyProcess.start({ dir: env.dir, config: env.config('v2'), log: env.log });
    cleanups.push(() => second.stop());
    expect(masters(env.dir)).toEqual([second.masterPid]);
    expect(second.masterPid).not.toBe(left);
    expect(await fetchOnce(env.frontendPort)).toMatchObject({ status: 200, version: 'v2' });
    // The first manager sees its master replaced and does not fight back.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(masters(env.dir)).toEqual([second.masterPid]);
    expect(env.lines.some((line) => line.includes('another process manager took over'))).toBe(true);
    await first.stop();
    expect(masters(env.dir)).toEqual([second.masterPid]);
  });

  it('takes over a master left by a run that was killed, hitlessly under load', async () => {
    const env = await setup();
    // What a `capstan lb` killed outright leaves: a detached master on this directory, with its pidfile.
    writeFileSync(join(env.dir, 'haproxy.cfg'), env.config('v1'));
    const orphan = spawn('haproxy', ['-W', '-S', join(env.dir, 'master.sock'), '-f', join(env.dir, 'haproxy.cfg'), '-p', join(env.dir, 'haproxy.pid')], {
      detached: true,
      stdio: 'ignore',
    });
    cleanups.push(() => void (orphan.exitCode === null && orphan.signalCode === null && process.kill(-orphan.pid!, 'SIGKILL')));
    await until(() => fetchOnce(env.frontendPort, 500), { what: 'the orphaned master to serve' });
    const load = runLoad({ url: `http://127.0.0.1:${env.frontendPort}/`, ratePerSecond: 200, durationMs: 1_500, timeoutMs: 3_000 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const started = Date.now();
    const haproxy = await HAProxyProcess.start({ dir: env.dir, config: env.config('v2'), log: env.log });
    cleanups.push(() => haproxy.stop());
    console.log(`took over the orphaned master in ${Date.now() - started} ms`);
    const result = await load;
    console.log(`load during the take-over: sent ${result.sent}, ok ${result.ok}, failed ${result.failed}`);
    expect(result.failures).toEqual([]);
    expect(masters(env.dir)).toEqual([haproxy.masterPid]);
    expect(findHAProxyProcesses(env.dir).some((p) => p.pid === orphan.pid)).toBe(false);
    expect(await fetchOnce(env.frontendPort)).toMatchObject({ status: 200, version: 'v2' });
    // The master started with `-x <admin socket>` reloads like any other.
    expect((await haproxy.install(env.config('v3'))).outcome).toBe('reloaded');
    expect(await fetchOnce(env.frontendPort)).toMatchObject({ status: 200, version: 'v3' });
  });

  it('stop leaves no haproxy process of its directory', async () => {
    const env = await setup();
    const haproxy = await env.start();
    await haproxy.install(env.config('v2'));
    expect(findHAProxyProcesses(env.dir).length).toBeGreaterThanOrEqual(2);
    const started = Date.now();
    await haproxy.stop();
    console.log(`stopped in ${Date.now() - started} ms`);
    expect(findHAProxyProcesses(env.dir)).toEqual([]);
  });

  it('hard-stop-after ends an old worker that holds a connection open', async () => {
    const env = await setup({ hardStopAfterSeconds: 2 });
    const haproxy = await env.start();
    const a = env.backends[0]!;
    a.hold();
    const open = fetchOnce(env.frontendPort, 10_000).then(
      (answer) => `HTTP ${answer.status}`,
      (error: Error) => error.message,
    );
    await until(() => a.held() === 1, { what: 'a request held open on A' });
    const old = (await haproxy.processes()).workers[0]!.pid;
    const reloaded = Date.now();
    await haproxy.install(env.config('v2'));
    expect((await haproxy.processes()).oldWorkers.map((w) => w.pid)).toEqual([old]);
    await until(async () => (await haproxy.oldWorkers()) === 0, { timeoutMs: 5_000, what: 'the old worker to be gone' });
    const lingered = Date.now() - reloaded;
    console.log(`old worker holding a connection gone ${lingered} ms after the reload; the held request ended with: ${await open}`);
    expect(lingered).toBeGreaterThanOrEqual(1_500);
    expect(findHAProxyProcesses(env.dir).some((p) => p.pid === old)).toBe(false);
  });

  it('never more than one lingers: a worker still holding a connection at the next reload is ended (mworker-max-reloads 1)', async () => {
    const env = await setup({ hardStopAfterSeconds: 30 });
    const haproxy = await env.start();
    const a = env.backends[0]!;
    a.hold();
    const first = fetchOnce(env.frontendPort, 20_000).catch((error: Error) => error.message);
    await until(() => a.held() === 1, { what: 'a request held on the first worker' });
    await haproxy.install(env.config('v2'));
    const second = fetchOnce(env.frontendPort, 20_000).catch((error: Error) => error.message);
    await until(() => a.held() === 2, { what: 'a request held on the second worker' });
    await haproxy.install(env.config('v3'));
    // Both older workers hold a connection, hard-stop-after is far away: still only one old worker.
    await until(async () => (await haproxy.oldWorkers()) === 1, { timeoutMs: 5_000, what: 'one old worker left' });
    a.release();
    await Promise.all([first, second]);
  });
});

describe('parseCheckOutput', () => {
  const file = '/tmp/x/.check-1.cfg';
  it.each([
    {
      scenario: 'an unknown keyword, located',
      output: `[NOTICE]   (1) : haproxy version is 2.6.12\n[ALERT]    (1) : config : parsing [${file}:8] : unknown keyword 'bogus' in 'frontend' section\n[ALERT]    (1) : config : Error(s) found in configuration file : ${file}\n[ALERT]    (1) : config : Fatal errors found in configuration.\n`,
      errors: [{ line: 8, message: "unknown keyword 'bogus' in 'frontend' section" }],
    },
    {
      scenario: 'a server error without "parsing"',
      output: `[ALERT]    (1) : config : [${file}:11] : 'server b/s1' : invalid character 'x' in port number 'x' in '127.0.0.1:x'\n`,
      errors: [{ line: 11, message: "'server b/s1' : invalid character 'x' in port number 'x' in '127.0.0.1:x'" }],
    },
    {
      scenario: 'only the summary',
      output: `[ALERT]    (1) : config : Fatal errors found in configuration.\n`,
      errors: [{ message: 'Fatal errors found in configuration.' }],
    },
    {
      scenario: 'a multi-line alert and warnings',
      output: `[WARNING]  (1) : config : something\n[ALERT]    (1) : config : Proxy 'web': unable to find backend 'nope'\n  | more detail\n`,
      errors: [{ message: "Proxy 'web': unable to find backend 'nope' | more detail" }],
    },
  ])('$scenario', ({ output, errors }) => {
    expect(parseCheckOutput(output, file)).toEqual(errors);
  });
});
