import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, envSchema, resolveConfig, writeConfigFile } from './config.ts';

const dir = mkdtempSync(join(tmpdir(), 'capstan-config-'));
const file = join(dir, 'config.yaml');
writeFileSync(file, 'etcd: http://127.0.0.1:3000\n');

const resolve = (globals: { etcd?: string; namespace?: string }, env: Record<string, string | undefined>) =>
  resolveConfig({ globals, env: envSchema.parse(env), cwd: '/', homedir: '/nohome' });

describe('resolveConfig', () => {
  it.each([
    { name: '--etcd wins', globals: { etcd: '10.0.0.1:1' }, env: { CAPSTAN_ETCD: 'x:2', CAPSTAN_CONFIG: file }, etcd: '10.0.0.1:1', source: '--etcd' },
    { name: 'then CAPSTAN_ETCD', globals: {}, env: { CAPSTAN_ETCD: 'http://h:2', CAPSTAN_CONFIG: file }, etcd: 'http://h:2', source: 'CAPSTAN_ETCD' },
    { name: 'then the config file', globals: {}, env: { CAPSTAN_CONFIG: file }, etcd: 'http://127.0.0.1:3000', source: file },
    { name: 'then the default', globals: {}, env: { HOME: dir }, etcd: 'http://127.0.0.1:2379', source: 'default' },
  ])('$name', ({ globals, env, etcd, source }) => {
    expect(resolve(globals, env)).toMatchObject({ etcd, etcdSource: source });
  });

  it('defaults the namespace and remembers when -n was given', () => {
    expect(resolve({}, {})).toMatchObject({ namespace: 'default', namespaceExplicit: false });
    expect(resolve({ namespace: 'shop' }, {})).toMatchObject({ namespace: 'shop', namespaceExplicit: true });
  });

  it('refuses an endpoint that is not a URL or host:port in one sentence', () => {
    expect(() => resolve({ etcd: 'not a url' }, {})).toThrow(ConfigError);
    expect(() => resolve({ etcd: 'not a url' }, {})).toThrow('--etcd: expected an etcd URL like http://127.0.0.1:2379 or host:port, found "not a url"');
  });

  it('reads CAPSTAN_DEBUG and NO_COLOR as flags', () => {
    expect(envSchema.parse({ CAPSTAN_DEBUG: '1', NO_COLOR: '' })).toMatchObject({ CAPSTAN_DEBUG: true, NO_COLOR: false });
    expect(envSchema.parse({ CAPSTAN_DEBUG: '0', NO_COLOR: '1' })).toMatchObject({ CAPSTAN_DEBUG: false, NO_COLOR: true });
  });

  it('writeConfigFile keeps other settings', () => {
    const path = join(dir, 'other.yaml');
    writeFileSync(path, 'etcd: old:1\ntheme: dark\n');
    writeConfigFile(path, 'http://127.0.0.1:2400');
    expect(readFileSync(path, 'utf8')).toBe('etcd: http://127.0.0.1:2400\ntheme: dark\n');
  });
});
