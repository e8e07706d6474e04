// A short, readable log for people watching `capstan up` or `capstan controllers` in a terminal:
// "12:03:04 INFO  rollout app shop/web: started revision 2". pino underneath, so controllers log
// structured fields as everywhere else.
import { pino, type Logger } from 'pino';
import { palette } from './io.ts';
import type { Output } from './io.ts';

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const HIDDEN = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'component', 'controller', 'name']);

export function readableLogger(options: { out: Output; color: boolean; level?: string; name?: string }): Logger {
  const paint = palette(options.color);
  const stream = {
    write(line: string) {
      let record: Record<string, unknown>;
      try {
        record = JSON.parse(line) as Record<string, unknown>;
      } catch {
        options.out.write(line);
        return;
      }
      const level = Number(record['level']);
      const levelName = (LEVELS[level] ?? String(level)).padEnd(5);
      const time = new Date(Number(record['time'])).toTimeString().slice(0, 8);
      const who = [record['name'], record['component'], record['controller']].filter(Boolean).join(' ');
      const fields = Object.entries(record)
        .filter(([key]) => !HIDDEN.has(key))
        .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
        .join(' ');
      const levelText = level >= 50 ? paint.red(levelName) : level >= 40 ? paint.yellow(levelName) : paint.dim(levelName);
      options.out.write(`${paint.dim(time)} ${levelText} ${who ? `${paint.cyan(String(who))}: ` : ''}${String(record['msg'] ?? '')}${fields ? paint.dim(` ${fields}`) : ''}\n`);
    },
  };
  return pino({ level: options.level ?? 'info', base: options.name ? { name: options.name } : {} }, stream);
}
