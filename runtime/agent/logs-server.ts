// The agent's task endpoint: `GET /tasks/<namespace>/<name>/logs?follow=1&container=x` streams a task's
// output from its driver as text/plain; `POST /tasks/<namespace>/<name>/exec?command=ls&command=-l
// &container=x&stdin=1` runs a command beside the task's container (`capstan exec`): the request body
// is the command's stdin, the response body its stdout, stderr and exit code as frames
// (exec-frames.ts). Unauthenticated, so it listens on the node's address, which is loopback unless
// the operator says otherwise (DESIGN.md: nothing binds a routable address).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import type { ExecRequest, ExecSession } from '../driver.ts';
import { encodeFrame, FRAME } from './exec-frames.ts';

export type LogSource =
  | { found: true; open: (options: { follow: boolean; container?: string }) => Readable }
  | { found: false; message: string };

export interface LogsServerOptions {
  host: string;
  /** 0 for any free port. */
  port: number;
  /** Finds the task's logs on this node, or says why not. */
  lookup: (namespace: string, name: string) => LogSource;
  /** Finds the running task to exec in, or says why not. */
  exec: (namespace: string, name: string) => ExecTarget;
}

export type ExecTarget =
  | { found: true; start: (request: ExecRequest) => Promise<ExecSession> }
  | { found: false; message: string };

const ROUTE = /^\/tasks\/([^/]+)\/([^/]+)\/(logs|exec)$/;
const say = {
  notFound: 'not found: GET /tasks/<namespace>/<name>/logs or POST /tasks/<namespace>/<name>/exec?command=...',
  noCommand: 'exec needs a command: POST /tasks/<namespace>/<name>/exec?command=ls&command=-l',
} as const;

export class LogsServer {
  private readonly server: Server;

  constructor(private readonly options: LogsServerOptions) {
    this.server = createServer((request, response) => this.handle(request, response));
  }

  /** Listens on `port`, the configured one unless given (0: any free port); may be called again after close(). */
  async listen(port = this.options.port): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, this.options.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const host = this.options.host.includes(':') ? `[${this.options.host}]` : this.options.host;
    return `http://${host}:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    // Followers would keep the server open forever.
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const url = new URL(request.url ?? '/', 'http://agent');
    const match = ROUTE.exec(url.pathname);
    const method = match?.[3] === 'exec' ? 'POST' : 'GET';
    if (!match || request.method !== method) return void reply(response, 404, say.notFound);
    if (match[3] === 'exec') return void this.exec(request, response, { namespace: decodeURIComponent(match[1]!), name: decodeURIComponent(match[2]!), url });
    const source = this.options.lookup(decodeURIComponent(match[1]!), decodeURIComponent(match[2]!));
    if (!source.found) return void reply(response, 404, source.message);
    const follow = ['1', 'true'].includes(url.searchParams.get('follow') ?? '');
    const container = url.searchParams.get('container') ?? undefined;
    let stream: Readable;
    try {
      stream = source.open({ follow, ...(container ? { container } : {}) });
    } catch (error) {
      return void reply(response, 404, (error as Error).message);
    }
    stream.once('error', (error) => {
      if (!response.headersSent) reply(response, 404, error.message);
      else response.destroy();
    });
    // Headers go with the first bytes, so that a lookup failing inside the driver still gets a 404.
    stream.on('data', (chunk: Buffer) => {
      if (!response.headersSent) response.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      if (!response.write(chunk)) {
        stream.pause();
        response.once('drain', () => stream.resume());
      }
    });
    stream.once('end', () => {
      if (!response.headersSent) response.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      response.end();
    });
    response.once('close', () => stream.destroy());
  }

  /** Runs the command and streams its frames; ends with its exit code. A caller that goes away kills it. */
  private async exec(request: IncomingMessage, response: ServerResponse, task: { namespace: string; name: string; url: URL }): Promise<void> {
    const command = task.url.searchParams.getAll('command');
    const container = task.url.searchParams.get('container') ?? undefined;
    const withStdin = ['1', 'true'].includes(task.url.searchParams.get('stdin') ?? '');
    if (!withStdin) request.resume();
    if (command.length === 0) return void reply(response, 400, say.noCommand);
    const target = this.options.exec(task.namespace, task.name);
    if (!target.found) return void reply(response, 404, target.message);
    let session: ExecSession;
    try {
      session = await target.start({ command, ...(container ? { container } : {}), ...(withStdin ? { stdin: request } : {}) });
    } catch (error) {
      return void reply(response, 404, (error as Error).message);
    }
    let finished = false;
    response.once('close', () => {
      if (!finished) session.kill();
    });
    response.writeHead(200, { 'content-type': 'application/vnd.capstan.exec-frames' });
    const forward = (stream: Readable, kind: typeof FRAME.stdout | typeof FRAME.stderr) =>
      new Promise<void>((resolve) => {
        stream.on('data', (chunk: Buffer) => {
          if (!response.write(encodeFrame(kind, chunk))) {
            stream.pause();
            response.once('drain', () => stream.resume());
          }
        });
        stream.once('end', () => resolve());
        stream.once('error', () => resolve());
        stream.once('close', () => resolve());
      });
    // The exit code goes last: after every byte of output the command wrote.
    const [, , exitCode] = await Promise.all([forward(session.stdout, FRAME.stdout), forward(session.stderr, FRAME.stderr), session.exited]);
    finished = true;
    response.end(encodeFrame(FRAME.exit, String(exitCode)));
  }
}

function reply(response: ServerResponse, status: number, message: string): void {
  response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
  response.end(`${message}\n`);
}
