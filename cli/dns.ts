// `capstan dns`: the DNS server of runtime/dns in the foreground until SIGINT/SIGTERM, answering A
// and SRV for `<app>.<namespace>.<zone>` from the Endpoints in etcd, and A for every Running task's
// `<task>.<namespace>.<zone>` from the Tasks and Nodes.
import { isIP } from 'node:net';
import { Command } from 'commander';
import { z } from 'zod';
import { DNS_LABEL } from '../api/object.ts';
import type { Act } from './command.ts';
import type { CommandContext } from './context.ts';
import { EXIT, usageError } from './errors.ts';
import { readableLogger } from './logger.ts';

// The defaults are repeated from runtime/dns/server.ts (DEFAULT_DNS_PORT, DEFAULT_TTL_SECONDS) for
// help only: importing it here would load the server for every command.
const HELP_DEFAULTS = { address: '127.0.0.1', port: 8600, zone: 'capstan', ttl: 2 } as const;

const say = {
  listen: (value: string) => `--listen: expected ADDRESS:PORT with an IP address (e.g. 127.0.0.1:8600 or [::1]:8600), found "${value}"`,
  both: '--listen gives the address and port: use it alone, or --address and --port',
  address: (value: string) => `--address: expected an IP address, found "${value}"`,
  port: (value: string) => `--port: expected a port number 0-65535 (0: any free port), found "${value}"`,
  zone: (value: string) => `--zone: expected a domain name of DNS labels (lowercase letters, digits, "-"), e.g. capstan or cluster.local, found "${value}"`,
  ttl: (value: string) => `--ttl: expected whole seconds 0-3600, found "${value}"`,
  metricsPort: (value: string) => `--metrics-port: expected a port number 0-65535 (0: any free port), found "${value}"`,
  metrics: (url: string) => `dns: metrics at ${url}`,
  listening: (zone: string, where: string, ttl: number, etcd: string) =>
    `dns: answering for ${zone}. on ${where} (udp, tcp), ttl ${ttl}s, from the Endpoints, Tasks and Nodes in ${etcd}; Ctrl-C to stop`,
};

export interface DnsCommandOptions {
  address: string;
  port: number;
  zone: string;
  ttlSeconds: number;
  /** Serve Prometheus metrics on 127.0.0.1:<port> (0: any free port); omitted: none. */
  metricsPort?: number;
}

const flagsSchema = z
  .object({
    listen: z.string().optional(),
    address: z.string().optional(),
    port: z.string().optional(),
    zone: z.string().default(HELP_DEFAULTS.zone),
    ttl: z.string().default(String(HELP_DEFAULTS.ttl)),
    metricsPort: z.string().optional(),
  })
  .strict();

/** The command's flags, checked once: each problem is a usage error naming its flag. */
export function parseDnsFlags(flags: unknown): DnsCommandOptions {
  const raw = flagsSchema.parse(flags);
  if (raw.listen !== undefined && (raw.address !== undefined || raw.port !== undefined)) throw usageError(say.both);
  const { address, port } = raw.listen !== undefined ? parseListen(raw.listen) : { address: raw.address ?? HELP_DEFAULTS.address, port: raw.port ?? String(HELP_DEFAULTS.port) };
  if (!isIP(address)) throw usageError(raw.listen !== undefined ? say.listen(raw.listen) : say.address(address));
  const portNumber = z.coerce.number().int().min(0).max(65_535).safeParse(port);
  if (!portNumber.success || port.trim() === '') throw usageError(raw.listen !== undefined ? say.listen(raw.listen) : say.port(port));
  const zone = raw.zone.toLowerCase().replace(/\.$/, '');
  if (zone === '' || zone.length > 253 || !zone.split('.').every((label) => DNS_LABEL.test(label) && label.length <= 63)) throw usageError(say.zone(raw.zone));
  const ttl = z.coerce.number().int().min(0).max(3600).safeParse(raw.ttl);
  if (!ttl.success || raw.ttl.trim() === '') throw usageError(say.ttl(raw.ttl));
  const options: DnsCommandOptions = { address, port: portNumber.data, zone, ttlSeconds: ttl.data };
  if (raw.metricsPort !== undefined) {
    const metricsPort = z.coerce.number().int().min(0).max(65_535).safeParse(raw.metricsPort);
    if (!metricsPort.success || raw.metricsPort.trim() === '') throw usageError(say.metricsPort(raw.metricsPort));
    options.metricsPort = metricsPort.data;
  }
  return options;
}

function parseListen(value: string): { address: string; port: string } {
  const match = /^\[([^\]]+)\]:(\d+)$/.exec(value) ?? /^([^:]+):(\d+)$/.exec(value);
  if (!match) throw usageError(say.listen(value));
  return { address: match[1]!, port: match[2]! };
}

export function dnsCommand(act: Act): Command {
  return new Command('dns')
    .description('Serve DNS for the cluster: A and SRV records of Apps from their Endpoints and A records of every Running Task, updated as they change (SIGINT/SIGTERM stop it)')
    .option('--listen <address:port>', `where to answer, UDP and TCP (default: ${HELP_DEFAULTS.address}:${HELP_DEFAULTS.port})`)
    .option('--address <ip>', `address to listen on (default: ${HELP_DEFAULTS.address}; 0.0.0.0 for every interface)`)
    .option('--port <port>', `port to listen on (default: ${HELP_DEFAULTS.port}; 0 for any free port)`)
    .option('--zone <domain>', 'the zone answered for; other names are REFUSED', HELP_DEFAULTS.zone)
    .option('--ttl <seconds>', 'TTL of every record, and how long a resolver may cache "no such name"', String(HELP_DEFAULTS.ttl))
    .option('--metrics-port <port>', 'serve Prometheus metrics on 127.0.0.1:<port> (0: any free port)')
    .addHelpText(
      'after',
      [
        '',
        'Names (zone "capstan"):',
        '  <app>.<namespace>.capstan                    A    every serving task\'s node address, shuffled per answer',
        '  <task>.<namespace>.capstan                   A    that task\'s node address: every Running task, serving or not',
        '  _<port>._<tcp|udp>.<app>.<namespace>.capstan SRV  0 1 <hostPort> <task>.<namespace>.capstan, per named port',
        '  _<app>._<tcp|udp>.<namespace>.capstan        SRV  the same for every port of that protocol (Mesos-DNS\'s form)',
        'An App with no serving task has no name (NXDOMAIN), as in Mesos-DNS; a task has a name while it',
        'is bound to a node, Running and not being deleted. Answers over 512 bytes (or the client\'s EDNS',
        'size, at most 1232) are truncated over UDP; clients retry over TCP.',
        '',
        `Port ${HELP_DEFAULTS.port} is Consul's DNS port: unprivileged (53 needs root), and not 5353, where mDNS`,
        'responders listen. Forward the zone to it from a local resolver, e.g. dnsmasq:',
        `  server=/capstan/127.0.0.1#${HELP_DEFAULTS.port}`,
        `TTL ${HELP_DEFAULTS.ttl}s: short enough that clients leave a stopped task about as fast as the load balancer`,
        'drains it, long enough that a caching resolver absorbs bursts of lookups.',
      ].join('\n'),
    )
    .action(act(async (ctx, flags: Record<string, unknown>) => runDnsCommand(ctx, parseDnsFlags(flags))));
}

export async function runDnsCommand(ctx: CommandContext, options: DnsCommandOptions): Promise<number> {
  const interrupted = ctx.untilInterrupted();
  const session = await ctx.session();
  const logger = readableLogger({ out: ctx.io.stderr, color: ctx.io.color, name: 'dns' });
  // Loaded here, not at the top: every other command would otherwise pay for the DNS server.
  const [{ startDnsServer }, { DnsMetrics, serveMetrics }] = await Promise.all([import('../runtime/dns/server.ts'), import('../api/metrics.ts')]);
  const metrics = new DnsMetrics();
  const server = await startDnsServer({
    store: session.store.withMetrics(metrics.etcd),
    metrics,
    address: options.address,
    port: options.port,
    zone: options.zone,
    ttlSeconds: options.ttlSeconds,
    log: { info: (message) => logger.info(message), warn: (message) => logger.warn(message) },
  });
  const where = options.address.includes(':') ? `[${options.address}]:${server.port}` : `${options.address}:${server.port}`;
  ctx.io.stdout.write(`${say.listening(server.zone, where, options.ttlSeconds, ctx.config.etcd)}\n`);
  let metricsServer: Awaited<ReturnType<typeof serveMetrics>> | undefined;
  try {
    if (options.metricsPort !== undefined) metricsServer = await serveMetrics({ registry: metrics.registry, port: options.metricsPort });
  } catch (error) {
    await server.close();
    throw error;
  }
  if (metricsServer) ctx.io.stdout.write(`${say.metrics(metricsServer.url)}\n`);
  await interrupted;
  logger.info('stopping the DNS server');
  await Promise.all([server.close(), metricsServer?.close()]);
  return EXIT.ok;
}
