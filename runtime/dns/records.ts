// What one Endpoints object and one Task put in the zone, as pure functions: the names each makes
// exist and, per name, the addresses (A/AAAA) and services (SRV) found there. Mesos-DNS's shapes with
// Capstan's names (DESIGN.md "Load balancing and discovery"; the Mesos-DNS reference in /work/shared/reference/dns):
//
//   <app>.<namespace>.<zone>                      A     every serving task's address, any port (Endpoints)
//   <task>.<namespace>.<zone>                     A     that task's address: every bound Running task (Task),
//                                                       and every serving one (Endpoints, so SRV targets resolve)
//   _<port>._<proto>.<app>.<namespace>.<zone>     SRV   0 1 <hostPort> <task>.<namespace>.<zone>, named ports (Endpoints)
//   _<app>._<proto>.<namespace>.<zone>            SRV   the same for every port of that protocol (Mesos-DNS's form)
//
// App, namespace, task and port names are DNS labels already (api/object.ts), so unlike Mesos-DNS no
// label mangling is needed. An address is the node's: tasks use host networking, as Mesos-DNS's
// `host` IP source gives.
import { isIPv4, isIPv6 } from 'node:net';
import type { EndpointsSpec } from '../../api/kinds/endpoints.ts';
import type { TaskSpec, TaskStatus } from '../../api/kinds/task.ts';
import type { AnyObject, DeepReadonly } from '../../api/object.ts';

export interface Service {
  port: number;
  /** `<task>.<namespace>.<zone>`, without the trailing dot. */
  target: string;
}

/** Everything one contributor says about one name. */
export interface NameRecords {
  readonly ipv4: readonly string[];
  readonly ipv6: readonly string[];
  readonly services: readonly Service[];
}

/** Shared by every task's records: a task's name has one address and no services. */
const NONE: readonly never[] = [];

/** Lowercase, no trailing dot: the one spelling the zone's maps are keyed by. */
export function canonicalName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/** The names one App's Endpoints make exist, each with its records. A name with nothing is left out. */
export function recordsOf(input: { namespace: string; spec: DeepReadonly<EndpointsSpec>; zone: string }): Map<string, NameRecords> {
  const { namespace, spec, zone } = input;
  const records = new Map<string, { ipv4: string[]; ipv6: string[]; services: Service[] }>();
  const at = (name: string) => {
    let entry = records.get(name);
    if (!entry) records.set(name, (entry = { ipv4: [], ipv6: [], services: [] }));
    return entry;
  };
  const addAddress = (name: string, address: string) => {
    const entry = at(name);
    const list = isIPv4(address) ? entry.ipv4 : isIPv6(address) ? entry.ipv6 : undefined;
    // A node known by a host name only has no A record to give; its tasks are still in SRV answers.
    if (list && !list.includes(address)) list.push(address);
  };
  const addService = (name: string, service: Service) => {
    const entry = at(name);
    if (!entry.services.some((s) => s.port === service.port && s.target === service.target)) entry.services.push(service);
  };

  const app = `${spec.app}.${namespace}.${zone}`;
  for (const port of spec.ports) {
    for (const address of port.addresses) {
      const target = `${address.task}.${namespace}.${zone}`;
      const service = { port: address.hostPort, target };
      addAddress(app, address.address);
      addAddress(target, address.address);
      addService(`_${spec.app}._${port.protocol}.${namespace}.${zone}`, service);
      if (port.name) addService(`_${port.name}._${port.protocol}.${app}`, service);
    }
  }
  return records;
}

/**
 * The node a Task's name points at, or undefined while it has none: not bound, not Running, or being
 * deleted. Wider than Endpoints' serving (controllers/endpoints/plan.ts isServing): a task failing its
 * health or readiness checks still runs somewhere, and its name says where, as Mesos-DNS names every task.
 */
export function namedNodeOf(task: DeepReadonly<AnyObject>): string | undefined {
  if (task.metadata.deletionTimestamp) return undefined;
  const nodeName = (task.spec as Partial<TaskSpec> | undefined)?.nodeName;
  const phase = (task.status as Partial<TaskStatus> | undefined)?.phase;
  return phase === 'Running' && typeof nodeName === 'string' && nodeName !== '' ? nodeName : undefined;
}

/**
 * What one Task puts in the zone: `<task>.<namespace>.<zone>` with its node's address (from
 * `namedNodeOf` and the Node), or nothing when it has no address.
 */
export function recordsOfTask(input: { namespace: string; task: string; address: string | undefined; zone: string }): Map<string, NameRecords> {
  const { address } = input;
  const records = new Map<string, NameRecords>();
  if (address === undefined) return records;
  // A node known by a host name gives the name no A record, as in recordsOf: it exists, with NODATA.
  const ipv4 = isIPv4(address) ? [address] : NONE;
  const ipv6 = isIPv6(address) ? [address] : NONE;
  records.set(`${input.task}.${input.namespace}.${input.zone}`, { ipv4, ipv6, services: NONE });
  return records;
}
