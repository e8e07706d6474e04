// The HTTP API on a test cluster: `useApi(cluster)` starts the server on a free loopback port before
// the file's tests and closes it after; `call` sends JSON and reads the answer back as JSON when it
// is JSON, else as text.
import { afterAll, beforeAll } from 'vitest';
import { startApiServer, type RunningApiServer } from '../../api/http/server.ts';
import type { Store } from '../../api/store.ts';

export interface Answer {
  status: number;
  headers: Headers;
  // What the routes send varies by route; each test reads the fields it checks.
  body: any;
}

export interface TestApi {
  readonly url: string;
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Answer>;
}

export function useApi(cluster: { store: Store; client: Store['client'] }): TestApi {
  let server: RunningApiServer | undefined;
  beforeAll(async () => {
    server = await startApiServer({ store: cluster.store, client: cluster.client, registry: cluster.store.registry });
  }, 30_000);
  afterAll(async () => {
    await server?.close();
  });
  const api: TestApi = {
    get url() {
      if (!server) throw new Error('the API server is not started yet: use it inside a test');
      return server.url;
    },
    async call(method, path, body, headers = {}) {
      const response = await fetch(`${api.url}${path}`, {
        method,
        headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      const type = response.headers.get('content-type') ?? '';
      return { status: response.status, headers: response.headers, body: type.includes('json') && text ? JSON.parse(text) : text };
    },
  };
  return api;
}
