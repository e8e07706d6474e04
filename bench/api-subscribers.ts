// bench:api's event subscribers: a process of their own (forked by api.bench.ts) holding N
// connections to GET /v2/events, as N dashboards or load balancers would, so that reading and
// parsing N streams is neither the API server's work nor the bench's (which times the store writes).
// Each status_update_event received is recorded with its receipt time on the machine's clock
// (performance.timeOrigin + now: comparable across the processes of one machine).
//
//   argv: URL COUNT
//   → parent {attached: COUNT}                 once every stream said event_stream_attached
//   ← {progress: STATE}   → {progress: number} the fewest events of taskStatus STATE any stream has had
//   ← {report: true}      → {report: Report}
import { get, type IncomingMessage } from 'node:http';

export interface Report {
  /** [taskId, taskStatus, receipt ms] of each status_update_event, per subscriber. */
  receipts: [string, string, number][][];
  /** Events of every type, all subscribers together. */
  events: number;
  bytes: number;
  /** Streams that ended before the report (the server drops a slow one). */
  ended: number;
}

export type Request = { progress: string } | { report: true };

const say = {
  status: (code: number | undefined) => `GET /v2/events answered ${code}: expected 200 and an event stream`,
  failed: (message: string) => `GET /v2/events failed: ${message}`,
};

const [url, countText] = process.argv.slice(2);
const count = Number(countText);
const now = () => performance.timeOrigin + performance.now();

const receipts: [string, string, number][][] = Array.from({ length: count }, () => []);
let attached = 0;
let events = 0;
let bytes = 0;
let ended = 0;

function subscribe(index: number): void {
  const request = get(`${url}/v2/events`, { headers: { accept: 'text/event-stream' }, agent: false }, (response: IncomingMessage) => {
    if (response.statusCode !== 200) fail(say.status(response.statusCode));
    let buffer = '';
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => {
      const at = now();
      bytes += Buffer.byteLength(chunk);
      buffer += chunk;
      let end = buffer.indexOf('\n\n');
      while (end >= 0) {
        receive(index, buffer.slice(0, end), at);
        buffer = buffer.slice(end + 2);
        end = buffer.indexOf('\n\n');
      }
    });
    response.on('end', () => {
      ended += 1;
    });
  });
  request.on('error', (error) => fail(say.failed(error.message)));
}

/** The parent sees the exit and ends the bench with what is on stderr. */
function fail(message: string): never {
  console.error(message);
  process.exit(1);
}

/** One SSE block: `event: TYPE\ndata: JSON`, or a keep-alive comment. */
function receive(index: number, block: string, at: number): void {
  if (block.startsWith(':')) return;
  events += 1;
  const type = /^event: (.*)$/m.exec(block)?.[1];
  if (type === 'event_stream_attached') {
    attached += 1;
    if (attached === count) process.send!({ attached });
    return;
  }
  if (type !== 'status_update_event') return;
  const data = JSON.parse(/^data: (.*)$/m.exec(block)![1]!) as { taskId: string; taskStatus: string };
  receipts[index]!.push([data.taskId, data.taskStatus, at]);
}

process.on('message', (message: Request) => {
  if ('progress' in message) {
    const counts = receipts.map((list) => list.filter(([, state]) => state === message.progress).length);
    process.send!({ progress: Math.min(...counts) });
    return;
  }
  const report: Report = { receipts, events, bytes, ended };
  process.send!({ report });
});
// The parent going away ends this process, whatever state the streams are in.
process.on('disconnect', () => process.exit(0));

for (let i = 0; i < count; i++) subscribe(i);
