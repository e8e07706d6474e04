// The first half of applying a set: every document of it validated before anything is written, so a
// set is applied whole or not at all. Validation is api/manifest.ts's (each object's schema and rules,
// duplicates, and with a store the rules that span objects: unique service ports), over the input and
// the store together. Only a set without a single problem becomes a ValidSet, the one thing
// applySet (apply.ts) takes.
import { loadCustomKinds } from '../kinds/custom.ts';
import type { KindRegistry, StoreReader } from '../kinds/registry.ts';
import { validateDocuments, type ManifestDocument, type Problem } from '../manifest.ts';
import type { AnyObject } from '../object.ts';
import { leaveOutOmitted } from './plan.ts';

declare const validated: unique symbol;

/** The objects of a set in which no document has a problem, CustomKinds first. Made only by validateSet. */
export interface ValidSet {
  readonly objects: readonly AnyObject[];
  readonly [validated]: true;
}

export type SetValidation = { valid: true; set: ValidSet } | { valid: false; problems: Problem[] };

export interface ValidateSetOptions {
  /** The parsed documents, with their positions (api/manifest.ts parseManifests). */
  documents: readonly ManifestDocument[];
  /** Problems met while parsing the documents' text: they make the set invalid and come first. */
  parseProblems?: readonly Problem[];
  /** The kinds known. On success the kinds the set's CustomKinds declare are loaded into it. */
  registry: KindRegistry;
  /** Given, the rules that need the store run too (apply and diff pass it; delete -f does not). */
  store?: StoreReader;
}

/**
 * Validates the whole set. Valid: its objects, CustomKinds first (their kinds must be known before
 * objects of those kinds are written), and those kinds loaded into `registry` so the store can write
 * their objects; a KEPT_WHEN_OMITTED field its document left out is left out of its object
 * (plan.ts leaveOutOmitted), so applying it keeps the live value. Invalid: every problem, each with
 * its file:line:col, field, expected and found.
 */
export async function validateSet(options: ValidateSetOptions): Promise<SetValidation> {
  const validation = await validateDocuments(options.documents, options.registry, options.store ? { store: options.store } : {});
  const problems = [...(options.parseProblems ?? []), ...validation.problems];
  if (problems.length > 0) return { valid: false, problems };
  loadCustomKinds(options.registry, validation.objects);
  // Without a problem, every document made one object, in input order.
  const written = validation.objects.map((object, index) => leaveOutOmitted(object, options.documents[index]!.value));
  const objects = written.sort((a, b) => rank(a) - rank(b));
  return { valid: true, set: { objects } as unknown as ValidSet };
}

const rank = (object: AnyObject) => (object.kind === 'CustomKind' ? 0 : 1);
