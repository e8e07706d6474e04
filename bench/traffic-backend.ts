// The task server of bench:traffic's routing figures, and where it reports to. Like
// test/fixtures/traffic/server.mjs (answers at once, `/health` 200, exits on SIGTERM), but every
// request that is not a health check is reported, as it arrives, to a UDP collector in the bench:
// "<task name> <epoch ms>". The bench takes a task's first report as the moment HAProxy first sent
// it a request, and its last as the last. The script is written to the bench's temp dir: the process
// driver runs it with plain `node`, no loader.
import { createSocket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const SCRIPT = `import { createServer } from 'node:http';
import { createSocket } from 'node:dgram';
const name = process.env.CAPSTAN_TASK_NAME;
const collector = Number(process.env.COLLECTOR_PORT);
const report = createSocket('udp4');
createServer((request, response) => {
  if (request.url === '/health') return response.end('ok\\n');
  report.send(name + ' ' + Date.now(), collector, '127.0.0.1');
  response.end(name + '\\n');
}).listen(Number(process.env.PORT0), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
`;

/** Writes the server script into `dir`; returns its absolute path. */
export function writeReportingServer(dir: string): string {
  const path = join(dir, 'reporting-server.mjs');
  writeFileSync(path, SCRIPT);
  return path;
}

export interface Arrivals {
  port: number;
  /** Per task name: its first and last request's arrival (epoch ms), and how many. */
  readonly tasks: ReadonlyMap<string, { first: number; last: number; count: number }>;
  close(): Promise<void>;
}

/** The UDP collector the reporting servers send to, on 127.0.0.1. */
export function collectArrivals(): Promise<Arrivals> {
  const socket = createSocket('udp4');
  const tasks = new Map<string, { first: number; last: number; count: number }>();
  socket.on('message', (message) => {
    const [name, at] = message.toString().split(' ');
    if (!name || !at) return;
    const time = Number(at);
    const seen = tasks.get(name);
    if (!seen) tasks.set(name, { first: time, last: time, count: 1 });
    else tasks.set(name, { first: Math.min(seen.first, time), last: Math.max(seen.last, time), count: seen.count + 1 });
  });
  return new Promise((resolve) =>
    socket.bind(0, '127.0.0.1', () =>
      resolve({ port: socket.address().port, tasks, close: () => new Promise<void>((done) => socket.close(() => done())) }),
    ),
  );
}
