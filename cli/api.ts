// `capstan api`: the HTTP API server (api/http) in the foreground until SIGINT/SIGTERM: Marathon's
// REST v2, the event stream, metrics and the native API, on the cluster's etcd. Loopback unless
// --auth names a file of credentials.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command } from 'commander';
import { z } from 'zod';
import type { AuthConfig } from '../api/http/auth.ts';
import type { Act } from './command.ts';
import type { CommandContext } from './context.ts';
import { CliError, EXIT, usageError } from './errors.ts';
import { readableLogger } from './logger.ts';

// Repeated from api/http/server.ts (DEFAULT_API_HOST, DEFAULT_API_PORT) for help only: importing it
// here would load fastify for every command.
const HELP_DEFAULTS = { host: '127.0.0.1', port: 8080 } as const;

const say = {
  port: (value: string) => `--port: expected a port number 0-65535 (0: any free port), found "${value}"`,
  host: (value: string) => `--host: expected an IP address or localhost, found "${value}"`,
  authFile: (file: string, source: string, reason: string) => `${source}: cannot read ${file} (${reason}): expected a file of bearer tokens and user:password lines`,
  portTaken: (host: string, port: number) => `port ${port} on ${host} is in use by another program: choose another with --port (0: any free port)`,
  listening: (url: string, etcd: string, auth: string) => `api: serving Marathon's REST API (/v2), events and the native API (/api/v1) on ${url} from ${etcd}; ${auth}; Ctrl-C to stop`,
  noAuth: 'no authentication (loopback only)',
  withAuth: (source: string, tokens: number, users: number) => `authentication required (${tokens} token${tokens === 1 ? '' : 's'}, ${users} user${users === 1 ? '' : 's'} from ${source})`,
} as const;

export interface ApiCommandOptions {
  host: string;
  port: number;
  /** The auth file, and the flag or variable it came from. */
  auth?: { file: string; source: string };
}

const flagsSchema = z
  .object({
    host: z.string().default(HELP_DEFAULTS.host),
    port: z.string().default(String(HELP_DEFAULTS.port)),
    auth: z.string().optional(),
  })
  .strict();

/** The flags, checked once: each problem is a usage error naming its flag. */
export function parseApiFlags(flags: unknown, env: { apiAuth?: string }): ApiCommandOptions {
  const raw = flagsSchema.parse(flags);
  const port = z.coerce.number().int().min(0).max(65_535).safeParse(raw.port);
  if (!port.success || raw.port.trim() === '') throw usageError(say.port(raw.port));
  if (!/^[A-Za-z0-9.:-]+$/.test(raw.host)) throw usageError(say.host(raw.host));
  const auth = raw.auth !== undefined ? { file: raw.auth, source: '--auth' } : env.apiAuth !== undefined ? { file: env.apiAuth, source: 'CAPSTAN_API_AUTH' } : undefined;
  return { host: raw.host, port: port.data, ...(auth ? { auth } : {}) };
}

export function apiCommand(act: Act): Command {
  return new Command('api')
    .description(
      "Serve the HTTP API in the foreground: Marathon's REST API (/v2, /ping, /metrics), its event stream (/v2/events) and " +
        'the native API for every kind (/api/v1); SIGINT/SIGTERM stop it',
    )
    .option('--host <address>', `address to listen on (default: ${HELP_DEFAULTS.host}); any other address needs --auth`)
    .option('--port <port>', `port to listen on (default: ${HELP_DEFAULTS.port}, Marathon's; 0 for any free port)`)
    .option('--auth <file>', 'require credentials on every route but /ping: a file of bearer tokens and user:password lines (default: $CAPSTAN_API_AUTH)')
    .addHelpText(
      'after',
      [
        '',
        'The auth file, one credential per line (# comments):',
        '  s3cr3t-token        a bearer token: Authorization: Bearer s3cr3t-token (or DC/OS\'s token=s3cr3t-token)',
        '  ops:correct-horse   a basic-auth user and password: curl -u ops:correct-horse',
        'Without credentials a request gets 401 {"message": "Not Authenticated!"} and a WWW-Authenticate challenge.',
      ].join('\n'),
    )
    .action(act(async (ctx, flags: Record<string, unknown>) => runApiCommand(ctx, parseApiFlags(flags, ctx.config))));
}

export async function runApiCommand(ctx: CommandContext, options: ApiCommandOptions): Promise<number> {
  const interrupted = ctx.untilInterrupted();
  const auth = options.auth ? await readAuth(ctx, options.auth) : undefined;
  // Loaded here, not at the top: every other command would otherwise pay for fastify.
  const { startApiServer, listenRefusal } = await import('../api/http/server.ts');
  // Refused before connecting to etcd: the mistake is in the flags, whatever the cluster's state.
  const refusal = listenRefusal(options.host, auth);
  if (refusal) throw usageError(refusal);
  const session = await ctx.session();
  const log = readableLogger({ out: ctx.io.stderr, color: ctx.io.color, name: 'api' });
  let server;
  try {
    server = await startApiServer({ store: session.store, client: session.client, registry: session.registry, host: options.host, port: options.port, auth, log, etcd: ctx.config.etcd });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') throw usageError(say.portTaken(options.host, options.port));
    throw error;
  }
  const authText = auth && options.auth ? say.withAuth(`${options.auth.file} (${options.auth.source})`, auth.tokens.length, auth.users.length) : say.noAuth;
  ctx.io.stdout.write(`${say.listening(server.url, ctx.config.etcd, authText)}\n`);
  await interrupted;
  log.info('stopping the API server');
  await server.close();
  return EXIT.ok;
}

async function readAuth(ctx: CommandContext, auth: { file: string; source: string }): Promise<AuthConfig> {
  const path = resolve(ctx.config.cwd, auth.file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw usageError(say.authFile(auth.file, auth.source, (error as NodeJS.ErrnoException).code ?? (error as Error).message));
  }
  const { parseAuthFile } = await import('../api/http/auth.ts');
  const parsed = parseAuthFile(text, auth.file);
  if ('problem' in parsed) throw new CliError(parsed.problem, EXIT.usage);
  return parsed.config;
}
