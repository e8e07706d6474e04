// What an App's Endpoints should say, as a pure function of the App, its Tasks, the Nodes they run on
// and the service ports it holds. The endpoints controller (index.ts) writes the result when it
// differs from what is stored.
import type { AppSpec } from '../../api/kinds/app.ts';
import type { EndpointAddress, EndpointPort, EndpointsSpec } from '../../api/kinds/endpoints.ts';
import type { TaskSpec, TaskStatus } from '../../api/kinds/task.ts';
import { getCondition, type AnyObject, type DeepReadonly } from '../../api/object.ts';

type Task = DeepReadonly<AnyObject>;

/**
 * Serving: Running, not being deleted (a task about to be stopped leaves Endpoints before its agent
 * drains and stops it), healthy when it has health checks and ready when it has readiness checks —
 * Marathon's rule, the one the rollout counts with (controllers/replicas countTasks).
 */
export function isServing(task: Task): boolean {
  if (task.metadata.deletionTimestamp) return false;
  const status = task.status as DeepReadonly<TaskStatus> | undefined;
  const spec = task.spec as DeepReadonly<TaskSpec>;
  if (status?.phase !== 'Running' || !spec.nodeName || !spec.hostPorts) return false;
  const passes = (type: string) => getCondition(status.conditions, type)?.status === 'True';
  const healthy = spec.template.healthChecks.length === 0 || passes('Healthy');
  return healthy && (spec.template.readinessChecks.length === 0 || passes('Ready'));
}

export interface EndpointsInput {
  app: DeepReadonly<AnyObject>;
  tasks: readonly Task[];
  /** A node's address by node name; a task on an unknown node is left out (nowhere to send to). */
  nodeAddress(node: string): string | undefined;
  /** The service port of each of the App's ports, when it has one. */
  servicePorts: readonly (number | undefined)[];
}

/**
 * Per port of the App as it is now, the serving tasks' addresses, sorted by task so that an unchanged
 * set renders identically. A task of an older revision is matched to the App's port by name where
 * both have names (ports may have moved), else by index.
 */
export function planEndpoints(input: EndpointsInput): EndpointsSpec {
  const spec = input.app.spec as DeepReadonly<AppSpec>;
  const serving = input.tasks.filter(isServing).sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0));
  const ports: EndpointPort[] = spec.ports.map((port, index) => {
    const addresses: EndpointAddress[] = [];
    for (const task of serving) {
      const taskSpec = task.spec as DeepReadonly<TaskSpec>;
      const at = port.name ? taskSpec.template.ports.findIndex((p) => p.name === port.name) : index;
      const hostPort = at >= 0 ? taskSpec.hostPorts?.[at] : undefined;
      const address = input.nodeAddress(taskSpec.nodeName!);
      if (hostPort === undefined || address === undefined) continue;
      addresses.push({ address, hostPort, task: task.metadata.name, node: taskSpec.nodeName! });
    }
    const servicePort = input.servicePorts[index];
    return {
      ...(port.name ? { name: port.name } : {}),
      index,
      ...(servicePort ? { servicePort } : {}),
      protocol: port.protocol,
      addresses,
    };
  });
  return { app: input.app.metadata.name, ports };
}

/** marathon-lb's labels that make an App load-balanced even without `spec.loadBalancer`. */
const HAPROXY_LABEL = /^HAPROXY_/;

/**
 * Whether the system gives the App's ports service ports: it asked for a load balancer (the
 * `loadBalancer` field or any marathon-lb label) or named a service port itself. Marathon gives every
 * port one; Capstan only where something will listen on it, so the range is not used up by Apps
 * nobody routes to.
 */
export function wantsServicePorts(app: DeepReadonly<AnyObject>): boolean {
  const spec = app.spec as DeepReadonly<AppSpec>;
  if (spec.loadBalancer) return true;
  if (Object.keys(app.metadata.labels ?? {}).some((label) => HAPROXY_LABEL.test(label))) return true;
  return spec.ports.some((p) => Boolean(p.servicePort));
}
