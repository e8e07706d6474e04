import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { connectEtcd } from '../../api/etcd.ts';
import type { KindRegistry } from '../../api/kinds/registry.ts';
import { Store } from '../../api/store.ts';
import { EtcdServer } from '../../cli/local/etcd-server.ts';
import { freePort } from './ports.ts';

export interface TestEtcd {
  server: EtcdServer;
  url: string;
  dir: string;
  /** kill -9 */
  kill(): Promise<void>;
  /** start again on the same ports and data */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** A real etcd on free loopback ports with a temp data dir. Call stop() in afterAll. */
export async function startEtcd(): Promise<TestEtcd> {
  const dir = mkdtempSync(join(tmpdir(), 'capstan-etcd-'));
  const server = new EtcdServer({
    dataDir: join(dir, 'data'),
    clientPort: await freePort(),
    peerPort: await freePort(),
    logFile: join(dir, 'etcd.log'),
  });
  await server.start();
  return {
    server,
    url: server.url,
    dir,
    kill: () => server.kill(),
    restart: () => server.start(),
    async stop() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A real etcd, a client on it and a store over `registry`: what most integration tests start with. */
export async function openStore(registry: KindRegistry): Promise<{ etcd: TestEtcd; client: Etcd3; store: Store }> {
  const etcd = await startEtcd();
  const client = connectEtcd({ endpoints: etcd.url });
  return { etcd, client, store: new Store(client, registry) };
}

/** Undoes openStore; tolerates a beforeAll that failed half-way. */
export async function closeStore(opened: { etcd?: TestEtcd; client?: Etcd3 }): Promise<void> {
  opened.client?.close();
  await opened.etcd?.stop();
}
