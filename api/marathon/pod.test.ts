import { describe, expect, it } from 'vitest';
import { appKind } from '../kinds/app.ts';
import type { AnyObject } from '../object.ts';
import { MARATHON_ENDPOINTS_ANNOTATION, MARATHON_ID_ANNOTATION, MARATHON_POD_ANNOTATION } from './annotations.ts';
import { isMarathonPod, podFromMarathon, podStatusToMarathon, podToMarathon } from './pod.ts';

const container = (name: string, extra: Record<string, unknown> = {}) => ({ name, exec: { command: { shell: `run-${name}` } }, resources: { cpus: 0.1, mem: 32 }, ...extra });
const BASE = { id: '/shop/pod', containers: [container('web')] };

function fromMarathon(json: unknown): AnyObject {
  const result = podFromMarathon(json);
  expect(result.problems).toEqual([]);
  const app = result.app!;
  return { ...app, metadata: { ...app.metadata, uid: 'p1', creationTimestamp: '2026-11-30T10:00:00.000Z' }, spec: appKind.spec.parse(app.spec) };
}

describe('podFromMarathon: each field group', () => {
  it.each<[string, Record<string, unknown>, Record<string, unknown>]>([
    ['id, kept, and marked a pod', {}, { metadata: { namespace: 'shop', name: 'pod', annotations: { [MARATHON_ID_ANNOTATION]: '/shop/pod', [MARATHON_POD_ANNOTATION]: 'true' } } }],
    ['labels', { labels: { HAPROXY_GROUP: 'external' } }, { metadata: { labels: { HAPROXY_GROUP: 'external' } } }],
    ['a container with an image runs it, one without runs its command as a process', { containers: [container('web', { image: { kind: 'DOCKER', id: 'local/web:1' } }), container('side')] }, { spec: { containers: [{ name: 'web', image: 'local/web:1', cmd: 'run-web' }, { name: 'side', cmd: 'run-side' }] } }],
    ['exec argv → args', { containers: [container('web', { image: { id: 'img' }, exec: { command: { argv: ['-p', '80'] } } })] }, { spec: { containers: [{ args: ['-p', '80'] }] } }],
    ['resources', { containers: [container('web', { resources: { cpus: 0.5, mem: 64, disk: 5, gpus: 0 } })] }, { spec: { containers: [{ resources: { cpus: 0.5, mem: 64, disk: 5, gpus: 0 } }] } }],
    ['the pod\'s environment in every container, a container\'s own winning', { environment: { A: 'pod', B: 'pod' }, containers: [container('web', { environment: { B: 'web' } }), container('side')] }, { spec: { containers: [{ env: { A: 'pod', B: 'web' } }, { env: { A: 'pod', B: 'pod' } }] } }],
    [
      'endpoints → the App\'s ports, whichever container declares them',
      { containers: [container('web', { endpoints: [{ name: 'http', hostPort: 0, protocol: ['tcp'], labels: { VIP_0: 'x' } }] }), container('side', { endpoints: [{ name: 'metrics', hostPort: 9100 }] })] },
      { metadata: { annotations: { [MARATHON_ENDPOINTS_ANNOTATION]: '{"http":"web","metrics":"side"}' } }, spec: { ports: [{ name: 'http', hostPort: 0, protocol: 'tcp', labels: { VIP_0: 'x' } }, { name: 'metrics', hostPort: 9100 }] } },
    ],
    [
      'an http health check on an endpoint, in its container',
      { containers: [container('web', { endpoints: [{ name: 'http' }], healthCheck: { http: { endpoint: 'http', path: '/ping', scheme: 'HTTP' }, gracePeriodSeconds: 30, intervalSeconds: 5, maxConsecutiveFailures: 3, timeoutSeconds: 3, delaySeconds: 2 } })] },
      { spec: { healthChecks: [{ protocol: 'HTTP', portName: 'http', path: '/ping', container: 'web', gracePeriodSeconds: 30, intervalSeconds: 5, maxConsecutiveFailures: 3, timeoutSeconds: 3, delaySeconds: 2 }] } },
    ],
    ['tcp and exec health checks', { containers: [container('web', { endpoints: [{ name: 'db' }], healthCheck: { tcp: { endpoint: 'db' } } }), container('side', { healthCheck: { exec: { command: { shell: 'test -f ready' } } } })] }, { spec: { healthChecks: [{ protocol: 'TCP', portName: 'db', container: 'web' }, { protocol: 'COMMAND', command: 'test -f ready', container: 'side' }] } }],
    [
      'volumes: ephemeral, host and persistent, and their mounts',
      { volumes: [{ name: 'scratch' }, { name: 'etc', host: '/etc/shop' }, { name: 'data', persistent: { type: 'root', size: 10, constraints: [] } }], containers: [container('web', { volumeMounts: [{ name: 'scratch', mountPath: 'tmp' }, { name: 'etc', mountPath: 'etc', readOnly: true }, { name: 'data', mountPath: 'data' }] })] },
      { spec: { volumes: [{ name: 'scratch', ephemeral: {} }, { name: 'etc', hostPath: { path: '/etc/shop' } }, { name: 'data', persistent: { size: 10 } }], containers: [{ volumeMounts: [{ name: 'scratch', mountPath: 'tmp' }, { name: 'etc', mountPath: 'etc', readOnly: true }, { name: 'data', mountPath: 'data' }] }] } },
    ],
    ['scaling', { scaling: { kind: 'fixed', instances: 3, maxInstances: null } }, { spec: { instances: 3 } }],
    [
      'scheduling: backoff, upgrade, placement, killSelection, unreachableStrategy',
      {
        scheduling: {
          backoff: { backoff: 2, backoffFactor: 1.5, maxLaunchDelay: 600 },
          upgrade: { minimumHealthCapacity: 0.5, maximumOverCapacity: 0.5 },
          placement: { constraints: [{ fieldName: 'hostname', operator: 'UNIQUE' }, { fieldName: 'rack', operator: 'GROUP_BY', value: '2' }, ['zone', 'LIKE', 'eu-.*']], acceptedResourceRoles: ['*'] },
          killSelection: 'OLDEST_FIRST',
          unreachableStrategy: { inactiveAfterSeconds: 60, expungeAfterSeconds: 600 },
        },
      },
      { spec: { backoffSeconds: 2, backoffFactor: 1.5, maxLaunchDelaySeconds: 600, upgradeStrategy: { minimumHealthCapacity: 0.5, maximumOverCapacity: 0.5 }, constraints: [['hostname', 'UNIQUE'], ['rack', 'GROUP_BY', '2'], ['zone', 'LIKE', 'eu-.*']], killSelection: 'OLDEST_FIRST', unreachableStrategy: { inactiveAfterSeconds: 60, expungeAfterSeconds: 600 } } },
    ],
    ['lifecycle.killGracePeriodSeconds', { containers: [container('web', { lifecycle: { killGracePeriodSeconds: 60 } })] }, { spec: { taskKillGracePeriodSeconds: 60 } }],
    ['host networks', { networks: [{ mode: 'host' }] }, { spec: { ports: [] } }],
    ['Marathon\'s defaults are accepted', { secrets: {}, executorResources: { cpus: 0.1, mem: 32, disk: 10 }, version: '2017-01-01T00:00:00Z' }, { spec: { instances: 1 } }],
  ])('%s', (_, fields, expected) => {
    expect(fromMarathon({ ...BASE, ...fields })).toMatchObject(expected);
  });
});

describe('podFromMarathon: what Capstan cannot honour is a problem at its path', () => {
  it.each<[string, Record<string, unknown>, (string | number)[], string]>([
    ['artifacts', { containers: [container('web', { artifacts: [{ uri: 'https://x' }] })] }, ['containers', 0, 'artifacts'], 'download'],
    ['container labels', { containers: [container('web', { labels: { a: 'b' } })] }, ['containers', 0, 'labels'], 'pod\'s labels'],
    ['a user', { user: 'root' }, ['user'], 'user'],
    ['a secret', { secrets: { s: { source: 'x' } } }, ['secrets'], 'secret store'],
    ['a secret in the environment', { environment: { PW: { secret: 's' } } }, ['environment', 'PW'], 'secret store'],
    ['a container network', { networks: [{ mode: 'container', name: 'dcos' }] }, ['networks', 0, 'mode'], 'no IP address per task'],
    ['a containerPort on the host network', { containers: [container('web', { endpoints: [{ name: 'http', containerPort: 80 }] })] }, ['containers', 0, 'endpoints', 0, 'containerPort'], 'no containerPort'],
    ['an endpoint for udp and tcp', { containers: [container('web', { endpoints: [{ name: 'dns', protocol: ['udp', 'tcp'] }] })] }, ['containers', 0, 'endpoints', 0, 'protocol'], 'one protocol'],
    ['a non-Docker image', { containers: [container('web', { image: { kind: 'APPC', id: 'x' } })] }, ['containers', 0, 'image', 'kind'], 'DOCKER'],
    ['a process container with no command', { containers: [{ name: 'web' }] }, ['containers', 0, 'exec'], 'exec.command'],
    ['different kill grace periods', { containers: [container('a', { lifecycle: { killGracePeriodSeconds: 5 } }), container('b', { lifecycle: { killGracePeriodSeconds: 9 } })] }, ['containers', 1, 'lifecycle', 'killGracePeriodSeconds'], 'the same'],
    ['maxInstances', { scaling: { kind: 'fixed', instances: 1, maxInstances: 5 } }, ['scaling', 'maxInstances'], 'autoscale'],
    ['executor resources', { executorResources: { cpus: 1, mem: 64, disk: 10 } }, ['executorResources'], 'no executor'],
    ['a role', { scheduling: { placement: { acceptedResourceRoles: ['public'] } } }, ['scheduling', 'placement', 'acceptedResourceRoles'], 'Mesos roles'],
    ['unreachableStrategy disabled', { scheduling: { unreachableStrategy: 'disabled' } }, ['scheduling', 'unreachableStrategy'], 'always replaces'],
    ['a misspelt field', { containerz: [] }, ['containerz'], 'a field of a Marathon pod'],
    ['no containers', { containers: [] }, ['containers'], 'at least one container'],
    ['the App\'s rule: a duplicate container name', { containers: [container('web'), container('web')] }, ['containers', 1, 'name'], 'unique'],
    ['the App\'s rule: a check on an endpoint that does not exist', { containers: [container('web', { healthCheck: { tcp: { endpoint: 'nope' } } })] }, ['containers', 0, 'healthCheck', 'tcp', 'endpoint'], 'declared port'],
  ])('%s', (_, fields, path, expected) => {
    expect(podFromMarathon({ ...BASE, ...fields }).problems).toContainEqual({ path, expected: expect.stringContaining(expected), found: expect.any(String) });
  });
});

describe('podToMarathon', () => {
  it('gives a pod definition back with Marathon\'s defaults', () => {
    const json = {
      id: '/shop/pod',
      labels: { tier: 'front' },
      environment: { SHARED: '1' },
      containers: [
        { name: 'web', exec: { command: { shell: 'httpd -p $PORT_HTTP' } }, image: { kind: 'DOCKER', id: 'local/web:1' }, resources: { cpus: 0.2, mem: 64, disk: 0, gpus: 0 }, endpoints: [{ name: 'http', hostPort: 0, protocol: ['tcp'] }], environment: { ROLE: 'web' }, healthCheck: { http: { endpoint: 'http', path: '/', scheme: 'HTTP' }, intervalSeconds: 5, timeoutSeconds: 2 }, volumeMounts: [{ name: 'shared', mountPath: '/shared' }] },
        { name: 'sidecar', exec: { command: { shell: 'tail -f shared/log' } }, resources: { cpus: 0.1, mem: 32, disk: 0, gpus: 0 }, endpoints: [], environment: {}, volumeMounts: [{ name: 'shared', mountPath: 'shared', readOnly: true }] },
      ],
      volumes: [{ name: 'shared' }],
      networks: [{ mode: 'host' }],
      scaling: { kind: 'fixed', instances: 2, maxInstances: null },
      scheduling: { backoff: { backoff: 1, backoffFactor: 1.15, maxLaunchDelay: 300 }, upgrade: { minimumHealthCapacity: 1, maximumOverCapacity: 1 }, placement: { constraints: [{ fieldName: 'hostname', operator: 'UNIQUE' }] }, killSelection: 'YOUNGEST_FIRST' },
    };
    const back = podToMarathon(fromMarathon(json));
    expect(back).toMatchObject(json);
    expect(back).toMatchObject({ secrets: {}, executorResources: { cpus: 0.1, mem: 32, disk: 10 }, scheduling: { unreachableStrategy: { inactiveAfterSeconds: 5, expungeAfterSeconds: 30 } } });
    expect(podFromMarathon(back).problems).toEqual([]);
  });

  it('an App written in Capstan\'s terms: its ports on the first container, a check without a container in the first', () => {
    const app = { apiVersion: 'capstan/v1', kind: 'App', metadata: { name: 'pair', namespace: 'default' }, spec: appKind.spec.parse({ containers: [{ name: 'a', image: 'img' }, { name: 'b', cmd: 'x' }], ports: [{ name: 'http' }, {}], healthChecks: [{ protocol: 'TCP', portIndex: 1 }] }) };
    expect(isMarathonPod(app)).toBe(true);
    expect(podToMarathon(app)).toMatchObject({ id: '/pair', containers: [{ name: 'a', endpoints: [{ name: 'http' }, { name: 'port1' }], healthCheck: { tcp: { endpoint: 'port1' } } }, { name: 'b', endpoints: [] }] });
  });

  it('a one-container App not made from a pod is an app', () => {
    expect(isMarathonPod({ apiVersion: 'capstan/v1', kind: 'App', metadata: { name: 'web' }, spec: { containers: [{ cmd: 'x' }] } })).toBe(false);
  });
});

describe('podStatusToMarathon', () => {
  const pod = fromMarathon({ ...BASE, scaling: { instances: 2 }, containers: [container('web', { endpoints: [{ name: 'http' }] }), container('side')] });
  const task = (name: string, phase: string, healthy?: 'True' | 'False') => ({
    apiVersion: 'capstan/v1',
    kind: 'Task',
    metadata: { name, namespace: 'shop', uid: `uid-${name}`, creationTimestamp: '2026-11-30T10:00:01.000Z' },
    spec: { app: 'pod', revision: 1, template: { containers: (pod.spec as { containers: unknown[] }).containers, ports: [{ name: 'http', hostPort: 0 }] }, nodeName: 'n1', hostPorts: [31005] },
    status: {
      phase,
      startedAt: '2026-11-30T10:00:05.000Z',
      conditions: healthy ? [{ type: 'Healthy', status: healthy, lastTransitionTime: 'x' }] : [],
      containers: [
        { name: 'web', runtime: 'process', state: 'Running', pid: 10, startedAt: '2026-11-30T10:00:04.000Z' },
        { name: 'side', runtime: 'process', state: phase === 'Failed' ? 'Exited' : 'Running', exitCode: 3 },
      ],
    },
  });
  const node = (name: string) => (name === 'n1' ? { apiVersion: 'capstan/v1', kind: 'Node', metadata: { name }, spec: { address: '10.0.0.1' } } : undefined);

  it.each<[string, ReturnType<typeof task>[], string]>([
    ['every instance running healthy: STABLE', [task('a', 'Running', 'True'), task('b', 'Running')], 'STABLE'],
    ['one unhealthy: DEGRADED', [task('a', 'Running', 'True'), task('b', 'Running', 'False')], 'DEGRADED'],
    ['one missing: DEGRADED', [task('a', 'Running')], 'DEGRADED'],
  ])('%s', (_, tasks, status) => {
    expect(podStatusToMarathon(pod, tasks, node).status).toBe(status);
  });

  it('shows each instance and its containers', () => {
    const status = podStatusToMarathon(pod, [task('a', 'Running', 'True'), task('b', 'Failed')], node) as { id: string; spec: unknown; instances: Record<string, unknown>[] };
    expect(status.id).toBe('/shop/pod');
    expect(status.spec).toEqual(podToMarathon(pod));
    expect(status.instances[0]).toMatchObject({
      id: 'shop_pod.uid-a',
      status: 'STABLE',
      agentHostname: '10.0.0.1',
      agentId: 'n1',
      resources: { cpus: 0.2, mem: 64 },
      containers: [
        { name: 'web', status: 'TASK_RUNNING', statusSince: '2026-11-30T10:00:04.000Z', endpoints: [{ name: 'http', allocatedHostPort: 31005 }] },
        { name: 'side', status: 'TASK_RUNNING' },
      ],
    });
    expect(status.instances[1]).toMatchObject({ status: 'TERMINAL', containers: [{ status: 'TASK_RUNNING' }, { status: 'TASK_FAILED', termination: { exitCode: 3 } }] });
  });
});
