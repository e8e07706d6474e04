// The hub's events handed to every SSE client of GET /v2/events (events.ts), a turn of the event
// loop at a time. A store change often makes several events, and every client wants the same ones:
// the events of one turn are encoded once, joined into one buffer per filter, and each client gets
// that one buffer — one write, one system call, no copy per client. Encoding and writing per event
// per client would make the fan-out's cost, and the last client's lag, grow with events × clients.
//
// A client attached in the middle of a turn gets only the events published after it attached, as a
// subscription to the hub would.
import type { MarathonEvent } from '../../marathon/events.ts';

export interface FanoutClient {
  /** The event types the client asked for (`?event_type=`); empty: every type. */
  readonly types: ReadonlySet<string>;
  /** This turn's events for the client, encoded as server-sent events; never empty. */
  deliver(chunk: Buffer): void;
}

export interface EventFanoutOptions {
  /** Runs `flush` once the turn's events are in; `setImmediate` (after the turn's I/O callbacks). */
  schedule?: (flush: () => void) => void;
}

/** One SSE line pair: Marathon's `event:` and `data:`. */
export function encodeEvent(event: MarathonEvent): string {
  return `event: ${event.eventType}\ndata: ${JSON.stringify(event)}\n\n`;
}

interface Attached {
  /** Index in the turn's events from which the client gets them. */
  from: number;
  filter: string;
}

export class EventFanout {
  private pending: MarathonEvent[] = [];
  private scheduled = false;
  private readonly clients = new Map<FanoutClient, Attached>();
  private readonly schedule: (flush: () => void) => void;

  constructor(options: EventFanoutOptions = {}) {
    this.schedule = options.schedule ?? ((flush) => setImmediate(flush));
  }

  add(client: FanoutClient): void {
    this.clients.set(client, { from: this.pending.length, filter: [...client.types].sort().join(',') });
  }

  delete(client: FanoutClient): void {
    this.clients.delete(client);
  }

  publish(event: MarathonEvent): void {
    this.pending.push(event);
    if (this.scheduled) return;
    this.scheduled = true;
    this.schedule(() => this.flush());
  }

  /** Delivers the turn's events. A client may detach from within `deliver` (a slow one is dropped). */
  flush(): void {
    const events = this.pending;
    this.pending = [];
    this.scheduled = false;
    if (events.length === 0) return;
    const encoded = new Map<MarathonEvent, string>();
    const encode = (event: MarathonEvent) => {
      let text = encoded.get(event);
      if (text === undefined) encoded.set(event, (text = encodeEvent(event)));
      return text;
    };
    // Clients with the same filter attached before the turn share one buffer.
    const chunks = new Map<string, Buffer>();
    for (const [client, attached] of this.clients) {
      const key = `${attached.from} ${attached.filter}`;
      let chunk = chunks.get(key);
      if (chunk === undefined) {
        const wanted = events.slice(attached.from).filter((event) => client.types.size === 0 || client.types.has(event.eventType));
        chunk = Buffer.from(wanted.map(encode).join(''));
        chunks.set(key, chunk);
      }
      attached.from = 0;
      if (chunk.length > 0) client.deliver(chunk);
    }
  }
}
