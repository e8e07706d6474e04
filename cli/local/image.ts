// The test and demo image: no registry is reachable, so `local/busybox:1` is built on the spot from the
// host's static busybox (Debian's busybox-static) and `docker import`ed. The tarball is made in memory
// by a minimal ustar writer below; an image this small does not justify a dependency.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import type Dockerode from 'dockerode';

export interface EnsureImageOptions {
  /** The host's busybox; it must be statically linked, since the image holds no libc. */
  busybox?: string;
}

const messages = {
  noBusybox: (path: string) =>
    `${path} is missing: install Debian's busybox-static package (apt-get install busybox-static)`,
  importFailed: (ref: string, detail: string) => `docker import of ${ref} failed: ${detail}`,
};

/**
 * Makes sure `ref` exists on the engine, importing a busybox image if it does not. Idempotent: an
 * existing image is left alone. Resolves to the image id.
 */
export async function ensureBusyboxImage(
  docker: Dockerode,
  ref = 'local/busybox:1',
  options: EnsureImageOptions = {},
): Promise<string> {
  const existing = await imageId(docker, ref);
  if (existing) return existing;
  const tarball = busyboxTarball(options.busybox ?? '/bin/busybox');
  const { repo, tag } = splitRef(ref);
  const progress = await docker.importImage(Readable.from([tarball]), { repo, tag });
  const events = await new Promise<{ error?: string; errorDetail?: { message?: string } }[]>((resolve, reject) =>
    docker.modem.followProgress(progress, (error: Error | null, result: { error?: string; errorDetail?: { message?: string } }[]) => (error ? reject(error) : resolve(result))),
  );
  const failure = events.find((event) => event.error);
  if (failure) throw new Error(messages.importFailed(ref, failure.errorDetail?.message ?? failure.error ?? 'unknown'));
  const id = await imageId(docker, ref);
  if (!id) throw new Error(messages.importFailed(ref, 'the engine accepted the tarball but has no such image'));
  return id;
}

async function imageId(docker: Dockerode, ref: string): Promise<string | undefined> {
  try {
    return (await docker.getImage(ref).inspect()).Id;
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return undefined;
    throw error;
  }
}

function splitRef(ref: string): { repo: string; tag: string } {
  const colon = ref.lastIndexOf(':');
  // A colon before the last slash belongs to a registry host:port, not to a tag.
  if (colon === -1 || colon < ref.lastIndexOf('/')) return { repo: ref, tag: 'latest' };
  return { repo: ref.slice(0, colon), tag: ref.slice(colon + 1) };
}

/** A root filesystem: /bin/busybox, a symlink per applet, /tmp, a minimal /etc. */
export function busyboxTarball(busyboxPath: string): Buffer {
  let binary: Buffer;
  try {
    binary = readFileSync(busyboxPath);
  } catch {
    throw new Error(messages.noBusybox(busyboxPath));
  }
  const applets = execFileSync(busyboxPath, ['--list'], { encoding: 'utf8' })
    .split('\n')
    .map((name) => name.trim())
    .filter((name) => name !== '' && name !== 'busybox' && !name.includes('/'));
  const tar = new TarWriter();
  tar.directory('bin/');
  tar.file('bin/busybox', binary, 0o755);
  for (const applet of applets) tar.symlink(`bin/${applet}`, 'busybox');
  tar.directory('tmp/', 0o1777);
  tar.directory('root/', 0o700);
  tar.directory('etc/');
  tar.file('etc/passwd', Buffer.from('root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n'));
  tar.file('etc/group', Buffer.from('root:x:0:\nnogroup:x:65534:\n'));
  return tar.finish();
}

/** Just enough of POSIX ustar for short names: regular files, directories and symlinks. */
class TarWriter {
  private readonly blocks: Buffer[] = [];
  private readonly mtime = Math.floor(Date.now() / 1000);

  directory(name: string, mode = 0o755): void {
    this.blocks.push(this.header({ name, mode, size: 0, type: '5', linkname: '' }));
  }

  file(name: string, content: Buffer, mode = 0o644): void {
    this.blocks.push(this.header({ name, mode, size: content.length, type: '0', linkname: '' }));
    this.blocks.push(content, Buffer.alloc((512 - (content.length % 512)) % 512));
  }

  symlink(name: string, target: string): void {
    this.blocks.push(this.header({ name, mode: 0o777, size: 0, type: '2', linkname: target }));
  }

  finish(): Buffer {
    return Buffer.concat([...this.blocks, Buffer.alloc(1024)]);
  }

  private header(entry: { name: string; mode: number; size: number; type: string; linkname: string }): Buffer {
    if (Buffer.byteLength(entry.name) > 100) throw new Error(`tar entry name too long for ustar: ${entry.name}`);
    const block = Buffer.alloc(512);
    const octal = (value: number, width: number) => value.toString(8).padStart(width - 1, '0') + '\0';
    block.write(entry.name, 0, 100, 'utf8');
    block.write(octal(entry.mode, 8), 100, 8, 'ascii');
    block.write(octal(0, 8), 108, 8, 'ascii'); // uid
    block.write(octal(0, 8), 116, 8, 'ascii'); // gid
    block.write(octal(entry.size, 12), 124, 12, 'ascii');
    block.write(octal(this.mtime, 12), 136, 12, 'ascii');
    block.write(' '.repeat(8), 148, 8, 'ascii'); // checksum counts as spaces while it is computed
    block.write(entry.type, 156, 1, 'ascii');
    block.write(entry.linkname, 157, 100, 'utf8');
    block.write('ustar\0', 257, 6, 'ascii');
    block.write('00', 263, 2, 'ascii');
    block.write('root', 265, 32, 'ascii');
    block.write('root', 297, 32, 'ascii');
    let sum = 0;
    for (const byte of block) sum += byte;
    block.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
    return block;
  }
}
