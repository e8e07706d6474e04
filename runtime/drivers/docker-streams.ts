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

/**
 * Demultiplexes an exec's framed stream into two outputs, as `demuxFrames` does. An exec whose
 * command cannot start (not found, not executable) gets Docker's error as plain text after an empty
 * frame: from the first bytes that are no frame header on, everything goes to `stderr` as it is.
 */
export function demuxExec(outputs: { stdout: (payload: Buffer) => void; stderr: (payload: Buffer) => void }): (chunk: Buffer) => void {
  let pending: Buffer = Buffer.alloc(0);
  let raw = false;
  return (chunk) => {
    if (raw) return outputs.stderr(chunk);
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 8) {
      const kind = pending[0]!;
      if (kind > 2 || pending[1] !== 0 || pending[2] !== 0 || pending[3] !== 0) {
        raw = true;
        outputs.stderr(pending);
        pending = Buffer.alloc(0);
        return;
      }
      const length = pending.readUInt32BE(4);
      if (pending.length < 8 + length) break;
      const payload = pending.subarray(8, 8 + length);
      pending = pending.subarray(8 + length);
      if (payload.length > 0) (kind === 2 ? outputs.stderr : outputs.stdout)(payload);
    }
  };
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
