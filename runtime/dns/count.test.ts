import type { Packet } from 'dns-packet';
import { describe, expect, it } from 'vitest';
import { replyLabels } from './count.ts';
import { RCODE } from './reply.ts';

describe('replyLabels: what capstan_dns_queries_total counts of a reply', () => {
  it.each([
    [{ type: 'response', flags: RCODE.NOERROR, questions: [{ type: 'A', name: 'web.shop.capstan' }] }, { type: 'A', rcode: 'NOERROR' }],
    [{ type: 'response', flags: 0x400 | RCODE.NXDOMAIN, questions: [{ type: 'SRV', name: '_http._tcp.web.shop.capstan' }] }, { type: 'SRV', rcode: 'NXDOMAIN' }],
    [{ type: 'response', flags: RCODE.REFUSED, questions: [{ type: 'AAAA', name: 'example.com' }] }, { type: 'AAAA', rcode: 'REFUSED' }],
    [{ type: 'response', flags: RCODE.FORMERR }, { type: 'none', rcode: 'FORMERR' }],
    [{ type: 'response', flags: 2 }, { type: 'none', rcode: '2' }],
  ] as [Packet, { type: string; rcode: string }][])('%j → %j', (reply, expected) => {
    expect(replyLabels(reply)).toEqual(expected);
  });
});
