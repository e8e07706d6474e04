// HTTP, HTTPS and TCP probes over the network, each bounded by its own timeout. HTTPS accepts any
// certificate (Marathon does: tasks serve self-signed ones), and HTTP keeps connections alive so
// that 1,000 probes a second are not 1,000 new connections a second (and as many sockets left in
// TIME_WAIT). A kept-alive socket the server closed between two probes fails the next request with
// ECONNRESET through no fault of the task; such a request is retried once on a fresh connection, as
// Node's documentation advises, so a healthy task is never counted as failing for it.
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { messages } from './fold.ts';

export type HttpAnswer = { kind: 'status'; status: number } | { kind: 'error'; cause: string } | { kind: 'aborted' };
export type TcpAnswer = { kind: 'connected' } | { kind: 'error'; cause: string } | { kind: 'aborted' };

export interface HttpTarget {
  protocol: 'HTTP' | 'HTTPS';
  host: string;
  port: number;
  path: string;
  timeoutMs: number;
}

export interface NetworkProber {
  http(target: HttpTarget, stop: AbortSignal): Promise<HttpAnswer>;
  tcp(target: { host: string; port: number; timeoutMs: number }, stop: AbortSignal): Promise<TcpAnswer>;
  /** Closes the kept-alive connections. */
  close(): void;
}

const RESET_CODES = new Set(['ECONNRESET', 'EPIPE']);

export function networkProber(): NetworkProber {
  const agents = {
    HTTP: new http.Agent({ keepAlive: true, keepAliveMsecs: 1_000 }),
    HTTPS: new https.Agent({ keepAlive: true, keepAliveMsecs: 1_000, rejectUnauthorized: false }),
  };
  const once = (target: HttpTarget, signal: AbortSignal) =>
    new Promise<{ answer: HttpAnswer; reused: boolean; code?: string }>((resolve) => {
      const client = target.protocol === 'HTTPS' ? https : http;
      const request = client.request(
        { host: target.host, port: target.port, path: target.path, method: 'GET', agent: agents[target.protocol], signal, headers: { 'user-agent': 'capstan-health' } },
        (response) => {
          // The body is not needed, but must be read for the socket to go back to the pool.
          response.resume();
          resolve({ answer: { kind: 'status', status: response.statusCode ?? 0 }, reused: request.reusedSocket });
        },
      );
      request.on('error', (error: NodeJS.ErrnoException) => {
        resolve({ answer: { kind: 'error', cause: error.message }, reused: request.reusedSocket, ...(error.code ? { code: error.code } : {}) });
      });
      request.end();
    });
  return {
    async http(target, stop) {
      const timeout = AbortSignal.timeout(target.timeoutMs);
      const signal = AbortSignal.any([stop, timeout]);
      let result = await once(target, signal);
      if (result.answer.kind === 'error' && result.reused && RESET_CODES.has(result.code ?? '') && !signal.aborted) result = await once(target, signal);
      return settle(result.answer, stop, timeout, target.timeoutMs);
    },
    async tcp(target, stop) {
      const timeout = AbortSignal.timeout(target.timeoutMs);
      const signal = AbortSignal.any([stop, timeout]);
      const answer = await new Promise<TcpAnswer>((resolve) => {
        const socket = net.connect({ host: target.host, port: target.port, signal });
        socket.once('connect', () => {
          socket.destroy();
          resolve({ kind: 'connected' });
        });
        socket.once('error', (error) => resolve({ kind: 'error', cause: error.message }));
      });
      return settle(answer, stop, timeout, target.timeoutMs);
    },
    close() {
      agents.HTTP.destroy();
      agents.HTTPS.destroy();
    },
  };
}

/** An abort is a timeout (a failed probe) unless the prober itself was stopped (no result at all). */
function settle<T extends { kind: string }>(answer: T, stop: AbortSignal, timeout: AbortSignal, timeoutMs: number): T | { kind: 'aborted' } | { kind: 'error'; cause: string } {
  if (answer.kind !== 'error') return answer;
  if (stop.aborted) return { kind: 'aborted' };
  if (timeout.aborted) return { kind: 'error', cause: messages.timedOut(timeoutMs) };
  return answer;
}
