// The App kind: the user's workload, a Marathon app (one container) or pod (several), in Marathon's
// words (see DESIGN.md, "App"). The zod schema states every field and applies Marathon's defaults at
// parse, so every controller reads a complete spec. The rules that span fields (`check`) and Apps
// (`checkAgainstStore`: service ports, dependency cycles) are in app-checks.ts.
import { z } from 'zod';
import { CONSTRAINT_OPERATORS, normalizeOperator } from '../constraints/operators.ts';
import { API_VERSION, DNS_LABEL, DNS_LABEL_MAX, getCondition } from '../object.ts';
import type { AnyObject, CommonStatus } from '../object.ts';
import { checkApp, checkAppAgainstStore } from './app-checks.ts';
import type { KindDefinition } from './registry.ts';

// ---------------------------------------------------------------------------------------------
// What we say when a field is wrong: one place, so the wording stays consistent (the rules across
// fields, in app-checks.ts, keep theirs there).

const EXPECTED = {
  dnsLabel: 'a DNS label: lowercase letters, digits and "-", starting and ending with a letter or digit, at most 63 characters',
  envName: 'an environment variable name: letters, digits and "_", not starting with a digit',
  envValue: 'a string (quote numbers and booleans in YAML: "8080", "true")',
  absolutePath: 'an absolute path, starting with "/"',
  mountPath: 'a path: relative to the task sandbox in a process container ("data"), absolute in a Docker container ("/data")',
  commandForm: 'a command: a string, or {value: "..."} as in Marathon',
} as const;

// ---------------------------------------------------------------------------------------------
// Building blocks

const dnsLabel = z.string().max(DNS_LABEL_MAX, { error: EXPECTED.dnsLabel }).regex(DNS_LABEL, { error: EXPECTED.dnsLabel });
const seconds = z.number().int().min(0);
const positiveSeconds = z.number().int().min(1);
const port = z.number().int().min(0).max(65535);

export { CONSTRAINT_OPERATORS, type Constraint, type ConstraintOperator } from '../constraints/operators.ts';

/**
 * `[field, OPERATOR, value?]` as in Marathon. Operators are read in any case and stored upper-case,
 * as Marathon does (api/constraints/operators.ts says why). A numeric value (`[rack, GROUP_BY, 3]`
 * in YAML) is kept as the string Marathon would have, so filters compare one type. Whether the
 * value suits the operator is checked across the tuple (api/constraints/check.ts).
 */
export const constraintSchema = z.tuple([
  z.string().min(1),
  z.string().transform(normalizeOperator).pipe(z.enum(CONSTRAINT_OPERATORS)),
  z.union([z.string(), z.number()]).transform(String).optional(),
]);

export const resourcesSchema = z.strictObject({
  // Marathon's defaults: a task that says nothing gets one cpu and 128 MiB.
  cpus: z.number().min(0).default(1),
  mem: z.number().min(0).default(128),
  disk: z.number().min(0).default(0),
  gpus: z.number().int().min(0).default(0),
});
export type Resources = z.infer<typeof resourcesSchema>;

/**
 * Where a container sees a volume. Its form depends on the container's runtime (containerRuntime),
 * checked across fields: relative to the task sandbox in a process container (Marathon's
 * `containerPath: "data"` of a Mesos container), absolute in a Docker container.
 */
export const volumeMountSchema = z.strictObject({
  name: dnsLabel,
  mountPath: z.string({ error: EXPECTED.mountPath }).min(1, { error: EXPECTED.mountPath }),
  readOnly: z.boolean().default(false),
});
export type VolumeMount = z.infer<typeof volumeMountSchema>;

export const containerSchema = z.strictObject({
  // One container needs no name; a pod's containers each need their own (checked below).
  name: dnsLabel.default('main'),
  image: z.string().min(1).optional(),
  /** Run by `/bin/sh -c`. */
  cmd: z.string().min(1).optional(),
  /** Executed directly, no shell. */
  args: z.array(z.string()).min(1).optional(),
  env: z
    .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: EXPECTED.envName }), z.string({ error: EXPECTED.envValue }))
    .default({}),
  resources: resourcesSchema.prefault({}),
  volumeMounts: z.array(volumeMountSchema).default([]),
});
export type Container = z.infer<typeof containerSchema>;

/**
 * Port names follow Marathon's rule (a DNS label), not IANA's 15-character limit, so that port names
 * of migrated Marathon apps stay valid. They become `PORT_<NAME>` in the task's environment.
 */
export const portDefinitionSchema = z.strictObject({
  name: dnsLabel.optional(),
  /** 0 = any free port of the node's range, chosen by the scheduler. */
  hostPort: port.default(0),
  /** The load balancer's port for this App; unique across the cluster. 0 or absent = none. */
  servicePort: port.optional(),
  protocol: z.enum(['tcp', 'udp']).default('tcp'),
  labels: z.record(z.string(), z.string()).optional(),
});
export type PortDefinition = z.infer<typeof portDefinitionSchema>;

// Marathon's health check defaults.
const healthCommon = {
  gracePeriodSeconds: seconds.default(300),
  intervalSeconds: positiveSeconds.default(60),
  timeoutSeconds: positiveSeconds.default(20),
  maxConsecutiveFailures: seconds.default(3),
  delaySeconds: seconds.default(15),
  /** The pod container a COMMAND check runs in (the first container when absent); must be one of the App's. */
  container: dnsLabel.optional(),
};
const healthPort = {
  portIndex: z.number().int().min(0).optional(),
  portName: dnsLabel.optional(),
};
const httpHealthCheck = (protocol: 'HTTP' | 'HTTPS') =>
  z.strictObject({
    protocol: z.literal(protocol),
    path: z.string().startsWith('/', { error: EXPECTED.absolutePath }).default('/'),
    ignoreHttp1xx: z.boolean().default(false),
    ...healthPort,
    ...healthCommon,
  });

/** Marathon writes `command: {value: "..."}`; a plain string is easier to type. Both become a string. */
const commandSchema = z
  .union([z.string().min(1), z.strictObject({ value: z.string().min(1) })], { error: EXPECTED.commandForm })
  .transform((command) => (typeof command === 'string' ? command : command.value));

export const healthCheckSchema = z
  .discriminatedUnion('protocol', [
    httpHealthCheck('HTTP'),
    httpHealthCheck('HTTPS'),
    z.strictObject({ protocol: z.literal('TCP'), ...healthPort, ...healthCommon }),
    z.strictObject({ protocol: z.literal('COMMAND'), command: commandSchema, ...healthCommon }),
  ])
  // Marathon probes the first port when a network check names none.
  .transform((check) =>
    check.protocol !== 'COMMAND' && check.portIndex === undefined && check.portName === undefined
      ? { ...check, portIndex: 0 }
      : check,
  );
export type HealthCheck = z.infer<typeof healthCheckSchema>;

// Marathon's readiness check defaults; portName is required there too.
export const readinessCheckSchema = z.strictObject({
  name: z.string().min(1).default('readinessCheck'),
  protocol: z.enum(['HTTP', 'HTTPS']).default('HTTP'),
  path: z.string().startsWith('/', { error: EXPECTED.absolutePath }).default('/'),
  portName: dnsLabel,
  intervalSeconds: positiveSeconds.default(30),
  timeoutSeconds: positiveSeconds.default(10),
  httpStatusCodesForReady: z.array(z.number().int().min(100).max(599)).min(1).default([200]),
  preserveLastResponse: z.boolean().default(false),
});
export type ReadinessCheck = z.infer<typeof readinessCheckSchema>;

/**
 * As written: a field left out takes its default at parse, which depends on the whole App
 * (upgradeStrategyOf), so the App's schema fills it in after parsing its fields.
 */
export const upgradeStrategySchema = z.strictObject({
  minimumHealthCapacity: z.number().min(0).max(1).optional(),
  maximumOverCapacity: z.number().min(0).max(1).optional(),
});
export type UpgradeStrategy = Required<z.infer<typeof upgradeStrategySchema>>;

/**
 * Marathon's defaults have moved between releases (300/600, later 0/0). Capstan's node lease already
 * waits out its TTL before tasks turn Lost, so replacing a lost task 5 s after that absorbs a missed
 * renewal without doubling the App, and keeping its record 30 s lets a node back from a short
 * partition have its tasks adopted rather than killed. DESIGN.md's example uses the same figures.
 */
export const unreachableStrategySchema = z.strictObject({
  inactiveAfterSeconds: seconds.default(5),
  expungeAfterSeconds: seconds.default(30),
});
export type UnreachableStrategy = z.infer<typeof unreachableStrategySchema>;

export const volumeSchema = z.strictObject({
  name: dnsLabel,
  /** A local persistent volume of `size` MiB: pins the instance to the node that holds it. */
  persistent: z.strictObject({ size: z.number().int().min(1) }).optional(),
  /** A directory of the node (Marathon's docker volumes). */
  hostPath: z.strictObject({ path: z.string().startsWith('/', { error: EXPECTED.absolutePath }) }).optional(),
  /** Scratch space shared by a pod's containers, removed with the task. */
  ephemeral: z.strictObject({}).optional(),
});
export type Volume = z.infer<typeof volumeSchema>;

/** The marathon-lb settings, spelled as fields; the HAPROXY_* labels say the same for migrated apps. */
export const loadBalancerSchema = z.strictObject({
  group: z.string().min(1).default('external'),
  // marathon-lb's HAPROXY_0_VHOST is a comma-separated list: accept one string as well.
  vhost: z
    .union([z.string().min(1), z.array(z.string().min(1))])
    .transform((vhost) => (typeof vhost === 'string' ? vhost.split(',').map((v) => v.trim()) : vhost))
    .default([]),
  path: z.string().startsWith('/', { error: EXPECTED.absolutePath }).optional(),
  /** Absent: http when there are virtual hosts, tcp otherwise (marathon-lb's behaviour). */
  mode: z.enum(['http', 'tcp']).optional(),
  balance: z.enum(['roundrobin', 'leastconn', 'source', 'first']).default('roundrobin'),
  sticky: z.boolean().default(false),
  redirectToHttps: z.boolean().default(false),
  portIndex: z.number().int().min(0).default(0),
});
export type LoadBalancer = z.infer<typeof loadBalancerSchema>;

/** The App's fields, each parsed on its own; appSpecSchema completes what depends on several. */
const appSpecFields = z.strictObject({
  instances: z.number().int().min(0).default(1),
  /** docker = Marathon's DOCKER container, process = its MESOS container. */
  driver: z.enum(['docker', 'process']).default('docker'),
  containers: z.array(containerSchema).min(1),
  ports: z.array(portDefinitionSchema).default([]),
  constraints: z.array(constraintSchema).default([]),
  healthChecks: z.array(healthCheckSchema).default([]),
  readinessChecks: z.array(readinessCheckSchema).default([]),
  // Always present (so its place among the keys never moves), its fields filled by appSpecSchema.
  upgradeStrategy: upgradeStrategySchema.prefault({}),
  /**
   * Kubernetes' 600 s rather than a tighter figure: with Marathon's default health checks (300 s
   * grace, 60 s interval) a healthy but slow-starting App would otherwise be rolled back.
   */
  progressDeadlineSeconds: positiveSeconds.default(600),
  revisionHistoryLimit: z.number().int().min(1).default(10),
  backoffSeconds: z.number().min(0).default(1),
  backoffFactor: z.number().min(1).default(1.15),
  maxLaunchDelaySeconds: z.number().min(0).default(300),
  killSelection: z.enum(['YOUNGEST_FIRST', 'OLDEST_FIRST']).default('YOUNGEST_FIRST'),
  taskKillGracePeriodSeconds: seconds.default(10),
  /**
   * A planned stop (scale-down, rollout, rollback, delete) first takes the task out of Endpoints and
   * waits, at most this long, until every load balancer has drained it (its connections at zero)
   * before SIGTERM. 0 stops at once. Part of the template, like the kill grace period, since the
   * task's agent enforces it.
   */
  drainTimeoutSeconds: seconds.default(5),
  unreachableStrategy: unreachableStrategySchema.prefault({}),
  dependencies: z.array(z.string().min(1)).default([]),
  volumes: z.array(volumeSchema).default([]),
  loadBalancer: loadBalancerSchema.optional(),
});

/**
 * The App as stored: its fields with the upgrade strategy completed by upgradeStrategyOf. An App
 * without persistent volumes gets the 1/1 it always had, so its stored form does not change.
 */
export const appSpecSchema = appSpecFields.transform((spec) => ({ ...spec, upgradeStrategy: upgradeStrategyOf(spec) }));
export type AppSpec = z.output<typeof appSpecSchema>;
export type AppSpecInput = z.input<typeof appSpecSchema>;

// ---------------------------------------------------------------------------------------------
// Reading an App: what several components derive from a spec the same way.

export type ContainerRuntime = 'docker' | 'process';

/**
 * Marathon's rule for pods: a container with an image runs under Docker, one without as a process.
 * `driver: process` (the App's former single driver, still honoured) runs every container as a process.
 */
export function containerRuntime(spec: { readonly driver: ContainerRuntime }, container: { readonly image?: string | undefined }): ContainerRuntime {
  return spec.driver === 'process' || container.image === undefined ? 'process' : 'docker';
}

/** The runtimes an App's containers need: a node must offer all of them. */
export function runtimesOf(spec: { readonly driver: ContainerRuntime; readonly containers: readonly { readonly image?: string | undefined }[] }): Set<ContainerRuntime> {
  return new Set(spec.containers.map((container) => containerRuntime(spec, container)));
}

/** Resident (Marathon's word): an App with a local persistent volume, its instances pinned to their volumes' nodes. */
export function isResident(spec: { readonly volumes?: readonly { readonly persistent?: unknown }[] | undefined }): boolean {
  return (spec.volumes ?? []).some((volume) => volume.persistent !== undefined);
}

/**
 * Marathon's defaults: a resident App's new task replaces an old one in place, on its volume, so it
 * keeps half its instances and never runs more (0.5/0); any other App is replaced whole first (1/1).
 */
const RESIDENT_UPGRADE: UpgradeStrategy = { minimumHealthCapacity: 0.5, maximumOverCapacity: 0 };
const DEFAULT_UPGRADE: UpgradeStrategy = { minimumHealthCapacity: 1, maximumOverCapacity: 1 };

/** The upgrade strategy in effect: what the App says, else the default for a resident App or another. */
export function upgradeStrategyOf(spec: {
  readonly volumes?: readonly { readonly persistent?: unknown }[] | undefined;
  readonly upgradeStrategy?: Readonly<z.infer<typeof upgradeStrategySchema>> | undefined;
}): UpgradeStrategy {
  const defaults = isResident(spec) ? RESIDENT_UPGRADE : DEFAULT_UPGRADE;
  return {
    minimumHealthCapacity: spec.upgradeStrategy?.minimumHealthCapacity ?? defaults.minimumHealthCapacity,
    maximumOverCapacity: spec.upgradeStrategy?.maximumOverCapacity ?? defaults.maximumOverCapacity,
  };
}

/** The container a health check runs in: the one it names, else the App's first. */
export function healthCheckContainer<C extends { readonly name: string }>(spec: { readonly containers: readonly C[] }, check: { readonly container?: string | undefined }): C | undefined {
  return check.container === undefined ? spec.containers[0] : spec.containers.find((c) => c.name === check.container);
}

/**
 * The part of an App that its tasks are made from: a change here makes a new Revision and a rollout;
 * a change elsewhere (instances, upgradeStrategy, backoff, ...) applies to the running revision.
 */
export const appTemplateSchema = appSpecFields.pick({
  driver: true,
  containers: true,
  ports: true,
  constraints: true,
  healthChecks: true,
  readinessChecks: true,
  volumes: true,
  taskKillGracePeriodSeconds: true,
  drainTimeoutSeconds: true,
  unreachableStrategy: true,
});
export type AppTemplate = z.infer<typeof appTemplateSchema>;

export function templateOf(spec: AppSpec): AppTemplate {
  const { driver, containers, ports, constraints, healthChecks, readinessChecks, volumes } = spec;
  const { taskKillGracePeriodSeconds, drainTimeoutSeconds, unreachableStrategy } = spec;
  return { driver, containers, ports, constraints, healthChecks, readinessChecks, volumes, taskKillGracePeriodSeconds, drainTimeoutSeconds, unreachableStrategy };
}

// ---------------------------------------------------------------------------------------------
// Status: written by controllers, never validated at apply.

export type AppConditionType = 'Available' | 'Progressing' | 'Healthy' | 'Invalid' | 'DependenciesReady';

export interface RevisionCounts {
  revision: number;
  /** What the rollout wants of this revision now. */
  instances: number;
  running: number;
  healthy: number;
  ready: number;
}

/**
 * Where the App's rollout stands. Progressing: instances are moving to `revision`. Complete: all of
 * them are healthy and ready on it, nothing else runs. Paused: `capstan.io/paused: "true"`. Waiting:
 * dependencies are not ready. Failed: no progress for progressDeadlineSeconds and no fully healthy
 * revision to go back to. RolledBack: no progress for progressDeadlineSeconds, so the App went back to
 * `revision` (its stable revision) from `from`; it stays so until the template changes again.
 */
export interface RolloutStatus {
  phase: 'Progressing' | 'Complete' | 'RolledBack' | 'Waiting' | 'Paused' | 'Failed';
  /** The revision the rollout moves to; absent while the App has none (waiting for dependencies). */
  revision?: number;
  startedAt: string;
  /** Advances whenever a new task becomes healthy and ready; progressDeadlineSeconds runs from here. */
  lastProgressAt: string;
  /** Tasks of `revision` healthy and ready at lastProgressAt. */
  ready?: number;
  /** Set while every instance is healthy and ready on `revision` and no other revision has tasks. */
  completedAt?: string;
  /** RolledBack: the revision given up, and the App's generation the rollback was decided at. */
  from?: number;
  generation?: number;
  message?: string;
}

export interface AppStatus extends CommonStatus {
  /** spec.instances as last observed. */
  instances: number;
  /** Tasks of any revision, by state. A task with no health checks counts as healthy once running. */
  staged: number;
  running: number;
  healthy: number;
  unhealthy: number;
  ready: number;
  /** The revision the rollout is moving to (the newest). */
  currentRevision?: number;
  /** The last revision that was fully healthy and ready: the target of an automatic rollback. */
  stableRevision?: number;
  revisions?: RevisionCounts[];
  rollout?: RolloutStatus;
  /**
   * Marathon UI's one word for the App, with why (a CamelCase reason) and a sentence: Suspended (0
   * instances wanted), Delayed (a launch delay after failures is running), Waiting (instances wanted
   * that cannot be placed, or dependencies not ready), Deploying (a rollout in progress, or tasks
   * failing), Running otherwise.
   */
  phase?: AppPhase;
  reason?: string;
  message?: string;
  /**
   * The current revision's launch backoff, while its tasks keep failing (absent once one ran stably,
   * after `capstan app reset-delay`, and on a new revision): the delay after the latest failure,
   * backoffSeconds × backoffFactor^(failures-1) capped at maxLaunchDelaySeconds, and when it ends.
   * Marathon's `/v2/queue` delay: timeLeftSeconds = until - now, overdue once until has passed.
   */
  launchDelay?: LaunchDelay;
  /** Marathon's lastTaskFailure: the newest task of any revision that ended Failed or Finished. Kept after the task is gone. */
  lastTaskFailure?: TaskFailure;
}

export const APP_PHASES = ['Deploying', 'Running', 'Waiting', 'Delayed', 'Suspended'] as const;
export type AppPhase = (typeof APP_PHASES)[number];

export interface LaunchDelay {
  /** The delay, in seconds, applied after the latest failure. */
  seconds: number;
  /** No task of the revision is launched before this time. */
  until: string;
  /** Consecutive failures counted since the revision last ran stably. */
  failures: number;
}

/** One task's failure, as the replicas controller counted it (Revision status) and the App shows it. */
export interface TaskFailure {
  task: string;
  revision: number;
  /** The node it ran on (Marathon's host). */
  node?: string;
  /** Failed, or Finished (a long-running task that exited 0 is a failure too). */
  phase: 'Failed' | 'Finished';
  exitCode?: number;
  signal?: string;
  message: string;
  /** When it ended. */
  timestamp: string;
  /** The last lines of its output (at most 10 lines, 2 KiB), as its agent read them at the exit. */
  outputTail?: string[];
}

// ---------------------------------------------------------------------------------------------
// The kind

const specOf = (object: AnyObject) => object.spec as Partial<AppSpec>;
const statusOf = (object: AnyObject) => object.status as Partial<AppStatus> | undefined;
const count = (value: number | undefined) => (value === undefined ? '-' : String(value));
/** Marathon UI's "1 of 3": observed against wanted. */
const ofInstances = (value: number | undefined, instances: number | undefined) => `${count(value)} of ${count(instances)}`;

export const appKind: KindDefinition = {
  apiVersion: API_VERSION,
  kind: 'App',
  plural: 'apps',
  singular: 'app',
  shortNames: [],
  namespaced: true,
  spec: appSpecSchema,
  check: checkApp,
  checkAgainstStore: checkAppAgainstStore,
  columns: [
    { header: 'STATUS', value: (o) => statusOf(o)?.phase ?? 'Unknown' },
    { header: 'RUNNING', value: (o) => ofInstances(statusOf(o)?.running, specOf(o).instances) },
    { header: 'HEALTHY', value: (o) => ofInstances(statusOf(o)?.healthy, specOf(o).instances) },
    { header: 'READY', wide: true, value: (o) => count(statusOf(o)?.ready) },
    { header: 'REVISION', value: (o) => count(statusOf(o)?.currentRevision) },
    { header: 'AVAILABLE', value: (o) => getCondition(statusOf(o)?.conditions, 'Available')?.status ?? 'Unknown' },
    { header: 'REASON', wide: true, value: (o) => statusOf(o)?.reason ?? '' },
    { header: 'DRIVER', wide: true, value: (o) => (specOf(o).containers ?? []).map((c) => containerRuntime({ driver: specOf(o).driver ?? 'docker' }, c)).join(',') },
    { header: 'IMAGE', wide: true, value: (o) => (specOf(o).containers ?? []).map((c) => c.image ?? '-').join(',') },
    { header: 'CMD', wide: true, value: (o) => (specOf(o).containers ?? []).map((c) => c.cmd ?? c.args?.join(' ') ?? '-').join(',') },
    { header: 'PORTS', wide: true, value: (o) => (specOf(o).ports ?? []).map((p) => `${p.name ?? ''}${p.name ? ':' : ''}${p.servicePort ?? p.hostPort}/${p.protocol}`).join(',') },
  ],
};
