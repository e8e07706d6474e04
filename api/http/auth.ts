// Authentication of the HTTP API: none by default (it listens on loopback), or with `--auth FILE`
// bearer tokens and HTTP basic users read from a file. Every route but /ping then needs one of them,
// else 401 with a challenge per scheme and the body Marathon's reference authenticator plugin sends
// (mesosphere/marathon-example-plugins ExampleAuthenticator): `{"message": "Not Authenticated!"}`.
//
// Accepted Authorization headers: `Bearer TOKEN`; `token=TOKEN`, DC/OS's form, which Marathon's
// clients send (thefactory's python client with auth_token); `Basic base64(user:password)`.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';

export interface AuthConfig {
  /** Where the credentials came from, for messages. */
  source: string;
  tokens: readonly string[];
  users: readonly { user: string; password: string }[];
}

export const say = {
  notAuthenticated: 'Not Authenticated!',
  empty: (file: string) => `${file}: expected at least one credential line (a bearer token, or user:password for basic auth), found none`,
  emptyPart: (file: string, line: number, what: string) => `${file}:${line}: expected user:password with a non-empty ${what}, found an empty ${what}`,
  space: (file: string, line: number) => `${file}:${line}: expected a token or user:password without spaces, found spaces`,
} as const;

/** The realm of the challenges: what a browser shows when it asks for a password. */
const REALM = 'Capstan';
/** Routes open without credentials: Marathon's liveness check. */
const OPEN_PATHS = new Set(['/ping']);

/**
 * The auth file: one credential per line, `#` comments and blank lines ignored. A line with a colon
 * is `user:password` (split at the first colon, so a password may hold colons); any other line is a
 * bearer token (a token cannot hold a colon). Returns the config, or a sentence naming file:line.
 */
export function parseAuthFile(text: string, file: string): { config: AuthConfig } | { problem: string } {
  const tokens: string[] = [];
  const users: { user: string; password: string }[] = [];
  const lines = text.split(/\r?\n/);
  for (const [index, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (/\s/.test(line)) return { problem: say.space(file, index + 1) };
    const colon = line.indexOf(':');
    if (colon < 0) {
      tokens.push(line);
      continue;
    }
    const user = line.slice(0, colon);
    const password = line.slice(colon + 1);
    if (user === '') return { problem: say.emptyPart(file, index + 1, 'user') };
    if (password === '') return { problem: say.emptyPart(file, index + 1, 'password') };
    users.push({ user, password });
  }
  if (tokens.length === 0 && users.length === 0) return { problem: say.empty(file) };
  return { config: { source: file, tokens, users } };
}

/** Whether an Authorization header carries one of the configured credentials. */
export function isAuthenticated(config: AuthConfig, header: string | undefined): boolean {
  if (!header) return false;
  const bearer = /^Bearer\s+(\S+)$/i.exec(header) ?? /^token=(\S+)$/.exec(header);
  if (bearer) return config.tokens.some((token) => sameSecret(token, bearer[1]!));
  const basic = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header);
  if (!basic) return false;
  const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return false;
  const user = decoded.slice(0, colon);
  const password = decoded.slice(colon + 1);
  // Every user is compared, matching or not: the time taken says nothing about which names exist.
  return config.users.map((entry) => sameSecret(entry.user, user) && sameSecret(entry.password, password)).includes(true);
}

/** The challenges of a 401: one per scheme the file configures. */
export function challengesOf(config: AuthConfig): string[] {
  return [...(config.users.length > 0 ? [`Basic realm="${REALM}"`] : []), ...(config.tokens.length > 0 ? [`Bearer realm="${REALM}"`] : [])];
}

/** Requires credentials on every route of `server` except /ping. */
export function requireAuth(server: FastifyInstance, config: AuthConfig): void {
  const challenges = challengesOf(config);
  server.addHook('onRequest', async (request, reply) => {
    if (OPEN_PATHS.has(request.url.split('?')[0]!)) return;
    if (isAuthenticated(config, request.headers.authorization)) return;
    await reply.code(401).header('www-authenticate', challenges).send({ message: say.notAuthenticated });
  });
}

/** Compares digests in constant time: neither the secret's length nor its first difference shows in the timing. */
function sameSecret(expected: string, given: string): boolean {
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(expected), digest(given));
}
