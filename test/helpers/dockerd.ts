import { mkdtempSync, rmSync } from 'node:fs';
import Docker from 'dockerode';
import { DockerEngine } from '../../cli/local/dockerd.ts';
import { ensureBusyboxImage } from '../../cli/local/image.ts';

export const BUSYBOX = 'local/busybox:1';

export interface TestDocker {
  engine: DockerEngine;
  docker: Docker;
  dir: string;
  /** The busybox image, imported from the host's busybox-static. */
  image: string;
  /** Removes every container on this private engine, stops dockerd and removes its directory. */
  stop(): Promise<void>;
}

/** A private, real Docker Engine under a short temp dir (unix socket paths are short). Call stop() in afterAll. */
export async function startDocker(): Promise<TestDocker> {
  const dir = mkdtempSync('/tmp/cd-');
  const engine = new DockerEngine({ dir });
  try {
    await engine.start();
  } catch (error) {
    await engine.stop();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const docker = new Docker({ socketPath: engine.socketPath });
  await ensureBusyboxImage(docker, BUSYBOX);
  return {
    engine,
    docker,
    dir,
    image: BUSYBOX,
    async stop() {
      // The engine is private to this test file: everything on it was created by the test.
      const containers = await docker.listContainers({ all: true }).catch(() => []);
      await Promise.all(containers.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
      await engine.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
