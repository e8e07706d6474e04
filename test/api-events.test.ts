// GET /v2/events end to end: a real etcd, the built-in controllers and a process-driver agent
// (TestCluster), the API server, and external readers: `curl -N` processes, a raw socket that stops
// reading, and `capstan events -w`. The events are derived from the store only.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiServer, type RunningApiServer } from '../api/http/server.ts';
import { eventsRoutesWith } from '../api/http/v2/events.ts';
import { deploymentIdOf } from '../api/marathon/deployment-id.ts';
import type { AnyObject } from '../api/object.ts';
import { capstan, startCapstan } from './helpers/cli.ts';
import { useCluster } from './helpers/cluster.ts';
import { until } from './helpers/poll.ts';

const BUFFER_LIMIT = 256 * 1024;
const KEEP_ALIVE_MS = 500;
/** thefactory's Marathon client, from Debian's python3-marathon: the system Python has it. */
const PYTHON = '/usr/bin/python3';
/** Follows /v2/events with the client's event_stream(), one line per event: its class and what it says. */
const FOLLOW = `
import sys
from marathon import MarathonClient
for e in MarathonClient(sys.argv[1]).event_stream(event_types=sys.argv[2:]):
    definition = getattr(e, 'app_definition', None) or {}
    app = getattr(e, 'app_id', None) or getattr(e, 'run_spec_id', None) or definition.get('id')
    plan = getattr(e, 'plan', None)
    if plan is not None:
        app = plan.steps[0].actions[0].app
    what = getattr(e, 'task_status', None) or getattr(e, 'condition', None) or (plan.steps[0].actions[0].action if plan is not None and e.event_type == 'deployment_info' else '')
    print(type(e).__name__, app, what, flush=True)
`;
const cluster = useCluster({ suite: `api-events-${process.pid}`, nodes: [{ name: 'events-n1', ports: '32610-32629' }] });
let api: RunningApiServer;

beforeAll(async () => {
  api = await startApiServer({ store: cluster.store, client: cluster.client, registry: cluster.store.registry, routes: [eventsRoutesWith({ bufferLimitBytes: BUFFER_LIMIT, keepAliveMs: KEEP_ALIVE_MS })] });
});

afterAll(async () => {
  await api?.close();
});

interface SseEvent {
  type: string;
  data: Record<string, unknown>;
}

/** An external reader: `curl -N` following the stream, its output parsed as SSE. */
function curl(path: string): { events(): SseEvent[]; raw(): string; stop(): void } {
  let text = '';
  const child = spawn('curl', ['-siN', '-H', 'Accept: text/event-stream', `${api.url}${path}`], { stdio: ['ignore', 'pipe', 'inherit'] });
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  return { events: () => parseSse(text.slice(text.indexOf('\r\n\r\n') + 4)), raw: () => text, stop: () => child.kill() };
}

function parseSse(text: string): SseEvent[] {
  const blocks = text.split('\n\n');
  // What follows the last blank line is still arriving (or nothing).
  blocks.pop();
  return blocks
    .filter((block) => block.startsWith('event: '))
    .map((block) => {
      const [eventLine, dataLine] = block.split('\n');
      return { type: eventLine!.slice('event: '.length), data: JSON.parse(dataLine!.slice('data: '.length)) as Record<string, unknown> };
    });
}

/** The response's head arrived: the server subscribed the reader before sending it. */
const attached = async (reader: { raw(): string }) => until(() => reader.raw().includes('text/event-stream'), { timeoutMs: 10_000, what: 'the stream to attach' });

describe('GET /v2/events', () => {
  it("an external reader receives a rollout's events in order, a filtered one only the types it asked for, and `capstan events -w` shows them", async () => {
    const all = curl('/v2/events');
    const filtered = curl('/v2/events?event_type=event_stream_attached&event_type=deployment_info&event_type=deployment_success');
    const cli = startCapstan(['events', '-w'], { etcd: cluster.etcd.url });
    try {
      await Promise.all([attached(all), attached(filtered)]);
      await until(() => cli.stderr().includes('following events'), { timeoutMs: 10_000, what: 'capstan events -w to follow' });
      await cluster.createApp('web', { instances: 2, driver: 'process', containers: [{ name: 'main', cmd: 'exec busybox sleep 600' }] });
      const app = (await cluster.store.get<AnyObject>('App', { namespace: 'default', name: 'web' }))!;
      const deployment = deploymentIdOf(app.metadata.uid!, 1);

      const ids = [deployment, deploymentIdOf(app.metadata.uid!, 0)];
      const ofWeb = (events: SseEvent[]) =>
        events.filter((e) => e.data['appId'] === '/web' || e.data['uri'] === '/v2/apps/web' || ids.includes(String(planOf(e)?.['id'])) || ids.includes(String(e.data['id'])));
      await until(() => all.events().some((e) => e.type === 'deployment_success' && e.data['id'] === deployment), { timeoutMs: 30_000, what: 'deployment_success on the stream' });
      const types = ofWeb(all.events()).map((e) => (e.type === 'status_update_event' ? `${e.type}:${String(e.data['taskStatus'])}` : e.type));
      const first = (type: string) => types.indexOf(type);
      expect(first('api_post_event')).toBe(0);
      expect(first('deployment_info')).toBeGreaterThan(first('api_post_event'));
      expect(types.filter((t) => t === 'status_update_event:TASK_RUNNING')).toHaveLength(2);
      expect(types.indexOf('status_update_event:TASK_RUNNING')).toBeGreaterThan(first('deployment_info'));
      expect(types.lastIndexOf('status_update_event:TASK_RUNNING')).toBeLessThan(first('deployment_success'));
      const running = all.events().find((e) => e.type === 'status_update_event' && e.data['taskStatus'] === 'TASK_RUNNING')!;
      expect(running.data).toMatchObject({ eventType: 'status_update_event', appId: '/web', slaveId: expect.any(String), host: expect.any(String), ports: [], version: expect.any(String) });
      expect(String(running.data['taskId'])).toMatch(/^web\./);

      await until(() => filtered.events().some((e) => e.type === 'deployment_success'), { timeoutMs: 10_000, what: 'deployment_success on the filtered stream' });
      expect(new Set(filtered.events().map((e) => e.type))).toEqual(new Set(['event_stream_attached', 'deployment_info', 'deployment_success']));
      expect(all.events()[0]).toMatchObject({ type: 'event_stream_attached', data: { remoteAddress: '127.0.0.1' } });
      // The rollout took longer than the keep-alive period: comment lines kept the stream warm.
      expect(all.raw()).toContain('\n\n:\n\n');

      await until(() => /deployment_success\s+\/web\s/.test(cli.stdout()), { timeoutMs: 10_000, what: 'capstan events -w to show the deployment succeeded' });
      const lines = cli.stdout().split('\n');
      expect(lines.filter((l) => /status_update_event\s+\/web\s+web\.\S+\s+TASK_RUNNING on /.test(l))).toHaveLength(2);
      expect(lines.findIndex((l) => / api_post_event\s+\/web /.test(l))).toBeLessThan(lines.findIndex((l) => / deployment_success\s+\/web /.test(l)));

      // Deleted: its tasks are killed after the App is gone, still named by its id, and its stop
      // deployment (the id DELETE answers) succeeds once the last one is gone.
      const stop = deploymentIdOf(app.metadata.uid!, 0);
      await cluster.store.delete('App', { namespace: 'default', name: 'web' });
      await until(() => all.events().some((e) => e.type === 'deployment_success' && e.data['id'] === stop), { timeoutMs: 30_000, what: 'the stop deployment to succeed' });
      const ending = ofWeb(all.events()).map((e) => (e.type === 'status_update_event' ? `${e.type}:${String(e.data['taskStatus'])}` : e.type));
      const deleted = ending.indexOf('app_terminated_event');
      expect(deleted).toBeGreaterThan(types.length - 1);
      expect(ending.slice(deleted).filter((t) => t === 'status_update_event:TASK_KILLED')).toHaveLength(2);
      expect(ending.at(-1)).toBe('deployment_success');
    } finally {
      all.stop();
      filtered.stop();
      cli.interrupt();
    }
    expect((await cli.done).code).toBe(0);
  });

  it('a reader that stops reading stalls no one, and is dropped with a last event saying why', async () => {
    const fast = curl('/v2/events?event_type=api_post_event');
    const slow = await stalledReader();
    try {
      await attached(fast);
      // Each update's api_post_event carries the definition, ~64 KiB: together 1.5 times what the
      // kernel may buffer for the slow reader (the send buffer's ceiling, a few receive windows)
      // plus its limit, fast enough for a test.
      const big = 'x'.repeat(64 * 1024);
      const updates = Math.ceil((1.5 * (kernelBufferBytes() + BUFFER_LIMIT)) / big.length);
      await cluster.createApp('big', { instances: 0, driver: 'process', containers: [{ name: 'main', cmd: 'exec busybox sleep 600', env: { FILL: big, N: '0' } }] });
      for (let n = 1; n <= updates; n += 1) {
        const app = (await cluster.store.get<AnyObject & { spec: { containers: { env: Record<string, string> }[] } }>('App', { namespace: 'default', name: 'big' }))!;
        await cluster.store.update({ ...app, spec: { ...app.spec, containers: [{ ...app.spec.containers[0]!, env: { ...app.spec.containers[0]!.env, N: String(n) } }] } });
      }
      const posted = (events: SseEvent[]) => events.filter((e) => e.type === 'api_post_event' && e.data['uri'] === '/v2/apps/big');
      // The fast reader gets every update while the slow one holds nothing back.
      await until(() => posted(fast.events()).length === updates + 1, { timeoutMs: 30_000, what: `all ${updates + 1} api_post_events at the fast reader` });

      // Now the slow reader reads what it was sent: some events, then the drop, then the end.
      const text = await Promise.race([
        slow.readToEnd(),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the slow reader was never dropped: the server kept its stream open')), 20_000).unref()),
      ]);
      const received = parseSse(text.slice(text.indexOf('\r\n\r\n') + 4));
      expect(posted(received).length).toBeLessThan(updates + 1);
      expect(received.at(-1)).toMatchObject({ type: 'event_stream_detached', data: { message: expect.stringContaining(`more than ${BUFFER_LIMIT} bytes behind`) } });
    } finally {
      fast.stop();
      slow.socket.destroy();
    }
  });

  it('health checks passing, then failing until the task is killed: health_status_changed_event and unhealthy_task_kill_event; `capstan events` tells the state now', async () => {
    const reader = curl('/v2/events?event_type=health_status_changed_event&event_type=unhealthy_task_kill_event');
    const home = mkdtempSync(join(tmpdir(), 'capstan-api-events-'));
    try {
      await attached(reader);
      // busybox httpd serves /health from a directory of the task's own, until the test removes the file.
      const serve = `mkdir -p ${home}/$CAPSTAN_TASK_NAME && echo ok > ${home}/$CAPSTAN_TASK_NAME/health && exec busybox httpd -f -p $PORT0 -h ${home}/$CAPSTAN_TASK_NAME`;
      await cluster.createApp('checked', {
        instances: 1,
        driver: 'process',
        ports: [{ name: 'http' }],
        containers: [{ name: 'main', cmd: serve }],
        healthChecks: [{ protocol: 'HTTP', path: '/health', portIndex: 0, gracePeriodSeconds: 0, intervalSeconds: 1, timeoutSeconds: 1, delaySeconds: 0, maxConsecutiveFailures: 2 }],
        backoffSeconds: 60,
      });
      const healthy = await until(() => reader.events().find((e) => e.type === 'health_status_changed_event' && e.data['alive'] === true), { timeoutMs: 20_000, what: 'the task to turn healthy' });
      expect(healthy.data).toMatchObject({ appId: '/checked', instanceId: healthy.data['taskId'], version: expect.any(String) });
      expect(String(healthy.data['taskId'])).toMatch(/^checked\./);

      const now = await capstan(['events', '--type', 'status_update_event'], { etcd: cluster.etcd.url });
      expect(now.code).toBe(0);
      expect(now.stdout).toMatch(new RegExp(`status_update_event\\s+/checked\\s+${String(healthy.data['taskId']).replace('.', '\\.')}\\s+TASK_RUNNING on 127\\.0\\.0\\.1:\\d+`));

      const json = await capstan(['events', '-o', 'json', '--type', 'status_update_event'], { etcd: cluster.etcd.url });
      const parsed = json.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(parsed.find((e) => e['taskId'] === healthy.data['taskId'])).toMatchObject({ eventType: 'status_update_event', taskStatus: 'TASK_RUNNING', appId: '/checked' });

      for (const task of readdirSync(home)) rmSync(join(home, task, 'health'), { force: true });
      const kill = await until(() => reader.events().find((e) => e.type === 'unhealthy_task_kill_event'), { timeoutMs: 20_000, what: 'the unhealthy task to be killed' });
      expect(kill.data).toMatchObject({ appId: '/checked', taskId: healthy.data['taskId'], reason: expect.stringContaining('consecutive failed health checks'), host: '127.0.0.1' });
      const turnedBad = reader.events().find((e) => e.type === 'health_status_changed_event' && e.data['alive'] === false);
      expect(turnedBad?.data['taskId']).toBe(healthy.data['taskId']);
    } finally {
      reader.stop();
      rmSync(home, { recursive: true, force: true });
    }
  });

  it("a real Marathon client library (thefactory's marathon-python) follows the stream and parses every event", async () => {
    const events = ['event_stream_attached', 'api_post_event', 'deployment_info', 'status_update_event', 'instance_changed_event', 'deployment_step_success', 'deployment_success'];
    const follower = spawn(PYTHON, ['-c', FOLLOW, api.url, ...events], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    follower.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    follower.stderr!.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    try {
      await until(() => out.includes('MarathonEventStreamAttached') || err.length > 0, { timeoutMs: 10_000, what: 'the Python client to attach' });
      expect(err).toBe('');
      await cluster.createApp('py', { instances: 1, driver: 'process', containers: [{ name: 'main', cmd: 'exec busybox sleep 600' }] });
      await until(() => /^MarathonDeploymentSuccess /m.test(out) || err.length > 0, { timeoutMs: 30_000, what: 'the Python client to see the deployment succeed' });
      expect(err).toBe('');
      const lines = out.trim().split('\n').map((l) => l.trim());
      // Each event as the library's own class, with the fields it reads.
      expect(lines).toContain('MarathonApiPostEvent /py');
      expect(lines).toContain('MarathonDeploymentInfo /py StartApplication');
      expect(lines).toContain('MarathonStatusUpdateEvent /py TASK_RUNNING');
      expect(lines).toContain('MarathonInstanceChangedEvent /py Running');
      expect(lines.indexOf('MarathonApiPostEvent /py')).toBeLessThan(lines.indexOf('MarathonStatusUpdateEvent /py TASK_RUNNING'));
      expect(lines.indexOf('MarathonStatusUpdateEvent /py TASK_RUNNING')).toBeLessThan(lines.findIndex((l) => l.startsWith('MarathonDeploymentSuccess ')));
    } finally {
      follower.kill();
    }
  });

  it('refuses a request that does not accept text/event-stream (406)', async () => {
    const response = await fetch(`${api.url}/v2/events`, { headers: { accept: 'application/json' } });
    expect(response.status).toBe(406);
    expect(((await response.json()) as { message: string }).message).toContain('text/event-stream');
  });
});

/** What the kernel may hold for a client that does not read: its send buffer's ceiling and a few receive windows. */
function kernelBufferBytes(): number {
  const [, , sendMax] = readFileSync('/proc/sys/net/ipv4/tcp_wmem', 'utf8').trim().split(/\s+/).map(Number);
  const [, receiveDefault] = readFileSync('/proc/sys/net/ipv4/tcp_rmem', 'utf8').trim().split(/\s+/).map(Number);
  return sendMax! + 4 * receiveDefault!;
}

function planOf(event: SseEvent): Record<string, unknown> | undefined {
  return event.data['plan'] as Record<string, unknown> | undefined;
}

/** A raw HTTP client that sends its request, reads the response's head, then nothing until asked to. */
async function stalledReader(): Promise<{ socket: Socket; readToEnd(): Promise<string> }> {
  const { hostname, port } = new URL(api.url);
  const socket = connect({ host: hostname, port: Number(port) });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let text = '';
  let stalled = false;
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    text += chunk;
    if (!stalled && text.includes('\r\n\r\n')) {
      stalled = true;
      socket.pause();
    }
  });
  socket.write(`GET /v2/events?event_type=api_post_event HTTP/1.1\r\nHost: ${hostname}\r\nAccept: text/event-stream\r\n\r\n`);
  await until(() => text.includes('\r\n\r\n'), { timeoutMs: 10_000, what: "the slow reader's response head" });
  return {
    socket,
    readToEnd: () =>
      new Promise<string>((resolve, reject) => {
        socket.once('end', () => resolve(decodeChunked(text)));
        socket.once('error', reject);
        socket.resume();
      }),
  };
}

/** The response's head as is, then its body with HTTP/1.1 chunk framing removed. */
function decodeChunked(text: string): string {
  const split = text.indexOf('\r\n\r\n') + 4;
  let body = '';
  let at = split;
  while (at < text.length) {
    const lineEnd = text.indexOf('\r\n', at);
    if (lineEnd < 0) break;
    const size = parseInt(text.slice(at, lineEnd), 16);
    if (!size) break;
    body += text.slice(lineEnd + 2, lineEnd + 2 + size);
    at = lineEnd + 2 + size + 2;
  }
  return text.slice(0, split) + body;
}
