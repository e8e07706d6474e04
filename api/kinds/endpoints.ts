// Endpoints: per App, for each of its ports, where the tasks that are running, healthy and ready
// listen. Written only by the endpoints controller; read by the load balancer and DNS. Named like
// the App it describes.
import { z } from 'zod';
import { API_VERSION } from '../object.ts';
import type { AnyObject } from '../object.ts';
import type { KindDefinition } from './registry.ts';

export const endpointAddressSchema = z.strictObject({
  /** The node's address. */
  address: z.string().min(1),
  hostPort: z.number().int().min(1).max(65535),
  /** The task's name, so a draining load balancer can find the one about to be killed. */
  task: z.string().min(1),
  node: z.string().min(1),
});
export type EndpointAddress = z.infer<typeof endpointAddressSchema>;

export const endpointPortSchema = z.strictObject({
  name: z.string().optional(),
  /** The index into the App's ports. */
  index: z.number().int().min(0),
  servicePort: z.number().int().min(0).max(65535).optional(),
  protocol: z.enum(['tcp', 'udp']).default('tcp'),
  addresses: z.array(endpointAddressSchema).default([]),
});
export type EndpointPort = z.infer<typeof endpointPortSchema>;

export const endpointsSpecSchema = z.strictObject({
  app: z.string().min(1),
  ports: z.array(endpointPortSchema).default([]),
});
export type EndpointsSpec = z.infer<typeof endpointsSpecSchema>;

const specOf = (object: AnyObject) => object.spec as Partial<EndpointsSpec>;

/** Every port's `address:port`, shortened like kubectl's: the first `limit`, then how many more. */
function listAddresses(object: AnyObject, limit = 3): string {
  const addresses = (specOf(object).ports ?? []).flatMap((p) => p.addresses.map((a) => `${a.address}:${a.hostPort}`));
  if (addresses.length === 0) return '<none>';
  const more = addresses.length - limit;
  return addresses.slice(0, limit).join(',') + (more > 0 ? ` + ${more} more...` : '');
}

/** `http:10000`, `10001` for an unnamed port, `/udp` appended for udp; ports with no service port are left out. */
function listServicePorts(object: AnyObject): string {
  return (specOf(object).ports ?? [])
    .filter((p) => p.servicePort)
    .map((p) => `${p.name ? `${p.name}:` : ''}${p.servicePort}${p.protocol === 'udp' ? '/udp' : ''}`)
    .join(',');
}

/** Every address with the task serving there, `task@address:port`: for -o wide, never shortened. */
function listTasks(object: AnyObject): string {
  return (specOf(object).ports ?? []).flatMap((p) => p.addresses.map((a) => `${a.task}@${a.address}:${a.hostPort}`)).join(',');
}

export const endpointsKind: KindDefinition = {
  apiVersion: API_VERSION,
  kind: 'Endpoints',
  plural: 'endpoints',
  singular: 'endpoints',
  shortNames: ['ep'],
  namespaced: true,
  spec: endpointsSpecSchema,
  columns: [
    { header: 'APP', value: (o) => specOf(o).app ?? '' },
    { header: 'SERVICE PORTS', value: (o) => listServicePorts(o) },
    { header: 'ENDPOINTS', value: (o) => listAddresses(o) },
    { header: 'TASKS', wide: true, value: (o) => listTasks(o) },
  ],
};
