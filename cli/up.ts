// `capstan up`: a local Capstan in one command. Starts a list of components in order — etcd, a Docker
// Engine (unless one answers already), the busybox image, the node agent, the controllers, the DNS
// server, a load balancer (HAProxy) and the HTTP API (local/api.ts, last: it stops first) — points the
// config file at the etcd it started, applies the demo manifests, prints the URLs where the demo
// answers (directly, through HAProxy, by name) and the API's, and on Ctrl-C stops what it started, in
// reverse order, and nothing else.
// Each component it runs in its process (the agent, the controllers, DNS, the load balancer, the API)
// serves its Prometheus metrics on loopback, as the standalone commands do with --metrics-port 0, and
// up prints where (`<component> metrics: URL`) right after the component starts; etcd's own too.
// With --git it syncs a repository instead of applying the demo (local/git-sync.ts).
//
// The order is chosen for the stop as much as for the start. The load balancer and DNS come last, so
// they stop first: the front door closes (no new connection is routed, no name resolves) while every
// task behind it still serves, instead of HAProxy answering 503 while the agent stops them. Then the
// controllers, so nothing replaces the workloads the agent then stops; dockerd and etcd go last,
// after everything using them. The load balancer is not kept up to drain tasks: on Ctrl-C the agent
// stops them all at once, and there is no traffic worth keeping once the door is closed.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import type { Logger } from 'pino';
import { z } from 'zod';
import { runApply } from './apply.ts';
import { positiveInteger, type Act } from './command.ts';
import { writeConfigFile, type CliConfig } from './config.ts';
import { openSession, type CommandContext, type Session } from './context.ts';
import type { RunningControllers } from '../controllers/builtin.ts';
import { startControllers } from './controllers.ts';
import { EXIT, usageError } from './errors.ts';
import type { RunningLoadBalancer } from './lb.ts';
import type { Component } from './local/component.ts';
import { waitForDemoUrl } from './local/demo-url.ts';
import { DockerEngine, findReachableDocker, runDirFor } from './local/dockerd.ts';
import { EtcdServer } from './local/etcd-server.ts';
import { checkFrontDoorPorts, dnsComponent, DNS_ZONE, FRONT_DOOR_DEFAULTS, lbComponent, LOOPBACK, type FrontDoorPorts } from './local/front-door.ts';
import { describeOffer, LOCAL_CPU_OVERCOMMIT, overcommitFactor } from './local/capacity.ts';
import { LocalAgent } from './local/node-agent.ts';
import { parseGitFlag, type GitFlag } from './local/git-flag.ts';
import { syncFromGit } from './local/git-sync.ts';
import { firstFree } from './local/ports.ts';
import { apiComponent, UP_API_PORT } from './local/api.ts';
import { waitForFrontDoor } from './local/traffic.ts';
import { readableLogger } from './logger.ts';
import { RAISED_TXN_LIMITS } from '../api/txn.ts';

export interface UpOptions {
  stateDir?: string;
  apply?: string | false;
  controllers: boolean;
  /** A Docker Engine to use when it answers; otherwise up starts its own. */
  dockerSocket?: string;
  /** The DNS server's port on 127.0.0.1 (UDP and TCP). */
  dnsPort?: number;
  /** The load balancer's shared HTTP frontend (virtual hosts) on 127.0.0.1. */
  httpPort?: number;
  /** The load balancer's stats page on 127.0.0.1. */
  statsPort?: number;
  /** cpus the local node offers per core (local/capacity.ts); default LOCAL_CPU_OVERCOMMIT. */
  cpuOvercommit?: number;
  /** Sync this repository (local/git-sync.ts) instead of applying the demo. */
  git?: GitFlag;
  /** The HTTP API's port on 127.0.0.1 (local/api.ts); default UP_API_PORT when free, else any free port. */
  apiPort?: number;
}

const DEFAULT_CLIENT_PORT = 2379;
const DEFAULT_PEER_PORT = 2380;
const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';
const DEMO = join('manifests', 'demo');
const DEMO_APP = { namespace: 'demo', app: 'web' };
const NODE_NAME = 'local';
const IMAGE = 'local/busybox:1';
/** Bounded: the first run imports the image and starts containers; a minute is generous. */
const DEMO_TIMEOUT_MS = 60_000;
/** After a task answers: its health and readiness checks pass (seconds), then Endpoints, HAProxy and DNS follow at once. */
const FRONT_DOOR_TIMEOUT_MS = 30_000;
/** The demo App's virtual host (manifests/demo/web.yaml): *.localhost resolves to 127.0.0.1 in curl and browsers. */
const DEMO_VHOST = 'web.localhost';

/** The webhook receiver's port when free (`capstan controllers`' default); otherwise any free one, printed. */
const WEBHOOK_PORT = 9292;

const portsSchema = z.object({ clientPort: z.number().int(), peerPort: z.number().int() });

export function upCommand(act: Act): Command {
  return new Command('up')
    .description(
      'Run a local Capstan in the foreground: etcd, a Docker Engine (unless one answers), the controllers, one node agent, ' +
        'the DNS server, a load balancer (HAProxy) and the HTTP API on 127.0.0.1, data kept in the state dir; applies the demo and prints ' +
        'where it answers (directly, through HAProxy, by name), the API\'s URL and each component\'s Prometheus metrics URL; Ctrl-C stops everything it started',
    )
    .option('--state-dir <dir>', 'where etcd, dockerd and the agent keep their data and logs (default: .capstan/ in the current directory)')
    .option('--apply <dir>', `apply these manifests once started (default: ${DEMO} when present)`)
    .option('--no-apply', 'apply nothing')
    .option('--no-controllers', 'start etcd and the HTTP API only')
    .option(
      '--git <url[#ref:path]>',
      'sync this repository (GitRepository and Sync "up", prune on) instead of applying the demo, e.g. file:///tmp/deploy.git#main:apps; ' +
        'ref: a branch (default main), tags/NAME or a commit; path: default the root. Prints how to push a change and see it land',
      gitFlag,
    )
    .option('--docker-socket <path>', 'use the Docker Engine on this socket when it answers, instead of starting one', DEFAULT_DOCKER_SOCKET)
    .option('--dns-port <port>', `the DNS server's port on ${LOOPBACK}, UDP and TCP (default: ${FRONT_DOOR_DEFAULTS.dnsPort})`, positiveInteger('--dns-port'))
    .option('--http-port <port>', `the load balancer's shared HTTP frontend (virtual hosts) on ${LOOPBACK} (default: ${FRONT_DOOR_DEFAULTS.httpPort}; 80 needs root and is often taken)`, positiveInteger('--http-port'))
    .option('--stats-port <port>', `the load balancer's stats page on ${LOOPBACK} (default: ${FRONT_DOOR_DEFAULTS.statsPort})`, positiveInteger('--stats-port'))
    .option('--api-port <port>', `the HTTP API (capstan api) on ${LOOPBACK} (default: ${UP_API_PORT} when free, else any free port; printed as "api: URL")`, positiveInteger('--api-port'))
    .option(
      '--cpu-overcommit <factor>',
      `the local node offers this many cpus per core (default: ${LOCAL_CPU_OVERCOMMIT}): Apps are placed on the cpus they ask for, 1 per instance without resources, ` +
        'while cpu is shared, not reserved, so a 2-core machine offers 8 and holds the demo and a few Apps; 1 offers the cores as they are. Memory is never overcommitted',
      overcommitFactor('--cpu-overcommit'),
    )
    .action(
      act(
        async (
          ctx,
          options: {
            stateDir?: string;
            apply?: string | boolean;
            controllers: boolean;
            dockerSocket: string;
            dnsPort?: number;
            httpPort?: number;
            statsPort?: number;
            cpuOvercommit?: number;
            git?: GitFlag;
            apiPort?: number;
          },
        ) =>
        runUp(ctx, {
          stateDir: options.stateDir,
          apply: options.apply === false ? false : typeof options.apply === 'string' ? options.apply : undefined,
          controllers: options.controllers,
          dockerSocket: options.dockerSocket,
          dnsPort: options.dnsPort,
          httpPort: options.httpPort,
          statsPort: options.statsPort,
          cpuOvercommit: options.cpuOvercommit,
          git: options.git,
          apiPort: options.apiPort,
        }),
      ),
    );
}

function gitFlag(value: string): GitFlag {
  const parsed = parseGitFlag(value);
  if ('problem' in parsed) throw usageError(parsed.problem);
  return parsed;
}

export async function runUp(ctx: CommandContext, options: UpOptions): Promise<number> {
  const interrupted = ctx.untilInterrupted();
  const stop = new AbortController();
  void interrupted.then(() => stop.abort());
  const stateDir = resolve(ctx.config.cwd, options.stateDir ?? '.capstan');
  mkdirSync(stateDir, { recursive: true });
  const log = readableLogger({ out: ctx.io.stderr, color: ctx.io.color, name: 'up' });
  const frontDoor: FrontDoorPorts = {
    dnsPort: options.dnsPort ?? FRONT_DOOR_DEFAULTS.dnsPort,
    httpPort: options.httpPort ?? FRONT_DOOR_DEFAULTS.httpPort,
    statsPort: options.statsPort ?? FRONT_DOOR_DEFAULTS.statsPort,
  };
  // Before anything starts: a taken port is one sentence now, not an error after dockerd's start.
  if (options.controllers) await checkFrontDoorPorts(frontDoor);
  const ports = await choosePorts(stateDir);
  const etcd = new EtcdServer({ dataDir: join(stateDir, 'etcd', 'data'), logFile: join(stateDir, 'etcd.log'), ownProcessGroup: true, ...ports });
  const upConfig: CliConfig = { ...ctx.config, etcd: etcd.url, etcdSource: 'capstan up' };
  let session: Session | undefined;

  const components: Component[] = [
    {
      name: 'etcd',
      // etcd serves its own metrics on its client URL.
      metricsUrl: `${etcd.url}/metrics`,
      async start() {
        await etcd.start();
        writeFileSync(join(stateDir, 'ports.json'), JSON.stringify(ports));
        writeConfigFile(ctx.config.configPath, etcd.url);
        // up started this etcd with raised transaction limits (cli/local/etcd-server.ts): a Sync's
        // commit of thousands of objects is still one transaction.
        session = await openSession(upConfig, { txnLimits: RAISED_TXN_LIMITS });
        return `${etcd.url} (pid ${etcd.pid}, data in ${join(stateDir, 'etcd', 'data')}, log ${join(stateDir, 'etcd.log')}); ${ctx.config.configPath} points at it`;
      },
      async stop() {
        session?.close();
        await etcd.stop();
      },
    },
  ];
  let controllers: ReturnType<typeof controllersComponent> | undefined;
  const lb = lbComponent({ session: () => session!, stateDir, httpPort: frontDoor.httpPort, statsPort: frontDoor.statsPort, log });
  if (options.controllers) {
    const docker = dockerComponent(stateDir, options.dockerSocket ?? DEFAULT_DOCKER_SOCKET);
    controllers = controllersComponent({ session: () => session!, log, stateDir });
    components.push(
      docker,
      agentComponent({ session: () => session!, stateDir, socketPath: () => docker.socketPath, log, cpuOvercommit: options.cpuOvercommit }),
      controllers,
      dnsComponent({ session: () => session!, port: frontDoor.dnsPort, log }),
      lb,
    );
  }
  components.push(apiComponent({ session: () => session!, etcd: etcd.url, port: options.apiPort, log, out: ctx.io.stdout }));

  const started: Component[] = [];
  let code: number = EXIT.ok;
  try {
    for (const component of components) {
      if (stop.signal.aborted) break;
      const where = await component.start();
      started.push(component);
      log.info(`${component.name} started: ${where}`);
      if (component.metricsUrl) ctx.io.stdout.write(`${component.name} metrics: ${component.metricsUrl}\n`);
    }
    // --git replaces the demo: the repository is what should run. --apply DIR still applies besides.
    const demo = !options.git && existsSync(join(ctx.config.cwd, DEMO)) ? DEMO : undefined;
    const applyDir = options.apply === false ? undefined : (options.apply ?? demo);
    if (applyDir && !stop.signal.aborted) {
      log.info(`applying ${applyDir}`);
      const applyCtx: CommandContext = { ...ctx, config: upConfig, session: async () => session! };
      code = await runApply(applyCtx, { files: [applyDir], dryRun: false, prune: false });
      if (applyDir === DEMO && lb.running) await announceDemo({ session: session!, ctx, log, signal: stop.signal, lb: { dir: lb.dir, statsUrl: lb.running.statsUrl, credentials: lb.running.credentials }, frontDoor });
    }
    if (options.git && controllers && !stop.signal.aborted) {
      await syncFromGit({
        store: session!.store,
        namespace: ctx.config.namespace,
        flag: options.git,
        webhookUrl: controllers.webhookUrl,
        secretFile: controllers.webhookSecretFile,
        log,
        signal: stop.signal,
        out: ctx.io.stdout,
      });
    }
    if (!stop.signal.aborted) log.info(`ready. In another terminal: capstan get tasks -A -o wide   (npm link once puts capstan on PATH; Ctrl-C here stops what up started)`);
    await interrupted;
    log.info('stopping');
  } finally {
    for (const component of started.reverse()) {
      await component.stop().catch((error: unknown) => log.error(`${component.name} did not stop cleanly: ${(error as Error).message}`));
      log.info(`${component.name} stopped`);
    }
  }
  return code;
}

interface AnnounceOptions {
  session: Session;
  ctx: CommandContext;
  log: Logger;
  signal: AbortSignal;
  lb: Pick<RunningLoadBalancer, 'statsUrl' | 'credentials'> & { dir: string };
  frontDoor: FrontDoorPorts;
}

/**
 * Waits (bounded) until a demo task answers HTTP and prints its URL on stdout (`demo: URL`, the line
 * scripts read); then the ways in through the load balancer and DNS, each only once it has answered.
 */
async function announceDemo({ session, ctx, log, signal, lb, frontDoor }: AnnounceOptions): Promise<void> {
  log.info(`waiting for ${DEMO_APP.namespace}/${DEMO_APP.app} to answer (at most ${DEMO_TIMEOUT_MS / 1000} s)`);
  const url = await waitForDemoUrl({ store: session.store, ...DEMO_APP, timeoutMs: DEMO_TIMEOUT_MS, signal });
  if (!url) {
    if (!signal.aborted) log.warn(`no demo task answered HTTP within ${DEMO_TIMEOUT_MS / 1000} s; see capstan get tasks -A -o wide and capstan describe`);
    return;
  }
  ctx.io.stdout.write(`demo: ${url}\n`);
  log.info(`waiting for ${DEMO_APP.namespace}/${DEMO_APP.app} to answer through HAProxy and DNS (at most ${FRONT_DOOR_TIMEOUT_MS / 1000} s)`);
  const found = await waitForFrontDoor({
    store: session.store,
    ...DEMO_APP,
    lb: { address: LOOPBACK, httpPort: frontDoor.httpPort, statsUrl: lb.statsUrl, credentials: lb.credentials },
    vhost: DEMO_VHOST,
    dns: { address: LOOPBACK, port: frontDoor.dnsPort, zone: DNS_ZONE },
    timeoutMs: FRONT_DOOR_TIMEOUT_MS,
    signal,
  });
  const lines = [
    found.servicePortUrl && `demo through the load balancer: ${found.servicePortUrl}`,
    found.vhostUrl && `demo by virtual host: ${found.vhostUrl}`,
    found.dig && `demo by name: ${found.dig}`,
    found.statsUrl && `load balancer stats: ${found.statsUrl} (user and password in ${join(lb.dir, 'stats-credentials')})`,
  ].filter(Boolean);
  ctx.io.stdout.write(lines.map((line) => `${line}\n`).join(''));
  if (found.failed.length > 0 && !signal.aborted) {
    log.warn(`within ${FRONT_DOOR_TIMEOUT_MS / 1000} s, ${found.failed.join('; ')}; see capstan describe app ${DEMO_APP.app} -n ${DEMO_APP.namespace} and capstan lb status --dir ${lb.dir}`);
  }
}

/**
 * The Docker Engine the agent uses: one that answers already (the system's, or this state dir's own
 * left running by an `up` that was killed) is used and left alone; otherwise up starts dockerd with
 * its data root in the state dir (kept for the next run) and its sockets in a short directory
 * (runDirFor). Then the busybox image the demo runs is imported when missing: an image is data, so
 * stopping leaves it for the next run.
 */
function dockerComponent(stateDir: string, systemSocket: string): Component & { readonly socketPath: string } {
  const dir = join(stateDir, 'docker');
  const engine = new DockerEngine({ dir, runDir: runDirFor(dir), ownProcessGroup: true });
  let socketPath = engine.socketPath;
  let ours = false;
  return {
    name: 'docker',
    get socketPath() {
      return socketPath;
    },
    async start() {
      let where: string | undefined;
      for (const candidate of [systemSocket, engine.socketPath]) {
        const found = await findReachableDocker(candidate);
        if (found.reachable) {
          socketPath = candidate;
          where = `the Docker Engine already answering on ${candidate} (API ${found.apiVersion}; up will not stop it)`;
          break;
        }
      }
      if (!where) {
        await engine.start();
        ours = true;
        where = `dockerd (pid ${engine.pid}) on ${engine.socketPath}, data in ${join(dir, 'data')}, log ${join(dir, 'dockerd.log')}`;
      }
      const [{ default: Docker }, { ensureBusyboxImage }] = await Promise.all([import('dockerode'), import('./local/image.ts')]);
      const id = await ensureBusyboxImage(new Docker({ socketPath }), IMAGE);
      return `${where}; image ${IMAGE} ${id.slice(0, 19)}`;
    },
    async stop() {
      if (ours) await engine.stop();
    },
  };
}

function agentComponent(options: { session: () => Session; stateDir: string; socketPath: () => string; log: Logger; cpuOvercommit?: number }): Component {
  let agent: LocalAgent | undefined;
  return {
    name: 'agent',
    get metricsUrl() {
      return agent?.metricsUrl;
    },
    async start() {
      agent = new LocalAgent({
        store: options.session().store,
        node: NODE_NAME,
        stateDir: join(options.stateDir, 'agent'),
        dockerSocket: options.socketPath(),
        logger: options.log.child({ name: `agent ${NODE_NAME}` }),
        cpuOvercommit: options.cpuOvercommit,
        metricsPort: 0,
      });
      const drivers = await agent.start();
      const { cores, overcommit, mem } = agent.capacity;
      const offer = describeOffer({ cpus: cores, overcommit, mem });
      return `node ${NODE_NAME} (in this process; ${offer}; drivers ${drivers.join(', ')}; logs at ${agent.endpoint}; sandboxes in ${join(options.stateDir, 'agent')})`;
    },
    async stop() {
      const stopped = await agent?.stop();
      options.log.info(`stopped ${stopped ?? 0} workload(s) on node ${NODE_NAME}`);
    },
  };
}

/**
 * The built-in controllers, their git cache in the state dir, and the gitops webhook receiver on
 * loopback: on by default because `up --git` prints a hook to call, and loopback because only this
 * machine's git server (a post-receive hook) should reach it; its secret is a file in the state dir.
 */
function controllersComponent(options: { session: () => Session; log: Logger; stateDir: string }): Component & { readonly webhookUrl?: string; readonly webhookSecretFile: string } {
  let running: RunningControllers | undefined;
  const webhookSecretFile = join(options.stateDir, 'webhook-secret');
  return {
    name: 'controllers',
    webhookSecretFile,
    get webhookUrl() {
      return running?.webhookUrl;
    },
    get metricsUrl() {
      return running?.metricsUrl;
    },
    async start() {
      running = await startControllers({
        store: options.session().store,
        logger: options.log.child({ name: 'controllers' }),
        leaderElection: true,
        metricsPort: 0,
        gitCacheDir: join(options.stateDir, 'git'),
        webhook: { host: LOOPBACK, port: await firstFree([WEBHOOK_PORT]), secretFile: webhookSecretFile },
      });
      const hook = running.webhookUrl ? `; gitops webhook receiver on ${running.webhookUrl} (secret in ${webhookSecretFile})` : '';
      return `${running.controllers.join(', ')}, leader-elected${hook}`;
    },
    async stop() {
      await running?.stop();
    },
  };
}

/** The ports of the previous run when still free (a second `up` finds its etcd where it was), else 2379/2380, else any free port. */
async function choosePorts(stateDir: string): Promise<{ clientPort: number; peerPort: number }> {
  const file = join(stateDir, 'ports.json');
  let previous: z.infer<typeof portsSchema> | undefined;
  try {
    previous = portsSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
  } catch {
    previous = undefined;
  }
  const clientPort = await firstFree([previous?.clientPort, DEFAULT_CLIENT_PORT]);
  const peerPort = await firstFree([previous?.peerPort, DEFAULT_PEER_PORT].filter((p) => p !== clientPort));
  return { clientPort, peerPort };
}

