// A Marathon app's container volumes ⇄ the App's volumes and the container's mounts. Marathon's
// volumes have no name; Capstan's do (a persistent volume's Volume objects are named after it), so
// each gets one derived from its containerPath (`/docker_storage` → `docker-storage`).
import type { Volume, VolumeMount } from '../kinds/app.ts';
import { DNS_LABEL, DNS_LABEL_MAX } from '../object.ts';
import type { DeepReadonly } from '../object.ts';
import { checkFields } from './fields.ts';
import type { FieldRule } from './fields.ts';
import type { Translation } from './problems.ts';

const say = {
  source: 'hostPath or persistent: Capstan has node directories and local persistent volumes (no external or secret volumes)',
  mode: 'RW or RO',
  persistentType: 'root: Capstan\'s local persistent volumes are directories of the node\'s data root (no path or mount disks)',
  list: 'a list of volumes',
};

const VOLUME_RULES: Readonly<Record<string, FieldRule>> = {
  containerPath: 'read',
  hostPath: 'read',
  mode: 'read',
  persistent: 'read',
  external: { why: 'Capstan has no external volume providers' },
  secret: { why: 'Capstan has no secret store' },
};
const PERSISTENT_RULES: Readonly<Record<string, FieldRule>> = {
  size: 'read',
  type: 'read',
  maxSize: { why: 'a Capstan persistent volume has one size', accepts: (v) => v === undefined || v === null },
  profileName: { why: 'Capstan has no disk profiles', accepts: (v) => v === undefined || v === null },
  constraints: { why: 'Capstan places persistent volumes on the node of their task, without disk constraints' },
};

/** A DNS label from a container path, unique among `taken`. */
function volumeName(containerPath: unknown, index: number, taken: Set<string>): string {
  const base =
    typeof containerPath === 'string'
      ? containerPath.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, DNS_LABEL_MAX - 4).replace(/-+$/, '')
      : '';
  let name = DNS_LABEL.test(base) ? base : `volume-${index}`;
  for (let n = 2; taken.has(name); n++) name = `${base || 'volume'}-${n}`;
  taken.add(name);
  return name;
}

export function volumesFromMarathon(t: Translation, value: unknown): { volumes: Record<string, unknown>[]; mounts: Record<string, unknown>[] } {
  const volumes: Record<string, unknown>[] = [];
  const mounts: Record<string, unknown>[] = [];
  if (value === undefined || value === null) return { volumes, mounts };
  if (!Array.isArray(value)) {
    t.problem(['container', 'volumes'], say.list, value);
    return { volumes, mounts };
  }
  const taken = new Set<string>();
  value.forEach((volume: unknown, i) => {
    const at = ['container', 'volumes', i];
    if (!checkFields(t, volume, at, 'volume', VOLUME_RULES)) return;
    const source = sourceOf(t, volume, at, volumes.length);
    if (source === undefined) return;
    if (volume.mode !== undefined && volume.mode !== 'RW' && volume.mode !== 'RO') {
      t.problem([...at, 'mode'], say.mode, volume.mode);
      return;
    }
    const name = volumeName(volume.containerPath, i, taken);
    t.from(['spec', 'volumes', volumes.length], at);
    t.from(['spec', 'containers', 0, 'volumeMounts', mounts.length], at);
    t.from(['spec', 'containers', 0, 'volumeMounts', mounts.length, 'mountPath'], [...at, 'containerPath']);
    volumes.push({ name, ...source });
    mounts.push({ name, mountPath: volume.containerPath, readOnly: volume.mode === 'RO' });
  });
  return { volumes, mounts };
}

function sourceOf(t: Translation, volume: Record<string, unknown>, at: (string | number)[], index: number): Record<string, unknown> | undefined {
  if (volume.persistent !== undefined && volume.hostPath === undefined) {
    if (!checkFields(t, volume.persistent, [...at, 'persistent'], 'persistent volume', PERSISTENT_RULES)) return undefined;
    const { type, size } = volume.persistent;
    if (type !== undefined && type !== 'root') {
      t.problem([...at, 'persistent', 'type'], say.persistentType, type);
      return undefined;
    }
    t.from(['spec', 'volumes', index, 'persistent', 'size'], [...at, 'persistent', 'size']);
    return { persistent: { size } };
  }
  if (volume.hostPath !== undefined && volume.persistent === undefined) return { hostPath: { path: volume.hostPath } };
  // external / secret were refused by the field rules already.
  if (volume.external === undefined && volume.secret === undefined) t.problem(at, say.source, volume);
  return undefined;
}

/** The App's volumes as mounted by its container, in Marathon's container.volumes form. */
export function volumesToMarathon(volumes: readonly DeepReadonly<Volume>[], mounts: readonly DeepReadonly<VolumeMount>[]): Record<string, unknown>[] {
  return mounts.flatMap((mount): Record<string, unknown>[] => {
    const volume = volumes.find((v) => v.name === mount.name);
    if (!volume) return [];
    const mode = mount.readOnly ? 'RO' : 'RW';
    if (volume.persistent) return [{ containerPath: mount.mountPath, mode, persistent: { type: 'root', size: volume.persistent.size, constraints: [] } }];
    if (volume.hostPath) return [{ containerPath: mount.mountPath, hostPath: volume.hostPath.path, mode }];
    // An ephemeral volume has no Marathon app form: it is a pod's.
    return [];
  });
}
