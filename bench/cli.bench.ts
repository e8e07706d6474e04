// npm run bench:cli — how long the `capstan` command takes to start and answer, as a user runs it
// (`node bin/capstan.js`, from its esbuild bundle), beside what the machine gives in the same run:
//   - `node -e 0`: the floor of any Node command;
//   - `etcdctl get KEY`: a Go client's round trip to the same etcd.
// Figures, wall and CPU (user + system) per start, p50 and p90 over BENCH_RUNS starts (default 15),
// the commands taking turns so load from elsewhere spreads over all of them alike:
//   - `capstan --help` (no etcd);
//   - `capstan get apps -A` with APPS Apps in a private etcd;
//   - `capstan get app NAME` (one App).
// Each start runs under bash, which times it: EPOCHREALTIME around the command for the wall time and
// `times` for the CPU of the command's process (and its threads), so every row pays the same.
// Also: what the bundle's freshness check costs a start (bin/bundle.js), measured in this process.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundled } from '../bin/bundle.js';
import { createMany } from './create-many.ts';
import { startBenchEtcd } from './local-etcd.ts';
import { percentile, printTable } from './report.ts';

const APPS = 300;
const NAMESPACES = 3;
const RUNS = Number(process.env.BENCH_RUNS ?? 15);
const TARGET_GET_P50_MS = 250;
/** One start that takes longer is stuck: the bench ends with an error rather than waiting for it. */
const START_DEADLINE_MS = 60_000;
const REPO = fileURLToPath(new URL('..', import.meta.url));
const BIN = fileURLToPath(new URL('../bin/capstan.js', import.meta.url));
/** Where a timed command's stderr goes, to say why when it fails. */
const ERR_FILE = join(tmpdir(), `capstan-bench-cli-${process.pid}.err`);

const say = {
  header: (url: string) => `capstan bench:cli — ${APPS} Apps in a private etcd at ${url}, ${RUNS} starts per command, node ${process.version}\n`,
  noEtcdctl: 'etcdctl not found: its row is left out (Debian: apt-get install etcd-client)',
  failed: (label: string, code: number | null, stderr: string) => `${label}: expected exit 0, found ${code}: ${stderr.trim().split('\n')[0]}`,
  stuck: (label: string) => `${label}: did not finish within ${START_DEADLINE_MS / 1000} s (killed)`,
  freshness: (ms: number) => `bundle freshness check (bin/bundle.js, a start with nothing changed): p50 ${ms.toFixed(2)} ms`,
};

interface Case {
  label: string;
  argv: string[];
  /** Held to TARGET_GET_P50_MS. */
  target?: boolean;
}

/** The script bash runs: the command with its output discarded, then wall start/end and `times`. */
const TIMED = 's=$EPOCHREALTIME; "$@" >/dev/null 2>"$ERR"; code=$?; e=$EPOCHREALTIME; echo "$code $s $e"; times';

interface Sample {
  wallMs: number;
  cpuMs: number;
}

function seconds(text: string): number {
  const match = /^(\d+)m([\d.]+)s$/.exec(text)!;
  return Number(match[1]) * 60 + Number(match[2]);
}

function timeOnce(item: Case, env: NodeJS.ProcessEnv): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', TIMED, 'bash', ...item.argv], {
      cwd: REPO,
      env: { ...env, ERR: ERR_FILE },
      stdio: ['ignore', 'pipe', 'inherit'],
      timeout: START_DEADLINE_MS,
      killSignal: 'SIGKILL',
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (_, signal) => {
      if (signal) return reject(new Error(say.stuck(item.label)));
      // Line 1: exit code, wall start, wall end; then `times`: the shell's user and system time, and
      // on line 3 its children's (the command's).
      const [first, , children] = out.trim().split('\n');
      const [code, start, end] = first!.split(' ');
      if (code !== '0') return reject(new Error(say.failed(item.label, Number(code), readFileSync(ERR_FILE, 'utf8'))));
      const [user, system] = children!.trim().split(/\s+/);
      resolve({ wallMs: (Number(end) - Number(start)) * 1000, cpuMs: (seconds(user!) + seconds(system!)) * 1000 });
    });
  });
}

function which(command: string): boolean {
  return spawnSync('bash', ['-c', `command -v ${command}`]).status === 0;
}

async function freshnessCheckMs(): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < 50; i += 1) {
    const started = performance.now();
    await bundled('cli/main.ts');
    samples.push(performance.now() - started);
  }
  return percentile(samples, 0.5);
}

async function main(): Promise<void> {
  const etcd = await startBenchEtcd();
  try {
    console.log(say.header(etcd.url));
    const apps = Array.from({ length: APPS }, (_, i) => ({
      apiVersion: 'capstan/v1',
      kind: 'App',
      metadata: { name: `app-${i}`, namespace: `bench-${i % NAMESPACES}`, labels: { tier: i % 2 ? 'front' : 'back' } },
      spec: { instances: 1, driver: 'process', containers: [{ cmd: 'sleep 3600', resources: { cpus: 0.01, mem: 8 } }] },
    }));
    await createMany(etcd.store, apps as never);

    const env = { ...process.env, CAPSTAN_ETCD: etcd.url, NO_COLOR: '1', CAPSTAN_DEBUG: undefined };
    const hasEtcdctl = which('etcdctl');
    const cases: Case[] = [
      { label: 'node -e 0', argv: [process.execPath, '-e', '0'] },
      ...(hasEtcdctl ? [{ label: 'etcdctl get (one App key)', argv: ['etcdctl', `--endpoints=${etcd.url}`, 'get', '/capstan/spec/apps/bench-1/app-1'] }] : []),
      { label: 'capstan --help', argv: [process.execPath, BIN, '--help'] },
      { label: `capstan get apps -A (${APPS} Apps)`, argv: [process.execPath, BIN, 'get', 'apps', '-A'], target: true },
      { label: 'capstan get app app-1 -n bench-1', argv: [process.execPath, BIN, 'get', 'app', 'app-1', '-n', 'bench-1'], target: true },
    ];
    if (!hasEtcdctl) console.log(say.noEtcdctl);

    // One start of each first: builds the bundle if a source changed, and warms the page cache.
    for (const item of cases) await timeOnce(item, env);
    const samples = new Map<Case, Sample[]>(cases.map((item) => [item, []]));
    for (let run = 0; run < RUNS; run += 1) {
      for (const item of cases) samples.get(item)!.push(await timeOnce(item, env));
    }

    const floor = percentile(samples.get(cases[0]!)!.map((s) => s.wallMs), 0.5);
    const ms = (value: number) => `${Math.round(value)}`;
    const signed = (value: number) => `${value < 0 ? '−' : '+'}${ms(Math.abs(value))}`;
    const rows = cases.map((item) => {
      const wall = samples.get(item)!.map((s) => s.wallMs);
      const cpu = samples.get(item)!.map((s) => s.cpuMs);
      const target = item.target ? `p50 ≤ ${TARGET_GET_P50_MS} ms: ${percentile(wall, 0.5) <= TARGET_GET_P50_MS ? 'met' : 'missed'}` : '';
      return [item.label, `${ms(percentile(wall, 0.5))} / ${ms(percentile(wall, 0.9))}`, `${ms(percentile(cpu, 0.5))} / ${ms(percentile(cpu, 0.9))}`, signed(percentile(wall, 0.5) - floor), target];
    });
    console.log('');
    printTable([['command (per start, ms)', 'wall p50 / p90', 'CPU p50 / p90', 'wall p50 over node -e 0', 'target'], ...rows]);
    console.log(`\n${say.freshness(await freshnessCheckMs())}`);
  } finally {
    rmSync(ERR_FILE, { force: true });
    await etcd.stop();
  }
}

await main();
