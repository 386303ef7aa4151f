/**
 * What someone added by hand to a squad's ResourceQuota or LimitRange, which the operator's
 * forced server-side apply does not remove: apply only takes over the fields it sets, so a
 * `count/deployments.apps: "0"` added to `spec.hard` by another field manager stays, and the
 * compare-before-write check sees the desired object contained in the observed one and writes
 * nothing. These functions find such keys so the controller can remove them. Pure.
 */
import { isRecord } from "../../runtime/is-record.js";
import type { KubeObject } from "../../runtime/types.js";

/** The LimitRange item fields that hold resource lists. */
const LIST_FIELDS = ["default", "defaultRequest", "max", "min", "maxLimitRequestRatio"] as const;

/**
 * For a ResourceQuota: the merge patch that deletes the `spec.hard` keys the observed quota has
 * and the desired one does not (null deletes a key whoever set it), or undefined when there are
 * none. It carries the observed resourceVersion, so a quota changed meanwhile is re-examined.
 */
export function quotaStrayPatch(desired: KubeObject, observed: KubeObject | undefined): object | undefined {
  if (!observed || desired.kind !== "ResourceQuota") return undefined;
  const want = hardOf(desired);
  const stray = Object.keys(hardOf(observed)).filter((key) => !(key in want));
  if (stray.length === 0) return undefined;
  return {
    metadata: observed.metadata.resourceVersion ? { resourceVersion: observed.metadata.resourceVersion } : {},
    spec: { hard: Object.fromEntries(stray.sort().map((key) => [key, null])) },
  };
}

/** The stray quota keys, for the Event that says what was removed. */
export function strayQuotaKeys(patch: object): string[] {
  const hard = (patch as { spec?: { hard?: Record<string, unknown> } }).spec?.hard;
  return Object.keys(hard ?? {});
}

/**
 * For a LimitRange: whether the observed one holds an item, or a resource in an item, that the
 * desired one (as the apiserver defaults it) does not. `spec.limits` is an atomic list, so a
 * forced apply replaces it whole: the caller applies again rather than trusting the subset check.
 * Only which keys exist is compared; changed values are already seen by the subset check, and
 * comparing quantities as written would mistake `0.5` for a change of `500m`.
 */
export function limitRangeHasStrays(desired: KubeObject, observed: KubeObject | undefined): boolean {
  if (!observed || desired.kind !== "LimitRange") return false;
  const want = limitsOf(desired).map((item) => shapeOf(defaulted(item)));
  const have = limitsOf(observed).map(shapeOf);
  if (want.length !== have.length) return true;
  return have.some((shape, i) => shape !== want[i]);
}

function hardOf(obj: KubeObject): Record<string, unknown> {
  const spec = obj["spec"];
  return isRecord(spec) && isRecord(spec["hard"]) ? spec["hard"] : {};
}

function limitsOf(obj: KubeObject): Record<string, unknown>[] {
  const spec = obj["spec"];
  const limits = isRecord(spec) && Array.isArray(spec["limits"]) ? spec["limits"] : [];
  return limits.filter(isRecord);
}

/** The item's type and, per resource-list field, its resource names: what a hand edit adds. */
function shapeOf(item: Record<string, unknown>): string {
  const lists = LIST_FIELDS.map((field) => {
    const list = item[field];
    return [field, isRecord(list) ? Object.keys(list).sort() : []] as const;
  }).filter(([, keys]) => keys.length > 0);
  return JSON.stringify([item["type"] ?? "", lists]);
}

/**
 * The item as the apiserver stores it (`SetDefaults_LimitRangeItem`, core/v1): for Container
 * items a missing default limit takes the max, a missing default request takes the default
 * limit, then the min.
 */
function defaulted(item: Record<string, unknown>): Record<string, unknown> {
  if (item["type"] !== "Container") return item;
  const list = (field: string): Record<string, unknown> => {
    const value = item[field];
    return isRecord(value) ? value : {};
  };
  const def = { ...list("max"), ...list("default") };
  const defaultRequest = { ...list("min"), ...def, ...list("defaultRequest") };
  return { ...item, default: def, defaultRequest };
}
