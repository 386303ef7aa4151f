import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { releaseSpec } from "../../api/release.js";
import { squadSpec } from "../../api/squad.js";
import { analysisIntervalOf, analysisSpecError, checkSpec, withSquadDefaults } from "./spec.js";
import { PrometheusAllowlist } from "../../analysis/allowlist.js";
import { ALLOWLIST, ERROR_RATE, spec } from "./test-fixtures.js";

describe("withSquadDefaults", () => {
  const squad = squadSpec.parse({
    delivery: { analysisInterval: "1m", metrics: [ERROR_RATE, { ...ERROR_RATE, name: "squad-only" }] },
  });

  it("adds the squad's metrics (the Release's own of the same name win) and leaves the interval unset", () => {
    const own = { ...ERROR_RATE, thresholdRange: { max: 0.01 } };
    // As the apiserver stores it: the CRD defaults no analysis.interval.
    const merged = withSquadDefaults({ version: "1", analysis: { metrics: [own] } }, squad) as {
      analysis: { interval?: string; metrics: { name: string }[] };
    };
    expect(merged.analysis.interval).toBeUndefined();
    expect(merged.analysis.metrics.map((m) => m.name)).toEqual(["error-rate", "squad-only"]);
    expect(merged.analysis.metrics[0]).toBe(own);
  });

  it("resolves the interval: the Release's own, else the squad's, else 30s", () => {
    const parse = (analysis: unknown) => releaseSpec.parse({ ...spec(), analysis });
    expect(parse({ metrics: [ERROR_RATE] }).analysis?.interval).toBeUndefined();
    expect(analysisIntervalOf(parse({ metrics: [ERROR_RATE] }), squad)).toBe("1m");
    expect(analysisIntervalOf(parse({ interval: "5s", metrics: [ERROR_RATE] }), squad)).toBe("5s");
    expect(analysisIntervalOf(parse({ metrics: [ERROR_RATE] }), squadSpec.parse({}))).toBe("30s");
    expect(analysisIntervalOf(parse(undefined), undefined)).toBe("30s");
  });

  it("leaves a spec alone without squad defaults", () => {
    const s = { version: "1" };
    expect(withSquadDefaults(s, undefined)).toBe(s);
    expect(withSquadDefaults(s, squadSpec.parse({}))).toBe(s);
  });
});

describe("examples/release.yaml", () => {
  it("is a valid Release whose analysis the controller accepts", async () => {
    const text = readFileSync(join(import.meta.dirname, "../../../../examples/release.yaml"), "utf8");
    const doc = parse(text) as { metadata: { name: string; namespace: string }; spec: unknown };
    const s = releaseSpec.parse(doc.spec);
    expect(doc.metadata).toMatchObject({ name: "web", namespace: "checkout" });
    const error = await analysisSpecError(
      s,
      { metrics: s.analysis?.metrics ?? [], defaultInterval: s.analysis?.interval ?? "30s" },
      { namespace: "checkout", release: "web" },
    );
    expect(error).toBeUndefined();
  });
});

describe("checkSpec", () => {
  const target = { namespace: "shop", release: "web" };
  const options = { gatewayAPI: false, allowlist: ALLOWLIST, target };

  it("gives the spec with the squad's metrics and the setup measuring needs", async () => {
    const squad = squadSpec.parse({
      delivery: {
        prometheus: { address: "http://prom.monitoring:9090" },
        analysisInterval: "20s",
        metrics: [{ ...ERROR_RATE, name: "squad-errors", prometheus: { query: "up" } }],
      },
    });
    const checked = await checkSpec(spec({ analysis: undefined }), squad, options);
    expect(checked).toMatchObject({
      setup: { defaultInterval: "20s", defaultAddress: "http://prom.monitoring:9090" },
    });
    if ("reason" in checked) throw new Error(checked.message);
    expect(checked.setup.metrics.map((m) => m.name)).toEqual(["squad-errors"]);
    expect(checked.spec.analysis?.metrics.map((m) => m.name)).toEqual(["squad-errors"]);
  });

  it("refuses what zod refuses, naming the field", async () => {
    expect(await checkSpec({ ...spec(), version: undefined }, undefined, options)).toEqual({
      reason: "InvalidSpec",
      message: expect.stringContaining("spec.version"),
    });
    expect(await checkSpec(undefined, undefined, options)).toMatchObject({ reason: "InvalidSpec" });
  });

  it("refuses Gateway API routing when HTTPRoutes are not watched", async () => {
    const routed = spec({
      strategy: {
        canary: { steps: [{ setWeight: 25 }], trafficRouting: { gatewayAPI: { httpRoute: "front" } } },
      },
    });
    expect(await checkSpec(routed, undefined, options)).toMatchObject({
      reason: "GatewayAPIUnavailable",
      message: expect.stringContaining("restart the operator"),
    });
    expect(await checkSpec(routed, undefined, { ...options, gatewayAPI: true })).not.toHaveProperty("reason");
  });

  describe("Prometheus addresses", () => {
    const at = (address: string) => ({ ...ERROR_RATE, prometheus: { ...ERROR_RATE.prometheus, address } });

    it("refuses an address the platform did not allow, naming each field, before measuring", async () => {
      const hostile = spec({
        analysis: {
          metrics: [
            ERROR_RATE,
            { ...at("http://169.254.169.254/latest/meta-data"), name: "m1" },
            { ...at("http://127.0.0.1:6443"), name: "m2" },
          ],
        },
      });
      const checked = await checkSpec(hostile, undefined, options);
      expect(checked).toEqual({
        reason: "PrometheusAddressNotAllowed",
        message: expect.stringMatching(
          /^spec\.analysis\.metrics\[1\]\.prometheus\.address "http:\/\/169\.254\.169\.254\/latest\/meta-data", spec\.analysis\.metrics\[2\]\.prometheus\.address "http:\/\/127\.0\.0\.1:6443": not an allowed Prometheus address; no query was sent/,
        ),
      });
    });

    it("compares canonical forms: case, default port and trailing slash do not matter", async () => {
      const spelled = spec({ analysis: { metrics: [at("HTTP://PROM:9090/")] } });
      expect(await checkSpec(spelled, undefined, options)).not.toHaveProperty("reason");
      const otherPort = spec({ analysis: { metrics: [at("http://prom:9091")] } });
      expect(await checkSpec(otherPort, undefined, options)).toMatchObject({
        reason: "PrometheusAddressNotAllowed",
      });
    });

    it("allows the squad's delivery addresses whatever the operator's list says", async () => {
      const squad = squadSpec.parse({ delivery: { prometheus: { address: "http://squad-prom:9090" } } });
      const own = spec({ analysis: { metrics: [at("http://squad-prom:9090")] } });
      expect(
        await checkSpec(own, squad, { ...options, allowlist: PrometheusAllowlist.of([]) }),
      ).not.toHaveProperty("reason");
      expect(await checkSpec(own, undefined, options)).toMatchObject({
        reason: "PrometheusAddressNotAllowed",
      });
    });

    it("with an empty allowlist, a Release without a squad may name no address at all", async () => {
      const none = { ...options, allowlist: PrometheusAllowlist.of([]) };
      expect(await checkSpec(spec(), undefined, none)).toMatchObject({
        reason: "PrometheusAddressNotAllowed",
        message: expect.stringContaining("spec.analysis.metrics[0].prometheus.address"),
      });
    });
  });

  it("refuses a post-promotion verification naming a metric that does not exist", async () => {
    for (const strategy of [
      { canary: { steps: [{ setWeight: 50 }], postPromotion: { duration: "5m", analysis: ["latency"] } } },
      { blueGreen: { postPromotion: { duration: "5m", analysis: ["latency"] } } },
    ]) {
      const key = "canary" in strategy ? "canary" : "blueGreen";
      expect(await checkSpec(spec({ strategy }), undefined, options)).toEqual({
        reason: "InvalidSpec",
        message: `spec.strategy.${key}.postPromotion.analysis: latency is not defined in spec.analysis.metrics or the squad's delivery.metrics`,
      });
    }
    const known = spec({
      strategy: {
        canary: { steps: [{ setWeight: 50 }], postPromotion: { duration: "5m", analysis: ["error-rate"] } },
      },
    });
    expect(await checkSpec(known, undefined, options)).toHaveProperty("spec");
  });

  it("refuses a post-promotion window too short for its metrics to reach minSamples", async () => {
    const window = (duration: string, interval: string) =>
      spec({
        analysis: { interval, metrics: [{ ...ERROR_RATE, minSamples: 3 }] },
        strategy: {
          canary: { steps: [{ setWeight: 50 }], postPromotion: { duration, analysis: ["error-rate"] } },
        },
      });
    for (const duration of ["0s", "1ms", "1m29s"]) {
      expect(await checkSpec(window(duration, "30s"), undefined, options), duration).toEqual({
        reason: "InvalidSpec",
        message: `spec.strategy.canary.postPromotion.duration: ${duration} is too short for error-rate to be verified (minSamples 3 × interval 30s): every window would end Unverified`,
      });
    }
    expect(await checkSpec(window("90s", "30s"), undefined, options)).toHaveProperty("spec");
    expect(await checkSpec(window("10s", "2s"), undefined, options)).toHaveProperty("spec");
  });

  it("refuses an analysis it could not measure", async () => {
    const unknown = spec({ strategy: { canary: { steps: [{ analysis: { metrics: ["latency"] } }] } } });
    expect(await checkSpec(unknown, undefined, options)).toEqual({
      reason: "InvalidSpec",
      message:
        "spec.strategy.canary.steps[0].analysis.metrics: latency is not defined in spec.analysis.metrics or the squad's delivery.metrics",
    });
    const noAddress = spec({ analysis: { metrics: [{ ...ERROR_RATE, prometheus: { query: "up" } }] } });
    expect(await checkSpec(noAddress, undefined, options)).toMatchObject({ reason: "InvalidSpec" });
  });
});
