import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { MetricResult } from "../api/release.js";
import { DEFAULT_QUERY_TIMEOUT_MS } from "./prometheus.js";
import {
  cadenceMs,
  lastMeasuredAt,
  UNATTENDED_SLACK_MS,
  unattendedGapMs,
  unattendedSecondsBefore,
} from "./unattended.js";

const T0 = Date.parse("2030-01-01T00:00:00.000Z");
const at = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");
const metric = (name: string, interval?: string) => ({
  name,
  prometheus: { query: "q" },
  thresholdRange: { max: 1 },
  failureLimit: 0,
  inconclusiveLimit: 3,
  onNoData: "Inconclusive" as const,
  ...(interval ? { interval } : {}),
});
const result = (name: string, times: number[]): MetricResult => ({
  name,
  successful: 0,
  failed: 0,
  inconclusive: times.length,
  consecutiveInconclusive: times.length,
  measurements: times.map((t) => ({ at: at(t), phase: "Inconclusive" as const })),
});

describe("UNATTENDED_SLACK_MS", () => {
  it("is longer than a measurement the query timeout cuts can delay the next one", () => {
    expect(UNATTENDED_SLACK_MS).toBeGreaterThan(2 * DEFAULT_QUERY_TIMEOUT_MS);
  });
});

describe("cadenceMs", () => {
  it("is the shortest interval among the metrics, the default for those without their own", () => {
    expect(cadenceMs([], 30_000)).toBe(30_000);
    expect(cadenceMs([metric("a")], 30_000)).toBe(30_000);
    expect(cadenceMs([metric("a", "10s"), metric("b", "5m")], 30_000)).toBe(10_000);
    // The default counts only for metrics that take it: one measured every 5 min is not late at 2.
    expect(cadenceMs([metric("a", "5m")], 30_000)).toBe(300_000);
    expect(cadenceMs([metric("a", "5m"), metric("b")], 30_000)).toBe(30_000);
  });
});

describe("lastMeasuredAt", () => {
  it("is the start while nothing was measured", () => {
    expect(lastMeasuredAt({ startedAt: at(T0), metrics: [] })).toBe(T0);
    expect(lastMeasuredAt({ startedAt: at(T0), metrics: [result("a", [])] })).toBe(T0);
  });

  it("is the latest measurement of any metric", () => {
    const a = {
      startedAt: at(T0),
      metrics: [result("a", [T0 + 10_000, T0 + 40_000]), result("b", [T0 + 20_000])],
    };
    expect(lastMeasuredAt(a)).toBe(T0 + 40_000);
  });

  it("ignores times that do not parse, and is NaN when nothing does", () => {
    const bad = { ...result("a", []), measurements: [{ at: "yesterday", phase: "Successful" as const }] };
    expect(lastMeasuredAt({ startedAt: at(T0), metrics: [bad] })).toBe(T0);
    expect(lastMeasuredAt({ startedAt: "soon", metrics: [bad] })).toBeNaN();
  });
});

describe("unattendedGapMs", () => {
  it("counts nothing up to one cadence and the slack after the last measurement", () => {
    expect(unattendedGapMs(T0, 10_000, T0)).toBe(0);
    expect(unattendedGapMs(T0, 10_000, T0 + 10_000 + UNATTENDED_SLACK_MS)).toBe(0);
  });

  it("counts what lies beyond", () => {
    expect(unattendedGapMs(T0, 10_000, T0 + 10_000 + UNATTENDED_SLACK_MS + 60_000)).toBe(60_000);
  });

  it("counts nothing for an unknown last measurement or a time before it", () => {
    expect(unattendedGapMs(Number.NaN, 10_000, T0 + 3_600_000)).toBe(0);
    expect(unattendedGapMs(T0, 10_000, T0 - 60_000)).toBe(0);
  });
});

describe("unattendedSecondsBefore", () => {
  const started = { startedAt: at(T0), metrics: [] };

  it("is 0 for measurements on time, however many", () => {
    const times = Array.from({ length: 20 }, (_, i) => T0 + i * 10_000);
    expect(unattendedSecondsBefore(started, times, 10_000)).toBe(0);
  });

  it("counts the gap before a measurement taken after an operator was gone, once", () => {
    // Measured at 0 s, then nobody until 200 s: 200 − 10 (cadence) − the slack.
    const a = { startedAt: at(T0), metrics: [result("a", [T0])] };
    const expected = Math.floor((200_000 - 10_000 - UNATTENDED_SLACK_MS) / 1000);
    expect(unattendedSecondsBefore(a, [T0 + 200_000], 10_000)).toBe(expected);
    // Two metrics measured by the returning operator: the same gap, not twice.
    expect(unattendedSecondsBefore(a, [T0 + 200_000, T0 + 200_300], 10_000)).toBe(expected);
  });

  it("measures each gap from the measurement before it, whatever the order results settle in", () => {
    const a = { startedAt: at(T0), metrics: [] };
    const gap = 100_000 - 10_000 - UNATTENDED_SLACK_MS;
    const twice = Math.floor((2 * gap) / 1000);
    expect(unattendedSecondsBefore(a, [T0 + 200_000, T0 + 100_000], 10_000)).toBe(twice);
    expect(unattendedSecondsBefore(a, [T0 + 100_000, T0 + 200_000], 10_000)).toBe(twice);
  });

  it("never lets a Prometheus that fails or hangs extend the deadline", () => {
    // Every query hangs until the client cuts it: each measurement starts when the previous
    // one ended, a timeout late at most, for as long as the analysis runs.
    fc.assert(
      fc.property(
        fc.integer({ min: 1_000, max: 60_000 }),
        fc.array(fc.integer({ min: 0, max: DEFAULT_QUERY_TIMEOUT_MS + 2_000 }), { maxLength: 50 }),
        (cadence, delays) => {
          let t = T0;
          const times = delays.map((d) => (t += cadence + d));
          return unattendedSecondsBefore(started, times, cadence) === 0;
        },
      ),
    );
  });

  it("counts no more than the time from the last measurement to the latest new one", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 10_000_000 }), { minLength: 1, maxLength: 20 }),
        (offsets) => {
          const times = offsets.map((o) => T0 + o);
          const added = unattendedSecondsBefore(started, times, 10_000);
          return added >= 0 && added * 1000 <= Math.max(...offsets);
        },
      ),
    );
  });

  it("counts nothing when the analysis' start does not parse and nothing was measured", () => {
    expect(unattendedSecondsBefore({ startedAt: "?", metrics: [] }, [T0 + 1e6], 10_000)).toBe(0);
  });
});
