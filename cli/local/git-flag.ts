// `capstan up --git URL[#ref:path]`: one flag for the GitRepository and Sync up creates, in the
// shape of Argo CD's `repo#revision` and Flux's bootstrap `--branch --path`, read left to right:
//
//   file:///tmp/deploy.git                  branch main, the repository's root
//   file:///tmp/deploy.git#main:apps        branch main, path apps
//   https://host/deploy.git#tags/v1.2:apps  tag v1.2
//   git://host/deploy.git#<40 hex>          that commit
//   file:///tmp/deploy.git#:apps            branch main, path apps
//
// The URL and the path are checked by the kinds' own schemas when up creates the objects; this only
// splits the flag, so that its errors name the flag.
import { gitRefSchema, gitRepositorySpecSchema, type GitRepositorySpec } from '../../api/kinds/gitrepository.ts';

export interface GitFlag {
  url: string;
  ref: GitRepositorySpec['ref'];
  path: string;
}

const DEFAULT_BRANCH = 'main';
const COMMIT = /^[0-9a-f]{40}$/;
const TAG_PREFIX = 'tags/';

const say = {
  url: (found: string) =>
    `--git: expected URL[#REF:PATH] with a URL starting with file://, http://, https:// or git:// (e.g. file:///tmp/deploy.git#main:apps), found "${found}"`,
  ref: (found: string) => `--git: expected a branch, tags/NAME or a 40-digit commit after #, found "${found}"`,
} as const;

/** The flag's URL, ref and path; a sentence naming the flag when it is not one. */
export function parseGitFlag(text: string): GitFlag | { problem: string } {
  const hash = text.indexOf('#');
  const url = hash < 0 ? text : text.slice(0, hash);
  const fragment = hash < 0 ? '' : text.slice(hash + 1);
  if (!gitRepositorySpecSchema.shape.url.safeParse(url).success) return { problem: say.url(text) };
  // A ref has no ":" (git forbids it in ref names), so the first one ends it.
  const colon = fragment.indexOf(':');
  const refText = colon < 0 ? fragment : fragment.slice(0, colon);
  const path = (colon < 0 ? '' : fragment.slice(colon + 1)) || '.';
  const ref = refOf(refText || DEFAULT_BRANCH);
  if (!gitRefSchema.safeParse(ref).success) return { problem: say.ref(refText) };
  return { url, ref, path };
}

function refOf(text: string): GitRepositorySpec['ref'] {
  if (COMMIT.test(text)) return { commit: text };
  if (text.startsWith(TAG_PREFIX)) return { tag: text.slice(TAG_PREFIX.length) };
  return { branch: text };
}
