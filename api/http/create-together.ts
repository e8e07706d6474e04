// Group commit of the API's creates (POST /v2/apps): requests that each create one object are
// gathered while the group before them is being written, and written together: their existence read
// in one transaction (Store.getMany), each validated on its own (a bad one gets its own problems),
// the valid ones created in ONE transaction (Store.writeAll, each conditioned on its object being
// absent). Every request still gets its own answer; a burst of them costs etcd, and this server's
// etcd client, two round trips per group instead of two per request.
//
// When the group's transaction fails a condition (an object created meanwhile by someone else) or
// does not fit the store's limits, its objects are created one by one, each answered by what it met.
// Two requests for the same object never share a group: the later waits for the next one, where it
// sees the earlier's object (and is told it exists).
import { isStoreError } from '../errors.ts';
import type { Problem } from '../manifest.ts';
import type { AnyObject } from '../object.ts';
import { planApply } from '../apply/plan.ts';
import { API_INVENTORY, validateObject } from './apply.ts';
import type { ApiContext } from './context.ts';

/** What became of one request to create an object. */
export type Creation =
  | { outcome: 'created'; object: AnyObject }
  /** Nothing written: the store holds an object of that kind, namespace and name (`object`). */
  | { outcome: 'exists'; object: AnyObject }
  | { outcome: 'invalid'; problems: Problem[] }
  /** The write failed (etcd refused or was unreachable); nothing was written. */
  | { outcome: 'failed'; problem: string };

export interface CreateTogether {
  /** Creates `object` (of the kind this was made for, its namespace set) with the next group. */
  create(object: AnyObject): Promise<Creation>;
}

const say = {
  wrongKind: (kind: string, found: string) => `createTogether: made for ${kind} objects, given a ${found}`,
  goneAgain: (identity: string) => `${identity} was created by another request and deleted again while this one was written; try again`,
} as const;

/** Requests in one group at most: bounds the transaction and the wait of the group's last request. */
const MAX_GROUP = 256;
/** etcd operations a create may take (spec and status puts), for the group to fit --max-txn-ops. */
const OPS_PER_CREATE = 2;

interface Waiting {
  object: AnyObject;
  settle: (creation: Creation) => void;
  fail: (error: unknown) => void;
}

type Context = Pick<ApiContext, 'store' | 'registry' | 'informers'>;

const identityOf = (object: AnyObject) => `${object.metadata.namespace ?? ''}/${object.metadata.name}`;
const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * A group committer for objects of `kind`, one per server. One group is written at a time: the
 * requests arriving meanwhile make the next group, so a lone request waits for nothing but the I/O
 * round it arrived in (setImmediate: every request parsed in that round joins it).
 */
export function createTogether(ctx: Context, kind: string): CreateTogether {
  let waiting: Waiting[] = [];
  let writing = false;

  const drain = async () => {
    while (waiting.length > 0) {
      const { group, later } = nextGroup(waiting, Math.max(1, Math.min(MAX_GROUP, Math.floor(ctx.store.limits.maxTxnOps / OPS_PER_CREATE))));
      waiting = later;
      // writeGroup settles every request itself; a bug in it must not leave the group waiting, nor
      // stop the groups after it.
      await writeGroup(ctx, kind, group).catch((error: unknown) => {
        for (const request of group) request.fail(error);
      });
    }
    writing = false;
  };

  return {
    create(object) {
      if (object.kind !== kind) throw new Error(say.wrongKind(kind, object.kind));
      return new Promise<Creation>((settle, fail) => {
        waiting.push({ object, settle, fail });
        if (writing) return;
        writing = true;
        setImmediate(() => void drain());
      });
    },
  };
}

/** The first `size` requests for distinct objects, in arrival order; the rest wait. */
function nextGroup(waiting: readonly Waiting[], size: number): { group: Waiting[]; later: Waiting[] } {
  const group: Waiting[] = [];
  const later: Waiting[] = [];
  const taken = new Set<string>();
  for (const request of waiting) {
    const identity = identityOf(request.object);
    if (group.length >= size || taken.has(identity)) {
      later.push(request);
      continue;
    }
    taken.add(identity);
    group.push(request);
  }
  return { group, later };
}

/** Reads, validates and writes one group; settles every request of it (never rejects). */
async function writeGroup(ctx: Context, kind: string, group: readonly Waiting[]): Promise<void> {
  let live: (AnyObject | undefined)[];
  try {
    live = await ctx.store.getMany(kind, group.map(({ object }) => ({ namespace: object.metadata.namespace, name: object.metadata.name })));
  } catch (error) {
    // Unanswerable without the read: each request fails as its own read would have.
    for (const request of group) request.fail(error);
    return;
  }
  const creates: { request: Waiting; object: AnyObject }[] = [];
  for (const [index, request] of group.entries()) {
    const existing = live[index];
    if (existing) {
      request.settle({ outcome: 'exists', object: existing });
      continue;
    }
    try {
      const validated = await validateObject(ctx, request.object);
      if ('problems' in validated) {
        request.settle({ outcome: 'invalid', problems: validated.problems });
        continue;
      }
      const step = planApply(ctx.store.kind(kind), validated.object, undefined, API_INVENTORY);
      if (step.action === 'create') creates.push({ request, object: step.object });
    } catch (error) {
      request.fail(error);
    }
  }
  if (creates.length === 0) return;
  let written;
  try {
    written = await ctx.store.writeAll(creates.map(({ object }) => ({ object, current: undefined })));
  } catch (error) {
    // One transaction: none of the group was written.
    for (const { request } of creates) request.settle({ outcome: 'failed', problem: messageOf(error) });
    return;
  }
  if (written.outcome === 'written') {
    creates.forEach(({ request }, index) => request.settle({ outcome: 'created', object: written.objects[index]! }));
    return;
  }
  await Promise.all(creates.map(async ({ request, object }) => request.settle(await createOne(ctx, kind, object))));
}

/** A create of its own, after the group's transaction could not be written. */
async function createOne(ctx: Context, kind: string, object: AnyObject): Promise<Creation> {
  try {
    return { outcome: 'created', object: await ctx.store.create(object) };
  } catch (error) {
    if (!isStoreError(error, 'AlreadyExists')) return { outcome: 'failed', problem: messageOf(error) };
  }
  try {
    const existing = await ctx.store.get(kind, { namespace: object.metadata.namespace, name: object.metadata.name });
    // Created and deleted again since: as if the create had lost to a delete.
    return existing ? { outcome: 'exists', object: existing } : { outcome: 'failed', problem: say.goneAgain(identityOf(object)) };
  } catch (error) {
    return { outcome: 'failed', problem: messageOf(error) };
  }
}
