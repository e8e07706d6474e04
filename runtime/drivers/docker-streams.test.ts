import { describe, expect, it } from 'vitest';
import { demuxExec } from './docker-streams.ts';

const frame = (kind: number, text: string) => {
  const header = Buffer.alloc(8);
  header[0] = kind;
  header.writeUInt32BE(Buffer.byteLength(text), 4);
  return Buffer.concat([header, Buffer.from(text)]);
};

describe('demuxExec', () => {
  it.each([
    ['stdout and stderr frames apart', [frame(1, 'out'), frame(2, 'err'), frame(1, '\n')], 'out\n', 'err'],
    ['a frame split across chunks', [frame(1, 'hello').subarray(0, 5), frame(1, 'hello').subarray(5)], 'hello', ''],
    // What the engine sends for `exec no-such-command`: an empty frame, then its error as plain text.
    ['plain text after an empty frame goes to stderr', [Buffer.concat([frame(1, ''), Buffer.from('OCI runtime exec failed: not found\r\n')]), Buffer.from('more')], '', 'OCI runtime exec failed: not found\r\nmore'],
  ])('%s', (_name, chunks, stdout, stderr) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const read = demuxExec({ stdout: (b) => out.push(b), stderr: (b) => err.push(b) });
    for (const chunk of chunks) read(chunk);
    expect(Buffer.concat(out).toString()).toBe(stdout);
    expect(Buffer.concat(err).toString()).toBe(stderr);
  });
});
