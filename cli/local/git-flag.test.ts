import { describe, expect, it } from 'vitest';
import { parseGitFlag } from './git-flag.ts';

const SHA = '0123456789abcdef0123456789abcdef01234567';

describe('parseGitFlag (capstan up --git URL[#ref:path])', () => {
  it.each([
    { text: 'file:///tmp/deploy.git', expected: { url: 'file:///tmp/deploy.git', ref: { branch: 'main' }, path: '.' } },
    { text: 'file:///tmp/deploy.git#main:apps', expected: { url: 'file:///tmp/deploy.git', ref: { branch: 'main' }, path: 'apps' } },
    { text: 'file:///tmp/deploy.git#release/1.x', expected: { url: 'file:///tmp/deploy.git', ref: { branch: 'release/1.x' }, path: '.' } },
    { text: 'https://example.com/team/deploy.git#tags/v1.2:apps/shop', expected: { url: 'https://example.com/team/deploy.git', ref: { tag: 'v1.2' }, path: 'apps/shop' } },
    { text: `git://127.0.0.1/deploy.git#${SHA}`, expected: { url: 'git://127.0.0.1/deploy.git', ref: { commit: SHA }, path: '.' } },
    { text: 'file:///tmp/deploy.git#:apps', expected: { url: 'file:///tmp/deploy.git', ref: { branch: 'main' }, path: 'apps' } },
    { text: 'http://127.0.0.1:8080/deploy.git#dev:', expected: { url: 'http://127.0.0.1:8080/deploy.git', ref: { branch: 'dev' }, path: '.' } },
  ])('$text', ({ text, expected }) => {
    expect(parseGitFlag(text)).toEqual(expected);
  });

  it.each([
    { text: '/tmp/deploy.git', problem: /--git: expected URL\[#REF:PATH\] with a URL starting with file:\/\/.*found "\/tmp\/deploy.git"/ },
    { text: 'ssh://host/deploy.git#main', problem: /found "ssh:\/\/host\/deploy.git#main"/ },
    { text: 'file:///tmp/deploy.git#tags/:apps', problem: /--git: expected a branch, tags\/NAME or a 40-digit commit after #, found "tags\/"/ },
  ])('refuses $text', ({ text, problem }) => {
    const parsed = parseGitFlag(text);
    expect('problem' in parsed && parsed.problem).toMatch(problem);
  });
});
