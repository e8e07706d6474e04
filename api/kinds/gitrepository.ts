// GitRepository: where a Sync's manifests come from — a URL and a ref (branch, tag or commit) that
// the gitops controller resolves and fetches every `interval`, recording the commit it found in
// `status.artifact`. Two kinds, GitRepository and Sync (./sync.ts), as Flux has GitRepository and
// Kustomization: one repository feeds several Syncs (one per path or namespace) and is resolved and
// fetched once for all of them, and a Sync's dependsOn and prune are about what it applies, not where
// it comes from.
import { z } from 'zod';
import { API_VERSION, getCondition } from '../object.ts';
import type { AnyObject, CommonStatus } from '../object.ts';
import type { KindDefinition } from './registry.ts';

const say = {
  duration: 'a duration: a number and a unit, e.g. 500ms, 30s, 5m, 1h, 1m30s',
  url: 'a git URL starting with file://, http://, https:// or git://',
  oneRef: 'exactly one of branch, tag or commit',
  commit: 'a full commit sha: 40 hexadecimal digits',
  secretRef: 'no secretRef: credentials are not supported yet; serve the repository without authentication (file://, or http(s):// or git:// readable anonymously)',
} as const;

const DURATION = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `1m30s` → 90000. Go's duration strings (as Flux's intervals), without µs and ns. Undefined when not one. */
export function durationMs(text: string): number | undefined {
  if (!DURATION.test(text)) return undefined;
  let total = 0;
  for (const [, value, unit] of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) total += Number(value) * UNIT_MS[unit!]!;
  return total;
}

/** A duration string, kept as written (it reads back as the user wrote it); at least 1 s. */
export const durationSchema = z.string().refine((text) => (durationMs(text) ?? 0) >= 1000, { error: say.duration });

export const gitRefSchema = z.union(
  [
    z.strictObject({ branch: z.string().min(1) }),
    z.strictObject({ tag: z.string().min(1) }),
    z.strictObject({ commit: z.string().regex(/^[0-9a-f]{40}$/, { error: say.commit }) }),
  ],
  { error: say.oneRef },
);

export const gitRepositorySpecSchema = z.strictObject({
  url: z.string().regex(/^(file|https?|git):\/\//, { error: say.url }),
  ref: gitRefSchema.default({ branch: 'main' }),
  /** How often the ref is resolved again (jittered ±10 %). */
  interval: durationSchema.default('60s'),
  /** For each git process (ls-remote, fetch, reads). */
  timeout: durationSchema.default('60s'),
  // Accepted by the schema only to be refused with a sentence saying so, rather than "unknown key".
  secretRef: z.unknown().refine((value) => value === undefined, { error: say.secretRef }).optional(),
});
export type GitRepositorySpec = z.infer<typeof gitRepositorySpecSchema>;

export interface GitArtifact {
  /** The commit sha the ref resolved to. */
  revision: string;
  /** When this commit was first fetched (or found in the cache); a poll finding the same commit leaves it. */
  fetchedAt: string;
}

/** Conditions: Ready (True once an artifact is fetched; False with the git failure's reason), Stalled (True when only a spec change can help). */
export interface GitRepositoryStatus extends CommonStatus {
  artifact?: GitArtifact;
  /** The last `capstan.io/requestedAt` stamp (`capstan sync now`) a fetch was made for. */
  lastHandledRequestedAt?: string;
  /** `/hook/<token>` on the controllers' webhook receiver (`--webhook-listen`), when it runs: POST a signed body there to fetch at once. */
  webhookPath?: string;
}

const specOf = (object: AnyObject) => object.spec as Partial<GitRepositorySpec>;
const statusOf = (object: AnyObject) => object.status as GitRepositoryStatus | undefined;

/** `branch:main`, `tag:v1`, `commit:0a1b2c3`. */
export function describeGitRef(ref: GitRepositorySpec['ref'] | undefined): string {
  if (!ref) return '';
  if ('branch' in ref) return `branch:${ref.branch}`;
  if ('tag' in ref) return `tag:${ref.tag}`;
  return `commit:${ref.commit.slice(0, 7)}`;
}

export const shortRevision = (revision: string | undefined) => (revision ? revision.slice(0, 7) : '');

export const gitRepositoryKind: KindDefinition = {
  apiVersion: API_VERSION,
  kind: 'GitRepository',
  plural: 'gitrepositories',
  singular: 'gitrepository',
  shortNames: ['gitrepo'],
  namespaced: true,
  spec: gitRepositorySpecSchema,
  columns: [
    { header: 'URL', value: (o) => specOf(o).url ?? '' },
    { header: 'REF', value: (o) => describeGitRef(specOf(o).ref) },
    { header: 'REVISION', value: (o) => shortRevision(statusOf(o)?.artifact?.revision) },
    { header: 'READY', value: (o) => getCondition(statusOf(o)?.conditions, 'Ready')?.status ?? 'Unknown' },
    { header: 'MESSAGE', wide: true, value: (o) => getCondition(statusOf(o)?.conditions, 'Ready')?.message ?? '' },
  ],
};
