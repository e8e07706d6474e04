// The gitops webhook receiver, served by the controllers process: `POST /hook/<token>` (the token
// names one GitRepository, ./webhook-auth.ts), its body signed with the receiver's secret, stamps
// that repository's capstan.io/requestedAt exactly as `capstan sync now` does. The gitrepositories
// controller then fetches at once, and the Syncs it feeds follow the new artifact: the receiver
// itself never fetches, applies or writes status, so a hook and a poll can never disagree.
//
// Answers: 202 stamped; 401 bad or missing signature (nothing written); 404 no repository has the
// token; 405 not a POST; 413 a body over 1 MiB. The body itself (a GitHub/Gitea push payload or
// anything) is only signed, never read: every push is "fetch the ref again".
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { REQUESTED_AT_ANNOTATION } from '../../api/kinds/wellknown.ts';
import type { CapstanObject } from '../../api/object.ts';
import { readModifyWrite } from '../../api/read-modify-write.ts';
import type { Store } from '../../api/store.ts';
import { checkSignature, webhookToken } from './webhook-auth.ts';

const MAX_BODY_BYTES = 1 << 20;
const WRITE_ATTEMPTS = 5;
const HOOK_PATH = /^\/hook\/([0-9a-f]{64})\/?$/;

const say = {
  accepted: (namespace: string, name: string, stamp: string) => `gitrepository ${namespace}/${name}: fetch requested (${REQUESTED_AT_ANNOTATION}=${stamp})\n`,
  notFound: 'no hook at this path: POST to /hook/<token>, the path `capstan describe gitrepository NAME` shows as Webhook Path\n',
  unknownToken: 'no GitRepository has this token: copy the path from `capstan describe gitrepository NAME` (Webhook Path); it changes with the receiver secret\n',
  method: (method: string | undefined) => `expected POST, found ${method ?? 'no method'}\n`,
  tooLarge: `the body is over ${MAX_BODY_BYTES} bytes: send a push payload, or an empty body\n`,
  gone: (namespace: string, name: string) => `gitrepository ${namespace}/${name} was deleted meanwhile: nothing to fetch\n`,
  failed: (message: string) => `could not stamp the repository: ${message}; the receiver's log says more\n`,
} as const;

export interface WebhookOptions {
  store: Store;
  /** The receiver's secret: it derives every token and signs every body. */
  secret: Uint8Array;
  host: string;
  /** 0 picks a free port. */
  port: number;
  logger?: Logger;
  now?: () => Date;
}

export interface WebhookReceiver {
  /** `http://host:port`: a hook's URL is this and its status.webhookPath. */
  url: string;
  close(): Promise<void>;
}

export async function serveWebhook(options: WebhookOptions): Promise<WebhookReceiver> {
  const server = createServer((request, response) => {
    handle(request, response, options).catch((error: unknown) => {
      options.logger?.error({ err: error }, 'webhook: could not stamp a GitRepository');
      reply(response, 500, say.failed((error as Error).message));
    });
  });
  await listen(server, options.host, options.port);
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

async function handle(request: IncomingMessage, response: ServerResponse, options: WebhookOptions): Promise<void> {
  const token = HOOK_PATH.exec(new URL(request.url ?? '/', 'http://hook').pathname)?.[1];
  if (!token) return reply(response, 404, say.notFound);
  if (request.method !== 'POST') return reply(response, 405, say.method(request.method));
  const body = await readBody(request);
  if (!body) return reply(response, 413, say.tooLarge);
  // The signature before the lookup: an unsigned request costs no etcd read.
  const signature = checkSignature(options.secret, body, request.headers);
  if (!signature.valid) return reply(response, 401, `${signature.problem}\n`);
  const repositories = await options.store.list('GitRepository');
  const repository = repositories.items.find((o) => webhookToken(options.secret, { namespace: o.metadata.namespace ?? '', name: o.metadata.name }) === token);
  if (!repository) return reply(response, 404, say.unknownToken);
  const { namespace = '', name } = repository.metadata;
  const stamp = (options.now?.() ?? new Date()).toISOString();
  const result = await readModifyWrite<CapstanObject>({
    store: options.store,
    kind: 'GitRepository',
    ref: { namespace, name, uid: repository.metadata.uid },
    write: 'update',
    change: (current) => ({ ...current, metadata: { ...current.metadata, annotations: { ...current.metadata.annotations, [REQUESTED_AT_ANNOTATION]: stamp } } }),
    attempts: WRITE_ATTEMPTS,
  });
  if (result.outcome === 'gone') return reply(response, 404, say.gone(namespace, name));
  options.logger?.info(`webhook: ${say.accepted(namespace, name, stamp).trim()}`);
  reply(response, 202, say.accepted(namespace, name, stamp));
}

/** The whole body, or undefined once it passes MAX_BODY_BYTES (the rest is not read). */
async function readBody(request: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function reply(response: ServerResponse, status: number, text: string): void {
  if (response.headersSent) return;
  response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
  response.end(text);
}
