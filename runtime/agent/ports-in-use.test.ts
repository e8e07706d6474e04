import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { overlap, parseEphemeralRange, portsInTable, readEphemeralRange, readPortsInUse } from './ports-in-use.ts';

// Lines as Linux prints them (trimmed after the inode); ports in hex: 0950 = 2384, 5E18 = 24088, 5E19 = 24089.
const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0950 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 31337 1
   1: 0100007F:5E18 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 31338 1
   2: 0100007F:5E19 0100007F:0950 01 00000000:00000000 00:00000000 00000000  1000        0 31339 1
   3: 0100007F:5E1A 0100007F:0950 06 00000000:00000000 03:00000F2A 00000000     0        0 0 3
`;
const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:5E1B 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1
`;
const UDP = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  100: 0100007F:5E1C 00000000:0000 07 00000000:00000000 00:00000000 00000000  1000        0 777 2 0000000000000000 0
  101: 0100007F:5E1D 0100007F:0035 01 00000000:00000000 00:00000000 00000000  1000        0 778 2 0000000000000000 0
`;

const RANGE = { from: 24000, to: 24100 };

describe('portsInTable', () => {
  it.each([
    { name: 'TCP: LISTEN sockets only, in range', text: TCP, listenOnly: true, expected: [24088] },
    { name: 'TCP6: the port after the 32-digit address', text: TCP6, listenOnly: true, expected: [24091] },
    { name: 'UDP: every bound socket, connected or not', text: UDP, listenOnly: false, expected: [24092, 24093] },
    { name: 'the header alone', text: TCP.split('\n')[0]!, listenOnly: true, expected: [] },
    { name: 'an empty table (no IPv6)', text: '', listenOnly: true, expected: [] },
    { name: 'a line that does not parse', text: 'garbage here\n 7: nonsense\n', listenOnly: false, expected: [] },
  ])('$name', ({ text, listenOnly, expected }) => {
    expect(portsInTable(text, { range: RANGE, listenOnly })).toEqual(expected);
  });

  it('keeps a port below the range out (etcd 2384 here)', () => {
    expect(portsInTable(TCP, { range: { from: 1, to: 65535 }, listenOnly: true })).toEqual([2384, 24088]);
  });
});

describe('readPortsInUse and readEphemeralRange from a proc directory', () => {
  const proc = mkdtempSync(join(tmpdir(), 'capstan-proc-'));
  afterAll(() => rmSync(proc, { recursive: true, force: true }));
  mkdirSync(join(proc, 'net'));
  mkdirSync(join(proc, 'sys/net/ipv4'), { recursive: true });
  writeFileSync(join(proc, 'net/tcp'), TCP);
  writeFileSync(join(proc, 'net/udp'), UDP);
  writeFileSync(join(proc, 'sys/net/ipv4/ip_local_port_range'), '40000\t50000\n');

  it('merges the tables, sorted, each port once; a missing tcp6/udp6 holds nothing', async () => {
    expect(await readPortsInUse(RANGE, proc)).toEqual([24088, 24092, 24093]);
  });

  it('reads the ephemeral range, or falls back to Linux\'s default', async () => {
    expect(await readEphemeralRange(proc)).toEqual({ from: 40000, to: 50000 });
    expect(await readEphemeralRange(join(proc, 'missing'))).toEqual({ from: 32768, to: 60999 });
  });
});

describe('parseEphemeralRange and overlap', () => {
  it.each([
    { text: '32768\t60999\n', expected: { from: 32768, to: 60999 } },
    { text: ' 1024 65535', expected: { from: 1024, to: 65535 } },
    { text: 'nonsense', expected: undefined },
  ])('parses $text', ({ text, expected }) => {
    expect(parseEphemeralRange(text)).toEqual(expected);
  });

  it.each([
    { a: { from: 31000, to: 31999 }, b: { from: 32768, to: 60999 }, expected: undefined },
    { a: { from: 41000, to: 41999 }, b: { from: 32768, to: 60999 }, expected: { from: 41000, to: 41999 } },
    { a: { from: 32000, to: 33000 }, b: { from: 32768, to: 60999 }, expected: { from: 32768, to: 33000 } },
  ])('$a and $b share $expected', ({ a, b, expected }) => {
    expect(overlap(a, b)).toEqual(expected);
  });
});
