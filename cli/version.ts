// `capstan version [--client]`: the CLI's version (package.json), Node's, and the version of the
// cluster's etcd when it answers within a second. etcd's own HTTP endpoint (`GET /version`) answers
// that, so no etcd client (gRPC) is loaded. The client part always succeeds: an etcd that does not
// answer is one line and exit 0, since `version` is what people run to find out what is wrong.
import { Command } from 'commander';
import packageJson from '../package.json' with { type: 'json' };
import type { Act } from './command.ts';
import type { CommandContext } from './context.ts';
import { EXIT } from './errors.ts';

export interface VersionOptions {
  clientOnly: boolean;
}

const ETCD_TIMEOUT_MS = 1_000;

const say = {
  client: (version: string) => `Client Version: ${version}`,
  node: (version: string) => `Node Version: ${version}`,
  etcd: (version: string, url: string) => `etcd Version: ${version} (${url})`,
  unreachable: (url: string, source: string, reason: string) =>
    `etcd Version: unknown, no answer from ${url} (from ${source}): ${reason}. Start one with \`capstan up\`, or point --etcd at yours`,
} as const;

export function versionCommand(act: Act): Command {
  return new Command('version')
    .description("Print the CLI's version, Node's, and the cluster's etcd version when it answers")
    .option('--client', 'only the client: do not ask etcd', false)
    .action(act(async (ctx, options: { client: boolean }) => runVersion(ctx, { clientOnly: options.client })));
}

export async function runVersion(ctx: CommandContext, options: VersionOptions): Promise<number> {
  const lines = [say.client(packageJson.version), say.node(process.version)];
  if (!options.clientOnly) lines.push(await etcdLine(ctx));
  ctx.io.stdout.write(`${lines.join('\n')}\n`);
  return EXIT.ok;
}

async function etcdLine(ctx: CommandContext): Promise<string> {
  const base = firstEndpoint(ctx.config.etcd);
  try {
    const response = await fetch(`${base}/version`, { signal: AbortSignal.timeout(ETCD_TIMEOUT_MS) });
    const body = (await response.json()) as { etcdserver?: unknown };
    if (!response.ok || typeof body.etcdserver !== 'string') return say.unreachable(base, ctx.config.etcdSource, `HTTP ${response.status} without a version`);
    return say.etcd(body.etcdserver, base);
  } catch (error) {
    const reason = error instanceof Error && error.name === 'TimeoutError' ? `no answer within ${ETCD_TIMEOUT_MS} ms` : causeOf(error);
    return say.unreachable(base, ctx.config.etcdSource, reason);
  }
}

/** The first endpoint of `http://a:2379,b:2379` or `a:2379`, as a URL. */
function firstEndpoint(endpoints: string): string {
  const first = endpoints.split(',')[0]!.trim().replace(/\/$/, '');
  return /^https?:\/\//.test(first) ? first : `http://${first}`;
}

/** fetch says "fetch failed" and keeps the reason (ECONNREFUSED, ...) in its cause. */
function causeOf(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
}
