import { describe, expect, it } from "vitest";
import { featureToggleSpec } from "../api/featuretoggle.js";
import type { FeatureToggle } from "../api/kinds.js";
import { compileDocument } from "./compile.js";
import { serializeDocument } from "./document.js";
import { FeatureFlagResource } from "../runtime/resources.js";
import { FLAGS_FILE_KEY, FLAGS_OBJECT_NAME, planFeatureFlag, planFlagConfigMap } from "./objects.js";
import { parseStrict } from "./validate.js";

const toggle = (name: string, uid?: string): FeatureToggle => ({
  metadata: { name, namespace: "team-a", ...(uid ? { uid } : {}), creationTimestamp: "2024-01-01T00:00:00Z" },
  spec: featureToggleSpec.parse({ variants: { on: true, off: false }, defaultVariant: "off" }),
});
const toggles = [toggle("zeta", "u-z"), toggle("alpha", "u-a"), toggle("no-uid")];
const { document } = compileDocument(
  "team-a",
  toggles.map((t) => ({ toggle: t, killed: false })),
);

describe("planFlagConfigMap", () => {
  const cm = planFlagConfigMap("team-a", document, toggles, { squad: "payments", tribe: "money" });

  it("is the crescendo-flags ConfigMap with the canonical document under flags.flagd.json", () => {
    expect(cm).toMatchObject({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: FLAGS_OBJECT_NAME, namespace: "team-a" },
    });
    expect((cm["data"] as Record<string, string>)[FLAGS_FILE_KEY]).toBe(serializeDocument(document));
    expect(FLAGS_FILE_KEY).toBe("flags.flagd.json");
  });
  it("is owned by every toggle (none as controller), sorted, skipping objects without a uid", () => {
    expect(cm.metadata.ownerReferences).toEqual([
      {
        apiVersion: "crescendo.dev/v1alpha1",
        kind: "FeatureToggle",
        name: "alpha",
        uid: "u-a",
        controller: false,
      },
      {
        apiVersion: "crescendo.dev/v1alpha1",
        kind: "FeatureToggle",
        name: "zeta",
        uid: "u-z",
        controller: false,
      },
    ]);
  });
  it("carries the common labels", () => {
    expect(cm.metadata.labels).toEqual({
      "app.kubernetes.io/managed-by": "crescendo",
      "app.kubernetes.io/name": "crescendo-flags",
      "crescendo.dev/squad": "payments",
      "backstage.io/kubernetes-id": "payments",
      "crescendo.dev/tribe": "money",
    });
    expect(planFlagConfigMap("ns", document, []).metadata.labels).toEqual({
      "app.kubernetes.io/managed-by": "crescendo",
      "app.kubernetes.io/name": "crescendo-flags",
    });
  });
});

describe("planFeatureFlag", () => {
  const ff = planFeatureFlag("team-a", document, toggles);

  it("is a core.openfeature.dev/v1beta1 FeatureFlag named crescendo-flags", () => {
    expect(ff).toMatchObject({
      apiVersion: "core.openfeature.dev/v1beta1",
      kind: "FeatureFlag",
      metadata: { name: "crescendo-flags", namespace: "team-a" },
    });
    expect(FeatureFlagResource).toMatchObject({
      group: "core.openfeature.dev",
      plural: "featureflags",
      namespaced: true,
    });
    expect(ff.metadata.ownerReferences).toHaveLength(2);
  });
  it("spec.flagSpec holds flags and flag-set metadata, without $schema, and is a valid flagd document", () => {
    const flagSpec = (ff["spec"] as { flagSpec: Record<string, unknown> }).flagSpec;
    expect(Object.keys(flagSpec).sort()).toEqual(["flags", "metadata"]);
    expect(flagSpec["metadata"]).toEqual({ flagSetId: "team-a" });
    expect(flagSpec["flags"]).toEqual(document.flags);
    expect(() => parseStrict(JSON.stringify(flagSpec))).not.toThrow();
  });
  it("does not alias the document", () => {
    const flagSpec = (ff["spec"] as { flagSpec: { flags: unknown } }).flagSpec;
    expect(flagSpec.flags).not.toBe(document.flags);
  });
  it("owners are optional", () => {
    expect(planFeatureFlag("team-a", document).metadata.ownerReferences).toEqual([]);
  });
});
