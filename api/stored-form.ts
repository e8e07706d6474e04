// An object as its keys hold it, and back. The spec key holds the envelope and the spec without
// binding fields or resourceVersion; the status key the status; the binding key (kinds with
// KindDefinition.binding) the binding fields. Reading joins them; writing splits them. Pure: the
// store's transactions (store.ts) and batched writes (store-batch.ts) are built from these.
import { randomUUID } from 'node:crypto';
import { StoreError } from './errors.ts';
import { bindingKey, specKey, statusKey } from './keys.ts';
import type { KindDefinition } from './kinds/registry.ts';
import { deepEqual } from './merge.ts';
import type { AnyObject, ObjectMeta } from './object.ts';
import { API_VERSION, DEFAULT_NAMESPACE } from './object.ts';
import { deleteOp, putOp, type RawKv, type RawTxnOp } from './txn.ts';

/** The namespace an object of the kind lives in: the default when unnamed, none for a cluster kind. */
export function namespaceOf(definition: KindDefinition, namespace: string | undefined): string | undefined {
  return definition.namespaced ? namespace || DEFAULT_NAMESPACE : undefined;
}

/** Validates the spec with the kind's schema (defaults applied) and normalises the envelope. */
export function prepare<T extends AnyObject>(definition: KindDefinition, object: T): T {
  const namespace = namespaceOf(definition, object.metadata?.namespace);
  const key = specKey(definition, namespace, object.metadata?.name ?? '');
  if (!object.metadata?.name) throw new StoreError('Invalid', key, 'metadata.name is required');
  const parsed = definition.spec.safeParse(object.spec ?? {});
  if (!parsed.success) {
    const detail = parsed.error.issues.map((issue) => `spec.${issue.path.join('.')}: ${issue.message}`).join('; ');
    throw new StoreError('Invalid', key, detail);
  }
  const metadata: ObjectMeta = { ...object.metadata };
  if (namespace) metadata.namespace = namespace;
  else delete metadata.namespace;
  return { ...object, apiVersion: object.apiVersion ?? API_VERSION, kind: definition.kind, metadata, spec: parsed.data };
}

/** What creating an object writes, and the object as created once the write landed at `revision`. */
export interface Creation {
  /** The spec key: the creation is conditioned on it not existing. */
  key: string;
  puts: RawTxnOp[];
  created: (revision: string) => AnyObject;
}

/**
 * Creating `object`: uid, generation 1 and creationTimestamp are set here, whatever the caller sent;
 * a status given with it is written too, and so is a binding its spec names. For a kind with
 * bindings the binding's finalizer is added, and an unbound object's binding key is cleared: a key
 * left by something that removed an earlier object of the same name behind the store's back must not
 * bind this one.
 */
export function creationOf(definition: KindDefinition, object: AnyObject): Creation {
  const prepared = prepare(definition, object);
  const namespace = prepared.metadata.namespace;
  const key = specKey(definition, namespace, prepared.metadata.name);
  const metadata: ObjectMeta = {
    ...prepared.metadata,
    uid: randomUUID(),
    generation: 1,
    creationTimestamp: new Date().toISOString(),
  };
  delete metadata.resourceVersion;
  delete metadata.deletionTimestamp;
  const finalizer = definition.binding?.finalizer;
  if (finalizer && !metadata.finalizers?.includes(finalizer)) metadata.finalizers = [...(metadata.finalizers ?? []), finalizer];
  const { spec, binding } = splitBinding(definition, prepared.spec);
  const stored = { apiVersion: prepared.apiVersion, kind: definition.kind, metadata, spec };
  const puts: RawTxnOp[] = [putOp(key, stored)];
  if (object.status !== undefined) puts.push(putOp(statusKey(definition, namespace, metadata.name), object.status));
  if (definition.binding) {
    const bKey = bindingKey(definition, namespace, metadata.name);
    puts.push(binding ? putOp(bKey, binding) : deleteOp(bKey));
  }
  return {
    key,
    puts,
    created: (revision) => ({ ...stored, metadata: { ...metadata, resourceVersion: revision }, spec: prepared.spec, status: object.status }),
  };
}

/** Builds an object from its spec key and (optional) status and binding keys, as stored. */
export function decode(spec: RawKv, status: RawKv | undefined, binding: RawKv | undefined): AnyObject {
  const object = JSON.parse(spec.value.toString()) as AnyObject;
  let revision = BigInt(spec.mod_revision);
  for (const kv of [status, binding]) if (kv && BigInt(kv.mod_revision) > revision) revision = BigInt(kv.mod_revision);
  object.metadata.resourceVersion = String(revision);
  if (status) object.status = JSON.parse(status.value.toString());
  if (binding) object.spec = { ...(object.spec as object), ...(JSON.parse(binding.value.toString()) as object) };
  return object;
}

/** What the spec key stores of an object: no binding fields (the binding key has them), no resourceVersion, no status. */
export function specKeyValue(definition: KindDefinition, object: AnyObject): AnyObject {
  const { resourceVersion: _ignored, ...metadata } = object.metadata;
  const { status: _status, ...rest } = object;
  const spec = definition.binding ? splitBinding(definition, object.spec).spec : object.spec;
  return { ...rest, metadata, spec };
}

/** A spec's binding fields, or undefined when it has none (not bound). */
export function bindingOf(definition: KindDefinition, spec: unknown): Record<string, unknown> | undefined {
  const fields = definition.binding?.fields;
  if (!fields) return undefined;
  const source = spec as Record<string, unknown>;
  let binding: Record<string, unknown> | undefined;
  for (const field of fields) if (source[field] !== undefined) (binding ??= {})[field] = source[field];
  return binding;
}

/** A spec apart: what its spec key stores (no binding fields) and its binding. */
function splitBinding(definition: KindDefinition, spec: unknown): { spec: unknown; binding?: Record<string, unknown> } {
  const binding = bindingOf(definition, spec);
  if (!binding) return { spec };
  const stored = { ...(spec as Record<string, unknown>) };
  for (const field of definition.binding!.fields) delete stored[field];
  return { spec: stored, binding };
}

/**
 * `desired` with `current`'s binding: a spec write may leave binding fields out (they keep their
 * value) but not change them, since only bindMany writes a binding, and only once.
 */
export function keepBinding<T extends AnyObject>(definition: KindDefinition, key: string, current: T, desired: T): T {
  if (!definition.binding) return desired;
  const bound = bindingOf(definition, current.spec);
  const asked = bindingOf(definition, desired.spec);
  if (asked && !deepEqual(asked, bound)) {
    const fields = definition.binding.fields.map((field) => `spec.${field}`).join(', ');
    throw new StoreError('Invalid', key, `${fields} are written once, by binding (Store.bindMany), not by an update`);
  }
  return asked || !bound ? desired : { ...desired, spec: { ...(desired.spec as object), ...bound } };
}
