// One DNS message in, one reply out, sized for its transport: the part of the server that needs no
// socket. dns-packet does the wire format; this file decides flags, sections and truncation.
import { decode, encodingLength, AUTHORITATIVE_ANSWER, RECURSION_DESIRED, TRUNCATED_RESPONSE } from 'dns-packet';
import type { Answer, DecodedPacket, OptAnswer, Packet, Question } from 'dns-packet';
import type { Resolution } from './zone.ts';

export type Transport = 'udp' | 'tcp';

/** RFC 1035's limit for a UDP reply to a query without EDNS. */
export const CLASSIC_UDP_PAYLOAD = 512;
/**
 * The largest UDP reply sent even when a client offers more: DNS Flag Day 2020's figure, the size
 * that passes without IP fragmentation on practically every path. Bigger answers go over TCP.
 */
export const MAX_UDP_PAYLOAD = 1232;
const MAX_TCP_MESSAGE = 65_535;

export const RCODE = { NOERROR: 0, FORMERR: 1, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
type Rcode = keyof typeof RCODE;

/** The reply to `message`, or undefined when there is nobody to answer (a response, or no header). */
export function replyTo(message: Buffer, transport: Transport, resolve: (question: Question) => Resolution): Packet | undefined {
  let query: DecodedPacket;
  try {
    query = decode(message);
  } catch {
    // Not a DNS message we can read. With a whole header we still owe the sender a FORMERR.
    return message.length >= 12 ? { type: 'response', id: message.readUInt16BE(0), flags: RCODE.FORMERR } : undefined;
  }
  if (query.type === 'response') return undefined;
  const opt = query.additionals?.find((a): a is OptAnswer => a.type === 'OPT');
  const base = (rcode: Rcode, authoritative: boolean): Packet => ({
    type: 'response',
    id: query.id,
    flags: (authoritative ? AUTHORITATIVE_ANSWER : 0) | ((query.flags ?? 0) & RECURSION_DESIRED) | RCODE[rcode],
    questions: query.questions,
    answers: [],
    authorities: [],
    // RFC 6891: a query with EDNS gets EDNS back, saying what this server accepts.
    additionals: opt ? [ednsRecord()] : [],
  });
  if ((query as { opcode?: string }).opcode !== 'QUERY') return base('NOTIMP', false);
  const question = query.questions?.length === 1 ? query.questions[0]! : undefined;
  if (!question) return base('FORMERR', false);
  if (question.class !== undefined && question.class !== 'IN' && question.class !== 'ANY') return base('REFUSED', false);

  const resolution = resolve(question);
  let reply: Packet;
  switch (resolution.outcome) {
    case 'refused':
      return base('REFUSED', false);
    case 'nxdomain':
      reply = { ...base('NXDOMAIN', true), authorities: [resolution.soa] };
      break;
    case 'nodata':
      reply = { ...base('NOERROR', true), authorities: [resolution.soa] };
      break;
    case 'answer': {
      const packet = base('NOERROR', true);
      reply = { ...packet, answers: resolution.answers, additionals: [...resolution.additionals, ...packet.additionals!] };
      break;
    }
  }
  return fit(reply, limitFor(transport, opt));
}

function limitFor(transport: Transport, opt: OptAnswer | undefined): number {
  if (transport === 'tcp') return MAX_TCP_MESSAGE;
  if (!opt) return CLASSIC_UDP_PAYLOAD;
  return Math.min(Math.max(opt.udpPayloadSize, CLASSIC_UDP_PAYLOAD), MAX_UDP_PAYLOAD);
}

/**
 * Mesos-DNS's truncation: over the limit, set TC, drop the additional records (keeping EDNS), then
 * as many answers from the end as it takes. A client that sees TC asks again over TCP; one that
 * does not still gets a usable part of the answer.
 */
export function fit(reply: Packet, limit: number): Packet {
  if (encodingLength(reply) <= limit) return reply;
  const additionals = (reply.additionals ?? []).filter((a) => a.type === 'OPT');
  const truncated: Packet = { ...reply, flags: (reply.flags ?? 0) | TRUNCATED_RESPONSE, additionals };
  if (encodingLength(truncated) <= limit) return truncated;
  const answers = reply.answers ?? [];
  const fits = (count: number) => encodingLength({ ...truncated, answers: answers.slice(0, count) }) <= limit;
  // The largest count that fits, by bisection: encodingLength walks every record, so keep the walks few.
  let low = 0;
  let high = answers.length;
  while (low < high) {
    const middle = Math.ceil((low + high) / 2);
    if (fits(middle)) low = middle;
    else high = middle - 1;
  }
  return { ...truncated, answers: answers.slice(0, low) };
}

function ednsRecord(): Answer {
  const opt: OptAnswer = { type: 'OPT', name: '.', udpPayloadSize: MAX_UDP_PAYLOAD, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] };
  return opt as unknown as Answer;
}
