// `-f FILE|DIR|-`: the manifest texts a command reads. Directories are walked recursively and their
// files sorted, so the same tree always applies in the same order.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { CliError } from './errors.ts';
import { readAll } from './io.ts';
import type { Readable } from 'node:stream';

export interface Source {
  /** As shown in messages: the path relative to the working directory, or "<stdin>". */
  file: string;
  text: string;
}

const MANIFEST_FILE = /\.(ya?ml|json)$/i;

export async function readSources(paths: readonly string[], options: { cwd: string; stdin: Readable }): Promise<Source[]> {
  const sources: Source[] = [];
  for (const path of paths) {
    if (path === '-') {
      sources.push({ file: '<stdin>', text: await readAll(options.stdin) });
      continue;
    }
    for (const file of manifestFiles(resolve(options.cwd, path))) {
      sources.push({ file: relative(options.cwd, file) || file, text: readFileSync(file, 'utf8') });
    }
  }
  return sources;
}

function manifestFiles(path: string): string[] {
  let stats;
  try {
    stats = statSync(path);
  } catch {
    throw new CliError(`cannot read ${path}: no such file or directory`);
  }
  if (!stats.isDirectory()) return [path];
  const entries = readdirSync(path, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return entries.flatMap((entry) => {
    if (entry.name.startsWith('.')) return [];
    const child = join(path, entry.name);
    if (entry.isDirectory()) return manifestFiles(child);
    return MANIFEST_FILE.test(entry.name) ? [child] : [];
  });
}
