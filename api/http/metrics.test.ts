import { describe, expect, it } from 'vitest';
import { prefersJson } from './metrics.ts';

describe('prefersJson: which shape GET /metrics answers', () => {
  it.each([
    [undefined, false],
    ['', false],
    ['*/*', false],
    ['application/json', true],
    ['application/json, text/plain', true],
    ['text/plain, application/json', true],
    ['text/plain;q=0.5, application/json', true],
    ['application/json;q=0.5, text/plain', false],
    ['application/json;q=0', false],
    // Prometheus' own scrape header.
    ['application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1', false],
    // What curl -H and python-marathon send.
    ['application/json; charset=utf-8', true],
  ])('Accept %j → JSON %s', (accept, expected) => {
    expect(prefersJson(accept)).toBe(expected);
  });
});
