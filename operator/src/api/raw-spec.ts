/**
 * Lenient readers of the few spec fields a controller needs before, or despite, validation: to
 * index an object by what it refers to, to honour a Squad's deletion policy when the rest of its
 * spec is invalid, to apply a squad's toggle policy to a toggle that fails its schema. They read
 * what the apiserver stored, trust nothing, and answer undefined (or empty) for anything that is
 * not the expected shape; everything else is read from the spec zod parsed.
 */
import { asRecord } from "../runtime/is-record.js";
import type { KubeObject } from "../runtime/types.js";

/** The value at `keys` under `spec`, or undefined as soon as a step is not an object. */
function specField(obj: KubeObject | undefined, ...keys: string[]): unknown {
  let cur: unknown = obj?.["spec"];
  for (const key of keys) cur = asRecord(cur)[key];
  return cur;
}

function nonEmptyString(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

// --- Squad -------------------------------------------------------------------------------------

/** `spec.namespaces[].name`: the non-empty names listed, in order (none when malformed). */
export function squadNamespaceNames(squad: KubeObject): string[] {
  const list = specField(squad, "namespaces");
  if (!Array.isArray(list)) return [];
  return list.flatMap((n: unknown) => {
    const name = nonEmptyString(asRecord(n)["name"]);
    return name === undefined ? [] : [name];
  });
}

/** `spec.namespaceDeletionPolicy` as written (the schema knows `Retain` and `Delete`). */
export function squadNamespaceDeletionPolicy(squad: KubeObject): unknown {
  return specField(squad, "namespaceDeletionPolicy");
}

/** `spec.toggles`, the squad's toggle policy, unparsed (`squadSpec.shape.toggles` parses it). */
export function squadToggles(squad: KubeObject | undefined): unknown {
  return specField(squad, "toggles");
}

// --- Release -----------------------------------------------------------------------------------

/** `spec.strategy.canary.trafficRouting.gatewayAPI.httpRoute`, when it names a route. */
export function releaseHttpRoute(release: KubeObject): string | undefined {
  return nonEmptyString(
    specField(release, "strategy", "canary", "trafficRouting", "gatewayAPI", "httpRoute"),
  );
}

/** `spec.template`, the PodTemplateSpec the revision is computed from. */
export function releaseTemplate(release: KubeObject): unknown {
  return specField(release, "template");
}

// --- FeatureToggle -----------------------------------------------------------------------------

/** `spec.guard.release`, the Release whose rollback kills the toggle. */
export function toggleGuardRelease(toggle: KubeObject): string | undefined {
  const release = specField(toggle, "guard", "release");
  return typeof release === "string" ? release : undefined;
}
