import { Agent, request } from 'node:http';

export interface LoadOptions {
  /** Loopback only: the host must be 127.0.0.1 (or localhost). */
  url: string;
  headers?: Record<string, string>;
  ratePerSecond: number;
  durationMs: number;
  /** Per request: no answer within this is a failure. */
  timeoutMs: number;
  /** Reuse connections (HTTP keep-alive); default false, one connection per request. */
  keepAlive?: boolean;
  /** Stops sending when aborted, before durationMs (which stays the bound). */
  signal?: AbortSignal;
}

export interface LoadResult {
  sent: number;
  /** Answered with a 2xx status and a complete body. */
  ok: number;
  failed: number;
  /** One line per failure: when (ms from the start) and what. */
  failures: string[];
  /** Bodies of the ok answers, counted: which backend answered how often. */
  bodies: Map<string, number>;
}

/**
 * Sends `ratePerSecond` requests a second for `durationMs`, each started on schedule whether or not
 * earlier ones have answered (an open-loop load, as real clients are), and resolves once every one
 * has answered or timed out. Bounded in count (rate × duration) and time (duration + timeout).
 * `signal` ends it early: the scenario under load is over.
 */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const url = new URL(options.url);
  if (!['127.0.0.1', 'localhost'].includes(url.hostname)) throw new Error(`runLoad sends only to loopback, not to ${url.hostname}.`);
  const agent = new Agent({ keepAlive: options.keepAlive ?? false, maxSockets: 256 });
  const total = Math.max(1, Math.round((options.ratePerSecond * options.durationMs) / 1000));
  const intervalMs = 1000 / options.ratePerSecond;
  const started = Date.now();
  const result: LoadResult = { sent: 0, ok: 0, failed: 0, failures: [], bodies: new Map() };
  const pending: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = started + i * intervalMs;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    if (options.signal?.aborted) break;
    result.sent += 1;
    pending.push(
      once(url, options, agent).then(
        (body) => {
          result.ok += 1;
          result.bodies.set(body, (result.bodies.get(body) ?? 0) + 1);
        },
        (error: Error) => {
          result.failed += 1;
          result.failures.push(`${Date.now() - started} ms: ${error.message}`);
        },
      ),
    );
  }
  await Promise.all(pending);
  agent.destroy();
  return result;
}

function once(url: URL, options: LoadOptions, agent: Agent): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, headers: options.headers, timeout: options.timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('error', reject);
      res.on('end', () => {
        if (res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 300) resolve(body);
        else reject(new Error(`HTTP ${res.statusCode}: ${body.slice(0, 80).trim()}`));
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${options.timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}
