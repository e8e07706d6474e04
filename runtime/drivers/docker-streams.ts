// The two wire formats the docker driver reads: the 8-byte-framed stdout/stderr multiplexing of logs
// and exec (non-TTY containers), and the newline-delimited JSON of the events stream.
import { Transform, type TransformCallback } from 'node:stream';

export type StreamSelection = 'stdout' | 'stderr' | 'all';

/**
 * Demultiplexes Docker's framed stream: each frame is [kind, 0, 0, 0, length(uint32 BE)] then
 * `length` bytes, kind 1 = stdout, 2 = stderr. Passes on the payload of the selected streams.
 */
export function demuxFrames(selection: StreamSelection = 'all'): Transform {
  let pending: Buffer = Buffer.alloc(0);
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= 8) {
        const kind = pending[0];
        const length = pending.readUInt32BE(4);
        if (pending.length < 8 + length) break;
        const payload = pending.subarray(8, 8 + length);
        pending = pending.subarray(8 + length);
        const wanted = selection === 'all' || (selection === 'stdout' ? kind === 1 : kind === 2);
        if (wanted) this.push(payload);
      }
      callback();
    },
  });
}

/** Splits a byte stream into lines and parses each as JSON; calls `onValue` in order. */
export function jsonLines(onValue: (value: unknown) => void): (chunk: Buffer) => void {
  let rest = '';
  return (chunk) => {
    rest += chunk.toString('utf8');
    let newline = rest.indexOf('\n');
    while (newline !== -1) {
      const line = rest.slice(0, newline).trim();
      rest = rest.slice(newline + 1);
      if (line) onValue(JSON.parse(line));
      newline = rest.indexOf('\n');
    }
  };
}
