/**
 * The flag sets `bench:ofrep` serves, as a squad would write them: one flag with a percentage
 * rollout; then 100 and 1,000 flags mixing targeting rules (email suffix, country, plan, a semver
 * rule) with fractional rollouts, boolean and string variants. Each set lives in its own namespace.
 */
import { FeatureToggleResource } from "../../operator/src/api/kinds.js";
import type { KubeClient } from "../../operator/src/runtime/client.js";
import { NamespaceResource } from "../../operator/src/runtime/resources.js";
import type { KubeObject } from "../../operator/src/runtime/types.js";
import { pool } from "./workload.js";

export interface FlagSet {
  /** Number of flags. */
  flags: number;
  namespace: string;
  /** Flag keys, in creation order. */
  keys: string[];
}

export function flagSet(flags: number): FlagSet {
  return {
    flags,
    namespace: `ofrep-${flags}`,
    keys: Array.from({ length: flags }, (_, i) => `flag-${i}`),
  };
}

/** Toggle i of a set: every third a string experiment, the rest boolean releases. */
export function toggleSpec(set: FlagSet, i: number): Record<string, unknown> {
  if (set.flags === 1) {
    return {
      type: "release",
      variants: { on: true, off: false },
      defaultVariant: "off",
      rollout: { variant: "on", percentage: 50 },
    };
  }
  const percentage = (i * 37) % 101;
  if (i % 3 === 2) {
    return {
      type: "experiment",
      variants: { classic: "classic", midnight: "midnight", spring: "spring" },
      defaultVariant: "classic",
      rules: [
        { attribute: "email", operator: "endsWith", values: ["@example.com"], variant: "midnight" },
        { attribute: "country", operator: "in", values: ["de", "at"], variant: "spring" },
      ],
      rollout: { variant: "midnight", percentage },
    };
  }
  return {
    type: i % 3 === 0 ? "release" : "ops",
    variants: { on: true, off: false },
    defaultVariant: "off",
    rules: [
      { attribute: "plan", operator: "in", values: ["pro", "enterprise"], variant: "on" },
      ...(i % 2 === 0
        ? [{ attribute: "appVersion", operator: "semverGte", values: ["2.4.0"], variant: "on" }]
        : []),
    ],
    rollout: { variant: "on", percentage },
  };
}

/** Creates the set's namespace and toggles (server-side apply, 32 at a time). */
export async function createFlagSet(client: KubeClient, set: FlagSet): Promise<void> {
  const opts = { fieldManager: "crescendo-bench", force: true };
  await client.apply(
    { apiVersion: "v1", kind: "Namespace", metadata: { name: set.namespace } },
    NamespaceResource,
    opts,
  );
  await pool(
    set.keys.map((key, i) => ({ key, i })),
    32,
    async ({ key, i }) => {
      const toggle: KubeObject = {
        apiVersion: "crescendo.dev/v1alpha1",
        kind: "FeatureToggle",
        metadata: { name: key, namespace: set.namespace },
        spec: toggleSpec(set, i),
      };
      await client.apply(toggle, FeatureToggleResource, opts);
    },
  );
}
