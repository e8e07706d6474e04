// `capstan sync`: steer a Sync (controllers/gitops/) from the command line, as `flux reconcile`,
// `flux suspend` and `flux diff` do.
//
// - `now` stamps the Sync's GitRepository, then the Sync, with capstan.io/requestedAt (Flux's
//   reconcile.fluxcd.io/requestedAt). The CLI never writes status: each controller acts on a new
//   stamp at once (the repository fetches, the Sync applies) and records it as
//   status.lastHandledRequestedAt, which is how the CLI knows its request was seen. The repository
//   first, so that the Sync's stamp is handled against the commit that fetch found.
// - `suspend` / `resume` write spec.suspend only, as `capstan scale` writes spec.instances.
// - `diff` is in sync-diff.ts.
import { Command } from 'commander';
import type { GitRepositoryStatus } from '../api/kinds/gitrepository.ts';
import type { SyncSpec, SyncStatus } from '../api/kinds/sync.ts';
import { REQUESTED_AT_ANNOTATION } from '../api/kinds/wellknown.ts';
import { getCondition, type CapstanObject } from '../api/object.ts';
import { readModifyWrite } from '../api/read-modify-write.ts';
import type { Store } from '../api/store.ts';
import { objectNotFound, parseDuration, type Act } from './command.ts';
import type { CommandContext } from './context.ts';
import { CliError, EXIT } from './errors.ts';

type Sync = CapstanObject<SyncSpec, SyncStatus>;
type GitRepository = CapstanObject<unknown, GitRepositoryStatus>;

const MAX_ATTEMPTS = 5;
const POLL_MS = 100;

export const say = {
  beingDeleted: (name: string) => `sync/${name} is being deleted: nothing changed`,
  suspended: (name: string) => `sync/${name} suspended: no commit is applied until \`capstan sync resume ${name}\``,
  resumed: (name: string) => `sync/${name} resumed: it applies its repository's current commit`,
  already: (name: string, state: 'suspended' | 'resumed') => `sync/${name} is already ${state === 'suspended' ? 'suspended' : 'not suspended'}: unchanged`,
  nowSuspended: (name: string) => `sync/${name} is suspended: nothing would be applied; run \`capstan sync resume ${name}\` first`,
  noRepository: (sync: string, repository: string) =>
    `sync/${sync} reads GitRepository "${repository}", which does not exist in this namespace: apply it, or fix the Sync's spec.sourceRef.name`,
  requested: (name: string, stamp: string) => `sync/${name}: sync requested (${REQUESTED_AT_ANNOTATION}=${stamp}); \`capstan get sync ${name}\` shows the outcome`,
  fetchFailed: (repository: string, message: string) => `gitrepository/${repository} could not fetch: ${message}`,
  timedOut: (what: string, seconds: number, last: string | undefined) =>
    `${what} did not handle the request within ${seconds} s${last ? ` (its Ready message: ${last})` : ''}; are the controllers running (\`capstan controllers\`)? Raise --timeout to wait longer`,
} as const;

export function syncCommand(act: Act): Command {
  const sync = new Command('sync').description('Steer a Sync: apply now, suspend, resume, or show what its next sync would change');
  sync
    .command('now')
    .description(
      `Fetch the Sync's repository and apply its current commit now (annotation ${REQUESTED_AT_ANNOTATION}); wait for the outcome: exit 0 applied, 1 failed or timed out`,
    )
    .argument('<name>', 'the Sync')
    .option('--timeout <duration>', 'how long to wait for the outcome (90s, 5m; a bare number is seconds)', '60s')
    .option('--no-wait', 'return once the request is written')
    .action(act(async (ctx, name: string, options: { timeout: string; wait: boolean }) => runSyncNow(ctx, { name, wait: options.wait, timeoutMs: parseDuration(options.timeout) })));
  sync
    .command('suspend')
    .description('Stop applying commits (spec.suspend: true); the objects stay as they are')
    .argument('<name>', 'the Sync')
    .action(act(async (ctx, name: string) => runSuspend(ctx, { name, suspend: true })));
  sync
    .command('resume')
    .description("Apply commits again (spec.suspend: false), starting with the repository's current one")
    .argument('<name>', 'the Sync')
    .action(act(async (ctx, name: string) => runSuspend(ctx, { name, suspend: false })));
  sync
    .command('diff')
    .description("Show what the Sync's next sync would change, at the repository's current commit: exit 0 no differences, 1 differences, 2 error")
    .argument('<name>', 'the Sync')
    .option('--git-cache-dir <dir>', 'where fetched repositories are kept (default ~/.capstan/git, as `capstan controllers`)')
    .action(act(async (ctx, name: string, options: { gitCacheDir?: string }) => (await import('./sync-diff.ts')).runSyncDiff(ctx, { name, gitCacheDir: options.gitCacheDir })));
  return sync;
}

export interface SuspendOptions {
  name: string;
  suspend: boolean;
}

export async function runSuspend(ctx: CommandContext, options: SuspendOptions): Promise<number> {
  const { store, registry } = await ctx.session();
  const namespace = ctx.config.namespace;
  const result = await readModifyWrite<Sync>({
    store,
    kind: 'Sync',
    ref: { namespace, name: options.name },
    write: 'update',
    change: (current) => {
      if (current.metadata.deletionTimestamp) throw new CliError(say.beingDeleted(options.name));
      if (current.spec.suspend === options.suspend) return undefined;
      return { ...current, spec: { ...current.spec, suspend: options.suspend } };
    },
    attempts: MAX_ATTEMPTS,
  });
  if (result.outcome === 'gone') throw new CliError(objectNotFound(registry.get('Sync'), options.name, namespace));
  const state = options.suspend ? 'suspended' : 'resumed';
  const line = result.outcome === 'unchanged' ? say.already(options.name, state) : options.suspend ? say.suspended(options.name) : say.resumed(options.name);
  ctx.io.stdout.write(`${line}\n`);
  return EXIT.ok;
}

export interface SyncNowOptions {
  name: string;
  wait: boolean;
  timeoutMs: number;
}

export async function runSyncNow(ctx: CommandContext, options: SyncNowOptions): Promise<number> {
  const { store, registry } = await ctx.session();
  const namespace = ctx.config.namespace;
  const { name } = options;
  const sync = (await store.get('Sync', { namespace, name })) as Sync | undefined;
  if (!sync) throw new CliError(objectNotFound(registry.get('Sync'), name, namespace));
  if (sync.spec.suspend) throw new CliError(say.nowSuspended(name));
  const repositoryName = sync.spec.sourceRef.name;
  const stamp = new Date().toISOString();
  if (!(await writeStamp(store, { kind: 'GitRepository', namespace, name: repositoryName, stamp }))) throw new CliError(say.noRepository(name, repositoryName));
  if (!options.wait) {
    if (!(await writeStamp(store, { kind: 'Sync', namespace, name, stamp }))) throw new CliError(objectNotFound(registry.get('Sync'), name, namespace));
    ctx.io.stdout.write(`${say.requested(name, stamp)}\n`);
    return EXIT.ok;
  }

  const deadline = Date.now() + options.timeoutMs;
  const seconds = Math.round(options.timeoutMs / 1000);
  const repository = await pollUntil(deadline, async () => {
    const current = (await store.get('GitRepository', { namespace, name: repositoryName })) as GitRepository | undefined;
    return current?.status?.lastHandledRequestedAt === stamp ? current : undefined;
  });
  if (!repository) throw new CliError(say.timedOut(`gitrepository/${repositoryName}`, seconds, undefined));
  const fetched = getCondition(repository.status?.conditions, 'Ready');
  const revision = repository.status?.artifact?.revision;
  if (fetched?.status !== 'True' || !revision) throw new CliError(say.fetchFailed(repositoryName, fetched?.message ?? ''));

  if (!(await writeStamp(store, { kind: 'Sync', namespace, name, stamp }))) throw new CliError(objectNotFound(registry.get('Sync'), name, namespace));
  let last: Sync | undefined;
  const outcome = await pollUntil(deadline, async () => {
    last = (await store.get('Sync', { namespace, name })) as Sync | undefined;
    return last && isOutcome(last.status, stamp, revision) ? last : undefined;
  });
  const ready = getCondition((outcome ?? last)?.status?.conditions, 'Ready');
  if (!outcome) throw new CliError(say.timedOut(`sync/${name}`, seconds, ready?.message));
  if (ready?.status !== 'True') throw new CliError(`sync/${name}: ${ready?.message ?? ready?.reason ?? 'not ready'}`);
  ctx.io.stdout.write(`sync/${name}: ${ready.message}\n`);
  return EXIT.ok;
}

/** Ready=False reasons of a Sync that attempted no commit (it waits): their message is the outcome whatever the revision. */
const WAITING = new Set(['ArtifactNotReady', 'DependencyNotReady', 'DependencyCycle']);

/**
 * Whether the Sync's status is the outcome of the request `stamp`: handled, no commit being
 * written, and either Ready at `revision` (the commit the repository fetched for it), or not Ready
 * after attempting `revision` (invalid, refused) or while waiting (a dependency), whose message says
 * why. A failure of an older commit is not the outcome: the newer one is still to be tried.
 */
export function isOutcome(status: SyncStatus | undefined, stamp: string, revision: string): boolean {
  if (status?.lastHandledRequestedAt !== stamp) return false;
  if (getCondition(status.conditions, 'Reconciling')?.status === 'True') return false;
  const ready = getCondition(status.conditions, 'Ready');
  if (ready?.status === 'True') return status.lastAppliedRevision === revision;
  return ready?.status === 'False' && (status.lastAttemptedRevision === revision || WAITING.has(ready.reason ?? ''));
}

/** Annotates the object with the request stamp (read-modify-write); false when it does not exist. */
async function writeStamp(store: Store, target: { kind: 'Sync' | 'GitRepository'; namespace: string; name: string; stamp: string }): Promise<boolean> {
  const result = await readModifyWrite<CapstanObject>({
    store,
    kind: target.kind,
    ref: { namespace: target.namespace, name: target.name },
    write: 'update',
    change: (current) => {
      const annotations = { ...(current.metadata.annotations ?? {}), [REQUESTED_AT_ANNOTATION]: target.stamp };
      return { ...current, metadata: { ...current.metadata, annotations } };
    },
    attempts: MAX_ATTEMPTS,
  });
  return result.outcome !== 'gone';
}

/** `read()`'s first defined value, read every POLL_MS until `deadline`; undefined past it. */
async function pollUntil<T>(deadline: number, read: () => Promise<T | undefined>): Promise<T | undefined> {
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) return undefined;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
