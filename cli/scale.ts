// `capstan scale APP N` (or `scale app/NAME N`): Marathon's most frequent change, as kubectl's scale.
// It writes spec.instances and nothing else: no inventory label, no last-applied record, so it never
// moves the App to another applied set, and the next `capstan apply` of a manifest that sets
// `instances` writes the manifest's number again, as with kubectl (what a manifest that leaves
// `instances` out does is apply's rule: api/apply/plan.ts). The change is a read-modify-write on a
// fresh read: a concurrent writer makes it re-read, never lose their change.
import { Command } from 'commander';
import type { AppSpec } from '../api/kinds/app.ts';
import type { CapstanObject } from '../api/object.ts';
import { readModifyWrite } from '../api/read-modify-write.ts';
import { objectNotFound, type Act } from './command.ts';
import type { CommandContext } from './context.ts';
import { CliError, EXIT, usageError } from './errors.ts';

export interface ScaleOptions {
  app: string;
  instances: number;
}

type App = CapstanObject<AppSpec>;

const MAX_ATTEMPTS = 5;

const say = {
  count: (value: string) => `scale: expected the number of instances as a whole number ≥ 0 (0 suspends the App, as Marathon's), found "${value}"`,
  onlyApps: (kind: string) => `scale: only Apps have instances, found kind "${kind}": capstan scale APP N or capstan scale app/NAME N`,
  beingDeleted: (name: string) => `app/${name} is being deleted: not scaled`,
  scaled: (name: string, from: number, to: number) => `app/${name} scaled from ${from} to ${to}`,
  unchanged: (name: string, count: number) => `app/${name} already has ${count} instance${count === 1 ? '' : 's'}: unchanged`,
} as const;

export function scaleCommand(act: Act): Command {
  return new Command('scale')
    .description('Set the number of instances of an App (spec.instances only; the next apply of a manifest that sets instances wins)')
    .argument('<app>', 'the App: NAME or app/NAME')
    .argument('<instances>', 'the number of instances, 0 or more (0 suspends the App)')
    .action(
      act(async (ctx, target: string, count: string) => {
        const instances = Number(count);
        if (!/^\d+$/.test(count.trim()) || !Number.isSafeInteger(instances)) throw usageError(say.count(count));
        return runScale(ctx, { app: appName(target), instances });
      }),
    );
}

/** `web`, `app/web`, `apps/web`: the App's name; any other kind is a usage error. */
function appName(target: string): string {
  const slash = target.indexOf('/');
  if (slash < 0) return target;
  const kind = target.slice(0, slash);
  if (!['app', 'apps', 'App'].includes(kind)) throw usageError(say.onlyApps(kind));
  return target.slice(slash + 1);
}

export async function runScale(ctx: CommandContext, options: ScaleOptions): Promise<number> {
  const { store, registry } = await ctx.session();
  const namespace = ctx.config.namespace;
  let before = 0;
  const result = await readModifyWrite<App>({
    store,
    kind: 'App',
    ref: { namespace, name: options.app },
    write: 'update',
    change: (current) => {
      if (current.metadata.deletionTimestamp) throw new CliError(say.beingDeleted(options.app));
      before = current.spec.instances;
      if (current.spec.instances === options.instances) return undefined;
      return { ...current, spec: { ...current.spec, instances: options.instances } };
    },
    attempts: MAX_ATTEMPTS,
  });
  if (result.outcome === 'gone') throw new CliError(objectNotFound(registry.get('App'), options.app, namespace));
  const line = result.outcome === 'unchanged' ? say.unchanged(options.app, options.instances) : say.scaled(options.app, before, options.instances);
  ctx.io.stdout.write(`${line}\n`);
  return EXIT.ok;
}
