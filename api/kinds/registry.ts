// The kind registry: what the store, the informers, the CLI and the controller runtime know about a
// kind. Built-in kinds register a zod schema in code; users register theirs either the same way (a
// controller written in TypeScript) or with no code at all by applying a CustomKind object, whose
// JSON Schema the CLI and the controllers load from the store (see ./custom.ts).
import type { z } from 'zod';
import type { AnyObject } from '../object.ts';

/** One thing wrong with one field. `path` is relative to the object root, e.g. ['spec', 'ports', 0, 'name']. */
export interface FieldProblem {
  path: (string | number)[];
  expected: string;
  found: string;
  /**
   * Other fields a cross-field finding rests on (a health check's port index rests on spec.ports):
   * when one of them has a schema problem, manifest validation drops the finding rather than judge
   * against the default it stood in for that field.
   */
  reads?: (string | number)[][];
}

/** What a store-dependent check may read: enough to look at other objects, nothing to write with. */
export interface StoreReader {
  list(kind: string, options?: { namespace?: string }): Promise<{ items: AnyObject[] }>;
}

export interface Column {
  header: string;
  /** Shown only with `-o wide`. */
  wide?: boolean;
  value(object: AnyObject): string;
}

export interface KindDefinition {
  apiVersion: string;
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  namespaced: boolean;
  /** Parses a spec, applying defaults. Errors are reported through the zod issues' paths. */
  spec: z.ZodType;
  /** Optional: a status schema, used by tests and `describe`; controllers own status. */
  status?: z.ZodType;
  /** Cross-field rules the schema cannot say. Receives the defaulted spec. */
  check?(object: AnyObject): FieldProblem[];
  /** Rules that need other objects (uniqueness across the cluster), run at apply time. */
  checkAgainstStore?(object: AnyObject, store: StoreReader): Promise<FieldProblem[]>;
  /**
   * Spec fields written once, by binding (a Task's nodeName and hostPorts), and stored in a key of
   * their own (api/keys.ts bindingKey) that the store and the informers join into the spec. An
   * object of such a kind carries `finalizer` from its creation, for whoever runs it once bound;
   * deleting an object that was never bound drops that finalizer at once, as Kubernetes deletes an
   * unscheduled pod without waiting for a kubelet.
   */
  binding?: { fields: readonly string[]; finalizer: string };
  /** Extra `get` columns after NAME (and NAMESPACE with -A). AGE is always appended. */
  columns?: Column[];
}

/** What to do about a kind no one registered, said wherever an unknown kind is reported. */
export const HOW_KINDS_ARE_REGISTERED =
  'A kind a controller defines (defineKind) is known once that controller has started, which installs its CustomKind; a kind with no code is registered by `capstan apply -f` of a CustomKind';

export class UnknownKindError extends Error {
  override readonly name = 'UnknownKindError';
  constructor(readonly kind: string, known: string[]) {
    super(`unknown kind "${kind}": known kinds are ${known.join(', ')}. ${HOW_KINDS_ARE_REGISTERED}`);
  }
}

export class KindRegistry {
  private readonly byKind = new Map<string, KindDefinition>();
  private readonly byAlias = new Map<string, KindDefinition>();

  register(definition: KindDefinition): this {
    const existing = this.byKind.get(definition.kind);
    if (existing && existing !== definition) this.unregister(existing.kind);
    this.byKind.set(definition.kind, definition);
    const aliases = [definition.kind, definition.plural, definition.singular, ...definition.shortNames];
    for (const alias of aliases) this.byAlias.set(alias.toLowerCase(), definition);
    return this;
  }

  unregister(kind: string): void {
    const definition = this.byKind.get(kind);
    if (!definition) return;
    this.byKind.delete(kind);
    for (const [alias, d] of this.byAlias) if (d === definition) this.byAlias.delete(alias);
  }

  /** Resolves a kind by its name, plural, singular or short name, case-insensitively. */
  find(nameOrAlias: string): KindDefinition | undefined {
    return this.byKind.get(nameOrAlias) ?? this.byAlias.get(nameOrAlias.toLowerCase());
  }

  get(nameOrAlias: string): KindDefinition {
    const definition = this.find(nameOrAlias);
    if (!definition) throw new UnknownKindError(nameOrAlias, this.kinds().map((d) => d.kind));
    return definition;
  }

  kinds(): KindDefinition[] {
    return [...this.byKind.values()];
  }
}
