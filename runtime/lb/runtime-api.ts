// HAProxy's runtime API: the admin socket of the worker (`stats socket … level admin`) and the
// master CLI (`-S <dir>/master.sock`). One command per connection: HAProxy 2.6 answers and closes in
// non-interactive mode, so no framing is needed beyond "read until the socket ends".
//
// Why `;quit` after each command: after a reload, 2.6's master CLI keeps a non-interactive
// connection open once it has answered (the worker's socket does not), so reading to the end would
// wait for the timeout. An explicit `quit` ends every connection the same way on both sockets.
import { connect } from 'node:net';

const DEFAULT_TIMEOUT_MS = 2_000;

const messages = {
  unsafe: (command: string) =>
    `The HAProxy command ${JSON.stringify(command)} contains ";" or a line break, which the CLI would read as several commands.`,
  timeout: (socket: string, command: string, ms: number) =>
    `HAProxy's CLI at ${socket} did not finish answering "${command}" within ${ms} ms.`,
  unreachable: (socket: string, command: string, reason: string) =>
    `HAProxy's CLI at ${socket} could not take "${command}": ${reason}.`,
  refused: (command: string, answer: string) => `HAProxy refused "${command}": ${answer.trim()}`,
};

/** Sends one command and returns HAProxy's whole answer. Throws when the socket is unreachable or slow. */
export function sendCommand(socketPath: string, command: string, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<string> {
  return sendCommands(socketPath, [command], timeoutMs);
}

/**
 * Sends several commands on one connection (`a;b;c`, which the CLI runs in order) and returns their
 * answers run together: one round trip for all that a sync changes, instead of one per command.
 */
export function sendCommands(socketPath: string, commands: readonly string[], timeoutMs = DEFAULT_TIMEOUT_MS): Promise<string> {
  const unsafe = commands.find((command) => /[;\r\n]/.test(command));
  if (unsafe !== undefined) return Promise.reject(new Error(messages.unsafe(unsafe)));
  const command = commands.join(';');
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect(socketPath);
    const timer = setTimeout(() => socket.destroy(new Error(messages.timeout(socketPath, command, timeoutMs))), timeoutMs);
    socket.on('connect', () => socket.end(`${command};quit\n`));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(error.code ? new Error(messages.unreachable(socketPath, command, error.code)) : error);
    });
    socket.on('close', (hadError) => {
      clearTimeout(timer);
      if (!hadError) resolve(Buffer.concat(chunks).toString('utf8'));
    });
  });
}

/**
 * Sends a command that HAProxy answers with a message only when it refuses (`set server … state`,
 * `… health`, `… weight`): anything but an empty answer is an error.
 */
async function sendQuiet(socketPath: string, command: string, timeoutMs: number): Promise<void> {
  const answer = await sendCommand(socketPath, command, timeoutMs);
  if (answer.trim() !== '') throw new Error(messages.refused(command, answer));
}

/** ready: takes traffic; drain: keeps its connections (and sticky sessions), takes no new ones; maint: none at all. */
export type ServerAdminState = 'ready' | 'drain' | 'maint';
/** What the checks say, forced: `up` lets a server out of maintenance serve before `rise` checks passed. */
export type ServerHealth = 'up' | 'down' | 'stopping';

export interface StatRow {
  /** Proxy (frontend or backend) name. */
  pxname: string;
  /** Server name, or FRONTEND / BACKEND for the proxy's own row. */
  svname: string;
  type: 'frontend' | 'backend' | 'server' | 'listener';
  /** UP, DOWN, MAINT, DRAIN, NOLB, "UP 1/2" (going down), OPEN (frontends), "no check"… */
  status: string;
  /** Current sessions. */
  scur: number;
  /** Sessions since start (of this worker). */
  stot: number;
  weight?: number;
  /** `address:port` of a server. */
  addr?: string;
  checkStatus?: string;
  /** Every column by its header name, for what the fields above leave out. */
  columns: Readonly<Record<string, string>>;
}

const STAT_TYPES = ['frontend', 'backend', 'server', 'listener'] as const;

/** `show stat` CSV: a `# `-prefixed header line, then one row per frontend, server and backend. */
export function parseShowStat(csv: string): StatRow[] {
  const lines = csv.split('\n').filter((line) => line.trim() !== '');
  const header = lines.shift();
  if (!header?.startsWith('# ')) return [];
  const names = header.slice(2).split(',');
  return lines.map((line) => {
    const values = line.split(',');
    const columns = Object.fromEntries(names.map((name, i) => [name, values[i] ?? '']).filter(([name]) => name !== ''));
    const number = (name: string) => (columns[name] ? Number(columns[name]) : undefined);
    return {
      pxname: columns.pxname ?? '',
      svname: columns.svname ?? '',
      type: STAT_TYPES[number('type') ?? 0] ?? 'frontend',
      status: columns.status ?? '',
      scur: number('scur') ?? 0,
      stot: number('stot') ?? 0,
      weight: number('weight'),
      addr: columns.addr || undefined,
      checkStatus: columns.check_status || undefined,
      columns,
    };
  });
}

/** One server of `show servers state` (the server-state file's format, version 1). */
export interface ServerStateRow {
  backend: string;
  server: string;
  address: string;
  port: number;
  /** 0 stopped, 1 starting, 2 running, 3 stopping (srv_op_state). */
  operational: 'stopped' | 'starting' | 'running' | 'stopping';
  /** srv_admin_state, decoded: maintenance (forced, inherited, from the config or DNS) or drain. */
  admin: 'ready' | 'drain' | 'maint';
  /** The raw srv_admin_state bit field (0x01 forced maint, 0x04 `disabled` in the config, 0x08 forced drain…). */
  adminBits: number;
  columns: Readonly<Record<string, string>>;
}

const OPERATIONAL = ['stopped', 'starting', 'running', 'stopping'] as const;
/** SRV_ADMF_FMAINT | IMAINT | CMAINT | RMAINT | HMAINT in HAProxy 2.6's server.h. */
const ADMIN_MAINT = 0x01 | 0x02 | 0x04 | 0x20 | 0x40;
/** SRV_ADMF_FDRAIN | IDRAIN. */
const ADMIN_DRAIN = 0x08 | 0x10;

/** `show servers state`: a version line ("1"), a `# `-prefixed header, then space-separated rows. */
export function parseServersState(text: string): ServerStateRow[] {
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  const headerIndex = lines.findIndex((line) => line.startsWith('# '));
  if (headerIndex < 0) return [];
  const names = lines[headerIndex]!.slice(2).split(' ');
  return lines.slice(headerIndex + 1).map((line) => {
    const values = line.split(' ');
    const columns = Object.fromEntries(names.map((name, i) => [name, values[i] ?? '']));
    const adminBits = Number(columns.srv_admin_state ?? 0);
    return {
      backend: columns.be_name ?? '',
      server: columns.srv_name ?? '',
      address: columns.srv_addr ?? '',
      port: Number(columns.srv_port ?? 0),
      operational: OPERATIONAL[Number(columns.srv_op_state ?? 0)] ?? 'stopped',
      admin: adminBits & ADMIN_MAINT ? 'maint' : adminBits & ADMIN_DRAIN ? 'drain' : 'ready',
      adminBits,
      columns,
    };
  });
}

/** One process of the master CLI's `show proc`. */
export interface ProcRow {
  pid: number;
  role: 'master' | 'worker' | 'old worker';
  /** Reloads this process has lived through (a worker's count is 0 until the next reload). */
  reloads: number;
}

export interface ProcList {
  master: ProcRow & { failedReloads: number };
  workers: ProcRow[];
  oldWorkers: ProcRow[];
}

/**
 * `show proc` on the master CLI (2.6): the master's row ("<pid> master <reloads> [failed: <n>] …"),
 * then sections "# workers", "# old workers", "# programs".
 */
export function parseShowProc(text: string): ProcList | undefined {
  let section: 'master' | 'worker' | 'old worker' | 'program' = 'master';
  let master: ProcList['master'] | undefined;
  const workers: ProcRow[] = [];
  const oldWorkers: ProcRow[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) {
      if (/^# workers/.test(line)) section = 'worker';
      else if (/^# old workers/.test(line)) section = 'old worker';
      else if (/^# programs/.test(line)) section = 'program';
      continue;
    }
    const match = /^(\d+)\s+(\S+)\s+(\d+)(?:\s+\[failed: (\d+)\])?/.exec(line);
    if (!match) continue;
    const row = { pid: Number(match[1]), reloads: Number(match[3]) };
    if (section === 'master' && match[2] === 'master') master = { ...row, role: 'master', failedReloads: Number(match[4] ?? 0) };
    else if (section === 'worker') workers.push({ ...row, role: 'worker' });
    else if (section === 'old worker') oldWorkers.push({ ...row, role: 'old worker' });
  }
  return master && { master, workers, oldWorkers };
}

export interface RuntimeApiOptions {
  /** The admin socket (`stats socket <path> level admin`). */
  socketPath: string;
  timeoutMs?: number;
}

/** Typed commands on the admin socket; each checks HAProxy's answer and throws a sentence when refused. */
export class RuntimeApi {
  constructor(readonly options: RuntimeApiOptions) {}

  command(command: string): Promise<string> {
    return sendCommand(this.options.socketPath, command, this.timeoutMs);
  }

  /** `set server b/s addr A port P`: HAProxy answers what changed ("IP changed from…", "no need to change…"). */
  async setServer(backend: string, server: string, target: { address: string; port: number }): Promise<void> {
    const command = `set server ${backend}/${server} addr ${target.address} port ${target.port}`;
    const answer = await this.command(command);
    if (!/changed from|no need to change/i.test(answer)) throw new Error(messages.refused(command, answer));
  }

  setState(backend: string, server: string, state: ServerAdminState): Promise<void> {
    return sendQuiet(this.options.socketPath, `set server ${backend}/${server} state ${state}`, this.timeoutMs);
  }

  setHealth(backend: string, server: string, health: ServerHealth): Promise<void> {
    return sendQuiet(this.options.socketPath, `set server ${backend}/${server} health ${health}`, this.timeoutMs);
  }

  async showStat(): Promise<StatRow[]> {
    return parseShowStat(await this.command('show stat'));
  }

  /** Current sessions per `backend/server`. */
  async sessions(): Promise<Map<string, number>> {
    const rows = await this.showStat();
    return new Map(rows.filter((row) => row.type === 'server').map((row) => [`${row.pxname}/${row.svname}`, row.scur]));
  }

  /** The raw text (what the server-state file holds) and its rows. */
  async showServersState(): Promise<{ text: string; rows: ServerStateRow[] }> {
    const text = await this.command('show servers state');
    return { text, rows: parseServersState(text) };
  }

  private get timeoutMs(): number {
    return this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }
}
