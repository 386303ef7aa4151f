/**
 * The flagd flag-definition document (https://flagd.dev/reference/flag-definitions/) as Crescendo
 * writes it: one per namespace, in the `crescendo-flags` ConfigMap, in the OpenFeature Operator's
 * FeatureFlag, and behind the OFREP endpoint. The same serialised text feeds all three, so an app
 * reading the file with a flagd provider and an app asking over OFREP get the same answers.
 */
import { createHash } from "node:crypto";

/** The flagd schema the document declares; flagd-core validates against its bundled copy. */
export const FLAGD_SCHEMA = "https://flagd.dev/schema/v0/flags.json";

/** A variant's value. flagd allows any JSON here; FeatureToggle narrows it to one type per flag. */
export type VariantValue = boolean | string | number | { [key: string]: unknown };

/** Flag metadata: flagd's schema allows only flat string, number and boolean values. */
export type FlagMetadata = Record<string, string | number | boolean>;

/** JsonLogic as flagd evaluates it: an object whose single key names the operator. */
export type JsonLogic = { [operator: string]: unknown };

/** One flag of the document, in the shape flagd's `flags.json` schema defines. */
export interface FlagdFlag {
  state: "ENABLED" | "DISABLED";
  variants: Record<string, VariantValue>;
  defaultVariant: string;
  targeting?: JsonLogic;
  metadata?: FlagMetadata;
}

/** A whole flag set. `metadata.flagSetId` is the namespace, so evaluations say where they came from. */
export interface FlagdDocument {
  $schema: string;
  metadata: { flagSetId: string };
  flags: Record<string, FlagdFlag>;
}

/** An empty document, what a namespace without toggles serves. */
export function emptyDocument(namespace: string): FlagdDocument {
  return { $schema: FLAGD_SCHEMA, metadata: { flagSetId: namespace }, flags: {} };
}

/** Recursively sorts object keys, so equal documents serialise to equal bytes. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return Object.fromEntries(entries.map(([k, v]) => [k, canonical(v)]));
  }
  return value;
}

/**
 * The document as text, with keys sorted and two-space indentation. Sorting makes the output a
 * function of content only, so the ConfigMap is rewritten only when a flag really changes (and
 * file-mode providers, which reload on every write, are not disturbed by key-order noise).
 */
export function serializeDocument(doc: FlagdDocument): string {
  let text = serialized.get(doc);
  if (text === undefined) {
    text = `${JSON.stringify(canonical(doc), null, 2)}\n`;
    serialized.set(doc, text);
  }
  return text;
}

/**
 * Each compiled document is serialised for its etag, its ConfigMap and its evaluator; documents
 * are never mutated once compiled, so the text is computed once per document object and goes
 * with it when it is dropped.
 */
const serialized = new WeakMap<FlagdDocument, string>();

/** A hex content hash, short enough for an HTTP header and stable across processes. */
export function contentHash(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 32);
}

/**
 * The document's identity: a hash of its serialised form. Evaluators are cached under it and
 * rebuilt only when it changes.
 */
export function documentEtag(doc: FlagdDocument): string {
  return contentHash(serializeDocument(doc));
}
