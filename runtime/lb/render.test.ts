import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { appSpecSchema } from '../../api/kinds/app.ts';
import type { AppSpec, AppSpecInput } from '../../api/kinds/app.ts';
import { API_VERSION } from '../../api/object.ts';
import type { CapstanObject } from '../../api/object.ts';
import type { LbRenderOptions, LbService } from './model.ts';
import { serviceKey } from './model.ts';
import { hasPrometheusExporter, renderConfig } from './render.ts';
import { servicesOf } from './services.ts';

const HAPROXY = '/usr/sbin/haproxy';

// ---------------------------------------------------------------------------------------------
// From Apps to text, as `capstan lb` does it, with servers standing in for Endpoints.

type Labels = Record<string, string>;
/** address, port; or null for an empty slot (placeholder 127.0.0.1:1, see LbServer.address). */
type Slot = [string, number] | null;

function app(name: string, spec: Partial<AppSpecInput>, labels: Labels = {}, namespace = 'default'): CapstanObject<AppSpec> {
  return {
    apiVersion: API_VERSION,
    kind: 'App',
    metadata: { name, namespace, labels },
    spec: appSpecSchema.parse({ driver: 'process', containers: [{ cmd: 'serve' }], ...spec }),
  };
}

/** Every port's service port is taken from spec.ports[].servicePort, as the allocator would. */
function servicesFor(apps: CapstanObject<AppSpec>[], slots: Record<number, Slot[]>, groups = ['external']): LbService[] {
  return apps.flatMap((a) => {
    const { services } = servicesOf({ app: a, servicePorts: a.spec.ports.map((p) => p.servicePort), groups });
    return services.map((s) => ({
      ...s,
      servers: (slots[s.servicePort] ?? []).map((slot, i) =>
        slot ? { name: `slot${i}`, address: slot[0], port: slot[1], task: `task-${i}`, disabled: false } : { name: `slot${i}`, address: '127.0.0.1', port: 1, disabled: true },
      ),
    }));
  });
}

/** marathon-lb's reference runs: `--group external`, HTTP and HTTPS frontends bound on * (80, 443). */
const MARATHON_LB_LIKE: LbRenderOptions = {
  bindAddress: '*',
  httpPort: 80,
  https: { port: 443, certificate: '/etc/ssl/cert.pem' },
  stats: { address: '127.0.0.1', port: 9090, user: 'admin', password: 'secret' },
  adminSocket: '/run/capstan/lb/admin.sock',
  serverStateFile: '/run/capstan/lb/server-state',
  hardStopAfterSeconds: 30,
};

// ---------------------------------------------------------------------------------------------
// The rendered text, read back into what it means.

/** `frontend x` / `backend x` / ... → its directive lines, trimmed, comments and blanks dropped. */
function parseSections(text: string): Map<string, string[]> {
  const sections = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trimEnd();
    if (line.trim() === '') continue;
    if (!line.startsWith(' ')) sections.set(line, (current = []));
    else current?.push(line.trim());
  }
  return sections;
}

interface ServerMeaning {
  address: string;
  /** The server's options, with a cookie's value (a hash) shown as `cookie *`. */
  options: string;
}
interface BackendMeaning {
  mode?: string;
  balance?: string;
  forwardfor: boolean;
  httpchk?: string;
  timeoutCheck?: string;
  sticky: string[];
  servers: ServerMeaning[];
}
interface SharedFrontendMeaning {
  bind?: string;
  /** ACL name → its criteria, one entry per acl line. */
  acls: Record<string, string[]>;
  redirects: string[];
  /** `<backend> if <condition>` for each use_backend, in order. */
  routes: string[];
}
interface Meaning {
  /** Per-service frontends: bind, mode, default backend. */
  frontends: Record<string, { bind: string; mode: string; useBackend: string }>;
  http: SharedFrontendMeaning;
  https?: SharedFrontendMeaning;
  backends: Record<string, BackendMeaning>;
}

const value = (lines: string[], keyword: string) => lines.find((l) => l.startsWith(`${keyword} `))?.slice(keyword.length + 1);

function sharedFrontend(lines: string[]): SharedFrontendMeaning {
  const acls: Record<string, string[]> = {};
  for (const line of lines.filter((l) => l.startsWith('acl '))) {
    const [, name, ...criteria] = line.split(/\s+/);
    (acls[name!] ??= []).push(criteria.join(' '));
  }
  return {
    bind: value(lines, 'bind'),
    acls,
    redirects: lines.filter((l) => l.startsWith('redirect ')).map((l) => l.slice('redirect '.length)),
    routes: lines.filter((l) => l.startsWith('use_backend ')).map((l) => l.slice('use_backend '.length)),
  };
}

function meaning(text: string): Meaning {
  const sections = parseSections(text);
  const result: Meaning = { frontends: {}, http: sharedFrontend(sections.get('frontend capstan_http_in') ?? []), backends: {} };
  const https = sections.get('frontend capstan_https_in');
  if (https) result.https = sharedFrontend(https);
  for (const [header, lines] of sections) {
    const [kind, name] = header.split(' ') as [string, string];
    if (kind === 'frontend' && !name.startsWith('capstan_')) {
      result.frontends[name] = { bind: value(lines, 'bind')!, mode: value(lines, 'mode')!, useBackend: value(lines, 'use_backend')! };
    }
    if (kind === 'backend') {
      result.backends[name] = {
        mode: value(lines, 'mode'),
        balance: value(lines, 'balance'),
        forwardfor: lines.includes('option forwardfor'),
        httpchk: value(lines, 'option httpchk'),
        timeoutCheck: value(lines, 'timeout check'),
        sticky: lines.filter((l) => /^(cookie|stick-table|stick on) /.test(l)),
        servers: lines
          .filter((l) => l.startsWith('server '))
          .map((l) => {
            const [, , address, ...options] = l.split(/\s+/);
            return { address: address!, options: options.join(' ').replace(/cookie [0-9a-f]+/, 'cookie *') };
          }),
      };
    }
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// marathon-lb's ten reference cases (tests/test_marathon_lb.py at 9e669ec), said in Capstan's words.

const httpCheck = { protocol: 'HTTP', path: '/', portIndex: 0, gracePeriodSeconds: 10, intervalSeconds: 2, timeoutSeconds: 10, maxConsecutiveFailures: 10 } as const;
const tcpCheck = { protocol: 'TCP', portIndex: 0, gracePeriodSeconds: 10, intervalSeconds: 2, timeoutSeconds: 10, maxConsecutiveFailures: 10 } as const;
const nginx = (labels: Labels, spec: Partial<AppSpecInput> = {}) => app('nginx', { ports: [{ servicePort: 10000 }], ...spec }, labels);

const NO_ROUTES: SharedFrontendMeaning = { bind: '*:80', acls: {}, redirects: [], routes: [] };
const NO_SNI: SharedFrontendMeaning = { bind: '*:443 ssl crt /etc/ssl/cert.pem', acls: {}, redirects: [], routes: [] };
const nginxFrontend = (mode: string) => ({ default_nginx_10000: { bind: '*:10000', mode, useBackend: 'default_nginx_10000' } });
const httpBackend = (overrides: Partial<BackendMeaning> = {}): BackendMeaning => ({
  mode: 'http',
  balance: 'roundrobin',
  forwardfor: true,
  httpchk: 'GET /',
  timeoutCheck: '10s',
  sticky: [],
  servers: [{ address: '1.1.1.1:1024', options: 'check inter 2s fall 11' }],
  ...overrides,
});
const host = 'host_default_nginx_10000';

describe('renderConfig: marathon-lb reference cases, compared by meaning', () => {
  it.each<{ case: string; apps: CapstanObject<AppSpec>[]; slots: Record<number, Slot[]>; expected: Meaning }>([
    {
      case: 'simple-http: an HTTP check makes the port http; httpchk, check timeout, inter and fall',
      apps: [nginx({ HAPROXY_GROUP: 'external' }, { healthChecks: [httpCheck] })],
      slots: { 10000: [['1.1.1.1', 1024]] },
      expected: { frontends: nginxFrontend('http'), http: NO_ROUTES, https: NO_SNI, backends: { default_nginx_10000: httpBackend() } },
    },
    {
      case: 'vhost: a host ACL on the HTTP frontend, SNI on the HTTPS one',
      apps: [nginx({ HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'test.example.com' }, { healthChecks: [httpCheck] })],
      slots: { 10000: [['1.1.1.1', 1024]] },
      expected: {
        frontends: nginxFrontend('http'),
        http: { ...NO_ROUTES, acls: { [host]: ['hdr(host) -i test.example.com'] }, routes: [`default_nginx_10000 if ${host}`] },
        https: { ...NO_SNI, routes: ['default_nginx_10000 if { ssl_fc_sni -i test.example.com }'] },
        backends: { default_nginx_10000: httpBackend() },
      },
    },
    {
      case: 'multiple-vhost: one ACL name, one line per vhost; one SNI rule per vhost',
      apps: [nginx({ HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'test.example.com,test' }, { healthChecks: [httpCheck] })],
      slots: { 10000: [['192.0.2.1', 1234]] },
      expected: {
        frontends: nginxFrontend('http'),
        http: { ...NO_ROUTES, acls: { [host]: ['hdr(host) -i test.example.com', 'hdr(host) -i test'] }, routes: [`default_nginx_10000 if ${host}`] },
        https: { ...NO_SNI, routes: ['default_nginx_10000 if { ssl_fc_sni -i test.example.com }', 'default_nginx_10000 if { ssl_fc_sni -i test }'] },
        backends: { default_nginx_10000: httpBackend({ servers: [{ address: '192.0.2.1:1234', options: 'check inter 2s fall 11' }] }) },
      },
    },
    {
      case: 'vhost-redirect-https: a 301 to https for the vhost when not on TLS',
      apps: [nginx({ HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'test.example.com', HAPROXY_0_REDIRECT_TO_HTTPS: 'true' }, { healthChecks: [httpCheck] })],
      slots: { 10000: [['1.1.1.1', 1024]] },
      expected: {
        frontends: nginxFrontend('http'),
        http: {
          ...NO_ROUTES,
          acls: { [host]: ['hdr(host) -i test.example.com'] },
          redirects: [`scheme https code 301 if !{ ssl_fc } ${host}`],
          routes: [`default_nginx_10000 if ${host}`],
        },
        https: { ...NO_SNI, routes: ['default_nginx_10000 if { ssl_fc_sni -i test.example.com }'] },
        backends: { default_nginx_10000: httpBackend() },
      },
    },
    {
      case: 'vhost-path: path_beg ANDed with the host ACL, and with SNI',
      apps: [nginx({ HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'test.example.com', HAPROXY_0_PATH: '/some/path' }, { healthChecks: [httpCheck] })],
      slots: { 10000: [['1.1.1.1', 1024]] },
      expected: {
        frontends: nginxFrontend('http'),
        http: {
          ...NO_ROUTES,
          acls: { [host]: ['hdr(host) -i test.example.com'], path_default_nginx_10000: ['path_beg /some/path'] },
          routes: [`default_nginx_10000 if ${host} path_default_nginx_10000`],
        },
        https: {
          ...NO_SNI,
          acls: { path_default_nginx_10000: ['path_beg /some/path'] },
          routes: ['default_nginx_10000 if { ssl_fc_sni -i test.example.com } path_default_nginx_10000'],
        },
        backends: { default_nginx_10000: httpBackend() },
      },
    },
    {
      case: 'balance-leastconn: HAPROXY_0_BALANCE',
      apps: [nginx({ HAPROXY_GROUP: 'external', HAPROXY_0_BALANCE: 'leastconn' }, { healthChecks: [httpCheck] })],
      slots: { 10000: [['1.1.1.1', 1024]] },
      expected: { frontends: nginxFrontend('http'), http: NO_ROUTES, https: NO_SNI, backends: { default_nginx_10000: httpBackend({ balance: 'leastconn' }) } },
    },
    {
      // marathon-lb writes its cookie here too, which HAProxy ignores in tcp mode (with a warning):
      // Capstan keeps the meaning the label asks for, sticky clients, by source address.
      case: 'sticky-tcp: no vhost, no HTTP check: tcp; sticky; servers checked',
      apps: [nginx({ HAPROXY_GROUP: 'external', HAPROXY_0_STICKY: 'true' })],
      slots: { 10000: [['1.1.1.1', 1024]] },
      expected: {
        frontends: nginxFrontend('tcp'),
        http: NO_ROUTES,
        https: NO_SNI,
        backends: {
          default_nginx_10000: {
            mode: 'tcp',
            balance: 'roundrobin',
            forwardfor: false,
            sticky: ['stick-table type ip size 100k expire 30m', 'stick on src'],
            servers: [{ address: '1.1.1.1:1024', options: 'check' }],
          },
        },
      },
    },
    {
      case: 'tcp-healthcheck-vhost: the vhost makes it http; a TCP check gives no httpchk but checked servers',
      apps: [nginx({ HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'test.example.com' }, { healthChecks: [tcpCheck] })],
      slots: { 10000: [['1.1.1.1', 1024]] },
      expected: {
        frontends: nginxFrontend('http'),
        http: { ...NO_ROUTES, acls: { [host]: ['hdr(host) -i test.example.com'] }, routes: [`default_nginx_10000 if ${host}`] },
        https: { ...NO_SNI, routes: ['default_nginx_10000 if { ssl_fc_sni -i test.example.com }'] },
        backends: { default_nginx_10000: httpBackend({ httpchk: undefined, timeoutCheck: undefined }) },
      },
    },
    {
      case: 'group-per-service: the port of another group is left out',
      apps: [nginx({ HAPROXY_0_GROUP: 'external', HAPROXY_1_GROUP: 'internal' }, { ports: [{ servicePort: 10000 }, { servicePort: 10001 }] })],
      slots: { 10000: [['1.1.1.1', 1024]], 10001: [['1.1.1.1', 1025]] },
      expected: {
        frontends: nginxFrontend('tcp'),
        http: NO_ROUTES,
        https: NO_SNI,
        backends: { default_nginx_10000: { mode: 'tcp', balance: 'roundrobin', forwardfor: false, sticky: [], servers: [{ address: '1.1.1.1:1024', options: '' }] } },
      },
    },
    {
      case: 'marathon15-bridge-vhost: a vhost without checks: http, unchecked server at the node address and host port',
      apps: [
        app('pywebserver', { instances: 1, ports: [{ name: 'test', hostPort: 0, servicePort: 10101 }] }, { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'myvhost.com' }),
      ],
      slots: { 10101: [['10.0.2.148', 1565]] },
      expected: {
        frontends: { default_pywebserver_10101: { bind: '*:10101', mode: 'http', useBackend: 'default_pywebserver_10101' } },
        http: {
          ...NO_ROUTES,
          acls: { host_default_pywebserver_10101: ['hdr(host) -i myvhost.com'] },
          routes: ['default_pywebserver_10101 if host_default_pywebserver_10101'],
        },
        https: { ...NO_SNI, routes: ['default_pywebserver_10101 if { ssl_fc_sni -i myvhost.com }'] },
        backends: {
          default_pywebserver_10101: httpBackend({ httpchk: undefined, timeoutCheck: undefined, servers: [{ address: '10.0.2.148:1565', options: '' }] }),
        },
      },
    },
  ])('$case', ({ apps, slots, expected }) => {
    const { text } = renderConfig(servicesFor(apps, slots), MARATHON_LB_LIKE);
    expect(meaning(text)).toEqual(expected);
  });
});

// ---------------------------------------------------------------------------------------------

const LOCAL: LbRenderOptions = {
  bindAddress: '127.0.0.1',
  httpPort: 18080,
  stats: { address: '127.0.0.1', port: 18081, user: 'admin', password: "s3cret pass'word" },
  adminSocket: '/run/capstan/lb/admin.sock',
  serverStateFile: '/run/capstan/lb/server-state',
  hardStopAfterSeconds: 30,
};

describe('renderConfig: the shared HTTP frontend', () => {
  it('orders routes by backend weight, then namespace, App and port', () => {
    const apps = [
      app('catchall', { ports: [{ servicePort: 10002 }] }, { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'shop.example.com' }),
      app('api', { ports: [{ servicePort: 10001 }] }, { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'shop.example.com', HAPROXY_0_PATH: '/api' }),
      app('admin', { ports: [{ servicePort: 10003 }] }, { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'shop.example.com', HAPROXY_0_PATH: '/api/admin', HAPROXY_0_BACKEND_WEIGHT: '5' }),
      app('zeta', { ports: [{ servicePort: 10004 }] }, { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'other.example.com' }, 'alpha'),
    ];
    const { http } = meaning(renderConfig(servicesFor(apps, {}), LOCAL).text);
    expect(http.routes.map((r) => r.split(' ')[0])).toEqual(['default_admin_10003', 'default_api_10001', 'alpha_zeta_10004', 'default_catchall_10002']);
  });

  it('matches a vhost with or without the port in Host when the port is not 80', () => {
    const apps = [app('web', { ports: [{ servicePort: 10000 }] }, { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'shop.example.com' })];
    const { http } = meaning(renderConfig(servicesFor(apps, {}), LOCAL).text);
    expect(http).toEqual({
      bind: '127.0.0.1:18080',
      acls: { host_default_web_10000: ['hdr(host) -i shop.example.com shop.example.com:18080'] },
      redirects: [],
      routes: ['default_web_10000 if host_default_web_10000'],
    });
  });

  it('routes a path without a vhost nowhere on the shared frontend, as marathon-lb', () => {
    const apps = [app('web', { ports: [{ servicePort: 10000 }] }, { HAPROXY_GROUP: 'external', HAPROXY_0_PATH: '/api', HAPROXY_0_MODE: 'http' })];
    const result = meaning(renderConfig(servicesFor(apps, {}), LOCAL).text);
    expect(result.http.routes).toEqual([]);
    expect(result.frontends['default_web_10000']).toEqual({ bind: '127.0.0.1:10000', mode: 'http', useBackend: 'default_web_10000' });
  });

  it('has no HTTPS frontend without a certificate', () => {
    const apps = [app('web', { ports: [{ servicePort: 10000 }] }, { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'shop.example.com' })];
    expect(meaning(renderConfig(servicesFor(apps, {}), LOCAL).text).https).toBeUndefined();
  });

  it('binds a service where its labels say', () => {
    const apps = [app('web', { ports: [{ servicePort: 10000 }] }, { HAPROXY_GROUP: 'external', HAPROXY_0_BIND_ADDR: '127.0.0.2', HAPROXY_0_PORT: '8443' })];
    expect(meaning(renderConfig(servicesFor(apps, {}), LOCAL).text).frontends['default_web_10000']!.bind).toBe('127.0.0.2:8443');
  });
});

describe('renderConfig: backends and servers', () => {
  it.each<{ scenario: string; spec: Partial<AppSpecInput>; labels: Labels; slots: Slot[]; expected: Partial<BackendMeaning> }>([
    {
      scenario: 'empty slots are disabled and keep their check options',
      spec: { healthChecks: [httpCheck] },
      labels: {},
      slots: [['127.0.0.1', 31000], null],
      expected: { servers: [{ address: '127.0.0.1:31000', options: 'check inter 2s fall 11' }, { address: '127.0.0.1:1', options: 'check inter 2s fall 11 disabled' }] },
    },
    {
      scenario: 'http stickiness is marathon-lb’s cookie, one value per server',
      spec: { healthChecks: [httpCheck] },
      labels: { HAPROXY_0_STICKY: 'true' },
      slots: [['127.0.0.1', 31000], ['127.0.0.1', 31001]],
      expected: {
        sticky: ['cookie mesosphere_server_id insert indirect nocache'],
        servers: [{ address: '127.0.0.1:31000', options: 'check inter 2s fall 11 cookie *' }, { address: '127.0.0.1:31001', options: 'check inter 2s fall 11 cookie *' }],
      },
    },
    {
      scenario: 'a TCP check in tcp mode: checked servers, no httpchk',
      spec: { healthChecks: [tcpCheck] },
      labels: {},
      slots: [['127.0.0.1', 31000]],
      expected: { mode: 'tcp', httpchk: undefined, timeoutCheck: undefined, servers: [{ address: '127.0.0.1:31000', options: 'check inter 2s fall 11' }] },
    },
    {
      scenario: 'an HTTP check under HAPROXY_0_MODE=tcp is a connect check',
      spec: { healthChecks: [httpCheck] },
      labels: { HAPROXY_0_MODE: 'tcp' },
      slots: [['127.0.0.1', 31000]],
      expected: { mode: 'tcp', httpchk: undefined, servers: [{ address: '127.0.0.1:31000', options: 'check inter 2s fall 11' }] },
    },
    {
      scenario: 'an HTTPS check: HAProxy speaks TLS to the port, checks included',
      spec: { healthChecks: [{ ...httpCheck, protocol: 'HTTPS', path: '/ping' }] },
      labels: {},
      slots: [['127.0.0.1', 31000]],
      expected: { mode: 'http', httpchk: 'GET /ping', servers: [{ address: '127.0.0.1:31000', options: 'check inter 2s fall 11 ssl verify none' }] },
    },
  ])('$scenario', ({ spec, labels, slots, expected }) => {
    const apps = [app('web', { ports: [{ servicePort: 10000 }], ...spec }, { HAPROXY_GROUP: 'external', ...labels })];
    const backend = meaning(renderConfig(servicesFor(apps, { 10000: slots }), LOCAL).text).backends['default_web_10000'];
    expect(backend).toMatchObject(expected);
  });

  it('gives each server of a sticky backend its own cookie', () => {
    const apps = [app('web', { ports: [{ servicePort: 10000 }] }, { HAPROXY_GROUP: 'external', HAPROXY_0_STICKY: 'true', HAPROXY_0_MODE: 'http' })];
    const { text } = renderConfig(servicesFor(apps, { 10000: [['127.0.0.1', 31000], ['127.0.0.1', 31001]] }), LOCAL);
    const cookies = [...text.matchAll(/^ {2}server .* cookie ([0-9a-f]+)/gm)].map((m) => m[1]);
    expect(cookies).toHaveLength(2);
    expect(new Set(cookies).size).toBe(2);
  });
});

describe('renderConfig: head and stats', () => {
  const { text } = renderConfig([], LOCAL);
  const sections = parseSections(text);

  it('runs master-worker with an admin socket, a server-state file and a bound hard stop', () => {
    expect(sections.get('global')).toEqual(
      expect.arrayContaining([
        'master-worker',
        'stats socket /run/capstan/lb/admin.sock mode 600 level admin expose-fd listeners',
        'server-state-file /run/capstan/lb/server-state',
        'hard-stop-after 30s',
      ]),
    );
    expect(sections.get('defaults')).toEqual(expect.arrayContaining(['load-server-state-from-file global', 'option redispatch', 'retries 3']));
  });

  it('binds stats only to its address, behind credentials, /metrics included', () => {
    expect(sections.get('frontend capstan_stats')).toEqual([
      'bind 127.0.0.1:18081',
      'mode http',
      'http-request auth realm capstan unless { http_auth(capstan_stats) }',
      'http-request use-service prometheus-exporter if { path /metrics }',
      'stats enable',
      'stats uri /haproxy?stats',
      'stats refresh 10s',
      "stats auth 'admin:s3cret pass'\\''word'",
    ]);
    expect(sections.get('userlist capstan_stats')).toEqual(["user admin insecure-password 's3cret pass'\\''word'"]);
  });

  it('leaves /metrics out for a build without the exporter', () => {
    const without = parseSections(renderConfig([], { ...LOCAL, stats: { ...LOCAL.stats, prometheus: false } }).text);
    expect(without.get('frontend capstan_stats')!.some((l) => l.includes('prometheus'))).toBe(false);
  });

  it.each([
    { output: 'Built with the Prometheus exporter as a service\nAvailable services : prometheus-exporter\n', expected: true },
    { output: 'Available services : none\n', expected: false },
    { output: 'Built with the Prometheus exporter as a service\n', expected: false },
  ])('hasPrometheusExporter($output)', ({ output, expected }) => {
    expect(hasPrometheusExporter(output)).toBe(expected);
  });
});

describe('renderConfig: determinism and sections', () => {
  const apps = [
    app('web', { ports: [{ servicePort: 10000 }], healthChecks: [httpCheck] }, { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'shop.example.com', HAPROXY_0_REDIRECT_TO_HTTPS: 'true' }),
    app('api', { ports: [{ servicePort: 10001 }] }, { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'shop.example.com', HAPROXY_0_PATH: '/api' }),
    app('pg', { ports: [{ servicePort: 10002 }] }, { HAPROXY_GROUP: 'external', HAPROXY_0_STICKY: 'true' }, 'data'),
  ];
  const services = servicesFor(apps, { 10000: [['127.0.0.1', 31000], null], 10001: [['127.0.0.1', 31001]], 10002: [['127.0.0.1', 31002]] });
  const options = { ...LOCAL, https: { port: 18443, certificate: '/etc/capstan/lb.pem' } };

  it('gives the same bytes for the same services in any order', () => {
    expect(renderConfig([...services].reverse(), options).text).toBe(renderConfig(services, options).text);
  });

  it('lists sections sorted by namespace, App and port', () => {
    expect(renderConfig(services, options).sections.map((s) => s.key)).toEqual(['data/pg:10002', 'default/api:10001', 'default/web:10000']);
  });

  it.each(services.map((s) => ({ key: serviceKey(s) })))('removing the lines of $key gives the configuration without it', ({ key }) => {
    const { text, sections } = renderConfig(services, options);
    const ranges = sections.find((s) => s.key === key)!.lines;
    const kept = text.split('\n').filter((_, i) => !ranges.some(([first, last]) => i + 1 >= first && i + 1 <= last));
    expect(kept.join('\n')).toBe(renderConfig(services.filter((s) => serviceKey(s) !== key), options).text);
  });
});

// ---------------------------------------------------------------------------------------------
// The real HAProxy judges the text.

describe('renderConfig: haproxy -c', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  async function check(services: LbService[]): Promise<{ code: number; output: string; sections: ReturnType<typeof renderConfig>['sections'] }> {
    dir = await mkdtemp(join(tmpdir(), 'capstan-lb-render-'));
    const options: LbRenderOptions = { ...LOCAL, adminSocket: join(dir, 'admin.sock'), serverStateFile: join(dir, 'server-state') };
    const { text, sections } = renderConfig(services, options);
    const file = join(dir, 'haproxy.cfg');
    await writeFile(file, text);
    try {
      const { stdout, stderr } = await promisify(execFile)(HAPROXY, ['-c', '-f', file]);
      return { code: 0, output: stdout + stderr, sections };
    } catch (error) {
      const failed = error as { code: number; stdout: string; stderr: string };
      return { code: failed.code, output: failed.stdout + failed.stderr, sections };
    }
  }

  const apps = [
    app(
      'web',
      { ports: [{ servicePort: 10000 }], healthChecks: [{ ...httpCheck, path: '/health' }] },
      { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'shop.example.com,www.shop.example.com', HAPROXY_0_PATH: '/api', HAPROXY_0_STICKY: 'true' },
    ),
    app('catchall', { ports: [{ servicePort: 10001 }] }, { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'shop.example.com', HAPROXY_0_REDIRECT_TO_HTTPS: 'true' }),
    app('pg', { ports: [{ servicePort: 10002 }], healthChecks: [tcpCheck] }, { HAPROXY_GROUP: 'external', HAPROXY_0_STICKY: 'true', HAPROXY_0_BALANCE: 'leastconn' }, 'data'),
    app('secure', { ports: [{ servicePort: 10003 }], healthChecks: [{ ...httpCheck, protocol: 'HTTPS' }] }, { HAPROXY_GROUP: 'external' }),
  ];
  const slots: Record<number, Slot[]> = {
    10000: [['127.0.0.1', 31000], null, null],
    10001: [['127.0.0.1', 31001]],
    10002: [['127.0.0.1', 31002], null],
    10003: [null],
  };

  it('accepts a configuration with vhosts, paths, stickiness, tcp and empty slots', async () => {
    const { code, output } = await check(servicesFor(apps, slots));
    expect(output).toContain('Configuration file is valid');
    expect(code).toBe(0);
  });

  it("blames an error's line on the service that wrote it", async () => {
    const services = servicesFor(apps, slots).map((s) =>
      s.app === 'catchall' ? { ...s, servers: [{ name: 'slot0', address: 'not an address', port: 31001, disabled: false }] } : s,
    );
    const { code, output, sections } = await check(services);
    expect(code).not.toBe(0);
    const lines = [...output.matchAll(/haproxy\.cfg:(\d+)\]/g)].map((m) => Number(m[1]));
    expect(lines.length).toBeGreaterThan(0);
    const blamed = new Set(lines.map((line) => sections.find((s) => s.lines.some(([first, last]) => line >= first && line <= last))?.key));
    expect([...blamed]).toEqual(['default/catchall:10001']);
    expect((await check(services.filter((s) => s.app !== 'catchall'))).code).toBe(0);
  });
});
