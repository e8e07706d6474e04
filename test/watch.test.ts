import { describe, expect, it } from 'vitest';
import { builtinRegistry } from '../api/kinds/builtin.ts';
import { openWatch } from '../api/watch.ts';
import { useStore } from './helpers/etcd.ts';
import { until } from './helpers/poll.ts';

describe('openWatch on a real etcd', () => {
  const db = useStore(builtinRegistry());


  it('delivers every event since its start revision, including those etcd sends with the confirmation', async () => {
    const first = await db.client.put('/w/k').value('0').exec();
    for (let i = 1; i < 50; i += 1) await db.client.put('/w/k').value(String(i));
    await db.client.delete().key('/w/k');
    const seen: string[] = [];
    const watcher = await openWatch(db.client.watch().key('/w/k').startRevision(first.header.revision), {
      put: (kv) => seen.push(kv.value.toString()),
      delete: () => seen.push('deleted'),
    });
    await until(() => seen.length === 51, { what: '51 events', timeoutMs: 5_000 });
    expect(seen).toEqual([...Array.from({ length: 50 }, (_, i) => String(i)), 'deleted']);
    await watcher.cancel();
  });

  it('reports a compacted start revision to the error listener, even when etcd says so with the confirmation', async () => {
    await db.client.put('/w/c').value('x');
    const compacted = await db.client.put('/w/c').value('y');
    await db.client.kv.compact({ revision: compacted.header.revision } as never);
    const errors: string[] = [];
    const watcher = await openWatch(db.client.watch().key('/w/c').startRevision('1'), { error: (error) => errors.push(error.message) });
    await until(() => errors.length === 1, { what: 'the compaction error', timeoutMs: 5_000 });
    expect(errors[0]).toMatch(/cancel/i);
    watcher.removeAllListeners('error').on('error', () => undefined);
  });
});
