// Whether a port on loopback is free, and a free one: `capstan up` chooses etcd's ports with these
// and checks the front door's before starting anything. A check is a bind and close: another program
// may take the port between the check and the real bind, which then fails with its own error.
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';

export const LOOPBACK = '127.0.0.1';

export async function firstFree(candidates: (number | undefined)[]): Promise<number> {
  for (const port of candidates) if (port !== undefined && (await isFree(port))) return port;
  return listen(0);
}

export async function isFree(port: number): Promise<boolean> {
  return listen(port).then(
    () => true,
    () => false,
  );
}

export function isFreeUdp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    socket.once('error', () => resolve(false));
    socket.bind(port, LOOPBACK, () => socket.close(() => resolve(true)));
  });
}

function listen(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(port, LOOPBACK, () => {
      const address = server.address();
      const chosen = typeof address === 'object' && address ? address.port : port;
      server.close(() => resolve(chosen));
    });
  });
}
