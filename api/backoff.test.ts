import { describe, expect, it } from 'vitest';
import { cappedBackoff } from './backoff.ts';

describe('cappedBackoff', () => {
  it.each([
    { scenario: 'the first retry waits the first delay', firstMs: 100, maxMs: 5_000, attempt: 1, ms: 100 },
    { scenario: 'the second retry waits twice as long', firstMs: 100, maxMs: 5_000, attempt: 2, ms: 200 },
    { scenario: 'the delay doubles per attempt', firstMs: 100, maxMs: 5_000, attempt: 6, ms: 3_200 },
    { scenario: 'the doubling stops at the cap', firstMs: 100, maxMs: 5_000, attempt: 7, ms: 5_000 },
    { scenario: 'a cap that is not a power of two of the first delay is reached exactly', firstMs: 100, maxMs: 1_000, attempt: 5, ms: 1_000 },
    { scenario: 'the work queue: 5, 10, 20 ms …', firstMs: 5, maxMs: 300_000, attempt: 3, ms: 20 },
    { scenario: "the work queue's cap after 17 failures", firstMs: 5, maxMs: 300_000, attempt: 17, ms: 300_000 },
    { scenario: 'a failure count from a long outage stays at the cap, not NaN or Infinity', firstMs: 5, maxMs: 300_000, attempt: 100_000, ms: 300_000 },
    { scenario: 'a first delay of zero stays zero however many attempts', firstMs: 0, maxMs: 1_000, attempt: 5_000, ms: 0 },
    { scenario: 'a cap below the first delay wins (a leader with a short TTL)', firstMs: 200, maxMs: 100, attempt: 1, ms: 100 },
  ])('$scenario', ({ firstMs, maxMs, attempt, ms }) => {
    expect(cappedBackoff({ firstMs, maxMs, attempt })).toBe(ms);
  });
});
