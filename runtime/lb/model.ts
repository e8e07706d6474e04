// What the load balancer knows of one App port it routes, independent of how it was said (the App's
// `loadBalancer` fields or marathon-lb's HAPROXY_* labels, see services.ts) and of HAProxy's syntax
// (render.ts). The balancer (balancer.ts) fills `servers` from Endpoints, in fixed slots, so that a
// task replaced or a scale within the slots changes addresses, not the configuration's shape.

export type LbMode = 'http' | 'tcp';
export type LbBalance = 'roundrobin' | 'leastconn' | 'source' | 'first';

/** A backend health check derived from the App's first network health check (marathon-lb's rule). */
export interface LbHealthCheck {
  protocol: 'HTTP' | 'HTTPS' | 'TCP';
  /** HTTP(S) only: `option httpchk GET <path>`. */
  path?: string;
  intervalSeconds: number;
  timeoutSeconds: number;
  /** `fall` is maxConsecutiveFailures + 1, as marathon-lb writes it. */
  maxConsecutiveFailures: number;
}

/** One server line of a backend: a slot, holding a task's address or, disabled, none. */
export interface LbServer {
  /** Stable across reloads (the server-state file and the runtime API address servers by name). */
  name: string;
  /**
   * An empty slot holds a placeholder, and its port must not be 0 when the service has a health
   * check: HAProxy refuses a checked server with no port (`haproxy -c`: "has neither service port
   * nor check port"), and a slot rendered without `check` could not get checks when filled later.
   */
  address: string;
  port: number;
  /** The task in this slot; absent for an empty (disabled) slot. */
  task?: string;
  disabled: boolean;
}

/** One App port with a service port that a load balancer of `groups` serves. */
export interface LbService {
  namespace: string;
  app: string;
  /** Marathon's app id, `/<namespace>/<app>`. */
  id: string;
  portIndex: number;
  servicePort: number;
  /** HAPROXY_GROUP / HAPROXY_{n}_GROUP or loadBalancer.group, split on commas. */
  groups: string[];
  mode: LbMode;
  vhosts: string[];
  path?: string;
  balance: LbBalance;
  sticky: boolean;
  redirectToHttps: boolean;
  /** HAPROXY_{n}_BIND_ADDR; default: the load balancer's bind address. */
  bindAddr?: string;
  /** HAPROXY_{n}_PORT overrides the frontend's port (marathon-lb's rule). */
  bindPort?: number;
  /** HAPROXY_{n}_BACKEND_WEIGHT: orders vhost/path rules on the shared frontend, higher first. */
  backendWeight: number;
  healthCheck?: LbHealthCheck;
  servers: LbServer[];
}

/** How one load balancer instance renders, beside what it routes. */
export interface LbRenderOptions {
  /** Where frontends bind; default '*' (all addresses). Tests and `capstan up` use 127.0.0.1. */
  bindAddress: string;
  /** The shared HTTP frontend's port for vhosts and paths (marathon-lb's 80). */
  httpPort: number;
  /** The shared HTTPS frontend (SNI) needs a certificate; absent: no HTTPS frontend. */
  https?: { port: number; certificate: string };
  /** Stats page and Prometheus endpoint: always on loopback, always behind credentials. */
  stats: {
    address: string;
    port: number;
    user: string;
    password: string;
    /**
     * Serve `/metrics` through HAProxy's built-in Prometheus exporter. Default true: Debian's 2.6 build
     * has it (`haproxy -vv`: "Available services : prometheus-exporter"); a build without it would
     * fail `haproxy -c` as a whole, so a caller that finds it missing (hasPrometheusExporter in
     * render.ts) sets false.
     */
    prometheus?: boolean;
  };
  /** Admin (runtime API) socket, level admin. */
  adminSocket: string;
  /** Written before each reload, loaded by the new worker (load-server-state-from-file global). */
  serverStateFile: string;
  /** Bounds how long an old worker may linger after a reload with connections still open. */
  hardStopAfterSeconds: number;
}

/** Lines of a rendered configuration that one service contributed, 1-based and inclusive both ends. */
export interface LbConfigSection {
  /** `${namespace}/${app}:${servicePort}`, as serviceKey() spells it. */
  key: string;
  lines: [number, number][];
}

/** A rendered configuration and where each service's part of it lies, to blame `haproxy -c` errors. */
export interface LbRenderedConfig {
  text: string;
  sections: LbConfigSection[];
}

export function serviceKey(service: Pick<LbService, 'namespace' | 'app' | 'servicePort'>): string {
  return `${service.namespace}/${service.app}:${service.servicePort}`;
}
