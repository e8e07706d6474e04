// `capstan up`: a local Capstan in one command. Starts a list of components in order (etcd, then the
// controllers; later dockerd, the agent and HAProxy join the list), points the config file at the
// etcd it started, applies the demo manifests, and on Ctrl-C stops what it started, in reverse order,
// and nothing else.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import type { Logger } from 'pino';
import { z } from 'zod';
import { runApply } from './apply.ts';
import { writeConfigFile, type CliConfig } from './config.ts';
import { openSession, type CommandContext, type Session } from './context.ts';
import { startControllers } from './controllers.ts';
import { EXIT } from './errors.ts';
import { EtcdServer } from './local/etcd-server.ts';
import { readableLogger } from './logger.ts';
import type { Act } from './program.ts';

export interface UpOptions {
  stateDir?: string;
  apply?: string | false;
  controllers: boolean;
}

/** One thing `up` runs. start() returns a line saying where it is; stop() undoes exactly start(). */
export interface Component {
  name: string;
  start(): Promise<string>;
  stop(): Promise<void>;
}

const DEFAULT_CLIENT_PORT = 2379;
const DEFAULT_PEER_PORT = 2380;
const DEMO = join('manifests', 'demo');

const portsSchema = z.object({ clientPort: z.number().int(), peerPort: z.number().int() });

export function upCommand(act: Act): Command {
  return new Command('up')
    .description('Run a local Capstan in the foreground: etcd (data kept in the state dir) and the controllers; Ctrl-C stops them')
    .option('--state-dir <dir>', 'where etcd keeps its data and logs (default: .capstan/ in the current directory)')
    .option('--apply <dir>', `apply these manifests once started (default: ${DEMO} when present)`)
    .option('--no-apply', 'apply nothing')
    .option('--no-controllers', 'start etcd only')
    .action(
      act(async (ctx, options: { stateDir?: string; apply?: string | boolean; controllers: boolean }) =>
        runUp(ctx, {
          stateDir: options.stateDir,
          apply: options.apply === false ? false : typeof options.apply === 'string' ? options.apply : undefined,
          controllers: options.controllers,
        }),
      ),
    );
}

export async function runUp(ctx: CommandContext, options: UpOptions): Promise<number> {
  const interrupted = ctx.untilInterrupted();
  const stateDir = resolve(ctx.config.cwd, options.stateDir ?? '.capstan');
  mkdirSync(stateDir, { recursive: true });
  const log = readableLogger({ out: ctx.io.stderr, color: ctx.io.color, name: 'up' });
  const ports = await choosePorts(stateDir);
  const etcd = new EtcdServer({ dataDir: join(stateDir, 'etcd', 'data'), logFile: join(stateDir, 'etcd.log'), ...ports });
  const upConfig: CliConfig = { ...ctx.config, etcd: etcd.url, etcdSource: 'capstan up' };
  let session: Session | undefined;

  const components: Component[] = [
    {
      name: 'etcd',
      async start() {
        await etcd.start();
        writeFileSync(join(stateDir, 'ports.json'), JSON.stringify(ports));
        writeConfigFile(ctx.config.configPath, etcd.url);
        session = await openSession(upConfig);
        return `${etcd.url} (pid ${etcd.pid}, data in ${join(stateDir, 'etcd', 'data')}, log ${join(stateDir, 'etcd.log')}); ${ctx.config.configPath} points at it`;
      },
      async stop() {
        session?.close();
        await etcd.stop();
      },
    },
  ];
  if (options.controllers) components.push(controllersComponent(() => session!, log));

  const started: Component[] = [];
  let code: number = EXIT.ok;
  try {
    for (const component of components) {
      const where = await component.start();
      started.push(component);
      log.info(`${component.name} started: ${where}`);
    }
    const applyDir = options.apply === false ? undefined : (options.apply ?? (existsSync(join(ctx.config.cwd, DEMO)) ? DEMO : undefined));
    if (applyDir) {
      log.info(`applying ${applyDir}`);
      const applyCtx: CommandContext = { ...ctx, config: upConfig, session: async () => session! };
      code = await runApply(applyCtx, { files: [applyDir], dryRun: false, prune: false });
    }
    log.info(`ready. In another terminal: npx capstan get apps -A   (Ctrl-C here stops what up started)`);
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

function controllersComponent(session: () => Session, log: Logger): Component {
  let running: { stop(): Promise<void> } | undefined;
  return {
    name: 'controllers',
    async start() {
      const started = await startControllers({ store: session().store, logger: log.child({ name: 'controllers' }), leaderElection: true });
      running = started;
      return `${started.controllers.join(', ')}, leader-elected`;
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

async function firstFree(candidates: (number | undefined)[]): Promise<number> {
  for (const port of candidates) if (port !== undefined && (await isFree(port))) return port;
  return listen(0);
}

async function isFree(port: number): Promise<boolean> {
  return listen(port).then(
    () => true,
    () => false,
  );
}

function listen(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      const chosen = typeof address === 'object' && address ? address.port : port;
      server.close(() => resolve(chosen));
    });
  });
}
