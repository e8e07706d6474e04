// The App's rules that span fields (checkApp, the kind's `check`) and Apps (checkAppAgainstStore,
// its `checkAgainstStore`): what the schema in app.ts cannot say field by field. Each problem names
// the field path, what was expected and what was found; the wording lives in EXPECTED below. Also
// parseDependency, the reading of a dependency that the rollout controller shares.
import { checkDnsLabel, DEFAULT_NAMESPACE, parseRefKey, refKey } from '../object.ts';
import type { AnyObject } from '../object.ts';
import { checkConstraint } from '../constraints/check.ts';
import { containerRuntime } from './app.ts';
import type { AppSpec, Container, ContainerRuntime } from './app.ts';
import type { FieldProblem, StoreReader } from './registry.ts';

const EXPECTED = {
  oneOfCmdArgs: 'exactly one of cmd or args for a process container',
  atMostOneOfCmdArgs: 'at most one of cmd or args',
  relativeMountPath: 'a path relative to the task sandbox in a process container (e.g. "data", as Marathon\'s containerPath)',
  absoluteMountPath: 'an absolute path inside the container in a Docker container, starting with "/"',
  noDotDot: 'a mount path without ".." segments',
  notRoot: (runtime: ContainerRuntime) => (runtime === 'process' ? 'a directory inside the task sandbox, not the sandbox itself' : 'a directory inside the container, not its root'),
  uniqueMountPath: 'a mountPath used once in this container',
  declaredContainer: (names: string[]) => `the name of a container of this App (${names.join(', ')})`,
  uniqueContainerName: 'a container name unique in this App',
  uniquePortName: 'a port name unique in this App',
  uniqueHostPort: 'a fixed hostPort used by one port only',
  uniqueVolumeName: 'a volume name unique in this App',
  declaredVolume: (names: string[]) =>
    names.length ? `the name of a declared volume (${names.join(', ')})` : 'the name of a volume declared in spec.volumes (there are none)',
  oneVolumeSource: 'exactly one of persistent, hostPath or ephemeral',
  portIndex: (count: number) =>
    count ? `a port index from 0 to ${count - 1}` : 'no port index: the App declares no ports (add spec.ports)',
  portName: (names: string[], count: number) =>
    names.length
      ? `the name of a declared port (${names.join(', ')})`
      : count
        ? 'the name of a declared port (no port has a name: add one)'
        : 'the name of a declared port (the App declares no ports: add spec.ports)',
  portIndexOrName: 'portIndex or portName, not both',
  readinessTimeout: (interval: number) => `a timeoutSeconds below intervalSeconds (${interval})`,
  healthTimeout: (interval: number) => `a timeoutSeconds not above intervalSeconds (${interval})`,
  expungeAfterInactive: (inactive: number) => `an expungeAfterSeconds of at least inactiveAfterSeconds (${inactive})`,
  dependency: 'an App name, or namespace/name, each a DNS label',
  notSelf: 'a dependency on another App, not on itself',
  uniqueServicePort: 'a servicePort no other App uses',
  noCycle: 'dependencies without a cycle (an App cannot wait, through others, for itself)',
} as const;

type Path = (string | number)[];

/** `reads`: the other fields the finding rests on (see FieldProblem). */
function problem(path: Path, expected: string, found: string, reads?: Path[]): FieldProblem {
  return reads ? { path, expected, found, reads } : { path, expected, found };
}

const DRIVER: Path = ['spec', 'driver'];
const PORTS: Path = ['spec', 'ports'];
const VOLUMES: Path = ['spec', 'volumes'];

function checkContainers(spec: AppSpec): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const volumeNames = spec.volumes.map((v) => v.name);
  const seen = new Set<string>();
  spec.containers.forEach((container, i) => {
    const at: Path = ['spec', 'containers', i];
    if (seen.has(container.name)) problems.push(problem([...at, 'name'], EXPECTED.uniqueContainerName, `"${container.name}" again`));
    seen.add(container.name);
    const runtime = containerRuntime(spec, container);
    // What the container's runtime rests on: the App's driver and the container's image.
    const runtimeReads: Path[] = [DRIVER, [...at, 'image']];
    problems.push(...checkCommand(runtime, container, at, runtimeReads));
    const mountPaths = new Set<string>();
    container.volumeMounts.forEach((mount, m) => {
      const mountAt: Path = [...at, 'volumeMounts', m];
      if (!volumeNames.includes(mount.name)) {
        problems.push(problem([...mountAt, 'name'], EXPECTED.declaredVolume(volumeNames), `"${mount.name}"`, [VOLUMES]));
      }
      const pathProblem = checkMountPath(runtime, mount.mountPath);
      if (pathProblem) problems.push(problem([...mountAt, 'mountPath'], pathProblem, `"${mount.mountPath}"`, runtimeReads));
      else if (mountPaths.has(mount.mountPath)) problems.push(problem([...mountAt, 'mountPath'], EXPECTED.uniqueMountPath, `"${mount.mountPath}" again`));
      mountPaths.add(mount.mountPath);
    });
  });
  return problems;
}

// A process has nothing to run but its command; a docker container may fall back to its image's.
function checkCommand(runtime: ContainerRuntime, container: Container, at: Path, runtimeReads: Path[]): FieldProblem[] {
  const hasCmd = container.cmd !== undefined;
  const hasArgs = container.args !== undefined;
  const reads = [...runtimeReads, [...at, 'args']];
  if (hasCmd && hasArgs) return [problem([...at, 'cmd'], runtime === 'process' ? EXPECTED.oneOfCmdArgs : EXPECTED.atMostOneOfCmdArgs, 'both', reads)];
  if (runtime === 'process' && !hasCmd && !hasArgs) return [problem([...at, 'cmd'], EXPECTED.oneOfCmdArgs, 'neither', reads)];
  return [];
}

/**
 * Marathon's forms: a process container sees a volume at a directory of its sandbox (`data`), a
 * Docker container at an absolute path of its filesystem. Neither may climb out with `..`: a process
 * container's mount would land outside its sandbox. What is expected, or null.
 */
function checkMountPath(runtime: ContainerRuntime, mountPath: string): string | null {
  const segments = mountPath.split('/');
  if (segments.includes('..')) return EXPECTED.noDotDot;
  if (segments.every((segment) => segment === '' || segment === '.')) return EXPECTED.notRoot(runtime);
  const absolute = mountPath.startsWith('/');
  if (runtime === 'process' && absolute) return EXPECTED.relativeMountPath;
  if (runtime === 'docker' && !absolute) return EXPECTED.absoluteMountPath;
  return null;
}

function checkPorts(spec: AppSpec): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const names = new Set<string>();
  const hostPorts = new Set<number>();
  spec.ports.forEach((p, i) => {
    if (p.name !== undefined) {
      if (names.has(p.name)) problems.push(problem(['spec', 'ports', i, 'name'], EXPECTED.uniquePortName, `"${p.name}" again`));
      names.add(p.name);
    }
    if (p.hostPort !== 0) {
      if (hostPorts.has(p.hostPort)) problems.push(problem(['spec', 'ports', i, 'hostPort'], EXPECTED.uniqueHostPort, `${p.hostPort} again`));
      hostPorts.add(p.hostPort);
    }
  });
  return problems;
}

/** A network check's port: an index into spec.ports or the name of one of them. */
function checkPortReference(spec: AppSpec, ref: { portIndex?: number; portName?: string }, at: Path): FieldProblem[] {
  const portNames = spec.ports.flatMap((p) => (p.name ? [p.name] : []));
  if (ref.portIndex !== undefined && ref.portName !== undefined) return [problem([...at, 'portName'], EXPECTED.portIndexOrName, 'both', [[...at, 'portIndex']])];
  if (ref.portIndex !== undefined && ref.portIndex >= spec.ports.length) {
    return [problem([...at, 'portIndex'], EXPECTED.portIndex(spec.ports.length), String(ref.portIndex), [PORTS])];
  }
  if (ref.portName !== undefined && !portNames.includes(ref.portName)) {
    return [problem([...at, 'portName'], EXPECTED.portName(portNames, spec.ports.length), `"${ref.portName}"`, [PORTS])];
  }
  return [];
}

function checkHealthChecks(spec: AppSpec): FieldProblem[] {
  const containerNames = spec.containers.map((c) => c.name);
  return spec.healthChecks.flatMap((check, i) => {
    const at: Path = ['spec', 'healthChecks', i];
    const problems = check.protocol === 'COMMAND' ? [] : checkPortReference(spec, check, at);
    if (check.container !== undefined && !containerNames.includes(check.container)) {
      problems.push(problem([...at, 'container'], EXPECTED.declaredContainer(containerNames), `"${check.container}"`, [['spec', 'containers']]));
    }
    if (check.timeoutSeconds > check.intervalSeconds) {
      problems.push(problem([...at, 'timeoutSeconds'], EXPECTED.healthTimeout(check.intervalSeconds), String(check.timeoutSeconds), [[...at, 'intervalSeconds']]));
    }
    return problems;
  });
}

function checkReadinessChecks(spec: AppSpec): FieldProblem[] {
  return spec.readinessChecks.flatMap((check, i) => {
    const at: Path = ['spec', 'readinessChecks', i];
    const problems = checkPortReference(spec, { portName: check.portName }, at);
    // Marathon's rule: a probe that may outlive its interval would overlap the next one.
    if (check.timeoutSeconds >= check.intervalSeconds) {
      problems.push(problem([...at, 'timeoutSeconds'], EXPECTED.readinessTimeout(check.intervalSeconds), String(check.timeoutSeconds), [[...at, 'intervalSeconds']]));
    }
    return problems;
  });
}

/** Each constraint's value against its operator, by Marathon's rules (api/constraints/check.ts). */
function checkConstraints(spec: AppSpec): FieldProblem[] {
  return spec.constraints.flatMap((constraint, i) => {
    const found = checkConstraint(constraint);
    return found ? [problem(['spec', 'constraints', i, found.part], found.expected, found.found)] : [];
  });
}

function checkVolumes(spec: AppSpec): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const seen = new Set<string>();
  spec.volumes.forEach((volume, i) => {
    if (seen.has(volume.name)) problems.push(problem(['spec', 'volumes', i, 'name'], EXPECTED.uniqueVolumeName, `"${volume.name}" again`));
    seen.add(volume.name);
    const sources = [volume.persistent, volume.hostPath, volume.ephemeral].filter((s) => s !== undefined).length;
    if (sources !== 1) problems.push(problem(['spec', 'volumes', i], EXPECTED.oneVolumeSource, sources === 0 ? 'none' : `${sources}`));
  });
  return problems;
}

/** A dependency is `name` (same namespace) or `namespace/name`. */
export function parseDependency(dependency: string, namespace: string): { namespace: string; name: string } | null {
  const parts = dependency.split('/');
  if (parts.length > 2 || parts.some((part) => checkDnsLabel(part) !== null)) return null;
  return parts.length === 2 ? { namespace: parts[0]!, name: parts[1]! } : { namespace, name: parts[0]! };
}

function checkDependencies(object: AnyObject, spec: AppSpec): FieldProblem[] {
  const namespace = object.metadata.namespace ?? DEFAULT_NAMESPACE;
  return spec.dependencies.flatMap((dependency, i) => {
    const ref = parseDependency(dependency, namespace);
    if (ref === null) return [problem(['spec', 'dependencies', i], EXPECTED.dependency, `"${dependency}"`)];
    if (ref.namespace === namespace && ref.name === object.metadata.name) {
      return [problem(['spec', 'dependencies', i], EXPECTED.notSelf, `"${dependency}"`)];
    }
    return [];
  });
}

function checkUnreachable(spec: AppSpec): FieldProblem[] {
  const { inactiveAfterSeconds, expungeAfterSeconds } = spec.unreachableStrategy;
  if (expungeAfterSeconds >= inactiveAfterSeconds) return [];
  const at: Path = ['spec', 'unreachableStrategy'];
  return [problem([...at, 'expungeAfterSeconds'], EXPECTED.expungeAfterInactive(inactiveAfterSeconds), String(expungeAfterSeconds), [[...at, 'inactiveAfterSeconds']])];
}

function checkLoadBalancer(spec: AppSpec): FieldProblem[] {
  const lb = spec.loadBalancer;
  if (!lb || lb.portIndex < spec.ports.length) return [];
  return [problem(['spec', 'loadBalancer', 'portIndex'], EXPECTED.portIndex(spec.ports.length), String(lb.portIndex), [PORTS])];
}

export function checkApp(object: AnyObject): FieldProblem[] {
  const spec = object.spec as AppSpec;
  return [
    ...checkContainers(spec),
    ...checkPorts(spec),
    ...checkHealthChecks(spec),
    ...checkReadinessChecks(spec),
    ...checkConstraints(spec),
    ...checkVolumes(spec),
    ...checkDependencies(object, spec),
    ...checkUnreachable(spec),
    ...checkLoadBalancer(spec),
  ];
}

/**
 * Service ports are the load balancer's listening ports, one App each across the whole cluster:
 * another App (any namespace) naming the same one, or holding it from the system's allocation (its
 * Endpoints say so), is named so the user knows whom they collide with. The endpoints controller's
 * claim (a create-if-absent key) settles what two applies racing past this check would leave.
 */
export async function checkServicePorts(object: AnyObject, store: StoreReader): Promise<FieldProblem[]> {
  const spec = object.spec as AppSpec;
  const wanted = spec.ports.map((p, i) => ({ servicePort: p.servicePort, i })).filter((p) => p.servicePort);
  if (wanted.length === 0) return [];
  const self = (namespace: string | undefined, name: string) => name === object.metadata.name && (namespace ?? DEFAULT_NAMESPACE) === (object.metadata.namespace ?? DEFAULT_NAMESPACE);
  const holders = new Map<number, string>();
  for (const other of (await store.list('App')).items) {
    if (self(other.metadata.namespace, other.metadata.name)) continue;
    for (const p of (other.spec as AppSpec).ports ?? []) if (p.servicePort) holders.set(p.servicePort, `${other.metadata.namespace ?? DEFAULT_NAMESPACE}/${other.metadata.name}`);
  }
  for (const endpoints of (await store.list('Endpoints')).items) {
    const app = (endpoints.spec as { app?: string }).app ?? endpoints.metadata.name;
    if (self(endpoints.metadata.namespace, app)) continue;
    for (const p of (endpoints.spec as { ports?: { servicePort?: number }[] }).ports ?? []) {
      if (p.servicePort && !holders.has(p.servicePort)) holders.set(p.servicePort, `${endpoints.metadata.namespace ?? DEFAULT_NAMESPACE}/${app}`);
    }
  }
  return wanted.flatMap(({ servicePort, i }) => {
    const holder = holders.get(servicePort!);
    return holder ? [problem(['spec', 'ports', i, 'servicePort'], EXPECTED.uniqueServicePort, `${servicePort}, used by App ${holder}`)] : [];
  });
}

/**
 * Dependencies form no cycle, across the input and the store (the reader overlays the one on the
 * other). Only a cycle through this App is reported here, naming every App on it, at the dependency
 * that closes it: each App of a cycle in the input gets its own problem.
 */
export async function checkDependencyCycle(object: AnyObject, store: StoreReader): Promise<FieldProblem[]> {
  const spec = object.spec as AppSpec;
  if (spec.dependencies.length === 0) return [];
  const { items } = await store.list('App');
  const keyOf = (o: AnyObject) => refKey({ namespace: o.metadata.namespace ?? DEFAULT_NAMESPACE, name: o.metadata.name });
  const edges = new Map<string, string[]>();
  for (const app of [...items, object]) {
    const namespace = app.metadata.namespace ?? DEFAULT_NAMESPACE;
    const deps = ((app.spec as Partial<AppSpec>).dependencies ?? []).flatMap((d) => {
      const ref = parseDependency(d, namespace);
      return ref ? [refKey(ref)] : [];
    });
    edges.set(keyOf(app), deps);
  }
  const start = keyOf(object);
  const namespace = object.metadata.namespace ?? DEFAULT_NAMESPACE;
  return spec.dependencies.flatMap((dependency, i) => {
    const ref = parseDependency(dependency, namespace);
    const path = ref ? pathTo(refKey(ref), start, edges) : null;
    if (!path) return [];
    const cycle = [start, ...path].map((key) => {
      const app = parseRefKey(key);
      return app.namespace === namespace ? app.name : key;
    });
    return [problem(['spec', 'dependencies', i], EXPECTED.noCycle, `the cycle ${cycle.join(' → ')}`)];
  });
}

/** A path of dependencies from `from` to `to` (both included), or null. */
function pathTo(from: string, to: string, edges: ReadonlyMap<string, string[]>): string[] | null {
  const seen = new Set<string>();
  const walk = (at: string): string[] | null => {
    if (at === to) return [at];
    if (seen.has(at)) return null;
    seen.add(at);
    for (const next of edges.get(at) ?? []) {
      const rest = walk(next);
      if (rest) return [at, ...rest];
    }
    return null;
  };
  return walk(from);
}

/** The App's rules that read the store: service ports taken by other Apps, and dependency cycles. */
export async function checkAppAgainstStore(object: AnyObject, store: StoreReader): Promise<FieldProblem[]> {
  return [...(await checkServicePorts(object, store)), ...(await checkDependencyCycle(object, store))];
}
