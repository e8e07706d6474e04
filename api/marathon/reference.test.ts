// Every real Marathon app and pod definition of ../shared/reference/marathon (SOURCES.md there says
// where each comes from) through the translation: what Capstan honours becomes the App asserted
// here, what it cannot is refused at its path. Each refused one is then translated again as a
// Capstan user would rewrite it (the refused fields removed or rewritten as the message says), and
// that App is asserted too. The group files are A2's (group.test.ts).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { appKind } from '../kinds/app.ts';
import type { AnyObject } from '../object.ts';
import { appFromMarathon, appToMarathon } from './app.ts';
import { podFromMarathon, podToMarathon } from './pod.ts';
import { taskToMarathon } from './task.ts';

const REFERENCE = new URL('../../../shared/reference/', import.meta.url);
type Json = Record<string, any>;
const reference = (file: string): Json => JSON.parse(readFileSync(new URL(file, REFERENCE), 'utf8'));

function stored(app: AnyObject): AnyObject {
  return { ...app, metadata: { ...app.metadata, uid: 'u1', creationTimestamp: '2026-11-30T10:00:00.000Z' }, spec: appKind.spec.parse(app.spec) };
}

function translated(json: unknown, pod = false): { spec: Json; metadata: Json; app: AnyObject } {
  const result = pod ? podFromMarathon(json) : appFromMarathon(json);
  expect(result.problems).toEqual([]);
  const app = stored(result.app!);
  return { spec: app.spec as Json, metadata: app.metadata as Json, app };
}

const pathsOf = (json: unknown, pod = false) => (pod ? podFromMarathon(json) : appFromMarathon(json)).problems.map((p) => p.path.join('.'));

/** A copy without the fields at the given dotted paths. */
function without(json: Json, ...paths: string[]): Json {
  const copy = structuredClone(json);
  for (const path of paths) {
    const parts = path.split('.');
    let at: any = copy;
    for (const part of parts.slice(0, -1)) at = at[part];
    delete at[parts.at(-1)!];
  }
  return copy;
}

describe('reference apps that Capstan runs as written', () => {
  it('marathon-docs-apps-with-dependencies: two command apps, one waiting for the other', () => {
    const [sleep60, sleep120] = reference('marathon/marathon-docs-apps-with-dependencies.json') as unknown as Json[];
    const first = translated(sleep60);
    expect(first.metadata).toMatchObject({ namespace: 'test', name: 'sleep60' });
    expect(first.spec).toMatchObject({ instances: 2, driver: 'process', containers: [{ cmd: 'sleep 60', resources: { cpus: 0.3, mem: 9 } }], dependencies: ['test/sleep120', 'other/namespace-or-app'] });
    expect(appToMarathon(first.app).dependencies).toEqual(['/test/sleep120', '/other/namespace/or/app']);
    expect(translated(sleep120).spec).toMatchObject({ dependencies: [], containers: [{ cmd: 'sleep 120' }] });
  });

  it('marathon-docs-constraint-group-by: a relative id and GROUP_BY', () => {
    const { metadata, spec } = translated(reference('marathon/marathon-docs-constraint-group-by.json'));
    expect(metadata).toMatchObject({ namespace: 'default', name: 'sleep-group-by' });
    expect(spec).toMatchObject({ instances: 3, constraints: [['rack_id', 'GROUP_BY', '3']], ports: [{ name: 'default', hostPort: 0 }] });
  });

  it('marathon-si-readiness-and-health-app: a named port, checks, upgrade 0/0', () => {
    const json = reference('marathon/marathon-si-readiness-and-health-app.json');
    const { spec, app } = translated(json);
    expect(spec).toMatchObject({
      ports: [{ name: 'api', hostPort: 0, protocol: 'tcp' }],
      healthChecks: [{ protocol: 'HTTP', path: '/', portIndex: 0, gracePeriodSeconds: 10, intervalSeconds: 2, timeoutSeconds: 2, maxConsecutiveFailures: 0 }],
      readinessChecks: [{ name: 'readiness', portName: 'api', intervalSeconds: 2, timeoutSeconds: 1, httpStatusCodesForReady: [200] }],
      upgradeStrategy: { minimumHealthCapacity: 0, maximumOverCapacity: 0 },
    });
    expect(appToMarathon(app)).toMatchObject(json);
  });

  it('marathon-si-persistent-volume-app: a MESOS container with a local persistent volume', () => {
    const json = reference('marathon/marathon-si-persistent-volume-app.json');
    const { spec, app } = translated(without(json, 'acceptedResourceRoles'));
    expect(spec).toMatchObject({
      driver: 'process',
      volumes: [{ name: 'data', persistent: { size: 10 } }],
      containers: [{ volumeMounts: [{ name: 'data', mountPath: 'data', readOnly: false }] }],
      upgradeStrategy: { minimumHealthCapacity: 0.5, maximumOverCapacity: 0 },
    });
    // acceptedResourceRoles ["*"] is Marathon's default: accepted, and not shown back.
    expect(appFromMarathon(json).problems).toEqual([]);
    expect(appToMarathon(app)).toMatchObject(without(json, 'acceptedResourceRoles'));
  });
});

describe('reference apps with fields Capstan cannot honour', () => {
  it('marathon-docs-app: the kitchen-sink example is refused field by field', () => {
    const json = reference('marathon/marathon-docs-app.json');
    expect(pathsOf(json)).toEqual([
      'acceptedResourceRoles',
      'ipAddress',
      'fetch',
      'user',
      'secrets',
      'tty',
      'container.docker.parameters',
      'portDefinitions',
      'container.docker.portMappings.0.containerPort',
      'env.PASSWORD',
    ]);
    // As a Capstan user would rewrite it: the refused fields gone, the container listening on its host port.
    const fixed = without(json, 'acceptedResourceRoles', 'ipAddress', 'fetch', 'user', 'secrets', 'tty', 'container.docker.parameters', 'portDefinitions', 'env.PASSWORD', 'args');
    fixed.container.docker.portMappings[0].containerPort = 0;
    const { spec, metadata } = translated(fixed);
    expect(metadata).toMatchObject({ namespace: 'default', name: 'foo', labels: { owner: 'zeus', note: 'Away from olympus' } });
    expect(spec).toMatchObject({
      instances: 2,
      driver: 'docker',
      containers: [{ image: 'mesosphere:marathon/latest', cmd: 'sleep 1000', env: { XPS1: 'Test', XPS2: 'Rest' }, resources: { cpus: 0.1, mem: 16 } }],
      ports: [{ name: 'http', hostPort: 0, servicePort: 10019, protocol: 'tcp', labels: { vip: '192.168.0.1:80' } }],
      constraints: [['hostname', 'LIKE', 'srv2.*']],
      healthChecks: [{ protocol: 'HTTP', portIndex: 0, intervalSeconds: 20, timeoutSeconds: 20 }],
      readinessChecks: [{ name: 'myReadyCheck', path: '/v1/plan', portName: 'http', preserveLastResponse: true }],
      dependencies: ['prod/group'],
      volumes: [{ name: 'docker-storage', hostPath: { path: '/hdd/tools/docker/registry' } }],
      maxLaunchDelaySeconds: 3600,
      taskKillGracePeriodSeconds: 30,
    });
    // Both cmd and args: the App's own rule, at the Marathon field.
    expect(appFromMarathon({ ...fixed, args: ['sleep', '100'] }).problems).toEqual([{ path: ['cmd'], expected: 'at most one of cmd or args', found: 'both' }]);
  });

  it('marathon-docs-recipe-command-healthcheck: fetch is refused; without it, a COMMAND check', () => {
    const json = reference('marathon/marathon-docs-recipe-command-healthcheck.json');
    expect(pathsOf(json)).toEqual(['fetch']);
    const { spec } = translated(without(json, 'fetch'));
    expect(spec).toMatchObject({ instances: 2, ports: [{ hostPort: 0 }], healthChecks: [{ protocol: 'COMMAND', command: 'curl -f http://$HOST:$PORT0/', gracePeriodSeconds: 5 }] });
  });

  it.each([
    ['tweeter.json', ['container.docker.portMappings.0.containerPort'], [{ hostPort: 0, servicePort: 10000, labels: { VIP_0: '1.1.1.1:30000' } }]],
    ['mlb-ci-nginx-docker-bridge.json', ['user', 'container.portMappings.0.containerPort'], [{ hostPort: 0 }]],
    ['tweeter-router.json', ['acceptedResourceRoles', 'container.docker.portMappings.0.containerPort'], [{ hostPort: 80 }]],
    ['mlb-nginx-mesos-http.json', ['acceptedResourceRoles', 'container.docker.forcePullImage', 'container.portMappings.0.containerPort'], [{ hostPort: 0, servicePort: 10000 }]],
  ])('%s: a bridge mapping to another port is refused; listening on the host port, it runs', (file, paths, ports) => {
    const json = reference(`marathon/${file}`);
    expect(pathsOf(json)).toEqual(paths);
    const fixed = without(json, 'user', 'acceptedResourceRoles', 'container.docker.forcePullImage');
    // Capstan's own rule (api/kinds/app-checks.ts): a probe never outlives its interval.
    if (file === 'mlb-nginx-mesos-http.json') fixed.healthChecks[0].timeoutSeconds = 3;
    const mappings = fixed.container.portMappings ?? fixed.container.docker.portMappings;
    // tweeter-router's fixed host port 80: the container listens on 80 itself; the others on $PORT0.
    mappings[0].containerPort = mappings[0].hostPort;
    const { spec, metadata } = translated(fixed);
    expect(spec).toMatchObject({ driver: 'docker', containers: [{ image: json.container.docker.image }], ports });
    expect(metadata.labels ?? {}).toEqual(json.labels ?? {});
  });

  it('mlb-nginx-mesos-http: MESOS_HTTP runs as HTTP and shows back as written; a timeout above the interval is refused by the App\'s rule', () => {
    const json = without(reference('marathon/mlb-nginx-mesos-http.json'), 'acceptedResourceRoles', 'container.docker.forcePullImage');
    json.container.portMappings[0].containerPort = 0;
    expect(appFromMarathon(json).problems).toEqual([{ path: ['healthChecks', 0, 'timeoutSeconds'], expected: 'a timeoutSeconds not above intervalSeconds (3)', found: '15' }]);
    json.healthChecks[0].timeoutSeconds = 3;
    const { spec, app } = translated(json);
    expect(spec.healthChecks).toMatchObject([{ protocol: 'HTTP', path: '/', portIndex: 0, intervalSeconds: 3, maxConsecutiveFailures: 10 }]);
    expect(appToMarathon(app).healthChecks).toMatchObject([{ protocol: 'MESOS_HTTP' }]);
  });
});

describe('reference pods', () => {
  it('marathon-si-simple-pod: a Docker and a process container share an ephemeral volume', () => {
    const json = reference('marathon/marathon-si-simple-pod.json');
    // The Docker container mounts relative to the Mesos sandbox; Capstan's Docker containers mount at absolute paths.
    expect(pathsOf(json, true)).toEqual(['containers.0.volumeMounts.0']);
    json.containers[0].volumeMounts[0].mountPath = '/test-v1';
    const { spec, app } = translated(json, true);
    expect(spec).toMatchObject({
      instances: 1,
      containers: [
        { name: 'ct1', image: 'busybox', cmd: expect.stringContaining('./test-v1/clock'), env: { PING: 'PONG' }, resources: { cpus: 0.1, mem: 32 } },
        { name: 'ct2', cmd: expect.stringContaining('cat ./etc/clock'), env: { PING: 'PONG' }, volumeMounts: [{ name: 'v1', mountPath: 'etc' }, { name: 'v2', mountPath: 'docker' }] },
      ],
      volumes: [{ name: 'v1', ephemeral: {} }, { name: 'v2', hostPath: { path: '/var/lib/docker' } }],
    });
    expect(spec.containers[1]).not.toHaveProperty('image');
    expect(podToMarathon(app)).toMatchObject(json);
  });

  it('marathon-si-persistent-volume-pod: unreachableStrategy "disabled" is refused; the rest is two processes on one persistent volume', () => {
    const json = reference('marathon/marathon-si-persistent-volume-pod.json');
    expect(pathsOf(json, true)).toEqual(['scheduling.unreachableStrategy']);
    const { spec, app } = translated(without(json, 'scheduling.unreachableStrategy'), true);
    expect(spec).toMatchObject({
      containers: [
        { name: 'container1', volumeMounts: [{ name: 'pst', mountPath: 'pst1' }], resources: { cpus: 0.1, mem: 128 } },
        { name: 'container2', volumeMounts: [{ name: 'pst', mountPath: 'pst2' }] },
      ],
      ports: [{ name: 'httpct1', hostPort: 0 }, { name: 'httpct2', hostPort: 0 }],
      volumes: [{ name: 'pst', persistent: { size: 10 } }],
      upgradeStrategy: { minimumHealthCapacity: 0, maximumOverCapacity: 0 },
      taskKillGracePeriodSeconds: 60,
    });
    expect(podToMarathon(app)).toMatchObject(without(json, 'scheduling.unreachableStrategy'));
  });

  it('marathon-docs-pod: a container network, users, artifacts and container labels are refused', () => {
    const json = reference('marathon/marathon-docs-pod.json');
    expect(pathsOf(json, true)).toEqual([
      'user',
      'executorResources',
      'networks.0.name',
      'networks.0.mode',
      'containers.0.user',
      'containers.0.artifacts',
      'containers.0.labels',
      'containers.0.endpoints.0.containerPort',
      'scaling.maxInstances',
    ]);
    const fixed = without(json, 'user', 'executorResources', 'networks', 'containers.0.user', 'containers.0.artifacts', 'containers.0.labels', 'containers.0.endpoints.0.containerPort', 'scaling.maxInstances');
    expect(podFromMarathon(fixed).problems).toEqual([{ path: ['containers', 0, 'healthCheck', 'timeoutSeconds'], expected: 'a timeoutSeconds not above intervalSeconds (2)', found: '20' }]);
    fixed.containers[0].healthCheck.timeoutSeconds = 2;
    const { spec, metadata } = translated(fixed, true);
    expect(metadata).toMatchObject({ namespace: 'default', name: 'foo', labels: { owner: 'zeus' } });
    expect(spec).toMatchObject({
      containers: [{ name: 'container1', image: 'mesosphere/marathon:latest', cmd: 'sleep 100', env: { XPS1: 'Test', XPS2: 'Rest' }, volumeMounts: [{ name: 'etc', mountPath: '/mnt/etc', readOnly: true }] }],
      ports: [{ name: 'httpendpoint', hostPort: 0 }],
      healthChecks: [{ protocol: 'HTTP', portName: 'httpendpoint', path: '/health', container: 'container1', gracePeriodSeconds: 30, intervalSeconds: 2, timeoutSeconds: 2, delaySeconds: 2 }],
      volumes: [{ name: 'etc', hostPath: { path: '/hdd/tools/docker/registry' } }],
      backoffSeconds: 1,
      maxLaunchDelaySeconds: 3600,
      taskKillGracePeriodSeconds: 60,
    });
  });

  it('marathon-docs-pod-multi-container: a container network and per-container labels are refused', () => {
    const json = reference('marathon/marathon-docs-pod-multi-container.json');
    expect(pathsOf(json, true)).toEqual([
      'networks.0.name',
      'networks.0.mode',
      'containers.0.artifacts',
      'containers.0.labels',
      'containers.0.endpoints.0.containerPort',
      'containers.1.artifacts',
      'containers.1.labels',
      'containers.1.endpoints.0.containerPort',
      'containers.2.labels',
    ]);
    const fixed = without(json, 'networks', 'containers.0.artifacts', 'containers.0.labels', 'containers.0.endpoints.0.containerPort', 'containers.1.artifacts', 'containers.1.labels', 'containers.1.endpoints.0.containerPort', 'containers.2.labels');
    for (const container of fixed.containers) for (const mount of container.volumeMounts) mount.mountPath = `/${mount.mountPath}`;
    const { spec, app } = translated(fixed, true);
    expect(spec.containers.map((c: Json) => [c.name, c.image ?? '(process)', c.env])).toEqual([
      ['healthtask1', 'python:3.5.2-alpine', { POD_ENV: 'pod', C1_ENV: 'c1' }],
      ['healthtask2', 'python:3.5.2-alpine', { POD_ENV: 'pod', C2_ENV: 'c2' }],
      ['clienttask', '(process)', { POD_ENV: 'pod', C3_ENV: 'c3' }],
    ]);
    expect(spec.healthChecks).toMatchObject([
      { container: 'healthtask1', portName: 'httpendpoint', path: '/ping' },
      { container: 'healthtask2', portName: 'httpendpoint2', path: '/ping' },
    ]);
    expect(spec).toMatchObject({ killSelection: 'YOUNGEST_FIRST', unreachableStrategy: { inactiveAfterSeconds: 900, expungeAfterSeconds: 604800 }, volumes: [{ name: 'sharedvolume', ephemeral: {} }] });
    // Back: the pod's environment and each container's own, endpoints on the container that declared them.
    const back = podToMarathon(app) as Json;
    expect(back.environment).toEqual({ POD_ENV: 'pod' });
    expect(back.containers.map((c: Json) => [c.environment, c.endpoints.map((e: Json) => e.name)])).toEqual([
      [{ C1_ENV: 'c1' }, ['httpendpoint']],
      [{ C2_ENV: 'c2' }, ['httpendpoint2']],
      [{ C3_ENV: 'c3' }, []],
    ]);
  });
});

describe('marathon-lb reference: Capstan\'s GET has every field marathon-lb reads', () => {
  it.each(['simple-http', 'vhost', 'sticky-tcp', 'marathon15-bridge-vhost', 'group-per-service'])('%s', (name) => {
    const marathonApp = (reference(`marathon-lb/${name}.json`).apps as Json[])[0]!;
    const app = stored({ apiVersion: 'capstan/v1', kind: 'App', metadata: { name: 'x', namespace: 'default' }, spec: { containers: [{ image: 'img', cmd: 'x' }], ports: [{}], healthChecks: [{ protocol: 'HTTP' }] } });
    const task = { apiVersion: 'capstan/v1', kind: 'Task', metadata: { name: 't', namespace: 'default', uid: 'u', creationTimestamp: 'c' }, spec: { app: 'x', revision: 1, template: { healthChecks: [{}] }, nodeName: 'n', hostPorts: [31000] }, status: { phase: 'Running', startedAt: 's', healthResults: [{ index: 0, alive: true, consecutiveFailures: 0 }] } };
    const json = appToMarathon(app, { tasks: [task] }) as Json;
    const missing = (ours: Json, theirs: Json) => Object.keys(theirs).filter((key) => !(key in ours));
    expect(missing(json, marathonApp)).toEqual([]);
    expect(missing(json.tasks[0], marathonApp.tasks[0])).toEqual([]);
    expect(missing((taskToMarathon(task, app).healthCheckResults as Json[])[0]!, (marathonApp.tasks[0].healthCheckResults ?? [{}])[0])).toEqual([]);
  });
});
