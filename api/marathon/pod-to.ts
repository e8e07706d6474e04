// A Capstan App → Marathon pod JSON, as GET /v2/pods/{id} returns it: the containers as declared,
// each port on the container that declared it (annotations.ts), the environment every container
// shares as the pod's.
import { upgradeStrategyOf } from '../kinds/app.ts';
import type { AppSpec, Container, HealthCheck } from '../kinds/app.ts';
import type { AnyObject, DeepReadonly } from '../object.ts';
import { isStringRecord, jsonAnnotation, MARATHON_ENDPOINTS_ANNOTATION, MARATHON_POD_ANNOTATION } from './annotations.ts';
import { marathonLabels, versionOf } from './app.ts';
import { marathonIdOf } from './ids.ts';
import { DEFAULT_EXECUTOR } from './pod-from.ts';

/** An App translated from a pod (annotation), or one with several containers: Marathon shows it as a pod. */
export function isMarathonPod(app: DeepReadonly<AnyObject>): boolean {
  return app.metadata.annotations?.[MARATHON_POD_ANNOTATION] === 'true' || ((app.spec as DeepReadonly<Partial<AppSpec>>).containers?.length ?? 0) > 1;
}

/** A stored App → Marathon pod JSON as GET /v2/pods/{id} returns it. */
export function podToMarathon(app: DeepReadonly<AnyObject>): Record<string, unknown> {
  const spec = app.spec as DeepReadonly<AppSpec>;
  const owners = jsonAnnotation(app.metadata.annotations, MARATHON_ENDPOINTS_ANNOTATION, isStringRecord) ?? {};
  const names = spec.containers.map((c) => c.name);
  // A port belongs to the container that declared it, else (an App written in Capstan's terms) the first.
  const ownerOf = (name: string | undefined) => (name !== undefined && names.includes(owners[name] ?? '') ? owners[name]! : names[0]);
  const shared = sharedEnvironment(spec.containers);
  return {
    id: marathonIdOf(app),
    labels: marathonLabels(app.metadata.labels),
    version: versionOf(app),
    environment: shared,
    containers: spec.containers.map((container) => ({
      name: container.name,
      ...(container.cmd !== undefined ? { exec: { command: { shell: container.cmd } } } : {}),
      ...(container.args !== undefined ? { exec: { command: { argv: [...container.args] } } } : {}),
      resources: { ...container.resources },
      endpoints: spec.ports.flatMap((port, p) =>
        ownerOf(port.name) === container.name ? [{ name: port.name ?? `port${p}`, hostPort: port.hostPort, protocol: [port.protocol], labels: { ...(port.labels ?? {}) } }] : [],
      ),
      ...(container.image !== undefined && spec.driver !== 'process' ? { image: { kind: 'DOCKER', id: container.image, forcePull: false } } : {}),
      environment: Object.fromEntries(Object.entries(container.env).filter(([name]) => !(name in shared))),
      ...healthCheckOf(spec, container),
      volumeMounts: container.volumeMounts.map((m) => ({ ...m })),
      lifecycle: { killGracePeriodSeconds: spec.taskKillGracePeriodSeconds },
    })),
    secrets: {},
    volumes: spec.volumes.map((volume) =>
      volume.persistent
        ? { name: volume.name, persistent: { type: 'root', size: volume.persistent.size, constraints: [] } }
        : volume.hostPath
          ? { name: volume.name, host: volume.hostPath.path }
          : { name: volume.name },
    ),
    networks: [{ mode: 'host' }],
    scaling: { kind: 'fixed', instances: spec.instances, maxInstances: null },
    scheduling: {
      backoff: { backoff: spec.backoffSeconds, backoffFactor: spec.backoffFactor, maxLaunchDelay: spec.maxLaunchDelaySeconds },
      upgrade: { ...upgradeStrategyOf(spec) },
      placement: {
        constraints: spec.constraints.map(([fieldName, operator, value]) => (value === undefined ? { fieldName, operator } : { fieldName, operator, value })),
        acceptedResourceRoles: [],
      },
      killSelection: spec.killSelection,
      unreachableStrategy: { ...spec.unreachableStrategy },
    },
    executorResources: { ...DEFAULT_EXECUTOR },
  };
}

/** The environment every container has the same value for: the pod's. */
function sharedEnvironment(containers: readonly DeepReadonly<Container>[]): Record<string, string> {
  const [first, ...rest] = containers;
  return Object.fromEntries(Object.entries(first?.env ?? {}).filter(([name, value]) => rest.every((c) => c.env[name] === value)));
}

/** The container's health check (Marathon's pods have one per container): the first the App runs in it. */
function healthCheckOf(spec: DeepReadonly<AppSpec>, container: DeepReadonly<Container>): { healthCheck?: Record<string, unknown> } {
  const check = spec.healthChecks.find((c) => (c.container ?? spec.containers[0]!.name) === container.name);
  if (!check) return {};
  const common = {
    gracePeriodSeconds: check.gracePeriodSeconds,
    intervalSeconds: check.intervalSeconds,
    maxConsecutiveFailures: check.maxConsecutiveFailures,
    timeoutSeconds: check.timeoutSeconds,
    delaySeconds: check.delaySeconds,
  };
  if (check.protocol === 'COMMAND') return { healthCheck: { exec: { command: { shell: check.command } }, ...common } };
  const endpoint = endpointOf(spec, check);
  if (check.protocol === 'TCP') return { healthCheck: { tcp: { endpoint }, ...common } };
  return { healthCheck: { http: { endpoint, path: check.path, scheme: check.protocol }, ...common } };
}

function endpointOf(spec: DeepReadonly<AppSpec>, check: DeepReadonly<Exclude<HealthCheck, { protocol: 'COMMAND' }>>): string {
  if (check.portName !== undefined) return check.portName;
  const index = check.portIndex ?? 0;
  return spec.ports[index]?.name ?? `port${index}`;
}
