// The `capstan` program: commander wiring, the config resolved once, and one place that turns any
// failure into an exit code and one line on stderr.
//
// Commands are declared here and loaded on use: a start imports the module of the command it runs
// and no other, so `capstan get` loads neither the Docker client nor the controllers nor the agent,
// and `capstan --help` loads no command at all (with the bundle bin/ makes, each import() below is a
// chunk of its own). Adding a command is one line in COMMANDS:
//
//   lazy('scale <app> <instances>', 'Set the number of instances of an App', async () => (await import('./scale.ts')).scaleCommand),
//
// its term as `capstan --help` lists it (name, `[options]` if it has any, its arguments), a one-line
// summary for that list, and how to load its definition. cli/program.test.ts checks every term
// against the command's own definition, and prints the right one when they differ.
import type { Readable } from 'node:stream';
import { Command, CommanderError, Help } from 'commander';
import { EtcdUnreachableError } from '../api/etcd-errors.ts';
import { UnknownKindError } from '../api/kinds/registry.ts';
import { SelectorError } from '../api/labels.ts';
import { DEFAULT_NAMESPACE } from '../api/object.ts';
import { ConfigError, envSchema, resolveConfig, type CliConfig } from './config.ts';
import type { Act } from './command.ts';
import { openSession, type CommandContext, type Session } from './context.ts';
import { CliError, EXIT } from './errors.ts';
import type { CliIO, Output } from './io.ts';

/** A subcommand as the program knows it before loading it. */
export interface LazyCommand {
  /** As `capstan --help` lists it: `get [options] <kind> [name]` (`name|alias ...` with an alias). */
  term: string;
  name: string;
  aliases: string[];
  summary: string;
  load: () => Promise<(act: Act) => Command>;
}

function lazy(term: string, summary: string, load: LazyCommand['load']): LazyCommand {
  const [name, ...aliases] = term.split(' ')[0]!.split('|') as [string, ...string[]];
  return { term, name, aliases, summary, load };
}

export const COMMANDS: readonly LazyCommand[] = [
  lazy('apply [options]', 'Create or update objects from manifests', async () => (await import('./apply.ts')).applyCommand),
  lazy('diff [options]', 'Show what apply would change', async () => (await import('./diff.ts')).diffCommand),
  lazy('get [options] <kind> [name]', 'List objects of a kind, or show one', async () => (await import('./get.ts')).getCommand),
  lazy('describe <kind> [name]', 'Show one object: metadata, spec, status conditions and recent events', async () => (await import('./describe.ts')).describeCommand),
  lazy('delete [options] [kind] [names...]', 'Delete objects by KIND NAME... or those of manifests (-f)', async () => (await import('./delete.ts')).deleteCommand),
  lazy('edit <kind> [name]', 'Edit one object in $EDITOR; validated on save', async () => (await import('./edit.ts')).editCommand),
  lazy('patch [options] <kind> [name]', 'Change fields of one object with a JSON merge patch', async () => (await import('./patch.ts')).patchCommand),
  lazy('scale [options] <app> <instances>', 'Set the number of instances of an App', async () => (await import('./scale.ts')).scaleCommand),
  lazy('rollout', "Follow and steer an App's rolling upgrade", async () => (await import('./rollout.ts')).rolloutCommand),
  lazy('app', "Act on an App beyond its manifest (Marathon's queue)", async () => (await import('./app.ts')).appCommand),
  lazy('sync', 'Steer a Sync (gitops): apply now, suspend, resume, diff', async () => (await import('./sync.ts')).syncCommand),
  lazy('events [options]', "Print Marathon's event stream (GET /v2/events) from the store; -w follows it", async () => (await import('./events-command.ts')).eventsCommand),
  lazy('logs [options] <task>', 'Print the output of a task', async () => (await import('./logs.ts')).logsCommand),
  lazy('exec [options] <task> [command...]', 'Run a command in a task, through the agent of its node', async () => (await import('./exec.ts')).execCommand),
  lazy('up [options]', 'Run a local Capstan in the foreground, with the demo', async () => (await import('./up.ts')).upCommand),
  lazy('controllers [options]', 'Run the built-in controllers in the foreground', async () => (await import('./controllers.ts')).controllersCommand),
  lazy('agent [options]', 'Run the node agent in the foreground', async () => (await import('./agent.ts')).agentCommand),
  lazy('dns [options]', 'Serve DNS for the cluster', async () => (await import('./dns.ts')).dnsCommand),
  lazy('api [options]', "Serve the HTTP API: Marathon's REST API, events and the native API", async () => (await import('./api.ts')).apiCommand),
  lazy('lb [options]', 'Run a load balancer (HAProxy) on this node', async () => (await import('./lb.ts')).lbCommand),
  lazy('version [options]', "Print the CLI's version, Node's, and the cluster's etcd version", async () => (await import('./version.ts')).versionCommand),
  lazy('init', 'Create a project: `init controller NAME` for a controller with a kind of its own', async () => (await import('./init.ts')).initCommand),
];

export interface RunOptions {
  /** Arguments after the program name. */
  argv: string[];
  env: Record<string, string | undefined>;
  stdout: Output;
  stderr: Output;
  stdin: Readable;
  cwd: string;
  homedir: string;
  /** Resolves when the user asks to stop (SIGINT/SIGTERM in the real command). */
  untilInterrupted?: () => Promise<void>;
}

export async function runCli(options: RunOptions): Promise<number> {
  const env = envSchema.parse(options.env);
  const color = !env.NO_COLOR && (env.FORCE_COLOR || options.stdout.isTTY === true);
  const io: CliIO = { stdout: options.stdout, stderr: options.stderr, stdin: options.stdin, color };
  let exitCode: number = EXIT.ok;
  let session: Promise<Session> | undefined;
  let errorExit: number = EXIT.failed;

  const act: Act = (handler) => async (...args) => {
    const command = args.at(-1) as Command;
    const globals = command.optsWithGlobals<{ etcd?: string; namespace?: string }>();
    // diff reserves 1 for "differences": its errors exit 2.
    errorExit = command.name() === 'diff' ? 2 : EXIT.failed;
    const config: CliConfig = resolveConfig({ globals, env, cwd: options.cwd, homedir: options.homedir });
    const ctx: CommandContext = {
      config,
      io,
      session: () => (session ??= openSession(config)),
      untilInterrupted: options.untilInterrupted ?? (() => new Promise<void>(() => undefined)),
    };
    exitCode = await handler(ctx, ...args);
  };

  try {
    const program = await buildProgram(act, commandNamed(options.argv));
    // Every command, subcommands too, prints its help and usage errors to io, and throws instead of
    // exiting: runCli runs in-process in the tests.
    const configure = (command: Command): void => {
      command.exitOverride().configureOutput({ writeOut: (text) => void io.stdout.write(text), writeErr: (text) => void io.stderr.write(text) });
      command.commands.forEach(configure);
    };
    configure(program);
    await program.parseAsync(options.argv, { from: 'user' });
    return exitCode;
  } catch (error) {
    return reportFailure(error, io, env.CAPSTAN_DEBUG, errorExit);
  } finally {
    if (session) await session.then((s) => s.close(), () => undefined);
  }
}

/**
 * The program, with the definition of the command named `load` (or of none) loaded and every other
 * command declared only: enough for help, suggestions and usage errors.
 */
export async function buildProgram(act: Act, load?: string): Promise<Command> {
  const program = withGlobalOptions(new Command('capstan'))
    .description('Capstan: declarative containers on etcd, in Marathon\'s words')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      '\nConfig file: $CAPSTAN_CONFIG or ~/.capstan/config.yaml ("etcd: http://127.0.0.1:2379"), written by `capstan up`.\n' +
        'Exit codes: 0 ok, 1 invalid input or failed writes, 2 usage (diff: 0 same, 1 different, 2 error).\n' +
        'CAPSTAN_DEBUG=1 shows stack traces of unexpected errors; NO_COLOR disables colour.',
    );
  const terms = new Map<Command, string>();
  for (const declared of COMMANDS) {
    const wanted = load !== undefined && [declared.name, ...declared.aliases].includes(load);
    const command = wanted ? (await declared.load())(act) : new Command(declared.name).aliases(declared.aliases);
    command.summary(declared.summary);
    terms.set(command, declared.term);
    program.addCommand(command);
  }
  program.configureHelp({ subcommandTerm: (command) => terms.get(command) ?? new Help().subcommandTerm(command) });
  return program;
}

/**
 * The command argv runs, found as commander finds it: the first operand after the global options
 * (`capstan -n web get apps` → get; `capstan help get` → get).
 */
export function commandNamed(argv: readonly string[]): string | undefined {
  const probe = withGlobalOptions(new Command('capstan'))
    .exitOverride()
    .configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
  try {
    const { operands } = probe.parseOptions([...argv]);
    return operands[0] === 'help' ? operands[1] : operands[0];
  } catch {
    // A malformed global option (`--etcd` without a value): the real parse that follows says so.
    return undefined;
  }
}

/** The options every command takes, before or after its name. */
function withGlobalOptions(command: Command): Command {
  return command
    .option('--etcd <url>', 'etcd endpoint (default: CAPSTAN_ETCD, then the config file written by `capstan up`, then http://127.0.0.1:2379)')
    .option('-n, --namespace <namespace>', `namespace (default: "${DEFAULT_NAMESPACE}")`);
}

const say = {
  unexpected: (message: string) => `error: ${message}`,
} as const;

function reportFailure(error: unknown, io: CliIO, debug: boolean, errorExit: number): number {
  if (error instanceof CommanderError) {
    // Help and version print themselves and exit 0; everything else is a usage error.
    if (error.code === 'commander.helpDisplayed' || error.code === 'commander.help' || error.code === 'commander.version') return EXIT.ok;
    if (error.exitCode === 0) return EXIT.ok;
    return EXIT.usage;
  }
  if (error instanceof CliError) {
    io.stderr.write(`${error.message}\n`);
    return error.exitCode === EXIT.usage ? EXIT.usage : error.exitCode === EXIT.failed ? errorExit : error.exitCode;
  }
  if (error instanceof SelectorError) {
    io.stderr.write(`${error.message}\n`);
    return EXIT.usage;
  }
  if (error instanceof EtcdUnreachableError || error instanceof ConfigError || error instanceof UnknownKindError) {
    io.stderr.write(`${error.message}\n`);
    return errorExit;
  }
  const message = error instanceof Error ? error.message.split('\n')[0]! : String(error);
  io.stderr.write(`${say.unexpected(message)}\n`);
  if (debug && error instanceof Error && error.stack) io.stderr.write(`${error.stack}\n`);
  return errorExit;
}
