// `capstan up --git`: the GitRepository and the Sync named `up` that make the local Capstan run what a
// repository holds (prune on: a manifest deleted in git is deleted here), then, once the first
// commit is applied (bounded wait), how to deploy the next one: push, then `capstan sync now up` or a
// signed POST to the webhook receiver, printed as a curl line a git hook can run.
//
// Both objects are written create-or-update: a second `up` on the same state dir, maybe with another
// --git, points the same Sync at the new source instead of failing on "already exists".
import type { Logger } from 'pino';
import { shortRevision, type GitRepositoryStatus } from '../../api/kinds/gitrepository.ts';
import type { SyncStatus } from '../../api/kinds/sync.ts';
import { API_VERSION, getCondition, type AnyObject, type CapstanObject } from '../../api/object.ts';
import { readModifyWrite } from '../../api/read-modify-write.ts';
import type { Store } from '../../api/store.ts';
import type { Output } from '../io.ts';
import type { GitFlag } from './git-flag.ts';

/** The GitRepository's and the Sync's name. */
export const UP_SYNC = 'up';
/** The first commit: fetch, validate, apply; a minute is generous for a repository of manifests. */
const FIRST_SYNC_TIMEOUT_MS = 60_000;
const POLL_MS = 200;
const WRITE_ATTEMPTS = 5;

const say = {
  applied: (revision: string, url: string) => `git: applied commit ${shortRevision(revision)} of ${url} (sync/${UP_SYNC}, prune on)`,
  notReady: (message: string) => `git: sync/${UP_SYNC} is not ready: ${message}; capstan describe sync ${UP_SYNC} shows why`,
  timedOut: (seconds: number) => `git: sync/${UP_SYNC} applied nothing within ${seconds} s; capstan describe gitrepository ${UP_SYNC} and capstan describe sync ${UP_SYNC} show why`,
  howTo: (flag: GitFlag, ns: string) => {
    const ref = 'branch' in flag.ref ? `branch ${flag.ref.branch}` : 'tag' in flag.ref ? `tag ${flag.ref.tag}` : `commit ${flag.ref.commit}`;
    return [
      `to deploy a change: commit manifests under ${flag.path} on ${ref}, push to ${flag.url}, then`,
      `  capstan sync now ${UP_SYNC}${ns === 'default' ? '' : ` -n ${ns}`}          (waits and prints the outcome; otherwise it lands within the 60s poll)`,
    ];
  },
  hook: (url: string, secretFile: string) => [
    `or POST the signed webhook (from the git server's post-receive hook, or by hand):`,
    `  body='{}'; curl -s -X POST -d "$body" -H "X-Signature: sha256=$(printf %s "$body" | openssl dgst -sha256 -hmac "$(cat ${secretFile})" -r | cut -d' ' -f1)" ${url}`,
  ],
} as const;

export interface GitSyncOptions {
  store: Store;
  namespace: string;
  flag: GitFlag;
  /** The receiver's `http://host:port`, when it runs. */
  webhookUrl?: string;
  secretFile: string;
  log: Logger;
  signal: AbortSignal;
  out: Output;
}

export async function syncFromGit(options: GitSyncOptions): Promise<void> {
  const { store, namespace, flag } = options;
  await createOrUpdate(store, { apiVersion: API_VERSION, kind: 'GitRepository', metadata: { name: UP_SYNC, namespace }, spec: { url: flag.url, ref: flag.ref, interval: '60s' } });
  await createOrUpdate(store, { apiVersion: API_VERSION, kind: 'Sync', metadata: { name: UP_SYNC, namespace }, spec: { sourceRef: { name: UP_SYNC }, path: flag.path, prune: true } });
  options.log.info(`syncing ${flag.url} (path ${flag.path}) as gitrepository/${UP_SYNC} and sync/${UP_SYNC} in namespace ${namespace}; waiting for the first commit (at most ${FIRST_SYNC_TIMEOUT_MS / 1000} s)`);

  const outcome = await firstOutcome(options);
  if (options.signal.aborted) return;
  if (!outcome) options.log.warn(say.timedOut(FIRST_SYNC_TIMEOUT_MS / 1000));
  else if (outcome.ready) options.out.write(`${say.applied(outcome.revision, flag.url)}\n`);
  else options.log.warn(say.notReady(outcome.message));

  const lines = [...say.howTo(flag, namespace)];
  const path = ((await store.get('GitRepository', { namespace, name: UP_SYNC }))?.status as GitRepositoryStatus | undefined)?.webhookPath;
  if (options.webhookUrl && path) lines.push(...say.hook(`${options.webhookUrl}${path}`, options.secretFile));
  options.out.write(lines.map((line) => `${line}\n`).join(''));
}

type Outcome = { ready: true; revision: string } | { ready: false; message: string };

/** The Sync's first applied commit, or its first failure to apply one; undefined past the deadline or on abort. */
async function firstOutcome(options: GitSyncOptions): Promise<Outcome | undefined> {
  const deadline = Date.now() + FIRST_SYNC_TIMEOUT_MS;
  while (Date.now() < deadline && !options.signal.aborted) {
    const status = (await options.store.get('Sync', { namespace: options.namespace, name: UP_SYNC }))?.status as SyncStatus | undefined;
    const ready = getCondition(status?.conditions, 'Ready');
    const reconciling = getCondition(status?.conditions, 'Reconciling')?.status === 'True';
    if (ready?.status === 'True' && status?.lastAppliedRevision) return { ready: true, revision: status.lastAppliedRevision };
    // A failure is an outcome once a commit was attempted; before that (no artifact yet) it is waiting.
    if (ready?.status === 'False' && status?.lastAttemptedRevision && !reconciling) return { ready: false, message: ready.message ?? ready.reason ?? '' };
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  return undefined;
}

async function createOrUpdate(store: Store, desired: CapstanObject): Promise<void> {
  await readModifyWrite<AnyObject>({
    store,
    kind: desired.kind,
    ref: { namespace: desired.metadata.namespace, name: desired.metadata.name },
    write: 'createOrUpdate',
    change: (current) => (current ? { ...current, spec: desired.spec } : desired),
    attempts: WRITE_ATTEMPTS,
  });
}
