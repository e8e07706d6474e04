import type { Answer, Question } from 'dns-packet';
import { describe, expect, it } from 'vitest';
import type { EndpointsSpec } from '../../api/kinds/endpoints.ts';
import { Zone, type Resolution, type TaskChange } from './zone.ts';

/** web-a on n1 (10.0.0.1) and web-b on n2 (10.0.0.2) serve a port at host ports `base + 1` and `base + 2`. */
const servedByBoth = (name: string, index: number, base: number): EndpointsSpec['ports'][number] => ({
  name,
  index,
  protocol: 'tcp',
  addresses: [
    { address: '10.0.0.1', hostPort: base + 1, task: 'web-a', node: 'n1' },
    { address: '10.0.0.2', hostPort: base + 2, task: 'web-b', node: 'n2' },
  ],
});

const web: EndpointsSpec = {
  app: 'web',
  ports: [
    servedByBoth('http', 0, 31000),
    servedByBoth('admin', 1, 32000),
    { name: 'stats', index: 2, protocol: 'udp', addresses: [{ address: '10.0.0.1', hostPort: 33001, task: 'web-a', node: 'n1' }] },
  ],
};
const idle: EndpointsSpec = { app: 'idle', ports: [{ name: 'http', index: 0, protocol: 'tcp', addresses: [] }] };

function zoneWith(...objects: [namespace: string, spec: EndpointsSpec][]) {
  const zone = new Zone({ zone: 'capstan', ttlSeconds: 2, nameServerAddress: '127.0.0.1', random: () => 0 });
  for (const [namespace, spec] of objects) zone.applyEndpoints({ key: `${namespace}/${spec.app}`, namespace, spec });
  return zone;
}

/** A resolution as one line per record, sorted: what a table can compare. */
function summary(resolution: Resolution): string[] {
  if (resolution.outcome === 'refused') return ['REFUSED'];
  if (resolution.outcome !== 'answer') return [`${resolution.outcome.toUpperCase()} soa=${resolution.soa.name}`];
  const data = (a: Answer) =>
    a.type === 'SRV' ? `${a.data.priority} ${a.data.weight} ${a.data.port} ${a.data.target}` : a.type === 'SOA' ? `${a.data.mname} ${a.data.rname}` : String((a as { data: unknown }).data);
  const line = (section: string) => (a: Answer) => `${section} ${a.type} ${a.name} ${data(a)}`;
  return [...resolution.answers.map(line('an')), ...resolution.additionals.map(line('ad'))].sort();
}

const ask = (name: string, type: Question['type']): Question => ({ name, type });

describe('Zone.resolve: Endpoints → answers', () => {
  const zone = zoneWith(['prod', web], ['prod', idle]);

  it.each<[string, Question, string[]]>([
    ['an app: every serving address, once', ask('web.prod.capstan', 'A'), ['an A web.prod.capstan 10.0.0.1', 'an A web.prod.capstan 10.0.0.2']],
    ['a task: its node address', ask('web-a.prod.capstan', 'A'), ['an A web-a.prod.capstan 10.0.0.1']],
    [
      'a named port: SRV per task, the targets\' A in additional',
      ask('_http._tcp.web.prod.capstan', 'SRV'),
      [
        'ad A web-a.prod.capstan 10.0.0.1',
        'ad A web-b.prod.capstan 10.0.0.2',
        'an SRV _http._tcp.web.prod.capstan 0 1 31001 web-a.prod.capstan',
        'an SRV _http._tcp.web.prod.capstan 0 1 31002 web-b.prod.capstan',
      ],
    ],
    [
      'Mesos-DNS\'s _app._proto form: every port of that protocol',
      ask('_web._tcp.prod.capstan', 'SRV'),
      [
        'ad A web-a.prod.capstan 10.0.0.1',
        'ad A web-b.prod.capstan 10.0.0.2',
        'an SRV _web._tcp.prod.capstan 0 1 31001 web-a.prod.capstan',
        'an SRV _web._tcp.prod.capstan 0 1 31002 web-b.prod.capstan',
        'an SRV _web._tcp.prod.capstan 0 1 32001 web-a.prod.capstan',
        'an SRV _web._tcp.prod.capstan 0 1 32002 web-b.prod.capstan',
      ],
    ],
    ['a udp port under _udp', ask('_web._udp.prod.capstan', 'SRV'), ['ad A web-a.prod.capstan 10.0.0.1', 'an SRV _web._udp.prod.capstan 0 1 33001 web-a.prod.capstan']],
    ['a question in any case, with the root dot', ask('WEB-A.Prod.Capstan.', 'A'), ['an A WEB-A.Prod.Capstan. 10.0.0.1']],
    ['AAAA of an app with IPv4 only: NODATA', ask('web.prod.capstan', 'AAAA'), ['NODATA soa=capstan']],
    ['SRV of an app\'s A name: NODATA', ask('web.prod.capstan', 'SRV'), ['NODATA soa=capstan']],
    ['a namespace: exists (names below it), NODATA', ask('prod.capstan', 'A'), ['NODATA soa=capstan']],
    ['_tcp under an app: exists, NODATA', ask('_tcp.web.prod.capstan', 'SRV'), ['NODATA soa=capstan']],
    ['an unknown app: NXDOMAIN', ask('nope.prod.capstan', 'A'), ['NXDOMAIN soa=capstan']],
    ['an app with no serving task: NXDOMAIN, as Mesos-DNS', ask('idle.prod.capstan', 'A'), ['NXDOMAIN soa=capstan']],
    ['an unknown port: NXDOMAIN', ask('_grpc._tcp.web.prod.capstan', 'SRV'), ['NXDOMAIN soa=capstan']],
    ['another namespace: NXDOMAIN', ask('web.dev.capstan', 'A'), ['NXDOMAIN soa=capstan']],
    ['outside the zone: REFUSED', ask('example.com', 'A'), ['REFUSED']],
    ['a name that only ends like the zone: REFUSED', ask('notcapstan', 'A'), ['REFUSED']],
    ['the apex SOA', ask('capstan', 'SOA'), ['an SOA capstan ns.capstan hostmaster.capstan']],
    ['the apex NS, with its glue', ask('capstan', 'NS'), ['ad A ns.capstan 127.0.0.1', 'an NS capstan ns.capstan']],
    ['the apex A: NODATA', ask('capstan', 'A'), ['NODATA soa=capstan']],
  ])('%s', (_, question, expected) => {
    expect(summary(zone.resolve(question))).toEqual(expected);
  });

  it('gives every answer the configured TTL, and the SOA minimum the same, so a new name is not cached away', () => {
    const answer = zone.resolve(ask('web.prod.capstan', 'A'));
    expect(answer.outcome === 'answer' && answer.answers.map((a) => (a as { ttl: number }).ttl)).toEqual([2, 2]);
    const missing = zone.resolve(ask('nope.prod.capstan', 'A'));
    expect(missing.outcome === 'nxdomain' && missing.soa.data.minimum).toBe(2);
  });
});

describe('Zone.apply: the index follows Endpoints changes', () => {
  it('scales down: the gone task\'s address and name leave at once', () => {
    const zone = zoneWith(['prod', web]);
    zone.applyEndpoints({ key: 'prod/web', namespace: 'prod', spec: { ...web, ports: web.ports.map((p) => ({ ...p, addresses: p.addresses.filter((a) => a.task === 'web-a') })) } });
    expect(summary(zone.resolve(ask('web.prod.capstan', 'A')))).toEqual(['an A web.prod.capstan 10.0.0.1']);
    expect(summary(zone.resolve(ask('web-b.prod.capstan', 'A')))).toEqual(['NXDOMAIN soa=capstan']);
  });

  it('deletes: every name of the App goes, and so do the names that only held them', () => {
    const zone = zoneWith(['prod', web]);
    zone.applyEndpoints({ key: 'prod/web', namespace: 'prod', spec: undefined });
    for (const name of ['web.prod.capstan', 'web-a.prod.capstan', 'prod.capstan', '_tcp.web.prod.capstan']) {
      expect(summary(zone.resolve(ask(name, 'A'))), name).toEqual(['NXDOMAIN soa=capstan']);
    }
    expect(zone.size).toBe(0);
  });

  it('keeps a name two Endpoints share until both are gone, without duplicates', () => {
    const other: EndpointsSpec = { app: 'api', ports: [{ index: 0, protocol: 'tcp', addresses: [{ address: '10.0.0.1', hostPort: 1, task: 'web-a', node: 'n1' }] }] };
    const zone = zoneWith(['prod', web], ['prod', other]);
    expect(summary(zone.resolve(ask('web-a.prod.capstan', 'A')))).toEqual(['an A web-a.prod.capstan 10.0.0.1']);
    zone.applyEndpoints({ key: 'prod/web', namespace: 'prod', spec: undefined });
    expect(summary(zone.resolve(ask('web-a.prod.capstan', 'A')))).toEqual(['an A web-a.prod.capstan 10.0.0.1']);
  });

  it('applying the same object twice changes nothing', () => {
    const zone = zoneWith(['prod', web], ['prod', web]);
    expect(summary(zone.resolve(ask('web.prod.capstan', 'A')))).toHaveLength(2);
  });

  it('answers AAAA from IPv6 node addresses', () => {
    const zone = zoneWith(['prod', { app: 'v6', ports: [{ index: 0, protocol: 'tcp', addresses: [{ address: 'fd00::1', hostPort: 1, task: 'v6-a', node: 'n' }] }] }]);
    expect(summary(zone.resolve(ask('v6.prod.capstan', 'AAAA')))).toEqual(['an AAAA v6.prod.capstan fd00::1']);
    expect(summary(zone.resolve(ask('v6.prod.capstan', 'A')))).toEqual(['NODATA soa=capstan']);
  });

  it('shuffles each answer', () => {
    const many: EndpointsSpec = {
      app: 'many',
      ports: [{ index: 0, protocol: 'tcp', addresses: Array.from({ length: 8 }, (_, i) => ({ address: `10.0.1.${i}`, hostPort: 1, task: `t${i}`, node: 'n' })) }],
    };
    const zone = new Zone({ zone: 'capstan', ttlSeconds: 2 });
    zone.applyEndpoints({ key: 'x/many', namespace: 'x', spec: many });
    const orders = new Set(Array.from({ length: 20 }, () => JSON.stringify(zone.resolve(ask('many.x.capstan', 'A')))));
    expect(orders.size).toBeGreaterThan(1);
  });

  it('serves a zone of several labels', () => {
    const zone = new Zone({ zone: 'Cluster.Local.', ttlSeconds: 1 });
    zone.applyEndpoints({ key: 'prod/web', namespace: 'prod', spec: web });
    expect(summary(zone.resolve(ask('web-b.prod.cluster.local', 'A')))).toEqual(['an A web-b.prod.cluster.local 10.0.0.2']);
    expect(summary(zone.resolve(ask('web.prod.capstan', 'A')))).toEqual(['REFUSED']);
  });
});

describe('Zone.applyTask: every bound Running task\'s name, from its Task', () => {
  const task = (name: string, address: string | undefined): TaskChange => ({ key: `prod/${name}`, namespace: 'prod', name, address });
  const withTasks = (...changes: TaskChange[]) => (zone: Zone) => changes.forEach((change) => zone.applyTask(change));
  const withEndpoints = (spec: EndpointsSpec | undefined, name = 'web') => (zone: Zone) => zone.applyEndpoints({ key: `prod/${name}`, namespace: 'prod', spec });
  const webWithout = (task: string): EndpointsSpec => ({ ...web, ports: web.ports.map((p) => ({ ...p, addresses: p.addresses.filter((a) => a.task !== task) })) });

  it.each<[string, ((zone: Zone) => void)[], Question, string[]]>([
    ['a task in no Endpoints (running, not healthy): its node address', [withTasks(task('db-0', '10.0.0.9'))], ask('db-0.prod.capstan', 'A'), ['an A db-0.prod.capstan 10.0.0.9']],
    ['its namespace exists: NODATA', [withTasks(task('db-0', '10.0.0.9'))], ask('prod.capstan', 'A'), ['NODATA soa=capstan']],
    ['a task without a name (not Running, deleted, gone): NXDOMAIN', [withTasks(task('db-0', '10.0.0.9'), task('db-0', undefined))], ask('db-0.prod.capstan', 'A'), ['NXDOMAIN soa=capstan']],
    ['and the namespace only it held: NXDOMAIN', [withTasks(task('db-0', '10.0.0.9'), task('db-0', undefined))], ask('prod.capstan', 'A'), ['NXDOMAIN soa=capstan']],
    ['its node\'s address changed: the new one only', [withTasks(task('db-0', '10.0.0.9'), task('db-0', '10.0.0.10'))], ask('db-0.prod.capstan', 'A'), ['an A db-0.prod.capstan 10.0.0.10']],
    ['an IPv6 node: AAAA', [withTasks(task('db-0', 'fd00::9'))], ask('db-0.prod.capstan', 'AAAA'), ['an AAAA db-0.prod.capstan fd00::9']],
    ['an IPv6 node: NODATA for A', [withTasks(task('db-0', 'fd00::9'))], ask('db-0.prod.capstan', 'A'), ['NODATA soa=capstan']],
    ['a node known by a host name: the name exists, with no A', [withTasks(task('db-0', 'node-1.lan'))], ask('db-0.prod.capstan', 'A'), ['NODATA soa=capstan']],
    ['a serving task, from its Task and its Endpoints: one record', [withEndpoints(web), withTasks(task('web-a', '10.0.0.1'))], ask('web-a.prod.capstan', 'A'), ['an A web-a.prod.capstan 10.0.0.1']],
    [
      'a serving task whose Task is not seen yet: Endpoints name it, so an SRV target resolves',
      [withEndpoints(web), withTasks(task('web-a', '10.0.0.1'), task('web-a', undefined))],
      ask('web-a.prod.capstan', 'A'),
      ['an A web-a.prod.capstan 10.0.0.1'],
    ],
    ['a task that left Endpoints (unhealthy) keeps its name', [withEndpoints(web), withTasks(task('web-a', '10.0.0.1')), withEndpoints(webWithout('web-a'))], ask('web-a.prod.capstan', 'A'), ['an A web-a.prod.capstan 10.0.0.1']],
    ['while its App\'s name gives only the serving tasks', [withEndpoints(web), withTasks(task('web-a', '10.0.0.1')), withEndpoints(webWithout('web-a'))], ask('web.prod.capstan', 'A'), ['an A web.prod.capstan 10.0.0.2']],
    [
      'a Task keyed like an Endpoints object (a task named like an App): each takes out only its own',
      [withEndpoints(web), withTasks(task('web', '10.0.0.7')), withEndpoints(undefined)],
      ask('web.prod.capstan', 'A'),
      ['an A web.prod.capstan 10.0.0.7'],
    ],
  ])('%s', (_, steps, question, expected) => {
    const zone = zoneWith();
    for (const step of steps) step(zone);
    expect(summary(zone.resolve(question))).toEqual(expected);
  });

  it('a status write that leaves the name as it was changes nothing, not even the SOA serial', () => {
    const zone = zoneWith();
    const serial = () => {
      const soa = zone.resolve(ask('capstan', 'SOA'));
      return soa.outcome === 'answer' && soa.answers[0]!.type === 'SOA' ? soa.answers[0].data.serial : undefined;
    };
    zone.applyTask(task('db-0', '10.0.0.9'));
    const before = serial();
    zone.applyTask(task('db-0', '10.0.0.9'));
    expect(serial()).toBe(before);
    zone.applyTask(task('db-0', undefined));
    expect(serial()).toBe(before! + 1);
    expect(zone.size).toBe(0);
  });
});
