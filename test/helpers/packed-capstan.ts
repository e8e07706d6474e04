// This repository as a user installs it: `npm pack` (whose "prepack" builds dist/), once per test
// process. Test files run in parallel processes and every pack rewrites the repository's dist/, so
// packs across processes take turns through a lock directory (mkdir is atomic); each gets a tarball
// of its own in a temp directory, removed when the process exits.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from './cli.ts';
import { until } from './poll.ts';

const PACK_TIMEOUT_MS = 300_000;
/** A lock older than this was left by a process that died while packing. */
const STALE_LOCK_MS = PACK_TIMEOUT_MS + 60_000;
const LOCK = join(tmpdir(), `capstan-pack-${Buffer.from(REPO).toString('base64url').slice(-32)}.lock`);

export interface PackedCapstan {
  /** The tarball's absolute path. */
  tarball: string;
  /** The files it holds, as `npm pack --json` lists them. */
  files: string[];
  /** How long the pack took (with the prepack build), in ms. */
  packMs: number;
}

let packed: Promise<PackedCapstan> | undefined;

export function packedCapstan(): Promise<PackedCapstan> {
  return (packed ??= pack());
}

async function pack(): Promise<PackedCapstan> {
  const dir = mkdtempSync(join(tmpdir(), 'capstan-packed-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  await until(() => takeLock(), { timeoutMs: STALE_LOCK_MS, intervalMs: 250, what: `the pack lock ${LOCK}` });
  const started = Date.now();
  try {
    const stdout = await npmPack(dir);
    const [result] = JSON.parse(stdout) as [{ filename: string; files: { path: string }[] }];
    return { tarball: join(dir, result.filename), files: result.files.map((file) => file.path), packMs: Date.now() - started };
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

function takeLock(): boolean {
  try {
    mkdirSync(LOCK);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    if (Date.now() - statSync(LOCK, { throwIfNoEntry: false })!.mtimeMs > STALE_LOCK_MS) rmSync(LOCK, { recursive: true, force: true });
    return false;
  }
}

function npmPack(destination: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('npm', ['pack', '--json', '--pack-destination', destination], { cwd: REPO, timeout: PACK_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error) reject(new Error(`npm pack failed (${error.message}): ${stderr}`));
      else resolve(stdout);
    });
    child.stdin?.end();
  });
}
