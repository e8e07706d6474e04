// `capstan dns` on a real etcd, asked by the real `dig`: names and record shapes, NXDOMAIN and
// REFUSED, TCP and the UDP→TCP fallback of a truncated answer, every Running task's own name (from
// Tasks and Nodes, serving or not), and how soon a change in Endpoints, a Task or a Node is answered
// (measured with a small dns-packet client, since dig's own start takes longer than that).
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { promisify } from 'node:util';
import { decode, encode, type Answer } from 'dns-packet';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appSpecSchema, templateOf } from '../api/kinds/app.ts';
import { builtinRegistry } from '../api/kinds/builtin.ts';
import type { EndpointAddress, EndpointsSpec } from '../api/kinds/endpoints.ts';
import { API_VERSION, type AnyObject } from '../api/object.ts';
import { parseDnsFlags } from '../cli/dns.ts';
import { startDnsServer, type RunningDnsServer } from '../runtime/dns/server.ts';
import { useStore } from './helpers/etcd.ts';
import { startCapstan } from './helpers/cli.ts';
import { until } from './helpers/poll.ts';

const run = promisify(execFile);

function address(task: string, i: number, hostPort = 31_000 + i): EndpointAddress {
  return { address: `10.1.${Math.floor(i / 200)}.${(i % 200) + 1}`, hostPort, task, node: `node-${i}` };
}

function endpoints(namespace: string, app: string, spec: Omit<EndpointsSpec, 'app'>): AnyObject {
  return { apiVersion: API_VERSION, kind: 'Endpoints', metadata: { name: app, namespace }, spec: { app, ...spec } };
}

/** `count` tasks of `app` serving one named tcp port (http) and one named udp port (stats). */
function serving(namespace: string, app: string, count: number): AnyObject {
  const tasks = Array.from({ length: count }, (_, i) => `${app}-${i}`);
  return endpoints(namespace, app, {
    ports: [
      { name: 'http', index: 0, protocol: 'tcp', addresses: tasks.map((task, i) => address(task, i)) },
      { name: 'stats', index: 1, protocol: 'udp', addresses: tasks.map((task, i) => address(task, i, 32_000 + i)) },
    ],
  });
}

function node(name: string, nodeAddress: string): AnyObject {
  return { apiVersion: API_VERSION, kind: 'Node', metadata: { name }, spec: { address: nodeAddress, capacity: { cpus: 4, mem: 4096 } } };
}

/** A task of App `db` (one TCP health check) created bound to `nodeName`, in `phase`, healthy or not. */
function task(namespace: string, name: string, nodeName: string, phase: string, healthy: boolean): AnyObject {
  const spec = appSpecSchema.parse({ driver: 'process', containers: [{ name: 'main', cmd: 'x' }], ports: [{ name: 'pg' }], healthChecks: [{ protocol: 'TCP' }] });
  const lastTransitionTime = new Date().toISOString();
  return {
    apiVersion: API_VERSION,
    kind: 'Task',
    metadata: { name, namespace },
    spec: { app: 'db', revision: 1, template: templateOf(spec), nodeName, hostPorts: [31_000] },
    status: { phase, conditions: [{ type: 'Healthy', status: healthy ? 'True' : 'False', lastTransitionTime }] },
  };
}

describe('capstan dns', () => {
  const db = useStore(builtinRegistry(), { clearEachTest: true });
  let server: RunningDnsServer;

  beforeEach(async () => {
    server = await startDnsServer({ store: db.store, address: '127.0.0.1', port: 0 });
  });
  afterEach(async () => {
    await server?.close();
  });

  const dig = async (...args: string[]) => (await run('dig', ['@127.0.0.1', '-p', String(server.port), '+time=2', '+tries=1', ...args])).stdout;
  const short = async (name: string, type: string) => (await dig(name, type, '+short')).trim().split('\n').filter(Boolean).sort();
  const status = async (name: string, type: string) => /status: (\w+)/.exec(await dig(name, type))?.[1];
  /** The records of one section of dig's reply as `name type data`, sorted. */
  const section = (output: string, name: string) => {
    const text = new RegExp(`;; ${name} SECTION:\\n([\\s\\S]*?)(\\n\\n|$)`).exec(output)?.[1] ?? '';
    return text.split('\n').filter(Boolean).map((line) => line.split(/\s+/).filter((_, i) => i !== 1 && i !== 2).join(' ')).sort();
  };

  it('answers A for an app with every serving address, and for each task with its node address', async () => {
    await db.store.create(serving('prod', 'web', 3));
    await until(() => server.names() > 0, { what: 'the Endpoints in the zone' });
    expect(await short('web.prod.capstan', 'A')).toEqual(['10.1.0.1', '10.1.0.2', '10.1.0.3']);
    expect(await short('web-1.prod.capstan', 'A')).toEqual(['10.1.0.2']);
    expect(await dig('web.prod.capstan', 'A', '+noall', '+answer')).toMatch(/^web\.prod\.capstan\.\s+2\s+IN\s+A\s+10\.1\.0\.\d$/m);
  });

  it('answers SRV per named port and in Mesos-DNS\'s _app._proto form, with the targets\' A records as additional', async () => {
    await db.store.create(serving('prod', 'web', 2));
    await until(() => server.names() > 0, { what: 'the Endpoints in the zone' });
    const named = await dig('_http._tcp.web.prod.capstan', 'SRV');
    expect(section(named, 'ANSWER')).toEqual([
      '_http._tcp.web.prod.capstan. SRV 0 1 31000 web-0.prod.capstan.',
      '_http._tcp.web.prod.capstan. SRV 0 1 31001 web-1.prod.capstan.',
    ]);
    expect(section(named, 'ADDITIONAL')).toEqual(['web-0.prod.capstan. A 10.1.0.1', 'web-1.prod.capstan. A 10.1.0.2']);
    expect(await short('_web._udp.prod.capstan', 'SRV')).toEqual(['0 1 32000 web-0.prod.capstan.', '0 1 32001 web-1.prod.capstan.']);
    expect(await short('_stats._udp.web.prod.capstan', 'SRV')).toEqual(['0 1 32000 web-0.prod.capstan.', '0 1 32001 web-1.prod.capstan.']);
  });

  it('says NXDOMAIN (with the SOA) for unknown names and apps with no serving task, NODATA for another type, REFUSED outside the zone', async () => {
    await db.store.create(serving('prod', 'web', 1));
    await db.store.create(endpoints('prod', 'idle', { ports: [{ name: 'http', index: 0, protocol: 'tcp', addresses: [] }] }));
    await until(() => server.names() > 0, { what: 'the Endpoints in the zone' });
    expect(await status('nope.prod.capstan', 'A')).toBe('NXDOMAIN');
    expect(await status('idle.prod.capstan', 'A')).toBe('NXDOMAIN');
    expect(section(await dig('nope.prod.capstan', 'A'), 'AUTHORITY')).toEqual([expect.stringMatching(/^capstan\. SOA ns\.capstan\. hostmaster\.capstan\. \d+ 60 10 86400 2$/)]);
    expect(await status('web.prod.capstan', 'AAAA')).toBe('NOERROR');
    expect(await short('web.prod.capstan', 'AAAA')).toEqual([]);
    expect(await status('example.com', 'A')).toBe('REFUSED');
    expect(await short('capstan', 'SOA')).toEqual([expect.stringMatching(/^ns\.capstan\. hostmaster\.capstan\. \d+ 60 10 86400 2$/)]);
    expect(await short('capstan', 'NS')).toEqual(['ns.capstan.']);
  });

  it('answers over TCP, and a 60-address answer truncated over UDP is retried over TCP by dig', async () => {
    await db.store.create(serving('prod', 'big', 60));
    await until(() => server.names() > 0, { what: 'the Endpoints in the zone' });
    expect(await short('big.prod.capstan', 'A')).toHaveLength(60);
    expect(await dig('big.prod.capstan', 'A', '+tcp', '+short')).toMatch(/^(10\.1\.0\.\d+\n){60}$/);

    const fallback = await dig('big.prod.capstan', 'A');
    expect(fallback).toContain('Truncated, retrying in TCP mode');
    expect(section(fallback, 'ANSWER')).toHaveLength(60);
    // Without the retry: the UDP answer as sent, TC set and cut to fit dig's EDNS size.
    const udp = await dig('big.prod.capstan', 'A', '+ignore', '+noedns');
    expect(udp).toMatch(/flags: qr aa tc rd;/);
    expect(section(udp, 'ANSWER').length).toBeLessThan(60);
  });

  it('answers a scale-down within 100 ms of the write', async () => {
    const before = await db.store.create(serving('prod', 'web', 3));
    await until(() => server.names() > 0, { what: 'the Endpoints in the zone' });
    expect(await short('web.prod.capstan', 'A')).toEqual(['10.1.0.1', '10.1.0.2', '10.1.0.3']);

    const scaledDown = serving('prod', 'web', 1);
    await db.store.update({ ...before, spec: scaledDown.spec });
    const written = performance.now();
    await until(async () => (await askUdp(server.port, 'web.prod.capstan')).length === 1, { intervalMs: 1, timeoutMs: 2_000, what: 'the scale-down answered' });
    const elapsed = performance.now() - written;
    expect(elapsed, 'ms from the write returning to the answer changing').toBeLessThan(100);
    expect(await short('web.prod.capstan', 'A')).toEqual(['10.1.0.1']);
    expect(await status('web-2.prod.capstan', 'A')).toBe('NXDOMAIN');

    await db.store.delete('Endpoints', { namespace: 'prod', name: 'web' });
    await until(async () => (await status('web.prod.capstan', 'A')) === 'NXDOMAIN', { what: 'the deleted App gone' });
  });

  it('names every Running task, serving or not: one failing its health checks (so in no Endpoints) resolves by its name', async () => {
    await db.store.create(node('n1', '10.2.0.1'));
    await db.store.create(endpoints('prod', 'db', { ports: [{ name: 'pg', index: 0, protocol: 'tcp', addresses: [] }] }));
    await db.store.create(task('prod', 'db-0', 'n1', 'Running', false));
    await db.store.create(task('prod', 'db-1', 'n1', 'Starting', false));
    await until(async () => (await short('db-0.prod.capstan', 'A')).length > 0, { what: 'the Running task named' });
    expect(await short('db-0.prod.capstan', 'A')).toEqual(['10.2.0.1']);
    expect(await dig('db-0.prod.capstan', 'A', '+noall', '+answer')).toMatch(/^db-0\.prod\.capstan\.\s+2\s+IN\s+A\s+10\.2\.0\.1$/m);
    expect(await status('db-1.prod.capstan', 'A'), 'a task not Running yet').toBe('NXDOMAIN');
    expect(await status('db.prod.capstan', 'A'), 'its App, with no serving task').toBe('NXDOMAIN');
  });

  it('takes a task\'s name away within 100 ms of it failing, and when it is deleted', async () => {
    await db.store.create(node('n1', '10.2.0.1'));
    const failing = await db.store.create(task('prod', 'db-0', 'n1', 'Running', true));
    await db.store.create(task('prod', 'db-1', 'n1', 'Running', true));
    await until(async () => (await short('db-1.prod.capstan', 'A')).length > 0 && (await short('db-0.prod.capstan', 'A')).length > 0, { what: 'both tasks named' });

    await db.store.updateStatus({ ...failing, status: { ...failing.status!, phase: 'Failed' } });
    const written = performance.now();
    await until(async () => (await askUdp(server.port, 'db-0.prod.capstan')).length === 0, { intervalMs: 1, timeoutMs: 2_000, what: 'the Failed task\'s name gone' });
    expect(performance.now() - written, 'ms from the status write to the name gone').toBeLessThan(100);
    expect(await status('db-0.prod.capstan', 'A')).toBe('NXDOMAIN');

    // Bound tasks carry the agent's finalizer: a delete marks them, and the mark alone takes the name.
    expect((await db.store.delete('Task', { namespace: 'prod', name: 'db-1' }))?.metadata.deletionTimestamp).toBeDefined();
    await until(async () => (await status('db-1.prod.capstan', 'A')) === 'NXDOMAIN', { what: 'the deleted task\'s name gone' });
    expect(await status('prod.capstan', 'A'), 'the namespace, now with no names below it').toBe('NXDOMAIN');
  });

  it('moves a node\'s tasks\' answers within 100 ms of its address changing, and only theirs', async () => {
    const n1 = await db.store.create(node('n1', '10.2.0.1'));
    await db.store.create(node('n2', '10.2.0.2'));
    await db.store.create(task('prod', 'db-0', 'n1', 'Running', true));
    await db.store.create(task('prod', 'db-1', 'n1', 'Running', false));
    await db.store.create(task('prod', 'db-2', 'n2', 'Running', true));
    await until(async () => (await short('db-2.prod.capstan', 'A')).length > 0, { what: 'the tasks named' });
    expect(await short('db-0.prod.capstan', 'A')).toEqual(['10.2.0.1']);

    const moved = await db.store.update({ ...n1, spec: { ...(n1.spec as object), address: '10.2.0.11' } });
    const written = performance.now();
    await until(async () => (await askUdp(server.port, 'db-1.prod.capstan'))[0] === '10.2.0.11', { intervalMs: 1, timeoutMs: 2_000, what: 'the new address answered' });
    expect(performance.now() - written, 'ms from the Node write to the answer moving').toBeLessThan(100);
    expect(await short('db-0.prod.capstan', 'A')).toEqual(['10.2.0.11']);
    expect(await short('db-1.prod.capstan', 'A')).toEqual(['10.2.0.11']);
    expect(await short('db-2.prod.capstan', 'A')).toEqual(['10.2.0.2']);

    await db.store.update({ ...moved, spec: { ...(moved.spec as object), address: 'fd00::11' } });
    await until(async () => (await short('db-0.prod.capstan', 'AAAA'))[0] === 'fd00::11', { what: 'an IPv6 address answered as AAAA' });
    expect(await status('db-0.prod.capstan', 'A')).toBe('NOERROR');
    expect(await short('db-0.prod.capstan', 'A')).toEqual([]);
  });

  it('runs as `capstan dns`, printing where it listens, until interrupted', async () => {
    await db.store.create(serving('dev', 'api', 2));
    const cli = startCapstan(['dns', '--listen', '127.0.0.1:0', '--zone', 'cluster.local', '--ttl', '5'], { etcd: db.etcd.url });
    const port = await until(() => /on 127\.0\.0\.1:(\d+) /.exec(cli.stdout())?.[1], { what: `dns to listen (stderr: ${cli.stderr()})` });
    const answer = await run('dig', ['@127.0.0.1', '-p', port, 'api.dev.cluster.local', 'A', '+noall', '+answer']);
    expect(answer.stdout.trim().split('\n').sort()).toEqual([
      expect.stringMatching(/^api\.dev\.cluster\.local\.\s+5\s+IN\s+A\s+10\.1\.0\.1$/),
      expect.stringMatching(/^api\.dev\.cluster\.local\.\s+5\s+IN\s+A\s+10\.1\.0\.2$/),
    ]);
    cli.interrupt();
    expect((await cli.done).code).toBe(0);
  });
});

describe('capstan dns flags', () => {
  it.each<[string, Record<string, string>, string]>([
    ['defaults', {}, '{"address":"127.0.0.1","port":8600,"zone":"capstan","ttlSeconds":2}'],
    ['--listen', { listen: '0.0.0.0:53' }, '{"address":"0.0.0.0","port":53,"zone":"capstan","ttlSeconds":2}'],
    ['--listen IPv6', { listen: '[::1]:1053' }, '{"address":"::1","port":1053,"zone":"capstan","ttlSeconds":2}'],
    ['--address, --port, --zone, --ttl', { address: '127.0.0.2', port: '0', zone: 'Cluster.Local.', ttl: '5' }, '{"address":"127.0.0.2","port":0,"zone":"cluster.local","ttlSeconds":5}'],
    ['--listen with --port', { listen: '127.0.0.1:1', port: '2' }, '--listen gives the address and port: use it alone, or --address and --port'],
    ['--listen without a port', { listen: '127.0.0.1' }, '--listen: expected ADDRESS:PORT'],
    ['a host name', { address: 'localhost' }, '--address: expected an IP address, found "localhost"'],
    ['a port too big', { port: '70000' }, '--port: expected a port number 0-65535'],
    ['a zone with a bad label', { zone: 'my_zone' }, '--zone: expected a domain name of DNS labels'],
    ['a negative ttl', { ttl: '-1' }, '--ttl: expected whole seconds 0-3600, found "-1"'],
  ])('%s', (_, flags, expected) => {
    let outcome: string;
    try {
      outcome = JSON.stringify(parseDnsFlags(flags));
    } catch (error) {
      outcome = (error as Error).message;
    }
    expect(outcome.startsWith(expected), outcome).toBe(true);
  });
});

/** One A query over UDP with dns-packet: what a latency measurement can afford to do every millisecond. */
function askUdp(port: number, name: string): Promise<string[]> {
  const socket = createSocket('udp4');
  return new Promise<string[]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer for ${name} in 500 ms`)), 500);
    socket.once('error', reject);
    socket.once('message', (message) => {
      clearTimeout(timer);
      const answers = (decode(message).answers ?? []) as Answer[];
      resolve(answers.flatMap((a) => (a.type === 'A' ? [a.data] : [])));
    });
    socket.send(encode({ type: 'query', id: 1, questions: [{ type: 'A', name }] }), port, '127.0.0.1');
  }).finally(() => socket.close());
}
