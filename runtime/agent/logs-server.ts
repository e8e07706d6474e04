// The agent's log endpoint: `GET /tasks/<namespace>/<name>/logs?follow=1&container=x` streams a task's
// output from its driver as text/plain. Unauthenticated, so it listens on the node's address, which
// is loopback unless the operator says otherwise (DESIGN.md: nothing binds a routable address).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';

export type LogSource =
  | { found: true; open: (options: { follow: boolean; container?: string }) => Readable }
  | { found: false; message: string };

export interface LogsServerOptions {
  host: string;
  /** 0 for any free port. */
  port: number;
  /** Finds the task's logs on this node, or says why not. */
  lookup: (namespace: string, name: string) => LogSource;
}

const ROUTE = /^\/tasks\/([^/]+)\/([^/]+)\/logs$/;

export class LogsServer {
  private readonly server: Server;

  constructor(private readonly options: LogsServerOptions) {
    this.server = createServer((request, response) => this.handle(request, response));
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => resolve());
    });
    const { port } = this.server.address() as AddressInfo;
    const host = this.options.host.includes(':') ? `[${this.options.host}]` : this.options.host;
    return `http://${host}:${port}`;
  }

  async close(): Promise<void> {
    // Followers would keep the server open forever.
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const url = new URL(request.url ?? '/', 'http://agent');
    const match = ROUTE.exec(url.pathname);
    if (request.method !== 'GET' || !match) return void reply(response, 404, 'not found: GET /tasks/<namespace>/<name>/logs');
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
}

function reply(response: ServerResponse, status: number, message: string): void {
  response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
  response.end(`${message}\n`);
}
