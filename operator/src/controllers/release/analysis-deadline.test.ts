import { describe, expect, it } from "vitest";
import { UNATTENDED_SLACK_MS } from "../../analysis/index.js";
import { releaseSpec, type ReleaseStatus } from "../../api/release.js";
import { recordUnattended } from "./analysis-deadline.js";
import { analysisToken } from "./measurements.js";
import { ERROR_RATE, R2, spec } from "./test-fixtures.js";

const T0 = Date.parse("2030-01-01T00:00:00.000Z");
const at = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");
const SPEC = releaseSpec.parse(spec());
const METRICS = SPEC.analysis?.metrics ?? [];
const MEASURED: ReleaseStatus = {
  canaryRevision: R2,
  analysis: {
    startedAt: at(T0),
    step: 1,
    metrics: [
      {
        name: ERROR_RATE.name,
        successful: 1,
        failed: 0,
        inconclusive: 0,
        consecutiveInconclusive: 0,
        measurements: [{ at: at(T0), phase: "Successful" }],
      },
    ],
  },
};
const STEP = analysisToken(MEASURED, "step") ?? "";
const late = T0 + 200_000;
const gap = Math.floor((200_000 - 10_000 - UNATTENDED_SLACK_MS) / 1000);

describe("recordUnattended", () => {
  it("adds the gap before a late step measurement of the live analysis", () => {
    const out = recordUnattended(
      SPEC,
      MEASURED,
      [{ kind: "step", analysis: STEP, takenAt: late }],
      METRICS,
      10_000,
    );
    expect(out.analysis?.unattendedSeconds).toBe(gap);
    // Added to what earlier gaps recorded.
    const again = recordUnattended(
      SPEC,
      { ...MEASURED, analysis: { ...MEASURED.analysis!, unattendedSeconds: 7 } },
      [{ kind: "step", analysis: STEP, takenAt: late }],
      METRICS,
      10_000,
    );
    expect(again.analysis?.unattendedSeconds).toBe(gap + 7);
  });

  it("leaves status as it is for measurements on time", () => {
    const out = recordUnattended(
      SPEC,
      MEASURED,
      [{ kind: "step", analysis: STEP, takenAt: T0 + 12_000 }],
      METRICS,
      10_000,
    );
    expect(out).toBe(MEASURED);
  });

  it("ignores measurements of another analysis: stale, background or post-promotion", () => {
    const held = [
      { kind: "step" as const, analysis: `${STEP}-before-a-retry`, takenAt: late },
      { kind: "background" as const, analysis: "background/x/y", takenAt: late },
      { kind: "postPromotion" as const, analysis: "postPromotion/x/y", takenAt: late },
    ];
    expect(recordUnattended(SPEC, MEASURED, held, METRICS, 10_000)).toBe(MEASURED);
    expect(recordUnattended(SPEC, {}, held, METRICS, 10_000)).toEqual({});
  });

  it("takes the step's own metrics' cadence", () => {
    const slow = { ...ERROR_RATE, name: "latency", interval: "5m" };
    const twoMetrics = releaseSpec.parse(
      spec({
        analysis: { interval: "2m", metrics: [ERROR_RATE, slow] },
        strategy: { canary: { steps: [{ setWeight: 25 }, { analysis: { metrics: ["latency"] } }] } },
      }),
    );
    const metrics = twoMetrics.analysis?.metrics ?? [];
    // The step measures latency only, every 5 min: 200 s after the last is not late, whatever
    // the default (2 min) or error-rate's interval would say; 400 s is.
    const taken = (t: number) => [{ kind: "step" as const, analysis: STEP, takenAt: t }];
    expect(recordUnattended(twoMetrics, MEASURED, taken(late), metrics, 120_000)).toBe(MEASURED);
    const out = recordUnattended(twoMetrics, MEASURED, taken(T0 + 400_000), metrics, 120_000);
    expect(out.analysis?.unattendedSeconds).toBe(
      Math.floor((400_000 - 300_000 - UNATTENDED_SLACK_MS) / 1000),
    );
  });
});
