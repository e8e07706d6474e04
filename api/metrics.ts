// Every component's Prometheus metrics, in one module: the metric families (names `capstan_*`, units
// in the names), a registry per component (never prom-client's global one, so that two components
// or two test clusters in one process do not collide), the process metrics prom-client collects,
// and the loopback /metrics endpoint each component serves.
//
// A component builds its metrics object (ControllerMetrics, AgentMetrics, DnsMetrics, LbMetrics,
// ApiMetrics), hands `etcd` to its Store (`store.withMetrics(metrics.etcd)`: the Store times every
// etcd request in the one place it makes them) and the rest to the code that counts.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Seconds: from a millisecond (an etcd read, a DNS answer) to ten seconds (a slow reconcile). */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** What the Store calls etcd for: one name per Store operation (api/store.ts). */
export type EtcdOperation = 'get' | 'list' | 'create' | 'update' | 'updateStatus' | 'delete' | 'bind' | 'writeAll' | 'fence';

/** etcd request latencies, by Store operation; the Store observes each of its transactions. */
export class EtcdMetrics {
  readonly requests: Histogram<'operation' | 'result'>;

  constructor(registry: Registry) {
    this.requests = new Histogram({
      name: 'capstan_etcd_request_duration_seconds',
      help: 'Time from a Store request to etcd to its answer, by Store operation and result (ok, or error when etcd failed or refused it)',
      labelNames: ['operation', 'result'] as const,
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    });
  }

  /** Times `request`, counting it as an error when it throws. */
  async time<T>(operation: EtcdOperation, request: () => Promise<T>): Promise<T> {
    const end = this.requests.startTimer({ operation });
    try {
      const answer = await request();
      end({ result: 'ok' });
      return answer;
    } catch (error) {
      end({ result: 'error' });
      throw error;
    }
  }
}

/** capstan_probe_results_total: the health controller's probes, and the agent's COMMAND checks. */
export type ProbeResults = Counter<'protocol' | 'check' | 'result'>;

function probeResults(registry: Registry): ProbeResults {
  return new Counter({
    name: 'capstan_probe_results_total',
    help: 'Health and readiness probes run, by protocol (HTTP, HTTPS, TCP from the health controller; COMMAND from the agent), check (health, readiness) and result (ok, failed)',
    labelNames: ['protocol', 'check', 'result'] as const,
    registers: [registry],
  });
}

/** What every component's metrics hold: its registry and the etcd latencies of its Store. */
abstract class ComponentMetrics {
  readonly registry: Registry;
  readonly etcd: EtcdMetrics;

  constructor(registry: Registry) {
    this.registry = registry;
    this.etcd = new EtcdMetrics(registry);
  }
}

/** The controller runtime's families (every controller) and those of the rollout and health controllers. */
export class ControllerMetrics extends ComponentMetrics {
  readonly queueDepth: Gauge<'controller'>;
  readonly reconciles: Counter<'controller' | 'result'>;
  readonly errors: Counter<'controller'>;
  readonly latency: Histogram<'controller'>;
  readonly leading: Gauge<'controller'>;
  /** Per App and revision side (new: the revision being rolled out; old: every other). */
  readonly rolloutInstances: Gauge<'namespace' | 'app' | 'revision' | 'state'>;
  readonly rolloutTarget: Gauge<'namespace' | 'app'>;
  readonly probes: ProbeResults;

  constructor(registry = new Registry()) {
    super(registry);
    const registers = [registry];
    this.queueDepth = new Gauge({ name: 'capstan_controller_queue_depth', help: 'Keys waiting to be reconciled', labelNames: ['controller'] as const, registers });
    this.reconciles = new Counter({
      name: 'capstan_controller_reconciles_total',
      help: 'Reconciles finished, by result (done, requeueAfter, retry, invalid)',
      labelNames: ['controller', 'result'] as const,
      registers,
    });
    this.errors = new Counter({ name: 'capstan_controller_reconcile_errors_total', help: 'Reconciles that returned retry or threw', labelNames: ['controller'] as const, registers });
    this.latency = new Histogram({
      name: 'capstan_controller_reconcile_duration_seconds',
      help: 'Time spent in one reconcile',
      labelNames: ['controller'] as const,
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10],
      registers,
    });
    this.leading = new Gauge({ name: 'capstan_controller_leader', help: '1 while this process leads the controller', labelNames: ['controller'] as const, registers });
    this.rolloutInstances = new Gauge({
      name: 'capstan_rollout_instances',
      help: "An App's instances by revision (new: the one rolled out; old: the others) and state (wanted: the count the rollout wants of it now; running, healthy, ready)",
      labelNames: ['namespace', 'app', 'revision', 'state'] as const,
      registers,
    });
    this.rolloutTarget = new Gauge({ name: 'capstan_rollout_target_instances', help: "An App's spec.instances: where its rollout is headed", labelNames: ['namespace', 'app'] as const, registers });
    this.probes = probeResults(registry);
  }
}

/** Why the agent failed a task: a start it refused or that failed, or a workload that ended badly. */
export type TaskFailureReason = 'volume' | 'driverUnavailable' | 'hostPortInUse' | 'startFailed' | 'exited' | 'workloadGone';

export class AgentMetrics extends ComponentMetrics {
  readonly launches: Counter<'driver'>;
  readonly failures: Counter<'reason'>;
  readonly probes: ProbeResults;

  constructor(registry = new Registry()) {
    super(registry);
    this.probes = probeResults(registry);
    this.launches = new Counter({ name: 'capstan_agent_task_launches_total', help: 'Workloads the agent started, by driver (docker, process)', labelNames: ['driver'] as const, registers: [registry] });
    this.failures = new Counter({
      name: 'capstan_agent_task_failures_total',
      help: 'Tasks the agent reported Failed, by reason (volume, driverUnavailable, hostPortInUse, startFailed, exited, workloadGone)',
      labelNames: ['reason'] as const,
      registers: [registry],
    });
  }
}

export class DnsMetrics extends ComponentMetrics {
  readonly queries: Counter<'type' | 'rcode'>;
  readonly latency: Histogram;

  constructor(registry = new Registry()) {
    super(registry);
    this.queries = new Counter({
      name: 'capstan_dns_queries_total',
      help: 'DNS questions answered, by question type (A, SRV, ...) and response code (NOERROR, NXDOMAIN, ...)',
      labelNames: ['type', 'rcode'] as const,
      registers: [registry],
    });
    this.latency = new Histogram({ name: 'capstan_dns_answer_duration_seconds', help: 'Time from a query received to its answer sent', buckets: LATENCY_BUCKETS, registers: [registry] });
  }
}

export class LbMetrics extends ComponentMetrics {
  readonly reloads: Counter<'result'>;
  readonly runtimeUpdates: Counter<'result'>;

  constructor(registry = new Registry()) {
    super(registry);
    this.reloads = new Counter({
      name: 'capstan_lb_reloads_total',
      help: "HAProxy configurations installed with a reload, by result (ok; invalid: refused by haproxy -c; failed: the reload itself failed)",
      labelNames: ['result'] as const,
      registers: [registry],
    });
    this.runtimeUpdates = new Counter({
      name: 'capstan_lb_runtime_updates_total',
      help: "Server changes applied through HAProxy's runtime API without a reload, by result (ok, failed)",
      labelNames: ['result'] as const,
      registers: [registry],
    });
  }
}

export class ApiMetrics extends ComponentMetrics {
  readonly requests: Counter<'method' | 'route' | 'status'>;
  readonly latency: Histogram<'method' | 'route'>;

  constructor(registry = new Registry()) {
    super(registry);
    this.requests = new Counter({
      name: 'capstan_api_requests_total',
      help: 'HTTP API requests answered, by method, route pattern (/v2/apps/*, not the URL) and status code',
      labelNames: ['method', 'route', 'status'] as const,
      registers: [registry],
    });
    this.latency = new Histogram({
      name: 'capstan_api_request_duration_seconds',
      help: 'Time from an HTTP API request received to its answer sent, by method and route pattern',
      labelNames: ['method', 'route'] as const,
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    });
  }
}

/** A metric every registry with process metrics holds: how collectProcessMetrics knows it ran. */
const PROCESS_METRIC = 'process_cpu_user_seconds_total';

/**
 * Adds prom-client's process metrics (cpu, memory, event loop lag, handles, gc) to `registry`, once.
 * Only registries that are served get them: each adds event-loop and gc observers to the process.
 */
export function collectProcessMetrics(registry: Registry): void {
  if (registry.getSingleMetric(PROCESS_METRIC)) return;
  collectDefaultMetrics({ register: registry });
}

export interface MetricsServer {
  url: string;
  close(): Promise<void>;
}

const say = {
  notFound: 'not found: try GET /metrics\n',
  failed: (error: unknown) => `metrics could not be collected: ${error instanceof Error ? error.message : String(error)}\n`,
} as const;

/**
 * Serves GET /metrics (Prometheus text) on `host`:`port` — 127.0.0.1 unless told, 0 picks a free
 * port — with the process metrics added to the registry.
 */
export async function serveMetrics(options: { registry: Registry; port: number; host?: string }): Promise<MetricsServer> {
  collectProcessMetrics(options.registry);
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '').split('?')[0];
    if (request.method !== 'GET' || path !== '/metrics') {
      response.writeHead(404).end(say.notFound);
      return;
    }
    options.registry
      .metrics()
      .then((body) => response.writeHead(200, { 'content-type': options.registry.contentType }).end(body))
      .catch((error: unknown) => response.writeHead(500).end(say.failed(error)));
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}/metrics`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
