// `capstan dns`'s server: UDP and TCP on one address and port, answering from a Zone that three
// informers keep current: Endpoints (App names and SRV), Tasks (every bound Running task's name) and
// Nodes (the addresses those names give). Event → index update → next query sees it: no polling, no
// rebuild, so a change is answered as soon as etcd's watch delivers it.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIPv6, type Server, type Socket } from 'node:net';
import { encode, streamEncode } from 'dns-packet';
import type { Subscription } from 'rxjs';
import { Informer } from '../../api/informer.ts';
import { endpointsSpecSchema } from '../../api/kinds/endpoints.ts';
import type { NodeSpec } from '../../api/kinds/node.ts';
import { refKey, type AnyObject, type DeepReadonly } from '../../api/object.ts';
import type { DnsMetrics } from '../../api/metrics.ts';
import type { Store } from '../../api/store.ts';
import { replyLabels } from './count.ts';
import { namedNodeOf } from './records.ts';
import { replyTo, type Transport } from './reply.ts';
import { DEFAULT_ZONE, Zone } from './zone.ts';

/**
 * Two seconds: long enough that a caching resolver in front (systemd-resolved, dnsmasq, nscd) turns
 * a burst of lookups into one query per name per 2 s, short enough that a client stops using a task
 * that left Endpoints within about the time the load balancer takes to drain it. Mesos-DNS's 60 s
 * would keep clients on stopped tasks for a minute; Consul's 0 sends every lookup here.
 */
export const DEFAULT_TTL_SECONDS = 2;
/**
 * 8600, Consul's DNS port: unprivileged (no root or CAP_NET_BIND_SERVICE), and the port operators
 * already forward a service-discovery zone to from their resolver. Not 5353, where mDNS responders
 * (avahi, systemd-resolved) listen and multicast queries would reach us; not 53, which needs root.
 */
export const DEFAULT_DNS_PORT = 8600;
export const DEFAULT_DNS_ADDRESS = '127.0.0.1';
/** An idle TCP client is let go after this long (RFC 7766 suggests seconds, not minutes). */
const TCP_IDLE_MS = 10_000;
/** With port 0, UDP picks a port and TCP must get the same one; another process may hold it on TCP. */
const PORT_ATTEMPTS = 5;

export interface DnsLog {
  info(message: string): void;
  warn(message: string): void;
}

/** The informers the zone follows, one per kind. */
export interface DnsInformers {
  endpoints: Informer;
  tasks: Informer;
  nodes: Informer;
}

/**
 * Where the zone's objects come from: a store (the server runs and stops informers of its own), or
 * informers shared with others in the process (started if they are not; left running on close).
 */
export type DnsServerOptions = ({ store: Store; informers?: never } | { informers: DnsInformers; store?: never }) & {
  /** An IP address; `0.0.0.0` or `::` for every interface. */
  address?: string;
  /** 0 for any free port (the same one for UDP and TCP). */
  port?: number;
  zone?: string;
  ttlSeconds?: number;
  log?: DnsLog;
  /** Where queries are counted, by type and rcode, and answers timed. */
  metrics?: DnsMetrics;
};

export interface RunningDnsServer {
  address: string;
  port: number;
  zone: string;
  /** How many names have records right now. */
  names(): number;
  close(): Promise<void>;
}

const say = {
  invalid: (key: string, problem: string) => `dns: Endpoints ${key} left out of the zone: ${problem}`,
  udpError: (error: Error) => `dns: UDP socket error: ${error.message}`,
  tcpError: (error: Error) => `dns: TCP connection error: ${error.message}`,
};

export async function startDnsServer(options: DnsServerOptions): Promise<RunningDnsServer> {
  const address = options.address ?? DEFAULT_DNS_ADDRESS;
  const log = options.log ?? { info: () => undefined, warn: () => undefined };
  const wildcard = address === '0.0.0.0' || address === '::';
  const zone = new Zone({ zone: options.zone ?? DEFAULT_ZONE, ttlSeconds: options.ttlSeconds ?? DEFAULT_TTL_SECONDS, ...(wildcard ? {} : { nameServerAddress: address }) });

  const own = options.store ? ownInformers(options.store) : undefined;
  const informers = (own ?? options.informers)!;
  const stopOwn = async () => {
    if (own) await Promise.all(Object.values(own).map((informer) => informer.stop()));
  };
  let subscription: Subscription;
  try {
    subscription = await follow(informers, zone, log);
  } catch (error) {
    await stopOwn();
    throw error;
  }

  let sockets: Bound;
  try {
    sockets = await bindBoth(address, options.port ?? DEFAULT_DNS_PORT, (message, transport) => {
      const end = options.metrics?.latency.startTimer();
      const reply = replyTo(message, transport, (question) => zone.resolve(question));
      if (!reply) return undefined;
      const encoded = transport === 'udp' ? encode(reply) : streamEncode(reply);
      if (options.metrics) {
        options.metrics.queries.inc(replyLabels(reply));
        end?.();
      }
      return encoded;
    }, log);
  } catch (error) {
    subscription.unsubscribe();
    await stopOwn();
    throw error;
  }

  return {
    address,
    port: sockets.port,
    zone: zone.name,
    names: () => zone.size,
    async close() {
      subscription.unsubscribe();
      await Promise.all([
        new Promise<void>((resolve) => sockets.udp.close(() => resolve())),
        sockets.tcp.close(),
        stopOwn(),
      ]);
    },
  };
}

function ownInformers(store: Store): DnsInformers {
  return {
    endpoints: new Informer(store.client, store.kind('Endpoints')),
    tasks: new Informer(store.client, store.kind('Task')),
    nodes: new Informer(store.client, store.kind('Node')),
  };
}

/**
 * Starts the informers (every cache listed before the first query), subscribes, then loads what the
 * caches hold, so no change falls between the two: applying an object twice changes nothing.
 */
async function follow(informers: DnsInformers, zone: Zone, log: DnsLog): Promise<Subscription> {
  const { endpoints, tasks, nodes } = informers;
  await Promise.all([endpoints.start(), tasks.start(), nodes.start()]);

  const applyEndpoints = (key: string, object: DeepReadonly<AnyObject> | undefined) => {
    if (!object) return zone.applyEndpoints({ key, namespace: '', spec: undefined });
    const parsed = endpointsSpecSchema.safeParse(object.spec);
    if (!parsed.success) {
      log.warn(say.invalid(key, parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')));
      return zone.applyEndpoints({ key, namespace: '', spec: undefined });
    }
    zone.applyEndpoints({ key, namespace: object.metadata.namespace ?? '', spec: parsed.data });
  };
  // A task on a node not (yet) in the Node cache has no name: the Node's arrival gives it one below.
  const applyTask = (key: string, task: DeepReadonly<AnyObject> | undefined) => {
    const node = task ? namedNodeOf(task) : undefined;
    const address = node === undefined ? undefined : addressOf(nodes.get(node));
    zone.applyTask({ key, namespace: task?.metadata.namespace ?? '', name: task?.metadata.name ?? '', address });
  };

  const subscription = endpoints.events$.subscribe((event) => applyEndpoints(event.key, event.type === 'deleted' ? undefined : event.object));
  subscription.add(tasks.events$.subscribe((event) => applyTask(event.key, event.type === 'deleted' ? undefined : event.object)));
  // A node's address is in the name of every task on it: when the address changes, or the node comes
  // or goes, those names are redone. Its status writes (allocations and the like) change nothing here.
  subscription.add(
    nodes.events$.subscribe((event) => {
      const address = event.type === 'deleted' ? undefined : addressOf(event.object);
      if (address === addressOf(event.old)) return;
      for (const task of tasks.byIndex('node', event.key)) applyTask(refKey(task.metadata), task);
    }),
  );
  for (const key of endpoints.keys()) applyEndpoints(key, endpoints.get(key));
  for (const key of tasks.keys()) applyTask(key, tasks.get(key));
  return subscription;
}

const addressOf = (node: DeepReadonly<AnyObject> | undefined): string | undefined => {
  const address = (node?.spec as Partial<NodeSpec> | undefined)?.address;
  return typeof address === 'string' && address !== '' ? address : undefined;
};

type Answerer = (message: Buffer, transport: Transport) => Buffer | undefined;

interface Bound {
  udp: UdpSocket;
  tcp: TcpListener;
  port: number;
}

async function bindBoth(address: string, port: number, answer: Answerer, log: DnsLog): Promise<Bound> {
  for (let attempt = 1; ; attempt += 1) {
    const udp = await bindUdp(address, port, answer, log);
    const bound = udp.address().port;
    try {
      return { udp, tcp: await bindTcp(address, bound, answer, log), port: bound };
    } catch (error) {
      await new Promise<void>((resolve) => udp.close(() => resolve()));
      const retry = port === 0 && (error as NodeJS.ErrnoException).code === 'EADDRINUSE' && attempt < PORT_ATTEMPTS;
      if (!retry) throw error;
    }
  }
}

function bindUdp(address: string, port: number, answer: Answerer, log: DnsLog): Promise<UdpSocket> {
  const socket = createSocket(isIPv6(address) ? 'udp6' : 'udp4');
  socket.on('message', (message, peer) => {
    const reply = answer(message, 'udp');
    if (reply) socket.send(reply, peer.port, peer.address);
  });
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, address, () => {
      socket.off('error', reject);
      // A send to a vanished peer and the like: worth a line, never worth stopping the server.
      socket.on('error', (error) => log.warn(say.udpError(error)));
      resolve(socket);
    });
  });
}

interface TcpListener {
  server: Server;
  close(): Promise<void>;
}

function bindTcp(address: string, port: number, answer: Answerer, log: DnsLog): Promise<TcpListener> {
  const connections = new Set<Socket>();
  const server = createServer((connection) => {
    connections.add(connection);
    connection.once('close', () => connections.delete(connection));
    serveConnection(connection, answer, log);
  });
  const close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      // server.close waits for open connections, and a resolver may keep one open: end them.
      for (const connection of connections) connection.destroy();
    });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => {
      server.off('error', reject);
      resolve({ server, close });
    });
  });
}

/** RFC 1035 4.2.2 framing: each message behind its two-byte length; several may share a connection. */
function serveConnection(connection: Socket, answer: Answerer, log: DnsLog): void {
  let pending: Buffer = Buffer.alloc(0);
  connection.setTimeout(TCP_IDLE_MS, () => connection.destroy());
  connection.on('error', (error) => log.warn(say.tcpError(error)));
  connection.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
      const length = pending.readUInt16BE(0);
      const reply = answer(pending.subarray(2, 2 + length), 'tcp');
      pending = pending.subarray(2 + length);
      if (reply) connection.write(reply);
    }
  });
}
