// `capstan scale APP N` (or `scale app/NAME N`): Marathon's most frequent change, as kubectl's scale.
// It writes spec.instances and nothing else: no inventory label, no last-applied record, so it never
// moves the App to another applied set, and the next `capstan apply` of a manifest that sets
// `instances` writes the manifest's number again, as with kubectl (what a manifest that leaves
// `instances` out does is apply's rule: api/apply/plan.ts). The change is a read-modify-write on a
// fresh read: a concurrent writer makes it re-read, never lose their change.
//
// A resident App (a persistent volume) keeps the Volumes of the slots it scales away (Reserved, data
// intact, reused first by a later scale-up), and says so. `--wipe` deletes them: after the scale it
// waits until the tasks of those slots have stopped, so that no running task loses its directory,
// then deletes their Volumes (the agent of each node removes the directory, then the object goes).
// It also wipes what an earlier scale-down kept: `scale db 1 --wipe` on an App already at 1.
import { Command } from 'commander';
import { DEFAULT_NAMESPACE } from '../api/object.ts';
import { scaleApp } from '../api/ops/scale.ts';
import { fromSlot, volumesOf, waitSlotsStopped, wipe, type VolumeObject } from './app-volumes.ts';
import { objectNotFound, parseDuration, type Act } from './command.ts';
import type { CommandContext } from './context.ts';
import { CliError, EXIT, usageError } from './errors.ts';

export interface ScaleOptions {
  app: string;
  instances: number;
  /** Delete the Volumes of slots ≥ instances once their tasks have stopped. */
  wipe?: boolean;
  /** With wipe: how long to wait for those tasks. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 60_000;

const inNamespace = (namespace: string) => (namespace === DEFAULT_NAMESPACE ? '' : ` -n ${namespace}`);
const slots = (from: number) => (from === 0 ? 'every slot' : `slots ${from} and above`);

const say = {
  count: (value: string) => `scale: expected the number of instances as a whole number ≥ 0 (0 suspends the App, as Marathon's), found "${value}"`,
  onlyApps: (kind: string) => `scale: only Apps have instances, found kind "${kind}": capstan scale APP N or capstan scale app/NAME N`,
  beingDeleted: (name: string) => `app/${name} is being deleted: not scaled`,
  scaled: (name: string, from: number, to: number) => `app/${name} scaled from ${from} to ${to}`,
  unchanged: (name: string, count: number) => `app/${name} already has ${count} instance${count === 1 ? '' : 's'}: unchanged`,
  kept: (name: string, namespace: string, from: number, volumes: readonly VolumeObject[]) =>
    `app/${name}: the volumes of ${slots(from)} are kept (Reserved) with their data, and a scale-up uses them again: ` +
    `${volumes.map((v) => v.metadata.name).join(', ')}. To delete them and their data: capstan${inNamespace(namespace)} scale ${name} ${from} --wipe`,
  waiting: (name: string, from: number) => `app/${name}: waiting for the tasks of ${slots(from)} to stop before wiping their volumes`,
  nothingToWipe: (name: string, from: number) => `app/${name} has no volumes of ${slots(from)}: nothing to wipe`,
} as const;

export function scaleCommand(act: Act): Command {
  return new Command('scale')
    .description('Set the number of instances of an App (spec.instances only; the next apply of a manifest that sets instances wins)')
    .argument('<app>', 'the App: NAME or app/NAME')
    .argument('<instances>', 'the number of instances, 0 or more (0 suspends the App)')
    .option('--wipe', 'a resident App: once the tasks of the slots scaled away have stopped, delete their volumes and data (kept otherwise)', false)
    .option('--timeout <duration>', 'with --wipe: how long to wait for those tasks to stop (30s, 2m; a bare number is seconds)', '60s')
    .action(
      act(async (ctx, target: string, count: string, options: { wipe: boolean; timeout: string }) => {
        const instances = Number(count);
        if (!/^\d+$/.test(count.trim()) || !Number.isSafeInteger(instances)) throw usageError(say.count(count));
        return runScale(ctx, { app: appName(target), instances, wipe: options.wipe, timeoutMs: parseDuration(options.timeout) });
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
  const result = await scaleApp({ store, namespace, name: options.app, instances: options.instances });
  if (result.outcome === 'gone') throw new CliError(objectNotFound(registry.get('App'), options.app, namespace));
  if (result.outcome === 'beingDeleted') throw new CliError(say.beingDeleted(options.app));
  const { before, resident } = result;
  const line = result.outcome === 'unchanged' ? say.unchanged(options.app, options.instances) : say.scaled(options.app, before, options.instances);
  ctx.io.stdout.write(`${line}\n`);
  if (options.wipe) await wipeScaledAway(ctx, options);
  else if (resident && options.instances < before) {
    const kept = fromSlot(await volumesOf(store, { namespace, app: options.app }), options.instances);
    if (kept.length > 0) ctx.io.stdout.write(`${say.kept(options.app, namespace, options.instances, kept)}\n`);
  }
  return EXIT.ok;
}

/** --wipe: the Volumes of slots ≥ instances, once no task of those slots runs. */
async function wipeScaledAway(ctx: CommandContext, options: ScaleOptions): Promise<void> {
  const { store } = await ctx.session();
  const namespace = ctx.config.namespace;
  const ref = { namespace, app: options.app };
  if (fromSlot(await volumesOf(store, ref), options.instances).length === 0) {
    ctx.io.stdout.write(`${say.nothingToWipe(options.app, options.instances)}\n`);
    return;
  }
  ctx.io.stdout.write(`${say.waiting(options.app, options.instances)}\n`);
  await waitSlotsStopped(store, { ...ref, slot: options.instances, timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS, what: `app/${options.app}` });
  // Read again: a Volume of those slots made while waiting is wiped too, one already gone is not.
  const lines = await wipe(store, fromSlot(await volumesOf(store, ref), options.instances));
  for (const line of lines) ctx.io.stdout.write(`${line}\n`);
}
