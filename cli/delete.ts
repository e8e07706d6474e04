// `capstan delete`: by name or by the objects of manifests. An object with finalizers is only
// marked for deletion; --wait waits until it is gone.
import { Command } from 'commander';
import type { Store } from '../api/store.ts';
import { collect, type Act } from './command.ts';
import type { CommandContext } from './context.ts';
import { CliError, EXIT, usageError } from './errors.ts';
import { palette } from './io.ts';
import { displayName, loadManifests } from './manifests.ts';

export interface DeleteOptions {
  files: string[];
  kind?: string;
  names: string[];
  wait: boolean;
  timeoutSeconds: number;
}

interface Target {
  kind: string;
  namespace?: string;
  name: string;
}

const say = {
  deleted: 'deleted',
  marked: 'marked for deletion (waiting for finalizers)',
  notFound: 'not found',
  needTarget: 'delete needs -f FILE|DIR|- or KIND NAME...',
  notBoth: 'give either -f or KIND NAME..., not both',
  needName: (kind: string) => `delete ${kind} needs at least one NAME`,
  timeout: (name: string, seconds: number) => `${name} still exists after ${seconds} s (finalizers: a controller has not released it yet)`,
} as const;

export function deleteCommand(act: Act): Command {
  return new Command('delete')
    .description('Delete objects by KIND NAME... or those of manifests (-f); a missing named object is an error, a missing -f object is reported')
    .argument('[kind]', 'kind, plural or short name (or kind/name)')
    .argument('[names...]', 'names')
    .option('-f, --filename <path>', 'delete the objects of these manifests; repeatable', collect, [])
    .option('--wait', 'wait until the objects are gone (finalizers released)', false)
    .option('--timeout <seconds>', 'with --wait: give up after this long', (v) => Number(v), 60)
    .action(
      act(async (ctx, kind: string | undefined, names: string[], options: { filename: string[]; wait: boolean; timeout: number }) => {
        let resolvedKind = kind;
        let resolvedNames = names;
        if (kind?.includes('/')) {
          resolvedKind = kind.slice(0, kind.indexOf('/'));
          resolvedNames = [kind.slice(kind.indexOf('/') + 1), ...names];
        }
        return runDelete(ctx, { files: options.filename, kind: resolvedKind, names: resolvedNames, wait: options.wait, timeoutSeconds: options.timeout });
      }),
    );
}

export async function runDelete(ctx: CommandContext, options: DeleteOptions): Promise<number> {
  if (options.files.length > 0 && options.kind !== undefined) throw usageError(say.notBoth);
  if (options.files.length === 0 && options.kind === undefined) throw usageError(say.needTarget);
  if (options.kind !== undefined && options.names.length === 0) throw usageError(say.needName(options.kind));
  const session = await ctx.session();
  const fromFiles = options.files.length > 0;
  let targets: Target[];
  if (fromFiles) {
    const objects = await loadManifests(ctx, { files: options.files, session, storeChecks: false, consequence: 'nothing was deleted' });
    // Objects of a kind go before the CustomKind that defines it.
    targets = objects.reverse().map((o) => ({ kind: o.kind, namespace: o.metadata.namespace, name: o.metadata.name }));
  } else {
    const definition = session.registry.get(options.kind!);
    const namespace = definition.namespaced ? ctx.config.namespace : undefined;
    targets = options.names.map((name) => ({ kind: definition.kind, namespace, name }));
  }

  const paint = palette(ctx.io.color);
  let failed = false;
  const pending: Target[] = [];
  for (const target of targets) {
    const name = displayName({ kind: target.kind, metadata: target });
    try {
      const before = await session.store.delete(target.kind, target);
      if (!before) {
        ctx.io.stderr.write(`${name} ${say.notFound}\n`);
        if (!fromFiles) failed = true;
        continue;
      }
      const gone = !(before.metadata.finalizers ?? []).length;
      ctx.io.stdout.write(`${name} ${gone ? paint.red(say.deleted) : paint.yellow(say.marked)}\n`);
      if (!gone) pending.push(target);
    } catch (error) {
      failed = true;
      ctx.io.stderr.write(`${name} ${paint.red('failed')}: ${error instanceof Error ? error.message : String(error)}\n`);
    }
  }
  if (options.wait) {
    for (const target of pending) {
      await waitGone(session.store, target, options.timeoutSeconds);
      ctx.io.stdout.write(`${displayName({ kind: target.kind, metadata: target })} ${paint.red(say.deleted)}\n`);
    }
  }
  return failed ? EXIT.failed : EXIT.ok;
}

async function waitGone(store: Store, target: Target, timeoutSeconds: number): Promise<void> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  while (await store.get(target.kind, target)) {
    if (Date.now() > deadline) throw new CliError(say.timeout(displayName({ kind: target.kind, metadata: target }), timeoutSeconds));
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
