import { describe, expect, it } from "vitest";
import type { FeatureToggleStatus } from "./featuretoggle.js";
import type { FeatureToggle } from "./kinds.js";
import { toggleDebt } from "./toggle-debt.js";

const condition = (type: string, status: "True" | "False", at: string) => ({
  type,
  status,
  reason: "R",
  message: "",
  lastTransitionTime: at,
});

function toggle(name: string, status: FeatureToggleStatus, namespace = "shop"): FeatureToggle {
  return {
    apiVersion: "crescendo.dev/v1alpha1",
    kind: "FeatureToggle",
    metadata: { name, namespace, creationTimestamp: "2026-01-01T00:00:00Z" },
    spec: { variants: { on: true, off: false }, defaultVariant: "off", type: "release", state: "Enabled" },
    status,
  } as FeatureToggle;
}

describe("toggleDebt", () => {
  it("lists stale, unused, fully rolled out and over-limit toggles, oldest debt first, with their callers", () => {
    const toggles = [
      toggle("fine", { conditions: [condition("Unused", "False", "2026-01-01T00:00:00Z")] }),
      toggle("unused", {
        key: "unused-key",
        conditions: [condition("Unused", "True", "2026-03-01T00:00:00Z")],
        insight: { lastEvaluatedAt: "2026-02-10T00:00:00Z" },
      }),
      toggle("old", {
        stale: true,
        staleSince: "2026-02-01T00:00:00Z",
        conditions: [
          condition("Stale", "True", "2026-02-01T00:00:01Z"),
          condition("FullyRolledOut", "True", "2026-02-15T00:00:00Z"),
          condition("OverActiveLimit", "True", "2026-02-20T00:00:00Z"),
        ],
        insight: { callers24h: ["system:serviceaccount:shop:web"] },
      }),
    ];
    expect(toggleDebt(toggles)).toEqual([
      {
        namespace: "shop",
        name: "old",
        key: "old",
        kinds: ["Stale", "FullyRolledOut", "OverActiveLimit"],
        since: "2026-02-01T00:00:00Z",
        callers: ["system:serviceaccount:shop:web"],
      },
      {
        namespace: "shop",
        name: "unused",
        key: "unused-key",
        kinds: ["Unused"],
        since: "2026-03-01T00:00:00Z",
        lastEvaluatedAt: "2026-02-10T00:00:00Z",
        callers: [],
      },
    ]);
  });
  it("orders equal ages by namespace and name", () => {
    const at = "2026-02-01T00:00:00Z";
    const debt = (name: string, ns: string) =>
      toggle(name, { conditions: [condition("Unused", "True", at)] }, ns);
    expect(
      toggleDebt([debt("b", "x"), debt("a", "y"), debt("a", "x")]).map((d) => `${d.namespace}/${d.name}`),
    ).toEqual(["x/a", "x/b", "y/a"]);
  });
});
