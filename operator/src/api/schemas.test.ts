import { describe, expect, it } from "vitest";
import { parseDuration } from "./common.js";
import { featureToggleSpec } from "./featuretoggle.js";
import { releaseSpec } from "./release.js";
import { squadSpec } from "./squad.js";
import { analysisInterval } from "./analysis.js";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { zodMessage } from "./zod-message.js";
import { droppedNullLabels } from "./incident.js";

const template = {
  metadata: { labels: { app: "web" } },
  spec: { containers: [{ name: "web", image: "web:1" }] },
};

describe("Squad spec", () => {
  it("applies defaults a user can rely on", () => {
    const spec = squadSpec.parse({ tribe: "payments" });
    expect(spec).toMatchObject({
      members: [],
      namespaces: [],
      networkIsolation: "None",
      namespaceDeletionPolicy: "Retain",
    });
  });
  it("refuses a ServiceAccount member without a namespace", () => {
    const r = squadSpec.safeParse({ members: [{ kind: "ServiceAccount", name: "ci" }] });
    expect(r.success).toBe(false);
    expect(r.error?.message).toContain("needs a namespace");
  });
  it("refuses namespace names that are not DNS labels", () => {
    expect(squadSpec.safeParse({ namespaces: [{ name: "Bad_Name" }] }).success).toBe(false);
  });
  it("takes quantities as Kubernetes writes them and refuses anything else, naming the field", () => {
    for (const ok of ["4", "500m", "2Gi", "1.5", "1e3", "-5", 8])
      expect(squadSpec.safeParse({ quota: { hard: { "requests.cpu": ok } } }).success, String(ok)).toBe(true);
    for (const bad of ["lots", "2 Gi", "Gi", "", "1.5.3"]) {
      const r = squadSpec.safeParse({ limits: { default: { cpu: bad } } });
      expect(r.success, bad).toBe(false);
      expect(JSON.stringify(r.error?.issues)).toContain("must be a Kubernetes quantity");
    }
  });
});

describe("Squad spec incidentResponse", () => {
  const rule = (labels: Record<string, unknown>) => ({
    incidentResponse: { actions: [{ match: { labels }, do: "Revert" }] },
  });
  it("refuses a null or empty label value by name: pruned or never matching, it would not be the rule written", () => {
    const nul = squadSpec.safeParse(rule({ severity: null }));
    expect(nul.success).toBe(false);
    expect(zodMessage(nul.error!)).toBe(
      "spec.incidentResponse.actions[0].match.labels.severity: a label value is needed; null (an empty YAML value) would match every alert",
    );
    const empty = squadSpec.safeParse(rule({ severity: "" }));
    expect(zodMessage(empty.error!)).toMatch(/labels.severity: a label value must not be empty/);
    expect(squadSpec.safeParse(rule({ severity: "page" })).success).toBe(true);
    expect(squadSpec.safeParse(rule({})).success).toBe(true);
  });
  it("finds the null label a client-side kubectl apply dropped, from its last-applied annotation", () => {
    const applied = (labels: Record<string, unknown>) => ({
      "kubectl.kubernetes.io/last-applied-configuration": JSON.stringify({
        spec: { incidentResponse: { actions: [{ match: { labels }, do: "Revert" }] } },
      }),
    });
    const live = (labels: Record<string, string>) => ({
      incidentResponse: { actions: [{ match: { labels }, do: "Revert" }] },
    });
    expect(
      droppedNullLabels({ metadata: { annotations: applied({ severity: null }) }, spec: live({}) }),
    ).toBe(
      "spec.incidentResponse.actions[0].match.labels.severity: a label value is needed; null (an empty YAML value) would match every alert (kubectl apply dropped it before sending)",
    );
    // Fixed since (by an edit or a patch), or never null, or no annotation: nothing to say.
    expect(
      droppedNullLabels({
        metadata: { annotations: applied({ severity: null }) },
        spec: live({ severity: "page" }),
      }),
    ).toBeUndefined();
    expect(
      droppedNullLabels({
        metadata: { annotations: applied({ severity: "page" }) },
        spec: live({ severity: "page" }),
      }),
    ).toBeUndefined();
    expect(droppedNullLabels({ metadata: {}, spec: live({}) })).toBeUndefined();
    expect(
      droppedNullLabels({
        metadata: { annotations: { "kubectl.kubernetes.io/last-applied-configuration": "{not json null" } },
        spec: live({}),
      }),
    ).toBeUndefined();
  });

  it("keeps the null in the CRD (nullable) for the operator to refuse, and refuses empty at admission", () => {
    const crd = parse(
      readFileSync(join(import.meta.dirname, "../../../crds/squads.crescendo.dev.yaml"), "utf8"),
    );
    const spec = crd.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties;
    const labels = spec.incidentResponse.properties.actions.items.properties.match.properties.labels;
    expect(labels.additionalProperties).toMatchObject({ type: "string", nullable: true, minLength: 1 });
  });
});

describe("Release spec", () => {
  const base = { version: "1.0.0", template };
  it("requires exactly one strategy", () => {
    expect(releaseSpec.safeParse({ ...base, strategy: {} }).success).toBe(false);
    expect(
      releaseSpec.safeParse({ ...base, strategy: { canary: { steps: [{ setWeight: 10 }] }, blueGreen: {} } })
        .success,
    ).toBe(false);
    expect(releaseSpec.safeParse({ ...base, strategy: { blueGreen: {} } }).success).toBe(true);
  });
  it("refuses a step with two actions and weights that decrease", () => {
    expect(
      releaseSpec.safeParse({ ...base, strategy: { canary: { steps: [{ setWeight: 10, pause: {} }] } } })
        .success,
    ).toBe(false);
    expect(
      releaseSpec.safeParse({
        ...base,
        strategy: { canary: { steps: [{ setWeight: 50 }, { setWeight: 20 }] } },
      }).success,
    ).toBe(false);
    expect(
      releaseSpec.safeParse({ ...base, strategy: { canary: { steps: [{ setWeight: 101 }] } } }).success,
    ).toBe(false);
  });
  it("requires a metric to have exactly one judgement with a bound", () => {
    const metric = { name: "errors", prometheus: { query: "x" } };
    const withMetric = (m: object) =>
      releaseSpec.safeParse({ ...base, strategy: { blueGreen: {} }, analysis: { metrics: [m] } }).success;
    expect(withMetric(metric)).toBe(false);
    expect(withMetric({ ...metric, thresholdRange: {} })).toBe(false);
    expect(withMetric({ ...metric, thresholdRange: { max: 0.01 } })).toBe(true);
    expect(withMetric({ ...metric, thresholdRange: { max: 1 }, compareToStable: { maxRatio: 1.2 } })).toBe(
      false,
    );
  });
  it("bounds the post-promotion window at 24h in both strategies: longer keeps the previous revision for nothing", () => {
    const metric = { name: "errors", prometheus: { query: "x" }, thresholdRange: { max: 1 } };
    const withWindow = (strategy: "canary" | "blueGreen", duration: string) =>
      releaseSpec.safeParse({
        ...base,
        strategy: {
          [strategy]: {
            ...(strategy === "canary" ? { steps: [{ setWeight: 20 }] } : {}),
            postPromotion: { duration, analysis: ["errors"] },
          },
        },
        analysis: { metrics: [metric] },
      });
    for (const strategy of ["canary", "blueGreen"] as const) {
      for (const ok of ["10m", "24h", "23h59m59s", "1440m"])
        expect(withWindow(strategy, ok).success, `${strategy} ${ok}`).toBe(true);
      for (const bad of ["24h0m1s", "25h", "100000h", "86400001ms"]) {
        const r = withWindow(strategy, bad);
        expect(r.success, `${strategy} ${bad}`).toBe(false);
        expect(zodMessage(r.error!)).toBe(
          `spec.strategy.${strategy}.postPromotion.duration: must be at most 24h`,
        );
      }
    }
  });
  it("defaults the analysis metric limits and progress deadline", () => {
    const spec = releaseSpec.parse({
      ...base,
      strategy: { canary: { steps: [{ setWeight: 20 }] } },
      analysis: { metrics: [{ name: "errors", prometheus: { query: "x" }, thresholdRange: { max: 1 } }] },
    });
    expect(spec.progressDeadlineSeconds).toBe(600);
    // No interval default: the controller resolves it (Release, then squad, then 30s).
    expect(spec.analysis?.interval).toBeUndefined();
    expect(spec.analysis?.metrics[0]).toMatchObject({
      failureLimit: 0,
      inconclusiveLimit: 3,
      onNoData: "Inconclusive",
    });
  });
});

describe("analysis intervals", () => {
  const metric = { name: "errors", prometheus: { query: "x" }, thresholdRange: { max: 1 } };
  const release = (analysis: object) =>
    releaseSpec.safeParse({ version: "1", template, strategy: { blueGreen: {} }, analysis });
  it("are bounded to 1s..1h wherever one can be set", () => {
    for (const ok of ["1s", "1000ms", "30s", "59m59s", "1h"])
      expect(analysisInterval.safeParse(ok).success, ok).toBe(true);
    for (const bad of ["0s", "999ms", "0.5s", "1h0m1s", "100000h", "61m"]) {
      const r = analysisInterval.safeParse(bad);
      expect(r.success, bad).toBe(false);
      expect(r.error?.issues[0]?.message).toBe("must be between 1s and 1h");
    }
    expect(release({ interval: "0s", metrics: [] }).success).toBe(false);
    expect(release({ metrics: [{ ...metric, interval: "100000h" }] }).success).toBe(false);
    expect(release({ interval: "10s", metrics: [{ ...metric, interval: "1m" }] }).success).toBe(true);
    expect(squadSpec.safeParse({ delivery: { analysisInterval: "0s" } }).success).toBe(false);
    expect(squadSpec.safeParse({ delivery: { analysisInterval: "15s" } }).success).toBe(true);
  });
});

describe("FeatureToggle spec", () => {
  const base = { variants: { on: true, off: false }, defaultVariant: "off" };
  it("names the rule a variant name breaks", () => {
    const r = featureToggleSpec.safeParse({ variants: { "dark mode": true }, defaultVariant: "dark mode" });
    expect(r.error?.issues[0]).toMatchObject({
      path: ["variants", "dark mode"],
      message: "a variant name is 1 to 63 letters, digits, '_', '.' or '-' (and not __proto__)",
    });
  });
  it("refuses a null variant by name (the apiserver would otherwise drop it)", () => {
    const r = featureToggleSpec.safeParse({ variants: { on: true, off: null }, defaultVariant: "on" });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]).toMatchObject({
      path: ["variants", "off"],
      message: "a variant needs a value (boolean, string, number or object); null is not one",
    });
  });
  it("requires defaultVariant and rule variants to name a variant", () => {
    expect(featureToggleSpec.safeParse(base).success).toBe(true);
    expect(featureToggleSpec.safeParse({ ...base, defaultVariant: "maybe" }).success).toBe(false);
    const rule = { attribute: "email", operator: "endsWith", values: ["@x.io"], variant: "nope" };
    expect(featureToggleSpec.safeParse({ ...base, rules: [rule] }).success).toBe(false);
  });
  it("requires all variants to share one type", () => {
    expect(featureToggleSpec.safeParse({ variants: { a: true, b: "x" }, defaultVariant: "a" }).success).toBe(
      false,
    );
    expect(featureToggleSpec.safeParse({ variants: { a: 1, b: 2.5 }, defaultVariant: "a" }).success).toBe(
      true,
    );
  });
  it("refuses raw targeting mixed with rules", () => {
    const rule = { attribute: "email", operator: "in", values: ["a"], variant: "on" };
    expect(featureToggleSpec.safeParse({ ...base, targeting: { if: [] }, rules: [rule] }).success).toBe(
      false,
    );
  });
});

describe("parseDuration", () => {
  it("reads Go-style durations", () => {
    expect(parseDuration("30s")).toBe(30_000);
    expect(parseDuration("1h30m")).toBe(5_400_000);
    expect(parseDuration("250ms")).toBe(250);
    expect(parseDuration("1.5s")).toBe(1500);
  });
});
