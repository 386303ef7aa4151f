import { describe, expect, it } from "vitest";
import { DAY_MS } from "../../api/common.js";
import { featureToggleSpec, type FeatureToggleStatus } from "../../api/featuretoggle.js";
import type { FeatureToggle } from "../../api/kinds.js";
import { HOUR_MS } from "../../flags/insight.js";
import { findCondition } from "../../runtime/conditions.js";
import {
  DEFAULT_DEBT_POLICY,
  INSIGHT_INTERVAL_MS,
  period,
  planInsight,
  servedSingleVariant,
  type DebtPolicy,
} from "./debt.js";
import { planToggleStatus, MAX_REQUEUE_MS } from "./plan.js";
import { toggle as rawToggle } from "./test-fixtures.js";

const T0 = Date.parse("2026-12-01T00:00:00Z");
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");

function toggle(spec: Record<string, unknown> = {}, status?: FeatureToggleStatus): FeatureToggle {
  const raw = rawToggle("banner", spec, {
    meta: { creationTimestamp: iso(T0) },
    ...(status ? { status } : {}),
  });
  return { ...raw, spec: featureToggleSpec.parse(raw.spec) } as FeatureToggle;
}

/** A fake clock driving planToggleStatus through time, feeding each status back as the next reconcile's. */
function reconciler(spec: Record<string, unknown>, policy: DebtPolicy = DEFAULT_DEBT_POLICY) {
  let status: FeatureToggleStatus | undefined;
  let currentSpec = spec;
  return {
    at(now: number, insight?: Parameters<typeof planToggleStatus>[0]["insight"]) {
      const plan = planToggleStatus({ toggle: toggle(currentSpec, status), now, debt: policy, insight });
      status = plan.status;
      return plan;
    },
    edit(next: Record<string, unknown>) {
      currentSpec = next;
    },
    condition: (type: string) => findCondition(status?.conditions, type),
  };
}

describe("servedSingleVariant", () => {
  const spec = (extra: Record<string, unknown>) =>
    featureToggleSpec.parse({
      variants: { on: true, off: false },
      defaultVariant: "off",
      ...extra,
    });
  it("is the default when there is nothing else to serve, disabled, or killed", () => {
    expect(servedSingleVariant(spec({}), false)).toBe("off");
    expect(
      servedSingleVariant(spec({ state: "Disabled", rollout: { variant: "on", percentage: 50 } }), false),
    ).toBe("off");
    expect(servedSingleVariant(spec({ rollout: { variant: "on", percentage: 50 } }), true)).toBe("off");
  });
  it("is the rollout variant at 100 %, and none while the rollout is partial", () => {
    expect(servedSingleVariant(spec({ rollout: { variant: "on", percentage: 100 } }), false)).toBe("on");
    expect(servedSingleVariant(spec({ rollout: { variant: "on", percentage: 0 } }), false)).toBe("off");
    expect(servedSingleVariant(spec({ rollout: { variant: "on", percentage: 25 } }), false)).toBeUndefined();
  });
  it("counts the variants rules can reach; raw targeting is never one variant", () => {
    const rule = (variant: string) => ({ attribute: "email", operator: "in", values: ["a"], variant });
    expect(servedSingleVariant(spec({ rules: [rule("off")] }), false)).toBe("off");
    expect(servedSingleVariant(spec({ rules: [rule("on")] }), false)).toBeUndefined();
    expect(
      servedSingleVariant(spec({ rules: [rule("on")], rollout: { variant: "on", percentage: 100 } }), false),
    ).toBe("on");
    expect(servedSingleVariant(spec({ targeting: { if: [true, "on"] } }), false)).toBeUndefined();
  });
});

describe("planInsight", () => {
  const summary = (byVariant: Record<string, number>, last?: number, callers: string[] = []) => ({
    ...(last ? { lastEvaluatedAt: last } : {}),
    byVariant,
    callers,
  });
  it("starts counting at the first plan, and writes a changed summary at most once a minute", () => {
    const first = planInsight(undefined, summary({}), T0);
    expect(first).toMatchObject({ insight: { since: iso(T0), updatedAt: iso(T0) }, taken: true });
    const second = planInsight(first.insight, summary({ on: 1 }, T0 + 10_000), T0 + 10_000);
    expect(second).toEqual({
      insight: first.insight,
      taken: false,
      requeueAfterMs: INSIGHT_INTERVAL_MS - 10_000,
    });
    const third = planInsight(
      first.insight,
      summary({ on: 3 }, T0 + 50_000, ["sa:web"]),
      T0 + INSIGHT_INTERVAL_MS,
    );
    expect(third.taken).toBe(true);
    expect(third.insight).toEqual({
      lastEvaluatedAt: iso(T0 + 50_000),
      evaluations24h: { on: 3 },
      callers24h: ["sa:web"],
      since: iso(T0),
      updatedAt: iso(T0 + INSIGHT_INTERVAL_MS),
    });
    // Counts age out hourly: come back at the next hour.
    expect(third.requeueAfterMs).toBe(HOUR_MS - INSIGHT_INTERVAL_MS + 1000);
  });
  it("an unchanged summary is not rewritten, and the last evaluation never moves back (a restarted replica)", () => {
    const written = planInsight(undefined, summary({ on: 2 }, T0), T0).insight;
    expect(planInsight(written, summary({ on: 2 }, T0), T0 + 5 * INSIGHT_INTERVAL_MS).insight).toBe(written);
    const restarted = planInsight(written, summary({}), T0 + 5 * INSIGHT_INTERVAL_MS).insight;
    expect(restarted.lastEvaluatedAt).toBe(iso(T0));
    expect(restarted.evaluations24h).toEqual({});
  });
});

describe("debt conditions with a fake clock", () => {
  const policy = { unusedAfterMs: 14 * DAY_MS, rolledOutAfterMs: 14 * DAY_MS };

  it("a never-evaluated toggle becomes Unused 14 days after counting began, and is asked back at that moment", () => {
    const r = reconciler({ rollout: { variant: "on", percentage: 50 } }, policy);
    const plan = r.at(T0, { byVariant: {}, callers: [] });
    expect(r.condition("Unused")).toMatchObject({ status: "False", reason: "RecentlyCreated" });
    expect(plan.requeueAfterMs).toBe(MAX_REQUEUE_MS);
    expect(r.at(T0 + 14 * DAY_MS - 5000).requeueAfterMs).toBe(6000);
    r.at(T0 + 14 * DAY_MS);
    expect(r.condition("Unused")).toMatchObject({ status: "True", reason: "NeverEvaluated" });
  });

  it("an evaluation resets the Unused clock; silence after it for 14 days makes it Unused again", () => {
    const r = reconciler({ rollout: { variant: "on", percentage: 50 } }, policy);
    r.at(T0, { byVariant: {}, callers: [] });
    r.at(T0 + 14 * DAY_MS, { byVariant: {}, callers: [] });
    expect(r.condition("Unused")?.status).toBe("True");
    const evaluated = T0 + 14 * DAY_MS + 1000;
    r.at(evaluated + 1000, { lastEvaluatedAt: evaluated, byVariant: { on: 1 }, callers: [] });
    expect(r.condition("Unused")).toMatchObject({ status: "False", reason: "Evaluated" });
    r.at(evaluated + 14 * DAY_MS - 1, { byVariant: {}, callers: [] });
    expect(r.condition("Unused")?.status).toBe("False");
    r.at(evaluated + 14 * DAY_MS, { byVariant: {}, callers: [] });
    expect(r.condition("Unused")).toMatchObject({ status: "True", reason: "NotEvaluated" });
  });

  it("FullyRolledOut 14 days after one variant is served to everyone; a change of plan restarts the clock", () => {
    const r = reconciler({ rollout: { variant: "on", percentage: 50 } }, policy);
    r.at(T0);
    expect(r.condition("FullyRolledOut")).toMatchObject({ status: "False", reason: "SeveralVariants" });
    r.edit({ rollout: { variant: "on", percentage: 100 } });
    const plan = r.at(T0 + DAY_MS);
    expect(plan.status).toMatchObject({ singleVariant: "on", singleVariantSince: iso(T0 + DAY_MS) });
    expect(r.condition("FullyRolledOut")).toMatchObject({ status: "False", reason: "RecentlyRolledOut" });
    expect(r.at(T0 + 15 * DAY_MS - 2000).requeueAfterMs).toBe(3000);
    expect(r.at(T0 + 15 * DAY_MS).status.singleVariantSince).toBe(iso(T0 + DAY_MS));
    expect(r.condition("FullyRolledOut")).toMatchObject({ status: "True", reason: "OneVariantServed" });
    // Turned off: now everyone gets "off", from now.
    r.edit({ state: "Disabled", rollout: { variant: "on", percentage: 100 } });
    const off = r.at(T0 + 16 * DAY_MS);
    expect(off.status).toMatchObject({ singleVariant: "off", singleVariantSince: iso(T0 + 16 * DAY_MS) });
    expect(r.condition("FullyRolledOut")?.status).toBe("False");
    r.edit({ rollout: { variant: "on", percentage: 30 } });
    const partial = r.at(T0 + 17 * DAY_MS);
    expect(partial.status.singleVariant).toBeUndefined();
    expect(r.condition("FullyRolledOut")?.reason).toBe("SeveralVariants");
  });

  it("short configured periods work the same (seconds)", () => {
    const r = reconciler({}, { unusedAfterMs: 20_000, rolledOutAfterMs: 30_000 });
    expect(r.at(T0, { byVariant: {}, callers: [] }).requeueAfterMs).toBe(21_000);
    r.at(T0 + 20_000, { byVariant: {}, callers: [] });
    expect(r.condition("Unused")?.message).toContain("(20 s)");
    r.at(T0 + 30_000, { byVariant: {}, callers: [] });
    expect(r.condition("FullyRolledOut")?.status).toBe("True");
  });

  it("without a debt policy the status has no insight and no debt conditions (as before)", () => {
    const plan = planToggleStatus({ toggle: toggle(), now: T0 });
    expect(plan.status.insight).toBeUndefined();
    expect(findCondition(plan.status.conditions, "Unused")).toBeUndefined();
    expect(plan.insightTaken).toBeUndefined();
  });

  it("with insight switched off, no insight and Unused Unknown however long, never True; FullyRolledOut still", () => {
    const counted = reconciler({ rollout: { variant: "on", percentage: 100 } }, policy);
    counted.at(T0, { byVariant: {}, callers: [] });
    const before = counted.at(T0 + DAY_MS).status;
    expect(before.insight?.since).toBeDefined();
    // The operator restarts with --toggle-insight=false: what was counted goes from status.
    const off = (now: number, status: FeatureToggleStatus) =>
      planToggleStatus({
        toggle: toggle({ rollout: { variant: "on", percentage: 100 } }, status),
        now,
        debt: policy,
        insightOff: true,
      });
    const first = off(T0 + 2 * DAY_MS, before);
    const later = off(T0 + 30 * DAY_MS, first.status);
    for (const plan of [first, later]) {
      expect(plan.status.insight).toBeUndefined();
      expect(plan.insightTaken).toBeUndefined();
      expect(findCondition(plan.status.conditions, "Unused")).toMatchObject({
        status: "Unknown",
        reason: "InsightOff",
        message: expect.stringContaining("--toggle-insight=false"),
      });
    }
    expect(findCondition(later.status.conditions, "FullyRolledOut")).toMatchObject({
      status: "True",
      reason: "OneVariantServed",
    });
  });

  it("period reads in the unit it is given in", () => {
    expect([period(14 * DAY_MS), period(DAY_MS), period(2 * HOUR_MS), period(120_000), period(1500)]).toEqual(
      ["14 days", "1 day", "2 h", "2 min", "2 s"],
    );
  });
});
