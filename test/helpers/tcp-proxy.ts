import { createServer, connect, type Server, type Socket } from 'node:net';
import { freePort } from './ports.ts';

/**
 * A loopback TCP proxy that can cut its connections and refuse new ones: a network partition
 * between one client and etcd, while other clients still reach etcd directly.
 */
export interface Partitionable {
  url: string;
  partition(): void;
  heal(): void;
  close(): Promise<void>;
}

export async function startProxy(targetPort: number): Promise<Partitionable> {
  const port = await freePort();
  const sockets = new Set<Socket>();
  let partitioned = false;
  const server: Server = createServer((inbound) => {
    if (partitioned) {
      inbound.destroy();
      return;
    }
    const outbound = connect(targetPort, '127.0.0.1');
    sockets.add(inbound).add(outbound);
    inbound.pipe(outbound).pipe(inbound);
    const close = () => {
      inbound.destroy();
      outbound.destroy();
      sockets.delete(inbound);
      sockets.delete(outbound);
    };
    inbound.on('error', close).on('close', close);
    outbound.on('error', close).on('close', close);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${port}`,
    partition() {
      partitioned = true;
      for (const socket of sockets) socket.destroy();
      sockets.clear();
    },
    heal() {
      partitioned = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
