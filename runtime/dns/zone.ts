// The zone as an index kept current from two sources, and the answer to one question. No I/O: the
// server (server.ts) feeds it informer events and encodes what `resolve` returns.
//
// Endpoints give the App names, their SRV names and their serving tasks' names; Tasks give every bound
// Running task's name (records.ts). A name may come from either or both: a serving task's name is
// given by its Task and by its App's Endpoints, and stays while either gives it, so an SRV target
// resolves as long as the SRV record that names it.
//
// A change costs the size of the one object that changed (its old names out, its new ones in); a
// question costs a map lookup plus its answer's size. Never a scan per query.
import type { Answer, Question, SoaAnswer } from 'dns-packet';
import { canonicalName, recordsOf, recordsOfTask, type NameRecords, type Service } from './records.ts';
import type { EndpointsSpec } from '../../api/kinds/endpoints.ts';
import type { DeepReadonly } from '../../api/object.ts';

export const DEFAULT_ZONE = 'capstan';

export interface ZoneOptions {
  /** e.g. `capstan`; any case, with or without the trailing dot. */
  zone: string;
  ttlSeconds: number;
  /** Where this server is reached, for the glue A of `ns.<zone>`; none when it listens on a wildcard. */
  nameServerAddress?: string;
  /** For shuffling answers; tests pass a fixed one. */
  random?: () => number;
}

/** One spelling per outcome; the server turns each into an rcode and sections. */
export type Resolution =
  | { outcome: 'answer'; answers: Answer[]; additionals: Answer[] }
  /** The name exists, but has nothing of this type (NOERROR, empty answer, SOA in authority). */
  | { outcome: 'nodata'; soa: SoaAnswer }
  | { outcome: 'nxdomain'; soa: SoaAnswer }
  /** Not in this zone: this server is authoritative for one zone and does not recurse. */
  | { outcome: 'refused' };

/** What one Endpoints object says: its namespace and spec (undefined when it is gone). */
export interface EndpointsChange {
  /** The informer's key, `namespace/name`. */
  key: string;
  namespace: string;
  spec: DeepReadonly<EndpointsSpec> | undefined;
}

/** What one Task says: its name's address (its node's), undefined while it has no name or is gone. */
export interface TaskChange {
  /** The informer's key, `namespace/name`. */
  key: string;
  namespace: string;
  name: string;
  address: string | undefined;
}

export class Zone {
  readonly name: string;
  private readonly ttl: number;
  private readonly random: () => number;
  private readonly nameServer: string;
  private readonly nameServerAddress: string | undefined;
  /**
   * What each object contributed, to take it out again when it changes; keyed `<kind> <key>`, since
   * an Endpoints and a Task may share a key.
   */
  private readonly byObject = new Map<string, Map<string, NameRecords>>();
  /** Per name, each contributor's records (one, or a serving task's Task and its App's Endpoints). */
  private readonly byName = new Map<string, Map<string, NameRecords>>();
  /**
   * Names with no records of their own but names with records below them (`<namespace>.<zone>`,
   * `_tcp.<app>.<namespace>.<zone>`), counted by how many names below them have records. They exist
   * (RFC 8020: NXDOMAIN there would tell a resolver that nothing below exists either), so they get NODATA.
   */
  private readonly interior = new Map<string, number>();
  private serial = 1;

  constructor(options: ZoneOptions) {
    this.name = canonicalName(options.zone);
    this.ttl = options.ttlSeconds;
    this.random = options.random ?? Math.random;
    this.nameServer = `ns.${this.name}`;
    this.nameServerAddress = options.nameServerAddress;
  }

  /** Replaces what one Endpoints object says; an undefined spec takes it out. Idempotent. */
  applyEndpoints(change: EndpointsChange): void {
    const after = change.spec ? recordsOf({ namespace: change.namespace, spec: change.spec, zone: this.name }) : new Map<string, NameRecords>();
    this.replace(`Endpoints ${change.key}`, after);
  }

  /** Replaces what one Task says; an undefined address takes its name out. Idempotent. */
  applyTask(change: TaskChange): void {
    this.replace(`Task ${change.key}`, recordsOfTask({ namespace: change.namespace, task: change.name, address: change.address, zone: this.name }));
  }

  /** Every name that has records, for logs and tests. */
  get size(): number {
    return this.byName.size;
  }

  resolve(question: Question): Resolution {
    const name = canonicalName(question.name);
    if (name !== this.name && !name.endsWith(`.${this.name}`)) return { outcome: 'refused' };
    const answers = this.answersFor(question.name, name, question.type);
    if (answers.length > 0) {
      return { outcome: 'answer', answers: this.shuffled(answers), additionals: this.additionalsFor(answers) };
    }
    return this.exists(name) ? { outcome: 'nodata', soa: this.soa() } : { outcome: 'nxdomain', soa: this.soa() };
  }

  private answersFor(asked: string, name: string, type: Question['type']): Answer[] {
    // dns-packet decodes type 255 as 'ANY', which its types leave out.
    const any = (type as string) === 'ANY';
    const answers: Answer[] = [];
    if (name === this.name) {
      if (type === 'SOA' || any) answers.push(this.soa());
      if (type === 'NS' || any) answers.push({ type: 'NS', name: asked, ttl: this.ttl, data: this.nameServer });
    }
    if (name === this.nameServer && this.nameServerAddress && (type === 'A' || any)) {
      answers.push({ type: 'A', name: asked, ttl: this.ttl, data: this.nameServerAddress });
    }
    const records = this.merged(name);
    if (!records) return answers;
    if (type === 'A' || any) for (const address of records.ipv4) answers.push({ type: 'A', name: asked, ttl: this.ttl, data: address });
    if (type === 'AAAA' || any) for (const address of records.ipv6) answers.push({ type: 'AAAA', name: asked, ttl: this.ttl, data: address });
    if (type === 'SRV' || any) {
      for (const s of records.services) answers.push({ type: 'SRV', name: asked, ttl: this.ttl, data: { priority: 0, weight: 1, port: s.port, target: s.target } });
    }
    return answers;
  }

  /** The addresses of SRV targets and of the name server, so a client needs no second query. */
  private additionalsFor(answers: readonly Answer[]): Answer[] {
    const targets = new Set<string>();
    for (const answer of answers) {
      if (answer.type === 'SRV') targets.add(answer.data.target);
      if (answer.type === 'NS') targets.add(answer.data);
    }
    const additionals: Answer[] = [];
    for (const target of targets) {
      if (target === this.nameServer && this.nameServerAddress) {
        additionals.push({ type: 'A', name: target, ttl: this.ttl, data: this.nameServerAddress });
      }
      const records = this.merged(target);
      for (const address of records?.ipv4 ?? []) additionals.push({ type: 'A', name: target, ttl: this.ttl, data: address });
      for (const address of records?.ipv6 ?? []) additionals.push({ type: 'AAAA', name: target, ttl: this.ttl, data: address });
    }
    return additionals;
  }

  private exists(name: string): boolean {
    return name === this.name || name === this.nameServer || this.byName.has(name) || this.interior.has(name);
  }

  /** One name's records across its contributors, without duplicates. */
  private merged(name: string): NameRecords | undefined {
    const contributors = this.byName.get(name);
    if (!contributors) return undefined;
    if (contributors.size === 1) return contributors.values().next().value;
    const merged = { ipv4: [] as string[], ipv6: [] as string[], services: [] as Service[] };
    const services = new Set<string>();
    for (const records of contributors.values()) {
      for (const a of records.ipv4) if (!merged.ipv4.includes(a)) merged.ipv4.push(a);
      for (const a of records.ipv6) if (!merged.ipv6.includes(a)) merged.ipv6.push(a);
      for (const s of records.services) {
        if (services.has(serviceKey(s))) continue;
        services.add(serviceKey(s));
        merged.services.push(s);
      }
    }
    return merged;
  }

  private replace(contributor: string, after: Map<string, NameRecords>): void {
    const before = this.byObject.get(contributor);
    // Most Task events are status writes (health results, conditions) that leave its name as it was:
    // nothing to redo, and the SOA serial moves only when the zone does.
    if (sameRecords(before, after)) return;
    for (const name of before?.keys() ?? []) this.withdraw(name, contributor);
    for (const [name, records] of after) this.contribute(name, contributor, records);
    if (after.size > 0) this.byObject.set(contributor, after);
    else this.byObject.delete(contributor);
    this.serial = (this.serial + 1) >>> 0 || 1;
  }

  private contribute(name: string, key: string, records: NameRecords): void {
    let contributors = this.byName.get(name);
    if (!contributors) {
      this.byName.set(name, (contributors = new Map()));
      this.countAncestors(name, +1);
    }
    contributors.set(key, records);
  }

  private withdraw(name: string, key: string): void {
    const contributors = this.byName.get(name);
    if (!contributors?.delete(key) || contributors.size > 0) return;
    this.byName.delete(name);
    this.countAncestors(name, -1);
  }

  private countAncestors(name: string, delta: 1 | -1): void {
    const suffix = `.${this.name}`;
    for (let dot = name.indexOf('.'); dot >= 0; dot = name.indexOf('.', dot + 1)) {
      const ancestor = name.slice(dot + 1);
      if (ancestor === this.name || !ancestor.endsWith(suffix)) return;
      const count = (this.interior.get(ancestor) ?? 0) + delta;
      if (count > 0) this.interior.set(ancestor, count);
      else this.interior.delete(ancestor);
    }
  }

  /**
   * The SOA of every negative answer. Its minimum is the TTL: a resolver caches NXDOMAIN for the
   * smaller of the two (RFC 2308), so a name that appears is found as soon as a positive answer would
   * have expired.
   */
  private soa(): SoaAnswer {
    return {
      type: 'SOA',
      name: this.name,
      ttl: this.ttl,
      data: { mname: this.nameServer, rname: `hostmaster.${this.name}`, serial: this.serial, refresh: 60, retry: 10, expire: 86_400, minimum: this.ttl },
    };
  }

  /** Fisher–Yates, in place on a list built for this answer: each answer in a new order, DNS's round robin. */
  private shuffled(answers: Answer[]): Answer[] {
    for (let i = answers.length - 1; i > 0; i -= 1) {
      const j = Math.floor(this.random() * (i + 1));
      [answers[i], answers[j]] = [answers[j]!, answers[i]!];
    }
    return answers;
  }
}

const serviceKey = (s: Service) => `${s.target}:${s.port}`;

/** Whether a contributor says the same as before, record for record (`recordsOf` is deterministic). */
function sameRecords(before: ReadonlyMap<string, NameRecords> | undefined, after: ReadonlyMap<string, NameRecords>): boolean {
  if ((before?.size ?? 0) !== after.size) return false;
  for (const [name, records] of after) {
    const was = before!.get(name);
    if (!was || !sameList(was.ipv4, records.ipv4) || !sameList(was.ipv6, records.ipv6) || !sameServices(was.services, records.services)) return false;
  }
  return true;
}

const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);
const sameServices = (a: readonly Service[], b: readonly Service[]) => a.length === b.length && a.every((s, i) => s.port === b[i]!.port && s.target === b[i]!.target);
