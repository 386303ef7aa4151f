/**
 * The objects that carry a namespace's flags to apps: the `crescendo-flags` ConfigMap, which apps
 * mount and read with a flagd provider in file mode, and, when the OpenFeature Operator is
 * installed, its FeatureFlag. Both hold the same canonical serialisation of the flagd document.
 */
import { API_VERSION, LABELS, MANAGED_BY } from "../api/common.js";
import type { FeatureToggle } from "../api/kinds.js";
import { FeatureFlagResource } from "../runtime/resources.js";
import type { KubeObject, OwnerReference } from "../runtime/types.js";
import { serializeDocument, type FlagdDocument } from "./document.js";

/** Name of the per-namespace ConfigMap (and FeatureFlag) holding the flagd document. */
export const FLAGS_OBJECT_NAME = "crescendo-flags";
/** The ConfigMap key apps mount and point a flagd provider's `offlineFlagSourcePath` at. */
export const FLAGS_FILE_KEY = "flags.flagd.json";

/** Labels every object Crescendo creates carries. */
function flagsLabels(options: FlagsObjectOptions): Record<string, string> {
  return {
    [LABELS.managedBy]: MANAGED_BY,
    [LABELS.name]: FLAGS_OBJECT_NAME,
    ...(options.squad ? { [LABELS.squad]: options.squad, [LABELS.backstageId]: options.squad } : {}),
    ...(options.tribe ? { [LABELS.tribe]: options.tribe } : {}),
  };
}

/**
 * Owner references to every toggle in the namespace, none of them the controller: the object
 * belongs to all of them, and the garbage collector deletes it when the last one goes.
 */
function ownerReferences(toggles: readonly FeatureToggle[]): OwnerReference[] {
  return toggles
    .filter((t) => t.metadata.uid && t.metadata.name)
    .map((t) => ({
      apiVersion: API_VERSION,
      kind: "FeatureToggle",
      name: t.metadata.name as string,
      uid: t.metadata.uid as string,
      controller: false,
    }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export interface FlagsObjectOptions {
  squad?: string;
  tribe?: string;
}

/**
 * The `crescendo-flags` ConfigMap: the namespace's flagd document under `flags.flagd.json`,
 * serialised canonically so an unchanged document is byte-identical and nothing is rewritten.
 * Apps mount it and point a flagd provider in file mode at it.
 */
export function planFlagConfigMap(
  namespace: string,
  doc: FlagdDocument,
  ownerToggles: readonly FeatureToggle[],
  options: FlagsObjectOptions = {},
): KubeObject {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: {
      name: FLAGS_OBJECT_NAME,
      namespace,
      labels: flagsLabels(options),
      ownerReferences: ownerReferences(ownerToggles),
    },
    data: { [FLAGS_FILE_KEY]: serializeDocument(doc) },
  };
}

/**
 * The same flags as an OpenFeature Operator `FeatureFlag` (core.openfeature.dev/v1beta1), whose
 * `spec.flagSpec` is a flagd document without `$schema`: flags plus flag-set metadata.
 */
export function planFeatureFlag(
  namespace: string,
  doc: FlagdDocument,
  ownerToggles: readonly FeatureToggle[] = [],
  options: FlagsObjectOptions = {},
): KubeObject {
  const flagd = JSON.parse(serializeDocument(doc)) as FlagdDocument;
  return {
    apiVersion: `${FeatureFlagResource.group}/${FeatureFlagResource.version}`,
    kind: FeatureFlagResource.kind,
    metadata: {
      name: FLAGS_OBJECT_NAME,
      namespace,
      labels: flagsLabels(options),
      ownerReferences: ownerReferences(ownerToggles),
    },
    spec: { flagSpec: { flags: flagd.flags, metadata: flagd.metadata } },
  };
}
