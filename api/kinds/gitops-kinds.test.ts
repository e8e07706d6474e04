import { describe, expect, it } from 'vitest';
import { durationMs, gitRepositorySpecSchema } from './gitrepository.ts';
import { syncSpecSchema } from './sync.ts';

const issues = (result: { success: boolean; error?: { issues: { path: PropertyKey[]; message: string }[] } }) =>
  (result.error?.issues ?? []).map((i) => `${i.path.join('.')}: ${i.message}`);

describe('durationMs', () => {
  it.each([
    { text: '60s', ms: 60_000 },
    { text: '1m30s', ms: 90_000 },
    { text: '1h', ms: 3_600_000 },
    { text: '500ms', ms: 500 },
    { text: '1.5s', ms: 1500 },
    { text: '60', ms: undefined },
    { text: 's', ms: undefined },
    { text: '1d', ms: undefined },
  ])('$text → $ms', ({ text, ms }) => {
    expect(durationMs(text)).toBe(ms);
  });
});

describe('GitRepository spec', () => {
  it('defaults ref, interval and timeout', () => {
    expect(gitRepositorySpecSchema.parse({ url: 'https://example.com/r.git' })).toEqual({ url: 'https://example.com/r.git', ref: { branch: 'main' }, interval: '60s', timeout: '60s' });
  });
  it.each([
    { name: 'secretRef is refused with what to do', spec: { url: 'https://example.com/r.git', secretRef: { name: 'creds' } }, problem: /^secretRef: no secretRef: credentials are not supported yet/ },
    { name: 'an ssh URL', spec: { url: 'git@example.com:r.git' }, problem: /^url: a git URL starting with file:\/\//m },
    { name: 'two refs', spec: { url: 'file:///r', ref: { branch: 'main', tag: 'v1' } }, problem: /^ref: exactly one of branch, tag or commit/ },
    { name: 'a short sha', spec: { url: 'file:///r', ref: { commit: 'abc123' } }, problem: /^ref/ },
    { name: 'an interval below a second', spec: { url: 'file:///r', interval: '10ms' }, problem: /^interval: a duration/ },
  ])('$name', ({ spec, problem }) => {
    const found = issues(gitRepositorySpecSchema.safeParse(spec));
    expect(found.some((line) => problem.test(line))).toBe(true);
  });
});

describe('Sync spec', () => {
  it('defaults path, prune, selfHeal, suspend and dependsOn', () => {
    expect(syncSpecSchema.parse({ sourceRef: { name: 'repo' } })).toEqual({ sourceRef: { name: 'repo' }, path: '.', prune: false, selfHeal: false, suspend: false, dependsOn: [] });
  });
  it.each([
    { name: 'a path leaving the repository', spec: { sourceRef: { name: 'repo' }, path: '../other' }, problem: /^path: a path inside the repository/ },
    { name: 'an absolute path', spec: { sourceRef: { name: 'repo' }, path: '/apps' }, problem: /^path: / },
    { name: 'a sourceRef that is no name', spec: { sourceRef: { name: 'Repo_1' } }, problem: /^sourceRef.name: / },
  ])('$name', ({ spec, problem }) => {
    const found = issues(syncSpecSchema.safeParse(spec));
    expect(found.some((line) => problem.test(line))).toBe(true);
  });
});
