// The `capstan` program: commander wiring, the config resolved once, and one place that turns any
// failure into an exit code and one line on stderr.
import type { Readable } from 'node:stream';
import { Command, CommanderError } from 'commander';
import { EtcdUnreachableError } from '../api/etcd.ts';
import { UnknownKindError } from '../api/kinds/registry.ts';
import { SelectorError } from '../api/labels.ts';
import { DEFAULT_NAMESPACE } from '../api/object.ts';
import { agentCommand } from './agent.ts';
import { applyCommand } from './apply.ts';
import { ConfigError, envSchema, resolveConfig, type CliConfig } from './config.ts';
import type { Act } from './command.ts';
import { openSession, type CommandContext, type Session } from './context.ts';
import { controllersCommand } from './controllers.ts';
import { deleteCommand } from './delete.ts';
import { describeCommand } from './describe.ts';
import { diffCommand } from './diff.ts';
import { dnsCommand } from './dns.ts';
import { CliError, EXIT } from './errors.ts';
import { getCommand } from './get.ts';
import { lbCommand } from './lb.ts';
import type { CliIO, Output } from './io.ts';
import { logsCommand } from './logs.ts';
import { rolloutCommand } from './rollout.ts';
import { upCommand } from './up.ts';

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

  const program = buildProgram((handler) => async (...args) => {
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
  });
  program.configureOutput({
    writeOut: (text) => void io.stdout.write(text),
    writeErr: (text) => void io.stderr.write(text),
  });
  program.exitOverride();
  for (const command of program.commands) command.exitOverride();

  try {
    await program.parseAsync(options.argv, { from: 'user' });
    return exitCode;
  } catch (error) {
    return reportFailure(error, io, env.CAPSTAN_DEBUG, errorExit);
  } finally {
    if (session) await session.then((s) => s.close(), () => undefined);
  }
}

export function buildProgram(act: Act): Command {
  const program = new Command('capstan')
    .description('Capstan: declarative containers on etcd, in Marathon\'s words')
    .option('--etcd <url>', 'etcd endpoint (default: CAPSTAN_ETCD, then the config file written by `capstan up`, then http://127.0.0.1:2379)')
    .option('-n, --namespace <namespace>', `namespace (default: "${DEFAULT_NAMESPACE}")`)
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      '\nConfig file: $CAPSTAN_CONFIG or ~/.capstan/config.yaml ("etcd: http://127.0.0.1:2379"), written by `capstan up`.\n' +
        'Exit codes: 0 ok, 1 invalid input or failed writes, 2 usage (diff: 0 same, 1 different, 2 error).\n' +
        'CAPSTAN_DEBUG=1 shows stack traces of unexpected errors; NO_COLOR disables colour.',
    );
  program.addCommand(applyCommand(act));
  program.addCommand(diffCommand(act));
  program.addCommand(getCommand(act));
  program.addCommand(describeCommand(act));
  program.addCommand(deleteCommand(act));
  program.addCommand(controllersCommand(act));
  program.addCommand(upCommand(act));
  program.addCommand(agentCommand(act));
  program.addCommand(logsCommand(act));
  program.addCommand(rolloutCommand(act));
  program.addCommand(dnsCommand(act));
  program.addCommand(lbCommand(act));
  return program;
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
