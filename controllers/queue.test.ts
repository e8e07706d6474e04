// Every queue semantic of DESIGN.md, in virtual time: the input is a marble of key adds, each key's
// reconciles follow a script of [duration ms, outcome], and the expectation is the log of what
// started and finished when.
import { map, timer, type Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { done, requeueAfter, retry, type Result } from './contract.ts';
import { backoffMs, tokenBucket, workQueue, type QueueOptions } from './queue.ts';

type Outcome = 'done' | 'retry' | 'throw' | `requeueAfter:${number}`;
type Script = Record<string, [number, Outcome][]>;

function toResult(outcome: Outcome): Result {
  if (outcome === 'done') return done();
  if (outcome === 'retry') return retry(new Error('not yet'));
  return requeueAfter(Number(outcome.split(':')[1]));
}

function simulate(input: string, script: Script, options: QueueOptions = {}) {
  const log: string[] = [];
  const depths: number[] = [];
  const scheduler = new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
  scheduler.run(({ hot }) => {
    const steps = Object.fromEntries(Object.entries(script).map(([key, list]) => [key, [...list]]));
    const work = (key: string): Observable<Result> => {
      log.push(`${scheduler.now()} start ${key}`);
      const [ms, outcome] = steps[key]?.shift() ?? [0, 'done'];
      if (outcome === 'throw') return timer(ms, scheduler).pipe(map(() => { throw new Error('boom'); }));
      return timer(ms, scheduler).pipe(map(() => toResult(outcome)));
    };
    const out = hot(input).pipe(workQueue(work, { scheduler, onDepth: (d) => depths.push(d), ...options }));
    out.subscribe((p) => log.push(`${p.finishedAt} ${p.result.kind} ${p.key}`));
  });
  return { log, depths };
}

describe('workQueue', () => {
  it.each([
    {
      scenario: 'reconciles each added key once',
      input: 'a 9ms b',
      script: {},
      options: {},
      expected: ['0 start a', '0 done a', '10 start b', '10 done b'],
    },
    {
      scenario: 'collapses adds of a key that is already queued',
      input: '(baaa)',
      script: { b: [[5, 'done']] } as Script,
      options: {},
      expected: ['0 start b', '5 done b', '5 start a', '5 done a'],
    },
    {
      scenario: 'runs a key added while it is reconciled once more afterwards, however often it was added',
      input: 'a 2ms (aaa)',
      script: { a: [[5, 'done'], [5, 'done']] } as Script,
      options: {},
      expected: ['0 start a', '5 done a', '5 start a', '10 done a'],
    },
    {
      scenario: 'never reconciles a key concurrently with itself, even with spare concurrency',
      input: 'a 2ms a',
      script: { a: [[5, 'done'], [5, 'done']] } as Script,
      options: { concurrency: 3 },
      expected: ['0 start a', '5 done a', '5 start a', '10 done a'],
    },
    {
      scenario: 'bounds concurrency: the third key waits for a free slot',
      input: '(abc)',
      script: { a: [[5, 'done']], b: [[7, 'done']], c: [[5, 'done']] } as Script,
      options: { concurrency: 2 },
      expected: ['0 start a', '0 start b', '5 done a', '5 start c', '7 done b', '10 done c'],
    },
    {
      scenario: 'backs off a retried key 5, 10, 20 ms, and resets the backoff after done',
      input: 'a 99ms a',
      script: { a: [[0, 'retry'], [0, 'retry'], [0, 'retry'], [0, 'done'], [0, 'retry'], [0, 'done']] } as Script,
      options: {},
      expected: [
        '0 start a', '0 retry a', '5 start a', '5 retry a', '15 start a', '15 retry a', '35 start a', '35 done a',
        '100 start a', '100 retry a', '105 start a', '105 done a',
      ],
    },
    {
      scenario: 'caps the backoff',
      input: 'a',
      script: { a: [[0, 'retry'], [0, 'retry'], [0, 'retry'], [0, 'retry'], [0, 'done']] } as Script,
      options: { maxBackoffMs: 20 },
      expected: ['0 start a', '0 retry a', '5 start a', '5 retry a', '15 start a', '15 retry a', '35 start a', '35 retry a', '55 start a', '55 done a'],
    },
    {
      scenario: 'retries a reconcile that throws, with the same backoff',
      input: 'a',
      script: { a: [[0, 'throw'], [0, 'throw'], [0, 'done']] } as Script,
      options: {},
      expected: ['0 start a', '0 retry a', '5 start a', '5 retry a', '15 start a', '15 done a'],
    },
    {
      scenario: 'requeues after the given delay',
      input: 'a',
      script: { a: [[0, 'requeueAfter:50'], [0, 'done']] } as Script,
      options: {},
      expected: ['0 start a', '0 requeueAfter a', '50 start a', '50 done a'],
    },
    {
      scenario: 'keeps the earlier of two delayed requeues (an earlier one replaces a later one)',
      input: 'a 9ms a',
      script: { a: [[0, 'requeueAfter:50'], [0, 'requeueAfter:20'], [0, 'done']] } as Script,
      options: {},
      expected: ['0 start a', '0 requeueAfter a', '10 start a', '10 requeueAfter a', '30 start a', '30 done a'],
    },
    {
      scenario: 'keeps the earlier of two delayed requeues (a later one does not postpone)',
      input: 'a 4ms a',
      script: { a: [[0, 'requeueAfter:20'], [0, 'requeueAfter:50'], [0, 'done']] } as Script,
      options: {},
      expected: ['0 start a', '0 requeueAfter a', '5 start a', '5 requeueAfter a', '20 start a', '20 done a'],
    },
    {
      scenario: 'a reconcile that changes while in backoff runs at once, and the backoff retry still follows',
      input: 'a 1ms a',
      script: { a: [[0, 'retry'], [0, 'done'], [0, 'done']] } as Script,
      options: {},
      expected: ['0 start a', '0 retry a', '2 start a', '2 done a', '5 start a', '5 done a'],
    },
    {
      scenario: 'limits the overall retry rate with a token bucket (10/s, burst 1)',
      input: '(ab)',
      script: { a: [[0, 'retry'], [0, 'done']], b: [[0, 'retry'], [0, 'done']] } as Script,
      options: { concurrency: 2, rateLimit: { perSecond: 10, burst: 1 } },
      expected: ['0 start a', '0 start b', '0 retry a', '0 retry b', '5 start a', '5 done a', '100 start b', '100 done b'],
    },
    {
      scenario: 'does not rate-limit fresh adds',
      input: '(abc)',
      script: {},
      options: { concurrency: 3, rateLimit: { perSecond: 1, burst: 1 } },
      expected: ['0 start a', '0 start b', '0 start c', '0 done a', '0 done b', '0 done c'],
    },
  ])('$scenario', ({ input, script, options, expected }) => {
    expect(simulate(input, script, options).log).toEqual(expected);
  });

  it('reports the depth of keys waiting, not of keys being worked on', () => {
    const { depths } = simulate('(abc)', { a: [[5, 'done']], b: [[5, 'done']], c: [[5, 'done']] });
    expect(depths).toEqual([1, 0, 1, 2, 1, 0]);
  });

  it('completes once its input has completed and no work is left', () => {
    const scheduler = new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
    scheduler.run(({ cold, expectObservable }) => {
      const out = cold('a|').pipe(workQueue(() => timer(5, scheduler).pipe(map(done)), { scheduler }));
      expectObservable(out.pipe(map((p) => p.key))).toBe('-----(a|)');
    });
  });
});

describe('backoffMs', () => {
  it.each([
    [1, 5],
    [2, 10],
    [3, 20],
    [17, 300_000],
    [1_000, 300_000],
  ])('failure %i waits %i ms', (failures, ms) => {
    expect(backoffMs(failures, 5, 300_000)).toBe(ms);
  });
});

describe('tokenBucket', () => {
  it.each([
    { scenario: 'burst is free', takes: [0, 0, 0], expected: [0, 0, 0] },
    { scenario: 'beyond the burst, takers queue at the rate', takes: [0, 0, 0, 0, 0], expected: [0, 0, 0, 100, 200] },
    { scenario: 'tokens refill with time', takes: [0, 0, 0, 300, 300], expected: [0, 0, 0, 0, 0] },
  ])('$scenario', ({ takes, expected }) => {
    let now = 0;
    const bucket = tokenBucket(10, 3, () => now);
    expect(takes.map((at) => ((now = at), bucket.take()))).toEqual(expected);
  });
});
