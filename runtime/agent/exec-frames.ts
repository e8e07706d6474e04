// The wire format of `capstan exec` between the CLI and the agent: the response body is a sequence of
// frames [kind, 0, 0, 0, length (uint32 BE)] then `length` bytes, Docker's multiplexing format with
// one kind added, so that stdout and stderr stay apart and the exit code comes last on the same
// stream. Kind 1: stdout bytes; 2: stderr bytes; 3: the exit code as decimal text, the last frame.
export const FRAME = { stdout: 1, stderr: 2, exit: 3 } as const;
export type FrameKind = (typeof FRAME)[keyof typeof FRAME];

const HEADER = 8;

export function encodeFrame(kind: FrameKind, payload: Buffer | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const header = Buffer.alloc(HEADER);
  header[0] = kind;
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}

/** Feeds chunks in, calls `onFrame` for every complete frame, in order; keeps a partial one for later. */
export function frameReader(onFrame: (kind: number, payload: Buffer) => void): (chunk: Buffer) => void {
  let pending: Buffer = Buffer.alloc(0);
  return (chunk) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= HEADER) {
      const length = pending.readUInt32BE(4);
      if (pending.length < HEADER + length) break;
      onFrame(pending[0]!, pending.subarray(HEADER, HEADER + length));
      pending = pending.subarray(HEADER + length);
    }
  };
}
