import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { connectEtcd } from '../../api/etcd.ts';
import type { KindRegistry } from '../../api/kinds/registry.ts';
import { Store } from '../../api/store.ts';
import { RAISED_TXN_LIMITS } from '../../api/txn.ts';
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
/** Starts on ports that were free a moment ago: another process may take one first, so a few tries. */
const START_ATTEMPTS = 3;

export async function startEtcd(): Promise<TestEtcd> {
  const dir = mkdtempSync(join(tmpdir(), 'capstan-etcd-'));
  let server: EtcdServer | undefined;
  for (let attempt = 1; !server; attempt += 1) {
    const candidate = new EtcdServer({
      dataDir: join(dir, `data-${attempt}`),
      clientPort: await freePort(),
      peerPort: await freePort(),
      logFile: join(dir, 'etcd.log'),
    });
    try {
      await candidate.start();
      server = candidate;
    } catch (error) {
      // freePort's port is free when it answers, not when etcd binds it: with many test files
      // starting servers at once, a port can be taken in between and etcd exits at start. Fresh
      // ports then; any other failure, or the last try, is the test's.
      if (attempt >= START_ATTEMPTS || !/exited during start/.test((error as Error).message)) throw error;
    }
  }
  const started = server;
  return {
    server: started,
    url: started.url,
    dir,
    kill: () => started.kill(),
    restart: () => started.start(),
    async stop() {
      await started.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface OpenedStore {
  readonly etcd: TestEtcd;
  readonly client: Etcd3;
  readonly store: Store;
}

/**
 * A real etcd, a client on it and a store over `registry`, opened in a beforeAll and closed in an
 * afterAll of the enclosing describe (or file): what most integration tests start with. Hooks
 * registered after this call run after it opens and, vitest running after-hooks in reverse, before it
 * closes. Read the fields from hooks and tests, not while the suite is being collected.
 * `clearEachTest` deletes everything under /capstan/ before each test, ahead of later beforeEach hooks.
 */
export function useStore(registry: KindRegistry, options: { clearEachTest?: boolean } = {}): OpenedStore {
  let opened: OpenedStore | undefined;
  const current = () => {
    if (!opened) throw new Error('useStore: the store is opened in beforeAll; read it from a hook or a test');
    return opened;
  };
  beforeAll(async () => {
    const etcd = await startEtcd();
    const client = connectEtcd({ endpoints: etcd.url });
    opened = { etcd, client, store: new Store(client, registry, undefined, RAISED_TXN_LIMITS) };
  });
  afterAll(async () => {
    opened?.client.close();
    await opened?.etcd.stop();
  });
  if (options.clearEachTest) {
    beforeEach(async () => {
      await current().client.delete().prefix('/capstan/');
    });
  }
  return {
    get etcd() { return current().etcd; },
    get client() { return current().client; },
    get store() { return current().store; },
  };
}
