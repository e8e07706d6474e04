import { describe, expect, it } from 'vitest';
import { acceptsEventStream, encodeEvent } from './events.ts';

describe('acceptsEventStream: what Accept headers GET /v2/events answers (else 406)', () => {
  it.each([
    ['text/event-stream', true],
    ['*/*', true],
    ['text/*', true],
    ['application/json, text/event-stream;q=0.9', true],
    ['TEXT/EVENT-STREAM', true],
    ['application/json', false],
    ['text/html, application/xml', false],
  ])('%s → %s', (accept, expected) => {
    expect(acceptsEventStream(accept)).toBe(expected);
  });
});

describe('encodeEvent', () => {
  it("writes Marathon's SSE framing: the type as `event:`, the whole event as one `data:` line", () => {
    const event = { eventType: 'deployment_success', timestamp: '2026-03-01T10:00:00.000Z', id: 'd-1' };
    expect(encodeEvent(event)).toBe(`event: deployment_success\ndata: ${JSON.stringify(event)}\n\n`);
  });
});
