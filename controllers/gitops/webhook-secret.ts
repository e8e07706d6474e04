// The webhook receiver's secret lives in a file (`--webhook-secret-file`), never in a spec: the
// controllers read it once at start. A missing file is created with 32 random bytes (hex), readable
// by its owner only, so that the receiver is on by default with a secret no one chose badly; the
// file's content, trimmed of surrounding whitespace, is the secret (`echo s3cret > file` works, and
// so does pasting the same text into GitHub's or Gitea's webhook form).
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

const SECRET_BYTES = 32;

const say = {
  empty: (file: string) => `the webhook secret file ${file} is empty: expected the secret on its first line; write one (e.g. openssl rand -hex 32 > ${file}) or delete the file to have one generated`,
} as const;

export class WebhookSecretError extends Error {
  override readonly name = 'WebhookSecretError';
}

/** The secret in `file`, created first when absent; `created` says whether it was. */
export async function readOrCreateSecret(file: string): Promise<{ secret: Buffer; created: boolean }> {
  let created = false;
  try {
    // 'wx': create only when absent, so two processes starting together keep one secret.
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, `${randomBytes(SECRET_BYTES).toString('hex')}\n`, { flag: 'wx', mode: 0o600 });
    created = true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const text = (await readFile(file, 'utf8')).trim();
  if (text === '') throw new WebhookSecretError(say.empty(file));
  return { secret: Buffer.from(text), created };
}
