// The node's liveness: a key bound to an etcd lease that the agent keeps alive
// (DESIGN.md "Keys in etcd": /capstan/leases/nodes/<name>). The nodes controller watches the key; its
// disappearance is the node's missed heartbeat.
//
// When the lease is lost (etcd unreachable for longer than the TTL, so etcd let it expire), a new
// lease is granted and the key put again as soon as etcd answers. etcd3's Lease reports a loss when
// etcd answers a keepalive with "expired", or after 2 × TTL without any answer; either way the key
// is already gone on the server, so re-granting late loses nothing but that gap.
import type { Etcd3, Lease } from 'etcd3';
import type { Logger } from 'pino';
import { cappedBackoff } from '../../api/backoff.ts';

export interface NodeLeaseOptions {
  client: Etcd3;
  key: string;
  ttlSeconds: number;
  /** Stored under the key: who holds it, for people reading etcd. */
  value: string;
  logger: Logger;
  /** Called after a lease is granted again: keys put on the lost one (putOnLease) are gone. */
  onRenewed?: () => void;
}

const RETRY_MS = { firstMs: 100, maxMs: 1_000 };

export class NodeLease {
  private lease: Lease | undefined;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;

  constructor(private readonly options: NodeLeaseOptions) {}

  /** Grants the first lease and puts the key; then keeps it (re-granting after a loss) until stop(). */
  async start(): Promise<void> {
    const { lost } = await this.acquire();
    this.loop = this.keep(lost);
  }

  /** Puts another key on the current lease, so it goes with it (a load balancer's drain records). */
  async putOnLease(key: string, value: string): Promise<void> {
    if (!this.lease) throw new Error(`no lease for ${this.options.key} right now; it is being granted again`);
    await this.lease.put(key).value(value);
  }

  /** Revokes the lease, so the key (and the node's liveness) goes at once rather than after the TTL. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    const lease = this.lease;
    this.lease = undefined;
    if (lease) await lease.revoke().catch(() => lease.release());
    await this.loop;
  }

  /** Grants a lease and puts the key on it; `lost` settles when that lease is lost. */
  private async acquire(): Promise<{ lost: Promise<void> }> {
    const { client, key, ttlSeconds, value } = this.options;
    const lease = client.lease(ttlSeconds);
    const lost = new Promise<void>((resolve) => {
      lease.on('lost', (error: Error) => {
        if (!this.stopped) this.options.logger.warn({ key, error: error.message }, 'lease lost; granting a new one');
        resolve();
      });
    });
    try {
      const id = await lease.grant();
      await client.put(key).value(value).lease(id);
    } catch (error) {
      lease.release();
      throw error;
    }
    this.lease = lease;
    return { lost };
  }

  private async keep(firstLoss: Promise<void>): Promise<void> {
    let lost = firstLoss;
    while (!this.stopped) {
      await Promise.race([lost, new Promise<void>((resolve) => (this.wake = resolve))]);
      if (this.stopped) return;
      this.lease?.release();
      this.lease = undefined;
      for (let attempt = 1; !this.stopped; attempt += 1) {
        try {
          ({ lost } = await this.acquire());
          this.options.logger.info({ key: this.options.key }, 'lease granted again');
          this.options.onRenewed?.();
          break;
        } catch (error) {
          // Said once per outage; the retries that follow say nothing new.
          if (attempt === 1) this.options.logger.warn({ key: this.options.key, error: (error as Error).message }, 'cannot grant the lease again yet: the key stays gone until etcd answers');
          await new Promise((resolve) => setTimeout(resolve, cappedBackoff({ ...RETRY_MS, attempt })));
        }
      }
    }
  }
}
