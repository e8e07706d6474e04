// The one capped exponential backoff of Capstan: every retry loop (the agent's actions, its lease,
// the load balancer's sync, HAProxy restarts, the work queue, leader election, read-modify-write)
// asks it how long to wait, so a delay is a pair of numbers at the call site, never a formula.
//
// No jitter: each loop retries one thing of its own (a key, a lease, a process), so there is no herd
// to spread, and a delay that is a plain function of the attempt is what virtual-time tests assert.

export interface CappedBackoff {
  /** The delay before the first retry. */
  firstMs: number;
  /** No delay is longer than this. */
  maxMs: number;
  /** Which retry this is, 1-based: the first waits firstMs. */
  attempt: number;
}

/** firstMs, 2 × firstMs, 4 × firstMs, … up to maxMs. */
export function cappedBackoff({ firstMs, maxMs, attempt }: CappedBackoff): number {
  // A failure count can grow for as long as etcd is down; past 2 ** 40 the product only overflows
  // towards Infinity (and 0 × Infinity is NaN), so the exponent stops growing long before that.
  return Math.min(maxMs, firstMs * 2 ** Math.min(attempt - 1, MAX_EXPONENT));
}

const MAX_EXPONENT = 40;
