// A Marathon deployment id for a Capstan rollout: the rollout an App's spec change starts is known
// by the App's uid and the generation that change gave it, so the id is derived from those two and
// can be returned (the `Marathon-Deployment-Id` header, `deploymentId`) at the moment the spec is
// written, before any controller has acted on it. Formatted as a UUID, as Marathon's ids are.
import { createHash } from 'node:crypto';

export function deploymentIdOf(uid: string, generation: number, restartedAt?: string): string {
  // A restart (the capstan.io/restartedAt annotation) changes no generation but is a deployment of
  // its own: the stamp it writes is part of the id, so each restart has a new one.
  const hex = createHash('sha1').update(restartedAt ? `${uid}:${generation}:${restartedAt}` : `${uid}:${generation}`).digest('hex');
  // Version 5 and RFC 4122 variant bits, so tools that check the shape accept it.
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
