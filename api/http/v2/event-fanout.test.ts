import { describe, expect, it } from 'vitest';
import type { MarathonEvent } from '../../marathon/events.ts';
import { encodeEvent, EventFanout, type FanoutClient } from './event-fanout.ts';

const event = (eventType: string, n: number): MarathonEvent => ({ eventType, timestamp: '2026-03-01T10:00:00.000Z', n });
const posted = event('api_post_event', 1);
const update = event('status_update_event', 2);
const health = event('health_status_changed_event', 3);

/** A fan-out flushed by hand, and clients that keep what they were delivered. */
function harness() {
  const flushes: (() => void)[] = [];
  const fanout = new EventFanout({ schedule: (flush) => flushes.push(flush) });
  const client = (types: string[] = []) => {
    const chunks: Buffer[] = [];
    const it: FanoutClient & { chunks: Buffer[]; text(): string } = { types: new Set(types), deliver: (chunk) => chunks.push(chunk), chunks, text: () => chunks.map(String).join('') };
    return it;
  };
  const turn = () => flushes.splice(0).forEach((flush) => flush());
  return { fanout, client, turn, flushes };
}

const sse = (...events: MarathonEvent[]) => events.map(encodeEvent).join('');

describe('EventFanout: one buffer per turn and client, as a subscription to the hub would see the events', () => {
  it.each([
    { name: 'no filter: every event of the turn', types: [], expected: sse(posted, update, health) },
    { name: 'one type', types: ['status_update_event'], expected: sse(update) },
    { name: 'two types, in the order published', types: ['health_status_changed_event', 'api_post_event'], expected: sse(posted, health) },
    { name: 'a type not published: nothing delivered', types: ['deployment_info'], expected: '' },
  ])('$name', ({ types, expected }) => {
    const { fanout, client, turn } = harness();
    const reader = client(types);
    fanout.add(reader);
    [posted, update, health].forEach((e) => fanout.publish(e));
    turn();
    expect(reader.text()).toBe(expected);
    expect(reader.chunks.length).toBe(expected ? 1 : 0);
  });

  it('schedules one flush per turn, and clients with the same filter get the same buffer', () => {
    const { fanout, client, turn, flushes } = harness();
    const [a, b, c] = [client(['api_post_event', 'status_update_event']), client(['status_update_event', 'api_post_event']), client()];
    [a, b, c].forEach((reader) => fanout.add(reader));
    [posted, update, health].forEach((e) => fanout.publish(e));
    expect(flushes.length).toBe(1);
    turn();
    expect(a.chunks[0]).toBe(b.chunks[0]);
    expect(c.text()).toBe(sse(posted, update, health));
  });

  it('a client attached mid-turn gets only what follows; in the next turn, everything', () => {
    const { fanout, client, turn } = harness();
    const early = client();
    const late = client();
    fanout.add(early);
    fanout.publish(posted);
    fanout.add(late);
    fanout.publish(update);
    turn();
    expect(early.text()).toBe(sse(posted, update));
    expect(late.text()).toBe(sse(update));
    fanout.publish(health);
    turn();
    expect(late.text()).toBe(sse(update, health));
  });

  it('a client removed (or removing itself while delivered to) gets nothing more, and the others still do', () => {
    const { fanout, client, turn } = harness();
    const gone = client();
    const leaving: FanoutClient & { chunks: Buffer[] } = { types: new Set(), chunks: [], deliver: (chunk) => (leaving.chunks.push(chunk), fanout.delete(leaving)) };
    const staying = client();
    [gone, leaving, staying].forEach((reader) => fanout.add(reader));
    fanout.delete(gone);
    fanout.publish(posted);
    turn();
    fanout.publish(update);
    turn();
    expect(gone.chunks).toEqual([]);
    expect(leaving.chunks.map(String)).toEqual([sse(posted)]);
    expect(staying.text()).toBe(sse(posted, update));
  });
});
