// What a command writes to and reads from. Commands never touch process.stdout directly, so the
// tests can run them in-process and read what a person would have seen.
import type { Readable } from 'node:stream';

export interface Output {
  write(text: string): unknown;
  isTTY?: boolean;
}

export interface CliIO {
  stdout: Output;
  stderr: Output;
  stdin: Readable;
  /** Colour on stdout: a TTY, no NO_COLOR (or FORCE_COLOR). */
  color: boolean;
}

export type Paint = (text: string) => string;

export interface Palette {
  green: Paint;
  yellow: Paint;
  red: Paint;
  cyan: Paint;
  dim: Paint;
  bold: Paint;
}

const sgr = (open: number, close: number): Paint => (text) => `\u001b[${open}m${text}\u001b[${close}m`;
const plain: Paint = (text) => text;

export function palette(color: boolean): Palette {
  if (!color) return { green: plain, yellow: plain, red: plain, cyan: plain, dim: plain, bold: plain };
  return { green: sgr(32, 39), yellow: sgr(33, 39), red: sgr(31, 39), cyan: sgr(36, 39), dim: sgr(2, 22), bold: sgr(1, 22) };
}

const ANSI = /\u001b\[[0-9;]*m/g;
export const visibleLength = (text: string) => text.replace(ANSI, '').length;

/** Left-aligned columns separated by three spaces, like kubectl. */
export function formatTable(rows: string[][], widths = columnWidths(rows)): string {
  return rows.map((row) => formatRow(row, widths)).join('\n') + (rows.length ? '\n' : '');
}

export function columnWidths(rows: string[][]): number[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, visibleLength(cell))));
  return widths;
}

export function formatRow(row: string[], widths: number[]): string {
  return row
    .map((cell, i) => (i === row.length - 1 ? cell : cell + ' '.repeat(Math.max(0, (widths[i] ?? 0) - visibleLength(cell)))))
    .join('   ')
    .trimEnd();
}

/** kubectl's short ages: 42s, 5m, 3h, 4d (and 2y for the very old). */
export function formatAge(since: string | undefined, now = Date.now()): string {
  if (!since) return '<unknown>';
  const seconds = Math.max(0, Math.floor((now - Date.parse(since)) / 1000));
  if (Number.isNaN(seconds)) return '<unknown>';
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h`;
  if (seconds < 365 * 86_400) return `${Math.floor(seconds / 86_400)}d`;
  return `${Math.floor(seconds / (365 * 86_400))}y`;
}

/** Reads all of a stream (stdin for `-f -`). */
export async function readAll(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/** Each line of a block indented by two spaces, trailing blank lines dropped (describe's sections). */
export function indent(text: string): string {
  return text
    .replace(/\n+$/, '')
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n');
}
