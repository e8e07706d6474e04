// bench:api's event subscribers: a process of their own (forked by api.bench.ts) holding N
// connections to GET /v2/events, as N dashboards or load balancers would, so that reading and
// parsing N streams is neither the API server's work nor the bench's (which times the store writes).
// Each status_update_event received is recorded with its receipt time on the machine's clock
// (performance.timeOrigin + now: comparable across the processes of one machine).
//
// A chunk is only kept on receipt, with its time; the streams are parsed when the parent asks. N
// real subscribers parse their streams in parallel, each on its own; one process parsing N streams
// as they come would add to each stream's receipt time the parsing of all the streams read before it
// in the same turn — a cost of this reader, growing with N, that is not the server's delivery.
//
//   argv: URL COUNT
//   → parent {attached: COUNT}                 once every stream said event_stream_attached
//   ← {progress: STATE}   → {progress: number} the fewest events of taskStatus STATE any stream has had
//   ← {report: true}      → {report: Report}
import { get, type IncomingMessage } from 'node:http';
import { StringDecoder } from 'node:string_decoder';

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
/** Per subscriber: what arrived and is not parsed yet, with its receipt time; the incomplete block at the end of what was parsed. */
const unread: [number, Buffer][][] = Array.from({ length: count }, () => []);
const partial: string[] = Array.from({ length: count }, () => '');
/** A character may be split between two chunks. */
const decoders = Array.from({ length: count }, () => new StringDecoder('utf8'));
let attached = 0;
let events = 0;
let bytes = 0;
let ended = 0;

function subscribe(index: number): void {
  const request = get(`${url}/v2/events`, { headers: { accept: 'text/event-stream' }, agent: false }, (response: IncomingMessage) => {
    if (response.statusCode !== 200) fail(say.status(response.statusCode));
    let waiting = true;
    response.on('data', (chunk: Buffer) => {
      unread[index]!.push([now(), chunk]);
      // Parsed at once until the stream says it is attached, which the parent waits for.
      if (waiting) waiting = parse(index) === 0;
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

/** Parses what subscriber `index` received so far; returns how many blocks it was attached by (0 or 1). */
function parse(index: number): number {
  const before = attached;
  for (const [at, chunk] of unread[index]!.splice(0)) {
    bytes += chunk.length;
    let buffer = partial[index] + decoders[index]!.write(chunk);
    let end = buffer.indexOf('\n\n');
    while (end >= 0) {
      receive(index, buffer.slice(0, end), at);
      buffer = buffer.slice(end + 2);
      end = buffer.indexOf('\n\n');
    }
    partial[index] = buffer;
  }
  return attached - before;
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
  for (let i = 0; i < count; i++) parse(i);
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
