/**
 * The three Crescendo kinds: their REST identity, their spec/status schemas and how `kubectl`
 * shows them. The CRD generator and the controllers both read this table.
 */
import type { z } from "zod";
import type { KubeObject, Resource } from "../runtime/types.js";
import { GROUP, VERSION } from "./common.js";
import {
  featureToggleSpec,
  featureToggleStatus,
  type FeatureToggleSpec,
  type FeatureToggleStatus,
} from "./featuretoggle.js";
import {
  RELEASE_NAME_RULES,
  releaseSpec,
  releaseStatus,
  type ReleaseSpec,
  type ReleaseStatus,
} from "./release.js";
import { squadSpec, squadStatus, type SquadSpec, type SquadStatus } from "./squad.js";

export interface PrinterColumn {
  name: string;
  type: "string" | "integer" | "number" | "boolean" | "date";
  jsonPath: string;
  description: string;
  priority?: number;
}

export interface KindDefinition {
  resource: Resource;
  singular: string;
  shortNames: string[];
  description: string;
  spec: z.ZodType;
  status: z.ZodType;
  printerColumns: PrinterColumn[];
  /**
   * CEL rules on the whole object (`x-kubernetes-validations` at the schema's root), the only
   * place a rule can read `metadata.name`.
   */
  validations?: { rule: string; message: string; fieldPath?: string }[];
  /** Scale subresource paths, for kinds an HPA may target. */
  scale?: { specReplicasPath: string; statusReplicasPath: string; labelSelectorPath: string };
}

const ready = (description: string): PrinterColumn => ({
  name: "Ready",
  type: "string",
  jsonPath: '.status.conditions[?(@.type=="Ready")].status',
  description,
});
const readyReason: PrinterColumn = {
  name: "Reason",
  type: "string",
  jsonPath: '.status.conditions[?(@.type=="Ready")].reason',
  description: "Why it is (or is not) ready, e.g. Serving, InvalidFlag, KeyConflict.",
};
const age: PrinterColumn = {
  name: "Age",
  type: "date",
  jsonPath: ".metadata.creationTimestamp",
  description: "Age.",
};

export const SquadResource: Resource = {
  group: GROUP,
  version: VERSION,
  kind: "Squad",
  plural: "squads",
  namespaced: false,
  keepLastApplied: true,
};
export const ReleaseResource: Resource = {
  group: GROUP,
  version: VERSION,
  kind: "Release",
  plural: "releases",
  namespaced: true,
};
export const FeatureToggleResource: Resource = {
  group: GROUP,
  version: VERSION,
  kind: "FeatureToggle",
  plural: "featuretoggles",
  namespaced: true,
};

export const SQUAD: KindDefinition = {
  resource: SquadResource,
  singular: "squad",
  shortNames: ["sq"],
  description: "A squad: a team's namespaces, access, quotas and isolation, with a summary of its delivery.",
  spec: squadSpec,
  status: squadStatus,
  printerColumns: [
    { name: "Tribe", type: "string", jsonPath: ".spec.tribe", description: "Tribe of the squad." },
    {
      name: "Namespaces",
      type: "integer",
      jsonPath: ".status.namespaceCount",
      description: "Namespaces owned.",
    },
    {
      name: "Releases",
      type: "integer",
      jsonPath: ".status.releases.total",
      description: "Releases in its namespaces.",
    },
    ready("Whether every namespace is in place."),
    age,
  ],
};

export const RELEASE: KindDefinition = {
  resource: ReleaseResource,
  singular: "release",
  shortNames: ["rel"],
  description: "A workload rolled out progressively, judged against metrics, and rolled back automatically.",
  spec: releaseSpec,
  status: releaseStatus,
  validations: RELEASE_NAME_RULES,
  printerColumns: [
    { name: "Phase", type: "string", jsonPath: ".status.phase", description: "Rollout phase." },
    {
      name: "Weight",
      type: "integer",
      jsonPath: ".status.canaryWeight",
      description: "Traffic % on the canary.",
    },
    {
      name: "Override",
      type: "string",
      jsonPath: ".status.override.revision",
      description: "Revision returned to by undo, while spec.template is not what runs.",
    },
    {
      name: "Step",
      type: "integer",
      jsonPath: ".status.currentStepIndex",
      description: "Current canary step.",
    },
    {
      name: "Stable",
      type: "string",
      jsonPath: ".status.stableVersion",
      description: "Version serving traffic.",
    },
    {
      name: "Canary",
      type: "string",
      jsonPath: ".status.canaryVersion",
      description: "Version rolling out.",
    },
    // The phase can still read Healthy (the stable revision serves) while the newest generation
    // is refused: Ready and its reason say so in the same row.
    ready("Whether the newest generation is rolled out as the spec asks."),
    {
      ...readyReason,
      description: "Why it is (or is not) ready, e.g. Succeeded, ChildRejected, InvalidSpec.",
    },
    age,
  ],
  scale: {
    specReplicasPath: ".spec.replicas",
    statusReplicasPath: ".status.replicas",
    labelSelectorPath: ".status.selector",
  },
};

export const FEATURE_TOGGLE: KindDefinition = {
  resource: FeatureToggleResource,
  singular: "featuretoggle",
  shortNames: ["ft"],
  description: "A feature flag served to apps through OpenFeature (flagd file format and OFREP).",
  spec: featureToggleSpec,
  status: featureToggleStatus,
  printerColumns: [
    { name: "State", type: "string", jsonPath: ".status.effectiveState", description: "What apps get." },
    {
      name: "Variant",
      type: "string",
      jsonPath: ".status.servedVariant",
      description: "Default variant served.",
    },
    { name: "Guard", type: "string", jsonPath: ".spec.guard.release", description: "Release guarding it." },
    { name: "Stale", type: "boolean", jsonPath: ".status.stale", description: "Past its lifetime." },
    ready("Whether the flag is served as the spec asks."),
    readyReason,
    age,
  ],
};

export const KINDS: readonly KindDefinition[] = [SQUAD, RELEASE, FEATURE_TOGGLE];

/** A Crescendo object with typed spec and status. */
export interface CustomObject<Spec, Status> extends KubeObject {
  spec: Spec;
  status?: Status;
}
export type Squad = CustomObject<SquadSpec, SquadStatus>;
export type Release = CustomObject<ReleaseSpec, ReleaseStatus>;
export type FeatureToggle = CustomObject<FeatureToggleSpec, FeatureToggleStatus>;
