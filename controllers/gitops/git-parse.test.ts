import { describe, expect, it } from 'vitest';
import {
  checkRef,
  classifyGitFailure,
  describeRef,
  needsFullFetch,
  normalizeRepoPath,
  parseCatFileBatch,
  parseLsRemote,
  parseLsTree,
  selectManifests,
  type GitErrorReason,
  type GitRef,
  type TreeEntry,
} from './git-parse.ts';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);

describe('parseLsRemote', () => {
  it.each([
    ['a branch', `${A}\trefs/heads/main\n`, 'refs/heads/main', A],
    ['an annotated tag: the peeled commit, not the tag object', `${A}\trefs/tags/v1\n${B}\trefs/tags/v1^{}\n`, 'refs/tags/v1', B],
    ['a lightweight tag', `${C}\trefs/tags/v1\n`, 'refs/tags/v1', C],
    ['another ref of a similar name is not it', `${A}\trefs/heads/main-2\n`, 'refs/heads/main', undefined],
    ['nothing listed', '', 'refs/heads/main', undefined],
  ])('%s', (_name, output, refName, expected) => {
    expect(parseLsRemote(output, refName)).toBe(expected);
  });
});

describe('checkRef and describeRef', () => {
  it.each<[GitRef, string, string | null]>([
    [{ branch: 'main' }, 'branch main', null],
    [{ tag: 'v1.2.0' }, 'tag v1.2.0', null],
    [{ commit: A }, 'commit aaaaaaaaaaaa', null],
    [{ commit: 'abc123' }, 'commit abc123', 'commit "abc123" is not a full 40-character hexadecimal sha: give the whole sha (git rev-parse <ref>)'],
    [{ commit: A.toUpperCase() }, 'commit AAAAAAAAAAAA', `commit "${A.toUpperCase()}" is not a full 40-character hexadecimal sha: give the whole sha (git rev-parse <ref>)`],
  ])('%j', (ref, described, problem) => {
    expect(describeRef(ref)).toBe(described);
    expect(checkRef(ref)).toBe(problem);
  });
});

describe('normalizeRepoPath', () => {
  it.each([
    ['.', ''],
    ['', ''],
    ['./deploy/', 'deploy'],
    ['deploy//prod', 'deploy/prod'],
    ['/deploy', 'deploy'],
    ['../etc', { invalid: 'path "../etc" leaves the repository: give a path inside it, such as "deploy/prod" or "."' }],
    ['deploy/../../x', { invalid: 'path "deploy/../../x" leaves the repository: give a path inside it, such as "deploy/prod" or "."' }],
  ])('%j', (path, expected) => {
    expect(normalizeRepoPath(path)).toEqual(expected);
  });
});

describe('parseLsTree and selectManifests', () => {
  const output = [
    `100644 blob ${A}\tdeploy/web.yaml`,
    `100755 blob ${B}\tdeploy/run.YML`,
    `100644 blob ${C}\tdeploy/a dir/with\ttab.json`,
    `120000 blob ${A}\tdeploy/link.yaml`,
    `160000 commit ${B}\tdeploy/sub.yaml`,
    `100644 blob ${C}\tdeploy/README.md`,
    '',
  ].join('\0');

  it('reads paths unquoted, tabs and spaces included', () => {
    expect(parseLsTree(output).map((entry) => entry.path)).toEqual([
      'deploy/web.yaml',
      'deploy/run.YML',
      'deploy/a dir/with\ttab.json',
      'deploy/link.yaml',
      'deploy/sub.yaml',
      'deploy/README.md',
    ]);
  });

  it('keeps regular yaml, yml and json files in path order; no symlinks, submodules or other files', () => {
    expect(selectManifests(parseLsTree(output))).toEqual<TreeEntry[]>([
      { mode: '100644', type: 'blob', object: C, path: 'deploy/a dir/with\ttab.json' },
      { mode: '100755', type: 'blob', object: B, path: 'deploy/run.YML' },
      { mode: '100644', type: 'blob', object: A, path: 'deploy/web.yaml' },
    ]);
  });
});

describe('parseCatFileBatch', () => {
  it('splits objects by their sizes, newlines and multibyte text inside them included', () => {
    const first = Buffer.from('kind: App\nname: é\n');
    const second = Buffer.from('{}');
    const output = Buffer.concat([
      Buffer.from(`${A} blob ${first.length}\n`),
      first,
      Buffer.from('\n'),
      Buffer.from(`${B} blob ${second.length}\n`),
      second,
      Buffer.from('\n'),
    ]);
    expect(parseCatFileBatch(output, 2).map((content) => content.toString())).toEqual(['kind: App\nname: é\n', '{}']);
  });

  it.each([
    ['a missing object', Buffer.from(`${A} missing\n`), 1, `git cat-file --batch: unexpected header "${A} missing"`],
    ['output that ends early', Buffer.from(`${A} blob 2\n{}\n`), 2, 'git cat-file --batch: output ended after 1 of 2 objects'],
  ])('throws on %s', (_name, output, count, message) => {
    expect(() => parseCatFileBatch(output, count)).toThrow(message);
  });
});

describe('needsFullFetch', () => {
  it.each([
    ['error: Server does not allow request for unadvertised object 0a1b', true],
    ['fatal: remote error: upload-pack: not our ref 0a1b', true],
    ['fatal: dumb http transport does not support shallow capabilities', true],
    ["fatal: couldn't find remote ref refs/heads/x", false],
  ])('%s', (stderr, refused) => {
    expect(needsFullFetch(stderr)).toBe(refused);
  });
});

describe('classifyGitFailure', () => {
  const url = 'https://git.example/apps.git';
  it.each<[string, string, string | undefined, GitErrorReason, string]>([
    [
      'no credentials over https',
      "fatal: could not read Username for 'https://git.example': terminal prompts disabled\n",
      undefined,
      'AuthRequired',
      'git repository https://git.example/apps.git requires credentials, and none are configured: make it readable anonymously, or use a URL that is',
    ],
    ['a missing branch', "fatal: couldn't find remote ref refs/heads/nope\n", 'branch nope', 'RefNotFound', 'branch nope was not found in git repository https://git.example/apps.git: push it, or point the ref at one that exists'],
    [
      'an unknown host',
      "fatal: unable to access 'https://git.example/apps.git/': Could not resolve host: git.example\n",
      undefined,
      'Unreachable',
      'cannot reach git repository https://git.example/apps.git (Could not resolve host: git.example): check the URL and that the server is up',
    ],
    [
      'a refused connection over git://',
      'fatal: unable to connect to 127.0.0.1:\n127.0.0.1[0: 127.0.0.1]: errno=Connection refused\n',
      undefined,
      'Unreachable',
      'cannot reach git repository https://git.example/apps.git (Connection refused): check the URL and that the server is up',
    ],
    [
      'no repository at a file:// path',
      "fatal: '/srv/apps.git' does not appear to be a git repository\nfatal: Could not read from remote repository.\n\nPlease make sure you have the correct access rights\n",
      undefined,
      'Unreachable',
      'cannot reach git repository https://git.example/apps.git (does not appear to be a git repository): check the URL and that the server is up',
    ],
    ['anything else: git\'s last fatal line', 'warning: x\nfatal: pack has bad object at offset 12\nhint: y\n', undefined, 'GitFailed', 'git fetch failed: pack has bad object at offset 12'],
  ])('%s', (_name, stderr, ref, reason, message) => {
    const error = classifyGitFailure({ stderr, url, what: 'fetch', ref });
    expect(error.reason).toBe(reason);
    expect(error.message).toBe(message);
  });
});
