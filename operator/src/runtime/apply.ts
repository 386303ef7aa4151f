/**
 * Compare-before-write: a reconcile that changes nothing writes nothing. Desired
 * objects are server-side applied only when they are not already contained in what the
 * informer observed; statuses are patched only when they differ. Fewer writes mean fewer
 * watch events, fewer reconciles and no resourceVersion churn for GitOps tools to notice.
 */
import { apiVersionOf, type KubeClient } from "./client.js";
import { isRecord } from "./is-record.js";
import { stableHash } from "./stable-hash.js";
import type { KubeObject, Resource } from "./types.js";

export const FIELD_MANAGER = "crescendo";

/**
 * A hash of the last applied desired object, kept on the object. "Desired ⊆ observed" cannot
 * see a field the operator stopped setting (server-side apply would remove it, a subset check
 * passes); a changed hash can, so a removal is applied on the next reconcile.
 */
export const APPLIED_HASH_ANNOTATION = "crescendo.dev/applied-hash";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: unknown };
type JsonMap = { [key: string]: Json };

/*
 * Every comparison below runs on each reconcile of each object and nearly always finds nothing
 * changed, so it reads the values where they are and allocates nothing (objects can be a
 * ConfigMap holding a 50 KB document, or a status listing a hundred Releases; cloning them on
 * every compare grew the heap far beyond the live data). Only a difference, which leads to a
 * write anyway, builds anything.
 *
 * The values are JSON as the informer decoded it or as a reconciler built it from plain
 * literals. The comparisons see them as `JSON.stringify` would send them: an object member whose
 * value is undefined is absent, an undefined array element (or hole) is null, and only own
 * members count, so "constructor" or "__proto__" is an ordinary key. Values that
 * `JSON.stringify` would otherwise transform (Date and other `toJSON` objects, NaN, Infinity,
 * functions, Maps) do not occur in our objects and are not handled.
 */

/**
 * Server-side applies `desired` (field manager `crescendo`, forced) unless `observed` already
 * contains it. Returns whether a write happened. Without `observed` (not in the cache yet) it
 * always applies: when unsure, apply.
 */
export async function applyIfChanged<T extends KubeObject>(
  client: Pick<KubeClient, "apply">,
  desired: T,
  res: Resource,
  observed?: KubeObject,
): Promise<boolean> {
  const body = withAppliedHash({
    ...desired,
    apiVersion: desired.apiVersion ?? apiVersionOf(res),
    kind: desired.kind ?? res.kind,
  });
  if (observed && containsDesired(body, observed)) return false;
  await client.apply(body, res, { fieldManager: FIELD_MANAGER, force: true });
  return true;
}

/**
 * Patches `status` through the `/status` subresource when it differs from the primary's
 * observed status (deep equality, key order ignored). The JSON merge patch nulls fields that
 * disappeared and carries the observed resourceVersion, so a status computed from a stale
 * snapshot fails with 409 (and is requeued) instead of overwriting a newer object. A null member
 * of an object in `status` means "absent", as in the patch itself, so it is not rewritten on
 * every reconcile. The diff is also the equality check: equal statuses allocate nothing.
 */
export async function applyStatusIfChanged(
  client: Pick<KubeClient, "mergePatch">,
  primary: KubeObject,
  res: Resource,
  status: unknown,
): Promise<boolean> {
  return (await patchStatusIfChanged(client, primary, res, status)).written;
}

/** What `patchStatusIfChanged` did: nothing, or a write and the server's answer to it. */
export type StatusWrite = { written: false } | { written: true; response: KubeObject | undefined };

/** `applyStatusIfChanged`, with the server's answer (what the informer will show) when it wrote. */
export async function patchStatusIfChanged(
  client: Pick<KubeClient, "mergePatch">,
  primary: KubeObject,
  res: Resource,
  status: unknown,
): Promise<StatusWrite> {
  const patch = diff(primary["status"] ?? {}, status ?? {}, "absent");
  if (patch === undefined) return { written: false };
  const { name, namespace, resourceVersion } = primary.metadata;
  const body = { ...(resourceVersion ? { metadata: { resourceVersion } } : {}), status: patch };
  const response = await client.mergePatch(res, name ?? "", namespace, body, { subresource: "status" });
  return { written: true, response };
}

/**
 * True when every field the operator sets in `desired` already has that value in `observed`.
 * Identity (apiVersion, kind, name, namespace) and `status` are not compared; extra fields in
 * `observed` (defaults, other managers' fields) are allowed.
 */
export function containsDesired(desired: KubeObject, observed: KubeObject): boolean {
  for (const key in desired) {
    if (key === "apiVersion" || key === "kind" || key === "status") continue;
    if (!fieldContained(key, member(desired, key), observed)) return false;
  }
  return true;
}

function fieldContained(key: string, value: unknown, observed: KubeObject): boolean {
  if (key === "metadata") return metadataContained(value, observed.metadata);
  if (key === "stringData") return stringDataMatches(value, member(observed, "data"));
  const mode = key === "data" || key === "binaryData" ? "exact" : "spec";
  return isSubset(value, member(observed, key), mode);
}

/** Metadata other than name and namespace (identity, not compared), exactly. */
function metadataContained(desired: unknown, observed: unknown): boolean {
  if (!isRecord(observed)) return false;
  const meta = desired as JsonObject;
  for (const key in meta) {
    if (key === "name" || key === "namespace") continue;
    if (!isSubset(member(meta, key), member(observed, key), "exact")) return false;
  }
  return true;
}

/**
 * Deep "desired ⊆ observed". Objects may have extra keys; arrays must match element by element
 * (an extra element is a difference: when unsure, apply). In `"spec"` mode a zero value (false,
 * 0, "", [], {}, null) equals an absent field, since Go's `omitempty` drops them, and "1000m"
 * equals "1" and 2 equals "2", since the apiserver canonicalises quantities. `"exact"` mode
 * (metadata, ConfigMap data) compares values as they are.
 */
export function isSubset(desired: unknown, observed: unknown, mode: "spec" | "exact" = "spec"): boolean {
  if (desired === undefined) return true;
  if (observed === undefined || observed === null)
    return mode === "spec" ? isZero(desired) : desired === observed;
  if (Array.isArray(desired)) return Array.isArray(observed) && elementsSubset(desired, observed, mode);
  if (isRecord(desired)) return isRecord(observed) && membersSubset(desired, observed, mode);
  if (desired === observed) return true;
  return mode === "spec" && sameQuantity(desired, observed);
}

function elementsSubset(
  desired: readonly unknown[],
  observed: readonly unknown[],
  mode: "spec" | "exact",
): boolean {
  if (desired.length !== observed.length) return false;
  for (let i = 0; i < desired.length; i++) {
    if (!isSubset(element(desired, i), element(observed, i), mode)) return false;
  }
  return true;
}

function membersSubset(desired: JsonObject, observed: JsonObject, mode: "spec" | "exact"): boolean {
  for (const key in desired) {
    if (!isSubset(member(desired, key), member(observed, key), mode)) return false;
  }
  return true;
}

/** Deep equality of JSON values, ignoring key order and treating undefined keys as absent. */
export function deepEqual(a: unknown, b: unknown): boolean {
  return mergePatchDiff(a, b) === undefined;
}

/**
 * The RFC 7386 merge patch turning `from` into `to`, or undefined when they are equal. Removed
 * keys become null; arrays and scalars are replaced whole. The patch shares nothing with `to`.
 */
export function mergePatchDiff(from: unknown, to: unknown): Json | undefined {
  return diff(from ?? null, to ?? null, "keep");
}

/**
 * How null members of objects in `to` read: as values ("keep"), or as absent ("absent"), as a
 * merge patch reads them. "absent" reaches through objects only: elements of an array (replaced
 * whole by a patch) are compared and sent as they are.
 */
type Nulls = "keep" | "absent";

/** `mergePatchDiff`, reading `to` as `nulls` says. Equal values allocate nothing. */
function diff(from: unknown, to: unknown, nulls: Nulls): Json | undefined {
  if (isRecord(from) && isRecord(to)) return objectDiff(from, to, nulls);
  if (Array.isArray(from) && Array.isArray(to)) return sameElements(from, to) ? undefined : copyOf(to, nulls);
  return from === to ? undefined : copyOf(to, nulls);
}

/** The patch object is created at the first difference, so equal objects allocate nothing. */
function objectDiff(from: JsonObject, to: JsonObject, nulls: Nulls): Json | undefined {
  let patch: JsonMap | undefined;
  for (const key in to) {
    const value = present(to, key, nulls);
    if (value === undefined) continue;
    const old = member(from, key);
    const change = old === undefined ? copyOf(value, nulls) : diff(old, value, nulls);
    if (change !== undefined) patch = withMember(patch, key, change);
  }
  for (const key in from) {
    if (member(from, key) !== undefined && present(to, key, nulls) === undefined) {
      patch = withMember(patch, key, null);
    }
  }
  return patch;
}

function sameElements(from: readonly unknown[], to: readonly unknown[]): boolean {
  if (from.length !== to.length) return false;
  for (let i = 0; i < from.length; i++) {
    if (diff(element(from, i), element(to, i), "keep") !== undefined) return false;
  }
  return true;
}

/** A member of `obj` as `to` of a diff reads it: undefined when absent. */
function present(obj: JsonObject, key: string, nulls: Nulls): unknown {
  const value = member(obj, key);
  return nulls === "absent" && value === null ? undefined : value;
}

/** defineProperty, not assignment: "__proto__" is an ordinary key in JSON. */
function withMember(patch: JsonMap | undefined, key: string, value: Json): JsonMap {
  const out = patch ?? {};
  Object.defineProperty(out, key, { value, enumerable: true });
  return out;
}

/** What a patch carries for `value`: its JSON form, with null members dropped when they mean "absent". */
function copyOf(value: unknown, nulls: Nulls): Json {
  const json = toJson(value) ?? null;
  return nulls === "absent" ? withoutNulls(json) : json;
}

function withAppliedHash<T extends KubeObject>(desired: T): T {
  const { [APPLIED_HASH_ANNOTATION]: _old, ...annotations } = desired.metadata.annotations ?? {};
  const bare = { ...desired, metadata: { ...desired.metadata, annotations } };
  const digest = stableHash(bare).slice(0, 16);
  return {
    ...bare,
    metadata: { ...bare.metadata, annotations: { ...annotations, [APPLIED_HASH_ANNOTATION]: digest } },
  };
}

/** Secrets return `stringData` as base64 `data`; compare decoded values. */
function stringDataMatches(stringData: unknown, data: unknown): boolean {
  if (!isRecord(stringData)) return stringData === undefined;
  for (const key in stringData) {
    const encoded = isRecord(data) ? member(data, key) : undefined;
    if (typeof encoded !== "string") return false;
    if (Buffer.from(encoded, "base64").toString("utf8") !== member(stringData, key)) return false;
  }
  return true;
}

/** In a merge patch null means "absent"; dropping nulls keeps a null field from being rewritten forever. */
function withoutNulls(value: Json): Json {
  if (!isRecord(value)) return value;
  const out: JsonMap = {};
  for (const [k, v] of Object.entries(value)) {
    if (v !== null) Object.defineProperty(out, k, { value: withoutNulls(v as Json), enumerable: true });
  }
  return out;
}

/** A copy in JSON form, for the (rare) patch that is sent. */
function toJson(value: unknown): Json | undefined {
  return value === undefined ? undefined : (JSON.parse(JSON.stringify(value)) as Json);
}

/** Own members only: a key such as "constructor" must not find Object.prototype's. */
function member(obj: object, key: string): unknown {
  return Object.hasOwn(obj, key) ? (obj as JsonObject)[key] : undefined;
}

/** An array element as JSON reads it: undefined (or a hole) is null. */
function element(array: readonly unknown[], index: number): unknown {
  return array[index] ?? null;
}

/** Go's `omitempty` zero values; an object whose members are all undefined is empty. */
function isZero(value: unknown): boolean {
  if (value === null || value === false || value === 0 || value === "") return true;
  if (Array.isArray(value)) return value.length === 0;
  if (!isRecord(value)) return false;
  for (const key in value) if (member(value, key) !== undefined) return false;
  return true;
}

const QUANTITY = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(?:[eE]([+-]?\d+))?(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$/;
const DECIMAL_SUFFIX: Record<string, number> = {
  n: -9,
  u: -6,
  m: -3,
  "": 0,
  k: 3,
  M: 6,
  G: 9,
  T: 12,
  P: 15,
  E: 18,
};
const BINARY_SUFFIX: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };

/** Exact comparison of two Kubernetes quantities, as (mantissa × 2^a × 10^b) in BigInt. */
function sameQuantity(a: unknown, b: unknown): boolean {
  const x = parseQuantity(a);
  const y = parseQuantity(b);
  if (!x || !y) return false;
  // x.m * 2^x.p2 * 10^x.p10 == y.m * 2^y.p2 * 10^y.p10, with every exponent made non-negative.
  const p2 = Math.min(x.p2, y.p2);
  const p10 = Math.min(x.p10, y.p10);
  const scale = (q: Quantity) => q.m * 2n ** BigInt(q.p2 - p2) * 10n ** BigInt(q.p10 - p10);
  return scale(x) === scale(y);
}

interface Quantity {
  m: bigint;
  p2: number;
  p10: number;
}

function parseQuantity(value: unknown): Quantity | undefined {
  const text = typeof value === "number" ? String(value) : typeof value === "string" ? value : undefined;
  const match = text === undefined ? null : QUANTITY.exec(text);
  if (!match) return undefined;
  const [, sign = "", number = "", exponent = "0", suffix = ""] = match;
  const [whole = "", fraction = ""] = number.split(".");
  if (suffix !== "" && match[3] !== undefined) return undefined;
  const m = BigInt(`${sign}${whole}${fraction}` || "0");
  const p10 = Number(exponent) - fraction.length + (DECIMAL_SUFFIX[suffix] ?? 0);
  return { m, p2: BINARY_SUFFIX[suffix] ?? 0, p10 };
}
