import { decode, encode, encodingLength, RECURSION_DESIRED, type Answer, type Packet, type Question } from 'dns-packet';
import { describe, expect, it } from 'vitest';
import { replyTo, MAX_UDP_PAYLOAD, type Transport } from './reply.ts';
import type { Resolution } from './zone.ts';

const soa = { type: 'SOA', name: 'capstan', ttl: 2, data: { mname: 'ns.capstan', rname: 'hostmaster.capstan' } } as const;
const addresses = (count: number): Answer[] =>
  Array.from({ length: count }, (_, i) => ({ type: 'A', name: 'big.default.capstan', ttl: 2, data: `10.0.${Math.floor(i / 250)}.${i % 250}` }));

function query(options: { edns?: number; questions?: Question[]; opcode?: string } = {}): Buffer {
  const packet: Packet = {
    type: 'query',
    id: 4242,
    flags: RECURSION_DESIRED,
    questions: options.questions ?? [{ type: 'A', name: 'big.default.capstan' }],
    additionals: options.edns ? [{ type: 'OPT', name: '.', udpPayloadSize: options.edns } as unknown as Answer] : [],
  };
  return encode(packet);
}

function reply(message: Buffer, transport: Transport, resolution: Resolution) {
  const packet = replyTo(message, transport, () => resolution);
  return packet && decode(encode(packet));
}

describe('replyTo: rcode, flags and sections', () => {
  it.each<[string, Resolution, string, boolean]>([
    ['an answer', { outcome: 'answer', answers: addresses(2), additionals: [] }, 'NOERROR', true],
    ['nodata', { outcome: 'nodata', soa }, 'NOERROR', true],
    ['nxdomain', { outcome: 'nxdomain', soa }, 'NXDOMAIN', true],
    ['refused', { outcome: 'refused' }, 'REFUSED', false],
  ])('%s', (_, resolution, rcode, authoritative) => {
    const decoded = reply(query(), 'udp', resolution)!;
    expect(decoded).toMatchObject({ id: 4242, type: 'response', rcode, flag_aa: authoritative, flag_rd: true, flag_tc: false });
    expect(decoded.questions).toEqual([{ type: 'A', name: 'big.default.capstan', class: 'IN' }]);
    if (resolution.outcome === 'nodata' || resolution.outcome === 'nxdomain') expect(decoded.authorities?.map((a) => a.type)).toEqual(['SOA']);
  });

  it('answers two questions in one message with FORMERR, and a header alone with FORMERR', () => {
    const two = query({ questions: [{ type: 'A', name: 'a.capstan' }, { type: 'A', name: 'b.capstan' }] });
    expect(reply(two, 'udp', { outcome: 'refused' })).toMatchObject({ rcode: 'FORMERR' });
    const garbage = Buffer.concat([query().subarray(0, 12), Buffer.from([0xff, 0xff, 0xff])]);
    expect(reply(garbage, 'udp', { outcome: 'refused' })).toMatchObject({ id: 4242, rcode: 'FORMERR' });
    expect(replyTo(Buffer.from([1, 2, 3]), 'udp', () => ({ outcome: 'refused' }))).toBeUndefined();
  });

  it('does not answer a response', () => {
    const response = encode({ type: 'response', id: 1, questions: [{ type: 'A', name: 'x.capstan' }] });
    expect(replyTo(response, 'udp', () => ({ outcome: 'refused' }))).toBeUndefined();
  });
});

describe('replyTo: sized for the transport', () => {
  const big: Resolution = { outcome: 'answer', answers: addresses(60), additionals: addresses(3).map((a) => ({ ...a, name: 't.default.capstan' })) };

  it.each<[string, Buffer, Transport, number, boolean]>([
    ['UDP without EDNS: 512 bytes, TC set', query(), 'udp', 512, true],
    ['UDP with EDNS 4096: capped at 1232, TC set', query({ edns: 4096 }), 'udp', MAX_UDP_PAYLOAD, true],
    ['UDP with EDNS 300: never below 512', query({ edns: 300 }), 'udp', 512, true],
    ['TCP: everything, no TC', query(), 'tcp', 65_535, false],
  ])('%s', (_, message, transport, limit, truncated) => {
    const packet = replyTo(message, transport, () => big)!;
    const decoded = decode(encode(packet));
    expect(encodingLength(packet)).toBeLessThanOrEqual(limit);
    expect(decoded.flag_tc).toBe(truncated);
    if (truncated) {
      // Additional records go first; then answers, as few as it takes.
      expect(decoded.additionals!.filter((a) => a.type !== 'OPT')).toEqual([]);
      expect(decoded.answers!.length).toBeGreaterThan(0);
      expect(encodingLength({ ...packet, answers: big.answers.slice(0, decoded.answers!.length + 1) })).toBeGreaterThan(limit);
    } else {
      expect(decoded.answers).toHaveLength(60);
      expect(decoded.additionals).toHaveLength(3);
    }
  });

  it('echoes EDNS when asked with it, saying what it accepts', () => {
    const decoded = reply(query({ edns: 4096 }), 'udp', { outcome: 'answer', answers: addresses(1), additionals: [] })!;
    expect(decoded.additionals).toEqual([expect.objectContaining({ type: 'OPT', udpPayloadSize: MAX_UDP_PAYLOAD })]);
  });
});
