import { describe, expect, it } from 'vitest';
import { appKind } from '../kinds/app.ts';
import type { AnyObject } from '../object.ts';
import { MARATHON_DEPENDENCIES_ANNOTATION, MARATHON_HEALTH_PROTOCOLS_ANNOTATION, MARATHON_ID_ANNOTATION } from './annotations.ts';
import { appFromMarathon, appToMarathon, marathonLabels } from './app.ts';

const BASE = { id: '/web', cmd: 'sleep 1000' };

/** The App a Marathon definition becomes, with no problem. */
function fromMarathon(json: unknown, options?: Parameters<typeof appFromMarathon>[1]): AnyObject {
  const result = appFromMarathon(json, options);
  expect(result.problems).toEqual([]);
  return result.app!;
}

/** What the store would hold: the spec with the App kind's defaults, and the envelope's fields. */
function stored(app: AnyObject, status?: unknown): AnyObject {
  return {
    ...app,
    metadata: { ...app.metadata, uid: 'uid-web', creationTimestamp: '2026-11-30T10:00:00.000Z', generation: 1 },
    spec: appKind.spec.parse(app.spec),
    ...(status ? { status } : {}),
  };
}

function capstanApp(spec: unknown, metadata: Record<string, unknown> = { name: 'web', namespace: 'default' }): AnyObject {
  return stored({ apiVersion: 'capstan/v1', kind: 'App', metadata: metadata as unknown as AnyObject['metadata'], spec });
}

describe('appFromMarathon: each field group', () => {
  it.each<[string, Record<string, unknown>, Record<string, unknown>]>([
    ['id → namespace and name, kept in an annotation', { id: '/tools/docker/registry' }, { metadata: { namespace: 'tools', name: 'docker-registry', annotations: { [MARATHON_ID_ANNOTATION]: '/tools/docker/registry' } } }],
    ['a one-segment id → default', { id: '/web' }, { metadata: { namespace: 'default', name: 'web' } }],
    ['cmd → the container\'s cmd, no container → a process', { cmd: 'python -m http.server $PORT0' }, { spec: { driver: 'process', containers: [{ cmd: 'python -m http.server $PORT0' }] } }],
    ['args', { cmd: undefined, args: ['sleep', '10'] }, { spec: { containers: [{ args: ['sleep', '10'] }] } }],
    ['DOCKER → docker with the image', { container: { type: 'DOCKER', docker: { image: 'local/nginx:1', network: 'HOST' } } }, { spec: { driver: 'docker', containers: [{ image: 'local/nginx:1' }] } }],
    ['MESOS → process', { container: { type: 'MESOS' } }, { spec: { driver: 'process' } }],
    ['resources', { cpus: 0.25, mem: 64, disk: 10, gpus: 1 }, { spec: { containers: [{ resources: { cpus: 0.25, mem: 64, disk: 10, gpus: 1 } }] } }],
    ['instances', { instances: 3 }, { spec: { instances: 3 } }],
    ['env', { env: { A: '1', B: 'two' } }, { spec: { containers: [{ env: { A: '1', B: 'two' } }] } }],
    ['labels, HAPROXY_* included', { labels: { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'a.test,b.test', owner: 'zeus' } }, { metadata: { labels: { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'a.test,b.test', owner: 'zeus' } } }],
    ['constraints', { constraints: [['hostname', 'UNIQUE'], ['rack', 'GROUP_BY', '3']] }, { spec: { constraints: [['hostname', 'UNIQUE'], ['rack', 'GROUP_BY', '3']] } }],
    ['no ports on the host network: Marathon\'s one default port', {}, { spec: { ports: [{ name: 'default', hostPort: 0 }] } }],
    ['portDefinitions: port is the service port', { portDefinitions: [{ port: 10004, protocol: 'udp', name: 'dns', labels: { VIP_0: '1.1.1.1:53' } }, { port: 0 }] }, { spec: { ports: [{ name: 'dns', hostPort: 0, servicePort: 10004, protocol: 'udp', labels: { VIP_0: '1.1.1.1:53' } }, { hostPort: 0 }] } }],
    ['requirePorts: port is the host port as well', { requirePorts: true, portDefinitions: [{ port: 8080, name: 'http' }] }, { spec: { ports: [{ name: 'http', hostPort: 8080, servicePort: 8080 }] } }],
    ['legacy ports', { ports: [0, 10001] }, { spec: { ports: [{ hostPort: 0 }, { hostPort: 0, servicePort: 10001 }] } }],
    ['explicitly no ports', { portDefinitions: [] }, { spec: { ports: [] } }],
    [
      'BRIDGE with containerPort 0: the task listens on its host port, as on the host network',
      { container: { type: 'DOCKER', docker: { image: 'img', network: 'BRIDGE', portMappings: [{ containerPort: 0, hostPort: 0, servicePort: 10010, name: 'http' }] } } },
      { spec: { ports: [{ name: 'http', hostPort: 0, servicePort: 10010 }] } },
    ],
    [
      'container/bridge with containerPort = fixed hostPort (1.5+ form)',
      { networks: [{ mode: 'container/bridge' }], container: { type: 'DOCKER', docker: { image: 'img' }, portMappings: [{ containerPort: 8080, hostPort: 8080 }] } },
      { spec: { ports: [{ hostPort: 8080 }] } },
    ],
    [
      'HTTP health check, every field',
      { healthChecks: [{ protocol: 'HTTP', path: '/health', portIndex: 0, gracePeriodSeconds: 5, intervalSeconds: 2, timeoutSeconds: 1, maxConsecutiveFailures: 4, ignoreHttp1xx: true, delaySeconds: 3 }] },
      { spec: { healthChecks: [{ protocol: 'HTTP', path: '/health', portIndex: 0, gracePeriodSeconds: 5, intervalSeconds: 2, timeoutSeconds: 1, maxConsecutiveFailures: 4, ignoreHttp1xx: true, delaySeconds: 3 }] } },
    ],
    ['HTTP health check with Marathon\'s defaults', { healthChecks: [{ path: '/' }] }, { spec: { healthChecks: [{ protocol: 'HTTP', path: '/', portIndex: 0, gracePeriodSeconds: 300, intervalSeconds: 60, timeoutSeconds: 20, maxConsecutiveFailures: 3 }] } }],
    ['HTTPS and TCP checks', { portDefinitions: [{ port: 0 }, { port: 0 }], healthChecks: [{ protocol: 'HTTPS', portIndex: 1 }, { protocol: 'TCP', portIndex: 0 }] }, { spec: { healthChecks: [{ protocol: 'HTTPS', portIndex: 1 }, { protocol: 'TCP', portIndex: 0 }] } }],
    ['COMMAND check', { healthChecks: [{ protocol: 'COMMAND', command: { value: 'curl -f http://$HOST:$PORT0/' } }] }, { spec: { healthChecks: [{ protocol: 'COMMAND', command: 'curl -f http://$HOST:$PORT0/' }] } }],
    [
      'MESOS_HTTP, MESOS_HTTPS and MESOS_TCP run as HTTP, HTTPS and TCP; the spelling is kept',
      { healthChecks: [{ protocol: 'MESOS_HTTP', path: '/' }, { protocol: 'MESOS_HTTPS' }, { protocol: 'MESOS_TCP' }] },
      { metadata: { annotations: { [MARATHON_HEALTH_PROTOCOLS_ANNOTATION]: '["MESOS_HTTP","MESOS_HTTPS","MESOS_TCP"]' } }, spec: { healthChecks: [{ protocol: 'HTTP' }, { protocol: 'HTTPS' }, { protocol: 'TCP' }] } },
    ],
    ['a check on a fixed port by number → its index', { requirePorts: true, portDefinitions: [{ port: 8080 }, { port: 8081 }], healthChecks: [{ protocol: 'TCP', port: 8081 }] }, { spec: { healthChecks: [{ protocol: 'TCP', portIndex: 1 }] } }],
    [
      'readiness checks',
      { portDefinitions: [{ port: 0, name: 'api' }], readinessChecks: [{ name: 'ready', protocol: 'HTTP', path: '/ready', portName: 'api', intervalSeconds: 2, timeoutSeconds: 1, httpStatusCodesForReady: [200, 204], preserveLastResponse: true }] },
      { spec: { readinessChecks: [{ name: 'ready', protocol: 'HTTP', path: '/ready', portName: 'api', intervalSeconds: 2, timeoutSeconds: 1, httpStatusCodesForReady: [200, 204], preserveLastResponse: true }] } },
    ],
    ['upgradeStrategy', { upgradeStrategy: { minimumHealthCapacity: 0.5, maximumOverCapacity: 0.2 } }, { spec: { upgradeStrategy: { minimumHealthCapacity: 0.5, maximumOverCapacity: 0.2 } } }],
    [
      'dependencies, absolute and relative to the group',
      { id: 'web', dependencies: ['db', '../tools/docker/registry', '/cache'] },
      { metadata: { namespace: 'shop', name: 'web', annotations: { [MARATHON_DEPENDENCIES_ANNOTATION]: '["/shop/db","/tools/docker/registry","/cache"]' } }, spec: { dependencies: ['shop/db', 'tools/docker-registry', 'default/cache'] } },
    ],
    ['backoff', { backoffSeconds: 2, backoffFactor: 2, maxLaunchDelaySeconds: 3600 }, { spec: { backoffSeconds: 2, backoffFactor: 2, maxLaunchDelaySeconds: 3600 } }],
    ['killSelection', { killSelection: 'OLDEST_FIRST' }, { spec: { killSelection: 'OLDEST_FIRST' } }],
    ['unreachableStrategy', { unreachableStrategy: { inactiveAfterSeconds: 60, expungeAfterSeconds: 120 } }, { spec: { unreachableStrategy: { inactiveAfterSeconds: 60, expungeAfterSeconds: 120 } } }],
    ['taskKillGracePeriodSeconds', { taskKillGracePeriodSeconds: 30 }, { spec: { taskKillGracePeriodSeconds: 30 } }],
    [
      'host path volumes, read-write and read-only',
      { container: { type: 'DOCKER', docker: { image: 'img' }, volumes: [{ containerPath: '/var/run/docker.sock', hostPath: '/var/run/docker.sock', mode: 'RW' }, { containerPath: '/host/proc', hostPath: '/proc', mode: 'RO' }] } },
      {
        spec: {
          volumes: [{ name: 'var-run-docker-sock', hostPath: { path: '/var/run/docker.sock' } }, { name: 'host-proc', hostPath: { path: '/proc' } }],
          containers: [{ volumeMounts: [{ name: 'var-run-docker-sock', mountPath: '/var/run/docker.sock', readOnly: false }, { name: 'host-proc', mountPath: '/host/proc', readOnly: true }] }],
        },
      },
    ],
    [
      'a local persistent volume',
      { container: { type: 'MESOS', volumes: [{ containerPath: 'data', mode: 'RW', persistent: { size: 10, type: 'root', constraints: [] } }] } },
      { spec: { volumes: [{ name: 'data', persistent: { size: 10 } }], containers: [{ volumeMounts: [{ name: 'data', mountPath: 'data' }] }] } },
    ],
    [
      'Marathon\'s defaults for what Capstan does not honour are accepted',
      { acceptedResourceRoles: ['*'], executor: '', ipAddress: null, secrets: {}, fetch: [], uris: [], storeUrls: [], tty: false, role: '*', container: { type: 'DOCKER', docker: { image: 'img', privileged: false, parameters: [], forcePullImage: false } } },
      { spec: { driver: 'docker' } },
    ],
    [
      'the read-only fields of a GET are ignored',
      { version: '2017-07-19T17:34:41.967Z', versionInfo: {}, tasksRunning: 1, tasksStaged: 0, tasksHealthy: 1, tasksUnhealthy: 0, deployments: [], tasks: [{ id: 'x' }], lastTaskFailure: {} },
      { spec: { instances: 1 } },
    ],
  ])('%s', (_, fields, expected) => {
    const app = fromMarathon({ ...BASE, ...fields }, { groupId: '/shop' });
    expect(stored(app)).toMatchObject(expected);
  });
});

describe('appFromMarathon: what Capstan cannot honour is a problem at its path', () => {
  it.each<[string, Record<string, unknown>, (string | number)[], string]>([
    ['fetch', { fetch: [{ uri: 'https://x/y.tgz' }] }, ['fetch'], 'does not download artifacts'],
    ['uris', { uris: ['https://x/y.tgz'] }, ['uris'], 'does not download artifacts'],
    ['a secret in env', { env: { PASSWORD: { secret: 'pw' } } }, ['env', 'PASSWORD'], 'no secret store'],
    ['secrets', { secrets: { pw: { source: '/db/password' } } }, ['secrets'], 'no secret store'],
    ['acceptedResourceRoles', { acceptedResourceRoles: ['slave_public'] }, ['acceptedResourceRoles'], 'no Mesos roles'],
    ['ipAddress', { ipAddress: { networkName: 'dcos' } }, ['ipAddress'], 'IP address of its own'],
    ['user', { user: 'nobody' }, ['user'], 'image\'s user'],
    ['executor', { executor: '//cmd' }, ['executor'], 'only executor'],
    ['residency', { residency: { taskLostBehavior: 'WAIT_FOREVER' } }, ['residency'], 'resident by itself'],
    ['storeUrls', { storeUrls: ['http://x'] }, ['storeUrls'], 'download'],
    ['tty', { tty: true }, ['tty'], 'terminal'],
    ['a USER network', { container: { type: 'DOCKER', docker: { image: 'img', network: 'USER' } } }, ['container', 'docker', 'network'], 'no IP address per task'],
    ['a container network', { networks: [{ mode: 'container', name: 'dcos' }] }, ['networks', 0, 'mode'], 'no IP address per task'],
    [
      'a bridge mapping to another container port',
      { container: { type: 'DOCKER', docker: { image: 'img', network: 'BRIDGE', portMappings: [{ containerPort: 80, hostPort: 0 }] } } },
      ['container', 'docker', 'portMappings', 0, 'containerPort'],
      'containerPort 0 (the task then listens on $PORT0',
    ],
    ['portMappings on the host network', { container: { type: 'DOCKER', docker: { image: 'img' }, portMappings: [{ containerPort: 0 }] } }, ['container', 'portMappings'], 'declare the ports as portDefinitions'],
    ['a port for udp and tcp', { portDefinitions: [{ port: 0, protocol: 'udp,tcp' }] }, ['portDefinitions', 0, 'protocol'], 'one protocol'],
    ['privileged', { container: { type: 'DOCKER', docker: { image: 'img', privileged: true } } }, ['container', 'docker', 'privileged'], 'privileged'],
    ['docker parameters', { container: { type: 'DOCKER', docker: { image: 'img', parameters: [{ key: 'cap-add', value: 'ALL' }] } } }, ['container', 'docker', 'parameters'], 'run parameters'],
    ['forcePullImage', { container: { type: 'DOCKER', docker: { image: 'img', forcePullImage: true } } }, ['container', 'docker', 'forcePullImage'], 'never pulls'],
    ['an image in a MESOS container', { container: { type: 'MESOS', docker: { image: 'img' } } }, ['container', 'docker', 'image'], 'Docker only'],
    ['a DOCKER container without an image', { container: { type: 'DOCKER' } }, ['container', 'docker', 'image'], 'an image'],
    ['an unknown container type', { container: { type: 'APPC' } }, ['container', 'type'], 'DOCKER or MESOS'],
    ['an external volume', { container: { type: 'MESOS', volumes: [{ containerPath: 'data', external: { name: 'x', provider: 'dvdi' } }] } }, ['container', 'volumes', 0, 'external'], 'external volume'],
    ['a persistent volume on a mount disk', { container: { type: 'MESOS', volumes: [{ containerPath: 'data', persistent: { size: 10, type: 'mount' } }] } }, ['container', 'volumes', 0, 'persistent', 'type'], 'root'],
    ['unreachableStrategy disabled', { unreachableStrategy: 'disabled' }, ['unreachableStrategy'], 'always replaces'],
    ['MESOS_HTTP with maxConsecutiveFailures 0', { healthChecks: [{ protocol: 'MESOS_HTTP', maxConsecutiveFailures: 0 }] }, ['healthChecks', 0, 'maxConsecutiveFailures'], 'at least 1'],
    ['an unknown health check protocol', { healthChecks: [{ protocol: 'GRPC' }] }, ['healthChecks', 0, 'protocol'], 'one of HTTP'],
    ['a check on a port that is not fixed', { healthChecks: [{ protocol: 'TCP', port: 8080 }] }, ['healthChecks', 0, 'port'], 'portIndex instead'],
    ['a misspelt field, with the right one suggested', { intances: 2 }, ['intances'], 'a field of a Marathon app'],
    ['an id that does not fit a name', { id: '/shop/Web' }, ['id'], 'an app id'],
    ['no id', { id: undefined }, ['id'], 'an app id'],
  ])('%s', (_, fields, path, expected) => {
    const { problems } = appFromMarathon({ ...BASE, ...fields });
    expect(problems).toContainEqual({ path, expected: expect.stringContaining(expected), found: expect.any(String) });
  });

  it('suggests the field meant', () => {
    expect(appFromMarathon({ ...BASE, intances: 2 }).problems[0]!.found).toBe('"intances" (did you mean "instances"?)');
  });

  it('names the document path of an app inside a group', () => {
    const { problems } = appFromMarathon({ ...BASE, fetch: [{ uri: 'x' }] }, { path: ['groups', 1, 'apps', 0] });
    expect(problems.map((p) => p.path)).toEqual([['groups', 1, 'apps', 0, 'fetch']]);
  });
});

describe('appFromMarathon: the App kind\'s rules, shown at the Marathon field', () => {
  it.each<[string, Record<string, unknown>, (string | number)[], string]>([
    ['cmd and args together', { args: ['sleep', '1'] }, ['cmd'], 'exactly one of cmd or args'],
    ['a process with neither', { cmd: undefined }, ['cmd'], 'exactly one of cmd or args'],
    ['negative cpus', { cpus: -1 }, ['cpus'], ''],
    ['a health check on a port that does not exist', { healthChecks: [{ protocol: 'HTTP', portIndex: 3 }] }, ['healthChecks', 0, 'portIndex'], 'a port index from 0 to 0'],
    ['a readiness timeout not below its interval', { portDefinitions: [{ port: 0, name: 'api' }], readinessChecks: [{ portName: 'api', intervalSeconds: 2, timeoutSeconds: 2 }] }, ['readinessChecks', 0, 'timeoutSeconds'], 'below intervalSeconds'],
    ['an unknown killSelection', { killSelection: 'RANDOM' }, ['killSelection'], ''],
    ['a constraint operator', { constraints: [['hostname', 'UNIQ']] }, ['constraints'], ''],
    ['a relative mount path in a Docker container', { container: { type: 'DOCKER', docker: { image: 'img' }, volumes: [{ containerPath: 'data', hostPath: '/srv' }] } }, ['container', 'volumes', 0, 'containerPath'], 'absolute path'],
  ])('%s', (_, fields, path, expected) => {
    const { problems } = appFromMarathon({ ...BASE, ...fields });
    expect(problems).toContainEqual({ path, expected: expect.stringContaining(expected), found: expect.any(String) });
  });
});

describe('appToMarathon: each field group as Marathon\'s GET shows it', () => {
  it.each<[string, unknown, Record<string, unknown>]>([
    ['a process App: no container, cmd', { containers: [{ cmd: 'sleep 1' }], driver: 'process' }, { id: '/web', cmd: 'sleep 1', cpus: 1, mem: 128, disk: 0, gpus: 0, instances: 1, env: {}, executor: '' }],
    [
      'a Docker App',
      { containers: [{ image: 'local/nginx:1', args: ['-g', 'daemon off;'] }] },
      { args: ['-g', 'daemon off;'], container: { type: 'DOCKER', docker: { image: 'local/nginx:1', forcePullImage: false, privileged: false, parameters: [] }, volumes: [] }, networks: [{ mode: 'host' }] },
    ],
    ['ports with any host port: requirePorts false, port = service port', { containers: [{ cmd: 'x' }], ports: [{ name: 'http', servicePort: 10004 }, { protocol: 'udp' }] }, { requirePorts: false, portDefinitions: [{ port: 10004, protocol: 'tcp', name: 'http', labels: {} }, { port: 0, protocol: 'udp', labels: {} }] }],
    ['fixed host ports: requirePorts true', { containers: [{ cmd: 'x' }], ports: [{ hostPort: 8080 }] }, { requirePorts: true, portDefinitions: [{ port: 8080, protocol: 'tcp', labels: {} }] }],
    [
      'health checks, by index also when the App names the port',
      { containers: [{ cmd: 'x' }], ports: [{ name: 'a' }, { name: 'b' }], healthChecks: [{ protocol: 'HTTP', portName: 'b', path: '/h' }, { protocol: 'TCP' }, { protocol: 'COMMAND', command: 'true' }] },
      {
        healthChecks: [
          { protocol: 'HTTP', path: '/h', portIndex: 1, ipProtocol: 'IPv4', ignoreHttp1xx: false, gracePeriodSeconds: 300, intervalSeconds: 60, timeoutSeconds: 20, maxConsecutiveFailures: 3, delaySeconds: 15 },
          { protocol: 'TCP', portIndex: 0, ipProtocol: 'IPv4', gracePeriodSeconds: 300, intervalSeconds: 60, timeoutSeconds: 20, maxConsecutiveFailures: 3, delaySeconds: 15 },
          { protocol: 'COMMAND', command: { value: 'true' }, gracePeriodSeconds: 300 },
        ],
      },
    ],
    [
      'readiness checks with their defaults',
      { containers: [{ cmd: 'x' }], ports: [{ name: 'api' }], readinessChecks: [{ portName: 'api' }] },
      { readinessChecks: [{ name: 'readinessCheck', protocol: 'HTTP', path: '/', portName: 'api', intervalSeconds: 30, timeoutSeconds: 10, httpStatusCodesForReady: [200], preserveLastResponse: false }] },
    ],
    ['a resident App\'s upgrade defaults', { containers: [{ cmd: 'x', volumeMounts: [{ name: 'data', mountPath: 'data' }] }], volumes: [{ name: 'data', persistent: { size: 5 } }] }, { upgradeStrategy: { minimumHealthCapacity: 0.5, maximumOverCapacity: 0 }, container: { type: 'MESOS', volumes: [{ containerPath: 'data', mode: 'RW', persistent: { type: 'root', size: 5, constraints: [] } }] } }],
    ['dependencies by the rule when none was written', { containers: [{ cmd: 'x' }], dependencies: ['db', 'other/cache'] }, { dependencies: ['/db', '/other/cache'] }],
    ['scheduling fields', { containers: [{ cmd: 'x' }], instances: 3, constraints: [['hostname', 'unique']], killSelection: 'OLDEST_FIRST', backoffSeconds: 5 }, { instances: 3, constraints: [['hostname', 'UNIQUE']], killSelection: 'OLDEST_FIRST', backoffSeconds: 5, backoffFactor: 1.15, maxLaunchDelaySeconds: 300, unreachableStrategy: { inactiveAfterSeconds: 5, expungeAfterSeconds: 30 }, taskKillGracePeriodSeconds: 10 }],
  ])('%s', (_, spec, expected) => {
    expect(appToMarathon(capstanApp(spec))).toMatchObject(expected);
  });

  it('names an App of another namespace by the rule, and labels come from metadata', () => {
    const app = capstanApp({ containers: [{ cmd: 'x' }] }, { name: 'web', namespace: 'prod', labels: { HAPROXY_GROUP: 'external' } });
    expect(appToMarathon(app)).toMatchObject({ id: '/prod/web', labels: { HAPROXY_GROUP: 'external' } });
  });

  it('shows counts, deployments, tasks and the last failure from the status', () => {
    const status = {
      staged: 1,
      running: 2,
      healthy: 1,
      unhealthy: 1,
      currentRevision: 2,
      rollout: { phase: 'Progressing', revision: 2, startedAt: '2026-11-30T11:00:00.000Z', lastProgressAt: '2026-11-30T11:00:00.000Z' },
      lastTaskFailure: { task: 'web-1-abcde', revision: 1, node: 'n1', phase: 'Failed', exitCode: 1, message: 'exited with code 1', timestamp: '2026-11-30T10:30:00.000Z' },
    };
    const app = stored(fromMarathon(BASE), status);
    const task = { apiVersion: 'capstan/v1', kind: 'Task', metadata: { name: 'web-2-x', namespace: 'default', uid: 't1', creationTimestamp: '2026-11-30T11:00:01.000Z' }, spec: { app: 'web', revision: 2, template: {}, nodeName: 'n1', hostPorts: [31001] }, status: { phase: 'Running', startedAt: '2026-11-30T11:00:02.000Z' } };
    const node = { apiVersion: 'capstan/v1', kind: 'Node', metadata: { name: 'n1' }, spec: { address: '10.0.0.7' } };
    const json = appToMarathon(app, { tasks: [task], nodes: (name) => (name === 'n1' ? node : undefined), deployments: [{ id: 'd-1' }] });
    expect(json).toMatchObject({
      tasksStaged: 1,
      tasksRunning: 2,
      tasksHealthy: 1,
      tasksUnhealthy: 1,
      deployments: [{ id: 'd-1' }],
      version: '2026-11-30T11:00:00.000Z',
      versionInfo: { lastConfigChangeAt: '2026-11-30T11:00:00.000Z' },
      tasks: [{ id: 'web.t1', appId: '/web', host: '10.0.0.7', ports: [31001], state: 'TASK_RUNNING', version: '2026-11-30T11:00:00.000Z' }],
      lastTaskFailure: { appId: '/web', host: '10.0.0.7', state: 'TASK_FAILED', message: 'exited with code 1', timestamp: '2026-11-30T10:30:00.000Z' },
    });
  });

  it('a version the caller knows (the current Revision\'s creation) is the app\'s and its current tasks\'', () => {
    const app = stored(fromMarathon(BASE), { currentRevision: 2, rollout: { phase: 'Complete', revision: 2, startedAt: '2026-11-30T11:00:00.100Z', lastProgressAt: 'x' } });
    const task = (revision: number) => ({ apiVersion: 'capstan/v1', kind: 'Task', metadata: { name: `t${revision}`, uid: `u${revision}`, creationTimestamp: `2026-11-30T0${revision}:00:00.000Z` }, spec: { app: 'web', revision, template: {} } });
    const json = appToMarathon(app, { tasks: [task(1), task(2)], version: '2026-11-30T11:00:00.000Z' });
    expect(json).toMatchObject({ version: '2026-11-30T11:00:00.000Z', tasks: [{ version: '2026-11-30T01:00:00.000Z' }, { version: '2026-11-30T11:00:00.000Z' }] });
  });

  it('embeds readinessCheckResults when asked (apps.readiness): one per check of each running task, ready as its Ready condition', () => {
    const app = stored(fromMarathon(BASE));
    const task = (uid: string, ready: string, phase = 'Running') => ({
      apiVersion: 'capstan/v1',
      kind: 'Task',
      metadata: { name: uid, uid },
      spec: { app: 'web', revision: 1, template: { readinessChecks: [{ name: 'ready' }] } },
      status: { phase, conditions: [{ type: 'Ready', status: ready }] },
    });
    const tasks = [task('u1', 'True'), task('u2', 'False'), task('u3', 'False', 'Staging')];
    expect(appToMarathon(app, { tasks, embed: new Set(['apps.readiness']) }).readinessCheckResults).toEqual([
      { name: 'ready', taskId: 'web.u1', ready: true },
      { name: 'ready', taskId: 'web.u2', ready: false },
    ]);
    expect(appToMarathon(app, { tasks, embed: new Set(['apps.tasks']) })).not.toHaveProperty('readinessCheckResults');
  });

  it('embeds tasks and the last failure only when asked, once embed is given', () => {
    const app = stored(fromMarathon(BASE), { lastTaskFailure: { task: 't', revision: 1, phase: 'Finished', message: 'm', timestamp: 'ts' } });
    const json = appToMarathon(app, { tasks: [], embed: new Set(['apps.counts']) });
    expect(json).not.toHaveProperty('tasks');
    expect(json).not.toHaveProperty('lastTaskFailure');
    expect(appToMarathon(app, { tasks: [], embed: new Set(['apps.tasks', 'apps.lastTaskFailure']) })).toMatchObject({ tasks: [], lastTaskFailure: { state: 'TASK_FINISHED' } });
  });
});

describe('Marathon → App → Marathon gives the definition back, with Marathon\'s defaults', () => {
  it.each<[string, Record<string, unknown>]>([
    ['a command app', { id: '/shop/web', cmd: 'python -m http.server $PORT0', cpus: 0.5, mem: 64, instances: 2, env: { A: 'b' }, labels: { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'shop.test' } }],
    ['a nested id', { id: '/tools/docker/registry', cmd: 'x', dependencies: ['/tools/docker/cache', '/db'] }],
    [
      'a Docker app with checks',
      {
        id: '/web',
        container: { type: 'DOCKER', docker: { image: 'local/web:2', forcePullImage: false, privileged: false, parameters: [] }, volumes: [{ containerPath: '/srv', hostPath: '/var/srv', mode: 'RO' }] },
        portDefinitions: [{ port: 10004, protocol: 'tcp', name: 'http', labels: {} }],
        requirePorts: false,
        healthChecks: [{ protocol: 'MESOS_HTTP', path: '/health', portIndex: 0, gracePeriodSeconds: 5, intervalSeconds: 2, timeoutSeconds: 1, maxConsecutiveFailures: 3 }],
        readinessChecks: [{ name: 'r', protocol: 'HTTP', path: '/ready', portName: 'http', intervalSeconds: 2, timeoutSeconds: 1, httpStatusCodesForReady: [200], preserveLastResponse: false }],
        upgradeStrategy: { minimumHealthCapacity: 0.5, maximumOverCapacity: 0.5 },
        constraints: [['hostname', 'UNIQUE']],
        backoffSeconds: 2,
        backoffFactor: 1.5,
        maxLaunchDelaySeconds: 600,
        killSelection: 'OLDEST_FIRST',
        unreachableStrategy: { inactiveAfterSeconds: 10, expungeAfterSeconds: 60 },
        taskKillGracePeriodSeconds: 20,
      },
    ],
    ['fixed ports', { id: '/lb', cmd: 'x', requirePorts: true, portDefinitions: [{ port: 8080, protocol: 'tcp', labels: {} }], healthChecks: [{ protocol: 'TCP', portIndex: 0 }, { protocol: 'COMMAND', command: { value: 'true' } }] }],
  ])('%s', (_, json) => {
    expect(appToMarathon(stored(fromMarathon(json)))).toMatchObject(json);
  });

  it('a GET read back from Marathon is accepted as a PUT', () => {
    const first = appToMarathon(stored(fromMarathon({ id: '/web', cmd: 'x', healthChecks: [{ path: '/' }] })), { tasks: [] });
    expect(appToMarathon(stored(fromMarathon(first)))).toEqual(appToMarathon(stored(fromMarathon(first))));
    expect(appFromMarathon(first).problems).toEqual([]);
  });
});

describe('marathonLabels', () => {
  it("keeps the user's labels (HAPROXY_* included) and leaves out Capstan's own", () => {
    expect(marathonLabels({ HAPROXY_GROUP: 'external', tier: 'web', 'capstan.io/inventory': 'api' })).toEqual({ HAPROXY_GROUP: 'external', tier: 'web' });
    expect(marathonLabels(undefined)).toEqual({});
  });
});
