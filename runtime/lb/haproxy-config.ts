// HAProxy's configuration as files: `haproxy -c` and its errors with the lines they blame, and what
// a configuration's global section names (the admin socket, the server-state file). Needs no running
// HAProxy.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';

export const messages = {
  notInstalled: (binary: string) => `${binary} is not installed: apt-get install haproxy`,
  noAdminSocket: () =>
    'The HAProxy configuration has no "stats socket <path> … level admin" line in its global section; capstan lb needs it for the runtime API.',
};

export interface ConfigError {
  line?: number;
  message: string;
}

export type CheckResult = { ok: true } | { ok: false; errors: ConfigError[] };

/**
 * `haproxy -c` on this text, from a file in `dir` (so paths in the text resolve as they will when it
 * is installed there). Needs no running HAProxy: the first configuration is checked before one starts.
 */
export async function checkConfig(text: string, options: { dir: string; binary?: string }): Promise<CheckResult> {
  mkdirSync(options.dir, { recursive: true });
  const file = join(options.dir, `.check-${randomBytes(4).toString('hex')}.cfg`);
  writeFileSync(file, text);
  try {
    const result = await run(options.binary ?? 'haproxy', ['-c', '-f', file]);
    if (result.code === 0) return { ok: true };
    const errors = parseCheckOutput(result.output, file);
    return { ok: false, errors: errors.length > 0 ? errors : [{ message: result.output.trim() || `haproxy -c exited with ${result.code}` }] };
  } finally {
    rmSync(file, { force: true });
  }
}

/**
 * The errors of `haproxy -c` output: its [ALERT] lines, with the line number when they name a
 * position in `file` (`parsing [/path:12] : …` or `[/path:12] : …`). Lines that follow an alert
 * without a tag of their own continue its message. The closing summary alerts ("Error(s) found in
 * configuration file", "Fatal errors found") say nothing the others do not, unless they are alone.
 */
export function parseCheckOutput(output: string, file: string): ConfigError[] {
  const errors: ConfigError[] = [];
  let last: ConfigError | undefined;
  for (const raw of output.split('\n')) {
    const tagged = /^\[(ALERT|WARNING|NOTICE)\]\s*(?:\(\d+\)\s*)?:\s*(.*)$/.exec(raw);
    if (!tagged) {
      if (last && raw.trim() !== '') last.message += ` ${raw.trim()}`;
      continue;
    }
    last = undefined;
    if (tagged[1] !== 'ALERT') continue;
    const text = tagged[2]!.replace(/^config\s*:\s*/, '');
    const located = /^(?:parsing\s+)?\[([^\]]+):(\d+)\]\s*:\s*(.*)$/.exec(text);
    last = located && located[1] === file ? { line: Number(located[2]), message: located[3]! } : { message: text.replaceAll(file, 'the configuration') };
    errors.push(last);
  }
  const specific = errors.filter((e) => !/^(Error\(s\) found in configuration file|Fatal errors found in configuration)/.test(e.message));
  return specific.length > 0 ? specific : errors;
}

/** The admin socket a configuration's global section names (`stats socket <path> …`). */
export function adminSocketOf(config: string): string {
  const path = globalWord(config, 'stats socket');
  if (!path) throw new Error(messages.noAdminSocket());
  return path;
}

/** The absolute `server-state-file` a configuration names, if any. */
export function serverStateFileOf(config: string): string | undefined {
  const path = globalWord(config, 'server-state-file');
  return path && isAbsolute(path) ? path : undefined;
}

function globalWord(config: string, keyword: string): string | undefined {
  const match = new RegExp(`^\\s*${keyword}\\s+('[^']*'|"[^"]*"|\\S+)`, 'm').exec(config);
  return match?.[1]?.replace(/^['"]|['"]$/g, '');
}

function run(binary: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'ENOENT' ? new Error(messages.notInstalled(binary)) : error),
    );
    child.once('close', (code) => resolve({ code, output }));
  });
}
