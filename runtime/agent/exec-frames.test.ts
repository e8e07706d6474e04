import { describe, expect, it } from 'vitest';
import { encodeFrame, FRAME, frameReader } from './exec-frames.ts';

describe('exec frames', () => {
  const frames = Buffer.concat([encodeFrame(FRAME.stdout, 'out\n'), encodeFrame(FRAME.stderr, ''), encodeFrame(FRAME.stderr, 'err'), encodeFrame(FRAME.exit, '3')]);
  const expected = [
    [1, 'out\n'],
    [2, ''],
    [2, 'err'],
    [3, '3'],
  ];

  it.each([
    ['in one chunk', [frames.length]],
    ['split inside a header', [3, frames.length]],
    ['split inside a payload', [10, frames.length]],
    ['one byte at a time', Array.from({ length: frames.length }, (_, i) => i + 1)],
  ])('decodes every frame in order, %s', (_name, cuts) => {
    const seen: [number, string][] = [];
    const read = frameReader((kind, payload) => seen.push([kind, payload.toString('utf8')]));
    let start = 0;
    for (const end of cuts) {
      read(frames.subarray(start, end));
      start = end;
    }
    expect(seen).toEqual(expected);
  });
});
