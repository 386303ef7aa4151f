import { describe, expect, it } from "vitest";
import { featureToggleSpec } from "../../api/featuretoggle.js";
import { squadSpec } from "../../api/squad.js";
import { PrometheusAllowlist } from "../../analysis/allowlist.js";
import type { MetricProvider } from "../../analysis/index.js";
import { checkRamp, measureRamp, type RampSetup } from "./ramp-analysis.js";

const target = {
  namespace: "shop",
  toggle: "checkout",
  flag: "new-checkout",
  variant: "on",
  defaultVariant: "off",
};
const allowed = PrometheusAllowlist.of(["http://prom:9090"]);
const metric = (extra: Record<string, unknown> = {}) => ({
  name: "errors",
  prometheus: {
    address: "http://prom:9090",
    query: 'sum(rate(http_requests_total{flag="{{flag}}",variant="{{variant}}",code=~"5.."}[{{interval}}]))',
  },
  compareToStable: { maxIncrease: 0.05 },
  ...extra,
});
const spec = (
  metrics: unknown[],
  steps: unknown[] = [{ setWeight: 5 }, { analysis: {} }],
  interval?: string,
) =>
  featureToggleSpec.parse({
    variants: { on: true, off: false },
    defaultVariant: "off",
    rollout: { variant: "on", steps, analysis: { metrics, ...(interval ? { interval } : {}) } },
  });

describe("checkRamp", () => {
  it("gives the setup: metrics, interval (own, squad's, 30s) and the squad's address", () => {
    const squad = squadSpec.parse({
      delivery: { prometheus: { address: "http://squad-prom:9090" }, analysisInterval: "10s" },
    });
    expect(checkRamp(spec([metric()]), undefined, allowed, target)).toMatchObject({ defaultInterval: "30s" });
    expect(checkRamp(spec([metric()]), squad, allowed, target)).toMatchObject({
      defaultInterval: "10s",
      defaultAddress: "http://squad-prom:9090",
    });
    expect(checkRamp(spec([metric()], undefined, "2s"), squad, allowed, target)).toMatchObject({
      defaultInterval: "2s",
    });
  });

  it("refuses an address the platform did not allow, naming the toggle's field; the squad's own is allowed", () => {
    const evil = metric({ prometheus: { address: "http://evil:9090", query: 'x{variant="{{variant}}"}' } });
    expect(checkRamp(spec([evil]), undefined, allowed, target)).toEqual({
      reason: "PrometheusAddressNotAllowed",
      message: expect.stringContaining(
        'spec.rollout.analysis.metrics[0].prometheus.address "http://evil:9090"',
      ),
    });
    const squad = squadSpec.parse({ delivery: { prometheus: { address: "http://evil:9090" } } });
    expect(checkRamp(spec([evil]), squad, allowed, target)).not.toHaveProperty("reason");
  });

  it("refuses an analysis step naming an undefined metric, a template with Release variables, no address", () => {
    expect(
      checkRamp(spec([metric()], [{ analysis: { metrics: ["latency"] } }]), undefined, allowed, target),
    ).toMatchObject({
      reason: "InvalidSpec",
      message:
        "spec.rollout.steps[0].analysis.metrics: latency is not defined in spec.rollout.analysis.metrics",
    });
    const release = metric({
      prometheus: { address: "http://prom:9090", query: 'x{revision="{{revision}}"}' },
    });
    expect(checkRamp(spec([release]), undefined, allowed, target)).toMatchObject({
      reason: "InvalidSpec",
      message: expect.stringContaining("unknown variable {{revision}}"),
    });
    const same = metric({ prometheus: { address: "http://prom:9090", query: 'x{flag="{{flag}}"}' } });
    expect(checkRamp(spec([same]), undefined, allowed, target)).toMatchObject({
      message: expect.stringContaining("must use {{variant}}"),
    });
    const nowhere = metric({ prometheus: { query: 'x{variant="{{variant}}"}' } });
    expect(checkRamp(spec([nowhere]), undefined, allowed, target)).toMatchObject({
      message: expect.stringContaining("has no Prometheus address"),
    });
  });
  it("reports the spec's own errors before a refused address, as Releases do", () => {
    const evil = (query: string) => metric({ prometheus: { address: "http://evil:9090", query } });
    const undefinedMetric = spec(
      [evil('x{variant="{{variant}}"}')],
      [{ analysis: { metrics: ["latency"] } }],
    );
    expect(checkRamp(undefinedMetric, undefined, allowed, target)).toEqual({
      reason: "InvalidSpec",
      message:
        "spec.rollout.steps[0].analysis.metrics: latency is not defined in spec.rollout.analysis.metrics",
    });
    const badTemplate = spec([evil('x{revision="{{revision}}"}')]);
    expect(checkRamp(badTemplate, undefined, allowed, target)).toMatchObject({
      reason: "InvalidSpec",
      message: expect.stringContaining("unknown variable {{revision}}"),
    });
    // Once the spec is right, the address is what is left to refuse.
    expect(checkRamp(spec([evil('x{variant="{{variant}}"}')]), undefined, allowed, target)).toMatchObject({
      reason: "PrometheusAddressNotAllowed",
    });
  });
});

describe("measureRamp", () => {
  it("queries the rollout variant and the default variant, escaped, and judges them", async () => {
    const asked: string[] = [];
    const provider: MetricProvider = {
      query: (q) => {
        asked.push(q);
        return Promise.resolve({ kind: "value", value: q.includes('variant="on"') ? 0.3 : 0.01 });
      },
    };
    const s = spec([metric()]);
    const setup = checkRamp(s, undefined, allowed, { ...target, flag: 'a"b' }) as RampSetup;
    const m = await measureRamp(
      s.rollout!.analysis!.metrics[0]!,
      setup,
      { ...target, flag: 'a"b' },
      {
        providerFor: () => provider,
        signal: new AbortController().signal,
        now: 0,
      },
    );
    expect(asked).toEqual([
      'sum(rate(http_requests_total{flag="a\\"b",variant="on",code=~"5.."}[30s]))',
      'sum(rate(http_requests_total{flag="a\\"b",variant="off",code=~"5.."}[30s]))',
    ]);
    expect(m).toMatchObject({ phase: "Failed", value: "0.3", stableValue: "0.01" });
  });
});
