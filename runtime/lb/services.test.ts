import { describe, expect, it } from 'vitest';
import { appSpecSchema } from '../../api/kinds/app.ts';
import type { AppSpec, AppSpecInput } from '../../api/kinds/app.ts';
import { API_VERSION } from '../../api/object.ts';
import type { CapstanObject } from '../../api/object.ts';
import { servicesOf } from './services.ts';

type Labels = Record<string, string>;

/** An App as the store holds it: spec parsed with Marathon's defaults, two tcp ports unless given. */
function app(spec: Partial<AppSpecInput> = {}, labels?: Labels): CapstanObject<AppSpec> {
  return {
    apiVersion: API_VERSION,
    kind: 'App',
    metadata: { name: 'web', namespace: 'shop', ...(labels ? { labels } : {}) },
    spec: appSpecSchema.parse({ driver: 'process', containers: [{ cmd: 'serve' }], ports: [{ name: 'http' }, { name: 'admin' }], ...spec }),
  };
}

const httpCheck = { protocol: 'HTTP', path: '/health', portIndex: 0, intervalSeconds: 2, timeoutSeconds: 1, maxConsecutiveFailures: 10 } as const;

describe('servicesOf: which ports a load balancer of some groups routes', () => {
  it.each<{ scenario: string; labels: Labels; groups: string[]; routed: number[] }>([
    { scenario: 'HAPROXY_GROUP matches the load balancer', labels: { HAPROXY_GROUP: 'external' }, groups: ['external'], routed: [10000, 10001] },
    { scenario: 'HAPROXY_GROUP names another group', labels: { HAPROXY_GROUP: 'internal' }, groups: ['external'], routed: [] },
    { scenario: 'one of several comma-separated groups matches', labels: { HAPROXY_GROUP: 'a, external' }, groups: ['external'], routed: [10000, 10001] },
    { scenario: 'an App with no group is served by no named group', labels: {}, groups: ['external'], routed: [] },
    { scenario: "an App with no group is served by '*'", labels: {}, groups: ['*'], routed: [10000, 10001] },
    { scenario: 'a load balancer of several groups', labels: { HAPROXY_0_GROUP: 'external', HAPROXY_1_GROUP: 'internal' }, groups: ['internal', 'external'], routed: [10000, 10001] },
    { scenario: 'HAPROXY_{n}_GROUP picks ports (external)', labels: { HAPROXY_0_GROUP: 'external', HAPROXY_1_GROUP: 'internal' }, groups: ['external'], routed: [10000] },
    { scenario: 'HAPROXY_{n}_GROUP picks ports (internal)', labels: { HAPROXY_0_GROUP: 'external', HAPROXY_1_GROUP: 'internal' }, groups: ['internal'], routed: [10001] },
    { scenario: 'HAPROXY_{n}_GROUP beats HAPROXY_GROUP for its port', labels: { HAPROXY_GROUP: 'internal', HAPROXY_0_GROUP: 'external' }, groups: ['external'], routed: [10000] },
    { scenario: 'HAPROXY_GROUP still covers the other ports', labels: { HAPROXY_GROUP: 'internal', HAPROXY_0_GROUP: 'external' }, groups: ['internal'], routed: [10001] },
  ])('$scenario', ({ labels, groups, routed }) => {
    const { services, problems } = servicesOf({ app: app({}, labels), servicePorts: [10000, 10001], groups });
    expect(services.map((s) => s.servicePort)).toEqual(routed);
    expect(problems).toEqual([]);
  });

  it.each<{ scenario: string; spec: Partial<AppSpecInput>; labels: Labels; routed: number[] }>([
    { scenario: 'spec.loadBalancer routes its port in group external by default', spec: { loadBalancer: {} }, labels: {}, routed: [10000] },
    { scenario: 'spec.loadBalancer.portIndex picks the port', spec: { loadBalancer: { portIndex: 1 } }, labels: {}, routed: [10001] },
    { scenario: 'spec.loadBalancer.group elsewhere: not served', spec: { loadBalancer: { group: 'internal' } }, labels: {}, routed: [] },
    { scenario: 'HAPROXY_GROUP overrides spec.loadBalancer.group', spec: { loadBalancer: { group: 'internal' } }, labels: { HAPROXY_GROUP: 'external' }, routed: [10000, 10001] },
  ])('$scenario', ({ spec, labels, routed }) => {
    const { services } = servicesOf({ app: app(spec, labels), servicePorts: [10000, 10001], groups: ['external'] });
    expect(services.map((s) => s.servicePort)).toEqual(routed);
  });

  it.each([
    { scenario: 'a port without a service port is not load balanced', servicePorts: [undefined, 10001], routed: [10001] },
    { scenario: 'service port 0 means none', servicePorts: [0, 10001], routed: [10001] },
    { scenario: 'a shorter list leaves later ports out', servicePorts: [10000], routed: [10000] },
  ])('$scenario', ({ servicePorts, routed }) => {
    const { services } = servicesOf({ app: app({}, { HAPROXY_GROUP: 'external' }), servicePorts, groups: ['external'] });
    expect(services.map((s) => s.servicePort)).toEqual(routed);
  });

  it('leaves a udp port out and says why', () => {
    const { services, problems } = servicesOf({
      app: app({ ports: [{ protocol: 'udp' }] }, { HAPROXY_GROUP: 'external' }),
      servicePorts: [10053],
      groups: ['external'],
    });
    expect(services).toEqual([]);
    expect(problems).toEqual(['App shop/web, port 0: service port 10053 is udp, which HAProxy cannot balance; it is left out.']);
  });

  it('names the service after the App: namespace, name, Marathon id, port index', () => {
    const { services } = servicesOf({ app: app({}, { HAPROXY_GROUP: 'external' }), servicePorts: [10000], groups: ['external'] });
    expect(services[0]).toMatchObject({ namespace: 'shop', app: 'web', id: '/shop/web', portIndex: 0, servicePort: 10000, groups: ['external'] });
  });
});

describe('servicesOf: how a port is routed', () => {
  const defaults = { mode: 'tcp', vhosts: [], balance: 'roundrobin', sticky: false, redirectToHttps: false, backendWeight: 0 };
  it.each<{ scenario: string; spec?: Partial<AppSpecInput>; labels?: Labels; expected: Record<string, unknown>; noCheck?: boolean }>([
    { scenario: 'no labels, no check: tcp, roundrobin', expected: defaults },
    { scenario: 'a vhost makes it http', labels: { HAPROXY_0_VHOST: 'shop.example.com' }, expected: { ...defaults, mode: 'http', vhosts: ['shop.example.com'] } },
    {
      scenario: 'several vhosts, trimmed and lowercased',
      labels: { HAPROXY_0_VHOST: 'Shop.Example.com, shop' },
      expected: { mode: 'http', vhosts: ['shop.example.com', 'shop'] },
    },
    {
      scenario: 'an HTTP check makes it http and becomes the backend check',
      spec: { healthChecks: [httpCheck] },
      expected: { mode: 'http', healthCheck: { protocol: 'HTTP', path: '/health', intervalSeconds: 2, timeoutSeconds: 1, maxConsecutiveFailures: 10 } },
    },
    { scenario: 'an HTTPS check makes it http', spec: { healthChecks: [{ ...httpCheck, protocol: 'HTTPS' }] }, expected: { mode: 'http', healthCheck: { protocol: 'HTTPS' } } },
    {
      scenario: 'a TCP check keeps tcp',
      spec: { healthChecks: [{ protocol: 'TCP', intervalSeconds: 5, timeoutSeconds: 2 }] },
      expected: { mode: 'tcp', healthCheck: { protocol: 'TCP', intervalSeconds: 5, timeoutSeconds: 2, maxConsecutiveFailures: 3 } },
    },
    { scenario: 'a COMMAND check is not the load balancer’s', spec: { healthChecks: [{ protocol: 'COMMAND', command: 'true' }] }, expected: { mode: 'tcp' }, noCheck: true },
    { scenario: 'a check of another port does not apply', spec: { healthChecks: [{ ...httpCheck, portIndex: 1 }] }, expected: { mode: 'tcp' }, noCheck: true },
    {
      scenario: 'the first check aimed at the port wins, by index or by name',
      spec: { healthChecks: [{ protocol: 'COMMAND', command: 'true' }, { ...httpCheck, portIndex: undefined, portName: 'http', path: '/first' }, { ...httpCheck, path: '/second' }] },
      expected: { mode: 'http', healthCheck: { path: '/first' } },
    },
    { scenario: 'HAPROXY_0_MODE=HTTP, case aside', labels: { HAPROXY_0_MODE: 'HTTP' }, expected: { mode: 'http' } },
    { scenario: 'HAPROXY_0_MODE=tcp beats an HTTP check', spec: { healthChecks: [httpCheck] }, labels: { HAPROXY_0_MODE: 'tcp' }, expected: { mode: 'tcp' } },
    { scenario: 'a path lifts the default weight to 1', labels: { HAPROXY_0_VHOST: 'a.com', HAPROXY_0_PATH: '/api' }, expected: { path: '/api', backendWeight: 1 } },
    { scenario: 'a path with -i and several prefixes', labels: { HAPROXY_0_VHOST: 'a.com', HAPROXY_0_PATH: '-i /a  /b' }, expected: { path: '-i /a /b' } },
    { scenario: 'an explicit weight stays', labels: { HAPROXY_0_VHOST: 'a.com', HAPROXY_0_PATH: '/api', HAPROXY_0_BACKEND_WEIGHT: '5' }, expected: { backendWeight: 5 } },
    { scenario: 'a negative weight sorts last', labels: { HAPROXY_0_BACKEND_WEIGHT: '-2' }, expected: { backendWeight: -2 } },
    {
      scenario: 'balance, sticky, redirect, bind address and port from labels',
      labels: {
        HAPROXY_0_VHOST: 'a.com',
        HAPROXY_0_BALANCE: 'leastconn',
        HAPROXY_0_STICKY: 'yes',
        HAPROXY_0_REDIRECT_TO_HTTPS: 'true',
        HAPROXY_0_BIND_ADDR: '127.0.0.2',
        HAPROXY_0_PORT: '8081',
      },
      expected: { balance: 'leastconn', sticky: true, redirectToHttps: true, bindAddr: '127.0.0.2', bindPort: 8081 },
    },
    {
      scenario: 'spec.loadBalancer fields',
      spec: { loadBalancer: { vhost: 'A.com,b.com', path: '/v1', balance: 'source', sticky: true, redirectToHttps: true } },
      expected: { mode: 'http', vhosts: ['a.com', 'b.com'], path: '/v1', balance: 'source', sticky: true, redirectToHttps: true, backendWeight: 1 },
    },
    { scenario: 'spec.loadBalancer.mode', spec: { loadBalancer: { mode: 'http' } }, expected: { mode: 'http' } },
    {
      scenario: 'labels override spec.loadBalancer fields',
      spec: { loadBalancer: { vhost: 'a.com', balance: 'source', sticky: true } },
      labels: { HAPROXY_0_VHOST: 'b.com', HAPROXY_0_BALANCE: 'leastconn', HAPROXY_0_STICKY: 'false' },
      expected: { vhosts: ['b.com'], balance: 'leastconn', sticky: false },
    },
    {
      scenario: 'spec.loadBalancer speaks for its portIndex only',
      spec: { loadBalancer: { portIndex: 1, vhost: 'a.com' } },
      labels: { HAPROXY_GROUP: 'external' },
      expected: { vhosts: [], mode: 'tcp' },
    },
  ])('$scenario', ({ spec, labels, expected, noCheck }) => {
    const { services, problems } = servicesOf({ app: app(spec, { HAPROXY_GROUP: 'external', ...labels }), servicePorts: [10000], groups: ['external'] });
    expect(problems).toEqual([]);
    expect(services).toHaveLength(1);
    expect(services[0]).toMatchObject(expected);
    if (noCheck) expect(services[0]!.healthCheck).toBeUndefined();
  });
});

describe('servicesOf: values it cannot use are named, and the port falls back', () => {
  it.each([
    { label: 'HAPROXY_0_MODE', value: 'foo', field: 'mode', fallback: 'tcp', expected: 'http or tcp' },
    { label: 'HAPROXY_0_BALANCE', value: 'fastest', field: 'balance', fallback: 'roundrobin', expected: 'roundrobin, leastconn, source, first' },
    { label: 'HAPROXY_0_BACKEND_WEIGHT', value: 'heavy', field: 'backendWeight', fallback: 0, expected: 'an integer' },
    { label: 'HAPROXY_0_BACKEND_WEIGHT', value: '1.5', field: 'backendWeight', fallback: 0, expected: 'an integer' },
    { label: 'HAPROXY_0_STICKY', value: 'maybe', field: 'sticky', fallback: false, expected: 'true or false' },
    { label: 'HAPROXY_0_REDIRECT_TO_HTTPS', value: 'sure', field: 'redirectToHttps', fallback: false, expected: 'true or false' },
    { label: 'HAPROXY_0_PORT', value: '70000', field: 'bindPort', fallback: undefined, expected: 'a port number' },
    { label: 'HAPROXY_0_PORT', value: 'eighty', field: 'bindPort', fallback: undefined, expected: 'a port number' },
    { label: 'HAPROXY_0_BIND_ADDR', value: 'everywhere', field: 'bindAddr', fallback: undefined, expected: 'an IP address or *' },
    { label: 'HAPROXY_0_VHOST', value: 'a b.com', field: 'vhosts', fallback: [], expected: 'host names separated by commas' },
    { label: 'HAPROXY_0_VHOST', value: ',', field: 'vhosts', fallback: [], expected: 'host names separated by commas' },
    { label: 'HAPROXY_0_PATH', value: 'api', field: 'path', fallback: undefined, expected: 'an absolute path' },
  ])('$label=$value', ({ label, value, field, fallback, expected }) => {
    const { services, problems } = servicesOf({ app: app({}, { HAPROXY_GROUP: 'external', [label]: value }), servicePorts: [10000], groups: ['external'] });
    expect(services[0]![field as keyof (typeof services)[0]]).toEqual(fallback);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(`App shop/web, port 0: label ${label} expected ${expected}`);
    expect(problems[0]).toContain(`found "${value}"`);
  });

  it('falls back to the spec.loadBalancer field, not the default, and says which', () => {
    const { services, problems } = servicesOf({
      app: app({ loadBalancer: { balance: 'source' } }, { HAPROXY_0_BALANCE: 'fastest' }),
      servicePorts: [10000],
      groups: ['external'],
    });
    expect(services[0]!.balance).toBe('source');
    expect(problems).toEqual([
      'App shop/web, port 0: label HAPROXY_0_BALANCE expected roundrobin, leastconn, source, first, found "fastest"; using source instead.',
    ]);
  });

  it.each<{ scenario: string; labels: Labels; problem: string; expected: Record<string, unknown> }>([
    {
      scenario: 'a vhost under a forced tcp mode is dropped',
      labels: { HAPROXY_0_VHOST: 'a.com', HAPROXY_0_MODE: 'tcp', HAPROXY_0_PATH: '/api' },
      problem: 'App shop/web, port 0: virtual hosts need mode http, but HAPROXY_0_MODE says tcp; the vhost routes are left out.',
      expected: { vhosts: [], mode: 'tcp' },
    },
    {
      scenario: 'a path without a vhost routes nothing (marathon-lb)',
      labels: { HAPROXY_0_PATH: '/api' },
      problem: 'App shop/web, port 0: HAPROXY_0_PATH has no effect without a virtual host (marathon-lb routes paths only under a vhost); set HAPROXY_0_VHOST or spec.loadBalancer.vhost.',
      expected: { vhosts: [], path: '/api' },
    },
    {
      scenario: 'a redirect without a vhost does nothing',
      labels: { HAPROXY_0_REDIRECT_TO_HTTPS: 'true' },
      problem: 'App shop/web, port 0: HAPROXY_0_REDIRECT_TO_HTTPS has no effect without a virtual host; set HAPROXY_0_VHOST or spec.loadBalancer.vhost.',
      expected: { vhosts: [] },
    },
  ])('$scenario', ({ labels, problem, expected }) => {
    const { services, problems } = servicesOf({ app: app({}, { HAPROXY_GROUP: 'external', ...labels }), servicePorts: [10000], groups: ['external'] });
    expect(problems).toEqual([problem]);
    expect(services[0]).toMatchObject(expected);
  });

  it('says nothing of ports this load balancer does not serve', () => {
    const { services, problems } = servicesOf({ app: app({}, { HAPROXY_GROUP: 'internal', HAPROXY_0_MODE: 'foo' }), servicePorts: [10000], groups: ['external'] });
    expect(services).toEqual([]);
    expect(problems).toEqual([]);
  });
});
