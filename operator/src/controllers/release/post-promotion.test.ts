import { describe, expect, it } from "vitest";
import { releaseSpec } from "../../api/release.js";
import { planObjects } from "./plan.js";
import { liveAnalysis, type StepResult } from "./rollout.js";
import { pendingAction, type AnalysisVerdict, type ReleaseSnapshot } from "./snapshot.js";
import { previousReplicas } from "./post-promotion.js";
import { iso, R1, R2, R3, ready, V1, V2, V3 } from "./test-fixtures.js";
import { ReleaseWorld } from "./world.test-support.js";

// A small world, as in rollout.test.ts: one Release, the Deployments a cluster would show, the
// post-promotion verdict the analysis module would give, and a clock. Every reconcile checks that
// the result is a fixpoint and that the status satisfies the CRD schema.

const METRIC = {
  name: "error-rate",
  prometheus: { query: "rate(errors[1m])" },
  thresholdRange: { max: 0.05 },
};
const WINDOW_MS = 10 * 60_000;

type Raw = Record<string, unknown>;

const canary = (postPromotion: Raw | null = { duration: "10m", analysis: ["error-rate"] }) => ({
  canary: { steps: [{ setWeight: 50 }], ...(postPromotion ? { postPromotion } : {}) },
});

class World extends ReleaseWorld {
  oncall = false;
  private verdict: { key: string; verdict: AnalysisVerdict } | undefined;

  constructor(spec: Raw = {}) {
    super({
      version: "1.0.0",
      replicas: 4,
      template: V1,
      service: { ports: [{ name: "http", port: 80 }] },
      strategy: canary(),
      analysis: { metrics: [METRIC] },
      ...spec,
    });
  }

  override snapshot(): ReleaseSnapshot {
    const release = this.release();
    const action = pendingAction(release);
    const key = JSON.stringify(this.status?.postPromotion);
    const postPromotion = this.verdict && this.verdict.key === key ? this.verdict.verdict : undefined;
    return {
      release,
      deployments: this.deployments,
      analysis: postPromotion ? { postPromotion } : {},
      now: this.now,
      ...(action ? { action } : {}),
      ...(this.oncall ? { squad: { name: "shop", oncall: true } } : {}),
    };
  }

  /** The cluster catches up with the plan: planned Deployments ready at their size, deleted ones gone. */
  override settle(): this {
    const plan = planObjects(this.snapshot(), this.status ?? {});
    const deleted = new Set(plan.deletions.filter((d) => d.kind === "Deployment").map((d) => d.name));
    const deployments = Object.fromEntries(
      Object.entries(this.deployments).filter(([, d]) => !deleted.has(d.name)),
    );
    for (const obj of plan.objects) {
      if (obj.kind !== "Deployment") continue;
      const revision = obj.metadata.labels?.["crescendo.dev/revision"] ?? "";
      const spec = obj["spec"] as { replicas: number; template: Record<string, unknown> };
      deployments[revision] = { ...ready(revision, spec.replicas), template: spec.template };
    }
    this.deployments = deployments;
    return this;
  }

  /**
   * Records a measurement into the verification window in status (as the controller would) and
   * the verdict the analysis module would derive from it, bound to that window as recorded.
   */
  measure(phase: AnalysisVerdict["phase"], message = `error-rate ${phase.toLowerCase()}`): this {
    const v = this.status?.postPromotion;
    if (!v || !this.status) throw new Error("no verification window in status");
    const result = {
      name: "error-rate",
      successful: phase === "Successful" ? 1 : 0,
      failed: phase === "Failed" ? 1 : 0,
      inconclusive: phase === "Inconclusive" ? 1 : 0,
      consecutiveInconclusive: phase === "Inconclusive" ? 1 : 0,
      measurements: [
        {
          at: iso(this.now),
          phase: phase === "Running" ? ("Successful" as const) : phase,
          value: "0.4",
          message,
        },
      ],
    };
    this.status = { ...this.status, postPromotion: { ...v, metrics: [result] } };
    const verdict = { phase, message, ...(phase === "Failed" ? { metric: "error-rate" } : {}) };
    this.verdict = { key: JSON.stringify(this.status.postPromotion), verdict };
    return this;
  }

  plan() {
    return planObjects(this.snapshot(), this.s);
  }

  deployment(revision: string) {
    return this.plan().objects.find(
      (o) => o.kind === "Deployment" && o.metadata.name === `web-${revision}`,
    ) as { spec: { replicas: number } } | undefined;
  }

  selector(service: string) {
    const svc = this.plan().objects.find((o) => o.kind === "Service" && o.metadata.name === service);
    return (svc?.["spec"] as { selector: Record<string, string> } | undefined)?.selector;
  }
}

const reasons = (r: StepResult) => r.events.map((e) => e.reason);

/** V1 Healthy, then V2 rolled out through its one step and promoted: the window has just begun. */
function promoted(spec: Raw = {}): { w: World; promotion: StepResult } {
  const w = new World(spec);
  w.reconcile();
  w.advance();
  expect(w.s.phase).toBe("Healthy");
  w.setTemplate(V2, "2.0.0").reconcile();
  // The 50 % step, then the scale-up: promoted within a few observations of a settling cluster.
  let promotion = w.advance();
  for (let i = 0; i < 5 && !promotion.promoted; i++) promotion = w.advance();
  expect(promotion.promoted?.revision, w.s.message).toBe(R2);
  return { w, promotion };
}

describe("post-promotion verification: the window", () => {
  it("starts at promotion: the previous revision kept warm at full size until the window ends", () => {
    const { w, promotion } = promoted();
    const until = iso(w.now + WINDOW_MS);
    expect(w.s).toMatchObject({
      phase: "Healthy",
      stableRevision: R2,
      postPromotion: {
        revision: R2,
        previousRevision: R1,
        previousVersion: "1.0.0",
        startedAt: iso(w.now),
        until,
        metrics: [],
        result: "Verifying",
      },
      scaleDown: [{ revision: R1, version: "1.0.0", at: until, replicas: 4 }],
    });
    expect(promotion.events.find((e) => e.reason === "Promoted")?.note).toBe(
      `promoted 2.0.0 (revision ${R2}); verifying it until ${until}, 1.0.0 (revision ${R1}) kept with 4 replicas to revert to`,
    );
    // The new revision takes all traffic at once; the previous one keeps its pods, out of service.
    expect(w.selector("web")).toEqual({ "crescendo.dev/release": "web", "crescendo.dev/revision": R2 });
    expect(w.deployment(R1)?.spec.replicas ?? w.deployments[R1]?.specReplicas).toBe(4);
    expect(promotion.requeueAfterMs).toBe(WINDOW_MS);
    expect(liveAnalysis(releaseSpec.parse(w.spec), w.s)).toEqual({
      postPromotion: { metrics: ["error-rate"] },
    });
  });

  it("keeps the previous revision at the share the spec asks, at least one pod", () => {
    const { w } = promoted({
      strategy: canary({ duration: "10m", analysis: ["error-rate"], previousReplicasPercent: 25 }),
    });
    expect(w.s.scaleDown?.[0]).toMatchObject({ revision: R1, replicas: 1 });
    expect(w.deployment(R1)?.spec.replicas).toBe(1);
    const spec = releaseSpec.parse({ ...w.spec, replicas: 10 });
    const pp = { duration: "1m", analysis: ["x"], previousReplicasPercent: 33 };
    expect(previousReplicas(spec, pp)).toBe(4);
    expect(previousReplicas(releaseSpec.parse({ ...w.spec, replicas: 0 }), pp)).toBe(0);
    expect(
      previousReplicas(releaseSpec.parse({ ...w.spec, replicas: 1 }), { ...pp, previousReplicasPercent: 1 }),
    ).toBe(1);
  });

  it("is not started without postPromotion: the previous revision goes after the scale-down delay", () => {
    const { w } = promoted({ strategy: canary(null) });
    expect(w.s.postPromotion).toBeUndefined();
    expect(w.s.scaleDown).toEqual([{ revision: R1, version: "1.0.0", at: iso(w.now + 30_000) }]);
    expect(liveAnalysis(releaseSpec.parse(w.spec), w.s)).toEqual({});
  });

  it("is not started for the first revision: there is nothing to revert to", () => {
    const w = new World();
    w.reconcile();
    w.advance();
    expect(w.s.postPromotion).toBeUndefined();
  });

  it("waits while measurements pass: Healthy, nothing said, the window open", () => {
    const { w } = promoted();
    w.tick(60_000).measure("Successful");
    const r = w.reconcile();
    expect(reasons(r)).toEqual([]);
    expect(w.s.postPromotion?.result).toBe("Verifying");
    expect(r.requeueAfterMs).toBe(WINDOW_MS - 60_000);
  });

  it("closes as Verified at the window's end when every metric passed; the previous revision goes", () => {
    const { w } = promoted();
    w.tick(60_000).measure("Successful", "all metrics passed (error-rate 1/1)");
    w.reconcile();
    w.tick(WINDOW_MS);
    const r = w.reconcile();
    expect(r.events).toEqual([
      {
        type: "Normal",
        reason: "PostPromotionVerified",
        note: `2.0.0 (revision ${R2}) verified after promotion: all metrics passed (error-rate 1/1)`,
      },
    ]);
    expect(w.s).toMatchObject({
      phase: "Healthy",
      stableRevision: R2,
      postPromotion: { result: "Verified" },
    });
    expect(w.s.scaleDown).toBeUndefined();
    expect(w.plan().deletions).toContainEqual({
      apiVersion: "apps/v1",
      kind: "Deployment",
      name: `web-${R1}`,
    });
    expect(liveAnalysis(releaseSpec.parse(w.spec), w.s)).toEqual({});
  });

  it("closes as Unverified with a Warning when the window ends without a pass, and keeps the revision", () => {
    const { w } = promoted();
    w.tick(WINDOW_MS);
    const r = w.reconcile();
    expect(r.events).toEqual([
      {
        type: "Warning",
        reason: "PostPromotionUnverified",
        note: `2.0.0 (revision ${R2}) kept but not verified: the window ended at ${iso(w.now)} without every metric passing (no measurement was recorded)`,
      },
    ]);
    expect(w.s).toMatchObject({
      phase: "Healthy",
      stableRevision: R2,
      postPromotion: { result: "Unverified" },
    });
  });

  it("closes as Unverified on an inconclusive verdict too: nothing proved the revision bad", () => {
    const { w } = promoted();
    w.tick(WINDOW_MS).measure("Inconclusive", "error-rate was inconclusive 3 times in a row");
    const r = w.reconcile();
    expect(reasons(r)).toEqual(["PostPromotionUnverified"]);
    expect(w.s.postPromotion?.message).toContain("error-rate was inconclusive 3 times in a row");
  });

  it("ignores a verdict about another window (a stale observation)", () => {
    const { w } = promoted();
    w.measure("Failed");
    // The window in status moves on (e.g. a measurement folded meanwhile): the verdict no longer applies.
    w.status = { ...w.s, postPromotion: { ...w.s.postPromotion!, metrics: [] } };
    const r = w.reconcile();
    expect(reasons(r)).toEqual([]);
    expect(w.s.phase).toBe("Healthy");
  });
});

describe("post-promotion verification: a failing metric reverts", () => {
  it("in one write: the previous revision is stable again, phase Reverted, a condition naming the metric", () => {
    const { w } = promoted();
    const failedAt = w.now + 90_000;
    w.tick(90_000).measure("Failed", "error-rate 0.4 > max 0.05");
    const r = w.reconcile();
    const message = "post-promotion analysis failed: error-rate 0.4 > max 0.05";
    expect(w.s).toMatchObject({
      phase: "Reverted",
      stableRevision: R1,
      stableVersion: "1.0.0",
      canaryRevision: R2,
      canaryVersion: "2.0.0",
      abortedAt: iso(failedAt),
      canaryWeight: 0,
      desiredWeight: 0,
      postPromotion: { result: "Reverted", message },
    });
    expect(w.s.scaleDown).toBeUndefined();
    expect(w.s.message).toBe(`reverted 2.0.0 (revision ${R2}) to 1.0.0 (revision ${R1}): ${message}`);
    expect(r.events).toEqual([{ type: "Warning", reason: "Reverted", note: w.s.message }]);
    expect(r.rolledBack).toEqual({
      reason: "PostPromotionAnalysisFailed",
      message,
      revision: R2,
      version: "2.0.0",
      stableAvailable: true,
    });
    expect(w.condition("Reverted")).toMatchObject({
      status: "True",
      reason: "PostPromotionAnalysisFailed",
      message: w.s.message,
    });
    expect(w.condition("RolledBack")).toBeUndefined();
    expect(w.condition("Ready")?.status).toBe("False");
    expect(w.condition("Stalled")?.status).toBe("True");
    // A failed change for delivery metrics: a RolledBack entry from the promotion, with the failure's start.
    expect(w.s.history?.[0]).toMatchObject({
      revision: R2,
      outcome: "RolledBack",
      reason: "PostPromotionAnalysisFailed",
      startedAt: w.s.postPromotion?.startedAt,
      finishedAt: iso(failedAt),
      failureStartedAt: iso(failedAt),
    });
    // The plan of the same reconcile: every Service on the previous revision, the promoted one to zero.
    for (const service of ["web", "web-stable", "web-canary"]) {
      expect(w.selector(service)).toEqual({ "crescendo.dev/release": "web", "crescendo.dev/revision": R1 });
    }
    expect(w.deployment(R2)?.spec.replicas).toBe(0);
    expect(liveAnalysis(releaseSpec.parse(w.spec), w.s)).toEqual({});
  });

  it("stays Reverted: the template it turned away is not rolled out again until it changes or retry", () => {
    const { w } = promoted();
    w.tick(1000).measure("Failed");
    w.reconcile();
    w.tick(60_000);
    expect(reasons(w.advance())).toEqual([]);
    expect(w.s.phase).toBe("Reverted");
    const retried = w.act("retry").reconcile();
    expect(reasons(retried)).toEqual(["ActionAccepted", "RolloutRetried"]);
    expect(w.s).toMatchObject({
      phase: "Progressing",
      stableRevision: R1,
      canaryRevision: R2,
      currentStepIndex: 0,
    });
    expect(w.s.postPromotion).toBeUndefined();
  });

  it("a new template after a revert starts a new rollout from the reverted-to revision", () => {
    const { w } = promoted();
    w.tick(1000).measure("Failed");
    w.reconcile();
    w.setTemplate(V3, "3.0.0").reconcile();
    expect(w.s).toMatchObject({ phase: "Progressing", stableRevision: R1, canaryRevision: R3 });
    expect(w.s.postPromotion).toBeUndefined();
  });

  it("scales a previous revision kept at a share back up, the reverted one serving beside it until it is ready", () => {
    const { w } = promoted({
      strategy: canary({ duration: "10m", analysis: ["error-rate"], previousReplicasPercent: 25 }),
    });
    w.settle();
    expect(w.deployments[R1]?.specReplicas).toBe(1);
    w.tick(1000).measure("Failed");
    const r = w.reconcile();
    expect(w.s.phase).toBe("Reverted");
    expect(r.rolledBack?.stableAvailable).toBe(false);
    expect(reasons(r)).toEqual(["Reverted", "StableUnavailable"]);
    expect(w.condition("Ready")).toMatchObject({ status: "False", reason: "StableUnavailable" });
    // One write: the previous revision to full size, the stable Service on it, the reverted one kept.
    expect(w.deployment(R1)?.spec.replicas).toBe(4);
    expect(w.selector("web-stable")).toEqual({
      "crescendo.dev/release": "web",
      "crescendo.dev/revision": R1,
    });
    expect(w.selector("web")).toEqual({ "crescendo.dev/release": "web" });
    expect(w.deployments[R2]?.specReplicas).toBe(4);
    // Once it is ready, the revert completes: the reverted revision goes to zero.
    const done = w.advance();
    expect(reasons(done)).toEqual(["StableAvailable"]);
    expect(w.selector("web")).toEqual({ "crescendo.dev/release": "web", "crescendo.dev/revision": R1 });
    expect(w.deployment(R2)?.spec.replicas).toBe(0);
  });

  it("records the on-call notification in the revert's own status write, naming the failing metric", () => {
    const { w } = promoted();
    w.oncall = true;
    w.tick(1000).measure("Failed");
    w.reconcile();
    expect(w.s.notifications).toEqual([
      expect.objectContaining({
        id: `uid-1/${R2}/${w.now}`,
        revision: R2,
        at: iso(w.now),
        attempts: 0,
        reason: "PostPromotionAnalysisFailed",
        metric: "error-rate",
      }),
    ]);
  });

  it("reverts a blue-green promotion the same way", () => {
    const w = new World({
      strategy: {
        blueGreen: { autoPromotionSeconds: 0, postPromotion: { duration: "5m", analysis: ["error-rate"] } },
      },
      analysis: { metrics: [METRIC] },
    });
    w.reconcile();
    w.advance();
    w.setTemplate(V2, "2.0.0").reconcile();
    // preview → analysis (the verdict is not ours here: the step analysis has no verdict, so force past it)
    w.act("promote-full").reconcile();
    w.advance();
    expect(w.s).toMatchObject({
      stableRevision: R2,
      postPromotion: { result: "Verifying", previousRevision: R1 },
    });
    expect(w.selector("web-preview")).toEqual({
      "crescendo.dev/release": "web",
      "crescendo.dev/revision": R2,
    });
    w.tick(1000).measure("Failed");
    w.reconcile();
    expect(w.s).toMatchObject({ phase: "Reverted", stableRevision: R1, canaryRevision: R2 });
    expect(w.selector("web")).toEqual({ "crescendo.dev/release": "web", "crescendo.dev/revision": R1 });
  });
});

describe("post-promotion verification: what ends it early", () => {
  it("a new template supersedes it: the window and its measurements end, the previous revision stays parked", () => {
    const { w } = promoted();
    w.setTemplate(V3, "3.0.0").reconcile();
    expect(w.s).toMatchObject({ phase: "Progressing", stableRevision: R2, canaryRevision: R3 });
    expect(w.s.postPromotion).toBeUndefined();
    expect(w.s.scaleDown?.[0]?.revision).toBe(R1);
    expect(liveAnalysis(releaseSpec.parse(w.spec), w.s).postPromotion).toBeUndefined();
  });

  it("abort switches back to the previous revision at once, as after any promotion", () => {
    const { w } = promoted();
    const r = w.act("abort").reconcile();
    expect(reasons(r)).toEqual(["ActionAccepted", "RolledBack"]);
    expect(w.s).toMatchObject({ phase: "RolledBack", stableRevision: R1, canaryRevision: R2 });
    expect(w.s.postPromotion).toBeUndefined();
  });

  it("a Degraded promoted revision is still Degraded, and the window still runs", () => {
    const { w } = promoted();
    w.settle();
    w.deployments = { ...w.deployments, [R2]: { ...ready(R2, 4), availableReplicas: 2, readyReplicas: 2 } };
    const r = w.reconcile();
    expect(reasons(r)).toEqual(["Degraded"]);
    expect(w.s.postPromotion?.result).toBe("Verifying");
    w.measure("Failed");
    w.reconcile();
    expect(w.s.phase).toBe("Reverted");
  });
});
