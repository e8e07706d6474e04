import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcd, type TestEtcd } from './helpers/etcd.ts';

describe('the etcd test helper', () => {
  let etcd: TestEtcd;
  beforeAll(async () => {
    etcd = await startEtcd();
  });
  afterAll(async () => etcd?.stop());

  it('serves a healthy etcd that comes back after kill -9 with its data', async () => {
    const put = await fetch(`${etcd.url}/v3/kv/put`, {
      method: 'POST',
      body: JSON.stringify({ key: Buffer.from('k').toString('base64'), value: Buffer.from('v').toString('base64') }),
    });
    expect(put.ok).toBe(true);
    await etcd.kill();
    await etcd.restart();
    const range = await fetch(`${etcd.url}/v3/kv/range`, {
      method: 'POST',
      body: JSON.stringify({ key: Buffer.from('k').toString('base64') }),
    });
    const body = (await range.json()) as { kvs?: { value: string }[] };
    expect(Buffer.from(body.kvs?.[0]?.value ?? '', 'base64').toString()).toBe('v');
  });
});
