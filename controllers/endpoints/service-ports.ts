// Service ports: the load balancer's listening port for each load-balanced App port, unique across
// the cluster. Marathon allocates them in its own state; here each port in use is a key,
// `/capstan/serviceports/<port>` (api/keys.ts), created with a create-if-absent transaction, so two
// Apps racing for a port (two explicit ones applied at once, or two allocations) can never both get
// it: the loser sees the holder and picks another, or reports the clash.
//
// The allocation is kept in the App's Endpoints (spec.ports[].servicePort), which persists across
// revisions; the claim keys are the proof of ownership and what a fresh allocation reads.
import type { Etcd3 } from 'etcd3';
import { servicePortKey, servicePortPrefix } from '../../api/keys.ts';

export interface ServicePortRange {
  from: number;
  to: number;
}

/** marathon-lb's range. */
export const DEFAULT_SERVICE_PORT_RANGE: ServicePortRange = { from: 10000, to: 10100 };

export interface Claim {
  namespace: string;
  app: string;
  uid: string;
  /** The App port it serves: a reconcile that reads stale Endpoints finds its port again by it. */
  index?: number;
}

export interface AssignInput {
  namespace: string;
  app: string;
  uid: string;
  /** Per port: the servicePort the App names (0 or undefined: the system chooses). */
  wanted: readonly (number | undefined)[];
  /** Per port: what the App's Endpoints hold now. */
  held: readonly (number | undefined)[];
}

export interface Assignment {
  ports: (number | undefined)[];
  /** Explicit ports another App holds; left without a service port until it lets go. */
  conflicts: { index: number; port: number; holder: Claim }[];
  /** No free port was left in the range for these port indexes. */
  exhausted: number[];
}

export const messages = {
  conflict: (port: number, holder: Claim) => `service port ${port} is held by App ${holder.namespace}/${holder.app}`,
  exhausted: (range: ServicePortRange) => `no free service port in ${range.from}-${range.to}`,
};

export class ServicePorts {
  constructor(private readonly options: { client: Etcd3; range: ServicePortRange }) {}

  get range(): ServicePortRange {
    return this.options.range;
  }

  /** True when what is held already answers what is wanted: no read or write needed. */
  static settled(input: Pick<AssignInput, 'wanted' | 'held'>): boolean {
    return input.wanted.every((want, i) => (want ? input.held[i] === want : input.held[i] !== undefined)) && input.held.length === input.wanted.length;
  }

  /** Claims what is wanted, keeps what is held, allocates the rest, and frees what the App no longer uses. */
  async assign(input: AssignInput): Promise<Assignment> {
    const claims = await this.claims();
    const result: Assignment = { ports: [], conflicts: [], exhausted: [] };
    const keep = new Set<number>();
    for (const [index, want] of input.wanted.entries()) {
      const port = want ? want : this.heldBy(input, index, claims);
      if (port !== undefined) {
        const holder = await this.claim(port, { ...input, index }, claims);
        if (holder) result.conflicts.push({ index, port, holder });
        else keep.add(port);
        result.ports.push(holder ? undefined : port);
        continue;
      }
      const allocated = await this.allocate({ ...input, index }, claims, new Set([...keep, ...input.wanted.filter((w): w is number => Boolean(w))]));
      if (allocated === undefined) result.exhausted.push(index);
      else keep.add(allocated);
      result.ports.push(allocated);
    }
    for (const [port, claim] of claims) if (claim.uid === input.uid && !keep.has(port)) await this.free(port, claim);
    return result;
  }

  /**
   * The port the App already holds for port `index`: what its Endpoints say, or else its claim for
   * that index (Endpoints read from a cache may not show an allocation made a moment ago; without
   * this a second reconcile would allocate another port and free the first).
   */
  private heldBy(input: AssignInput, index: number, claims: Map<number, Claim>): number | undefined {
    const mine = (port: number | undefined) => port !== undefined && claims.get(port)?.uid === input.uid && !input.wanted.includes(port);
    const held = input.held[index];
    if (mine(held)) return held;
    for (const [port, claim] of claims) if (claim.uid === input.uid && claim.index === index && mine(port)) return port;
    return undefined;
  }

  /** Frees every port held by the App `namespace/app` (any incarnation): it is gone. */
  async releaseApp(namespace: string, app: string): Promise<number[]> {
    const freed: number[] = [];
    for (const [port, claim] of await this.claims()) {
      if (claim.namespace === namespace && claim.app === app) {
        await this.free(port, claim);
        freed.push(port);
      }
    }
    return freed;
  }

  private async claims(): Promise<Map<number, Claim>> {
    const all = await this.options.client.getAll().prefix(servicePortPrefix).strings();
    const claims = new Map<number, Claim>();
    for (const [key, value] of Object.entries(all)) {
      const port = Number(key.slice(servicePortPrefix.length));
      try {
        claims.set(port, JSON.parse(value) as Claim);
      } catch {
        // Not written by Capstan: treat the port as taken by nobody we can name, and never reuse it.
        claims.set(port, { namespace: '?', app: '?', uid: '?' });
      }
    }
    return claims;
  }

  /** Undefined when the port is (now) ours; the holder otherwise. */
  private async claim(port: number, input: AssignInput & { index: number }, claims: Map<number, Claim>): Promise<Claim | undefined> {
    const existing = claims.get(port);
    if (existing) return existing.uid === input.uid ? undefined : existing;
    const claim: Claim = { namespace: input.namespace, app: input.app, uid: input.uid, index: input.index };
    const key = servicePortKey(port);
    const { client } = this.options;
    const result = await client.if(key, 'Create', '==', 0).then(client.put(key).value(JSON.stringify(claim))).else(client.get(key)).commit();
    if (result.succeeded) {
      claims.set(port, claim);
      return undefined;
    }
    // Lost a race: someone created it between our read and our write.
    const value = result.responses[0]?.response_range?.kvs[0]?.value.toString();
    const holder = value ? (JSON.parse(value) as Claim) : { namespace: '?', app: '?', uid: '?' };
    claims.set(port, holder);
    return holder.uid === input.uid ? undefined : holder;
  }

  /** The lowest free port of the range that is not wanted explicitly by this App's other ports. */
  private async allocate(input: AssignInput & { index: number }, claims: Map<number, Claim>, reserved: Set<number>): Promise<number | undefined> {
    const { from, to } = this.options.range;
    for (let port = from; port <= to; port += 1) {
      if (claims.has(port) || reserved.has(port)) continue;
      if ((await this.claim(port, input, claims)) === undefined) return port;
    }
    return undefined;
  }

  /** Deletes a claim only if it still says what we read, so a port just re-claimed by another App stays its. */
  private async free(port: number, claim: Claim): Promise<void> {
    const key = servicePortKey(port);
    const { client } = this.options;
    await client.if(key, 'Value', '==', JSON.stringify(claim)).then(client.delete().key(key)).commit();
  }
}
