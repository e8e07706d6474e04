// The ways in to the demo that `capstan up` prints besides a task's own port — through the load
// balancer by service port, by virtual host on its shared HTTP frontend, by name from the DNS server,
// and the load balancer's stats page — each checked to work before it is printed. Polls, like
// demo-url.ts: this runs once, bounded, and a poll cannot miss a change made before it started.
import { createSocket } from 'node:dgram';
import { request } from 'node:http';
import { decode, encode, type Answer } from 'dns-packet';
import type { EndpointsSpec } from '../../api/kinds/endpoints.ts';
import type { CapstanObject } from '../../api/object.ts';
import type { Store } from '../../api/store.ts';

const POLL_MS = 250;
const REQUEST_TIMEOUT_MS = 1_000;

export interface FrontDoorOptions {
  store: Store;
  namespace: string;
  app: string;
  /** The load balancer's bind address, shared HTTP frontend port, stats page and its credentials. */
  lb: { address: string; httpPort: number; statsUrl: string; credentials: { user: string; password: string } };
  /** The virtual host the App names; the load balancer is asked for it with a Host header. */
  vhost: string;
  dns: { address: string; port: number; zone: string };
  timeoutMs: number;
  signal?: AbortSignal;
}

/** What answered, ready to print; `failed` names, in a sentence each, what did not answer in time. */
export interface FrontDoor {
  servicePortUrl?: string;
  vhostUrl?: string;
  dig?: string;
  statsUrl?: string;
  failed: string[];
}

const say = {
  noServicePort: (app: string) => `the Endpoints of ${app} got no service port`,
  servicePort: (url: string) => `${url} (through HAProxy) did not answer 200`,
  vhost: (url: string, address: string) => `${url} (HAProxy on ${address}, by Host header) did not answer 200`,
  dns: (name: string, where: string) => `${name} did not resolve on ${where}`,
  stats: (url: string) => `the stats page ${url} did not answer 200 with its credentials`,
};

/** Checks each way in, one after another (each needs what the one before waited for), within one deadline. */
export async function waitForFrontDoor(options: FrontDoorOptions): Promise<FrontDoor> {
  const deadline = Date.now() + options.timeoutMs;
  const until = (probe: () => Promise<boolean>) => poll(probe, deadline, options.signal);
  const found: FrontDoor = { failed: [] };
  const key = `${options.namespace}/${options.app}`;

  let servicePort: number | undefined;
  await until(async () => {
    servicePort = await servicePortOf(options.store, options.namespace, options.app);
    return servicePort !== undefined;
  });
  if (servicePort === undefined) found.failed.push(say.noServicePort(key));
  else {
    const url = `http://${options.lb.address}:${servicePort}/`;
    if (await until(async () => (await httpStatus(url)) === 200)) found.servicePortUrl = url;
    else found.failed.push(say.servicePort(url));
  }

  const vhostUrl = `http://${options.vhost}:${options.lb.httpPort}/`;
  const direct = `http://${options.lb.address}:${options.lb.httpPort}/`;
  if (await until(async () => (await httpStatus(direct, { host: options.vhost })) === 200)) found.vhostUrl = vhostUrl;
  else found.failed.push(say.vhost(vhostUrl, options.lb.address));

  const name = `${options.app}.${options.namespace}.${options.dns.zone}`;
  if (await until(async () => (await resolveA({ ...options.dns, name })).length > 0)) found.dig = `dig @${options.dns.address} -p ${options.dns.port} ${name} +short`;
  else found.failed.push(say.dns(name, `${options.dns.address}:${options.dns.port}`));

  const auth = `${options.lb.credentials.user}:${options.lb.credentials.password}`;
  if (await until(async () => (await httpStatus(options.lb.statsUrl, { auth })) === 200)) found.statsUrl = options.lb.statsUrl;
  else found.failed.push(say.stats(options.lb.statsUrl));
  return found;
}

/** The service port of the App's first load-balanced port, once the endpoints controller has allocated it. */
async function servicePortOf(store: Store, namespace: string, app: string): Promise<number | undefined> {
  const endpoints = await store.get<CapstanObject<EndpointsSpec>>('Endpoints', { namespace, name: app });
  return endpoints?.spec.ports?.find((p) => p.servicePort)?.servicePort;
}

/** True once `probe` is; false at the deadline or on abort. Probes that throw count as not yet. */
async function poll(probe: () => Promise<boolean>, deadline: number, signal: AbortSignal | undefined): Promise<boolean> {
  while (!signal?.aborted) {
    if (await probe().catch(() => false)) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  return false;
}

/** The status code of a GET, or undefined when nothing answered. */
export function httpStatus(url: string, options: { host?: string; auth?: string } = {}): Promise<number | undefined> {
  return new Promise((resolve) => {
    const headers = options.host ? { host: options.host } : undefined;
    const req = request(url, { timeout: REQUEST_TIMEOUT_MS, headers, auth: options.auth }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

/** The A records one UDP query to `address:port` gets for `name`; none when nothing answered in time. */
export function resolveA(options: { address: string; port: number; name: string }): Promise<string[]> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    const id = Math.floor(Math.random() * 65_535);
    const done = (addresses: string[]) => {
      clearTimeout(timer);
      socket.close();
      resolve(addresses);
    };
    const timer = setTimeout(() => done([]), REQUEST_TIMEOUT_MS);
    socket.on('error', () => done([]));
    socket.on('message', (message) => {
      const reply = decode(message);
      if (reply.id !== id) return;
      done((reply.answers ?? []).filter((a): a is Answer & { type: 'A'; data: string } => a.type === 'A').map((a) => a.data));
    });
    socket.send(encode({ type: 'query', id, flags: 0, questions: [{ type: 'A', name: options.name }] }), options.port, options.address);
  });
}
