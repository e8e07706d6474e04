// Store errors are named values with a component prefix and the key, after etcd's concurrency
// package: callers switch on `code`, people read `message`.

export type StoreErrorCode = 'Conflict' | 'NotFound' | 'AlreadyExists' | 'Invalid' | 'Unavailable' | 'Fenced';

const describe: Record<StoreErrorCode, string> = {
  Conflict: 'conflict on',
  NotFound: 'not found:',
  AlreadyExists: 'already exists:',
  Invalid: 'invalid object at',
  Unavailable: 'etcd unavailable for',
  Fenced: 'write rejected, no longer leader, for',
};

export class StoreError extends Error {
  override readonly name = 'StoreError';
  constructor(
    readonly code: StoreErrorCode,
    readonly key: string,
    readonly detail?: string,
    options?: { cause?: unknown },
  ) {
    super(`store: ${describe[code]} ${key}${detail ? `: ${detail}` : ''}`, options);
  }
}

/**
 * By name and code rather than instanceof: a user's controller loaded into `capstan controllers`
 * (--module) has its own copy of this module, and its checks must recognise the CLI's errors.
 */
export function isStoreError(error: unknown, code?: StoreErrorCode): error is StoreError {
  if (!(error instanceof Error) || error.name !== 'StoreError' || !(typeof (error as StoreError).code === 'string' && (error as StoreError).code in describe)) return false;
  return code === undefined || (error as StoreError).code === code;
}

export const conflict = (key: string, detail?: string) => new StoreError('Conflict', key, detail);
export const notFound = (key: string) => new StoreError('NotFound', key);
export const alreadyExists = (key: string) => new StoreError('AlreadyExists', key);
export const fenced = (key: string) => new StoreError('Fenced', key);
