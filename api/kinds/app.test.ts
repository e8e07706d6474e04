import { describe, expect, it } from 'vitest';
import type { AnyObject } from '../object.ts';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseManifests, validateDocuments } from '../manifest.ts';
import { appKind, appSpecSchema, containerRuntime, healthCheckContainer, isResident, runtimesOf, templateOf, upgradeStrategyOf } from './app.ts';
import { builtinRegistry } from './builtin.ts';
import { checkApp, checkServicePorts } from './app-checks.ts';
import type { AppSpec } from './app.ts';
import type { StoreReader } from './registry.ts';

function app(spec: unknown, name = 'web', namespace = 'shop'): AnyObject {
  return { apiVersion: 'capstan/v1', kind: 'App', metadata: { name, namespace }, spec: appSpecSchema.parse(spec) };
}

/** The problems `check` reports for a spec, as "path: expected | found" lines. */
function problemsOf(spec: unknown): string[] {
  return checkApp(app(spec)).map((p) => `${p.path.join('.')}: expected ${p.expected} | ${p.found}`);
}

const docker = { containers: [{ image: 'local/busybox:1', cmd: 'httpd -f -p $PORT0' }] };

describe('App defaults', () => {
  it('fills in every Marathon default for a one-container docker App', () => {
    expect(appSpecSchema.parse({ containers: [{ image: 'busybox' }] })).toEqual({
      instances: 1,
      driver: 'docker',
      containers: [{ name: 'main', image: 'busybox', env: {}, resources: { cpus: 1, mem: 128, disk: 0, gpus: 0 }, volumeMounts: [] }],
      ports: [],
      constraints: [],
      healthChecks: [],
      readinessChecks: [],
      upgradeStrategy: { minimumHealthCapacity: 1, maximumOverCapacity: 1 },
      progressDeadlineSeconds: 600,
      revisionHistoryLimit: 10,
      backoffSeconds: 1,
      backoffFactor: 1.15,
      maxLaunchDelaySeconds: 300,
      killSelection: 'YOUNGEST_FIRST',
      taskKillGracePeriodSeconds: 10,
      drainTimeoutSeconds: 5,
      unreachableStrategy: { inactiveAfterSeconds: 5, expungeAfterSeconds: 30 },
      dependencies: [],
      volumes: [],
    });
  });

  it('keeps the defaults of a partly given nested object', () => {
    const spec = appSpecSchema.parse({ ...docker, upgradeStrategy: { minimumHealthCapacity: 0.5 }, containers: [{ image: 'x', resources: { mem: 64 } }] });
    expect(spec.upgradeStrategy).toEqual({ minimumHealthCapacity: 0.5, maximumOverCapacity: 1 });
    expect(spec.containers[0]!.resources).toEqual({ cpus: 1, mem: 64, disk: 0, gpus: 0 });
  });

  it('fills ports with hostPort 0 and tcp', () => {
    expect(appSpecSchema.parse({ ...docker, ports: [{ name: 'http' }] }).ports).toEqual([{ name: 'http', hostPort: 0, protocol: 'tcp' }]);
  });

  it.each([
    ['HTTP', { protocol: 'HTTP' }, { protocol: 'HTTP', path: '/', ignoreHttp1xx: false, portIndex: 0 }],
    ['HTTPS', { protocol: 'HTTPS', path: '/health' }, { protocol: 'HTTPS', path: '/health', ignoreHttp1xx: false, portIndex: 0 }],
    ['TCP by name', { protocol: 'TCP', portName: 'http' }, { protocol: 'TCP', portName: 'http' }],
    ['COMMAND as a string', { protocol: 'COMMAND', command: 'true' }, { protocol: 'COMMAND', command: 'true' }],
    ['COMMAND as Marathon writes it', { protocol: 'COMMAND', command: { value: 'true' } }, { protocol: 'COMMAND', command: 'true' }],
  ])('applies Marathon health check defaults: %s', (_, given, expected) => {
    const spec = appSpecSchema.parse({ ...docker, ports: [{ name: 'http' }], healthChecks: [given] });
    expect(spec.healthChecks[0]).toEqual({
      ...expected,
      gracePeriodSeconds: 300,
      intervalSeconds: 60,
      timeoutSeconds: 20,
      maxConsecutiveFailures: 3,
      delaySeconds: 15,
    });
  });

  it('applies Marathon readiness check defaults', () => {
    const spec = appSpecSchema.parse({ ...docker, ports: [{ name: 'http' }], readinessChecks: [{ portName: 'http' }] });
    expect(spec.readinessChecks[0]).toEqual({
      name: 'readinessCheck',
      protocol: 'HTTP',
      path: '/',
      portName: 'http',
      intervalSeconds: 30,
      timeoutSeconds: 10,
      httpStatusCodesForReady: [200],
      preserveLastResponse: false,
    });
  });

  it('reads constraint operators in any case and stores them upper-case, as Marathon does', () => {
    expect(appSpecSchema.parse({ ...docker, constraints: [['hostname', 'unique'], ['rack', 'Group_By', 2]] }).constraints).toEqual([
      ['hostname', 'UNIQUE'],
      ['rack', 'GROUP_BY', '2'],
    ]);
  });

  it('keeps a numeric constraint value as the string Marathon would have', () => {
    expect(appSpecSchema.parse({ ...docker, constraints: [['rack', 'GROUP_BY', 3]] }).constraints).toEqual([['rack', 'GROUP_BY', '3']]);
  });

  it('splits a marathon-lb style comma-separated vhost', () => {
    expect(appSpecSchema.parse({ ...docker, loadBalancer: { vhost: 'a.local, b.local' } }).loadBalancer?.vhost).toEqual(['a.local', 'b.local']);
  });

  it('takes the template fields for a revision', () => {
    const spec = appSpecSchema.parse(docker);
    expect(Object.keys(templateOf(spec)).sort()).toEqual(
      ['constraints', 'containers', 'drainTimeoutSeconds', 'driver', 'healthChecks', 'ports', 'readinessChecks', 'taskKillGracePeriodSeconds', 'unreachableStrategy', 'volumes'],
    );
  });
});

describe('App schema rejects', () => {
  it.each([
    ['an unknown field', { ...docker, instanses: 2 }, [], 'unrecognized_keys'],
    ['an unknown container field', { containers: [{ image: 'x', comand: 'y' }] }, ['containers', 0], 'unrecognized_keys'],
    ['no containers', { containers: [] }, ['containers'], 'too_small'],
    ['negative instances', { ...docker, instances: -1 }, ['instances'], 'too_small'],
    ['fractional instances', { ...docker, instances: 1.5 }, ['instances'], 'invalid_type'],
    ['a number as an env value', { containers: [{ image: 'x', env: { PORT: 8080 } }] }, ['containers', 0, 'env', 'PORT'], 'invalid_type'],
    ['a bad env name', { containers: [{ image: 'x', env: { 'A-B': 'x' } }] }, ['containers', 0, 'env', 'A-B'], 'invalid_key'],
    ['an unknown driver', { ...docker, driver: 'mesos' }, ['driver'], 'invalid_value'],
    ['an unknown constraint operator', { ...docker, constraints: [['hostname', 'UNIQ']] }, ['constraints', 0, 1], 'invalid_value'],
    ['a constraint without operator', { ...docker, constraints: [['hostname']] }, ['constraints', 0], 'too_small'],
    ['a constraint with four parts', { ...docker, constraints: [['a', 'IS', 'b', 'c']] }, ['constraints', 0], 'too_big'],
    ['an unknown health protocol', { ...docker, healthChecks: [{ protocol: 'UDP' }] }, ['healthChecks', 0, 'protocol'], 'invalid_union'],
    ['a path on a TCP check', { ...docker, healthChecks: [{ protocol: 'TCP', path: '/' }] }, ['healthChecks', 0], 'unrecognized_keys'],
    ['a COMMAND check without command', { ...docker, healthChecks: [{ protocol: 'COMMAND' }] }, ['healthChecks', 0, 'command'], 'invalid_union'],
    ['a readiness check without portName', { ...docker, readinessChecks: [{}] }, ['readinessChecks', 0, 'portName'], 'invalid_type'],
    ['a bad port name', { ...docker, ports: [{ name: 'HTTP' }] }, ['ports', 0, 'name'], 'invalid_format'],
    ['a port out of range', { ...docker, ports: [{ hostPort: 70000 }] }, ['ports', 0, 'hostPort'], 'too_big'],
    ['a bad container name', { containers: [{ name: 'Main', image: 'x' }] }, ['containers', 0, 'name'], 'invalid_format'],
    ['an empty mountPath', { containers: [{ image: 'x', volumeMounts: [{ name: 'd', mountPath: '' }] }] }, ['containers', 0, 'volumeMounts', 0, 'mountPath'], 'too_small'],
    ['a persistent size of 0 MiB', { ...docker, volumes: [{ name: 'd', persistent: { size: 0 } }] }, ['volumes', 0, 'persistent', 'size'], 'too_small'],
    ['a fractional persistent size', { ...docker, volumes: [{ name: 'd', persistent: { size: 1.5 } }] }, ['volumes', 0, 'persistent', 'size'], 'invalid_type'],
    ['a bad health check container name', { ...docker, healthChecks: [{ protocol: 'COMMAND', command: 'true', container: 'Main' }] }, ['healthChecks', 0, 'container'], 'invalid_format'],
    ['minimumHealthCapacity above 1', { ...docker, upgradeStrategy: { minimumHealthCapacity: 1.5 } }, ['upgradeStrategy', 'minimumHealthCapacity'], 'too_big'],
    ['an unknown killSelection', { ...docker, killSelection: 'RANDOM' }, ['killSelection'], 'invalid_value'],
  ])('%s', (_, spec, path, code) => {
    const result = appSpecSchema.safeParse(spec);
    expect(result.success).toBe(false);
    expect(result.error!.issues.map((i) => [i.path, i.code])).toContainEqual([path, code]);
  });
});

describe('App cross-field rules', () => {
  const withPorts = { ports: [{ name: 'http' }, { name: 'admin' }] };
  it.each([
    ['process container with both cmd and args', { driver: 'process', containers: [{ cmd: 'a', args: ['b'] }] }, 'spec.containers.0.cmd: expected exactly one of cmd or args for a process container | both'],
    ['process container with neither', { driver: 'process', containers: [{}] }, 'spec.containers.0.cmd: expected exactly one of cmd or args for a process container | neither'],
    ['docker container with both', { containers: [{ image: 'x', cmd: 'a', args: ['b'] }] }, 'spec.containers.0.cmd: expected at most one of cmd or args | both'],
    ['a container with neither image nor command (a process)', { containers: [{ env: { A: 'b' } }] }, 'spec.containers.0.cmd: expected exactly one of cmd or args for a process container | neither'],
    ['two containers with the default name', { containers: [{ image: 'a' }, { image: 'b' }] }, 'spec.containers.1.name: expected a container name unique in this App | "main" again'],
    ['duplicate port names', { ...docker, ports: [{ name: 'http' }, { name: 'http' }] }, 'spec.ports.1.name: expected a port name unique in this App | "http" again'],
    ['duplicate fixed host ports', { ...docker, ports: [{ hostPort: 8080 }, { hostPort: 8080 }] }, 'spec.ports.1.hostPort: expected a fixed hostPort used by one port only | 8080 again'],
    ['health portIndex past the ports', { ...docker, ...withPorts, healthChecks: [{ protocol: 'TCP', portIndex: 2 }] }, 'spec.healthChecks.0.portIndex: expected a port index from 0 to 1 | 2'],
    ['health check with no ports at all', { ...docker, healthChecks: [{ protocol: 'HTTP' }] }, 'spec.healthChecks.0.portIndex: expected no port index: the App declares no ports (add spec.ports) | 0'],
    ['health portName not declared', { ...docker, ...withPorts, healthChecks: [{ protocol: 'HTTP', portName: 'web' }] }, 'spec.healthChecks.0.portName: expected the name of a declared port (http, admin) | "web"'],
    ['health portIndex and portName', { ...docker, ...withPorts, healthChecks: [{ protocol: 'HTTP', portIndex: 0, portName: 'http' }] }, 'spec.healthChecks.0.portName: expected portIndex or portName, not both | both'],
    ['health timeout above interval', { ...docker, ...withPorts, healthChecks: [{ protocol: 'TCP', intervalSeconds: 2, timeoutSeconds: 3 }] }, 'spec.healthChecks.0.timeoutSeconds: expected a timeoutSeconds not above intervalSeconds (2) | 3'],
    ['readiness timeout equal to interval', { ...docker, ...withPorts, readinessChecks: [{ portName: 'http', intervalSeconds: 1, timeoutSeconds: 1 }] }, 'spec.readinessChecks.0.timeoutSeconds: expected a timeoutSeconds below intervalSeconds (1) | 1'],
    ['readiness timeout above interval', { ...docker, ...withPorts, readinessChecks: [{ portName: 'http', intervalSeconds: 5, timeoutSeconds: 10 }] }, 'spec.readinessChecks.0.timeoutSeconds: expected a timeoutSeconds below intervalSeconds (5) | 10'],
    ['readiness portName not declared', { ...docker, ...withPorts, readinessChecks: [{ portName: 'web' }] }, 'spec.readinessChecks.0.portName: expected the name of a declared port (http, admin) | "web"'],
    ['UNIQUE with a value', { ...docker, constraints: [['hostname', 'UNIQUE', 'x']] }, 'spec.constraints.0.2: expected no value: UNIQUE takes none | "x"'],
    ['MAX_PER without value', { ...docker, constraints: [['rack', 'MAX_PER']] }, 'spec.constraints.0.1: expected an integer for MAX_PER (the most instances per value, e.g. "2") | no value'],
    ['MAX_PER with a fraction', { ...docker, constraints: [['rack', 'MAX_PER', 1.5]] }, 'spec.constraints.0.2: expected an integer for MAX_PER (the most instances per value, e.g. "2") | "1.5"'],
    ['GROUP_BY with a word', { ...docker, constraints: [['rack', 'GROUP_BY', 'many']] }, 'spec.constraints.0.2: expected an integer for GROUP_BY (the least number of values to spread over, e.g. "3"), or no value | "many"'],
    ['LIKE without a pattern', { ...docker, constraints: [['zone', 'LIKE']] }, 'spec.constraints.0.1: expected a Java regular expression for LIKE, matched against the whole value (e.g. "eu-.*") | no value'],
    ['UNLIKE with a broken pattern', { ...docker, constraints: [['zone', 'UNLIKE', 'eu-(']] }, 'spec.constraints.0.2: expected a Java regular expression for UNLIKE, matched against the whole value (e.g. "eu-.*") | "eu-(": a "(" without its ")"'],
    ['LIKE with Java-only syntax', { ...docker, constraints: [['zone', 'like', '(?i)eu-.*']] }, 'spec.constraints.0.2: expected a Java regular expression for LIKE, matched against the whole value (e.g. "eu-.*") | "(?i)eu-.*": inline flags "(?i)" are Java-only: write the cases out, e.g. [Aa]'],
    ['IS without value', { ...docker, constraints: [['zone', 'IS']] }, 'spec.constraints.0.1: expected a text or number for IS (letters, digits and _ / . -): ranges and sets cannot be compared | no value'],
    ['IS with a range', { ...docker, constraints: [['jdk', 'IS', '[0-9]']] }, 'spec.constraints.0.2: expected a text or number for IS (letters, digits and _ / . -): ranges and sets cannot be compared | "[0-9]"'],
    ['a mount of an undeclared volume', { containers: [{ image: 'x', volumeMounts: [{ name: 'data', mountPath: '/data' }] }] }, 'spec.containers.0.volumeMounts.0.name: expected the name of a volume declared in spec.volumes (there are none) | "data"'],
    ['a volume with two sources', { ...docker, volumes: [{ name: 'd', persistent: { size: 1 }, ephemeral: {} }] }, 'spec.volumes.0: expected exactly one of persistent, hostPath or ephemeral | 2'],
    ['a volume with no source', { ...docker, volumes: [{ name: 'd' }] }, 'spec.volumes.0: expected exactly one of persistent, hostPath or ephemeral | none'],
    ['a malformed dependency', { ...docker, dependencies: ['a/b/c'] }, 'spec.dependencies.0: expected an App name, or namespace/name, each a DNS label | "a/b/c"'],
    ['a dependency on itself', { ...docker, dependencies: ['shop/web'] }, 'spec.dependencies.0: expected a dependency on another App, not on itself | "shop/web"'],
    ['expunge before inactive', { ...docker, unreachableStrategy: { inactiveAfterSeconds: 60, expungeAfterSeconds: 30 } }, 'spec.unreachableStrategy.expungeAfterSeconds: expected an expungeAfterSeconds of at least inactiveAfterSeconds (60) | 30'],
    ['a load balancer port past the ports', { ...docker, loadBalancer: { portIndex: 1 } }, 'spec.loadBalancer.portIndex: expected no port index: the App declares no ports (add spec.ports) | 1'],
  ])('reports %s', (_, spec, expected) => {
    expect(problemsOf(spec)).toEqual([expected]);
  });

  it.each([
    ['a process container with cmd', { driver: 'process', containers: [{ cmd: 'sleep 1000' }] }],
    ['a process container with args', { driver: 'process', containers: [{ args: ['sleep', '1000'] }] }],
    ['a docker container running its image default', { containers: [{ image: 'x' }] }],
    ['a container without image under the default driver (a process)', { containers: [{ cmd: 'sleep 1000' }] }],
    ['every constraint operator used right', {
      ...docker,
      constraints: [['hostname', 'UNIQUE'], ['rack', 'CLUSTER'], ['rack', 'CLUSTER', 'r1'], ['rack', 'GROUP_BY'], ['rack', 'GROUP_BY', '3'], ['zone', 'LIKE', 'eu-.*'], ['zone', 'UNLIKE', 'us-.*'], ['rack', 'MAX_PER', 2], ['os', 'IS', 'linux']],
    }],
    ["Marathon's zero for GROUP_BY and MAX_PER, operators in any case", { ...docker, constraints: [['rack', 'group_by', 0], ['rack', 'Max_Per', '0'], ['@hostname', 'unique']] }],
    ['a pod sharing a volume', { containers: [{ name: 'a', image: 'x', volumeMounts: [{ name: 'd', mountPath: '/d' }] }, { name: 'b', image: 'y', volumeMounts: [{ name: 'd', mountPath: '/d' }] }], volumes: [{ name: 'd', ephemeral: {} }] }],
    ['a dependency in another namespace', { ...docker, dependencies: ['db', 'data/pg'] }],
  ])('accepts %s', (_, spec) => {
    expect(problemsOf(spec)).toEqual([]);
  });
});

describe('pods: each container chooses its runtime', () => {
  it.each([
    ['an image under the default driver', 'docker', { image: 'x' }, 'docker'],
    ['no image under the default driver', 'docker', { cmd: 'sleep 1' }, 'process'],
    ['an image under driver process (the image is ignored)', 'process', { image: 'x', cmd: 'sleep 1' }, 'process'],
    ['no image under driver process', 'process', { cmd: 'sleep 1' }, 'process'],
  ] as const)('%s runs as %s → %s', (_, driver, container, expected) => {
    expect(containerRuntime({ driver }, container as { image?: string })).toBe(expected);
  });

  it.each([
    ['one docker container', docker, ['docker']],
    ['a mixed pod', { containers: [{ name: 'web', image: 'httpd' }, { name: 'fetch', cmd: 'curl localhost' }] }, ['docker', 'process']],
    ['driver process forcing every container', { driver: 'process', containers: [{ name: 'a', image: 'x', cmd: 'a' }, { name: 'b', cmd: 'b' }] }, ['process']],
  ])('the runtimes of %s', (_, spec, expected) => {
    expect([...runtimesOf(appSpecSchema.parse(spec))].sort()).toEqual(expected);
  });

  it('shows each container’s runtime in the wide DRIVER column', () => {
    const object = app({ containers: [{ name: 'web', image: 'httpd' }, { name: 'fetch', cmd: 'curl localhost' }] });
    expect(appKind.columns!.find((c) => c.header === 'DRIVER')!.value(object)).toBe('docker,process');
  });
});

describe('volume mounts by runtime', () => {
  const volumes = [{ name: 'd', ephemeral: {} }];
  const withMount = (container: object, mount: object) => ({ containers: [{ ...container, volumeMounts: [{ name: 'd', ...mount }] }], volumes });
  const dockerC = { image: 'x' };
  const processC = { cmd: 'sleep 1' };
  const at = 'spec.containers.0.volumeMounts.0.mountPath';
  it.each([
    ['a process container at a sandbox-relative path', withMount(processC, { mountPath: 'data' }), []],
    ['a process container at a nested relative path, read-only', withMount(processC, { mountPath: 'data/in', readOnly: true }), []],
    ['a Docker container at an absolute path', withMount(dockerC, { mountPath: '/data' }), []],
    ['a Docker container at an absolute path, read-only', withMount(dockerC, { mountPath: '/etc/conf', readOnly: true }), []],
    ['a process container at an absolute path', withMount(processC, { mountPath: '/data' }),
      [`${at}: expected a path relative to the task sandbox in a process container (e.g. "data", as Marathon's containerPath) | "/data"`]],
    ['an image-bearing container under driver process at an absolute path', { driver: 'process', ...withMount({ image: 'x', cmd: 'a' }, { mountPath: '/data' }) },
      [`${at}: expected a path relative to the task sandbox in a process container (e.g. "data", as Marathon's containerPath) | "/data"`]],
    ['a Docker container at a relative path', withMount(dockerC, { mountPath: 'data' }),
      [`${at}: expected an absolute path inside the container in a Docker container, starting with "/" | "data"`]],
    ['a process container climbing out of its sandbox', withMount(processC, { mountPath: '../etc' }), [`${at}: expected a mount path without ".." segments | "../etc"`]],
    ['a Docker container with ".." inside the path', withMount(dockerC, { mountPath: '/data/../etc' }), [`${at}: expected a mount path without ".." segments | "/data/../etc"`]],
    ['a path merely containing dots', withMount(processC, { mountPath: 'data..old' }), []],
    ['a process container at its sandbox itself', withMount(processC, { mountPath: './' }), [`${at}: expected a directory inside the task sandbox, not the sandbox itself | "./"`]],
    ['a Docker container at its root', withMount(dockerC, { mountPath: '/' }), [`${at}: expected a directory inside the container, not its root | "/"`]],
    ['two mounts at one path', { containers: [{ ...processC, volumeMounts: [{ name: 'd', mountPath: 'x' }, { name: 'd', mountPath: 'x' }] }], volumes },
      ['spec.containers.0.volumeMounts.1.mountPath: expected a mountPath used once in this container | "x" again']],
  ])('%s', (_, spec, expected) => {
    expect(problemsOf(spec)).toEqual(expected);
  });

  it('keeps readOnly, false unless given', () => {
    expect(appSpecSchema.parse(withMount(processC, { mountPath: 'data' })).containers[0]!.volumeMounts).toEqual([{ name: 'd', mountPath: 'data', readOnly: false }]);
    expect(appSpecSchema.parse(withMount(dockerC, { mountPath: '/d', readOnly: true })).containers[0]!.volumeMounts[0]!.readOnly).toBe(true);
  });

  it('says which fields the finding rests on: the driver and the image', () => {
    const [found] = checkApp(app(withMount(processC, { mountPath: '/data' })));
    expect(found!.reads).toEqual([['spec', 'driver'], ['spec', 'containers', 0, 'image']]);
  });
});

describe('health checks naming a container', () => {
  const pod = { containers: [{ name: 'web', image: 'httpd' }, { name: 'fetch', cmd: 'curl localhost' }], ports: [{ name: 'http' }] };
  it.each([
    ['a COMMAND check in a named container', { protocol: 'COMMAND', command: 'test -f x', container: 'fetch' }, []],
    ['an HTTP check naming a container', { protocol: 'HTTP', container: 'web' }, []],
    ['a check naming no container', { protocol: 'COMMAND', command: 'true' }, []],
    ['a check naming an unknown container', { protocol: 'COMMAND', command: 'true', container: 'db' }, ['spec.healthChecks.0.container: expected the name of a container of this App (web, fetch) | "db"']],
  ])('%s', (_, check, expected) => {
    expect(problemsOf({ ...pod, healthChecks: [check] })).toEqual(expected);
  });

  it.each([
    ['the named container', 'fetch', 'fetch'],
    ['the first container when none is named', undefined, 'web'],
    ['none when the name is unknown', 'db', undefined],
  ])('runs in %s', (_, container, expected) => {
    expect(healthCheckContainer(pod, { container })?.name).toBe(expected);
  });
});

describe('resident Apps and their upgrade strategy', () => {
  const persistent = { volumes: [{ name: 'data', persistent: { size: 512 } }], containers: [{ image: 'x', volumeMounts: [{ name: 'data', mountPath: '/data' }] }] };
  const ephemeral = { volumes: [{ name: 'scratch', ephemeral: {} }], containers: [{ image: 'x', volumeMounts: [{ name: 'scratch', mountPath: '/s' }] }] };
  it.each([
    ['no volumes', docker, false],
    ['an ephemeral volume', ephemeral, false],
    ['a host path volume', { ...docker, volumes: [{ name: 'h', hostPath: { path: '/srv' } }] }, false],
    ['a persistent volume', persistent, true],
  ])('an App with %s is resident: %s', (_, spec, expected) => {
    expect(isResident(appSpecSchema.parse(spec))).toBe(expected);
  });

  it.each([
    ['a resident App, none written', persistent, { minimumHealthCapacity: 0.5, maximumOverCapacity: 0 }],
    ['a resident App, minimumHealthCapacity written', { ...persistent, upgradeStrategy: { minimumHealthCapacity: 0 } }, { minimumHealthCapacity: 0, maximumOverCapacity: 0 }],
    ['a resident App, both written', { ...persistent, upgradeStrategy: { minimumHealthCapacity: 0.85, maximumOverCapacity: 0.15 } }, { minimumHealthCapacity: 0.85, maximumOverCapacity: 0.15 }],
    ['another App, none written', docker, { minimumHealthCapacity: 1, maximumOverCapacity: 1 }],
    ['another App, maximumOverCapacity written', { ...docker, upgradeStrategy: { maximumOverCapacity: 0 } }, { minimumHealthCapacity: 1, maximumOverCapacity: 0 }],
  ])('%s', (_, spec, expected) => {
    const parsed = appSpecSchema.parse(spec);
    expect(parsed.upgradeStrategy).toEqual(expected);
    // The same from the spec as written (upgradeStrategy absent or partial) as from the parsed one.
    expect(upgradeStrategyOf(spec as Parameters<typeof upgradeStrategyOf>[0])).toEqual(expected);
    expect(upgradeStrategyOf(parsed)).toEqual(expected);
  });

  it('stores a non-resident App as before: upgradeStrategy in its place among the keys, 1/1', () => {
    const stored = JSON.stringify(appSpecSchema.parse(docker));
    expect(Object.keys(JSON.parse(stored))).toEqual([
      'instances', 'driver', 'containers', 'ports', 'constraints', 'healthChecks', 'readinessChecks', 'upgradeStrategy', 'progressDeadlineSeconds',
      'revisionHistoryLimit', 'backoffSeconds', 'backoffFactor', 'maxLaunchDelaySeconds', 'killSelection', 'taskKillGracePeriodSeconds',
      'drainTimeoutSeconds', 'unreachableStrategy', 'dependencies', 'volumes',
    ]);
    expect(stored).toContain('"upgradeStrategy":{"minimumHealthCapacity":1,"maximumOverCapacity":1}');
  });

  it('parses its own stored form to the same value (a re-read keeps a resident App at 0.5/0)', () => {
    const once = appSpecSchema.parse(persistent);
    expect(appSpecSchema.parse(once)).toEqual(once);
  });
});

describe('the repository manifests', () => {
  const root = join(import.meta.dirname, '..', '..', 'manifests');
  const yamlFiles = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? yamlFiles(join(dir, e.name)) : /\.ya?ml$/.test(e.name) ? [join(dir, e.name)] : []));
  it.each(yamlFiles(root).map((file) => [file.slice(root.length + 1), file]))('%s validates', async (_, file) => {
    const parsed = parseManifests(readFileSync(file, 'utf8'), file);
    const validation = await validateDocuments(parsed.documents, builtinRegistry());
    expect([...parsed.problems, ...validation.problems]).toEqual([]);
    expect(validation.objects.length).toBeGreaterThan(0);
  });
});

describe('service ports across the cluster', () => {
  const reader = (items: AnyObject[]): StoreReader => ({ list: async (kind) => ({ items: items.filter((o) => o.kind === kind) }) });
  const withServicePort = (servicePort: number) => ({ ...docker, ports: [{ name: 'http', servicePort }] });

  it('names the other App that uses the same service port', async () => {
    const other = app(withServicePort(10004), 'api', 'billing');
    const problems = await checkServicePorts(app(withServicePort(10004)), reader([other]));
    expect(problems).toEqual([
      { path: ['spec', 'ports', 0, 'servicePort'], expected: 'a servicePort no other App uses', found: '10004, used by App billing/api' },
    ]);
  });

  it('does not count the App itself (a re-apply)', async () => {
    expect(await checkServicePorts(app(withServicePort(10004)), reader([app(withServicePort(10004))]))).toEqual([]);
  });

  it('names the App holding a service port the system allocated it (from its Endpoints)', async () => {
    const endpoints: AnyObject = { apiVersion: 'capstan/v1', kind: 'Endpoints', metadata: { name: 'api', namespace: 'billing' }, spec: { app: 'api', ports: [{ index: 0, servicePort: 10004, protocol: 'tcp', addresses: [] }] } };
    const problems = await checkServicePorts(app(withServicePort(10004)), reader([endpoints]));
    expect(problems.map((p) => p.found)).toEqual(['10004, used by App billing/api']);
  });

  it('finds an App of the same name in another namespace', async () => {
    expect(await checkServicePorts(app(withServicePort(10004)), reader([app(withServicePort(10004), 'web', 'other')]))).toHaveLength(1);
  });
});

describe('App columns', () => {
  it('shows counts from status and the driver and image when wide', () => {
    const object = { ...app(docker), status: { phase: 'Deploying', reason: 'RolloutInProgress', running: 2, healthy: 1, ready: 1, currentRevision: 3 } };
    const row = Object.fromEntries((appKind.columns ?? []).map((c) => [c.header, c.value(object)]));
    expect(row).toMatchObject({ STATUS: 'Deploying', RUNNING: '2 of 1', HEALTHY: '1 of 1', READY: '1', REVISION: '3', REASON: 'RolloutInProgress', DRIVER: 'docker', IMAGE: 'local/busybox:1' });
  });

  it('shows dashes before any controller wrote status', () => {
    const row = Object.fromEntries((appKind.columns ?? []).map((c) => [c.header, c.value(app(docker))]));
    expect(row).toMatchObject({ STATUS: 'Unknown', RUNNING: '- of 1', HEALTHY: '- of 1', AVAILABLE: 'Unknown' });
  });
});

// Type-level: the exported spec type is what controllers read.
const _typed: AppSpec['killSelection'] = 'OLDEST_FIRST';
void _typed;
