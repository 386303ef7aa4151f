import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { planObjects } from "./plan.js";
import { revisionOf } from "./revision.js";
import type { ObservedDeployment } from "./observed.js";
import { HISTORY_LIMIT, liveAnalysis, step, type StepResult } from "./rollout.js";
import { pendingAction, type AnalysisVerdict, type ReleaseSnapshot } from "./snapshot.js";
import type { HTTPRoute } from "./traffic/http-route.js";
import { iso, R1, R2, R3, ready, T0, template, V1, V2, V3 } from "./test-fixtures.js";
import { ReleaseWorld } from "./world.test-support.js";

// ---------------------------------------------------------------------------------------------
// A small world: one Release, the Deployments and route a cluster would show, verdicts the
// analysis module would give, and a clock. `reconcile` runs `step` as the controller would and
// checks, every time, that the result is a fixpoint (a second step on the same observation
// changes nothing and says nothing) and that the status satisfies the CRD schema.

/** 20 % → 1 min → analysis → 50 % → wait for promote; 4 replicas. */
const CANARY = {
  canary: {
    steps: [
      { setWeight: 20 },
      { pause: { duration: "1m" } },
      { analysis: {} },
      { setWeight: 50 },
      { pause: {} },
    ],
  },
};
const METRIC = {
  name: "error-rate",
  prometheus: { query: "rate(errors[1m])" },
  thresholdRange: { max: 0.05 },
};

type Raw = Record<string, unknown>;
type VerdictKind = "step" | "background";

class World extends ReleaseWorld {
  route: HTTPRoute | undefined;
  private verdicts: Partial<Record<VerdictKind, { key: string; verdict: AnalysisVerdict }>> = {};

  constructor(spec: Raw = {}) {
    super({ version: "1.0.0", replicas: 4, template: V1, strategy: CANARY, ...spec });
  }

  override snapshot(): ReleaseSnapshot {
    const release = this.release();
    const action = pendingAction(release);
    return {
      release,
      deployments: this.deployments,
      ...(this.route ? { route: this.route } : {}),
      analysis: { step: this.verdictFor("step"), background: this.verdictFor("background") },
      now: this.now,
      ...(action ? { action } : {}),
    };
  }

  /**
   * The cluster catches up with the plan: planned Deployments ready at their replicas (those it
   * leaves alone stay as they are, deleted ones go), the route at its weights.
   */
  override settle(): this {
    const plan = planObjects(this.snapshot(), this.status ?? {});
    const deleted = new Set(plan.deletions.filter((d) => d.kind === "Deployment").map((d) => d.name));
    const deployments = Object.fromEntries(
      Object.entries(this.deployments).filter(([, d]) => !deleted.has(d.name)),
    );
    for (const obj of plan.objects) {
      if (obj.kind === "Deployment") {
        const revision = obj.metadata.labels?.["crescendo.dev/revision"] ?? "";
        const spec = obj["spec"] as { replicas: number; template: Record<string, unknown> };
        deployments[revision] = {
          ...ready(revision, spec.replicas),
          labels: obj.metadata.labels ?? {},
          template: spec.template,
        };
      }
      if (obj.kind === "HTTPRoute" && this.route) {
        this.route = { ...this.route, spec: { ...this.route.spec, ...(obj as HTTPRoute).spec } };
      }
    }
    this.deployments = deployments;
    return this;
  }

  override setTemplate(t: Raw, version: string): this {
    super.setTemplate(t, version);
    this.generation++;
    return this;
  }

  setSpec(patch: Raw): this {
    this.spec = { ...this.spec, ...patch };
    this.generation++;
    return this;
  }

  /**
   * Records a measurement into the analysis currently in status (as the controller would) and
   * the verdict the analysis module would derive from it. The verdict belongs to that analysis
   * as recorded: once the state machine restarts the analysis, it no longer applies.
   */
  verdict(
    kind: VerdictKind,
    phase: AnalysisVerdict["phase"],
    message = `${phase.toLowerCase()} verdict`,
  ): this {
    const field = kind === "step" ? "analysis" : "backgroundAnalysis";
    const current = this.status?.[field];
    if (!current || !this.status) return this;
    const n = current.metrics.length + 1;
    const result = {
      name: `m${n}`,
      successful: phase === "Successful" ? 1 : 0,
      failed: phase === "Failed" ? 1 : 0,
      inconclusive: phase === "Inconclusive" ? 1 : 0,
      consecutiveInconclusive: phase === "Inconclusive" ? 1 : 0,
      measurements: [],
    };
    this.status = { ...this.status, [field]: { ...current, metrics: [...current.metrics, result] } };
    const verdict = { phase, message, ...(phase === "Failed" ? { metric: "error-rate" } : {}) };
    this.verdicts[kind] = { key: JSON.stringify(this.status[field]), verdict };
    return this;
  }

  private analysisKey(kind: VerdictKind): string | undefined {
    const a = kind === "step" ? this.status?.analysis : this.status?.backgroundAnalysis;
    return a ? JSON.stringify(a) : undefined;
  }

  private verdictFor(kind: VerdictKind): AnalysisVerdict | undefined {
    const v = this.verdicts[kind];
    return v && v.key === this.analysisKey(kind) ? v.verdict : undefined;
  }
}

/** A world whose first revision is deployed and Healthy. */
function healthy(spec: Raw = {}): World {
  const w = new World(spec);
  w.reconcile();
  w.advance();
  expect(w.s.phase).toBe("Healthy");
  return w;
}

/** A healthy world with a rollout of V2 just started. */
function rollingOut(spec: Raw = {}): World {
  const w = healthy(spec);
  w.setTemplate(V2, "2.0.0").reconcile();
  return w;
}

const reasons = (r: StepResult) => r.events.map((e) => e.reason);

// ---------------------------------------------------------------------------------------------

describe("first apply", () => {
  it("makes the first revision stable directly: Progressing until its Deployment is ready, then Healthy", () => {
    const w = new World();
    const first = w.reconcile();
    expect(w.s).toMatchObject({
      phase: "Progressing",
      stableRevision: R1,
      stableVersion: "1.0.0",
      observedGeneration: 1,
      desiredWeight: 0,
      canaryWeight: 0,
      selector: "crescendo.dev/release=web",
    });
    expect(w.s.canaryRevision).toBeUndefined();
    expect(reasons(first)).toEqual(["Deploying"]);
    expect(w.condition("Ready")?.status).toBe("False");
    expect(w.condition("Reconciling")?.status).toBe("True");

    w.deployments = { [R1]: { ...ready(R1, 4), availableReplicas: 2 } };
    w.reconcile();
    expect(w.s.phase).toBe("Progressing");
    expect(w.s.message).toContain("2/4");

    const done = w.advance();
    expect(w.s).toMatchObject({ phase: "Healthy", replicas: 4, readyReplicas: 4 });
    expect(reasons(done)).toEqual(["Healthy"]);
    expect(w.s.history).toBeUndefined();
    expect(w.condition("Ready")).toMatchObject({ status: "True", reason: "Healthy", observedGeneration: 1 });
    expect(w.condition("Reconciling")?.status).toBe("False");
    expect(w.condition("Stalled")?.status).toBe("False");
    expect(done.requeueAfterMs).toBeUndefined();
  });

  it("is Degraded when the stable revision loses pods with no rollout going on, and recovers", () => {
    const w = healthy();
    w.deployments = { [R1]: { ...ready(R1, 4), availableReplicas: 3, readyReplicas: 3 } };
    const down = w.reconcile();
    expect(w.s.phase).toBe("Degraded");
    expect(down.events).toEqual([
      { type: "Warning", reason: "Degraded", note: "3/4 replicas of 1.0.0 available" },
    ]);
    expect(w.condition("Ready")?.status).toBe("False");
    expect(w.condition("Reconciling")).toMatchObject({ status: "True", reason: "Degraded" });
    const up = w.advance();
    expect(w.s.phase).toBe("Healthy");
    expect(reasons(up)).toEqual(["Healthy"]);
  });

  it("follows spec.replicas (an HPA scaling through the scale subresource)", () => {
    const w = healthy();
    w.setSpec({ replicas: 6 }).reconcile();
    expect(w.s.phase).toBe("Degraded");
    w.advance();
    expect(w.s).toMatchObject({ phase: "Healthy", replicas: 6 });
  });
});

describe("a stable Deployment whose latest generation is not observed yet", () => {
  /** 2.0.0 promoted after one 50 % step, Healthy, its Deployment still labelled as the canary's. */
  function promoted(): World {
    const w = rollingOut({ strategy: { canary: { steps: [{ setWeight: 50 }] } } });
    expect(w.advance().promoted?.revision).toBe(R2);
    expect(w.s).toMatchObject({ phase: "Healthy", message: "2.0.0 is available with 4 replicas" });
    return w;
  }

  /** The promoted Deployment as the apiserver shows it right after the relabel, before the Deployment controller. */
  const relabelled = (over: Partial<ObservedDeployment> = {}): ObservedDeployment => ({
    ...ready(R2, 4),
    generation: 3,
    observedGeneration: 2,
    ...over,
  });

  it("keeps a promoted Release Healthy, saying nothing, until the relabel is observed", () => {
    const w = promoted();
    // The promotion relabels the new stable Deployment (track canary → stable): the applied-hash
    // annotation changes with it, and a Deployment's generation moves with its annotations.
    const planned = planObjects(w.snapshot(), w.s).objects.find((o) => o.metadata.name === `web-${R2}`);
    expect(planned?.metadata.labels?.["crescendo.dev/track"]).toBe("stable");

    const before = w.s;
    w.deployments = { ...w.deployments, [R2]: relabelled() };
    const unobserved = w.reconcile();
    expect(unobserved.events).toEqual([]);
    expect(w.s).toEqual(before);
    expect(w.condition("Ready")).toMatchObject({ status: "True", reason: "Healthy" });

    w.deployments = { ...w.deployments, [R2]: relabelled({ observedGeneration: 3 }) };
    const observed = w.reconcile();
    expect(observed.events).toEqual([]);
    expect(w.s).toMatchObject({ phase: "Healthy", message: "2.0.0 is available with 4 replicas" });
  });

  it("is Degraded once observed when pods are really missing", () => {
    const w = promoted();
    w.deployments = { ...w.deployments, [R2]: relabelled({ availableReplicas: 3, readyReplicas: 3 }) };
    w.reconcile();
    expect(w.s.phase).toBe("Healthy");

    w.deployments = {
      ...w.deployments,
      [R2]: relabelled({ observedGeneration: 3, availableReplicas: 3, readyReplicas: 3 }),
    };
    const down = w.reconcile();
    expect(w.s).toMatchObject({ phase: "Degraded", message: "3/4 replicas of 2.0.0 available" });
    expect(down.events).toEqual([
      { type: "Warning", reason: "Degraded", note: "3/4 replicas of 2.0.0 available" },
    ]);
  });

  it("keeps the first revision Progressing, with its message, until its Deployment is observed", () => {
    const w = new World();
    w.reconcile();
    const before = w.s;
    const created = { ...ready(R1, 0), specReplicas: 4, observedGeneration: undefined };
    w.deployments = { [R1]: created };
    expect(w.reconcile().events).toEqual([]);
    expect(w.s).toEqual(before);
  });

  it("names the pods not updated when every pod is available (a restart of the Deployment)", () => {
    const w = healthy();
    // kubectl rollout restart, observed: one surge pod on the new template next to the 4 old ones.
    const restarting = { generation: 2, observedGeneration: 2, replicas: 5, updatedReplicas: 1 };
    w.deployments = { [R1]: { ...ready(R1, 4), ...restarting } };
    w.reconcile();
    expect(w.s).toMatchObject({
      phase: "Degraded",
      message: "4/4 replicas of 1.0.0 available, only 1/4 updated",
    });
  });
});

describe("conditions", () => {
  it("keep lastTransitionTime until their status flips", () => {
    const w = healthy();
    const since = w.condition("Ready")?.lastTransitionTime;
    w.tick(5_000).reconcile();
    expect(w.condition("Ready")?.lastTransitionTime).toBe(since);
    w.setTemplate(V2, "2.0.0").tick(5_000).reconcile();
    const flipped = w.condition("Ready")?.lastTransitionTime;
    expect(flipped).not.toBe(since);
    w.tick(5_000).advance();
    expect(w.condition("Ready")?.lastTransitionTime).toBe(flipped);
    expect(w.condition("Ready")?.status).toBe("False");
  });

  it("carry the generation they were computed from", () => {
    const w = rollingOut();
    expect(w.condition("Reconciling")).toMatchObject({ status: "True", observedGeneration: 2 });
    expect(w.s.observedGeneration).toBe(2);
  });
});

describe("template changes", () => {
  it("start a rollout at step 0", () => {
    const w = healthy();
    w.tick(1_000).setTemplate(V2, "2.0.0");
    const r = w.reconcile();
    expect(w.s).toMatchObject({
      phase: "Progressing",
      stableRevision: R1,
      stableVersion: "1.0.0",
      canaryRevision: R2,
      canaryVersion: "2.0.0",
      currentStepIndex: 0,
      desiredWeight: 20,
      canaryWeight: 0,
      rolloutStartedAt: iso(T0 + 1_000),
      stepStartedAt: iso(T0 + 1_000),
    });
    expect(reasons(r)).toEqual(["RolloutStarted"]);
    expect(w.condition("Reconciling")?.status).toBe("True");
  });

  it("supersede an in-flight canary, recorded in history", () => {
    const w = rollingOut();
    w.advance();
    w.tick(2_000).setTemplate(V3, "3.0.0");
    const r = w.reconcile();
    expect(w.s).toMatchObject({
      canaryRevision: R3,
      canaryVersion: "3.0.0",
      currentStepIndex: 0,
      stableRevision: R1,
    });
    expect(w.s.history).toEqual([
      {
        revision: R2,
        version: "2.0.0",
        startedAt: iso(T0),
        finishedAt: iso(T0 + 2_000),
        outcome: "Superseded",
        reason: "NewRevision",
      },
    ]);
    expect(reasons(r)).toEqual(["Superseded", "RolloutStarted"]);
  });

  it("back to the stable revision clear the canary and return to Healthy", () => {
    const w = rollingOut();
    w.advance();
    w.setTemplate(V1, "1.0.0");
    const r = w.reconcile();
    expect(w.s.phase).toBe("Healthy");
    expect(w.s.canaryRevision).toBeUndefined();
    expect(w.s.currentStepIndex).toBeUndefined();
    expect(w.s.history?.[0]).toMatchObject({
      revision: R2,
      outcome: "Superseded",
      reason: "RevertedToStable",
    });
    expect(reasons(r)).toEqual(["Superseded", "RevertedToStable"]);
  });

  it("back to the stable revision after a rollback return to Healthy without a second history entry", () => {
    const w = rollingOut();
    w.act("abort").reconcile();
    expect(w.s.phase).toBe("RolledBack");
    w.setTemplate(V1, "1.0.0").advance();
    expect(w.s.phase).toBe("Healthy");
    expect(w.s.canaryRevision).toBeUndefined();
    expect(w.s.history).toHaveLength(1);
  });

  it("to a new revision leave RolledBack for a new rollout", () => {
    const w = rollingOut();
    w.act("abort").reconcile();
    w.setTemplate(V3, "3.0.0").reconcile();
    expect(w.s).toMatchObject({ phase: "Progressing", canaryRevision: R3, currentStepIndex: 0 });
    expect(w.s.abortedAt).toBeUndefined();
    expect(w.s.history?.map((h) => h.outcome)).toEqual(["RolledBack"]);
  });

  it("of spec.version alone do not start a rollout (the template is what is rolled out)", () => {
    const w = healthy();
    w.setSpec({ version: "1.0.1" }).reconcile();
    expect(w.s).toMatchObject({ phase: "Healthy", stableVersion: "1.0.0" });
    expect(w.s.canaryRevision).toBeUndefined();
  });
});

describe("canary steps", () => {
  it("run a full timeline to promotion (replica ratio)", () => {
    const w = rollingOut();
    expect(w.s.message).toContain("waiting for 20%");

    // setWeight 20: 1 canary pod next to 4 stable ones → 20 % achieved.
    let r = w.tick(10_000).advance();
    expect(w.s).toMatchObject({ currentStepIndex: 1, canaryWeight: 20, desiredWeight: 20 });
    expect(reasons(r)).toEqual(["StepCompleted"]);
    expect(r.requeueAfterMs).toBe(60_000);

    // pause 1m, counted from the start of the step.
    w.tick(59_999).reconcile();
    expect(w.s.currentStepIndex).toBe(1);
    expect(w.results.at(-1)?.requeueAfterMs).toBe(1);
    w.tick(1).reconcile();
    expect(w.s).toMatchObject({
      currentStepIndex: 2,
      analysis: { step: 2, metrics: [], startedAt: iso(w.now) },
    });

    // analysis: Running waits until its deadline (no metric and no interval known here: twice the
    // CRD's longest interval, 2 h), Successful moves on.
    w.verdict("step", "Running", "waiting for successful measurements (error-rate 0/1)");
    r = w.tick(3_600_000).reconcile();
    expect(w.s).toMatchObject({ currentStepIndex: 2, phase: "Progressing" });
    expect(w.s.message).toContain("error-rate 0/1");
    expect(r.requeueAfterMs).toBe(3_600_000);
    w.verdict("step", "Successful").reconcile();
    expect(w.s).toMatchObject({ currentStepIndex: 3, desiredWeight: 50 });

    // setWeight 50: 4 canary pods.
    w.advance();
    expect(w.s).toMatchObject({
      currentStepIndex: 4,
      canaryWeight: 50,
      phase: "Paused",
      pauseReason: "PauseStep",
    });
    expect(w.condition("Ready")).toMatchObject({ status: "False", reason: "PauseStep" });
    expect(w.condition("Stalled")?.status).toBe("False");
    expect(w.condition("Reconciling")?.status).toBe("False");

    // promote: past the pause, scale-up already satisfied (4 canary pods), promotion.
    w.tick(5_000);
    const promotedAt = w.now;
    r = w.act("promote").reconcile();
    expect(reasons(r)).toEqual(["ActionAccepted", "StepCompleted", "StepCompleted", "Promoted"]);
    expect(r.promoted).toEqual({ revision: R2, version: "2.0.0" });
    expect(w.s).toMatchObject({
      phase: "Healthy",
      stableRevision: R2,
      stableVersion: "2.0.0",
      desiredWeight: 0,
      canaryWeight: 0,
      scaleDown: [{ revision: R1, version: "1.0.0", at: iso(promotedAt + 30_000) }],
      lastAction: {
        id: "1",
        action: "promote",
        acceptedAt: iso(promotedAt),
        result: "promoted past step 4 (pause)",
      },
    });
    for (const field of [
      "canaryRevision",
      "canaryVersion",
      "currentStepIndex",
      "stepStartedAt",
      "rolloutStartedAt",
    ]) {
      expect(w.s).not.toHaveProperty(field);
    }
    expect(w.s.history).toEqual([
      {
        revision: R2,
        version: "2.0.0",
        startedAt: iso(T0),
        finishedAt: iso(promotedAt),
        outcome: "Promoted",
        reason: "Completed",
        replacedRevision: R1,
      },
    ]);
    expect(r.requeueAfterMs).toBe(30_000);

    // The old stable goes after the scale-down delay.
    w.tick(30_000).reconcile();
    expect(w.s.scaleDown).toBeUndefined();
    expect(w.results.at(-1)?.requeueAfterMs).toBeUndefined();
  });

  it("wait at the final scale-up until the canary runs at full size", () => {
    const w = rollingOut({ strategy: { canary: { steps: [{ setWeight: 20 }] } } });
    w.advance();
    expect(w.s.currentStepIndex).toBe(1);
    expect(w.s.message).toContain("scaling up before promotion: 1/4");
    expect(w.s.phase).toBe("Progressing");
    w.advance();
    expect(w.s).toMatchObject({ phase: "Healthy", stableRevision: R2 });
  });

  it("chain in one reconcile when nothing needs waiting (pause 0s)", () => {
    const w = rollingOut({
      strategy: { canary: { steps: [{ pause: { duration: "0s" } }, { pause: { duration: "0s" } }] } },
    });
    // The rollout started and already passed both pauses; only the scale-up waits.
    expect(w.s.currentStepIndex).toBe(2);
    const r = w.advance();
    expect(r.promoted?.revision).toBe(R2);
  });

  it("use rollback.scaleDownDelaySeconds for the replaced stable", () => {
    // 50 % needs 4 canary pods next to 4 stable ones: the scale-up is satisfied at once.
    const w = rollingOut({
      strategy: { canary: { steps: [{ setWeight: 50 }] } },
      rollback: { scaleDownDelaySeconds: 0 },
    });
    const r = w.advance();
    expect(r.promoted).toBeDefined();
    expect(r.requeueAfterMs).toBeUndefined();
    expect(w.s.scaleDown).toBeUndefined();
  });

  it("report the weight achieved, not the one asked, while the canary starts", () => {
    const w = rollingOut({ strategy: { canary: { steps: [{ setWeight: 50 }, { pause: {} }] } } });
    w.deployments = { ...w.deployments, [R2]: ready(R2, 2) };
    w.reconcile();
    expect(w.s).toMatchObject({ desiredWeight: 50, canaryWeight: 33, currentStepIndex: 0 });
  });
});

describe("analysis", () => {
  /** A rollout waiting in its analysis step (step 2). */
  function analysing(spec: Raw = {}): World {
    const w = rollingOut(spec);
    w.advance();
    w.tick(60_000).reconcile();
    expect(w.s.currentStepIndex).toBe(2);
    return w;
  }

  it("holds AnalysisDeadlineExceeded when the analysis is still undecided at its deadline", () => {
    // 10s interval, minSamples 1, failureLimit 0, inconclusiveLimit 3: 5 measurements at most
    // decide it, so the deadline is 2 × 50 s after the analysis began.
    const w = analysing({ analysis: { interval: "10s", metrics: [METRIC] } });
    const started = Date.parse(w.s.analysis?.startedAt ?? "");
    w.verdict("step", "Running", "waiting for successful measurements (error-rate 0/1)");
    const before = w.tick(99_000).reconcile();
    expect(w.s.phase).toBe("Progressing");
    expect(before.requeueAfterMs).toBe(started + 100_000 - w.now);
    const r = w.tick(1_000).reconcile();
    expect(w.s).toMatchObject({ phase: "Paused", pauseReason: "AnalysisDeadlineExceeded" });
    expect(w.s.message).toBe(
      `step 2: analysis started at ${iso(started)} reached no decision by its deadline ${iso(started + 100_000)} (waiting for successful measurements (error-rate 0/1))`,
    );
    expect(reasons(r)).toEqual(["AnalysisDeadlineExceeded"]);
    expect(r.events[0]?.type).toBe("Warning");
    expect(w.condition("Stalled")).toMatchObject({ status: "True", reason: "AnalysisDeadlineExceeded" });
    // resume starts the analysis afresh, with a deadline of its own.
    w.act("resume").tick(1_000).reconcile();
    expect(w.s).toMatchObject({ phase: "Progressing", currentStepIndex: 2 });
    expect(w.s.analysis?.startedAt).toBe(iso(w.now));
  });

  it("takes the interval the controller resolved (the squad's) for the deadline when it has one", () => {
    const w = analysing({ analysis: { metrics: [METRIC] } });
    const started = Date.parse(w.s.analysis?.startedAt ?? "");
    const snap = { ...w.snapshot(), analysisIntervalMs: 1_000 };
    // 2 × 5 × 1 s: without the controller's interval it would assume the CRD's longest, 1 h.
    expect(step({ ...snap, now: started + 9_999 }).status.pauseReason).toBeUndefined();
    expect(step({ ...snap, now: started + 10_000 }).status.pauseReason).toBe("AnalysisDeadlineExceeded");
    expect(step({ ...w.snapshot(), now: started + 7_199_999 }).status.pauseReason).toBeUndefined();
  });

  it("moves the deadline by the time no operator measured, recorded in status", () => {
    // Deadline 2 × 50 s; 120 s of it nobody measured (an operator restart, a Lease changing hands).
    const w = analysing({ analysis: { interval: "10s", metrics: [METRIC] } });
    const started = Date.parse(w.s.analysis?.startedAt ?? "");
    w.verdict("step", "Running", "waiting for successful measurements (error-rate 0/1)");
    w.status = { ...w.s, analysis: { ...w.s.analysis!, unattendedSeconds: 120 } };
    w.verdict("step", "Running", "waiting for successful measurements (error-rate 0/1)");
    const before = w.tick(219_000).reconcile();
    expect(w.s.phase).toBe("Progressing");
    expect(before.requeueAfterMs).toBe(started + 220_000 - w.now);
    w.tick(1_000).reconcile();
    expect(w.s).toMatchObject({ phase: "Paused", pauseReason: "AnalysisDeadlineExceeded" });
    expect(w.s.message).toBe(
      `step 2: analysis started at ${iso(started)} reached no decision by its deadline ${iso(started + 220_000)}, 120s of it added for time no operator measured (waiting for successful measurements (error-rate 0/1))`,
    );
  });

  it("does not let a new leader hold an analysis for the time before it started, but holds one it never measures", () => {
    const w = analysing({ analysis: { interval: "10s", metrics: [METRIC] } });
    const started = Date.parse(w.s.analysis?.startedAt ?? "");
    w.verdict("step", "Running", "waiting for successful measurements (error-rate 0/1)");
    const snap = { ...w.snapshot(), analysisIntervalMs: 10_000 };
    // Nothing measured since the start; this leader began 300 s later, past the 100 s deadline:
    // the gap before it (300 − 10 − 15 s) is nobody's, so it has until then + 100 s.
    const leaderSince = started + 300_000;
    const added = 300_000 - 10_000 - 15_000;
    const at = (now: number) => step({ ...snap, leaderSince, now }).status.pauseReason;
    expect(at(leaderSince)).toBeUndefined();
    expect(at(started + 100_000 + added - 1)).toBeUndefined();
    expect(at(started + 100_000 + added)).toBe("AnalysisDeadlineExceeded");
    // A leader that was there all along (or none known) holds at the deadline as before.
    expect(step({ ...snap, leaderSince: started - 1, now: started + 100_000 }).status.pauseReason).toBe(
      "AnalysisDeadlineExceeded",
    );
    expect(step({ ...snap, now: started + 100_000 }).status.pauseReason).toBe("AnalysisDeadlineExceeded");
  });

  it("rolls back on Failed, in one step, naming metric, values and threshold", () => {
    const w = analysing();
    const message = "error-rate failed 1 time, more than failureLimit 0: 0.08 > max 0.05";
    w.verdict("step", "Failed", message);
    const r = w.tick(1_000).reconcile();
    expect(w.s).toMatchObject({
      phase: "RolledBack",
      desiredWeight: 0,
      canaryWeight: 0,
      abortedAt: iso(w.now),
      canaryRevision: R2,
      stableRevision: R1,
      message: `rolled back 2.0.0 (revision ${R2}): ${message}`,
    });
    expect(r.rolledBack).toEqual({
      reason: "AnalysisFailed",
      message,
      revision: R2,
      version: "2.0.0",
      stableAvailable: true,
    });
    expect(r.events).toEqual([{ type: "Warning", reason: "RolledBack", note: w.s.message }]);
    expect(w.s.history?.[0]).toEqual({
      revision: R2,
      version: "2.0.0",
      startedAt: iso(T0),
      finishedAt: iso(w.now),
      outcome: "RolledBack",
      reason: "AnalysisFailed",
    });
    expect(w.condition("Ready")).toMatchObject({
      status: "False",
      reason: "RolledBack",
      message: w.s.message,
    });
    expect(w.condition("RolledBack")).toMatchObject({ status: "True", reason: "AnalysisFailed" });
    // kstatus Failed: the spec's revision will not run until a person reverts it or retries.
    expect(w.condition("Stalled")).toMatchObject({
      status: "True",
      reason: "RolledBack",
      message: w.s.message,
    });
    expect(w.condition("Reconciling")?.status).toBe("False");
    expect(liveAnalysis(w.release().spec, w.s)).toEqual({});
  });

  it("puts all traffic on stable in the rollback's own reconcile (replica ratio)", () => {
    const w = analysing({ service: { ports: [{ name: "http", port: 80 }] } });
    const plan = () => planObjects(w.snapshot(), w.s).objects;
    const selectorOf = (name: string) =>
      (
        plan().find((o) => o.kind === "Service" && o.metadata.name === name)?.["spec"] as {
          selector: Record<string, string>;
        }
      ).selector;
    expect(selectorOf("web")).toEqual({ "crescendo.dev/release": "web" });
    w.verdict("step", "Failed").reconcile();
    expect(w.s.phase).toBe("RolledBack");
    const byRevision = { "crescendo.dev/release": "web", "crescendo.dev/revision": R1 };
    expect(selectorOf("web")).toEqual(byRevision);
    expect(selectorOf("web-canary")).toEqual(byRevision);
    const canary = plan().find((o) => o.metadata.name === `web-${R2}`);
    expect((canary?.["spec"] as { replicas: number }).replicas).toBe(0);
  });

  it("stays RolledBack while nothing changes", () => {
    const w = analysing();
    w.verdict("step", "Failed").reconcile();
    const status = w.s;
    w.tick(86_400_000).advance();
    // The canary's pods are gone: status.replicas (every live pod, as the selector matches) follows.
    expect(w.s).toEqual({ ...status, readyReplicas: 4, replicas: 4 });
    expect(w.results.at(-1)?.events).toEqual([]);
  });

  it("pauses on Failed with onFailure Pause: Stalled until a person decides", () => {
    const w = analysing({ rollback: { onFailure: "Pause" } });
    const r = w.verdict("step", "Failed", "error-rate too high").reconcile();
    expect(w.s).toMatchObject({
      phase: "Paused",
      pauseReason: "AnalysisFailed",
      pausedAt: iso(w.now),
      currentStepIndex: 2,
    });
    expect(r.rolledBack).toBeUndefined();
    expect(r.events).toEqual([{ type: "Warning", reason: "AnalysisFailed", note: "error-rate too high" }]);
    expect(w.condition("Stalled")).toMatchObject({ status: "True", reason: "AnalysisFailed" });
    // abort still rolls back; resume would run the analysis again.
    w.act("abort").reconcile();
    expect(w.s.phase).toBe("RolledBack");
    expect(w.condition("RolledBack")?.reason).toBe("Aborted");
  });

  it("resume after a failed analysis (Pause) starts the analysis afresh", () => {
    const w = analysing({ rollback: { onFailure: "Pause" } });
    w.verdict("step", "Failed").reconcile();
    const old = w.s.analysis?.startedAt;
    w.tick(1_000).act("resume").reconcile();
    expect(w.s).toMatchObject({
      phase: "Progressing",
      currentStepIndex: 2,
      lastAction: { result: "resumed" },
    });
    expect(w.s.pauseReason).toBeUndefined();
    expect(w.s.analysis?.startedAt).not.toBe(old);
    expect(w.s.analysis?.metrics).toEqual([]);
  });

  it("pauses on Inconclusive (InconclusiveAnalysis); resume measures again, promote skips the step", () => {
    const w = analysing();
    w.verdict("step", "Inconclusive", "error-rate was inconclusive 4 times in a row").reconcile();
    expect(w.s).toMatchObject({ phase: "Paused", pauseReason: "InconclusiveAnalysis" });
    expect(w.condition("Stalled")).toMatchObject({ status: "True", reason: "InconclusiveAnalysis" });
    expect(liveAnalysis(w.release().spec, w.s)).toEqual({});
    w.tick(1_000).act("resume").reconcile();
    expect(w.s).toMatchObject({ phase: "Progressing", currentStepIndex: 2 });
    expect(liveAnalysis(w.release().spec, w.s)).toEqual({ step: { index: 2 } });
    w.verdict("step", "Inconclusive").reconcile();
    w.act("promote").reconcile();
    expect(w.s).toMatchObject({ phase: "Progressing", currentStepIndex: 3 });
  });

  it("never applies a verdict about an earlier analysis to a new one", () => {
    const w = analysing({ rollback: { onFailure: "Pause" } });
    w.verdict("step", "Failed").reconcile();
    // The same (stale) verdict is still what the analysis module last said about the old analysis;
    // after resume the fresh analysis is judged Running until measured.
    const snap = w.act("resume").snapshot();
    const r = step({ ...snap, analysis: { step: { phase: "Failed", message: "stale" } } });
    expect(r.status.phase).toBe("Progressing");
  });

  it("names the metrics to measure for the step", () => {
    const w = rollingOut({
      strategy: { canary: { steps: [{ analysis: { metrics: ["error-rate"] } }] } },
      analysis: { metrics: [METRIC] },
    });
    expect(liveAnalysis(w.release().spec, w.s)).toEqual({ step: { index: 0, metrics: ["error-rate"] } });
  });
});

describe("background analysis", () => {
  const BG = {
    strategy: { canary: { ...CANARY.canary, backgroundAnalysis: { metrics: ["error-rate"] } } },
    analysis: { metrics: [METRIC] },
  };

  it("starts with the rollout and is measured throughout, even through deliberate pauses", () => {
    const w = rollingOut(BG);
    expect(w.s.backgroundAnalysis).toEqual({ startedAt: iso(T0), metrics: [] });
    expect(liveAnalysis(w.release().spec, w.s)).toEqual({ background: { metrics: ["error-rate"] } });
    w.act("pause").reconcile();
    expect(liveAnalysis(w.release().spec, w.s)).toEqual({ background: { metrics: ["error-rate"] } });
  });

  it("fails the rollout at any step, even while paused", () => {
    const w = rollingOut(BG);
    w.advance();
    w.act("pause").reconcile();
    const r = w.verdict("background", "Failed", "error-rate 0.2 > max 0.05").reconcile();
    expect(w.s.phase).toBe("RolledBack");
    expect(r.rolledBack).toMatchObject({
      reason: "AnalysisFailed",
      message: "background analysis: error-rate 0.2 > max 0.05",
    });
  });

  it("with onFailure Pause holds; promote overrides it and restarts the background analysis", () => {
    const w = rollingOut({ ...BG, rollback: { onFailure: "Pause" } });
    w.verdict("background", "Failed").reconcile();
    expect(w.s).toMatchObject({ phase: "Paused", pauseReason: "AnalysisFailed", currentStepIndex: 0 });
    w.tick(1_000).act("promote").reconcile();
    expect(w.s).toMatchObject({ phase: "Progressing", currentStepIndex: 1 });
    expect(w.s.backgroundAnalysis).toEqual({ startedAt: iso(w.now), metrics: [] });
  });

  it("pauses on Inconclusive", () => {
    const w = rollingOut(BG);
    w.verdict("background", "Inconclusive").reconcile();
    expect(w.s).toMatchObject({ phase: "Paused", pauseReason: "InconclusiveAnalysis" });
  });
});

describe("progress deadline", () => {
  const DEADLINE = { progressDeadlineSeconds: 60 };

  it("fails a step that waits on readiness longer than the deadline", () => {
    const w = rollingOut(DEADLINE);
    expect(w.results.at(-1)?.requeueAfterMs).toBe(60_000);
    w.tick(59_999).reconcile();
    expect(w.s.phase).toBe("Progressing");
    expect(w.results.at(-1)?.requeueAfterMs).toBe(1);
    const r = w.tick(1).reconcile();
    expect(w.s.phase).toBe("RolledBack");
    expect(r.rolledBack?.reason).toBe("ProgressDeadlineExceeded");
    expect(r.rolledBack?.message).toContain("no progress in 60s: step 0: waiting for 20%");
    expect(w.condition("RolledBack")?.reason).toBe("ProgressDeadlineExceeded");
  });

  it("with onFailure Pause holds, Stalled; resume gives the step a fresh deadline", () => {
    const w = rollingOut({ ...DEADLINE, rollback: { onFailure: "Pause" } });
    w.tick(60_000).reconcile();
    expect(w.s).toMatchObject({ phase: "Paused", pauseReason: "ProgressDeadlineExceeded" });
    expect(w.condition("Stalled")).toMatchObject({ status: "True", reason: "ProgressDeadlineExceeded" });
    expect(w.results.at(-1)?.requeueAfterMs).toBeUndefined();
    w.tick(1_000).act("retry").reconcile();
    expect(w.s).toMatchObject({
      phase: "Progressing",
      stepStartedAt: iso(w.now),
      lastAction: { result: "retrying step 0" },
    });
  });

  it("does not count pauses and analysis waits", () => {
    const w = rollingOut({
      ...DEADLINE,
      strategy: { canary: { steps: [{ pause: { duration: "1h" } }, { analysis: {} }] } },
    });
    w.tick(3_599_000).reconcile();
    expect(w.s).toMatchObject({ phase: "Progressing", currentStepIndex: 0 });
    w.tick(1_000).reconcile();
    w.tick(3_600_000).reconcile();
    expect(w.s).toMatchObject({ phase: "Progressing", currentStepIndex: 1 });
  });

  it("is frozen by a manual pause: the step resumes with the time it had left", () => {
    const w = rollingOut(DEADLINE);
    w.tick(30_000).act("pause").reconcile();
    expect(w.s).toMatchObject({ phase: "Paused", pauseReason: "ManualPause" });
    expect(w.condition("Stalled")?.status).toBe("False");
    w.tick(600_000).act("resume").reconcile();
    expect(w.s).toMatchObject({ phase: "Progressing", stepStartedAt: iso(T0 + 600_000) });
    expect(w.results.at(-1)?.requeueAfterMs).toBe(30_000);
    w.tick(29_999).reconcile();
    expect(w.s.phase).toBe("Progressing");
    w.tick(1).reconcile();
    expect(w.s.phase).toBe("RolledBack");
  });

  it("applies to the final scale-up too", () => {
    const w = rollingOut({ ...DEADLINE, strategy: { canary: { steps: [{ setWeight: 20 }] } } });
    w.advance();
    w.tick(60_000).reconcile();
    expect(w.s.phase).toBe("RolledBack");
    expect(w.s.message).toContain("scaling up before promotion");
  });
});

describe("spec.paused", () => {
  it("holds a rollout where it is and resumes it with its clock frozen", () => {
    const w = rollingOut();
    w.advance();
    expect(w.s.currentStepIndex).toBe(1);
    w.tick(20_000).setSpec({ paused: true });
    const r = w.reconcile();
    expect(w.s).toMatchObject({ phase: "Paused", pauseReason: "Paused", currentStepIndex: 1 });
    expect(w.condition("Ready")).toMatchObject({ status: "False", reason: "Paused" });
    expect(reasons(r)).toEqual(["Paused"]);
    expect(r.requeueAfterMs).toBeUndefined();
    w.tick(3_600_000).reconcile();
    expect(w.s.currentStepIndex).toBe(1);
    w.setSpec({ paused: false });
    const resumed = w.reconcile();
    expect(reasons(resumed)).toEqual(["Resumed"]);
    // 40 of the 60 seconds of the pause step remain.
    expect(resumed.requeueAfterMs).toBe(40_000);
  });

  it("does not start a rollout: records the revision, no stage, no canary pods, no traffic", () => {
    const w = healthy({ paused: true, service: { ports: [{ name: "http", port: 80 }] } });
    const r = w.tick(1_000).setTemplate(V2, "2.0.0").reconcile();
    expect(w.s).toMatchObject({
      phase: "Paused",
      pauseReason: "Paused",
      pausedAt: iso(w.now),
      canaryRevision: R2,
      canaryVersion: "2.0.0",
      stableRevision: R1,
      desiredWeight: 0,
      canaryWeight: 0,
      rolloutStartedAt: iso(w.now),
    });
    expect(w.s.currentStepIndex).toBeUndefined();
    expect(w.s.stepStartedAt).toBeUndefined();
    expect(w.s.backgroundAnalysis).toBeUndefined();
    expect(reasons(r)).toEqual(["RolloutPending"]);
    expect(r.requeueAfterMs).toBeUndefined();
    expect(w.condition("Stalled")?.status).toBe("False");
    expect(liveAnalysis(w.release().spec, w.s)).toEqual({});
    const plan = planObjects(w.snapshot(), w.s);
    const canary = plan.objects.find((o) => o.metadata.name === `web-${R2}`);
    expect((canary?.["spec"] as { replicas: number }).replicas).toBe(0);
    const web = plan.objects.find((o) => o.kind === "Service" && o.metadata.name === "web");
    expect((web?.["spec"] as { selector: unknown }).selector).toEqual({
      "crescendo.dev/release": "web",
      "crescendo.dev/revision": R1,
    });

    // An hour later nothing has moved, and no deadline ran.
    w.settle();
    w.tick(3_600_000).reconcile();
    expect(w.s.currentStepIndex).toBeUndefined();
    expect(w.s.phase).toBe("Paused");

    // Cleared: step 0 starts now, with a fresh progress deadline.
    w.setSpec({ paused: false });
    const started = w.reconcile();
    expect(reasons(started)).toEqual(["RolloutStarted"]);
    expect(w.s).toMatchObject({
      phase: "Progressing",
      currentStepIndex: 0,
      desiredWeight: 20,
      stepStartedAt: iso(w.now),
    });
    expect(w.s.pauseReason).toBeUndefined();
    expect(started.requeueAfterMs).toBe(600_000);
    w.advance();
    expect(w.s.currentStepIndex).toBe(1);
  });

  it("records a revision that supersedes a held rollout without starting it", () => {
    const w = rollingOut();
    w.advance();
    w.setSpec({ paused: true }).reconcile();
    const r = w.setTemplate(V3, "3.0.0").reconcile();
    expect(reasons(r)).toEqual(["Superseded", "RolloutPending"]);
    expect(w.s).toMatchObject({
      canaryRevision: R3,
      phase: "Paused",
      pauseReason: "Paused",
      desiredWeight: 0,
    });
    expect(w.s.currentStepIndex).toBeUndefined();
    w.settle();
    expect(w.deployments[R3]?.replicas).toBe(0);
  });

  it("does not start a retried rollout either", () => {
    const w = rollingOut();
    w.act("abort").reconcile();
    w.setSpec({ paused: true });
    const r = w.act("retry").reconcile();
    expect(reasons(r)).toEqual(["ActionAccepted", "RolloutPending"]);
    expect(w.s).toMatchObject({ canaryRevision: R2, phase: "Paused", pauseReason: "Paused" });
    expect(w.s.currentStepIndex).toBeUndefined();
    w.setSpec({ paused: false });
    expect(reasons(w.reconcile())).toEqual(["RolloutStarted"]);
    expect(w.s.currentStepIndex).toBe(0);
  });

  it("refuses promote while set, but abort still works", () => {
    const w = rollingOut({ paused: true });
    expect(w.s).toMatchObject({ phase: "Paused", pauseReason: "Paused" });
    w.act("promote").reconcile();
    expect(w.s.lastAction?.result).toBe("ignored: spec.paused is set");
    w.act("promote-full").reconcile();
    expect(w.s.lastAction?.result).toBe("ignored: spec.paused is set");
    w.act("resume").reconcile();
    expect(w.s.lastAction?.result).toBe("ignored: spec.paused is set; set it to false to resume");
    w.act("abort").reconcile();
    expect(w.s.phase).toBe("RolledBack");
  });

  it("has nothing to hold without a rollout", () => {
    const w = healthy({ paused: true });
    expect(w.s.phase).toBe("Healthy");
  });
});

describe("actions", () => {
  it("act once per id and record the result", () => {
    const w = rollingOut();
    w.act("pause").tick(1_000).reconcile();
    expect(w.s.lastAction).toEqual({ id: "1", action: "pause", acceptedAt: iso(w.now), result: "paused" });
    // The same id again (the annotation is still there) does nothing.
    w.tick(1_000).reconcile();
    expect(w.s.lastAction?.acceptedAt).toBe(iso(T0 + 1_000));
    expect(w.results.at(-1)?.events).toEqual([]);
  });

  it("promote-full skips the remaining steps to the final scale-up", () => {
    const w = rollingOut();
    const r = w.act("promote-full").reconcile();
    expect(w.s).toMatchObject({
      currentStepIndex: 5,
      lastAction: { result: "skipping steps 0-4: scaling up for promotion" },
    });
    expect(reasons(r)).toEqual(["ActionAccepted", "PromotedFull"]);
    const done = w.advance();
    expect(done.promoted?.revision).toBe(R2);
    w.act("promote-full").reconcile();
    expect(w.s.lastAction?.result).toBe("ignored: no rollout in progress");
  });

  it("cannot skip the final scale-up: the stable Service never moves to an undersized revision", () => {
    const w = rollingOut({ strategy: { canary: { steps: [{ setWeight: 10 }] } } });
    w.advance();
    w.act("promote-full").reconcile();
    expect(w.s.lastAction?.result).toBe("ignored: already scaling up for promotion");
    w.act("promote").reconcile();
    expect(w.s).toMatchObject({
      phase: "Progressing",
      currentStepIndex: 1,
      lastAction: { result: "ignored: already promoting: waiting for the new revision to scale up" },
    });
    w.advance();
    expect(w.s).toMatchObject({ phase: "Healthy", stableRevision: R2 });
  });

  it("abort rolls back from any step, reason Aborted", () => {
    const w = rollingOut();
    w.advance();
    const r = w.act("abort").reconcile();
    expect(w.s).toMatchObject({
      phase: "RolledBack",
      desiredWeight: 0,
      canaryWeight: 0,
      lastAction: { result: "rolled back" },
    });
    expect(r.rolledBack).toEqual({
      reason: "Aborted",
      message: "aborted by action 1",
      revision: R2,
      version: "2.0.0",
      stableAvailable: true,
    });
    expect(w.condition("RolledBack")).toMatchObject({ status: "True", reason: "Aborted" });
    expect(reasons(r)).toEqual(["ActionAccepted", "RolledBack"]);
  });

  it("retry restarts the rolled-back revision from step 0", () => {
    const w = rollingOut();
    w.advance();
    w.act("abort").reconcile();
    w.settle();
    expect(w.deployments[R2]?.replicas).toBe(0);
    w.tick(5_000);
    const r = w.act("retry").reconcile();
    expect(w.s).toMatchObject({
      phase: "Progressing",
      canaryRevision: R2,
      currentStepIndex: 0,
      rolloutStartedAt: iso(w.now),
      desiredWeight: 20,
      lastAction: { result: "restarted the rollout from step 0" },
    });
    expect(w.s.abortedAt).toBeUndefined();
    expect(w.condition("RolledBack")).toBeUndefined();
    expect(reasons(r)).toEqual(["ActionAccepted", "RolloutRetried"]);
    w.advance();
    expect(w.s.currentStepIndex).toBe(1);
  });

  it("pause holds (ManualPause) and resume continues", () => {
    const w = rollingOut();
    w.act("pause").reconcile();
    expect(w.s).toMatchObject({ phase: "Paused", pauseReason: "ManualPause" });
    w.advance();
    expect(w.s.currentStepIndex).toBe(0);
    w.act("resume").reconcile();
    expect(w.s.currentStepIndex).toBe(1);
  });

  it("promote releases a manual pause and moves past the current step", () => {
    const w = rollingOut();
    w.act("pause").reconcile();
    w.act("promote").reconcile();
    expect(w.s).toMatchObject({ phase: "Progressing", currentStepIndex: 1 });
    expect(w.s.pauseReason).toBeUndefined();
  });

  const ignoredCases: [string, (w: World) => void, string, string][] = [
    ["promote", () => {}, "Healthy", "ignored: no rollout in progress"],
    ["promote-full", () => {}, "Healthy", "ignored: no rollout in progress"],
    ["pause", () => {}, "Healthy", "ignored: no rollout in progress"],
    ["resume", () => {}, "Healthy", "ignored: no rollout in progress"],
    ["retry", () => {}, "Healthy", "ignored: nothing to retry"],
    ["abort", () => {}, "Healthy", "ignored: no rollout in progress"],
    ["rearm", () => {}, "Healthy", "ignored: rearm applies to FeatureToggles"],
    ["explode", () => {}, "Healthy", 'ignored: unknown action "explode"'],
    ["retry", (w) => w.setTemplate(V2, "2").reconcile(), "Progressing", "ignored: nothing to retry"],
    ["resume", (w) => w.setTemplate(V2, "2").reconcile(), "Progressing", "ignored: not paused"],
    [
      "pause",
      (w) => w.setTemplate(V2, "2").reconcile() && w.act("pause").reconcile(),
      "Paused",
      "ignored: already paused (ManualPause)",
    ],
    [
      "resume",
      (w) =>
        w
          .setSpec({ strategy: { canary: { steps: [{ pause: {} }] } } })
          .setTemplate(V2, "2")
          .reconcile(),
      "Paused",
      "ignored: waiting for promote",
    ],
    [
      "promote",
      (w) => w.setTemplate(V2, "2").reconcile() && w.act("abort").reconcile(),
      "RolledBack",
      "ignored: the rollout was rolled back; use retry or change the template",
    ],
    [
      "abort",
      (w) => w.setTemplate(V2, "2").reconcile() && w.act("abort").reconcile(),
      "RolledBack",
      "ignored: already rolled back",
    ],
    [
      "pause",
      (w) => w.setTemplate(V2, "2").reconcile() && w.act("abort").reconcile(),
      "RolledBack",
      "ignored: the rollout was rolled back; use retry or change the template",
    ],
  ];

  it.each(ignoredCases)(
    "%s is recorded as ignored when it does not apply (%#)",
    (action, setup, phase, result) => {
      const w = healthy();
      w.tick(60_000);
      setup(w);
      const before = w.s;
      w.tick(1).act(action);
      const r = w.reconcile();
      expect(w.s.phase).toBe(phase);
      expect(w.s.lastAction?.result).toBe(result);
      expect(reasons(r)).toEqual(["ActionIgnored"]);
      const { lastAction: _a, conditions: _c, ...rest } = w.s;
      const { lastAction: _b, conditions: _d, ...restBefore } = before;
      expect(rest).toEqual(restBefore);
    },
  );

  it("ignores an action before anything is deployed", () => {
    const w = new World();
    w.act("promote").reconcile();
    expect(w.s.lastAction?.result).toBe("ignored: nothing is deployed yet");
    expect(w.s.stableRevision).toBe(R1);
  });

  it("ignores retry when the template moved on from the rolled-back revision", () => {
    const w = rollingOut();
    w.act("abort").reconcile();
    w.setTemplate(V3, "3.0.0").act("retry");
    w.reconcile();
    expect(w.s.canaryRevision).toBe(R3);
    expect(w.s.history?.[0]?.outcome).toBe("RolledBack");
    expect(w.s.lastAction?.result).toBe("ignored: the template changed; the new revision rolls out instead");
  });
});

describe("gateway API routing", () => {
  const GW = {
    strategy: {
      canary: {
        steps: [{ setWeight: 20 }, { pause: {} }],
        trafficRouting: { gatewayAPI: { httpRoute: "shop" } },
      },
    },
  };
  const route = (): HTTPRoute => ({
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: { name: "shop", namespace: "shop" },
    spec: { parentRefs: [{ name: "gw" }], rules: [{ backendRefs: [{ name: "web-stable", port: 80 }] }] },
  });

  it("moves on only when the route carries the weight, and reports the route's weight", () => {
    const w = new World(GW);
    w.route = route();
    w.reconcile();
    w.advance();
    w.setTemplate(V2, "2.0.0").reconcile();
    // The canary scales first; the route keeps 0 % until it is ready.
    w.advance();
    expect(w.s).toMatchObject({ currentStepIndex: 0, canaryWeight: 0 });
    expect(w.route.spec?.rules?.[0]?.backendRefs).toEqual([{ name: "web-stable", port: 80, weight: 100 }]);
    w.advance();
    expect(w.s).toMatchObject({ currentStepIndex: 1, canaryWeight: 20, phase: "Paused" });
    expect(w.route.spec?.rules?.[0]?.backendRefs).toEqual([
      { name: "web-stable", port: 80, weight: 80 },
      { name: "web-canary", port: 80, weight: 20 },
    ]);
    // Rollback: route back to 100/0 in the same reconcile.
    w.act("abort").reconcile();
    w.settle();
    expect(w.route.spec?.rules?.[0]?.backendRefs).toEqual([
      { name: "web-stable", port: 80, weight: 100 },
      { name: "web-canary", port: 80, weight: 0 },
    ]);
    expect(w.s.canaryWeight).toBe(0);
  });

  it("fails on the deadline when the route never references the Release", () => {
    const w = new World({ ...GW, progressDeadlineSeconds: 30 });
    w.reconcile();
    w.advance();
    w.setTemplate(V2, "2.0.0").advance();
    expect(w.s.message).toContain("HTTPRoute shop: no % now");
    w.tick(30_000).reconcile();
    expect(w.s.phase).toBe("RolledBack");
  });
});

describe("blue-green", () => {
  const BG = {
    replicas: 3,
    strategy: { blueGreen: { previewReplicas: 1, autoPromotionSeconds: 120, scaleDownDelaySeconds: 60 } },
    analysis: { metrics: [METRIC] },
  };

  it("runs preview → analysis → timed promotion → scale-up → switch, on injected time", () => {
    const w = healthy(BG);
    w.tick(1_000).setTemplate(V2, "2.0.0");
    let r = w.reconcile();
    expect(w.s).toMatchObject({
      phase: "Progressing",
      canaryRevision: R2,
      currentStepIndex: 0,
      desiredWeight: 0,
    });
    expect(r.requeueAfterMs).toBe(600_000); // the progress deadline of the preview

    // Preview ready at 1 replica → analysis.
    w.tick(10_000).advance();
    expect(w.s).toMatchObject({ currentStepIndex: 1, analysis: { step: 1, startedAt: iso(w.now) } });
    expect(w.deployments[R2]?.replicas).toBe(1);
    expect(liveAnalysis(w.release().spec, w.s)).toEqual({ step: { index: 1 } });

    // Analysis passes at T+5min → the auto-promotion clock starts then.
    w.tick(300_000).verdict("step", "Successful");
    r = w.reconcile();
    const passed = w.now;
    expect(w.s).toMatchObject({ currentStepIndex: 2, stepStartedAt: iso(passed), phase: "Progressing" });
    expect(w.s.message).toBe(`preview ready: promoting at ${iso(passed + 120_000)}`);
    expect(r.requeueAfterMs).toBe(120_000);

    w.tick(119_999).reconcile();
    expect(w.s.currentStepIndex).toBe(2);
    w.tick(1).reconcile();
    // Scale-up: the preview grows to 3 before it takes the active Service.
    expect(w.s).toMatchObject({ currentStepIndex: 3, phase: "Progressing" });
    r = w.advance();
    expect(r.promoted).toEqual({ revision: R2, version: "2.0.0" });
    expect(w.s).toMatchObject({
      phase: "Healthy",
      stableRevision: R2,
      scaleDown: [{ revision: R1, version: "1.0.0", at: iso(w.now + 60_000) }],
    });
    expect(r.requeueAfterMs).toBe(60_000);
    expect(w.deployments[R1]?.replicas).toBe(3);
    w.tick(60_000).advance();
    expect(w.s.scaleDown).toBeUndefined();
    expect(Object.keys(w.deployments)).toEqual([R2]);
  });

  it("without autoPromotionSeconds waits for promote (AwaitingPromotion)", () => {
    const w = healthy({ strategy: { blueGreen: {} } });
    w.setTemplate(V2, "2.0.0").reconcile();
    w.advance();
    expect(w.s).toMatchObject({ phase: "Paused", pauseReason: "AwaitingPromotion", currentStepIndex: 1 });
    expect(w.condition("Stalled")?.status).toBe("False");
    w.act("promote").reconcile();
    // previewReplicas defaults to replicas: the scale-up is already satisfied.
    expect(w.s).toMatchObject({ phase: "Healthy", stableRevision: R2 });
  });

  it("rolls back a failing preview without ever switching", () => {
    const w = healthy(BG);
    w.setTemplate(V2, "2.0.0").reconcile();
    w.advance();
    const r = w.verdict("step", "Failed", "error-rate 0.3 > 0.05").reconcile();
    expect(w.s).toMatchObject({ phase: "RolledBack", stableRevision: R1 });
    expect(r.rolledBack?.reason).toBe("AnalysisFailed");
  });

  it("abort after the switch, before scale-down, switches back", () => {
    const w = healthy({
      ...BG,
      strategy: { blueGreen: { autoPromotionSeconds: 0, scaleDownDelaySeconds: 60 } },
    });
    w.setTemplate(V2, "2.0.0").reconcile();
    w.advance();
    w.verdict("step", "Successful").reconcile();
    expect(w.s.stableRevision).toBe(R2);
    const promoted = w.now;
    w.tick(30_000);
    const r = w.act("abort").reconcile();
    expect(w.s).toMatchObject({
      phase: "RolledBack",
      stableRevision: R1,
      stableVersion: "1.0.0",
      canaryRevision: R2,
      canaryVersion: "2.0.0",
      lastAction: { result: `switched back to revision ${R1}` },
    });
    expect(w.s.scaleDown).toBeUndefined();
    expect(r.rolledBack).toMatchObject({ reason: "Aborted", revision: R2 });
    expect(w.s.history?.[0]).toMatchObject({
      revision: R2,
      outcome: "RolledBack",
      reason: "Aborted",
      startedAt: iso(promoted),
      finishedAt: iso(w.now),
    });
    // The old revision never stopped: the switch back needs no new pods.
    w.settle();
    expect(w.deployments[R1]?.replicas).toBe(3);
    expect(w.deployments[R2]?.replicas).toBe(0);
    // retry rolls the new revision out again.
    w.act("retry").reconcile();
    expect(w.s).toMatchObject({
      phase: "Progressing",
      canaryRevision: R2,
      stableRevision: R1,
      currentStepIndex: 0,
    });
  });

  it("abort after the scale-down is ignored: nothing is left to switch back to", () => {
    const w = healthy({ strategy: { blueGreen: { autoPromotionSeconds: 0, scaleDownDelaySeconds: 60 } } });
    w.setTemplate(V2, "2.0.0").reconcile();
    w.advance();
    expect(w.s.stableRevision).toBe(R2);
    w.tick(60_000).act("abort").reconcile();
    expect(w.s).toMatchObject({
      phase: "Healthy",
      lastAction: { result: "ignored: no rollout in progress" },
    });
  });

  it("reverting the template within the scale-down delay switches back at once", () => {
    const w = healthy({ strategy: { blueGreen: { autoPromotionSeconds: 0, scaleDownDelaySeconds: 60 } } });
    w.setTemplate(V2, "2.0.0").reconcile();
    w.advance();
    w.tick(10_000).setTemplate(V1, "1.0.0");
    const r = w.reconcile();
    expect(w.s).toMatchObject({
      phase: "Healthy",
      stableRevision: R1,
      scaleDown: [{ revision: R2, version: "2.0.0", at: iso(w.now + 60_000) }],
    });
    expect(w.s.canaryRevision).toBeUndefined();
    expect(w.s.history?.[0]).toMatchObject({ revision: R1, outcome: "Promoted", reason: "SwitchedBack" });
    expect(reasons(r)).toEqual(["SwitchedBack"]);
    expect(r.promoted?.revision).toBe(R1);
  });

  it("reverting to a parked revision that no longer serves is a normal rollout, not a switch", () => {
    const w = healthy({ strategy: { blueGreen: { autoPromotionSeconds: 0, scaleDownDelaySeconds: 60 } } });
    w.setTemplate(V2, "2.0.0").reconcile();
    w.advance();
    // The parked Deployment lost its pods (or was deleted) inside the delay.
    w.deployments[R1] = { ...ready(R1, 4), readyReplicas: 0, availableReplicas: 0 };
    w.tick(10_000).setTemplate(V1, "1.0.0");
    const r = w.reconcile();
    expect(r.promoted).toBeUndefined();
    expect(w.s).toMatchObject({
      phase: "Progressing",
      canaryRevision: R1,
      stableRevision: R2,
      currentStepIndex: 0,
    });
  });

  it("reverting after the scale-down is a normal rollout", () => {
    const w = healthy({ strategy: { blueGreen: { autoPromotionSeconds: 0, scaleDownDelaySeconds: 60 } } });
    w.setTemplate(V2, "2.0.0").reconcile();
    w.advance();
    w.tick(60_000).advance();
    expect(Object.keys(w.deployments)).toEqual([R2]);
    w.setTemplate(V1, "1.0.0").reconcile();
    expect(w.s).toMatchObject({
      phase: "Progressing",
      canaryRevision: R1,
      stableRevision: R2,
      currentStepIndex: 0,
    });
  });
});

describe("history", () => {
  it("keeps the newest 20 rollouts, newest first", () => {
    const w = healthy({
      strategy: { canary: { steps: [{ setWeight: 50 }] } },
      rollback: { scaleDownDelaySeconds: 0 },
    });
    for (let i = 2; i <= 25; i++) {
      w.tick(1_000)
        .setTemplate(template(`web:${i}`), `${i}.0.0`)
        .reconcile();
      w.advance();
      w.advance();
      expect(w.s.stableVersion).toBe(`${i}.0.0`);
    }
    expect(w.s.history).toHaveLength(HISTORY_LIMIT);
    expect(w.s.history?.[0]?.version).toBe("25.0.0");
    expect(w.s.history?.[19]?.version).toBe("6.0.0");
  });
});

// ---------------------------------------------------------------------------------------------
// Properties over random histories: whatever happens, `step` is a fixpoint on its own output
// (checked inside `reconcile`), the status satisfies the schema, every phase change is
// announced by an event, and the bounds hold.

describe("properties", () => {
  const specs: Raw[] = [
    {},
    { strategy: { canary: { ...CANARY.canary, backgroundAnalysis: {} } }, rollback: { onFailure: "Pause" } },
    {
      strategy: { blueGreen: { autoPromotionSeconds: 30, previewReplicas: 1 } },
      analysis: { metrics: [METRIC] },
    },
    { strategy: { blueGreen: {} }, paused: false },
    {
      strategy: {
        canary: {
          steps: [{ setWeight: 30 }, { analysis: {} }],
          trafficRouting: { gatewayAPI: { httpRoute: "shop" } },
        },
      },
      progressDeadlineSeconds: 30,
    },
  ];
  const op = fc.oneof(
    fc.record({ kind: fc.constant("tick" as const), ms: fc.integer({ min: 0, max: 200_000 }) }),
    fc.record({ kind: fc.constant("settle" as const) }),
    fc.record({ kind: fc.constant("template" as const), t: fc.constantFrom(V1, V2, V3) }),
    fc.record({
      kind: fc.constant("action" as const),
      a: fc.constantFrom("promote", "promote-full", "abort", "retry", "pause", "resume", "bogus"),
    }),
    fc.record({
      kind: fc.constant("verdict" as const),
      which: fc.constantFrom("step" as const, "background" as const),
      phase: fc.constantFrom(
        "Running" as const,
        "Successful" as const,
        "Failed" as const,
        "Inconclusive" as const,
      ),
    }),
    fc.record({ kind: fc.constant("paused" as const), on: fc.boolean() }),
    fc.record({ kind: fc.constant("replicas" as const), n: fc.integer({ min: 0, max: 6 }) }),
  );

  it("hold over random histories", () => {
    fc.assert(
      fc.property(fc.constantFrom(...specs), fc.array(op, { maxLength: 40 }), (spec, ops) => {
        const w = new World(spec);
        w.route = {
          apiVersion: "gateway.networking.k8s.io/v1",
          kind: "HTTPRoute",
          metadata: { name: "shop", namespace: "shop" },
          spec: { rules: [{ backendRefs: [{ name: "web-stable", port: 80 }] }] },
        };
        for (const o of ops) {
          if (o.kind === "tick") w.tick(o.ms);
          if (o.kind === "settle") w.settle();
          if (o.kind === "template") w.setTemplate(o.t, `v-${revisionOf(o.t)}`);
          if (o.kind === "action") w.act(o.a);
          if (o.kind === "verdict") w.verdict(o.which, o.phase);
          if (o.kind === "paused") w.setSpec({ paused: o.on });
          if (o.kind === "replicas") w.setSpec({ replicas: o.n });
          const before = w.s.phase;
          const r = w.reconcile();
          if (r.status.phase !== before) expect(r.events.length).toBeGreaterThan(0);
          expect(r.status.history?.length ?? 0).toBeLessThanOrEqual(HISTORY_LIMIT);
          expect(r.status.canaryWeight).toBeGreaterThanOrEqual(0);
          expect(r.status.canaryWeight).toBeLessThanOrEqual(100);
          expect(r.requeueAfterMs ?? 1).toBeGreaterThan(0);
          if (r.rolledBack) expect(r.status.phase).toBe("RolledBack");
          if (r.status.phase === "RolledBack") expect(r.status.canaryRevision).toBeDefined();
          expect(r.status.stableRevision).toBeDefined();
          expect(
            r.status.canaryRevision === undefined || r.status.canaryRevision !== r.status.stableRevision,
          ).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  }, 30_000);
});
