/**
 * The scale subresource under an HPA, over a whole rollout, with the HPA controller's own
 * formula (pkg/controller/podautoscaler/replica_calculator.go, every pod ready with metrics):
 * `usageRatio = mean(usage of the pods the selector matches) / target`; within the 10 %
 * tolerance the HPA keeps `status.replicas`, else it writes `ceil(usageRatio × readyPods)` to
 * `spec.replicas`. Load is constant and spread evenly over the pods the Release's Service sends
 * traffic to, so the right answer never changes: the pods that load needs at full traffic.
 */
import { describe, expect, it } from "vitest";
import { Cluster, V2 } from "./test-cluster.js";

const TOLERANCE = 0.1;

/** Which Deployments a label selector string (`k=v,k=v`) matches, by their pod labels. */
function matches(selector: string, labels: Record<string, string>): boolean {
  return selector.split(",").every((term) => {
    const [k, v] = term.split("=");
    return labels[k ?? ""] === v;
  });
}

/** Pod labels of a revision's Deployment (what a selector sees). */
function podLabels(c: Cluster, revision: string): Record<string, string> {
  const t = c.deployments[revision]?.template as
    { metadata?: { labels?: Record<string, string> } } | undefined;
  return t?.metadata?.labels ?? {};
}

/**
 * One HPA sync: the desired replicas, written to spec.replicas only when they differ from
 * `status.replicas` (the HPA's currentReplicas), as the HPA controller does.
 */
function hpaSync(c: Cluster, load: number, target: number): number {
  const selector = c.status.selector ?? "";
  const serviceSelector = (c.services["web"]?.["spec"] as { selector: Record<string, string> }).selector;
  const all = Object.keys(c.deployments);
  const serving = all.filter((r) =>
    Object.entries(serviceSelector).every(([k, v]) => podLabels(c, r)[k] === v),
  );
  const servingPods = serving.reduce((n, r) => n + (c.deployments[r]?.readyReplicas ?? 0), 0);
  const perPod = servingPods > 0 ? load / servingPods : 0;
  let pods = 0;
  let usage = 0;
  for (const r of all) {
    if (!matches(selector, podLabels(c, r))) continue;
    const n = c.deployments[r]?.readyReplicas ?? 0;
    pods += n;
    usage += n * (serving.includes(r) ? perPod : 0);
  }
  if (pods === 0) return c.spec["replicas"] as number;
  const ratio = usage / pods / target;
  if (Math.abs(ratio - 1) <= TOLERANCE) return c.status.replicas ?? (c.spec["replicas"] as number);
  return Math.ceil(ratio * pods);
}

/** Runs a rollout to promotion under an HPA, recording spec.replicas and serving pods at each sync. */
function rolloutUnderHpa(strategy: Record<string, unknown>) {
  const needed = 10;
  const target = 50; // e.g. 50 % CPU
  const load = needed * target;
  const c = new Cluster({ replicas: needed, strategy });
  for (let i = 0; i < 3; i++) c.reconcile();
  expect(c.status.phase).toBe("Healthy");
  c.spec = { ...c.spec, template: V2, version: "2.0.0" };
  const specs: number[] = [];
  const weights: number[] = [];
  c.reconcile();
  expect(c.status.canaryRevision).toBeDefined();
  for (let i = 0; i < 200 && c.status.canaryRevision; i++) {
    c.reconcile();
    c.reconcile();
    const desired = hpaSync(c, load, target);
    if (desired !== c.status.replicas) c.spec = { ...c.spec, replicas: desired };
    specs.push(c.spec["replicas"] as number);
    weights.push(c.status.canaryWeight ?? 0);
    c.now += 15_000;
  }
  return { c, specs, weights, needed };
}

describe("an HPA targeting a Release through its scale subresource", () => {
  const strategies = {
    "replica-ratio canary": {
      canary: {
        steps: [
          { setWeight: 20 },
          { pause: { duration: "2m" } },
          { setWeight: 50 },
          { pause: { duration: "2m" } },
          { setWeight: 80 },
          { pause: { duration: "2m" } },
        ],
      },
    },
    "blue-green": { blueGreen: { autoPromotionSeconds: 60 } },
  };

  for (const [name, strategy] of Object.entries(strategies)) {
    it(`keeps spec.replicas at what the load needs through a whole ${name} rollout (no inflation, no deflation)`, () => {
      const { c, specs, weights, needed } = rolloutUnderHpa(strategy);
      expect(c.status).toMatchObject({ phase: "Healthy" });
      expect(c.status.canaryRevision).toBeUndefined();
      if (name.includes("canary")) expect(Math.max(...weights)).toBeGreaterThanOrEqual(75);
      expect(new Set(specs)).toEqual(new Set([needed]));
      expect(c.spec["replicas"]).toBe(needed);
    });
  }

  it("scale subresource: status.selector and status.replicas describe the same pods", () => {
    const c = new Cluster({ replicas: 4 });
    for (let i = 0; i < 3; i++) c.reconcile();
    c.spec = { ...c.spec, template: V2, version: "2.0.0" };
    c.reconcile();
    c.reconcile();
    const matched = Object.keys(c.deployments).filter((r) =>
      matches(c.status.selector ?? "", podLabels(c, r)),
    );
    const pods = matched.reduce((n, r) => n + (c.deployments[r]?.replicas ?? 0), 0);
    expect(c.status.replicas).toBe(pods);
  });
});
