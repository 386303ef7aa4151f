/**
 * One Release driven by the real state machine (`step`) on a fake clock, its cluster settling to
 * the plan at once (Deployments ready, ControllerRevisions kept), for the delivery tests to read
 * the change records from the history it writes.
 */
import { expect } from "vitest";
import type { Release } from "../../api/kinds.js";
import { releaseSpec, type ReleaseStatus } from "../../api/release.js";
import { observeControllerRevision, type ObservedDeployment, type ObservedRevision } from "./observed.js";
import { planObjects } from "./plan.js";
import { revisionOf } from "./revision.js";
import { step } from "./rollout.js";
import { pendingAction, type AnalysisVerdict } from "./snapshot.js";
import { iso, ready, T0, template } from "./test-fixtures.js";

export const MIN = 60_000;
export const HOUR = 60 * MIN;
export const DAY = 24 * HOUR;
export const V = (n: number) => template(`web:${n}`);
export const R = (n: number) => revisionOf(V(n));

/** 50 % → pause until promote; the step analysis judged by `fail()`. */
export const CANARY = { canary: { steps: [{ setWeight: 50 }, { pause: {} }] } };
export const ANALYSED = {
  canary: { steps: [{ setWeight: 50 }, { analysis: {} }, { pause: {} }] },
};
export const METRIC = {
  name: "error-rate",
  prometheus: { query: "rate(errors[1m])" },
  thresholdRange: { max: 0.05 },
};

/** One Release driven by the real state machine, its cluster settling to the plan at once. */
export class Driver {
  now = T0;
  status: ReleaseStatus | undefined;
  deployments: Record<string, ObservedDeployment> = {};
  /** The ControllerRevisions the plan keeps, observed back: what `undo` returns to. */
  revisions: Record<string, ObservedRevision> = {};
  private spec: Record<string, unknown>;
  private annotations: Record<string, string> = {};
  private ids = 0;
  private verdict: { key: string; verdict: AnalysisVerdict } | undefined;

  constructor(spec: Record<string, unknown> = {}) {
    this.spec = { version: "1", replicas: 2, template: V(1), strategy: CANARY, ...spec };
    this.reconcile();
    this.settle();
  }

  private release(): Release {
    return {
      metadata: { name: "web", namespace: "shop", uid: "u", generation: 1, annotations: this.annotations },
      spec: releaseSpec.parse(this.spec),
      ...(this.status ? { status: this.status } : {}),
    };
  }

  private snapshot() {
    const release = this.release();
    const action = pendingAction(release);
    const key = JSON.stringify(this.status?.analysis);
    const stepVerdict = this.verdict && this.verdict.key === key ? this.verdict.verdict : undefined;
    return {
      release,
      deployments: this.deployments,
      revisions: this.revisions,
      analysis: stepVerdict ? { step: stepVerdict } : {},
      now: this.now,
      ...(action ? { action } : {}),
    };
  }

  reconcile(): this {
    this.status = step(this.snapshot()).status;
    return this;
  }

  /** The cluster catches up with the plan, then the controller reconciles. */
  settle(): this {
    const plan = planObjects(this.snapshot(), this.status ?? {});
    const deleted = new Set(plan.deletions.filter((d) => d.kind === "Deployment").map((d) => d.name));
    const next = Object.fromEntries(Object.entries(this.deployments).filter(([, d]) => !deleted.has(d.name)));
    const goneRevisions = new Set(
      plan.deletions.filter((d) => d.kind === "ControllerRevision").map((d) => d.name),
    );
    this.revisions = Object.fromEntries(
      Object.entries(this.revisions).filter(([, r]) => !goneRevisions.has(r.name)),
    );
    for (const obj of plan.objects) {
      const revision = obj.metadata.labels?.["crescendo.dev/revision"] ?? "";
      if (obj.kind === "ControllerRevision") {
        const observed = observeControllerRevision({
          ...obj,
          metadata: { ...obj.metadata, labels: { ...obj.metadata.labels } },
        });
        if (observed) this.revisions[revision] = observed;
      }
      if (obj.kind !== "Deployment") continue;
      const replicas = (obj["spec"] as { replicas: number }).replicas;
      next[revision] = { ...ready(revision, replicas), labels: obj.metadata.labels ?? {} };
    }
    this.deployments = next;
    return this.reconcile();
  }

  tick(ms: number): this {
    this.now += ms;
    return this;
  }

  set(n: number, change?: Record<string, unknown>): this {
    const { change: _old, ...rest } = this.spec;
    void _old;
    this.spec = { ...rest, template: V(n), version: String(n), ...(change ? { change } : {}) };
    return this.reconcile();
  }

  act(action: string): this {
    this.annotations = { "crescendo.dev/action": action, "crescendo.dev/action-id": String(++this.ids) };
    return this.reconcile();
  }

  /**
   * `undo` as the incident receiver writes it (`failureStartedAt` the alert's start, the action id
   * `incident-<id>`), or as a person's `kubectl crescendo undo` does (neither; `revision` if named).
   */
  undo(o: { failureStartedAt?: number; actionId?: string; revision?: string } = {}): this {
    this.annotations = {
      "crescendo.dev/action": "undo",
      "crescendo.dev/action-id": o.actionId ?? String(++this.ids),
      ...(o.revision ? { "crescendo.dev/undo-revision": o.revision } : {}),
      ...(o.failureStartedAt === undefined
        ? {}
        : { "crescendo.dev/failure-started-at": iso(o.failureStartedAt) }),
    };
    return this.reconcile();
  }

  /** Rolls revision `n` out and promotes it after `durationMs` of rollout. */
  ship(n: number, durationMs = 10 * MIN, change?: Record<string, unknown>): this {
    this.set(n, change).settle();
    this.tick(durationMs).act("promote").settle();
    expect(this.status?.stableRevision).toBe(R(n));
    return this.settle();
  }

  /** The step analysis fails with a measurement taken at `at`. */
  failAnalysis(at: number): this {
    const a = this.status?.analysis;
    if (!a || !this.status) throw new Error("no analysis in progress");
    const metric = {
      name: "error-rate",
      successful: 0,
      failed: 1,
      inconclusive: 0,
      consecutiveInconclusive: 0,
      measurements: [{ at: iso(at), phase: "Failed" as const, value: "0.2" }],
    };
    this.status = { ...this.status, analysis: { ...a, metrics: [metric] } };
    this.verdict = {
      key: JSON.stringify(this.status.analysis),
      verdict: { phase: "Failed", metric: "error-rate", message: "error-rate 0.2 > 0.05" },
    };
    return this.reconcile();
  }

  /** The stable revision loses pods (Degraded) or gets them back. */
  stablePods(available: number): this {
    const rev = this.status?.stableRevision ?? "";
    const dep = this.deployments[rev];
    if (!dep) throw new Error("no stable deployment");
    this.deployments = {
      ...this.deployments,
      [rev]: { ...dep, availableReplicas: available, readyReplicas: available },
    };
    return this.reconcile();
  }

  history() {
    return { release: "shop/web", status: this.status };
  }
}
