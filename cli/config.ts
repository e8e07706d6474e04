// Where the store is and how to talk to people, resolved once at the entry point (STYLE.md habit 6):
// argv and the environment are read here, with zod, and everything else receives a CliConfig.
//
// etcd endpoint precedence: --etcd > CAPSTAN_ETCD > config file ($CAPSTAN_CONFIG or
// ~/.capstan/config.yaml, `etcd: ...`, written by `capstan up`) > http://127.0.0.1:2379.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse, stringify } from 'yaml';
import { z } from 'zod';
import { DEFAULT_NAMESPACE } from '../api/object.ts';

export const DEFAULT_ETCD = 'http://127.0.0.1:2379';

const flag = z
  .string()
  .optional()
  .transform((value) => value !== undefined && value !== '' && value !== '0' && value.toLowerCase() !== 'false');

/** The environment variables Capstan reads, and only those. */
export const envSchema = z.object({
  CAPSTAN_ETCD: z.string().min(1).optional().catch(undefined),
  CAPSTAN_CONFIG: z.string().min(1).optional().catch(undefined),
  CAPSTAN_DEBUG: flag,
  // https://no-color.org: any non-empty value disables colour.
  NO_COLOR: z.string().optional().transform((value) => value !== undefined && value !== ''),
  FORCE_COLOR: flag,
  HOME: z.string().min(1).optional().catch(undefined),
  // `capstan edit`'s editor, as kubectl's KUBE_EDITOR, EDITOR, VISUAL.
  CAPSTAN_EDITOR: z.string().trim().min(1).optional().catch(undefined),
  EDITOR: z.string().trim().min(1).optional().catch(undefined),
  VISUAL: z.string().trim().min(1).optional().catch(undefined),
  // `capstan api --auth`'s default: the file of its bearer tokens and user:password lines.
  CAPSTAN_API_AUTH: z.string().trim().min(1).optional().catch(undefined),
});
export type CliEnv = z.infer<typeof envSchema>;

const endpoint = z
  .string()
  .trim()
  .regex(/^(https?:\/\/)?[A-Za-z0-9.\-[\]:]+:\d+\/?(,\s*(https?:\/\/)?[A-Za-z0-9.\-[\]:]+:\d+\/?)*$/, {
    error: 'an etcd URL like http://127.0.0.1:2379 or host:port',
  });

export const configFileSchema = z.object({ etcd: endpoint.optional() }).loose();

export interface CliConfig {
  etcd: string;
  /** Where the endpoint came from, for messages: "--etcd", "CAPSTAN_ETCD", the config file's path, "default". */
  etcdSource: string;
  namespace: string;
  /** -n was given (as opposed to the default namespace). */
  namespaceExplicit: boolean;
  configPath: string;
  debug: boolean;
  home: string;
  cwd: string;
  /** `capstan edit`'s editor command: CAPSTAN_EDITOR, then EDITOR, then VISUAL, then vi. */
  editor: string;
  /** `capstan api`'s auth file when --auth is not given: CAPSTAN_API_AUTH. */
  apiAuth?: string;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export function configPathFor(env: CliEnv, home: string): string {
  return env.CAPSTAN_CONFIG ?? join(home, '.capstan', 'config.yaml');
}

export interface ResolveOptions {
  globals: { etcd?: string; namespace?: string };
  env: CliEnv;
  cwd: string;
  /** Fallback when HOME is unset. */
  homedir: string;
}

export function resolveConfig(options: ResolveOptions): CliConfig {
  const { globals, env, cwd } = options;
  const home = env.HOME ?? options.homedir;
  const configPath = configPathFor(env, home);
  const editor = env.CAPSTAN_EDITOR ?? env.EDITOR ?? env.VISUAL ?? 'vi';
  const base = { configPath, debug: env.CAPSTAN_DEBUG, home, cwd, editor, apiAuth: env.CAPSTAN_API_AUTH };
  const namespace = globals.namespace ?? DEFAULT_NAMESPACE;
  const common = { ...base, namespace, namespaceExplicit: globals.namespace !== undefined };
  if (globals.etcd !== undefined) return { ...common, etcd: checkEndpoint(globals.etcd, '--etcd'), etcdSource: '--etcd' };
  if (env.CAPSTAN_ETCD !== undefined) return { ...common, etcd: checkEndpoint(env.CAPSTAN_ETCD, 'CAPSTAN_ETCD'), etcdSource: 'CAPSTAN_ETCD' };
  const fromFile = readConfigFile(configPath).etcd;
  if (fromFile !== undefined) return { ...common, etcd: fromFile, etcdSource: configPath };
  return { ...common, etcd: DEFAULT_ETCD, etcdSource: 'default' };
}

function checkEndpoint(value: string, source: string): string {
  const parsed = endpoint.safeParse(value);
  if (!parsed.success) throw new ConfigError(`${source}: expected an etcd URL like http://127.0.0.1:2379 or host:port, found "${value}"`);
  return parsed.data;
}

export function readConfigFile(path: string): z.infer<typeof configFileSchema> {
  if (!existsSync(path)) return {};
  let data: unknown;
  try {
    data = parse(readFileSync(path, 'utf8')) ?? {};
  } catch (error) {
    throw new ConfigError(`${path}: expected YAML like "etcd: http://127.0.0.1:2379", found a syntax error (${(error as Error).message.split('\n')[0]})`);
  }
  const parsed = configFileSchema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`${path}: ${issue.path.join('.') || '(top)'}: expected ${issue.message}`);
  }
  return parsed.data;
}

/** Writes `etcd: <url>` into the config file, keeping any other settings it holds. */
export function writeConfigFile(path: string, etcd: string): void {
  const current = existsSync(path) ? readConfigFile(path) : {};
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, stringify({ ...current, etcd }));
}
