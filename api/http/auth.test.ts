import { describe, expect, it } from 'vitest';
import { challengesOf, isAuthenticated, parseAuthFile, type AuthConfig } from './auth.ts';

const basic = (credentials: string) => `Basic ${Buffer.from(credentials).toString('base64')}`;
const config: AuthConfig = { source: 'auth', tokens: ['t0k3n'], users: [{ user: 'ops', password: 'pa:ss' }] };

describe('the auth file', () => {
  it.each([
    ['a token and a user', 't0k3n\nops:pa:ss\n', { tokens: ['t0k3n'], users: [{ user: 'ops', password: 'pa:ss' }] }],
    ['comments and blank lines', '# tokens\n\n  t0k3n  \r\n', { tokens: ['t0k3n'], users: [] }],
    ['users only', 'a:1\nb:2', { tokens: [], users: [{ user: 'a', password: '1' }, { user: 'b', password: '2' }] }],
  ])('%s', (_name, text, expected) => {
    expect(parseAuthFile(text, 'auth')).toEqual({ config: { source: 'auth', ...expected } });
  });

  it.each([
    ['no credential', '# nothing\n', 'auth: expected at least one credential line (a bearer token, or user:password for basic auth), found none'],
    ['an empty password', 'ops:', 'auth:1: expected user:password with a non-empty password, found an empty password'],
    ['an empty user', 't\n:secret', 'auth:2: expected user:password with a non-empty user, found an empty user'],
    ['spaces inside', 'two words', 'auth:1: expected a token or user:password without spaces, found spaces'],
  ])('refuses %s with a sentence naming the line', (_name, text, problem) => {
    expect(parseAuthFile(text, 'auth')).toEqual({ problem });
  });
});

describe('an Authorization header', () => {
  it.each([
    ['no header', undefined, false],
    ['a bearer token', 'Bearer t0k3n', true],
    ['a bearer token, scheme in any case', 'bearer t0k3n', true],
    ["DC/OS's token= form", 'token=t0k3n', true],
    ['a wrong token', 'Bearer t0k3', false],
    ['basic with the right password (holding a colon)', basic('ops:pa:ss'), true],
    ['basic with a wrong password', basic('ops:pa'), false],
    ['basic with an unknown user', basic('dev:pa:ss'), false],
    ['basic without a colon', basic('ops'), false],
    ['the token as a basic user', basic('t0k3n:'), false],
    ['another scheme', 'Digest username="ops"', false],
  ])('%s → %s', (_name, header, expected) => {
    expect(isAuthenticated(config, header)).toBe(expected);
  });

  it.each([
    [{ tokens: ['t'], users: [] }, ['Bearer realm="Capstan"']],
    [{ tokens: [], users: [{ user: 'u', password: 'p' }] }, ['Basic realm="Capstan"']],
    [{ tokens: ['t'], users: [{ user: 'u', password: 'p' }] }, ['Basic realm="Capstan"', 'Bearer realm="Capstan"']],
  ])('challenges one scheme per kind of credential: %j', (credentials, expected) => {
    expect(challengesOf({ source: 'auth', ...credentials })).toEqual(expected);
  });
});
