// `capstan sync diff NAME`: what the Sync's next sync would change, as `capstan diff` prints it.
// The same steps as the syncs controller (controllers/gitops/sync.ts) up to the first write: fetch
// the repository's current commit into the git cache (the controllers' default directory, so a
// commit they fetched is not fetched again), read the manifests under the Sync's path, validate the
// set whole, plan it against the store in the Sync's inventory, and with prune, what prune would
// delete (a dry run of the apply engine). Exit 0 no differences, 1 differences, 2 error, as diff.
import { join, resolve } from 'node:path';
import { applySet, planSet } from '../api/apply/apply.ts';
import { validateSet } from '../api/apply/validate.ts';
import { durationMs, shortRevision, type GitRepositorySpec } from '../api/kinds/gitrepository.ts';
import type { SyncSpec } from '../api/kinds/sync.ts';
import { formatProblem, parseManifests } from '../api/manifest.ts';
import type { CapstanObject } from '../api/object.ts';
import { GitSourceError } from '../controllers/gitops/git-parse.ts';
import { GitSource } from '../controllers/gitops/git-source.ts';
import { ownershipConflicts, say as syncSay, syncInventoryName, withDefaultNamespace } from '../controllers/gitops/sync-plan.ts';
import { objectNotFound } from './command.ts';
import type { CommandContext } from './context.ts';
import { printPlan } from './diff.ts';
import { CliError } from './errors.ts';
import { palette } from './io.ts';
import { say as syncCommandSay } from './sync.ts';

export interface SyncDiffOptions {
  name: string;
  /** `--git-cache-dir`; default ~/.capstan/git, the controllers' default. */
  gitCacheDir?: string;
}

const say = {
  comparing: (name: string, revision: string, path: string) => `sync/${name}: commit ${shortRevision(revision)}, path ${path}, against the store\n`,
  fetchFailed: (repository: string, message: string) => `gitrepository/${repository}: ${message}`,
  invalid: (count: number, revision: string) =>
    `${count} problem${count === 1 ? '' : 's'} in commit ${shortRevision(revision)}: the next sync would write nothing; fix them in a new commit`,
  refused: (message: string) => `the next sync would write nothing: ${message}`,
  prune: (name: string) => `--- ${name} (live)\n+++ ${name} (pruned: no longer in the commit)\n`,
} as const;

export async function runSyncDiff(ctx: CommandContext, options: SyncDiffOptions): Promise<number> {
  const { store, registry } = await ctx.session();
  const namespace = ctx.config.namespace;
  const sync = (await store.get('Sync', { namespace, name: options.name })) as CapstanObject<SyncSpec> | undefined;
  if (!sync) throw new CliError(objectNotFound(registry.get('Sync'), options.name, namespace));
  const repositoryName = sync.spec.sourceRef.name;
  const repository = (await store.get('GitRepository', { namespace, name: repositoryName })) as CapstanObject<GitRepositorySpec> | undefined;
  if (!repository) throw new CliError(syncCommandSay.noRepository(options.name, repositoryName));

  const cacheDir = resolve(ctx.config.cwd, options.gitCacheDir ?? join(ctx.config.home, '.capstan', 'git'));
  const source = new GitSource({ url: repository.spec.url, cacheDir, timeoutMs: durationMs(repository.spec.timeout)! });
  let checkout: Awaited<ReturnType<GitSource['checkout']>>;
  try {
    checkout = await source.checkout(repository.spec.ref, sync.spec.path);
  } catch (error) {
    if (!(error instanceof GitSourceError)) throw error;
    throw new CliError(say.fetchFailed(repositoryName, error.message));
  }
  ctx.io.stderr.write(say.comparing(options.name, checkout.commit, sync.spec.path));

  const parsed = checkout.files.map((file) => parseManifests(file.content, file.path));
  const documents = withDefaultNamespace(
    parsed.flatMap((p) => p.documents),
    sync.spec.targetNamespace ?? namespace,
    (kind) => registry.find(kind)?.namespaced,
  );
  const validation = await validateSet({ documents, parseProblems: parsed.flatMap((p) => p.problems), registry, store });
  const paint = palette(ctx.io.color);
  if (!validation.valid) {
    for (const problem of validation.problems) ctx.io.stderr.write(`${paint.red(formatProblem(problem))}\n`);
    throw new CliError(say.invalid(validation.problems.length, checkout.commit));
  }

  const inventoryName = syncInventoryName(sync);
  const inventory = { derived: inventoryName };
  const plan = await planSet(validation.set, { store, inventory });
  const conflicts = ownershipConflicts(plan.map((p) => (p.step.action === 'create' ? undefined : p.step.current)), inventoryName);
  if (conflicts.length > 0) throw new CliError(say.refused(syncSay.owned(conflicts, inventoryName)));

  let different = printPlan(ctx, plan);
  if (sync.spec.prune) {
    const dryRun = await applySet(validation.set, { store, namespace, inventory, prune: {}, dryRun: true });
    for (const pruned of dryRun.pruned) {
      if (pruned.outcome !== 'pruned') continue;
      different = true;
      ctx.io.stdout.write(paint.red(say.prune(`${pruned.entry.kind.toLowerCase()}/${pruned.entry.name}`)));
    }
  }
  return different ? 1 : 0;
}
