// A private etcd for one bench run: free loopback ports, a temp data dir, removed on stop (or on
// Ctrl-C/SIGTERM: interrupt.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { connectEtcd } from '../api/etcd.ts';
import { builtinRegistry } from '../api/kinds/builtin.ts';
import { Store } from '../api/store.ts';
import { EtcdServer } from '../cli/local/etcd-server.ts';
import { freePort } from '../test/helpers/ports.ts';
import { onInterrupt } from './interrupt.ts';

export interface BenchEtcd {
  url: string;
  client: Etcd3;
  store: Store;
  stop(): Promise<void>;
}

export async function startBenchEtcd(): Promise<BenchEtcd> {
  const dir = mkdtempSync(join(tmpdir(), 'capstan-bench-etcd-'));
  const server = new EtcdServer({ dataDir: join(dir, 'data'), clientPort: await freePort(), peerPort: await freePort(), logFile: join(dir, 'etcd.log') });
  const undo = onInterrupt('etcd', async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  await server.start();
  const client = connectEtcd({ endpoints: server.url });
  return {
    url: server.url,
    client,
    store: new Store(client, builtinRegistry()),
    async stop() {
      client.close();
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
      undo();
    },
  };
}

/** Runs `work` over `items` with at most `limit` in flight. */
export async function pool<T>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) await work(items[i]!, i);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
