// The GitRepository half of the gitops controller: resolve the ref, fetch the commit into the cache
// (controllers/gitops/git-source.ts), record it as status.artifact, and look again after the
// interval, jittered ±10 % so that repositories created together do not poll together. Syncs watch
// the artifact; a repository fetched once feeds all of them.
import { durationMs, shortRevision, type GitRepositorySpec, type GitRepositoryStatus } from '../../api/kinds/gitrepository.ts';
import { REQUESTED_AT_ANNOTATION } from '../../api/kinds/wellknown.ts';
import { deepEqual } from '../../api/merge.ts';
import { setCondition, type AnyObject } from '../../api/object.ts';
import { done, requeueAfter, type ReconcileContext, type Result } from '../contract.ts';
import { GitSource } from './git-source.ts';
import { GitSourceError } from './git-parse.ts';
import { webhookPath } from './webhook-auth.ts';

const say = {
  fetched: (revision: string, ref: string) => `commit ${shortRevision(revision)} (${ref}) is in the cache`,
  stalledAuth: 'the server asks for credentials, which Capstan cannot send yet (no secretRef): serve the repository without authentication',
} as const;

const JITTER = 0.1;

/** `ms` ±10 %. */
export const jittered = (ms: number, random: () => number = Math.random) => Math.round(ms * (1 - JITTER + 2 * JITTER * random()));

const refText = (ref: GitRepositorySpec['ref']) => ('branch' in ref ? `branch ${ref.branch}` : 'tag' in ref ? `tag ${ref.tag}` : `commit ${ref.commit}`);

export async function reconcileRepository(key: string, ctx: ReconcileContext, options: { cacheDir: string; webhookSecret?: Uint8Array }): Promise<Result> {
  const cached = ctx.informer('GitRepository').get(key);
  if (!cached || cached.metadata.deletionTimestamp) return done();
  const repository = cached as AnyObject;
  const spec = repository.spec as GitRepositorySpec;
  const previous = (repository.status ?? {}) as GitRepositoryStatus;
  const intervalMs = durationMs(spec.interval)!;
  const source = new GitSource({ url: spec.url, cacheDir: options.cacheDir, timeoutMs: durationMs(spec.timeout)! });
  const now = ctx.now();
  // Every reconcile fetches, so a new `capstan sync now` stamp (an update, which wakes this reconcile)
  // is handled by this one: recorded with its outcome, for the CLI waiting on it.
  const requestedAt = repository.metadata.annotations?.[REQUESTED_AT_ANNOTATION];
  const handled = requestedAt ? { lastHandledRequestedAt: requestedAt } : {};
  // Where the webhook receiver (./webhook.ts) answers for this repository, when one runs.
  const hook = options.webhookSecret ? { webhookPath: webhookPath(options.webhookSecret, { namespace: repository.metadata.namespace ?? '', name: repository.metadata.name }) } : {};
  let status: GitRepositoryStatus;
  try {
    const { commit } = await source.fetch(spec.ref);
    // fetchedAt says when this commit arrived: a poll that finds the same commit writes nothing.
    const artifact = previous.artifact?.revision === commit ? previous.artifact : { revision: commit, fetchedAt: now.toISOString() };
    let conditions = setCondition(previous.conditions, { type: 'Ready', status: 'True', reason: 'Succeeded', message: say.fetched(commit, refText(spec.ref)) }, now);
    conditions = setCondition(conditions, { type: 'Stalled', status: 'False', reason: 'Succeeded' }, now);
    status = { ...previous, ...handled, ...hook, observedGeneration: repository.metadata.generation, artifact, conditions };
  } catch (error) {
    if (!(error instanceof GitSourceError)) throw error;
    // The artifact stays: Syncs keep the last commit fetched while the server is away.
    const stalled = error.reason === 'AuthRequired';
    let conditions = setCondition(previous.conditions, { type: 'Ready', status: 'False', reason: error.reason, message: stalled ? `${error.message}; ${say.stalledAuth}` : error.message }, now);
    conditions = setCondition(conditions, { type: 'Stalled', status: stalled ? 'True' : 'False', reason: error.reason }, now);
    status = { ...previous, ...handled, ...hook, observedGeneration: repository.metadata.generation, conditions };
    if (!deepEqual(status, previous)) await ctx.events.record(repository, { type: 'Warning', reason: error.reason, message: error.message });
  }
  if (!deepEqual(status, previous)) await ctx.store.updateStatus({ ...repository, status });
  return requeueAfter(jittered(intervalMs));
}
