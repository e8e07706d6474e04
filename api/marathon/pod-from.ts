// A Marathon pod definition → a Capstan App with several containers (DESIGN.md: one App is an app or
// a pod). A container with an image runs under Docker, one without as a process, as Marathon's pods
// do; endpoints become the App's ports (PORT_<NAME> in every container), the pod's environment is
// given to each container, and the scheduling block is the App's own fields. What a pod can say and
// Capstan cannot honour is a problem at its path, as for apps (fields.ts).
import { API_VERSION } from '../object.ts';
import type { AnyObject } from '../object.ts';
import { MARATHON_ENDPOINTS_ANNOTATION, MARATHON_ID_ANNOTATION, MARATHON_POD_ANNOTATION } from './annotations.ts';
import { checkAgainstKind, checkEnv, readId, readLabels, readUnreachableStrategy, say as appSay } from './app.ts';
import type { AppFromMarathonOptions, AppTranslation } from './app.ts';
import { checkFields, isFalse } from './fields.ts';
import type { FieldRule } from './fields.ts';
import { isRecord, isUnset, Translation } from './problems.ts';
import type { Path } from './problems.ts';

const say = {
  containers: 'a list of at least one container',
  imageKind: 'DOCKER: Capstan runs images under Docker',
  command: 'exec.command with shell (run by /bin/sh -c) or argv',
  overrideEntrypoint: 'overrideEntrypoint true with a shell command (Capstan runs it by /bin/sh -c in place of the entrypoint), false or absent with argv (given to the entrypoint)',
  endpointProtocol: 'one protocol, ["tcp"] or ["udp"]: a Capstan port has one (declare two endpoints for both)',
  containerPort: (name: unknown) =>
    `no containerPort (or one equal to a fixed hostPort): Capstan runs every task on its node's network, so endpoint ${String(name)} is reached at its host port ($PORT_<NAME>), where the container must listen`,
  networks: 'no networks, or one of mode "host" or "container/bridge": Capstan runs tasks on their node\'s network, with no IP address per task',
  volume: 'a volume with no source (ephemeral), host or persistent: Capstan has no secret volumes',
  scalingKind: 'fixed: Capstan scales to the instances given',
  healthCheck: 'one of http, tcp or exec',
  execArgv: 'exec.command.shell: Capstan runs a command check by /bin/sh -c',
  killGrace: 'the same killGracePeriodSeconds in every container: Capstan stops a task\'s containers together',
  constraint: 'a constraint: {fieldName, operator, value} or [field, OPERATOR, value]',
  labels: 'Capstan has no labels per container: put them in the pod\'s labels',
  executorResources: 'Capstan\'s node agent runs no executor, so it reserves nothing for one',
  maxInstances: 'Capstan does not autoscale: scaling.instances is the count',
  artifacts: appSay.fetch,
  user: appSay.user,
  secrets: appSay.secrets,
  tty: appSay.tty,
  roles: appSay.resourceRoles,
};

/** Marathon's default executor resources, which a pod read back from Marathon carries. */
export const DEFAULT_EXECUTOR = { cpus: 0.1, mem: 32, disk: 10 };

const POD_RULES: Readonly<Record<string, FieldRule>> = {
  id: 'read',
  labels: 'read',
  environment: 'read',
  containers: 'read',
  volumes: 'read',
  networks: 'read',
  scaling: 'read',
  scheduling: 'read',
  version: 'ignored',
  versionInfo: 'ignored',
  status: 'ignored',
  instances: 'ignored',
  secrets: { why: say.secrets },
  user: { why: say.user },
  executorResources: {
    why: say.executorResources,
    accepts: (v) => isUnset(v) || (isRecord(v) && v.cpus === DEFAULT_EXECUTOR.cpus && v.mem === DEFAULT_EXECUTOR.mem && v.disk === DEFAULT_EXECUTOR.disk),
  },
  role: { why: appSay.role, accepts: (v) => isUnset(v) || v === '*' },
  linuxInfo: { why: appSay.linuxInfo },
  legacySharedCgroups: { why: appSay.resourceLimits, accepts: isFalse },
};
const CONTAINER_RULES: Readonly<Record<string, FieldRule>> = {
  name: 'read',
  exec: 'read',
  resources: 'read',
  endpoints: 'read',
  image: 'read',
  environment: 'read',
  healthCheck: 'read',
  volumeMounts: 'read',
  lifecycle: 'read',
  artifacts: { why: say.artifacts },
  labels: { why: say.labels },
  user: { why: say.user },
  tty: { why: say.tty, accepts: isFalse },
  interactive: { why: say.tty, accepts: isFalse },
  check: { why: appSay.check },
  secret: { why: say.secrets },
  linuxInfo: { why: appSay.linuxInfo },
  resourceLimits: { why: appSay.resourceLimits },
};
const EXEC_RULES: Readonly<Record<string, FieldRule>> = { command: 'read', overrideEntrypoint: 'read' };
const IMAGE_RULES: Readonly<Record<string, FieldRule>> = {
  kind: 'read',
  id: 'read',
  forcePull: { why: appSay.forcePull, accepts: isFalse },
  pullConfig: { why: appSay.credential },
  labels: { why: say.labels },
};
const ENDPOINT_RULES: Readonly<Record<string, FieldRule>> = {
  name: 'read',
  containerPort: 'read',
  hostPort: 'read',
  protocol: 'read',
  labels: 'read',
  networkNames: { why: 'Capstan has no container networks' },
};
const HEALTH_RULES: Readonly<Record<string, FieldRule>> = {
  http: 'read',
  tcp: 'read',
  exec: 'read',
  gracePeriodSeconds: 'read',
  intervalSeconds: 'read',
  maxConsecutiveFailures: 'read',
  timeoutSeconds: 'read',
  delaySeconds: 'read',
};
const VOLUME_RULES: Readonly<Record<string, FieldRule>> = { name: 'read', host: 'read', persistent: 'read', secret: { why: say.secrets } };
const PERSISTENT_RULES: Readonly<Record<string, FieldRule>> = {
  size: 'read',
  type: { why: 'Capstan\'s persistent volumes are directories of the node\'s data root', accepts: (v) => v === undefined || v === 'root' },
  maxSize: { why: 'a Capstan persistent volume has one size', accepts: (v) => v === undefined || v === null },
  profileName: { why: 'Capstan has no disk profiles', accepts: (v) => v === undefined || v === null },
  constraints: { why: 'Capstan places persistent volumes on the node of their task, without disk constraints' },
};
const SCALING_RULES: Readonly<Record<string, FieldRule>> = { kind: 'read', instances: 'read', maxInstances: { why: say.maxInstances, accepts: (v) => v === undefined || v === null } };
const SCHEDULING_RULES: Readonly<Record<string, FieldRule>> = { backoff: 'read', upgrade: 'read', placement: 'read', killSelection: 'read', unreachableStrategy: 'read' };
const BACKOFF_RULES: Readonly<Record<string, FieldRule>> = { backoff: 'read', backoffFactor: 'read', maxLaunchDelay: 'read' };
const PLACEMENT_RULES: Readonly<Record<string, FieldRule>> = {
  constraints: 'read',
  acceptedResourceRoles: { why: say.roles, accepts: (v) => isUnset(v) || (Array.isArray(v) && v.length === 1 && v[0] === '*') },
};

/** A Marathon pod definition → a Capstan App (one container per pod container). */
export function podFromMarathon(json: unknown, options: AppFromMarathonOptions = {}): AppTranslation {
  const t = new Translation(options.path ?? []);
  if (!checkFields(t, json, [], 'pod', POD_RULES)) return { problems: t.problems };
  const id = readId(t, json.id, options.groupId ?? '/');
  const bridged = readNetworks(t, json.networks);
  const podEnv = readEnvironment(t, json.environment, ['environment']);
  const read = readList(t, json.containers, ['containers'], say.containers).map((value, i) => readPodContainer(t, value, i, { bridged, podEnv }));
  // Each endpoint becomes a port of the App, numbered across the containers in order.
  const ports = read.flatMap((r) => r?.ports ?? []);
  const spec: Record<string, unknown> = {
    driver: 'docker',
    containers: read.flatMap((r) => (r ? [r.container] : [])),
    ports: ports.map((p) => p.port),
    healthChecks: read.flatMap((r) => (r?.check ? [r.check] : [])),
    volumes: readVolumes(t, json.volumes),
    ...readScaling(t, json.scaling),
    ...readScheduling(t, json.scheduling),
    ...killGracePeriod(t, read),
  };
  traceEndpoints(t, ports);
  traceHealthChecks(t, read);
  t.from(['spec', 'containers'], ['containers']);
  for (const field of ['metadata', 'spec']) t.from([field], ['id']);
  if (id === undefined) return { problems: t.problems };

  const annotations: Record<string, string> = { [MARATHON_ID_ANNOTATION]: id.id, [MARATHON_POD_ANNOTATION]: 'true' };
  const owners = Object.fromEntries(ports.flatMap((p) => (typeof p.port.name === 'string' ? [[p.port.name, p.container]] : [])));
  if (Object.keys(owners).length) annotations[MARATHON_ENDPOINTS_ANNOTATION] = JSON.stringify(owners);
  const metadata: Record<string, unknown> = { name: id.name, namespace: id.namespace, annotations };
  const labels = readLabels(t, json.labels, ['labels']);
  if (labels) metadata.labels = labels;
  const app: AnyObject = { apiVersion: API_VERSION, kind: 'App', metadata: metadata as unknown as AnyObject['metadata'], spec };
  if (t.problems.length === 0) checkAgainstKind(t, app);
  return { app, problems: t.problems, origin: t.origin };
}

interface Endpoint {
  port: Record<string, unknown>;
  /** The declaring container's name. */
  container: unknown;
  /** Its Marathon path. */
  at: Path;
}

interface PodContainerReading {
  container: Record<string, unknown>;
  ports: Endpoint[];
  check?: Record<string, unknown>;
  /** Its Marathon path. */
  checkAt: Path;
  /** lifecycle.killGracePeriodSeconds, when given. */
  grace?: unknown;
}

/** One pod container; undefined when it is no object. */
function readPodContainer(t: Translation, value: unknown, i: number, pod: { bridged: boolean; podEnv: Record<string, unknown> }): PodContainerReading | undefined {
  const at: Path = ['containers', i];
  if (!checkFields(t, value, at, 'pod container', CONTAINER_RULES)) return undefined;
  const container: Record<string, unknown> = { name: value.name };
  const image = readImage(t, value.image, [...at, 'image']);
  if (image !== undefined) container.image = image;
  Object.assign(container, readExec(t, value.exec, [...at, 'exec'], image !== undefined));
  container.env = { ...pod.podEnv, ...readEnvironment(t, value.environment, [...at, 'environment']) };
  if (value.resources !== undefined) container.resources = value.resources;
  container.volumeMounts = value.volumeMounts ?? [];
  const target = ['spec', 'containers', i];
  t.from(target, at);
  for (const [field, from] of [['name', 'name'], ['image', 'image'], ['cmd', 'exec'], ['args', 'exec'], ['env', 'environment'], ['resources', 'resources'], ['volumeMounts', 'volumeMounts']]) {
    t.from([...target, field!], [...at, from!]);
  }
  if (Array.isArray(value.volumeMounts)) value.volumeMounts.forEach((_, m) => t.from([...target, 'volumeMounts', m], [...at, 'volumeMounts', m]));
  const ports = readEndpoints(t, value.endpoints, [...at, 'endpoints'], pod.bridged).map((endpoint) => ({ ...endpoint, container: value.name }));
  const checkAt = [...at, 'healthCheck'];
  const check = readHealthCheck(t, value.healthCheck, checkAt, value.name);
  const reading: PodContainerReading = { container, ports, checkAt, ...(check ? { check } : {}) };
  if (isRecord(value.lifecycle) && checkFields(t, value.lifecycle, [...at, 'lifecycle'], 'lifecycle', { killGracePeriodSeconds: 'read' })) {
    if (value.lifecycle.killGracePeriodSeconds !== undefined) reading.grace = value.lifecycle.killGracePeriodSeconds;
  }
  return reading;
}

/** One kill grace period for the task: its containers stop together, so they must agree. */
function killGracePeriod(t: Translation, read: readonly (PodContainerReading | undefined)[]): { taskKillGracePeriodSeconds?: unknown } {
  const given = read.flatMap((r, i) => (r?.grace !== undefined ? [{ grace: r.grace, at: ['containers', i, 'lifecycle', 'killGracePeriodSeconds'] }] : []));
  if (given.length === 0) return {};
  for (const other of given.slice(1)) if (other.grace !== given[0]!.grace) t.problem(other.at, say.killGrace, other.grace);
  t.from(['spec', 'taskKillGracePeriodSeconds'], given[0]!.at);
  return { taskKillGracePeriodSeconds: given[0]!.grace };
}

function traceEndpoints(t: Translation, ports: readonly Endpoint[]): void {
  ports.forEach((p, index) => {
    t.from(['spec', 'ports', index], p.at);
    for (const name of ['name', 'hostPort', 'labels']) t.from(['spec', 'ports', index, name], [...p.at, name]);
  });
}

const CHECK_TIMINGS = ['gracePeriodSeconds', 'intervalSeconds', 'maxConsecutiveFailures', 'timeoutSeconds', 'delaySeconds'];

/** Where each field of a translated check was written in the pod container's healthCheck. */
const CHECK_ORIGINS: Readonly<Record<string, [string, Path][]>> = {
  HTTP: [['protocol', ['http', 'scheme']], ['portName', ['http', 'endpoint']], ['path', ['http', 'path']]],
  HTTPS: [['protocol', ['http', 'scheme']], ['portName', ['http', 'endpoint']], ['path', ['http', 'path']]],
  TCP: [['portName', ['tcp', 'endpoint']]],
  COMMAND: [['command', ['exec', 'command']]],
};

function traceHealthChecks(t: Translation, read: readonly (PodContainerReading | undefined)[]): void {
  const checks = read.flatMap((r) => (r?.check ? [{ check: r.check, at: r.checkAt }] : []));
  checks.forEach(({ check, at }, index) => {
    const target = ['spec', 'healthChecks', index];
    t.from(target, at);
    for (const field of CHECK_TIMINGS) t.from([...target, field], [...at, field]);
    for (const [field, from] of CHECK_ORIGINS[String(check.protocol)] ?? []) t.from([...target, field], [...at, ...from]);
  });
}

function readList(t: Translation, value: unknown, at: Path, expected: string): unknown[] {
  if (Array.isArray(value) && value.length > 0) return value;
  t.problem(at, expected, value);
  return [];
}

/** True for a bridge network (endpoints then need the host-port rule), false for the host's. */
function readNetworks(t: Translation, value: unknown): boolean {
  if (isUnset(value)) return false;
  if (!Array.isArray(value) || value.length !== 1 || !isRecord(value[0])) {
    t.problem(['networks'], say.networks, value);
    return false;
  }
  checkFields(t, value[0], ['networks', 0], 'network', { mode: 'read', name: { why: 'Capstan has no named networks' }, labels: 'read' });
  const mode = value[0].mode ?? 'host';
  if (mode !== 'host' && mode !== 'container/bridge') t.problem(['networks', 0, 'mode'], say.networks, mode);
  return mode === 'container/bridge';
}

function readEnvironment(t: Translation, value: unknown, at: Path): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (!isRecord(value)) {
    t.problem(at, appSay.envObject, value);
    return {};
  }
  checkEnv(t, value, at);
  return { ...value };
}

function readImage(t: Translation, value: unknown, at: Path): unknown {
  if (value === undefined || value === null) return undefined;
  if (!checkFields(t, value, at, 'image', IMAGE_RULES)) return undefined;
  if ((value.kind ?? 'DOCKER') !== 'DOCKER') t.problem([...at, 'kind'], say.imageKind, value.kind);
  return value.id;
}

function readExec(t: Translation, value: unknown, at: Path, hasImage: boolean): Record<string, unknown> {
  if (value === undefined || value === null) {
    if (!hasImage) t.problem(at, say.command, value);
    return {};
  }
  if (!checkFields(t, value, at, 'exec', EXEC_RULES)) return {};
  const command = value.command;
  if (!isRecord(command) || (command.shell === undefined) === (command.argv === undefined)) {
    t.problem([...at, 'command'], say.command, command);
    return {};
  }
  const shell = command.shell !== undefined;
  const override = value.overrideEntrypoint;
  if (override !== undefined && override !== shell) t.problem([...at, 'overrideEntrypoint'], say.overrideEntrypoint, override);
  return shell ? { cmd: command.shell } : { args: command.argv };
}

function readEndpoints(t: Translation, value: unknown, at: Path, bridged: boolean): { port: Record<string, unknown>; at: Path }[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    t.problem(at, 'a list of endpoints', value);
    return [];
  }
  return value.flatMap((endpoint: unknown, i) => {
    const field = [...at, i];
    if (!checkFields(t, endpoint, field, 'endpoint', ENDPOINT_RULES)) return [];
    const hostPort = endpoint.hostPort ?? 0;
    const containerPort = endpoint.containerPort;
    if (containerPort !== undefined && containerPort !== 0 && (!bridged || containerPort !== hostPort)) {
      t.problem([...field, 'containerPort'], say.containerPort(endpoint.name), containerPort);
      return [];
    }
    const protocols = endpoint.protocol ?? ['tcp'];
    if (!Array.isArray(protocols) || protocols.length !== 1) {
      t.problem([...field, 'protocol'], say.endpointProtocol, protocols);
      return [];
    }
    const port: Record<string, unknown> = { name: endpoint.name, hostPort, protocol: protocols[0] };
    if (!isUnset(endpoint.labels)) port.labels = endpoint.labels;
    return [{ port, at: field }];
  });
}

function readHealthCheck(t: Translation, value: unknown, at: Path, container: unknown): Record<string, unknown> | undefined {
  if (value === undefined || value === null) return undefined;
  if (!checkFields(t, value, at, 'health check', HEALTH_RULES)) return undefined;
  const kinds = (['http', 'tcp', 'exec'] as const).filter((kind) => value[kind] !== undefined);
  if (kinds.length !== 1) {
    t.problem(at, say.healthCheck, kinds);
    return undefined;
  }
  const kind = kinds[0]!;
  const probe = value[kind];
  const out: Record<string, unknown> = {};
  if (kind === 'http') {
    if (!checkFields(t, probe, [...at, 'http'], 'http check', { endpoint: 'read', path: 'read', scheme: 'read' })) return undefined;
    Object.assign(out, { protocol: probe.scheme ?? 'HTTP', portName: probe.endpoint });
    if (probe.path !== undefined) out.path = probe.path;
  } else if (kind === 'tcp') {
    if (!checkFields(t, probe, [...at, 'tcp'], 'tcp check', { endpoint: 'read' })) return undefined;
    Object.assign(out, { protocol: 'TCP', portName: probe.endpoint });
  } else {
    if (!checkFields(t, probe, [...at, 'exec'], 'exec check', { command: 'read' })) return undefined;
    const command = isRecord(probe.command) ? probe.command : {};
    if (command.shell === undefined) {
      t.problem([...at, 'exec', 'command'], say.execArgv, probe.command);
      return undefined;
    }
    Object.assign(out, { protocol: 'COMMAND', command: command.shell });
  }
  out.container = container;
  for (const field of CHECK_TIMINGS) if (value[field] !== undefined) out[field] = value[field];
  return out;
}

function readVolumes(t: Translation, value: unknown): Record<string, unknown>[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    t.problem(['volumes'], 'a list of volumes', value);
    return [];
  }
  return value.flatMap((volume: unknown, i): Record<string, unknown>[] => {
    const at: Path = ['volumes', i];
    if (!checkFields(t, volume, at, 'volume', VOLUME_RULES)) return [];
    t.from(['spec', 'volumes', i], at);
    t.from(['spec', 'volumes', i, 'name'], [...at, 'name']);
    if (volume.secret !== undefined) return [];
    if (volume.host !== undefined && volume.persistent === undefined) return [{ name: volume.name, hostPath: { path: volume.host } }];
    if (volume.persistent !== undefined && volume.host === undefined) {
      if (!checkFields(t, volume.persistent, [...at, 'persistent'], 'persistent volume', PERSISTENT_RULES)) return [];
      t.from(['spec', 'volumes', i, 'persistent', 'size'], [...at, 'persistent', 'size']);
      return [{ name: volume.name, persistent: { size: volume.persistent.size } }];
    }
    if (volume.host === undefined) return [{ name: volume.name, ephemeral: {} }];
    t.problem(at, say.volume, volume);
    return [];
  });
}

function readScaling(t: Translation, value: unknown): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (!checkFields(t, value, ['scaling'], 'scaling', SCALING_RULES)) return {};
  if ((value.kind ?? 'fixed') !== 'fixed') t.problem(['scaling', 'kind'], say.scalingKind, value.kind);
  t.from(['spec', 'instances'], ['scaling', 'instances']);
  return value.instances === undefined ? {} : { instances: value.instances };
}

function readScheduling(t: Translation, value: unknown): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (!checkFields(t, value, ['scheduling'], 'scheduling', SCHEDULING_RULES)) return {};
  const out: Record<string, unknown> = {};
  if (value.backoff !== undefined && checkFields(t, value.backoff, ['scheduling', 'backoff'], 'backoff', BACKOFF_RULES)) {
    const names = { backoff: 'backoffSeconds', backoffFactor: 'backoffFactor', maxLaunchDelay: 'maxLaunchDelaySeconds' } as const;
    for (const [from, to] of Object.entries(names)) {
      if (value.backoff[from] === undefined) continue;
      out[to] = value.backoff[from];
      t.from(['spec', to], ['scheduling', 'backoff', from]);
    }
  }
  if (value.upgrade !== undefined) {
    out.upgradeStrategy = value.upgrade;
    t.from(['spec', 'upgradeStrategy'], ['scheduling', 'upgrade']);
  }
  if (value.placement !== undefined && checkFields(t, value.placement, ['scheduling', 'placement'], 'placement', PLACEMENT_RULES)) {
    out.constraints = readConstraints(t, value.placement.constraints);
  }
  if (value.killSelection !== undefined) {
    out.killSelection = value.killSelection;
    t.from(['spec', 'killSelection'], ['scheduling', 'killSelection']);
  }
  return { ...out, ...readUnreachableStrategy(t, value.unreachableStrategy, ['scheduling', 'unreachableStrategy']) };
}

/** Pods write constraints as objects ({fieldName, operator, value}); arrays are read as apps write them. */
function readConstraints(t: Translation, value: unknown): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    t.problem(['scheduling', 'placement', 'constraints'], say.constraint, value);
    return [];
  }
  return value.flatMap((constraint: unknown, i) => {
    const at: Path = ['scheduling', 'placement', 'constraints', i];
    t.from(['spec', 'constraints', i], at);
    if (Array.isArray(constraint)) return [constraint];
    if (!checkFields(t, constraint, at, 'constraint', { fieldName: 'read', operator: 'read', value: 'read' })) return [];
    return [constraint.value === undefined || constraint.value === null ? [constraint.fieldName, constraint.operator] : [constraint.fieldName, constraint.operator, constraint.value]];
  });
}
