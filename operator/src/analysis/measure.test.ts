import { describe, expect, it } from "vitest";
import { analysisMetric, type AnalysisMetric } from "../api/analysis.js";
import { AnalysisSpecError, QueryTemplateError } from "./errors.js";
import { measure, type MeasureContext } from "./measure.js";
import type { MetricProvider, QueryResult } from "./provider.js";

const metric = (fields: Record<string, unknown>): AnalysisMetric =>
  analysisMetric.parse({ name: "error-rate", ...fields });

/** A provider that answers from a function of the query and records what it was asked. */
function fakeProviders(answer: (q: string) => QueryResult | Promise<QueryResult>) {
  const calls: { address: string; query: string }[] = [];
  const providerFor = (address: string): MetricProvider => ({
    query: async (query) => {
      calls.push({ address, query });
      return answer(query);
    },
  });
  return { calls, providerFor };
}

const context = (
  providerFor: MeasureContext["providerFor"],
  over: Partial<MeasureContext> = {},
): MeasureContext => ({
  providerFor,
  defaultAddress: "http://prometheus.monitoring:9090",
  defaultInterval: "30s",
  namespace: "payments",
  release: "checkout",
  canary: { revision: "c4n4ry", version: "1.5.0" },
  stable: { revision: "st4b1e", version: "1.4.2" },
  signal: new AbortController().signal,
  now: Date.parse("2025-01-01T00:00:00Z"),
  ...over,
});

describe("measure", () => {
  it("renders the query for the canary, asks the squad's Prometheus and judges the value", async () => {
    const { calls, providerFor } = fakeProviders(() => ({ kind: "value", value: 0.12 }));
    const m = metric({
      prometheus: {
        query:
          'x{ns="{{namespace}}",rel="{{release}}",rev="{{revision}}",v="{{version}}",c="{{canaryRevision}}",s="{{stableRevision}}"}[{{interval}}]',
      },
      thresholdRange: { max: 0.05 },
    });
    await expect(measure(m, context(providerFor))).resolves.toEqual({
      at: "2025-01-01T00:00:00Z",
      phase: "Failed",
      value: "0.12",
      message: "error-rate 0.12 > max 0.05",
    });
    expect(calls).toEqual([
      {
        address: "http://prometheus.monitoring:9090",
        query: 'x{ns="payments",rel="checkout",rev="c4n4ry",v="1.5.0",c="c4n4ry",s="st4b1e"}[30s]',
      },
    ]);
  });

  it("prefers the metric's own address and interval", async () => {
    const { calls, providerFor } = fakeProviders(() => ({ kind: "value", value: 0 }));
    const m = metric({
      prometheus: { address: "http://other:9090", query: "rate(x[{{ interval }}])" },
      interval: "1m",
      thresholdRange: { max: 1 },
    });
    await measure(m, context(providerFor));
    expect(calls).toEqual([{ address: "http://other:9090", query: "rate(x[1m])" }]);
  });

  it("escapes values, so a hostile version cannot change the query", async () => {
    const { calls, providerFor } = fakeProviders(() => ({ kind: "value", value: 0 }));
    const m = metric({ prometheus: { query: 'x{v="{{version}}"}' }, thresholdRange: { max: 1 } });
    await measure(m, context(providerFor, { canary: { revision: "r", version: '"} or vector(1) #' } }));
    expect(calls[0]?.query).toBe('x{v="\\"} or vector(1) #"}');
  });

  it("for compareToStable, queries both revisions concurrently, binding {{revision}} and {{version}} to each", async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    const { calls, providerFor } = fakeProviders(async (q) => {
      if (calls.length === 2) release();
      await gate; // both queries must be in flight before either answers
      return { kind: "value", value: q.includes('rev="c4n4ry"') ? 0.41 : 0.2 };
    });
    const m = metric({
      name: "latency-p99",
      prometheus: {
        query: 'p99{rev="{{revision}}",v="{{version}}",c="{{canaryRevision}}",s="{{stableRevision}}"}',
      },
      compareToStable: { maxRatio: 1.2 },
    });
    await expect(measure(m, context(providerFor))).resolves.toEqual({
      at: "2025-01-01T00:00:00Z",
      phase: "Failed",
      value: "0.41",
      stableValue: "0.2",
      message: "latency-p99 canary 0.41 vs stable 0.2: ratio 2.05 > maxRatio 1.2",
    });
    expect(calls.map((c) => c.query)).toEqual([
      'p99{rev="c4n4ry",v="1.5.0",c="c4n4ry",s="st4b1e"}',
      'p99{rev="st4b1e",v="1.4.2",c="c4n4ry",s="st4b1e"}',
    ]);
  });

  it("accepts a compareToStable query that tells revisions apart by {{version}} only", async () => {
    const { calls, providerFor } = fakeProviders(() => ({ kind: "value", value: 1 }));
    const m = metric({ prometheus: { query: 'x{v="{{version}}"}' }, compareToStable: { maxIncrease: 0 } });
    await expect(measure(m, context(providerFor))).resolves.toMatchObject({ phase: "Successful" });
    expect(calls.map((c) => c.query)).toEqual(['x{v="1.5.0"}', 'x{v="1.4.2"}']);
  });

  it("judges an unreachable Prometheus Inconclusive", async () => {
    const { providerFor } = fakeProviders(() => ({
      kind: "error",
      reason: "cannot reach Prometheus at x: refused",
    }));
    const m = metric({ prometheus: { query: "x" }, thresholdRange: { max: 1 }, onNoData: "Fail" });
    await expect(measure(m, context(providerFor))).resolves.toMatchObject({
      phase: "Inconclusive",
      message: "error-rate: query failed: cannot reach Prometheus at x: refused",
    });
  });

  describe("spec errors are thrown, before any query", () => {
    it("an unknown variable is a QueryTemplateError naming the metric", async () => {
      const { calls, providerFor } = fakeProviders(() => ({ kind: "value", value: 0 }));
      const m = metric({ prometheus: { query: 'x{job="{{job}}"}' }, thresholdRange: { max: 1 } });
      const error = await measure(m, context(providerFor)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(QueryTemplateError);
      expect(error).toMatchObject({
        message: expect.stringMatching(
          /^metric error-rate: query template uses unknown variable \{\{job\}\}; known/,
        ),
        unknownVariables: ["job"],
        template: 'x{job="{{job}}"}',
      });
      expect(calls).toEqual([]);
    });

    it("a compareToStable query that cannot tell the revisions apart is a QueryTemplateError", async () => {
      const { calls, providerFor } = fakeProviders(() => ({ kind: "value", value: 0 }));
      const m = metric({ prometheus: { query: 'x{ns="{{namespace}}"}' }, compareToStable: { maxRatio: 1 } });
      await expect(measure(m, context(providerFor))).rejects.toThrow(
        /^metric error-rate: a compareToStable query must use \{\{revision\}\}/,
      );
      await expect(measure(m, context(providerFor))).rejects.toBeInstanceOf(QueryTemplateError);
      expect(calls).toEqual([]);
    });

    it("no Prometheus address anywhere is an AnalysisSpecError", async () => {
      const { calls, providerFor } = fakeProviders(() => ({ kind: "value", value: 0 }));
      const m = metric({ prometheus: { query: "x" }, thresholdRange: { max: 1 } });
      const error = await measure(m, context(providerFor, { defaultAddress: undefined })).catch(
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(AnalysisSpecError);
      expect(error).not.toBeInstanceOf(QueryTemplateError);
      expect(error).toMatchObject({
        message: expect.stringContaining("metric error-rate has no Prometheus address"),
      });
      expect(calls).toEqual([]);
    });
  });

  it("rejects with the abort reason when aborted, so a cut-short measurement is never recorded", async () => {
    const controller = new AbortController();
    const { providerFor } = fakeProviders(() => {
      controller.abort(new Error("shutting down"));
      return { kind: "error", reason: "query aborted before Prometheus answered" };
    });
    const m = metric({ prometheus: { query: "x" }, thresholdRange: { max: 1 } });
    await expect(measure(m, context(providerFor, { signal: controller.signal }))).rejects.toThrow(
      "shutting down",
    );
  });
});
