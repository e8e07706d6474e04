// The host ports of a node that something holds, as the kernel's socket tables say: /proc/net/tcp and
// tcp6 (LISTEN sockets) and /proc/net/udp and udp6 (every bound socket), read as files, no `ss` or
// `netstat`. The agent reports those of its task port range that its own workloads do not hold
// (Node status.portsInUse), so the scheduler hands them to no task.
//
// Any local address counts, not only the node's: a task may bind the wildcard address, and a port a
// process holds on another address of the machine then fails its bind all the same.
import { readFile } from 'node:fs/promises';

export interface PortRange {
  from: number;
  to: number;
}

/** The socket tables read, relative to the proc directory. */
const TABLES = [
  { file: 'net/tcp', listenOnly: true },
  { file: 'net/tcp6', listenOnly: true },
  { file: 'net/udp', listenOnly: false },
  { file: 'net/udp6', listenOnly: false },
] as const;

/** TCP_LISTEN in include/net/tcp_states.h, as /proc/net/tcp prints it. */
const TCP_LISTEN = '0A';

/** Linux's default net.ipv4.ip_local_port_range, where port 0 binds and outgoing connections get their port. */
export const DEFAULT_EPHEMERAL_RANGE: PortRange = { from: 32768, to: 60999 };

/**
 * The local ports of one socket table's lines that fall in `range`. A line reads
 * `sl local_address rem_address st ...`, the address as hex `ADDR:PORT` (IPv4 8 hex digits, IPv6 32).
 * The header line and anything unparseable are skipped.
 */
export function portsInTable(text: string, options: { range: PortRange; listenOnly: boolean }): number[] {
  const ports: number[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    const local = fields[1];
    const state = fields[3];
    if (!local || !state || !/^\d+:$/.test(fields[0] ?? '')) continue;
    if (options.listenOnly && state !== TCP_LISTEN) continue;
    const port = Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16);
    if (port >= options.range.from && port <= options.range.to) ports.push(port);
  }
  return ports;
}

/** The ports of `range` some socket on this machine holds, sorted, each once. */
export async function readPortsInUse(range: PortRange, procDir = '/proc'): Promise<number[]> {
  const found = new Set<number>();
  for (const table of TABLES) {
    // A kernel without IPv6 has no tcp6/udp6: nothing is held there.
    const text = await readFile(`${procDir}/${table.file}`, 'utf8').catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? '' : Promise.reject(error)));
    for (const port of portsInTable(text, { range, listenOnly: table.listenOnly })) found.add(port);
  }
  return [...found].sort((a, b) => a - b);
}

/** `32768\t60999` (net.ipv4.ip_local_port_range) as a range, or undefined when it does not read so. */
export function parseEphemeralRange(text: string): PortRange | undefined {
  const match = /^\s*(\d+)\s+(\d+)\s*$/.exec(text);
  return match ? { from: Number(match[1]), to: Number(match[2]) } : undefined;
}

/** The kernel's ephemeral port range; Linux's default where it cannot be read. */
export async function readEphemeralRange(procDir = '/proc'): Promise<PortRange> {
  const text = await readFile(`${procDir}/sys/net/ipv4/ip_local_port_range`, 'utf8').catch(() => '');
  return parseEphemeralRange(text) ?? DEFAULT_EPHEMERAL_RANGE;
}

/** The ports two ranges share, or undefined when they share none. */
export function overlap(a: PortRange, b: PortRange): PortRange | undefined {
  const from = Math.max(a.from, b.from);
  const to = Math.min(a.to, b.to);
  return from <= to ? { from, to } : undefined;
}

export const inRange = (port: number, range: PortRange) => port >= range.from && port <= range.to;
