// A Marathon app definition ⇄ a Capstan App. appFromMarathon reads every field Marathon has: what
// Capstan honours becomes the App's spec (api/kinds/app.ts), what it cannot is a problem at its path
// saying why (fields.ts), and the read-only fields a GET returns are ignored as Marathon ignores them
// on PUT. The App is then checked by its own kind's rules, each problem shown at the Marathon field it
// came from. appToMarathon gives the App back as Marathon's GET /v2/apps/{id} shows it.
import { appKind, upgradeStrategyOf } from '../kinds/app.ts';
import type { AppSpec, AppStatus } from '../kinds/app.ts';
import { parseWith } from '../manifest/zod-problems.ts';
import { API_VERSION, DEFAULT_NAMESPACE } from '../object.ts';
import type { AnyObject, DeepReadonly } from '../object.ts';
import {
  isStringArray,
  jsonAnnotation,
  MARATHON_DEPENDENCIES_ANNOTATION,
  MARATHON_HEALTH_PROTOCOLS_ANNOTATION,
  MARATHON_ID_ANNOTATION,
} from './annotations.ts';
import { checkFields, isFalse } from './fields.ts';
import type { FieldRule } from './fields.ts';
import { healthChecksFromMarathon, healthCheckToMarathon, readinessChecksFromMarathon, readinessCheckToMarathon } from './health.ts';
import { marathonIdOf, marathonTaskIdOf, refOfMarathonId, resolveMarathonId } from './ids.ts';
import { portsFromMarathon, portsToMarathon } from './ports.ts';
import { isRecord, isUnset, Translation } from './problems.ts';
import type { MarathonProblem, Path } from './problems.ts';
import { taskToMarathon } from './task.ts';
import { versionOf } from './version.ts';

export { versionOf } from './version.ts';
import { volumesFromMarathon, volumesToMarathon } from './volumes.ts';

export const say = {
  id: 'an app id such as "/web" or "/prod/web": each segment lowercase letters, digits and "-", the name (segments after the first, joined by "-") at most 63 characters',
  dependency: 'the id of an app, absolute ("/prod/db") or relative to the app\'s group ("db", "../db")',
  image: 'an image: a DOCKER container runs one (Capstan runs a container without an image as a process, which is the MESOS type)',
  mesosImage: 'no image in a MESOS container: Capstan runs images under Docker only; set container.type to DOCKER',
  type: 'DOCKER or MESOS',
  env: 'a string (quote numbers and booleans)',
  envSecret: 'a string: Capstan has no secret store, so an environment variable cannot come from a secret',
  unreachable: 'an object {inactiveAfterSeconds, expungeAfterSeconds}: Capstan always replaces a task whose node is unreachable ("disabled" would keep it forever)',
  envObject: 'an object of environment variables',
  labels: 'an object of string labels',
  list: (what: string) => `a list of ${what}`,
  resourceRoles: 'Capstan has no Mesos roles: every node offers its resources to every App',
  ipAddress: 'Capstan gives no task an IP address of its own: tasks use their node\'s network',
  secrets: 'Capstan has no secret store',
  fetch: 'Capstan does not download artifacts into the sandbox: put them in the image, or fetch them in cmd',
  storeUrls: 'Capstan does not download artifacts',
  executor: 'Capstan\'s node agent is the only executor',
  user: 'Capstan runs a task as its image\'s user (Docker) or as the agent\'s user (process)',
  residency: 'a Capstan App with a persistent volume is resident by itself, and its tasks wait for their node',
  tty: 'Capstan attaches no terminal to a task',
  role: 'Capstan has no Mesos roles',
  check: 'Capstan has health and readiness checks, not Marathon\'s command checks',
  resourceLimits: 'Capstan limits a task to the resources it asks for',
  privileged: 'Capstan runs no privileged containers',
  parameters: 'Capstan passes no extra docker run parameters',
  forcePull: 'Capstan never pulls: each node loads its images (no registry to pull from)',
  credential: 'Capstan does not pull, so it needs no registry credential',
  linuxInfo: 'Capstan sets no Linux capabilities or seccomp profiles',
  dockerVolumes: 'Capstan reads volumes from container.volumes',
};

const APP_RULES: Readonly<Record<string, FieldRule>> = {
  id: 'read',
  cmd: 'read',
  args: 'read',
  container: 'read',
  cpus: 'read',
  mem: 'read',
  disk: 'read',
  gpus: 'read',
  instances: 'read',
  env: 'read',
  labels: 'read',
  constraints: 'read',
  healthChecks: 'read',
  readinessChecks: 'read',
  upgradeStrategy: 'read',
  dependencies: 'read',
  backoffSeconds: 'read',
  backoffFactor: 'read',
  maxLaunchDelaySeconds: 'read',
  killSelection: 'read',
  unreachableStrategy: 'read',
  taskKillGracePeriodSeconds: 'read',
  portDefinitions: 'read',
  ports: 'read',
  requirePorts: 'read',
  networks: 'read',
  // What Marathon's GET returns about the running app: clients echo it back on PUT.
  version: 'ignored',
  versionInfo: 'ignored',
  tasksRunning: 'ignored',
  tasksStaged: 'ignored',
  tasksHealthy: 'ignored',
  tasksUnhealthy: 'ignored',
  tasks: 'ignored',
  deployments: 'ignored',
  lastTaskFailure: 'ignored',
  readinessCheckResults: 'ignored',
  taskStats: 'ignored',
  counts: 'ignored',
  // Not honoured: accepted only as Marathon's default.
  acceptedResourceRoles: { why: say.resourceRoles, accepts: (v) => isUnset(v) || (Array.isArray(v) && v.length === 1 && v[0] === '*') },
  ipAddress: { why: say.ipAddress },
  secrets: { why: say.secrets },
  fetch: { why: say.fetch },
  uris: { why: say.fetch },
  storeUrls: { why: say.storeUrls },
  executor: { why: say.executor },
  user: { why: say.user },
  residency: { why: say.residency },
  tty: { why: say.tty, accepts: isFalse },
  role: { why: say.role, accepts: (v) => isUnset(v) || v === '*' },
  check: { why: say.check },
  resourceLimits: { why: say.resourceLimits },
};

const CONTAINER_RULES: Readonly<Record<string, FieldRule>> = {
  type: 'read',
  docker: 'read',
  volumes: 'read',
  portMappings: 'read',
  linuxInfo: { why: say.linuxInfo },
};

const DOCKER_RULES: Readonly<Record<string, FieldRule>> = {
  image: 'read',
  network: 'read',
  portMappings: 'read',
  privileged: { why: say.privileged, accepts: isFalse },
  parameters: { why: say.parameters },
  forcePullImage: { why: say.forcePull, accepts: isFalse },
  credential: { why: say.credential },
  pullConfig: { why: say.credential },
  volumes: { why: say.dockerVolumes },
};

export interface AppFromMarathonOptions {
  /** The enclosing group, for a relative id and relative dependencies; "/" when absent. */
  groupId?: string;
  /** Where the app sits in the document ([] for a document that is the app). */
  path?: Path;
  /**
   * Check the App against its kind's schema and rules, naming each problem by its Marathon field
   * (default true). A caller that validates the App right after anyway (POST /v2/apps) skips it, and
   * translates again with it only when its own validation finds a problem, to name the fields.
   */
  checkKind?: boolean;
}

export interface AppTranslation {
  /** The App, even when there are problems (then it must not be applied: it is what could be read). */
  app?: AnyObject;
  problems: MarathonProblem[];
  /** The Marathon path (from the document's root) a Capstan path came from, for problems found later. */
  origin?: (path: readonly (string | number)[]) => Path | undefined;
}

/** A Marathon app definition → a Capstan App manifest; problems for anything invalid or not honoured. */
export function appFromMarathon(json: unknown, options: AppFromMarathonOptions = {}): AppTranslation {
  const t = new Translation(options.path ?? []);
  if (!checkFields(t, json, [], 'app', APP_RULES)) return { problems: t.problems };
  const groupId = options.groupId ?? '/';
  const id = readId(t, json.id, groupId);
  const container = readContainer(t, json.container);
  const ports = portsFromMarathon(t, json, isRecord(json.container) ? json.container : undefined);
  const health = healthChecksFromMarathon(t, json.healthChecks, ports as { hostPort: number }[]);
  const dependencies = readDependencies(t, json.dependencies, groupId);
  const spec: Record<string, unknown> = {
    ...pick(t, json, ['instances'], ['spec']),
    driver: container.driver,
    containers: [mainContainer(t, json, container)],
    ports,
    ...pick(t, json, ['constraints', 'upgradeStrategy', 'backoffSeconds', 'backoffFactor', 'maxLaunchDelaySeconds', 'killSelection', 'taskKillGracePeriodSeconds'], ['spec']),
    healthChecks: health.checks,
    readinessChecks: readinessChecksFromMarathon(t, json.readinessChecks),
    dependencies: dependencies.refs,
    volumes: container.volumes,
    ...readUnreachableStrategy(t, json.unreachableStrategy, ['unreachableStrategy']),
  };
  t.from(['spec', 'healthChecks'], ['healthChecks']);
  t.from(['spec', 'dependencies'], ['dependencies']);
  t.from(['spec', 'volumes'], ['container', 'volumes']);
  t.from(['spec', 'driver'], ['container', 'type']);
  for (const field of ['metadata', 'spec']) t.from([field], ['id']);
  if (id === undefined) return { problems: t.problems };

  const annotations: Record<string, string> = { [MARATHON_ID_ANNOTATION]: id.id };
  if (dependencies.written.length) annotations[MARATHON_DEPENDENCIES_ANNOTATION] = JSON.stringify(dependencies.written);
  if (health.protocols.some((p) => p.startsWith('MESOS_'))) annotations[MARATHON_HEALTH_PROTOCOLS_ANNOTATION] = JSON.stringify(health.protocols);
  const metadata: Record<string, unknown> = { name: id.name, namespace: id.namespace, annotations };
  const labels = readLabels(t, json.labels, ['labels']);
  if (labels) metadata.labels = labels;
  t.from(['metadata', 'labels'], ['labels']);
  const app: AnyObject = { apiVersion: API_VERSION, kind: 'App', metadata: metadata as unknown as AnyObject['metadata'], spec };
  if (t.problems.length === 0 && options.checkKind !== false) checkAgainstKind(t, app);
  return { app, problems: t.problems, origin: t.origin };
}

/**
 * The App spec fields Marathon's JSON has no word for. A Marathon write (POST/PUT of an app, a group,
 * a pod) to an existing App keeps their live values (withCapstanOnlyFields): without that, changing an
 * app through a Marathon client would quietly reset what was set in Capstan's own terms.
 */
export const CAPSTAN_ONLY_APP_FIELDS = ['progressDeadlineSeconds', 'revisionHistoryLimit', 'drainTimeoutSeconds', 'loadBalancer'] as const;

/** `app` (translated from Marathon JSON) with the live App's CAPSTAN_ONLY_APP_FIELDS that it leaves unset. */
export function withCapstanOnlyFields(app: AnyObject, live: DeepReadonly<AnyObject> | undefined): AnyObject {
  if (!live || app.kind !== 'App') return app;
  const spec = { ...(app.spec as Record<string, unknown>) };
  const liveSpec = live.spec as Readonly<Record<string, unknown>>;
  for (const field of CAPSTAN_ONLY_APP_FIELDS) if (spec[field] === undefined && liveSpec[field] !== undefined) spec[field] = liveSpec[field];
  return { ...app, spec };
}

/** System labels of Capstan's own (`capstan.io/inventory`, …): not the user's, so not in Marathon's JSON. */
const SYSTEM_LABEL_PREFIX = 'capstan.io/';

/** The App's labels as Marathon shows them: the user's (HAPROXY_* included), not Capstan's own. */
export function marathonLabels(labels: Readonly<Record<string, string>> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(labels ?? {}).filter(([key]) => !key.startsWith(SYSTEM_LABEL_PREFIX)));
}

/** An app's one container: its image, command, environment, resources and mounts. */
function mainContainer(t: Translation, json: Record<string, unknown>, container: ContainerReading): Record<string, unknown> {
  const main: Record<string, unknown> = {};
  if (container.image !== undefined) main.image = container.image;
  if (json.cmd !== undefined && json.cmd !== null) main.cmd = json.cmd;
  if (json.args !== undefined && json.args !== null) main.args = json.args;
  main.env = readEnv(t, json.env);
  main.resources = pick(t, json, ['cpus', 'mem', 'disk', 'gpus'], ['spec', 'containers', 0, 'resources']);
  main.volumeMounts = container.mounts;
  const at = ['spec', 'containers', 0];
  t.from(at, container.image === undefined ? ['cmd'] : ['container', 'docker', 'image']);
  t.from([...at, 'image'], ['container', 'docker', 'image']);
  t.from([...at, 'cmd'], ['cmd']);
  t.from([...at, 'args'], ['args']);
  t.from([...at, 'env'], ['env']);
  return main;
}

/** Marathon's object form; "disabled" (never replace an unreachable task) Capstan does not do. */
export function readUnreachableStrategy(t: Translation, value: unknown, at: Path): { unreachableStrategy?: unknown } {
  if (value === undefined || value === null) return {};
  t.from(['spec', 'unreachableStrategy'], at);
  if (isRecord(value)) return { unreachableStrategy: value };
  t.problem(at, say.unreachable, value);
  return {};
}

/** The App kind's own schema and rules (pods' too), each problem shown where the Marathon JSON said it. */
export function checkAgainstKind(t: Translation, app: AnyObject): void {
  const parsed = parseWith(appKind.spec, app.spec, ['spec']);
  const problems = 'problems' in parsed ? parsed.problems : (appKind.check?.({ ...app, spec: parsed.data }) ?? []);
  for (const problem of problems) t.problems.push({ path: t.origin(problem.path) ?? t.at('id'), expected: problem.expected, found: problem.found });
}

export function readId(t: Translation, value: unknown, groupId: string): { id: string; namespace: string; name: string } | undefined {
  const id = typeof value === 'string' ? resolveMarathonId(value, groupId) : undefined;
  if (id === undefined) {
    t.problem(['id'], say.id, value);
    return undefined;
  }
  const ref = refOfMarathonId(id);
  if ('problem' in ref) {
    t.problems.push({ path: t.at('id'), expected: say.id, found: ref.problem });
    return undefined;
  }
  return { id, ...ref };
}

interface ContainerReading {
  driver: 'docker' | 'process';
  image?: unknown;
  volumes: Record<string, unknown>[];
  mounts: Record<string, unknown>[];
}

/** No container (Marathon's command executor) and MESOS run as processes; DOCKER under Docker. */
function readContainer(t: Translation, value: unknown): ContainerReading {
  if (value === undefined || value === null) return { driver: 'process', volumes: [], mounts: [] };
  if (!checkFields(t, value, ['container'], 'container', CONTAINER_RULES)) return { driver: 'process', volumes: [], mounts: [] };
  const type = value.type ?? 'DOCKER';
  const docker = value.docker;
  if (docker !== undefined && docker !== null) checkFields(t, docker, ['container', 'docker'], 'docker container', DOCKER_RULES);
  const image = isRecord(docker) ? docker.image : undefined;
  const { volumes, mounts } = volumesFromMarathon(t, value.volumes);
  if (type === 'MESOS') {
    if (image !== undefined) t.problem(['container', 'docker', 'image'], say.mesosImage, image);
    return { driver: 'process', volumes, mounts };
  }
  if (type !== 'DOCKER') t.problem(['container', 'type'], say.type, type);
  else if (typeof image !== 'string' || image === '') t.problem(['container', 'docker', 'image'], say.image, image);
  return { driver: 'docker', image, volumes, mounts };
}

function readDependencies(t: Translation, value: unknown, groupId: string): { refs: string[]; written: string[] } {
  if (value === undefined || value === null) return { refs: [], written: [] };
  if (!Array.isArray(value)) {
    t.problem(['dependencies'], say.list('app ids'), value);
    return { refs: [], written: [] };
  }
  const refs: string[] = [];
  const written: string[] = [];
  value.forEach((dependency: unknown, i) => {
    const id = typeof dependency === 'string' ? resolveMarathonId(dependency, groupId) : undefined;
    const ref = id === undefined ? undefined : refOfMarathonId(id);
    if (id === undefined || ref === undefined || 'problem' in ref) {
      t.problem(['dependencies', i], say.dependency, dependency);
      return;
    }
    t.from(['spec', 'dependencies', refs.length], ['dependencies', i]);
    refs.push(`${ref.namespace}/${ref.name}`);
    written.push(id);
  });
  return { refs, written };
}

function readEnv(t: Translation, value: unknown): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (!isRecord(value)) {
    t.problem(['env'], say.envObject, value);
    return {};
  }
  checkEnv(t, value, ['env']);
  return { ...value };
}

/** Every value a string; a secret reference (`{secret: "..."}`) is named as such. */
export function checkEnv(t: Translation, env: Record<string, unknown>, at: Path): void {
  for (const [name, item] of Object.entries(env)) {
    if (typeof item !== 'string') t.problem([...at, name], isRecord(item) && 'secret' in item ? say.envSecret : say.env, item);
  }
}

export function readLabels(t: Translation, value: unknown, at: Path): Record<string, string> | undefined {
  if (isUnset(value)) return undefined;
  if (!isRecord(value) || Object.values(value).some((v) => typeof v !== 'string')) {
    t.problem(at, say.labels, value);
    return undefined;
  }
  return value as Record<string, string>;
}

/** The fields of `json` that are present, each traced to its own name under `target`. */
function pick(t: Translation, json: Record<string, unknown>, fields: string[], target: Path): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of fields) {
    if (json[field] === undefined || json[field] === null) continue;
    out[field] = json[field];
    t.from([...target, field], [field]);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Capstan → Marathon

export interface AppToMarathonExtras {
  tasks?: readonly DeepReadonly<AnyObject>[];
  nodes?: (name: string) => DeepReadonly<AnyObject> | undefined;
  /** `apps.tasks`, `apps.counts`, `apps.deployments`, `apps.readiness`, `apps.lastTaskFailure` (also without the `apps.` prefix). */
  embed?: ReadonlySet<string>;
  deployments?: { id: string }[];
  /**
   * The App's version when the caller knows it better than versionOf (the current Revision's
   * creation time, which GET /v2/apps/{id}/versions lists): shown as `version` and on the tasks of
   * the current revision.
   */
  version?: string;
}

/** A stored App → Marathon app JSON as GET /v2/apps/{id} returns it. */
export function appToMarathon(app: DeepReadonly<AnyObject>, extras: AppToMarathonExtras = {}): Record<string, unknown> {
  const spec = app.spec as DeepReadonly<AppSpec>;
  const main = spec.containers[0]!;
  const annotations = app.metadata.annotations;
  const id = marathonIdOf(app);
  const { portDefinitions, requirePorts } = portsToMarathon(spec.ports);
  const protocols = jsonAnnotation(annotations, MARATHON_HEALTH_PROTOCOLS_ANNOTATION, isStringArray) ?? [];
  const version = extras.version ?? versionOf(app);
  const out: Record<string, unknown> = { id };
  if (main.cmd !== undefined) out.cmd = main.cmd;
  if (main.args !== undefined) out.args = [...main.args];
  Object.assign(out, {
    backoffFactor: spec.backoffFactor,
    backoffSeconds: spec.backoffSeconds,
    constraints: spec.constraints.map((c) => [...c]),
    container: containerToMarathon(spec),
    cpus: main.resources.cpus,
    dependencies: dependenciesToMarathon(app),
    disk: main.resources.disk,
    env: { ...main.env },
    executor: '',
    gpus: main.resources.gpus,
    healthChecks: spec.healthChecks.map((check, i) => healthCheckToMarathon(check, spec.ports, protocols[i])),
    instances: spec.instances,
    labels: marathonLabels(app.metadata.labels),
    maxLaunchDelaySeconds: spec.maxLaunchDelaySeconds,
    mem: main.resources.mem,
    networks: [{ mode: 'host' }],
    portDefinitions,
    readinessChecks: spec.readinessChecks.map(readinessCheckToMarathon),
    requirePorts,
    upgradeStrategy: { ...upgradeStrategyOf(spec) },
    version,
    versionInfo: { lastScalingAt: version, lastConfigChangeAt: version },
    killSelection: spec.killSelection,
    unreachableStrategy: { ...spec.unreachableStrategy },
    taskKillGracePeriodSeconds: spec.taskKillGracePeriodSeconds,
  });
  if (out.container === undefined) delete out.container;
  Object.assign(out, runtimeOf(app, extras));
  return out;
}

/** A process App without volumes had no container in Marathon (the command executor). */
function containerToMarathon(spec: DeepReadonly<AppSpec>): Record<string, unknown> | undefined {
  const main = spec.containers[0]!;
  const volumes = volumesToMarathon(spec.volumes, main.volumeMounts);
  if (spec.driver === 'process' || main.image === undefined) return volumes.length ? { type: 'MESOS', volumes } : undefined;
  return {
    type: 'DOCKER',
    docker: { image: main.image, forcePullImage: false, privileged: false, parameters: [] },
    volumes,
  };
}

/** Each dependency by the id it was written with, while it still names the same App; else by the rule. */
function dependenciesToMarathon(app: DeepReadonly<AnyObject>): string[] {
  const written = jsonAnnotation(app.metadata.annotations, MARATHON_DEPENDENCIES_ANNOTATION, isStringArray) ?? [];
  const namespace = app.metadata.namespace ?? DEFAULT_NAMESPACE;
  return (app.spec as DeepReadonly<AppSpec>).dependencies.map((dependency) => {
    const [first, second] = dependency.split('/');
    const ref = second === undefined ? { namespace, name: first! } : { namespace: first!, name: second };
    const kept = written.find((id) => {
      const r = refOfMarathonId(id);
      return !('problem' in r) && r.namespace === ref.namespace && r.name === ref.name;
    });
    return kept ?? marathonIdOf({ metadata: ref });
  });
}

/** What Marathon says about the running app: counts, deployments, tasks and the last failure. */
function runtimeOf(app: DeepReadonly<AnyObject>, extras: AppToMarathonExtras): Record<string, unknown> {
  const status = app.status as DeepReadonly<Partial<AppStatus>> | undefined;
  const embedded = (name: string) => extras.embed === undefined || extras.embed.has(name) || extras.embed.has(`apps.${name}`);
  const out: Record<string, unknown> = {
    tasksStaged: status?.staged ?? 0,
    tasksRunning: status?.running ?? 0,
    tasksHealthy: status?.healthy ?? 0,
    tasksUnhealthy: status?.unhealthy ?? 0,
    deployments: (extras.deployments ?? []).map((d) => ({ id: d.id })),
  };
  if (extras.tasks !== undefined && embedded('tasks')) {
    out.tasks = extras.tasks.map((task) => taskToMarathon(task, app, extras.nodes?.((task.spec as { nodeName?: string }).nodeName ?? ''), extras.version));
  }
  // Only when asked for, as Marathon: not part of an app's JSON otherwise.
  if (extras.tasks !== undefined && extras.embed !== undefined && embedded('readiness')) out.readinessCheckResults = readinessOf(app, extras.tasks);
  const failure = status?.lastTaskFailure;
  if (failure !== undefined && embedded('lastTaskFailure')) {
    out.lastTaskFailure = {
      appId: marathonIdOf(app),
      host: failure.node === undefined ? '' : addressOf(extras.nodes?.(failure.node)) ?? failure.node,
      message: failure.message,
      state: failure.phase === 'Finished' ? 'TASK_FINISHED' : 'TASK_FAILED',
      taskId: failure.task,
      timestamp: failure.timestamp,
      version: extras.version ?? versionOf(app),
    };
  }
  return out;
}

/**
 * `embed=apps.readiness`: for each live task, one result per readiness check of its template, ready
 * as the task's Ready condition says (the health controller folds every check into it; the response
 * a probe got is not kept, so there is no `lastResponse`).
 */
function readinessOf(app: DeepReadonly<AnyObject>, tasks: readonly DeepReadonly<AnyObject>[]): Record<string, unknown>[] {
  const appId = marathonIdOf(app);
  return tasks.flatMap((task) => {
    const spec = task.spec as DeepReadonly<{ template: { readinessChecks?: readonly { name?: string }[] } }>;
    const status = task.status as DeepReadonly<{ phase?: string; conditions?: readonly { type: string; status: string }[] }> | undefined;
    if (status?.phase !== 'Running') return [];
    const ready = status.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
    const taskId = marathonTaskIdOf(appId, task.metadata.uid ?? '');
    return (spec.template.readinessChecks ?? []).map((check, i) => ({ name: check.name ?? `readinessCheck${i}`, taskId, ready }));
  });
}

function addressOf(node: DeepReadonly<AnyObject> | undefined): string | undefined {
  return (node?.spec as { address?: string } | undefined)?.address;
}
