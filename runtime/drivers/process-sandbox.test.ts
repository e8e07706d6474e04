import { describe, expect, it } from 'vitest';
import { READ_ONLY_MOUNTS, WRAPPER, wrapperCommand } from './process-sandbox.ts';

describe('wrapperCommand', () => {
  it('runs the wrapper under /bin/sh when no mount is read-only', () => {
    expect(wrapperCommand(['/bin/sh', '-c', 'serve'], [])).toEqual({
      file: '/bin/sh',
      args: ['-c', WRAPPER, 'capstan-wrapper', '/bin/sh', '-c', 'serve'],
    });
  });

  it('enters a private mount namespace first, with host and sandbox paths in pairs before --', () => {
    const command = wrapperCommand(['serve', '--port', '1'], [
      { hostPath: '/v/conf', sandboxPath: '/s/etc' },
      { hostPath: '/v/data', sandboxPath: '/s/data' },
    ]);
    expect(command.file).toMatch(/(^|\/)unshare$/);
    expect(command.args).toEqual([
      '--mount', '--propagation', 'private', '/bin/sh', '-c', READ_ONLY_MOUNTS + WRAPPER, 'capstan-wrapper',
      '/v/conf', '/s/etc', '/v/data', '/s/data', '--', 'serve', '--port', '1',
    ]);
  });
});
