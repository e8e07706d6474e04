// The front door `capstan up` adds to a local Capstan: the DNS server of runtime/dns and a load
// balancer (capstan lb's HAProxy), both on loopback only, and the check that their ports are free.
// Each serves its Prometheus metrics on a free loopback port, as `capstan dns` and `capstan lb` do
// with --metrics-port 0.
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { MetricsServer } from '../../api/metrics.ts';
import type { Session } from '../context.ts';
import { CliError } from '../errors.ts';
import { LB_DEFAULTS, startLoadBalancer, type RunningLoadBalancer } from '../lb.ts';
import type { Component } from './component.ts';
import { runDirFor } from './dockerd.ts';
import { isFree, isFreeUdp, LOOPBACK } from './ports.ts';

// Loopback only (LOOPBACK): up is a single machine's playground, and its HAProxy and DNS answer for
// whatever the cluster runs. `capstan lb` and `capstan dns` are the commands for serving other machines.
export { LOOPBACK };
/**
 * 8080, not marathon-lb's 80: 80 needs root or CAP_NET_BIND_SERVICE, and is often taken by a web
 * server already. The stats page keeps `capstan lb`'s 9090; DNS keeps `capstan dns`'s 8600.
 */
export const FRONT_DOOR_DEFAULTS = { dnsPort: 8600, httpPort: 8080, statsPort: LB_DEFAULTS.statsPort } as const;
export type FrontDoorPorts = { [K in keyof typeof FRONT_DOOR_DEFAULTS]: number };
export const LB_NAME = 'lb-local';
export const DNS_ZONE = 'capstan';

const say = {
  portTaken: (port: number, what: string, flag: string) => `port ${port} on ${LOOPBACK} (${what}) is in use by another program: choose another with ${flag}`,
};

/** The DNS server of runtime/dns on loopback, answering for the cluster's Endpoints as they change. */
export function dnsComponent(options: { session: () => Session; port: number; log: Logger }): Component {
  let server: { close(): Promise<void> } | undefined;
  let metricsServer: MetricsServer | undefined;
  return {
    name: 'dns',
    get metricsUrl() {
      return metricsServer?.url;
    },
    async start() {
      const [{ startDnsServer }, { DnsMetrics, serveMetrics }] = await Promise.all([import('../../runtime/dns/server.ts'), import('../../api/metrics.ts')]);
      const log = options.log.child({ name: 'dns' });
      const metrics = new DnsMetrics();
      let running: Awaited<ReturnType<typeof startDnsServer>>;
      try {
        running = await startDnsServer({
          store: options.session().store.withMetrics(metrics.etcd),
          metrics,
          address: LOOPBACK,
          port: options.port,
          zone: DNS_ZONE,
          log: { info: (m) => log.info(m), warn: (m) => log.warn(m) },
        });
      } catch (error) {
        // Taken between the check at start-up and now.
        if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new CliError(say.portTaken(options.port, 'DNS', '--dns-port'));
        throw error;
      }
      try {
        metricsServer = await serveMetrics({ registry: metrics.registry, port: 0 });
      } catch (error) {
        await running.close();
        throw error;
      }
      server = running;
      return `answering for ${running.zone}. on ${LOOPBACK}:${running.port} (udp, tcp)`;
    },
    async stop() {
      await Promise.all([server?.close(), metricsServer?.close()]);
    },
  };
}

/**
 * `capstan lb`'s load balancer, on loopback only. Its directory (configuration, sockets, stats
 * credentials) is under the state dir when the sockets fit in a unix socket path; runDirFor's rule,
 * shared with dockerd's sockets, picks a short one under /tmp when the state dir is too deep.
 */
export function lbComponent(options: {
  session: () => Session;
  stateDir: string;
  httpPort: number;
  statsPort: number;
  log: Logger;
}): Component & { readonly dir: string; readonly running: RunningLoadBalancer | undefined } {
  let running: RunningLoadBalancer | undefined;
  const dir = runDirFor(join(options.stateDir, 'lb'));
  return {
    name: 'lb',
    dir,
    get running() {
      return running;
    },
    get metricsUrl() {
      return running?.metricsUrl;
    },
    async start() {
      running = await startLoadBalancer({
        name: LB_NAME,
        groups: [LB_DEFAULTS.group],
        dir,
        bindAddress: LOOPBACK,
        httpPort: options.httpPort,
        statsAddress: LOOPBACK,
        statsPort: options.statsPort,
        drainTimeoutSeconds: LB_DEFAULTS.drainTimeoutSeconds,
        hardStopAfterSeconds: LB_DEFAULTS.hardStopAfterSeconds,
        metricsPort: 0,
        store: options.session().store,
        log: options.log.child({ name: 'lb' }),
      });
      return `${LB_NAME} (HAProxy, group ${LB_DEFAULTS.group}) on ${LOOPBACK}: virtual hosts on ${running.httpUrl}, service ports 10000-10100; stats ${running.statsUrl}; dir ${dir}`;
    },
    async stop() {
      await running?.stop();
    },
  };
}

/** Each front-door port must be free on loopback (the DNS port for UDP and TCP); else one sentence naming its flag. */
export async function checkFrontDoorPorts(ports: FrontDoorPorts): Promise<void> {
  const checks = [
    { port: ports.dnsPort, what: 'DNS', flag: '--dns-port', free: async (p: number) => (await isFree(p)) && (await isFreeUdp(p)) },
    { port: ports.httpPort, what: "the load balancer's HTTP frontend", flag: '--http-port', free: isFree },
    { port: ports.statsPort, what: "the load balancer's stats page", flag: '--stats-port', free: isFree },
  ];
  for (const check of checks) if (!(await check.free(check.port))) throw new CliError(say.portTaken(check.port, check.what, check.flag));
}
