/**
 * Compare-before-write (DESIGN §2): a reconcile that changes nothing writes nothing. Desired
 * objects are server-side applied only when they are not already contained in what the
 * informer observed; statuses are patched only when they differ. Fewer writes mean fewer
 * watch events, fewer reconciles and no resourceVersion churn for GitOps tools to notice.
 */
import { createHash } from "node:crypto";
import { apiVersionOf, type KubeClient } from "./client.js";
import type { KubeObject, Resource } from "./types.js";

export const FIELD_MANAGER = "crescendo";

/**
 * A hash of the last applied desired object, kept on the object. "Desired ⊆ observed" cannot
 * see a field the operator stopped setting (server-side apply would remove it, a subset check
 * passes); a changed hash can, so a removal is applied on the next reconcile.
 */
export const APPLIED_HASH_ANNOTATION = "crescendo.dev/applied-hash";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

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
 * snapshot fails with 409 (and is requeued) instead of overwriting a newer object.
 */
export async function applyStatusIfChanged(
  client: Pick<KubeClient, "mergePatch">,
  primary: KubeObject,
  res: Resource,
  status: unknown,
): Promise<boolean> {
  const patch = mergePatchDiff(toJson(primary["status"]) ?? {}, withoutNulls(toJson(status) ?? {}));
  if (patch === undefined) return false;
  const { name, namespace, resourceVersion } = primary.metadata;
  const body = { ...(resourceVersion ? { metadata: { resourceVersion } } : {}), status: patch };
  await client.mergePatch(res, name ?? "", namespace, body, { subresource: "status" });
  return true;
}

/**
 * True when every field the operator sets in `desired` already has that value in `observed`.
 * Identity (apiVersion, kind, name, namespace) and `status` are not compared; extra fields in
 * `observed` (defaults, other managers' fields) are allowed.
 */
export function containsDesired(desired: KubeObject, observed: KubeObject): boolean {
  for (const [key, value] of Object.entries(desired)) {
    if (key === "apiVersion" || key === "kind" || key === "status") continue;
    if (key === "metadata") {
      const { name: _n, namespace: _ns, ...meta } = desired.metadata;
      if (!isSubset(toJson(meta), toJson(observed.metadata), "exact")) return false;
    } else if (key === "stringData") {
      if (!stringDataMatches(value, observed["data"])) return false;
    } else {
      const mode = key === "data" || key === "binaryData" ? "exact" : "spec";
      if (!isSubset(toJson(value), toJson(observed[key]), mode)) return false;
    }
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
export function isSubset(
  desired: Json | undefined,
  observed: Json | undefined,
  mode: "spec" | "exact" = "spec",
): boolean {
  if (desired === undefined) return true;
  if (observed === undefined || observed === null)
    return mode === "spec" ? isZero(desired) : desired === observed;
  if (Array.isArray(desired)) {
    return (
      Array.isArray(observed) &&
      desired.length === observed.length &&
      desired.every((d, i) => isSubset(d, observed[i], mode))
    );
  }
  if (isObject(desired)) {
    if (!isObject(observed)) return false;
    return Object.entries(desired).every(([k, d]) => isSubset(d, own(observed, k), mode));
  }
  if (desired === observed) return true;
  return mode === "spec" && sameQuantity(desired, observed);
}

/** Deep equality of JSON values, ignoring key order and treating undefined keys as absent. */
export function deepEqual(a: unknown, b: unknown): boolean {
  return mergePatchDiff(toJson(a) ?? null, toJson(b) ?? null) === undefined;
}

function jsonEqual(a: Json, b: Json): boolean {
  return mergePatchDiff(a, b) === undefined;
}

/**
 * The RFC 7386 merge patch turning `from` into `to`, or undefined when they are equal. Removed
 * keys become null; arrays and scalars are replaced whole.
 */
export function mergePatchDiff(from: Json, to: Json): Json | undefined {
  if (isObject(from) && isObject(to)) {
    const patch: { [key: string]: Json } = {};
    const set = (k: string, v: Json): void =>
      void Object.defineProperty(patch, k, { value: v, enumerable: true });
    for (const [k, v] of Object.entries(to)) {
      const old = own(from, k);
      const d = old === undefined ? v : mergePatchDiff(old, v);
      if (d !== undefined) set(k, d);
    }
    for (const k of Object.keys(from)) if (!Object.hasOwn(to, k)) set(k, null);
    return Object.keys(patch).length > 0 ? patch : undefined;
  }
  if (Array.isArray(from) && Array.isArray(to)) {
    const same = from.length === to.length && from.every((f, i) => jsonEqual(f, to[i] as Json));
    return same ? undefined : to;
  }
  return from === to ? undefined : to;
}

function withAppliedHash<T extends KubeObject>(desired: T): T {
  const { [APPLIED_HASH_ANNOTATION]: _old, ...annotations } = desired.metadata.annotations ?? {};
  const bare = { ...desired, metadata: { ...desired.metadata, annotations } };
  const hash = createHash("sha256")
    .update(stableStringify(toJson(bare) ?? null))
    .digest("hex")
    .slice(0, 16);
  return {
    ...bare,
    metadata: { ...bare.metadata, annotations: { ...annotations, [APPLIED_HASH_ANNOTATION]: hash } },
  };
}

function stableStringify(value: Json): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(",")}]`;
  if (isObject(value)) {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${stableStringify(value[k] as Json)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** Secrets return `stringData` as base64 `data`; compare decoded values. */
function stringDataMatches(stringData: unknown, data: unknown): boolean {
  if (!isObject(toJson(stringData))) return stringData === undefined;
  const observed = isObject(toJson(data)) ? (data as Record<string, unknown>) : {};
  return Object.entries(stringData as Record<string, unknown>).every(([k, v]) => {
    const encoded = observed[k];
    return typeof encoded === "string" && Buffer.from(encoded, "base64").toString("utf8") === v;
  });
}

/** In a merge patch null means "absent"; dropping nulls keeps a null field from being rewritten forever. */
function withoutNulls(value: Json): Json {
  if (!isObject(value)) return value;
  const out: { [key: string]: Json } = {};
  for (const [k, v] of Object.entries(value)) {
    if (v !== null) Object.defineProperty(out, k, { value: withoutNulls(v), enumerable: true });
  }
  return out;
}

function toJson(value: unknown): Json | undefined {
  return value === undefined ? undefined : (JSON.parse(JSON.stringify(value)) as Json);
}

/** Own properties only: a key such as "constructor" must not find Object.prototype's. */
function own(obj: { [key: string]: Json }, key: string): Json | undefined {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

function isObject(value: Json | undefined): value is { [key: string]: Json } {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isZero(value: Json): boolean {
  if (value === null || value === false || value === 0 || value === "") return true;
  if (Array.isArray(value)) return value.length === 0;
  return isObject(value) && Object.keys(value).length === 0;
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
function sameQuantity(a: Json, b: Json): boolean {
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

function parseQuantity(value: Json): Quantity | undefined {
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
