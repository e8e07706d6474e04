// An unreachable etcd as one clear sentence. Apart from etcd.ts so that what reports it (the CLI's
// failure handler) does not load the etcd client to recognise it.
export class EtcdUnreachableError extends Error {
  override readonly name = 'EtcdUnreachableError';
  constructor(readonly endpoint: string, reason: string) {
    super(`cannot reach etcd at ${endpoint} (${reason}): start it with \`capstan up\`, or point --etcd / CAPSTAN_ETCD at a running etcd`);
  }
}
