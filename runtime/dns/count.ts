// What capstan_dns_queries_total counts of one reply: its question's type and its response code.
import type { Packet } from 'dns-packet';
import { RCODE } from './reply.ts';

const RCODE_NAMES = new Map<number, string>(Object.entries(RCODE).map(([name, code]) => [code, name]));

/** The labels of a reply: the first question's type (none for a message without one) and the rcode's name. */
export function replyLabels(reply: Packet): { type: string; rcode: string } {
  const code = (reply.flags ?? 0) & 0xf;
  return { type: reply.questions?.[0]?.type ?? 'none', rcode: RCODE_NAMES.get(code) ?? String(code) };
}
