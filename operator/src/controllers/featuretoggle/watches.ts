/**
 * What the FeatureToggle controller watches, as pure functions: which namespace keys an event
 * of each kind maps to, and which events are worth a reconcile at all. Keys are namespaces (see
 * `controller.ts`); most writes of the watched kinds (a Release's weight steps, a Squad's
 * status, the controller's own toggle status writes) cannot change a toggle and are dropped here.
 */
import { LABELS } from "../../api/common.js";
import { squadToggles, toggleGuardRelease } from "../../api/raw-spec.js";
import { deepEqual } from "../../runtime/apply.js";
import { FEATURE_FLAG_CRD, FeatureFlagResource } from "../../runtime/resources.js";
import {
  objectKey,
  type KubeObject,
  type ObjectKey,
  type ReadStore,
  type StoreEvent,
} from "../../runtime/types.js";
import { FLAGS_OBJECT_NAME, type RawRelease, type RawSquad, type RawToggle } from "./plan.js";

/**
 * Whether a Release event can change anything about the toggles it guards: its phase moved
 * (the kill decision reads the phase), or it appeared or went (a missing guard is reported in
 * the toggle's status), or the store was relisted. A rollout rewrites its Release for every
 * weight step and measurement; none of those can kill or re-arm a toggle.
 */
export function guardPhaseChanged(event: StoreEvent<RawRelease>): boolean {
  if (event.type !== "upsert" || !event.previous) return true;
  return event.previous.status?.phase !== event.object.status?.phase;
}

/** The namespaces of the squad that owns `namespace` (by its label), or just `namespace`. */
export function squadNamespaces(namespaces: ReadStore, namespace: string): string[] {
  const squad = namespaces.get(namespace)?.metadata.labels?.[LABELS.squad];
  const names = squad ? namespaces.byLabel(LABELS.squad, squad).map((ns) => ns.metadata.name ?? "") : [];
  return [...new Set([namespace, ...names])];
}

/**
 * Whether a toggle event is worth reconciling its namespaces: anything but a status write, or a
 * status write that changed its effective state (the squad's active limit counts toggles by it,
 * across namespaces). The other status writes are the controller's own (a status never needs a
 * second pass), and they were most of the namespace reconciles: a hundred toggles in a namespace
 * meant a hundred reconciles of all hundred when they first got their status.
 */
export function toggleChanged(event: StoreEvent<RawToggle>): boolean {
  if (event.type !== "upsert" || !event.previous) return true;
  const before = event.previous;
  const after = event.object;
  return (
    before.metadata.generation !== after.metadata.generation ||
    before.metadata.deletionTimestamp !== after.metadata.deletionTimestamp ||
    !deepEqual(before.metadata.annotations ?? {}, after.metadata.annotations ?? {}) ||
    !deepEqual(before.metadata.labels ?? {}, after.metadata.labels ?? {}) ||
    before.status?.effectiveState !== after.status?.effectiveState
  );
}

/**
 * A toggle concerns its namespace, and the squad's other namespaces too: the squad's active
 * limit ranks all of its toggles together, so enabling one can push another over.
 */
export function namespacesOfToggle(namespaces: ReadStore): (toggle: RawToggle) => ObjectKey[] {
  return (toggle) => squadNamespaces(namespaces, toggle.metadata.namespace ?? "");
}

/** The `crescendo-flags` ConfigMap (or FeatureFlag) concerns its namespace. */
export function namespaceOfFlagsObject(obj: KubeObject): ObjectKey[] {
  return obj.metadata.name === FLAGS_OBJECT_NAME && obj.metadata.namespace ? [obj.metadata.namespace] : [];
}

/** The toggle store's index of guards: a toggle is filed under its guard Release's key. */
export const GUARD_RELEASE_INDEX = "featuretoggle/guard-release";

/**
 * Files a toggle under `namespace/name` of the Release its `spec.guard.release` names, read
 * from the raw spec leniently, since an invalid toggle still names its guard. A Release event
 * then costs an index lookup instead of a scan of its namespace's toggles, which over a rollout
 * (every weight step rewrites the Release) was quadratic.
 */
export function guardReleaseIndex(toggle: RawToggle): string[] {
  const release = toggleGuardRelease(toggle);
  return release === undefined ? [] : [`${toggle.metadata.namespace ?? ""}/${release}`];
}

/**
 * A Release concerns its namespace only when a toggle there names it as its guard. Reads the
 * toggle store's `GUARD_RELEASE_INDEX`, which the store updates before any subscriber hears of
 * the toggle's change.
 */
export function namespaceOfGuardRelease(toggles: ReadStore<RawToggle>): (release: RawRelease) => ObjectKey[] {
  return (release) =>
    toggles.byIndex(GUARD_RELEASE_INDEX, objectKey(release)).length > 0
      ? [release.metadata.namespace ?? ""]
      : [];
}

/** A Squad's policy concerns every namespace it owns (by the Namespace label). */
export function namespacesOfSquad(namespaces: ReadStore): (squad: RawSquad) => ObjectKey[] {
  return (squad) =>
    namespaces.byLabel(LABELS.squad, squad.metadata.name ?? "").map((ns) => ns.metadata.name ?? "");
}

/**
 * Whether a Squad event can change its toggles' statuses: only its toggle policy is read (and
 * whether the Squad exists). The Squad's own status, rewritten as its Releases progress, cannot;
 * without this, every Release phase change re-ran every toggle of the squad through its Squad.
 */
export function squadPolicyChanged(event: StoreEvent<RawSquad>): boolean {
  if (event.type !== "upsert" || !event.previous) return true;
  return !deepEqual(squadToggles(event.previous), squadToggles(event.object));
}

/** The FeatureFlag CRD appearing or going concerns every namespace with toggles. */
export function namespacesOnCrdChange(toggles: ReadStore<RawToggle>): (crd: KubeObject) => ObjectKey[] {
  return (crd) => {
    if (crd.metadata.name !== FEATURE_FLAG_CRD) return [];
    return [...new Set(toggles.list().map((t) => t.metadata.namespace ?? ""))];
  };
}

/**
 * True when the OpenFeature Operator's CRD is installed, Established and serves the version
 * Crescendo writes. Absent is normal: the FeatureFlag is an extra, the ConfigMap is the contract.
 */
export function featureFlagCrdServed(crd: KubeObject | undefined): boolean {
  if (!crd || crd.metadata.deletionTimestamp) return false;
  const spec = crd.spec as { versions?: { name?: string; served?: boolean }[] } | undefined;
  const status = crd.status as { conditions?: { type: string; status: string }[] } | undefined;
  const established = status?.conditions?.some((c) => c.type === "Established" && c.status === "True");
  const served = spec?.versions?.some((v) => v.name === FeatureFlagResource.version && v.served === true);
  return established === true && served === true;
}
