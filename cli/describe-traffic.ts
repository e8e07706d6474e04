// The Traffic section of `capstan describe app`: how requests reach the App. Per port its service
// port and how many tasks serve it (from the App's Endpoints); the DNS names `capstan dns` answers
// for it; the load-balancer settings as the load balancer reads them; and, per live load balancer,
// whether it routes to the App.
//
// Read once (readTraffic), then rendered by a pure function (trafficSection). The rules are not
// restated here: the names come from runtime/dns/records.ts and the routing from
// runtime/lb/services.ts, the code the DNS server and the load balancer run, so describe cannot
// disagree with them. This module is loaded only by `describe app`.
import { LOAD_BALANCED_CONDITION } from '../api/kinds/wellknown.ts';
import type { Etcd3 } from 'etcd3';
import { z } from 'zod';
import type { AppSpec } from '../api/kinds/app.ts';
import type { EndpointsSpec } from '../api/kinds/endpoints.ts';
import { drainedKey, loadBalancerLeasePrefix } from '../api/keys.ts';
import { getCondition, type AnyObject, type CapstanObject, type Condition, type DeepReadonly } from '../api/object.ts';
import type { Store } from '../api/store.ts';
import { recordsOf } from '../runtime/dns/records.ts';
import { DEFAULT_ZONE } from '../runtime/dns/zone.ts';
import { servicesOf } from '../runtime/lb/services.ts';
import { formatTable } from './io.ts';


/** A load balancer's lease-bound registration, as `capstan lb` writes it. */
const registrationSchema = z.object({ name: z.string().min(1), groups: z.array(z.string()) });

export type LoadBalancerView =
  | { name: string; groups: string[]; /** The Endpoints revision it has converged to for this App. */ drained?: bigint }
  | { name: string; unreadable: string };

export interface TrafficFacts {
  app: DeepReadonly<AnyObject>;
  endpoints: DeepReadonly<AnyObject> | undefined;
  loadBalancers: LoadBalancerView[];
  zone: string;
}

const say = {
  noEndpoints: 'no Endpoints yet: the endpoints controller has not written them (is `capstan controllers` running?)',
  noPorts: 'the App declares no ports: nothing to route to',
  noNames: (name: string) => `none yet: no task is serving, so ${name} answers NXDOMAIN`,
  noLoadBalancers: 'none running (`capstan lb` registers under /capstan/leases/loadbalancers/)',
  unreadable: (found: string) => `registration unreadable (expected JSON {name, groups, pid}, found ${JSON.stringify(found)})`,
  serving: (revision: bigint, current: bigint | undefined) =>
    `serving (at revision ${revision}${current !== undefined && revision < current ? `; Endpoints are at ${current}: draining or catching up` : ''})`,
  notInGroups: (lbGroups: string[], appGroups: string[]) =>
    `not serving (its groups: ${lbGroups.join(', ') || '<none>'}; this App's: ${appGroups.join(', ') || '<none>: no load-balanced port'})`,
  rejected: 'not serving: haproxy -c rejected this App (see LoadBalanced below)',
  notConverged: (lbGroups: string[]) => `not serving yet (its groups: ${lbGroups.join(', ')}): it has not converged to this App's Endpoints`,
} as const;

export async function readTraffic(input: { client: Etcd3; store: Store; app: DeepReadonly<AnyObject> }): Promise<TrafficFacts> {
  const { namespace, name } = input.app.metadata as { namespace: string; name: string };
  const endpoints = await input.store.get('Endpoints', { namespace, name });
  const registrations = await input.client.getAll().prefix(loadBalancerLeasePrefix).strings();
  const loadBalancers: LoadBalancerView[] = [];
  for (const [key, value] of Object.entries(registrations)) {
    const registration = parseRegistration(value);
    if (!registration.success) {
      loadBalancers.push({ name: key.slice(loadBalancerLeasePrefix.length), unreadable: say.unreadable(value) });
      continue;
    }
    const drained = await input.client.get(drainedKey(registration.data.name, namespace, name)).string();
    loadBalancers.push({ ...registration.data, ...(drained !== null && /^\d+$/.test(drained) ? { drained: BigInt(drained) } : {}) });
  }
  return { app: input.app, endpoints, loadBalancers: loadBalancers.sort((a, b) => a.name.localeCompare(b.name)), zone: DEFAULT_ZONE };
}

function parseRegistration(value: string) {
  try {
    return registrationSchema.safeParse(JSON.parse(value));
  } catch {
    // Not JSON: reported as unreadable, like JSON of the wrong shape.
    return registrationSchema.safeParse(undefined);
  }
}

/** The section's body, indented two spaces, one line per entry. */
export function trafficSection(facts: TrafficFacts): string {
  const app = facts.app as DeepReadonly<CapstanObject<AppSpec>>;
  const endpoints = facts.endpoints?.spec as DeepReadonly<EndpointsSpec> | undefined;
  const servicePorts = app.spec.ports.map((_, index) => endpoints?.ports.find((p) => p.index === index)?.servicePort);
  const lines = [
    ...block('Ports', portLines(app, endpoints, servicePorts)),
    ...block(`DNS (zone ${facts.zone})`, dnsLines(app, endpoints, facts.zone)),
    ...block('Load-balancer settings', settingsLines(app, servicePorts)),
    ...block('Load balancers', loadBalancerLines(facts, servicePorts)),
  ];
  const balanced = getCondition((app.status as { conditions?: Condition[] } | undefined)?.conditions, LOAD_BALANCED_CONDITION);
  if (balanced?.status === 'False') lines.push(`  ${LOAD_BALANCED_CONDITION}: False (${balanced.reason ?? 'no reason'}): ${balanced.message ?? ''}`);
  return lines.join('\n');
}

function block(title: string, body: string[]): string[] {
  return [`  ${title}:`, ...body.map((line) => `    ${line}`)];
}

function portLines(app: DeepReadonly<CapstanObject<AppSpec>>, endpoints: DeepReadonly<EndpointsSpec> | undefined, servicePorts: (number | undefined)[]): string[] {
  if (app.spec.ports.length === 0) return [say.noPorts];
  const rows = [['PORT', 'PROTOCOL', 'HOST PORT', 'SERVICE PORT', 'SERVING']];
  app.spec.ports.forEach((port, index) => {
    const given = servicePorts[index];
    const asked = port.servicePort && port.servicePort !== given ? ` (asks for ${port.servicePort}: see Events)` : '';
    const serving = endpoints?.ports.find((p) => p.index === index)?.addresses.length;
    rows.push([
      `${index}${port.name ? ` (${port.name})` : ''}`,
      port.protocol,
      port.hostPort ? String(port.hostPort) : 'any',
      `${given ?? '<none>'}${asked}`,
      serving === undefined ? '<unknown>' : `${serving} serving`,
    ]);
  });
  return [...formatTable(rows).trimEnd().split('\n'), ...(endpoints ? [] : [say.noEndpoints])];
}

/**
 * The App's own names from what the DNS server would answer (its Endpoints); the per-task names summed
 * up in one line. Those come from the Tasks, one per Running task whether it serves or not, so the
 * line holds even when the App's own name does not exist.
 */
function dnsLines(app: DeepReadonly<CapstanObject<AppSpec>>, endpoints: DeepReadonly<EndpointsSpec> | undefined, zone: string): string[] {
  const namespace = app.metadata.namespace!;
  const records = endpoints ? recordsOf({ namespace, spec: endpoints, zone }) : new Map();
  const taskNames = new Set(endpoints?.ports.flatMap((p) => p.addresses.map((a) => `${a.task}.${namespace}.${zone}`)));
  const rows: string[][] = [];
  for (const [name, r] of records) {
    if (taskNames.has(name)) continue;
    const types = [r.ipv4.length ? 'A' : '', r.ipv6.length ? 'AAAA' : '', r.services.length ? 'SRV' : ''].filter(Boolean);
    const what = r.services.length ? `${r.services.length} target${plural(r.services.length)}` : `${r.ipv4.length + r.ipv6.length} address${r.ipv4.length + r.ipv6.length === 1 ? '' : 'es'}`;
    rows.push([name, types.join(',') || '-', what]);
  }
  rows.push([`<task>.${namespace}.${zone}`, 'A', `one per Running task, serving or not (${taskNames.size} serving)`]);
  const table = formatTable(rows).trimEnd().split('\n');
  return records.size === 0 ? [say.noNames(`${app.metadata.name}.${namespace}.${zone}`), ...table] : table;
}

/** What the App says (field and labels), then what the load balancer makes of it, port by port. */
function settingsLines(app: DeepReadonly<CapstanObject<AppSpec>>, servicePorts: (number | undefined)[]): string[] {
  const lines: string[] = [];
  const field = app.spec.loadBalancer;
  if (field) {
    // Unset, empty and false fields say nothing: the line keeps to what was chosen (and the defaults that route).
    const parts = Object.entries(field).flatMap(([k, v]) => (v === undefined || v === false || (Array.isArray(v) && v.length === 0) ? [] : [`${k}=${Array.isArray(v) ? v.join(',') : String(v)}`]));
    lines.push(`spec.loadBalancer: ${parts.join(' ')}`);
  }
  const labels = Object.entries(app.metadata.labels ?? {}).filter(([k]) => k.startsWith('HAPROXY_'));
  if (labels.length) lines.push(`labels: ${labels.map(([k, v]) => `${k}=${v}`).join(' ')}`);
  if (lines.length === 0 && servicePorts.every((p) => !p)) return ['<none>: no load balancer routes to this App (set spec.loadBalancer or a servicePort)'];
  const { services, problems } = servicesOf({ app, servicePorts, groups: ['*'] });
  for (const s of services) {
    const route = [
      `group ${s.groups.join(',') || '<none>'}`,
      s.mode,
      ...(s.vhosts.length ? [`vhost ${s.vhosts.join(',')}`] : []),
      ...(s.path ? [`path ${s.path}`] : []),
      s.balance,
      ...(s.sticky ? ['sticky'] : []),
      ...(s.redirectToHttps ? ['redirect to https'] : []),
      ...(s.healthCheck ? [`${s.healthCheck.protocol} check`] : []),
    ];
    lines.push(`port ${s.portIndex} → service port ${s.servicePort}: ${route.join(', ')}`);
  }
  for (const problem of problems) lines.push(`problem: ${problem}`);
  return lines;
}

function loadBalancerLines(facts: TrafficFacts, servicePorts: (number | undefined)[]): string[] {
  if (facts.loadBalancers.length === 0) return [say.noLoadBalancers];
  const app = facts.app as DeepReadonly<CapstanObject<AppSpec>>;
  const appGroups = [...new Set(servicesOf({ app, servicePorts, groups: ['*'] }).services.flatMap((s) => s.groups))];
  const current = facts.endpoints?.metadata.resourceVersion;
  const balanced = getCondition((app.status as { conditions?: Condition[] } | undefined)?.conditions, LOAD_BALANCED_CONDITION);
  const rows = facts.loadBalancers.map((lb) => {
    if ('unreadable' in lb) return [lb.name, lb.unreadable];
    // Every load balancer acknowledges every App's Endpoints (the agents wait on all of them before a
    // kill), so a drained key alone does not say it routes the App: its groups and a rejection do.
    if (servicesOf({ app, servicePorts, groups: lb.groups }).services.length === 0) return [lb.name, say.notInGroups(lb.groups, appGroups)];
    const rejected = balanced?.status === 'False' && balanced.reason === 'ConfigRejected' && balanced.message?.startsWith(`load balancer ${lb.name} `);
    if (rejected) return [lb.name, say.rejected];
    if (lb.drained === undefined) return [lb.name, say.notConverged(lb.groups)];
    return [lb.name, say.serving(lb.drained, current ? BigInt(current) : undefined)];
  });
  return formatTable(rows).trimEnd().split('\n');
}

const plural = (n: number) => (n === 1 ? '' : 's');
