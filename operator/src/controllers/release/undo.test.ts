import { describe, expect, it } from "vitest";
import { observeControllerRevision, type ObservedRevision } from "./observed.js";
import { planObjects } from "./plan.js";
import type { StepResult } from "./rollout.js";
import { pendingAction, type ReleaseSnapshot } from "./snapshot.js";
import { R1, R2, R3, ready, V1, V2, V3 } from "./test-fixtures.js";
import { ReleaseWorld } from "./world.test-support.js";

// A Release promoted through V1 → V2 (→ V3), with the Deployments and ControllerRevisions the
// plan asks for observed back, as the controller would see them.

class World extends ReleaseWorld {
  revisions: Record<string, ObservedRevision> = {};
  private ids = 0;

  constructor() {
    super({
      version: "1.0.0",
      replicas: 2,
      template: V1,
      service: { ports: [{ name: "http", port: 80 }] },
      strategy: { canary: { steps: [{ setWeight: 50 }] } },
    });
  }

  override snapshot(): ReleaseSnapshot {
    const release = this.release();
    const action = pendingAction(release);
    return {
      release,
      deployments: this.deployments,
      revisions: this.revisions,
      analysis: {},
      now: this.now,
      ...(action ? { action } : {}),
    };
  }

  /** The cluster catches up with the plan: Deployments ready, ControllerRevisions kept. */
  override settle(): this {
    const plan = planObjects(this.snapshot(), this.status ?? {});
    // A Deployment and a ControllerRevision share a name (`<release>-<revision>`): match kinds too.
    const gone = (kind: string) => new Set(plan.deletions.filter((d) => d.kind === kind).map((d) => d.name));
    const goneDeployments = gone("Deployment");
    const goneRevisions = gone("ControllerRevision");
    this.deployments = Object.fromEntries(
      Object.entries(this.deployments).filter(([, d]) => !goneDeployments.has(d.name)),
    );
    this.revisions = Object.fromEntries(
      Object.entries(this.revisions).filter(([, r]) => !goneRevisions.has(r.name)),
    );
    for (const obj of plan.objects) {
      const revision = obj.metadata.labels?.["crescendo.dev/revision"] ?? "";
      if (obj.kind === "Deployment") {
        const spec = obj["spec"] as { replicas: number; template: Record<string, unknown> };
        this.deployments[revision] = ready(revision, spec.replicas, spec.template);
      }
      if (obj.kind === "ControllerRevision") {
        const observed = observeControllerRevision({
          ...obj,
          metadata: { ...obj.metadata, labels: { ...obj.metadata.labels } },
        });
        if (observed) this.revisions[revision] = observed;
      }
    }
    return this;
  }

  /** Applies `t` and runs its rollout to promotion. */
  rollOut(t: Record<string, unknown>, version: string): this {
    this.spec = { ...this.spec, template: t, version };
    for (let i = 0; i < 4; i++) this.advance();
    return this;
  }

  undo(revision?: string, failureStartedAt?: string): StepResult {
    this.annotations = {
      "crescendo.dev/action": "undo",
      "crescendo.dev/action-id": `id-${++this.ids}`,
      ...(revision ? { "crescendo.dev/undo-revision": revision } : {}),
      ...(failureStartedAt ? { "crescendo.dev/failure-started-at": failureStartedAt } : {}),
    };
    return this.reconcile();
  }
}

/** V1 deployed, then V2 promoted. */
function promoted(): World {
  const w = new World();
  w.advance();
  w.advance();
  w.rollOut(V2, "2.0.0");
  expect(w.s).toMatchObject({ phase: "Healthy", stableRevision: R2 });
  return w;
}

const reasons = (r: StepResult) => r.events.map((e) => e.reason);

describe("undo", () => {
  it("an incident's undo records its alert's start and its action id, for delivery metrics", () => {
    const w = promoted();
    w.undo(undefined, "2030-01-01T03:00:00Z");
    expect(w.s.history?.[0]).toMatchObject({
      revision: R1,
      reason: "Undone",
      failureStartedAt: "2030-01-01T03:00:00.000Z",
      // The link from the revert to the incident that asked for it (incident-<id> in real life).
      actionId: "id-1",
    });
    const plain = promoted();
    plain.undo(undefined, "not a time");
    expect(plain.s.history?.[0]?.failureStartedAt).toBeUndefined();
  });

  it("returns to the most recent previous revision at once, with no steps, and records the override", () => {
    const w = promoted();
    const r = w.undo();
    expect(w.s).toMatchObject({
      stableRevision: R1,
      stableVersion: "1.0.0",
      // Its Deployment is still parked at full size: it serves at once.
      phase: "Healthy",
      override: { revision: R1, version: "1.0.0", specRevision: R2, actionId: "id-1" },
      lastAction: { id: "id-1", action: "undo", result: "returned to 1.0.0 (revision " + R1 + ")" },
    });
    expect(w.s.canaryRevision).toBeUndefined();
    expect(w.s.currentStepIndex).toBeUndefined();
    expect(reasons(r)).toEqual(["ActionAccepted", "Undone", "Healthy"]);
    // The spec's revision is parked for the scale-down delay, as after a switch back.
    expect(w.s.scaleDown?.map((e) => e.revision)).toEqual([R2]);
    // Counted as a promotion of a revision deployed before: a revert for delivery metrics.
    expect(w.s.history?.[0]).toMatchObject({ revision: R1, outcome: "Promoted", reason: "Undone" });
  });

  it("stays on the undone revision while spec.template is unchanged, and becomes Healthy once it serves", () => {
    const w = promoted();
    delete w.deployments[R1];
    w.undo();
    expect(w.s.phase).toBe("Progressing");
    w.advance();
    w.advance();
    expect(w.s).toMatchObject({ phase: "Healthy", stableRevision: R1, override: { revision: R1 } });
    expect(w.deployments[R1]?.replicas).toBe(2);
  });

  it("recreates the undone revision's Deployment from its ControllerRevision when it is gone", () => {
    const w = promoted();
    delete w.deployments[R1];
    w.undo();
    const plan = planObjects(w.snapshot(), w.s);
    const dep = plan.objects.find((o) => o.kind === "Deployment" && o.metadata.name === `web-${R1}`);
    expect(dep?.["spec"]).toMatchObject({
      replicas: 2,
      template: { spec: { containers: [{ image: "web:1" }] } },
    });
    const services = plan.objects.filter((o) => o.kind === "Service");
    expect(services.length).toBeGreaterThan(0);
    for (const svc of services) expect(JSON.stringify(svc["spec"])).toContain(R1);
  });

  it("returns to an older revision named by --to-revision", () => {
    const w = promoted();
    w.rollOut(V3, "3.0.0");
    expect(Object.keys(w.revisions).sort()).toEqual([R1, R2, R3].sort());
    w.undo(R1);
    expect(w.s).toMatchObject({ stableRevision: R1, override: { revision: R1, specRevision: R3 } });
  });

  it("refuses a revision no ControllerRevision keeps, with a Warning, and changes nothing", () => {
    const w = promoted();
    const before = w.s;
    const r = w.undo("0123456789");
    expect(w.s.stableRevision).toBe(R2);
    expect(w.s.override).toBeUndefined();
    expect(w.s.lastAction?.result).toMatch(/^refused: revision 0123456789 is not kept/);
    expect(reasons(r)).toEqual(["ActionIgnored", "UndoRefused"]);
    expect(r.events.find((e) => e.reason === "UndoRefused")?.type).toBe("Warning");
    expect({ ...w.s, lastAction: undefined }).toEqual({ ...before, lastAction: undefined });
  });

  it("returns to a Release's first revision after its Deployment was scaled down and deleted", () => {
    // V1 was deployed, never rolled out: only the V2 promotion's replacedRevision keeps it.
    const w = promoted();
    expect(w.s.history?.[0]).toMatchObject({ revision: R2, replacedRevision: R1 });
    w.now += 3_600_000; // long past the scale-down delay
    w.advance();
    w.advance();
    expect(w.deployments[R1]).toBeUndefined();
    expect(w.revisions[R1]).toBeDefined();
    w.undo();
    expect(w.s).toMatchObject({ stableRevision: R1, stableVersion: "1.0.0", override: { revision: R1 } });
    w.advance();
    expect(w.deployments[R1]).toBeDefined();
  });

  it("refuses when no previous revision is kept", () => {
    const w = new World();
    w.advance();
    w.advance();
    w.undo();
    expect(w.s.lastAction?.result).toBe("refused: no previous revision is kept in a ControllerRevision");
  });

  it("ignores the running revision, a rollout in progress and a Release with nothing deployed", () => {
    const w = promoted();
    w.undo(R2);
    expect(w.s.lastAction?.result).toBe(`ignored: revision ${R2} is already running`);
    w.spec = { ...w.spec, template: V3, version: "3.0.0" };
    w.advance();
    expect(w.s.canaryRevision).toBe(R3);
    w.undo();
    expect(w.s.lastAction?.result).toMatch(/^ignored: a rollout is in progress/);
    const fresh = new World();
    fresh.undo();
    expect(fresh.s.lastAction?.result).toBe("ignored: nothing is deployed yet");
  });

  it("acts once per action id", () => {
    const w = promoted();
    w.undo();
    const r = w.reconcile();
    expect(r.events).toEqual([]);
    expect(w.s.history?.filter((h) => h.reason === "Undone")).toHaveLength(1);
  });

  it("ends when spec.template names a new revision, which rolls out from the undone one", () => {
    const w = promoted();
    w.undo();
    w.advance();
    w.spec = { ...w.spec, template: V3, version: "3.0.0" };
    const r = w.advance();
    expect(w.s.override).toBeUndefined();
    expect(w.s).toMatchObject({ stableRevision: R1, canaryRevision: R3, phase: "Progressing" });
    expect(reasons(r)).toContain("OverrideEnded");
    w.advance();
    w.advance();
    expect(w.s).toMatchObject({ stableRevision: R3, phase: "Healthy" });
  });

  it("ends without a rollout when GitOps sets spec.template to the undone revision", () => {
    const w = promoted();
    w.undo();
    w.advance();
    w.spec = { ...w.spec, template: V1, version: "1.0.0" };
    const r = w.advance();
    expect(w.s.override).toBeUndefined();
    expect(w.s).toMatchObject({ stableRevision: R1, phase: "Healthy" });
    expect(w.s.canaryRevision).toBeUndefined();
    expect(reasons(r)).toEqual(["OverrideEnded"]);
  });

  it("is not switched back by abort while overriding", () => {
    const w = promoted();
    w.undo();
    w.annotations = { "crescendo.dev/action": "abort", "crescendo.dev/action-id": "abort-1" };
    w.reconcile();
    expect(w.s.stableRevision).toBe(R1);
    expect(w.s.lastAction?.result).toMatch(/^ignored: running revision/);
  });
});
