// `capstan agent --node NAME`: the node agent in the foreground until SIGINT/SIGTERM. Builds the
// drivers (docker on a socket, when it answers; process with a state dir), then runs runtime/agent.ts.
// On stop the workloads keep running: the next agent on this node adopts them.
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { z } from 'zod';
import type { FaultDomain } from '../api/kinds/node.ts';
import type { Driver } from '../runtime/driver.ts';
import type { Act } from './command.ts';
import type { CommandContext } from './context.ts';
import { EXIT, usageError } from './errors.ts';
import { describeOffer, offeredCpus, overcommitFactor } from './local/capacity.ts';
import { readableLogger } from './logger.ts';
import packageJson from '../package.json' with { type: 'json' };

export interface AgentCommandOptions {
  node: string;
  address: string;
  attributes: Record<string, string>;
  /** --region and --zone, given together. */
  faultDomain?: FaultDomain;
  /** Before the overcommit factor: the machine's cores unless --cpus said otherwise. */
  cpus: number;
  /** The node offers cpus × this (cli/local/capacity.ts says why only cpus). */
  cpuOvercommit: number;
  mem: number;
  /** MiB, or 'auto': the free space of the file system under <stateDir>/volumes. */
  disk: number | 'auto';
  gpus: number;
  ports: { from: number; to: number };
  drivers: ('docker' | 'process')[];
  stateDir: string;
  dockerSocket: string;
  leaseTtlSeconds: number;
  logsPort: number;
  portsScanSeconds: number;
  /** Serve Prometheus metrics on 127.0.0.1:<port> (0: any free port); omitted: none. */
  metricsPort?: number;
}

const DRIVER_NAMES = ['docker', 'process'] as const;

const say = {
  attr: (value: string) => `--attr: expected KEY=VALUE, found "${value}"`,
  number: (flag: string, value: string) => `${flag}: expected a non-negative number, found "${value}"`,
  disk: (value: string) => `--disk: expected MiB (a non-negative number) or auto (the free space where volumes are kept), found "${value}"`,
  integer: (flag: string, value: string) => `${flag}: expected a non-negative integer, found "${value}"`,
  ports: (value: string) => `--ports: expected a range like 31000-31999 (from ≤ to, 1-65535), found "${value}"`,
  drivers: (value: string) => `--drivers: expected a comma-separated list of ${DRIVER_NAMES.join(', ')}, found "${value}"`,
  node: (value: string) => `--node: expected a DNS label (lowercase letters, digits, "-"), found "${value}"`,
  domainName: (flag: string, value: string) => `${flag}: expected a name without spaces (e.g. eu-west-1, eu-west-1a), found "${value}"`,
  domainHalf: (given: string, missing: string) =>
    `${given} without ${missing}: a fault domain has both (a zone lies within a region, as in Mesos); pass ${missing} too, or neither`,
};

const number = (flag: string) => (value: string) => {
  const parsed = z.coerce.number().min(0).safeParse(value);
  if (!parsed.success || value.trim() === '') throw usageError(say.number(flag, value));
  return parsed.data;
};
function disk(value: string): number | 'auto' {
  if (value.trim() === 'auto') return 'auto';
  const parsed = z.coerce.number().min(0).safeParse(value);
  if (!parsed.success || value.trim() === '') throw usageError(say.disk(value));
  return parsed.data;
}
const integer = (flag: string) => (value: string) => {
  const parsed = z.coerce.number().int().min(0).safeParse(value);
  if (!parsed.success || value.trim() === '') throw usageError(say.integer(flag, value));
  return parsed.data;
};

function attribute(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const match = /^([^=\s]+)=(.*)$/.exec(value);
  if (!match) throw usageError(say.attr(value));
  return { ...previous, [match[1]!]: match[2]! };
}

const domainName = (flag: string) => (value: string) => {
  if (!/^\S+$/.test(value)) throw usageError(say.domainName(flag, value));
  return value;
};

function faultDomain(region: string | undefined, zone: string | undefined): FaultDomain | undefined {
  if (region === undefined && zone === undefined) return undefined;
  if (region === undefined) throw usageError(say.domainHalf('--zone', '--region'));
  if (zone === undefined) throw usageError(say.domainHalf('--region', '--zone'));
  return { region, zone };
}

function portRange(value: string): { from: number; to: number } {
  const match = /^(\d+)-(\d+)$/.exec(value.trim());
  const [from, to] = match ? [Number(match[1]), Number(match[2])] : [0, 0];
  if (!match || from < 1 || to > 65535 || from > to) throw usageError(say.ports(value));
  return { from, to };
}

function driverList(value: string): ('docker' | 'process')[] {
  const names = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (names.length === 0 || names.some((n) => !(DRIVER_NAMES as readonly string[]).includes(n))) throw usageError(say.drivers(value));
  return [...new Set(names)] as ('docker' | 'process')[];
}

export function agentCommand(act: Act): Command {
  return new Command('agent')
    .description('Run the node agent in the foreground: registers the Node, runs the Tasks bound to it, serves their logs (SIGINT/SIGTERM stop it; workloads keep running and are adopted on restart)')
    .requiredOption('--node <name>', 'this node\'s name')
    .option('--address <ip>', 'where tasks on this node are reached (HOST), and where logs are served', '127.0.0.1')
    .option('--attr <key=value>', 'a constraint attribute, repeatable (hostname defaults to the node name)', attribute)
    .option('--region <name>', 'the fault domain\'s region, matched by constraints on @region (with --zone)', domainName('--region'))
    .option('--zone <name>', 'the fault domain\'s zone within --region, matched by constraints on @zone', domainName('--zone'))
    .option('--cpus <n>', 'cpus offered (default: this machine\'s cores), before --cpu-overcommit', number('--cpus'))
    .option(
      '--cpu-overcommit <factor>',
      'offer this many cpus per cpu: Apps are placed on the cpus they ask for (1 each without resources), and cpu is shared, not reserved, so 4 lets a small machine hold more Apps; memory is never overcommitted',
      overcommitFactor('--cpu-overcommit'),
      1,
    )
    .option('--mem <mb>', 'memory offered in MiB (default: this machine\'s)', number('--mem'))
    .option('--disk <mb|auto>', 'disk offered in MiB, counted against persistent volumes; auto: the free space of the file system under --state-dir/volumes', disk, 'auto')
    .option('--gpus <n>', 'gpus offered', integer('--gpus'), 0)
    .addOption(new Option('--ports <from-to>', "host ports handed out for hostPort 0; keep them below the kernel's ephemeral range (net.ipv4.ip_local_port_range, 32768-60999 on Linux), where outgoing connections could hold one").argParser(portRange).default({ from: 31000, to: 31999 }, '31000-31999'))
    .addOption(
      new Option('--drivers <list>', 'drivers to offer (docker is left out when its socket does not answer)')
        .argParser(driverList)
        .default(['docker', 'process'], 'docker,process'),
    )
    .option('--state-dir <dir>', 'where the agent keeps process sandboxes (process/) and volume directories (volumes/) (default: ~/.capstan/agent/<node>)')
    .option('--docker-socket <path>', 'Docker Engine socket', '/var/run/docker.sock')
    .option('--lease-ttl <seconds>', 'node lease TTL: how long a silent node still counts as alive', integer('--lease-ttl'), 2)
    .addOption(new Option('--logs-port <port>', 'port of the log server').argParser(integer('--logs-port')).default(0, 'any free port outside --ports'))
    .option('--metrics-port <port>', 'serve Prometheus metrics on 127.0.0.1:<port> (0: any free port)', integer('--metrics-port'))
    .option('--ports-scan-interval <seconds>', 'how often the node\'s sockets are scanned for --ports held outside Capstan (reported as status.portsInUse; a failed task triggers a scan too)', number('--ports-scan-interval'), 10)
    .action(
      act(async (ctx, options: Record<string, unknown>) => {
        const node = String(options['node']);
        if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(node) || node.length > 63) throw usageError(say.node(node));
        if ((options['leaseTtl'] as number) < 1) throw usageError(say.integer('--lease-ttl', '0'));
        const domain = faultDomain(options['region'] as string | undefined, options['zone'] as string | undefined);
        return runAgentCommand(ctx, {
          node,
          address: String(options['address']),
          attributes: (options['attr'] as Record<string, string> | undefined) ?? {},
          ...(domain ? { faultDomain: domain } : {}),
          cpus: (options['cpus'] as number | undefined) ?? cpus().length,
          cpuOvercommit: options['cpuOvercommit'] as number,
          mem: (options['mem'] as number | undefined) ?? Math.floor(totalmem() / 1024 / 1024),
          disk: options['disk'] as number | 'auto',
          gpus: options['gpus'] as number,
          ports: options['ports'] as { from: number; to: number },
          drivers: options['drivers'] as ('docker' | 'process')[],
          stateDir: resolve(ctx.config.cwd, (options['stateDir'] as string | undefined) ?? join(ctx.config.home, '.capstan', 'agent', node)),
          dockerSocket: String(options['dockerSocket']),
          leaseTtlSeconds: options['leaseTtl'] as number,
          logsPort: options['logsPort'] as number,
          portsScanSeconds: options['portsScanInterval'] as number,
          ...(options['metricsPort'] !== undefined ? { metricsPort: options['metricsPort'] as number } : {}),
        });
      }),
    );
}

export async function runAgentCommand(ctx: CommandContext, options: AgentCommandOptions): Promise<number> {
  const interrupted = ctx.untilInterrupted();
  const session = await ctx.session();
  const logger = readableLogger({ out: ctx.io.stderr, color: ctx.io.color, name: `agent ${options.node}` });
  // Loaded here, not at the top: every other command would otherwise pay for dockerode.
  const [{ Agent }, { freeDiskMiB }, { AgentMetrics, serveMetrics }] = await Promise.all([
    import('../runtime/agent.ts'),
    import('../runtime/agent/volumes.ts'),
    import('../api/metrics.ts'),
  ]);
  const metrics = new AgentMetrics();
  const drivers = await buildDrivers(options, logger);
  const diskMiB = options.disk === 'auto' ? freeDiskMiB(options.stateDir) : options.disk;
  const agent = new Agent({
    store: session.store.withMetrics(metrics.etcd),
    metrics,
    nodeName: options.node,
    address: options.address,
    attributes: options.attributes,
    ...(options.faultDomain ? { faultDomain: options.faultDomain } : {}),
    capacity: { cpus: offeredCpus(options.cpus, options.cpuOvercommit), mem: options.mem, disk: diskMiB, gpus: options.gpus },
    portRange: options.ports,
    drivers,
    stateDir: options.stateDir,
    leaseTtlSeconds: options.leaseTtlSeconds,
    logsPort: options.logsPort,
    portsScanIntervalMs: Math.max(options.portsScanSeconds, 0.1) * 1000,
    logger,
    version: packageVersion(),
  });
  let metricsServer: Awaited<ReturnType<typeof serveMetrics>> | undefined;
  try {
    if (options.metricsPort !== undefined) metricsServer = await serveMetrics({ registry: metrics.registry, port: options.metricsPort });
    await agent.start();
    const offer = describeOffer({ cpus: options.cpus, overcommit: options.cpuOvercommit, mem: options.mem });
    const domain = options.faultDomain ? `; region ${options.faultDomain.region}, zone ${options.faultDomain.zone}` : '';
    const served = metricsServer ? `; metrics at ${metricsServer.url}` : '';
    logger.info(`agent ${options.node} running against ${ctx.config.etcd}; ${offer}${domain}; logs at ${agent.endpoint}${served}; Ctrl-C to stop`);
    await interrupted;
    logger.info('stopping the agent (workloads keep running)');
    await agent.stop();
  } finally {
    await metricsServer?.close();
    await Promise.all(drivers.map((driver) => driver.close()));
  }
  return EXIT.ok;
}

async function buildDrivers(options: AgentCommandOptions, logger: { warn: (message: string) => void }): Promise<Driver[]> {
  const drivers: Driver[] = [];
  if (options.drivers.includes('docker')) {
    const { findReachableDocker } = await import('./local/dockerd.ts');
    const reachable = await findReachableDocker(options.dockerSocket);
    if (reachable.reachable) {
      const [{ default: Docker }, { DockerDriver }] = await Promise.all([import('dockerode'), import('../runtime/drivers/docker.ts')]);
      drivers.push(new DockerDriver({ docker: new Docker({ socketPath: options.dockerSocket }), nodeName: options.node }));
    } else {
      logger.warn(`docker driver not offered: ${options.dockerSocket} does not answer (${reachable.reason}); start dockerd or pass --docker-socket`);
    }
  }
  if (options.drivers.includes('process')) {
    const { ProcessDriver } = await import('../runtime/drivers/process.ts');
    drivers.push(new ProcessDriver({ stateDir: join(options.stateDir, 'process') }));
  }
  if (drivers.length === 0) throw usageError(`agent ${options.node}: no driver is available (asked for ${options.drivers.join(', ')})`);
  return drivers;
}

/** Imported, not read from a path next to this file, so that it also works from the bundle bin/ makes. */
function packageVersion(): string {
  return packageJson.version;
}
