// Before a task starts: are its host ports free on the node? A bind on the node's address, released
// at once, answers what the workload's own bind would, without starting a workload that would only
// crash-loop on "Address already in use".
//
// What a free port here does not promise: something may take it between this check and the
// workload's bind. That race ends like any failed bind, with the task Failed and the port reported
// in use, so its replacement is placed elsewhere.
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';

export interface HostPort {
  port: number;
  protocol: 'tcp' | 'udp';
}

/** The first port that something on this machine holds, or undefined when every one can be bound. */
export async function firstPortInUse(host: string, ports: readonly HostPort[]): Promise<number | undefined> {
  for (const port of ports) {
    if ((await bindOnce(host, port)) === 'in use') return port.port;
  }
  return undefined;
}

/**
 * Binds and releases. Only EADDRINUSE says the port is held; any other refusal (a privileged port,
 * an address not on this machine) is the workload's own to meet and report, so it counts as free.
 */
async function bindOnce(host: string, { port, protocol }: HostPort): Promise<'free' | 'in use'> {
  const outcome = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
    if (protocol === 'udp') {
      const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
      socket.once('error', (error) => {
        socket.close();
        resolve(error);
      });
      socket.bind({ port, address: host, exclusive: true }, () => socket.close(() => resolve(undefined)));
      return;
    }
    const server = createServer();
    server.once('error', (error) => resolve(error));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
  return outcome?.code === 'EADDRINUSE' ? 'in use' : 'free';
}
