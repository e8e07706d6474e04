// Read, change, write on condition, and after a conflict read again and change again: the one
// read-modify-write loop of Capstan, in the shape of etcd's STM (client/v3/concurrency/stm.go). The
// change is a pure function of what was read, so running it again on a fresher read is always safe;
// the write is the store's, conditioned on the resourceVersion that read returned.
import { setTimeout as sleep } from 'node:timers/promises';
import { cappedBackoff } from './backoff.ts';
import { isStoreError, StoreError } from './errors.ts';
import type { AnyObject, DeepReadonly } from './object.ts';
import type { ObjectName, Store } from './store.ts';

/** The store's write to use: `update` (metadata and spec) or `updateStatus`; `createOrUpdate` creates an absent object. */
export type ReadModifyWriteMode = 'update' | 'updateStatus' | 'createOrUpdate';

interface CommonOptions<T> {
  store: Store;
  kind: string;
  /** The object by name; with a uid, only that incarnation: another object of the name counts as gone. */
  ref: ObjectName & { uid?: string | undefined };
  /**
   * The object as read earlier (an informer's copy, a list) for the first attempt to change, without
   * a read; `{ object: undefined }` says it was absent. Without it the first attempt reads the store.
   * Every attempt after a conflict reads the store.
   */
  from?: { object: T | undefined };
  /** Writes tried before giving up with a Conflict. */
  attempts: number;
  /** The wait before each re-read after the second conflict on (see below). Default 10 ms doubling to 500 ms. */
  backoff?: { firstMs: number; maxMs: number };
}

export type ReadModifyWriteOptions<T extends DeepReadonly<AnyObject>> = CommonOptions<T> &
  (
    | {
        write: 'update' | 'updateStatus';
        /** Pure: the object as it should be, or undefined when there is nothing to write. */
        change: (current: T) => T | undefined;
      }
    | {
        write: 'createOrUpdate';
        /** Pure: as above; `current` is undefined when the object is absent, and what it returns is created. */
        change: (current: T | undefined) => T | undefined;
      }
  );

/**
 * `created` and `updated` carry the object as written, `unchanged` the object as found when `change`
 * had nothing to write; `gone` is an object absent (or another incarnation) when read or written.
 */
export type ReadModifyWriteResult<T> = { outcome: 'created' | 'updated' | 'unchanged'; object: T } | { outcome: 'gone' };

const DEFAULT_BACKOFF = { firstMs: 10, maxMs: 500 };

/**
 * Changes one object with `change` and writes it on condition, reading it again after every
 * conflict, at most `attempts` times; then a StoreError with code Conflict. With `createOrUpdate`, an
 * object that appeared or went between read and write (AlreadyExists, NotFound) is read again too.
 * What `change` throws, and every other store error, is thrown as it is.
 */
export async function readModifyWrite<T extends DeepReadonly<AnyObject>>(options: ReadModifyWriteOptions<T>): Promise<ReadModifyWriteResult<T>> {
  const backoff = options.backoff ?? DEFAULT_BACKOFF;
  let current = options.from ? sameIncarnation(options, options.from.object) : await read(options);
  for (let attempt = 1; ; attempt += 1) {
    const tried = await writeOnce(options, current);
    if (tried.outcome !== 'raced') return tried;
    if (attempt >= options.attempts) {
      const detail = `gave up after ${options.attempts} attempts${tried.error.detail ? ` (last: ${tried.error.detail})` : ''}`;
      throw new StoreError('Conflict', tried.error.key, detail, { cause: tried.error });
    }
    // The first conflict is read again at once: it usually means the copy the change started from
    // (an informer's) was behind, not that writers are contending. Later ones back off, so that
    // writers that keep colliding on one object spread out instead of colliding in lock step.
    if (attempt > 1) await sleep(cappedBackoff({ ...backoff, attempt: attempt - 1 }));
    current = await read(options);
  }
}

type Attempt<T> = ReadModifyWriteResult<T> | { outcome: 'raced'; error: StoreError };

async function writeOnce<T extends DeepReadonly<AnyObject>>(options: ReadModifyWriteOptions<T>, current: T | undefined): Promise<Attempt<T>> {
  const { store } = options;
  let next: T | undefined;
  if (options.write === 'createOrUpdate') next = options.change(current);
  else if (current) next = options.change(current);
  if (!next) return current ? { outcome: 'unchanged', object: current } : { outcome: 'gone' };
  // The store's writes take mutable objects; they copy what they are given and change nothing in it.
  const writable = next as unknown as AnyObject;
  try {
    if (!current) return { outcome: 'created', object: (await store.create(writable)) as unknown as T };
    const written = options.write === 'updateStatus' ? await store.updateStatus(writable) : await store.update(writable);
    return { outcome: 'updated', object: written as unknown as T };
  } catch (error) {
    if (isStoreError(error, 'Conflict') || isStoreError(error, 'AlreadyExists')) return { outcome: 'raced', error };
    if (isStoreError(error, 'NotFound')) return options.write === 'createOrUpdate' ? { outcome: 'raced', error } : { outcome: 'gone' };
    throw error;
  }
}

async function read<T extends DeepReadonly<AnyObject>>(options: ReadModifyWriteOptions<T>): Promise<T | undefined> {
  const object = await options.store.get(options.kind, options.ref);
  return sameIncarnation(options, object as unknown as T | undefined);
}

function sameIncarnation<T extends DeepReadonly<AnyObject>>(options: ReadModifyWriteOptions<T>, object: T | undefined): T | undefined {
  const uid = options.ref.uid;
  return object && (uid === undefined || object.metadata.uid === uid) ? object : undefined;
}
