// A steady open-loop HTTP load for bench:traffic: `ratePerSecond` requests a second, each on its own
// connection and started on schedule whether or not earlier ones have answered (as
// test/helpers/http-load.ts runLoad does), but running until stop() — a scenario's length is not
// known beforehand — and never longer than `maxDurationMs`. Bounded in count (rate × max duration)
// and in time (max duration + per-request timeout). Loopback only.
import { Agent, request } from 'node:http';

export interface SteadyLoadOptions {
  url: string;
  ratePerSecond: number;
  maxDurationMs: number;
  /** Per request: no complete answer within this is a failure. */
  timeoutMs: number;
}

export interface SteadyLoadResult {
  sent: number;
  ok: number;
  failed: number;
  /** Failures by what went wrong ("HTTP 503", "socket hang up", ...). */
  reasons: Map<string, number>;
  /** Bodies of the ok answers, counted. */
  bodies: Map<string, number>;
}

export interface SteadyLoad {
  /** Stops sending, waits for every request in flight to answer or time out. */
  stop(): Promise<SteadyLoadResult>;
}

const TICK_MS = 2;

export function startSteadyLoad(options: SteadyLoadOptions): SteadyLoad {
  const url = new URL(options.url);
  if (url.hostname !== '127.0.0.1') throw new Error(`the traffic bench sends only to 127.0.0.1, not to ${url.hostname}`);
  const agent = new Agent({ keepAlive: false, maxSockets: Infinity });
  const result: SteadyLoadResult = { sent: 0, ok: 0, failed: 0, reasons: new Map(), bodies: new Map() };
  const pending = new Set<Promise<void>>();
  const started = performance.now();
  const limit = Math.round((options.ratePerSecond * options.maxDurationMs) / 1000);
  const count = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);

  const send = () => {
    result.sent += 1;
    const done = once(url, options.timeoutMs, agent).then(
      (body) => {
        result.ok += 1;
        count(result.bodies, body);
      },
      (error: Error) => {
        result.failed += 1;
        count(result.reasons, error.message);
      },
    );
    pending.add(done);
    void done.finally(() => pending.delete(done));
  };
  // A timer that catches up: every tick sends what the schedule says is due by now.
  const timer = setInterval(() => {
    const due = Math.min(limit, Math.floor(((performance.now() - started) * options.ratePerSecond) / 1000));
    while (result.sent < due) send();
    if (result.sent >= limit) clearInterval(timer);
  }, TICK_MS);

  return {
    async stop() {
      clearInterval(timer);
      while (pending.size > 0) await Promise.all([...pending]);
      agent.destroy();
      return result;
    },
  };
}

function once(url: URL, timeoutMs: number, agent: Agent): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('error', reject);
      res.on('end', () => {
        if (res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 300) resolve(body.trim());
        else reject(new Error(`HTTP ${res.statusCode}`));
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}
