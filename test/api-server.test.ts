// The HTTP API server against a real etcd, over real HTTP: Marathon's system routes (/ping, /v2/info,
// /v2/leader) as thefactory's Marathon client reads them, authentication (bearer, DC/OS token, basic)
// and the refusal to listen beyond loopback without it; then `capstan api` as a user runs it (a child
// process stopped by SIGTERM) and the API that `capstan up` starts.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiServerError, listenRefusal, startApiServer, type RunningApiServer } from '../api/http/server.ts';
import { parseAuthFile, type AuthConfig } from '../api/http/auth.ts';
import type { RouteModule } from '../api/http/context.ts';
import { nativeRoutes } from '../api/http/native.ts';
import { builtinRegistry } from '../api/kinds/builtin.ts';
import { BIN, REPO, spawnCapstan } from './helpers/cli.ts';
import { useStore } from './helpers/etcd.ts';
import { until } from './helpers/poll.ts';
import { scrape } from './helpers/prometheus.ts';

const db = useStore(builtinRegistry());
const dir = mkdtempSync(join(tmpdir(), 'capstan-api-server-'));
/** thefactory's Marathon client, from Debian's python3-marathon: the system Python has it. */
const PYTHON = '/usr/bin/python3';

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const basic = (credentials: string) => `Basic ${Buffer.from(credentials).toString('base64')}`;
const authConfig = (text: string): AuthConfig => {
  const parsed = parseAuthFile(text, 'auth');
  if ('problem' in parsed) throw new Error(parsed.problem);
  return parsed.config;
};

async function marathonClient(url: string, script: string, options: { token?: string } = {}): Promise<unknown> {
  const program = [
    'import json, sys',
    'from marathon import MarathonClient',
    `client = MarathonClient(sys.argv[1]${options.token ? ', auth_token=sys.argv[2]' : ''})`,
    script,
  ].join('\n');
  const { stdout } = await promisify(execFile)(PYTHON, ['-c', program, url, ...(options.token ? [options.token] : [])], { timeout: 30_000 });
  return JSON.parse(stdout);
}

describe('the API server', () => {
  let server: RunningApiServer;
  beforeAll(async () => {
    // A route echoing its body, to see what the server's JSON parsing hands the v2 routes.
    const echo: RouteModule = (s) => {
      s.post('/echo', async (request) => ({ body: request.body ?? 'none' }));
      s.delete('/echo', async (request) => ({ body: request.body ?? 'none' }));
    };
    server = await startApiServer({ store: db.store, client: db.client, registry: db.store.registry, routes: [nativeRoutes, echo], etcd: db.etcd.url });
  });
  afterAll(() => server?.close());

  it('listens on loopback on a free port and answers /ping with pong as text, as Marathon does', async () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const response = await fetch(`${server.url}/ping`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await response.text()).toBe('pong');
  });

  it("answers /v2/info and /v2/leader in Marathon's shape, and says DELETE /v2/leader changes nothing", async () => {
    const info = (await (await fetch(`${server.url}/v2/info`)).json()) as Record<string, any>;
    const host = new URL(server.url).host;
    expect(info).toMatchObject({
      name: 'capstan',
      elected: true,
      leader: host,
      frameworkId: expect.stringMatching(/^capstan-\d+$/),
      marathon_config: { master: db.etcd.url, framework_name: 'capstan', hostname: '127.0.0.1', ha: true },
      http_config: { http_port: Number(new URL(server.url).port) },
      zookeeper_config: {},
      event_subscriber: null,
    });
    expect(await (await fetch(`${server.url}/v2/leader`)).json()).toEqual({ leader: host });
    const abdicate = await fetch(`${server.url}/v2/leader`, { method: 'DELETE' });
    expect(abdicate.status).toBe(200);
    expect(((await abdicate.json()) as { message: string }).message).toMatch(/holds no leadership.*nothing changed/);
  });

  it("is read by thefactory's Marathon client: ping, info and leader", async () => {
    const read = await marathonClient(
      server.url,
      'info = client.get_info()\nprint(json.dumps({"ping": client.ping().decode(), "frameworkId": info.framework_id, "leader": info.leader, "httpPort": info.http_config.http_port, "getLeader": client.get_leader()}))',
    );
    const host = new URL(server.url).host;
    expect(read).toEqual({ ping: 'pong', frameworkId: expect.stringMatching(/^capstan-/), leader: host, httpPort: Number(new URL(server.url).port), getLeader: { leader: host } });
  });

  it.each([
    ['DELETE', '', 200, { body: 'none' }],
    ['POST', '', 200, { body: 'none' }],
    ['POST', '{"instances": 2}', 200, { body: { instances: 2 } }],
    ['POST', '{"instances": ', 400, { message: expect.stringMatching(/JSON/) }],
    ['POST', '{"__proto__": {"x": 1}}', 400, { message: expect.any(String) }],
  ])('takes %s with Content-Type application/json and body %j as Marathon does (thefactory\'s client sends bodiless ones)', async (method, body, status, expected) => {
    const response = await fetch(`${server.url}/echo`, { method, headers: { 'content-type': 'application/json; charset=utf-8' }, body: new TextEncoder().encode(body) });
    expect(response.status).toBe(status);
    expect(await response.json()).toMatchObject(expected);
  });

  it('answers an unknown route 404', async () => {
    expect((await fetch(`${server.url}/v3/nothing`)).status).toBe(404);
  });
});

describe('authentication', () => {
  let server: RunningApiServer;
  beforeAll(async () => {
    server = await startApiServer({ store: db.store, client: db.client, registry: db.store.registry, routes: [nativeRoutes], auth: authConfig('s3cr3t\nops:correct-horse\n') });
  });
  afterAll(() => server?.close());

  it("refuses a request without credentials: 401 with Marathon's body and a challenge per scheme", async () => {
    for (const path of ['/v2/info', '/api/v1/apps', '/v2/leader']) {
      const response = await fetch(`${server.url}${path}`);
      expect(response.status, path).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe('Basic realm="Capstan", Bearer realm="Capstan"');
      expect(await response.json()).toEqual({ message: 'Not Authenticated!' });
    }
  });

  it.each([
    ['a wrong token', { authorization: 'Bearer guess' }],
    ['a wrong password', { authorization: basic('ops:battery') }],
  ])('refuses %s', async (_name, headers) => {
    expect((await fetch(`${server.url}/v2/info`, { headers })).status).toBe(401);
  });

  it.each([
    ['a bearer token', { authorization: 'Bearer s3cr3t' }],
    ["DC/OS's token= form", { authorization: 'token=s3cr3t' }],
    ['basic auth', { authorization: basic('ops:correct-horse') }],
  ])('serves a request with %s', async (_name, headers) => {
    const response = await fetch(`${server.url}/v2/info`, { headers });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { name: string }).name).toBe('capstan');
  });

  it('leaves /ping open, as a load balancer checks it without credentials', async () => {
    expect(await (await fetch(`${server.url}/ping`)).text()).toBe('pong');
  });

  it("lets thefactory's client in with its auth_token (sent as token=...)", async () => {
    expect(await marathonClient(server.url, 'print(json.dumps(client.get_leader()))', { token: 's3cr3t' })).toEqual({ leader: new URL(server.url).host });
  });

  it('listens beyond loopback only with credentials', async () => {
    expect(listenRefusal('127.0.0.1', undefined)).toBeNull();
    expect(listenRefusal('::1', undefined)).toBeNull();
    expect(listenRefusal('0.0.0.0', undefined)).toMatch(/^refusing to listen on 0\.0\.0\.0 without authentication/);
    await expect(startApiServer({ store: db.store, client: db.client, registry: db.store.registry, routes: [], host: '0.0.0.0' })).rejects.toThrow(ApiServerError);
    const open = await startApiServer({ store: db.store, client: db.client, registry: db.store.registry, routes: [], host: '0.0.0.0', auth: authConfig('tok') });
    try {
      const port = new URL(open.url).port;
      expect(open.url).toBe(`http://0.0.0.0:${port}`);
      expect((await fetch(`http://127.0.0.1:${port}/v2/leader`)).status).toBe(401);
      expect((await fetch(`http://127.0.0.1:${port}/v2/leader`, { headers: { authorization: 'Bearer tok' } })).status).toBe(200);
    } finally {
      await open.close();
    }
  });
});

describe('`capstan api`', () => {
  let child: ChildProcess | undefined;
  afterAll(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
  });

  function startApi(args: string[], env: Record<string, string> = {}): { child: ChildProcess; stdout: () => string; stderr: () => string; exited: Promise<number | null> } {
    const started = spawn(process.execPath, [BIN, 'api', '--etcd', db.etcd.url, ...args], {
      cwd: REPO,
      env: { ...process.env, NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = started;
    let stdout = '';
    let stderr = '';
    started.stdout!.on('data', (chunk) => (stdout += chunk));
    started.stderr!.on('data', (chunk) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => started.on('exit', (code) => resolve(code)));
    return { child: started, stdout: () => stdout, stderr: () => stderr, exited };
  }

  it('serves until SIGTERM, then exits 0; CAPSTAN_API_AUTH names the auth file', async () => {
    const authFile = join(dir, 'auth');
    writeFileSync(authFile, '# the CLI test\nclitoken\n');
    const api = startApi(['--port', '0'], { CAPSTAN_API_AUTH: authFile });
    const url = await until(() => /api: serving .* on (http:\/\/127\.0\.0\.1:\d+) from/.exec(api.stdout())?.[1] ?? (api.child.exitCode !== null ? Promise.reject(new Error(`exited: ${api.stderr()}`)) : undefined), {
      timeoutMs: 30_000,
      intervalMs: 50,
      what: `capstan api to print its URL (stderr: ${api.stderr()})`,
    });
    expect(api.stdout()).toMatch(/authentication required \(1 token, 0 users from \S+\/auth \(CAPSTAN_API_AUTH\)\)/);
    expect(await (await fetch(`${url}/ping`)).text()).toBe('pong');
    expect((await fetch(`${url}/v2/info`)).status).toBe(401);
    expect((await fetch(`${url}/v2/info`, { headers: { authorization: 'Bearer clitoken' } })).status).toBe(200);
    api.child.kill('SIGTERM');
    expect(await api.exited).toBe(0);
  });

  it('refuses a non-loopback host without --auth: one sentence, exit 2, before reaching etcd', async () => {
    const result = await spawnCapstan(['api', '--host', '0.0.0.0', '--etcd', 'http://127.0.0.1:1']);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/^refusing to listen on 0\.0\.0\.0 without authentication: .* give --auth FILE/);
  });

  it.each([
    [['--port', 'http'], /^--port: expected a port number 0-65535 \(0: any free port\), found "http"/],
    [['--auth', '/nonexistent/auth'], /^--auth: cannot read \/nonexistent\/auth \(ENOENT\)/],
  ])('refuses %j: one sentence, exit 2', async (args, message) => {
    const result = await spawnCapstan(['api', '--etcd', 'http://127.0.0.1:1', ...args]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
  });

  it('says in one sentence that etcd does not answer', async () => {
    const result = await spawnCapstan(['api', '--port', '0', '--etcd', 'http://127.0.0.1:1']);
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/127\.0\.0\.1:1/);
  });
});

describe('`capstan up`', () => {
  it('starts the API on loopback and prints its URL', async () => {
    const state = mkdtempSync('/tmp/capi-');
    const up = spawn(process.execPath, [BIN, 'up', '--no-controllers', '--no-apply', '--state-dir', state], {
      cwd: REPO,
      env: { ...process.env, NO_COLOR: '1', HOME: state, CAPSTAN_CONFIG: join(state, 'config.yaml') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    up.stdout!.on('data', (chunk) => (stdout += chunk));
    up.stderr!.on('data', (chunk) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => up.on('exit', (code) => resolve(code)));
    try {
      const url = await until(() => /^api: (http:\/\/127\.0\.0\.1:\d+)$/m.exec(stdout)?.[1] ?? (up.exitCode !== null ? Promise.reject(new Error(`up exited: ${stderr}`)) : undefined), {
        timeoutMs: 60_000,
        intervalMs: 100,
        what: `up to print "api: URL" (stderr: ${stderr.slice(-1000)})`,
      });
      expect(await (await fetch(`${url}/ping`)).text()).toBe('pong');
      const info = (await (await fetch(`${url}/v2/info`)).json()) as { leader: string };
      expect(info.leader).toBe(new URL(url).host);
      // Without controllers only etcd and the API run: each prints where its metrics are.
      expect([...stdout.matchAll(/^(\S+) metrics: (.*)$/gm)].map((m) => [m[1], m[2]])).toEqual([
        ['etcd', expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/)],
        ['api', `${url}/metrics`],
      ]);
      expect((await scrape(`${url}/metrics`)).has('capstan_api_requests_total')).toBe(true);
      up.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(stderr).toMatch(/api stopped/);
    } finally {
      if (up.exitCode === null) up.kill('SIGKILL');
      rmSync(state, { recursive: true, force: true });
    }
  });
});
