// The unit `capstan up` starts and stops: each piece of the local cluster (etcd, dockerd, the agent,
// the controllers, DNS, the load balancer, the HTTP API) is one.

/** One thing `up` runs. start() returns a line saying where it is; stop() undoes exactly start(). */
export interface Component {
  name: string;
  start(): Promise<string>;
  stop(): Promise<void>;
  /** Where it serves its Prometheus metrics once started (api/metrics.ts), for up to print; undefined when it serves none. */
  readonly metricsUrl?: string;
}
