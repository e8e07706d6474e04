// Where a container's mounts go, checked before anything is created. Both drivers share the rules on
// host paths; each has its own rule on mount paths, as in Marathon: a Docker container mounts at an
// absolute path inside its image's file system, a process container (the Mesos containerizer) at a
// path relative to its sandbox.
import { isAbsolute, join, normalize } from 'node:path';
import type { ContainerLaunch, ContainerMount } from '../driver.ts';

export type Placed<T> = { ok: true; value: T } | { ok: false; message: string };

const say = {
  hostNotAbsolute: (container: string, hostPath: string) =>
    `container ${container}: host path "${hostPath}" must be absolute; the agent gives every volume an absolute directory on the node`,
  dockerNotAbsolute: (container: string, mountPath: string) =>
    `container ${container}: mountPath "${mountPath}" must be absolute in a Docker container (e.g. /data); a relative path is only for process containers, inside their sandbox`,
  processAbsolute: (container: string, mountPath: string) =>
    `container ${container}: mountPath "${mountPath}" must be relative in a process container (e.g. data, a directory in its sandbox); an absolute path is only for Docker containers`,
  parent: (container: string, path: string) =>
    `container ${container}: "${path}" must not contain "..": a mount stays where it is named`,
  colon: (container: string, path: string) =>
    `container ${container}: "${path}" contains ":", which Docker reads as a separator in a bind; rename the directory`,
  empty: (container: string) => `container ${container}: a mountPath is empty; name a directory`,
  duplicate: (container: string, mountPath: string) => `container ${container}: two volumes are mounted at "${mountPath}"; give each its own path`,
};

/** HostConfig.Binds of a Docker container: `host:container`, `:ro` when read-only. */
export function dockerBinds(container: Pick<ContainerLaunch, 'name' | 'mounts'>): Placed<string[]> {
  const binds: string[] = [];
  for (const mount of container.mounts ?? []) {
    const problem =
      hostPathProblem(container.name, mount) ??
      (isAbsolute(mount.mountPath) ? null : say.dockerNotAbsolute(container.name, mount.mountPath)) ??
      pathProblem(container.name, mount.mountPath) ??
      colonProblem(container.name, mount);
    if (problem) return { ok: false, message: problem };
    binds.push(`${mount.hostPath}:${mount.mountPath}${mount.readOnly ? ':ro' : ''}`);
  }
  return duplicates(container.name, container.mounts ?? []) ?? { ok: true, value: binds };
}

export interface SandboxMount extends ContainerMount {
  /** Absolute: the sandbox joined with the mount path. */
  sandboxPath: string;
}

/** Where each mount of a process container lands in its sandbox. */
export function sandboxMounts(sandbox: string, container: Pick<ContainerLaunch, 'name' | 'mounts'>): Placed<SandboxMount[]> {
  const placed: SandboxMount[] = [];
  for (const mount of container.mounts ?? []) {
    const problem =
      hostPathProblem(container.name, mount) ??
      (isAbsolute(mount.mountPath) ? say.processAbsolute(container.name, mount.mountPath) : null) ??
      pathProblem(container.name, mount.mountPath);
    if (problem) return { ok: false, message: problem };
    // No trailing slash: the path names a symlink or a mount point, not a directory's contents.
    placed.push({ ...mount, sandboxPath: join(sandbox, normalize(mount.mountPath)).replace(/\/+$/, '') });
  }
  return duplicates(container.name, container.mounts ?? []) ?? { ok: true, value: placed };
}

function hostPathProblem(container: string, mount: ContainerMount): string | null {
  if (!isAbsolute(mount.hostPath)) return say.hostNotAbsolute(container, mount.hostPath);
  return pathProblem(container, mount.hostPath);
}

function pathProblem(container: string, path: string): string | null {
  const segments = path.split('/').filter((segment) => segment !== '' && segment !== '.');
  if (segments.length === 0 && !isAbsolute(path)) return say.empty(container);
  if (segments.includes('..')) return say.parent(container, path);
  return null;
}

function colonProblem(container: string, mount: ContainerMount): string | null {
  const path = [mount.hostPath, mount.mountPath].find((p) => p.includes(':'));
  return path === undefined ? null : say.colon(container, path);
}

function duplicates(container: string, mounts: readonly ContainerMount[]): Placed<never> | null {
  const seen = new Set<string>();
  for (const mount of mounts) {
    const key = normalize(mount.mountPath).replace(/\/$/, '');
    if (seen.has(key)) return { ok: false, message: say.duplicate(container, mount.mountPath) };
    seen.add(key);
  }
  return null;
}
