// The last lines of a task's output, read when it ends Failed or Finished, for its status
// (`outputTail`) and so for its App's lastTaskFailure: what a person needs to see why it crashed,
// kept after the workload and its logs are removed.
import type { Readable } from 'node:stream';
import { OUTPUT_TAIL, outputTail, type Driver } from '../driver.ts';
import type { StatusChange } from './plan.ts';

/** Read at most this much, whatever the driver sends: the status keeps OUTPUT_TAIL.bytes of it. */
const MAX_READ_BYTES = 64 * 1024;
/** A driver that does not answer in time costs the status its output, not the report. */
const READ_TIMEOUT_MS = 2_000;

type Ending = Extract<StatusChange, { phase: 'Finished' | 'Failed' | 'Killed' }>;

/** The change with `outputTail` when it is a Failed or Finished ending of a container; unchanged otherwise. */
export async function withOutputTail(options: {
  change: StatusChange;
  driver: Driver | undefined;
  taskUid: string;
  onError: (error: Error) => void;
}): Promise<StatusChange> {
  const { change, driver } = options;
  if ((change.phase !== 'Failed' && change.phase !== 'Finished') || !change.container || !driver) return change;
  try {
    const stream = driver.logs(options.taskUid, { container: change.container, tail: OUTPUT_TAIL.lines });
    const text = await readBounded(stream);
    const tail = outputTail(text);
    return tail.length ? ({ ...change, outputTail: tail } satisfies Ending) : change;
  } catch (error) {
    options.onError(error as Error);
    return change;
  }
}

async function readBounded(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  const timer = setTimeout(() => stream.destroy(new Error(`no output from the driver within ${READ_TIMEOUT_MS} ms`)), READ_TIMEOUT_MS);
  try {
    for await (const chunk of stream) {
      const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
      chunks.push(buffer);
      size += buffer.length;
      // The tail is at the end: keep the newest MAX_READ_BYTES.
      while (size - (chunks[0]?.length ?? 0) >= MAX_READ_BYTES) size -= chunks.shift()!.length;
    }
  } finally {
    clearTimeout(timer);
    stream.destroy();
  }
  return Buffer.concat(chunks).toString('utf8');
}
