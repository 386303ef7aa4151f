/**
 * A rollback never leaves the Release without pods: with the stable revision not ready (its
 * Deployment deleted mid-canary, or not yet ready again), abort and a failed analysis hold the
 * canary's pods and traffic, say StableUnavailable, and complete on their own once stable is
 * ready. The stable Deployment is recreated from its ControllerRevision meanwhile.
 */
import { describe, expect, it } from "vitest";
import { planObjects } from "./plan.js";
import { revisionOf } from "./revision.js";
import { step } from "./rollout.js";
import { heldCanaryWeight, rollbackHolds, STABLE_UNAVAILABLE } from "./stable-hold.js";
import { Cluster, V1, V2 } from "./test-cluster.js";

const R1 = revisionOf(V1);
const R2 = revisionOf(V2);

/** A Release healthy on V1, then rolling out V2 at 25 % (1 canary pod next to 4 stable ones). */
function midCanary(spec: Record<string, unknown> = {}): Cluster {
  const c = new Cluster(spec);
  c.reconcile();
  c.reconcile();
  expect(c.status.phase).toBe("Healthy");
  c.spec = { ...c.spec, template: V2, version: "2.0.0" };
  c.reconcile();
  c.reconcile();
  expect(c.status).toMatchObject({ phase: "Paused", canaryRevision: R2, stableRevision: R1 });
  expect(c.deployments[R2]?.readyReplicas).toBe(1);
  return c;
}

describe("ControllerRevisions", () => {
  it("keep the template of every live revision from its first reconcile, written once", () => {
    const c = midCanary();
    expect(Object.keys(c.revisions).sort()).toEqual([R1, R2].sort());
    expect(c.revisions[R1]?.template).toEqual(c.deployments[R1]?.template);
    expect(c.revisions[R2]?.template).toEqual(c.deployments[R2]?.template);
    expect(c.revisions[R2]!.number).toBeGreaterThan(c.revisions[R1]!.number);
  });

  it("record what `undo` needs: the spec.template the revision hashes, its version, its labels", () => {
    const c = new Cluster();
    const { plan } = c.reconcile();
    const kept = plan.objects.filter((o) => o.kind === "ControllerRevision");
    expect(kept.map((o) => o.metadata.name)).toEqual([`web-${R1}`]);
    expect(kept[0]?.metadata.labels).toMatchObject({
      "crescendo.dev/release": "web",
      "crescendo.dev/revision": R1,
      "app.kubernetes.io/version": "1.0.0",
    });
    const data = kept[0]?.["data"] as { release: { template: unknown; version: string } };
    expect(data.release).toEqual({ template: V1, version: "1.0.0" });
    expect(revisionOf(data.release.template)).toBe(R1);
  });

  it("recreate a deleted stable Deployment mid-canary with the very template it ran", () => {
    const c = midCanary();
    const before = c.deployments[R1]!.template;
    delete c.deployments[R1];
    const { plan } = c.reconcile();
    expect(plan.missing).toEqual([]);
    expect(c.deployments[R1]?.template).toEqual(before);
    expect(c.deployments[R1]?.specReplicas).toBe(4);
  });
});

describe("a rollback while the stable revision is not ready", () => {
  it("abort with the stable Deployment deleted: the canary keeps serving, StableUnavailable, then completes", () => {
    const c = midCanary();
    delete c.deployments[R1];
    c.notReady.add(R1); // recreated, but its pods take a while
    c.act("abort", "a1");
    const { result } = c.reconcile();
    expect(c.status.phase).toBe("RolledBack");
    expect(result.rolledBack).toMatchObject({ reason: "Aborted", stableAvailable: false });
    expect(result.rolledBack?.message).toMatch(/stable revision .* is not ready .*the canary keeps serving/);
    expect(result.events.map((e) => [e.type, e.reason])).toEqual(
      expect.arrayContaining([
        ["Warning", "RolledBack"],
        ["Warning", STABLE_UNAVAILABLE],
      ]),
    );
    expect(c.condition("Ready")).toMatchObject({ status: "False", reason: STABLE_UNAVAILABLE });
    expect(c.condition("Reconciling")).toMatchObject({ status: "True", reason: STABLE_UNAVAILABLE });
    expect(c.condition("RolledBack")).toMatchObject({ status: "True", reason: "Aborted" });
    // Never a moment without pods: the canary's pod serves, the stable one is recreated.
    expect(c.deployments[R2]?.specReplicas).toBe(1);
    expect(c.deployments[R1]?.specReplicas).toBe(4);
    expect(c.servingPods()).toBeGreaterThan(0);
    expect(c.status.canaryWeight).toBe(100);

    // Nothing new observed: nothing changes, no event repeats.
    const again = c.reconcile();
    expect(again.result.events).toEqual([]);
    expect(c.deployments[R2]?.specReplicas).toBe(1);

    // The stable pods are ready: the rollback completes on its own.
    c.notReady.delete(R1);
    c.deployments[R1] = { ...c.deployments[R1]!, readyReplicas: 4, availableReplicas: 4, updatedReplicas: 4 };
    const done = c.reconcile();
    expect(done.result.events.map((e) => e.reason)).toEqual(["StableAvailable"]);
    expect(c.deployments[R2]?.specReplicas).toBe(0);
    expect(c.condition("Ready")).toMatchObject({ status: "False", reason: "RolledBack" });
    expect(c.condition("Reconciling")).toMatchObject({ status: "False" });
    expect(c.status.canaryWeight).toBe(0);
    expect(c.servingPods()).toBe(4);
    expect((c.services["web"]?.["spec"] as { selector: object }).selector).toEqual({
      "crescendo.dev/release": "web",
      "crescendo.dev/revision": R1,
    });
    expect(c.reconcile().result.events).toEqual([]);
  });

  it("a failed analysis with the stable revision unavailable holds the same way", () => {
    const c = midCanary({
      strategy: { canary: { steps: [{ setWeight: 25 }, { pause: {} }], backgroundAnalysis: {} } },
      analysis: {
        metrics: [{ name: "error-rate", prometheus: { query: "q" }, thresholdRange: { max: 0.05 } }],
      },
    });
    c.deployments[R1] = { ...c.deployments[R1]!, readyReplicas: 0, availableReplicas: 0 };
    c.notReady.add(R1);
    // The background analysis fails: the verdict the analysis module would hand the state machine.
    const snap = c.snapshot();
    const result = step({
      ...snap,
      analysis: { background: { phase: "Failed", metric: "error-rate", message: "0.4 > 0.05" } },
    });
    expect(result.status.phase).toBe("RolledBack");
    expect(result.rolledBack).toMatchObject({ reason: "AnalysisFailed", stableAvailable: false });
    c.status = result.status;
    const plan = planObjects(c.snapshot(), c.status);
    const canary = plan.objects.find((o) => o.kind === "Deployment" && o.metadata.name === `web-${R2}`);
    // Unchanged (still 1 replica), so not even re-applied; never scaled to 0.
    expect(canary === undefined || (canary["spec"] as { replicas: number }).replicas === 1).toBe(true);
  });

  it("does not hold when the stable revision is ready: traffic back on stable, canary to zero, as before", () => {
    const c = midCanary();
    c.act("abort", "a1");
    const { result } = c.reconcile();
    expect(result.rolledBack).toMatchObject({ stableAvailable: true });
    expect(result.events.map((e) => e.reason)).not.toContain(STABLE_UNAVAILABLE);
    expect(c.deployments[R2]?.specReplicas).toBe(0);
    expect(c.condition("Ready")).toMatchObject({ reason: "RolledBack" });
  });

  it("begins after the rollback if the stable revision fails later, while the canary still has pods", () => {
    const c = midCanary();
    // The canary is aborted while stable is fine, but its scale-down has not been observed yet.
    c.act("abort", "a1");
    const snap = c.snapshot();
    const result = step(snap);
    c.status = result.status;
    c.deployments[R1] = { ...c.deployments[R1]!, readyReplicas: 1, availableReplicas: 1 };
    const later = step(c.snapshot());
    expect(later.events.map((e) => e.reason)).toEqual([STABLE_UNAVAILABLE]);
    expect(rollbackHolds(c.snapshot(), later.status)).toBe(true);
    // Traffic split by ready pods: 1 canary, 1 stable.
    expect(heldCanaryWeight(c.snapshot(), later.status)).toBe(50);
  });
});
