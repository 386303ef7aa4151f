import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { analysisMetric, type AnalysisMetric } from "../api/analysis.js";
import { measurement } from "../api/release.js";
import { judge, measurementTime } from "./judge.js";
import type { QueryResult } from "./provider.js";

/** Metrics go through the real schema, so fixtures are specs a user could apply (defaults filled). */
const metric = (fields: Record<string, unknown>): AnalysisMetric =>
  analysisMetric.parse({ name: "m", prometheus: { query: "q" }, ...fields });
const errorRate = (fields: Record<string, unknown> = {}) =>
  metric({ name: "error-rate", thresholdRange: { max: 0.05 }, ...fields });
const latency = (compareToStable: Record<string, unknown>, fields: Record<string, unknown> = {}) =>
  metric({ name: "latency-p99", compareToStable, ...fields });

const value = (v: number): QueryResult => ({ kind: "value", value: v });
const noData = (reason = "query returned no series", raw?: string): QueryResult =>
  raw === undefined ? { kind: "noData", reason } : { kind: "noData", reason, value: raw };
const error = (reason = "cannot reach Prometheus"): QueryResult => ({ kind: "error", reason });

const NOW = new Date("2025-03-01T12:00:00.789Z");
const AT = "2025-03-01T12:00:00Z";

describe("judge: thresholdRange", () => {
  it.each([
    [{ max: 0.05 }, 0.12, "Failed", "error-rate 0.12 > max 0.05"],
    [{ max: 0.05 }, 0.05, "Successful", "error-rate 0.05 <= max 0.05"],
    [{ max: 0.05 }, 0.01, "Successful", "error-rate 0.01 <= max 0.05"],
    [{ max: 0.05 }, -3, "Successful", "error-rate -3 <= max 0.05"],
    [{ min: 0.99 }, 0.98, "Failed", "error-rate 0.98 < min 0.99"],
    [{ min: 0.99 }, 0.99, "Successful", "error-rate 0.99 >= min 0.99"],
    [{ min: 0.99 }, 1, "Successful", "error-rate 1 >= min 0.99"],
    [{ min: 1, max: 2 }, 0.5, "Failed", "error-rate 0.5 < min 1"],
    [{ min: 1, max: 2 }, 1, "Successful", "error-rate 1 within [min 1, max 2]"],
    [{ min: 1, max: 2 }, 1.5, "Successful", "error-rate 1.5 within [min 1, max 2]"],
    [{ min: 1, max: 2 }, 2, "Successful", "error-rate 2 within [min 1, max 2]"],
    [{ min: 1, max: 2 }, 2.5, "Failed", "error-rate 2.5 > max 2"],
    [{ min: -1, max: 0 }, -0.5, "Successful", "error-rate -0.5 within [min -1, max 0]"],
    [{ max: 0 }, 1e-12, "Failed", "error-rate 1e-12 > max 0"],
  ])("%j with %d is %s: %s", (range, v, phase, message) => {
    expect(judge(errorRate({ thresholdRange: range }), value(v), undefined, NOW)).toEqual({
      at: AT,
      phase,
      value: String(v),
      message,
    });
  });

  it("ignores a stable result: thresholdRange judges the canary alone", () => {
    expect(judge(errorRate(), value(0.01), error(), NOW)).toEqual({
      at: AT,
      phase: "Successful",
      value: "0.01",
      message: "error-rate 0.01 <= max 0.05",
    });
  });

  it("records the value exactly, even where the message would be long", () => {
    expect(judge(errorRate(), value(0.1 + 0.2), undefined, NOW).value).toBe("0.30000000000000004");
  });

  it("is Inconclusive when the query failed, whatever onNoData says", () => {
    for (const onNoData of ["Inconclusive", "Fail", "Pass"]) {
      expect(
        judge(
          errorRate({ onNoData }),
          error("Prometheus at http://p did not answer within 5000 ms"),
          undefined,
          NOW,
        ),
      ).toEqual({
        at: AT,
        phase: "Inconclusive",
        message: "error-rate: query failed: Prometheus at http://p did not answer within 5000 ms",
      });
    }
  });

  it.each([
    [undefined, "Inconclusive", "Inconclusive"],
    ["Inconclusive", "Inconclusive", "Inconclusive"],
    ["Fail", "Failed", "Fail"],
    ["Pass", "Successful", "Pass"],
  ])("judges no data by onNoData %s as %s", (onNoData, phase, said) => {
    const m = errorRate(onNoData === undefined ? {} : { onNoData });
    expect(judge(m, noData(), undefined, NOW)).toEqual({
      at: AT,
      phase,
      message: `error-rate: no data (query returned no series); onNoData is ${said}`,
    });
  });

  it("keeps the raw NaN text as the value", () => {
    expect(judge(errorRate(), noData("query returned NaN", "NaN"), undefined, NOW)).toEqual({
      at: AT,
      phase: "Inconclusive",
      value: "NaN",
      message: "error-rate: no data (query returned NaN); onNoData is Inconclusive",
    });
  });
});

describe("judge: compareToStable", () => {
  it("fails on ratio, with both values and the limit in the message", () => {
    expect(judge(latency({ maxRatio: 1.2 }), value(0.41), value(0.2), NOW)).toEqual({
      at: AT,
      phase: "Failed",
      value: "0.41",
      stableValue: "0.2",
      message: "latency-p99 canary 0.41 vs stable 0.2: ratio 2.05 > maxRatio 1.2",
    });
  });

  it.each([
    // [limits, canary, stable, phase, message after "latency-p99 canary C vs stable S: "]
    [{ maxRatio: 1.2 }, 0.22, 0.2, "Successful", "ratio 1.1 <= maxRatio 1.2"],
    [{ maxRatio: 1.2 }, 0.36, 0.3, "Successful", "ratio 1.2 <= maxRatio 1.2"],
    [{ maxRatio: 1.2 }, 0.3601, 0.3, "Failed", "ratio 1.20033 > maxRatio 1.2"],
    [{ maxRatio: 1 }, 0.1, 0.2, "Successful", "ratio 0.5 <= maxRatio 1"],
    [{ maxIncrease: 0.05 }, 0.3, 0.2, "Failed", "increase 0.1 > maxIncrease 0.05"],
    [{ maxIncrease: 0.05 }, 0.24, 0.2, "Successful", "increase 0.04 <= maxIncrease 0.05"],
    [{ maxIncrease: 1 }, 1.1, 0.1, "Successful", "increase 1 <= maxIncrease 1"],
    [{ maxIncrease: 0 }, 0.1, 0.1, "Successful", "increase 0 <= maxIncrease 0"],
    [{ maxIncrease: 0 }, 1e-10, 0, "Failed", "increase 1e-10 > maxIncrease 0"],
    [{ maxIncrease: 0.05 }, 0.1, 0.5, "Successful", "increase -0.4 <= maxIncrease 0.05"],
    [
      { maxIncrease: 0.05, maxRatio: 1.2 },
      0.22,
      0.2,
      "Successful",
      "increase 0.02 <= maxIncrease 0.05, ratio 1.1 <= maxRatio 1.2",
    ],
    [
      { maxIncrease: 0.05, maxRatio: 1.2 },
      0.3,
      0.2,
      "Failed",
      "increase 0.1 > maxIncrease 0.05, ratio 1.5 > maxRatio 1.2",
    ],
    [{ maxIncrease: 0.5, maxRatio: 1.2 }, 0.3, 0.2, "Failed", "ratio 1.5 > maxRatio 1.2"],
    [{ maxIncrease: 0.05, maxRatio: 10 }, 0.3, 0.2, "Failed", "increase 0.1 > maxIncrease 0.05"],
    // stable 0: the ratio is undefined
    [
      { maxIncrease: 0.05, maxRatio: 1.2 },
      0.01,
      0,
      "Successful",
      "increase 0.01 <= maxIncrease 0.05, maxRatio not applied (stable <= 0)",
    ],
    [{ maxIncrease: 0.05, maxRatio: 1.2 }, 0.1, 0, "Failed", "increase 0.1 > maxIncrease 0.05"],
    [
      { maxRatio: 1.2 },
      0,
      0,
      "Successful",
      "ratio undefined for stable <= 0, so canary must not exceed stable (maxRatio 1.2)",
    ],
    [
      { maxRatio: 1.2 },
      0.001,
      0,
      "Failed",
      "ratio undefined for stable <= 0, so canary must not exceed stable (maxRatio 1.2)",
    ],
    [
      { maxRatio: 1.2 },
      -1,
      0,
      "Successful",
      "ratio undefined for stable <= 0, so canary must not exceed stable (maxRatio 1.2)",
    ],
    [
      { maxRatio: 1.2 },
      -1,
      -2,
      "Failed",
      "ratio undefined for stable <= 0, so canary must not exceed stable (maxRatio 1.2)",
    ],
    [
      { maxRatio: 1.2 },
      -3,
      -2,
      "Successful",
      "ratio undefined for stable <= 0, so canary must not exceed stable (maxRatio 1.2)",
    ],
  ])("%j canary %d stable %d is %s: %s", (limits, canary, stable, phase, detail) => {
    expect(judge(latency(limits), value(canary), value(stable), NOW)).toEqual({
      at: AT,
      phase,
      value: String(canary),
      stableValue: String(stable),
      message: `latency-p99 canary ${canary} vs stable ${stable}: ${detail}`,
    });
  });

  it.each([
    [error("timeout"), value(1), "latency-p99: canary query failed: timeout", { stableValue: "1" }],
    [value(1), error("refused"), "latency-p99: stable query failed: refused", { value: "1" }],
    [error("a"), error("b"), "latency-p99: canary query failed: a; stable query failed: b", {}],
    [error("a"), noData(), "latency-p99: canary query failed: a", {}],
    [
      noData("query returned NaN", "NaN"),
      error("b"),
      "latency-p99: stable query failed: b",
      { value: "NaN" },
    ],
  ])(
    "is Inconclusive when a query failed, even under onNoData Fail/Pass (%#)",
    (canary, stable, message, values) => {
      for (const onNoData of ["Fail", "Pass", "Inconclusive"]) {
        expect(judge(latency({ maxRatio: 1.2 }, { onNoData }), canary, stable, NOW)).toEqual({
          at: AT,
          phase: "Inconclusive",
          ...values,
          message,
        });
      }
    },
  );

  it("is Inconclusive without a stable result at all", () => {
    expect(judge(latency({ maxRatio: 1.2 }, { onNoData: "Pass" }), value(1), undefined, NOW)).toEqual({
      at: AT,
      phase: "Inconclusive",
      value: "1",
      message: "latency-p99: no stable measurement to compare with",
    });
  });

  it.each([
    ["Inconclusive", "Inconclusive"],
    ["Fail", "Failed"],
    ["Pass", "Successful"],
  ])("judges missing data on either side by onNoData %s", (onNoData, phase) => {
    const m = latency({ maxRatio: 1.2 }, { onNoData });
    expect(judge(m, noData(), value(0.2), NOW)).toEqual({
      at: AT,
      phase,
      stableValue: "0.2",
      message: `latency-p99: no data (canary: query returned no series); onNoData is ${onNoData}`,
    });
    expect(judge(m, value(0.2), noData("query returned NaN", "NaN"), NOW)).toEqual({
      at: AT,
      phase,
      value: "0.2",
      stableValue: "NaN",
      message: `latency-p99: no data (stable: query returned NaN); onNoData is ${onNoData}`,
    });
    expect(judge(m, noData(), noData(), NOW).message).toBe(
      `latency-p99: no data (canary: query returned no series; stable: query returned no series); onNoData is ${onNoData}`,
    );
  });
});

describe("judge: time", () => {
  it("writes RFC 3339 at second precision, from a Date or epoch milliseconds", () => {
    expect(judge(errorRate(), value(0), undefined, NOW.getTime()).at).toBe(AT);
    expect(measurementTime(Date.UTC(2025, 0, 2, 3, 4, 5, 999))).toBe("2025-01-02T03:04:05Z");
  });
});

// --- properties -----------------------------------------------------------------------------

const finite = fc.double({ noNaN: true, noDefaultInfinity: true });
const limit = fc.double({ min: 0, max: 1e6, noNaN: true });
const arbMetric: fc.Arbitrary<AnalysisMetric> = fc
  .record({
    onNoData: fc.constantFrom("Inconclusive", "Fail", "Pass"),
    check: fc.oneof(
      fc
        .record({ min: fc.option(finite, { nil: undefined }), max: fc.option(finite, { nil: undefined }) })
        .filter((r) => r.min !== undefined || r.max !== undefined)
        .map((thresholdRange) => ({ thresholdRange })),
      fc
        .record({
          maxIncrease: fc.option(limit, { nil: undefined }),
          maxRatio: fc.option(limit, { nil: undefined }),
        })
        .filter((c) => c.maxIncrease !== undefined || c.maxRatio !== undefined)
        .map((compareToStable) => ({ compareToStable })),
    ),
  })
  .map(({ onNoData, check }) => metric({ onNoData, ...check }));
const arbError: fc.Arbitrary<QueryResult> = fc.string().map((reason) => ({ kind: "error", reason }));
const arbResult: fc.Arbitrary<QueryResult> = fc.oneof(
  finite.map((v): QueryResult => ({ kind: "value", value: v })),
  fc
    .record({ reason: fc.string(), value: fc.constantFrom("NaN", "+Inf", "-Inf") })
    .map((r): QueryResult => ({ kind: "noData", ...r })),
  fc.string().map((reason): QueryResult => ({ kind: "noData", reason })),
  arbError,
);
const arbTime = fc.integer({ min: 0, max: 4_102_444_800_000 });

describe("judge: properties", () => {
  it("never judges a failed query Failed or Successful", () => {
    const canaryFailed = fc.tuple(arbMetric, arbError, fc.option(arbResult, { nil: undefined }));
    const stableFailed = fc.tuple(
      arbMetric.filter((m) => m.compareToStable !== undefined),
      arbResult,
      arbError,
    );
    fc.assert(
      fc.property(fc.oneof(canaryFailed, stableFailed), arbTime, ([m, canary, stable], now) => {
        expect(judge(m, canary, stable, now).phase).toBe("Inconclusive");
      }),
      { numRuns: 500 },
    );
  });

  it("always produces a measurement that fits the status schema", () => {
    fc.assert(
      fc.property(
        arbMetric,
        arbResult,
        fc.option(arbResult, { nil: undefined }),
        arbTime,
        (m, canary, stable, now) => {
          const result = judge(m, canary, stable, now);
          expect(measurement.parse(result)).toEqual(result);
          expect(result.message).toMatch(new RegExp(`^${m.name}`));
        },
      ),
      { numRuns: 500 },
    );
  });

  it("judges a thresholdRange value exactly as min <= value <= max", () => {
    const ranged = arbMetric.filter((m) => m.thresholdRange !== undefined);
    fc.assert(
      fc.property(ranged, finite, (m, v) => {
        const { min = -Infinity, max = Infinity } = m.thresholdRange ?? {};
        expect(judge(m, value(v), undefined, 0).phase).toBe(min <= v && v <= max ? "Successful" : "Failed");
      }),
    );
  });

  it("never fails a canary that is no worse than stable", () => {
    const compared = arbMetric.filter((m) => m.compareToStable !== undefined);
    const pair = fc
      .tuple(fc.double({ min: -1e6, max: 1e6, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }))
      .map(([stable, f]) => [stable, stable - Math.abs(stable) * f] as const);
    fc.assert(
      fc.property(compared, pair, (m, [stable, canary]) => {
        // ratio <= 1 only guarantees a pass when maxRatio >= 1
        if (m.compareToStable?.maxRatio !== undefined && m.compareToStable.maxRatio < 1 && stable > 0) return;
        expect(judge(m, value(canary), value(stable), 0).phase).toBe("Successful");
      }),
    );
  });
});

describe("judge messages", () => {
  it("show values rounded for people while the measurement keeps the exact value", () => {
    const metric = analysisMetric.parse({
      name: "error-rate",
      prometheus: { query: "q" },
      thresholdRange: { max: 0.05 },
    });
    const m = judge(metric, { kind: "value", value: 0.1 + 0.2 }, undefined, 0);
    expect(m.message).toBe("error-rate 0.3 > max 0.05");
    expect(m.value).toBe(String(0.1 + 0.2));
  });
});
