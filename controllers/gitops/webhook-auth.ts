// The webhook receiver's two secrets-free pieces, pure: the per-repository token in the hook's path,
// and the check of a request's HMAC-SHA256 signature. One secret (a file only the controllers read)
// serves both:
//
// - the token is HMAC-SHA256(secret, "namespace/name"): it names one GitRepository without a table
//   to keep, it can sit in status.webhookPath in clear (it does not reveal the secret), and the
//   separator makes it unambiguous (Flux's sha256(token+name+namespace) is not: "ab"+"c" = "a"+"bc");
// - the body is signed with the secret itself, as Flux's generic-hmac receiver (`X-Signature:
//   sha256=<hex>`) and GitHub/Gitea (`X-Hub-Signature-256: sha256=<hex>`) sign it. Knowing a token
//   is not enough to trigger a fetch; knowing the secret is.
//
// No secret is ever in a spec: a GitRepository needs no webhook field at all.
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The headers a signature is read from, in order. */
export const SIGNATURE_HEADERS = ['x-signature', 'x-hub-signature-256'] as const;

const hmacHex = (secret: Uint8Array, data: string | Uint8Array) => createHmac('sha256', secret).update(data).digest('hex');

/** The path segment that names one GitRepository: hex HMAC-SHA256 of "namespace/name". */
export const webhookToken = (secret: Uint8Array, repository: { namespace: string; name: string }) => hmacHex(secret, `${repository.namespace}/${repository.name}`);

export const webhookPath = (secret: Uint8Array, repository: { namespace: string; name: string }) => `/hook/${webhookToken(secret, repository)}`;

/** `sha256=<hex>` over `body`, the value either header carries. */
export const signatureOf = (secret: Uint8Array, body: string | Uint8Array) => `sha256=${hmacHex(secret, body)}`;

export type SignatureCheck = { valid: true } | { valid: false; problem: string };

const say = {
  missing: `no signature: expected a header ${SIGNATURE_HEADERS.join(' or ')}: sha256=<hex HMAC-SHA256 of the body with the receiver's secret>`,
  malformed: (found: string) => `a signature header must read sha256=<64 hex digits>, found "${found.slice(0, 80)}"`,
  mismatch: "the signature does not match the body: sign it with the receiver's secret (capstan controllers --webhook-secret-file)",
} as const;

/** Whether `headers` carry a valid signature of `body` (the first header of SIGNATURE_HEADERS present decides). */
export function checkSignature(secret: Uint8Array, body: Uint8Array, headers: Readonly<Record<string, string | string[] | undefined>>): SignatureCheck {
  const header = SIGNATURE_HEADERS.map((name) => headers[name]).find((value) => value !== undefined);
  if (header === undefined) return { valid: false, problem: say.missing };
  const found = Array.isArray(header) ? header.join(',') : header;
  const match = /^sha256=([0-9a-fA-F]{64})$/.exec(found.trim());
  if (!match) return { valid: false, problem: say.malformed(found) };
  const expected = Buffer.from(hmacHex(secret, body), 'hex');
  // Constant time: a byte-by-byte compare would tell an attacker how much of a guess is right.
  return timingSafeEqual(expected, Buffer.from(match[1]!, 'hex')) ? { valid: true } : { valid: false, problem: say.mismatch };
}

/** `127.0.0.1:9292`, `[::1]:9292`, `:9292` (loopback) → host and port; undefined when not one. */
export function parseListen(text: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([0-9a-fA-F:]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text.trim());
  if (!match) return undefined;
  const port = Number(match[3]);
  if (port > 65_535) return undefined;
  return { host: match[1] ?? (match[2] || '127.0.0.1'), port };
}
