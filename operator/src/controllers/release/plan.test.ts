import { describe, expect, it } from "vitest";
import type { Release } from "../../api/kinds.js";
import { releaseSpec, type ReleaseStatus } from "../../api/release.js";
import type { KubeObject } from "../../runtime/types.js";
import { desiredCanaryReplicas, labelValue, planObjects } from "./plan.js";
import { revisionOf } from "./revision.js";
import { step } from "./rollout.js";
import type { ObservedDeployment } from "./observed.js";
import type { ReleaseSnapshot } from "./snapshot.js";
import type { HTTPRoute } from "./traffic/http-route.js";

const T0 = Date.parse("2030-01-01T00:00:00.000Z");
const TEMPLATE = {
  metadata: { labels: { app: "web", team: "checkout" }, annotations: { "prometheus.io/scrape": "true" } },
  spec: { containers: [{ name: "web", image: "web:2" }] },
};
const STABLE = "stablerev1";
const CANARY = revisionOf(TEMPLATE);
const PORTS = {
  ports: [
    { name: "http", port: 80, targetPort: 8080 },
    { name: "metrics", port: 9090 },
  ],
};
const STEPS = { canary: { steps: [{ setWeight: 20 }, { pause: {} }] } };

function snapshot(
  spec: Record<string, unknown>,
  deployments: Record<string, ObservedDeployment> = {},
): ReleaseSnapshot {
  const release: Release = {
    apiVersion: "crescendo.dev/v1alpha1",
    kind: "Release",
    metadata: { name: "web", namespace: "shop", uid: "uid-1", generation: 3 },
    spec: releaseSpec.parse({
      version: "2.0.0+build.7",
      replicas: 4,
      template: TEMPLATE,
      strategy: STEPS,
      ...spec,
    }),
  };
  return { release, deployments, analysis: {}, now: T0, squad: { name: "checkout", tribe: "payments" } };
}

const rolling: ReleaseStatus = {
  phase: "Progressing",
  stableRevision: STABLE,
  stableVersion: "1.0.0",
  canaryRevision: CANARY,
  canaryVersion: "2.0.0+build.7",
  currentStepIndex: 0,
  desiredWeight: 20,
};

/**
 * A pod template as the apiserver returns it for the stable revision: an older image, the pod
 * labels Crescendo added, and defaults filled in. `spec.template` cannot reproduce it.
 */
const RUNNING_V1 = {
  metadata: {
    creationTimestamp: null,
    labels: { app: "web", "crescendo.dev/release": "web", "crescendo.dev/revision": STABLE },
  },
  spec: {
    containers: [{ name: "web", image: "web:1", imagePullPolicy: "IfNotPresent" }],
    restartPolicy: "Always",
  },
};

const ready = (
  revision: string,
  n: number,
  over: Partial<ObservedDeployment> = { template: RUNNING_V1 },
): ObservedDeployment => ({
  name: `web-${revision}`,
  revision,
  labels: {},
  ...over,
  generation: 1,
  observedGeneration: 1,
  specReplicas: n,
  replicas: n,
  readyReplicas: n,
  availableReplicas: n,
  updatedReplicas: n,
});

const ofKind = (objects: KubeObject[], kind: string) => objects.filter((o) => o.kind === kind);
const named = (objects: KubeObject[], name: string) => objects.find((o) => o.metadata.name === name);
const replicasOf = (o: KubeObject | undefined) =>
  (o?.["spec"] as { replicas?: number } | undefined)?.replicas;
const specOf = (o: KubeObject | undefined) => o?.["spec"] as Record<string, unknown>;
const imageOf = (o: KubeObject | undefined) =>
  (specOf(o)["template"] as { spec: { containers: { image: string }[] } }).spec.containers[0]?.image;
/** The Deployment labels the plan gives a revision of this Release in `track`. */
const labelsFor = (revision: string, version: string, track?: string) => ({
  "app.kubernetes.io/managed-by": "crescendo",
  "app.kubernetes.io/name": "web",
  "crescendo.dev/release": "web",
  "backstage.io/kubernetes-id": "web",
  "crescendo.dev/squad": "checkout",
  "crescendo.dev/tribe": "payments",
  "crescendo.dev/revision": revision,
  "app.kubernetes.io/version": version,
  ...(track ? { "crescendo.dev/track": track } : {}),
});

describe("Deployments", () => {
  it("run one per live revision, named <release>-<revision>, stable at full size, canary at the weight's share", () => {
    const { objects } = planObjects(snapshot({}, { [STABLE]: ready(STABLE, 3) }), rolling);
    const deployments = ofKind(objects, "Deployment");
    expect(deployments.map((d) => d.metadata.name)).toEqual([`web-${STABLE}`, `web-${CANARY}`]);
    expect(replicasOf(deployments[0])).toBe(4);
    expect(replicasOf(deployments[1])).toBe(1); // round(4·20/80)
  });

  it("select pods by release and revision only", () => {
    const dep = named(planObjects(snapshot({}), rolling).objects, `web-${CANARY}`);
    expect(specOf(dep)["selector"]).toEqual({
      matchLabels: { "crescendo.dev/release": "web", "crescendo.dev/revision": CANARY },
    });
  });

  it("carry the track, squad and tribe on the Deployment, never on the pod template", () => {
    const dep = named(planObjects(snapshot({}), rolling).objects, `web-${CANARY}`);
    expect(dep?.metadata).toEqual({
      name: `web-${CANARY}`,
      namespace: "shop",
      labels: {
        "app.kubernetes.io/managed-by": "crescendo",
        "app.kubernetes.io/name": "web",
        "app.kubernetes.io/version": "2.0.0-build.7",
        "crescendo.dev/release": "web",
        "crescendo.dev/revision": CANARY,
        "crescendo.dev/track": "canary",
        "crescendo.dev/squad": "checkout",
        "crescendo.dev/tribe": "payments",
        "backstage.io/kubernetes-id": "web",
      },
      ownerReferences: [
        {
          apiVersion: "crescendo.dev/v1alpha1",
          kind: "Release",
          name: "web",
          uid: "uid-1",
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
      // Deleted while no operator runs, it stays (Terminating) and keeps its pods serving.
      finalizers: ["crescendo.dev/serving"],
    });
    expect(specOf(dep)["template"]).toEqual({
      metadata: {
        labels: {
          app: "web",
          team: "checkout",
          "app.kubernetes.io/managed-by": "crescendo",
          "app.kubernetes.io/name": "web",
          "app.kubernetes.io/version": "2.0.0-build.7",
          "crescendo.dev/release": "web",
          "crescendo.dev/revision": CANARY,
          "backstage.io/kubernetes-id": "web",
        },
        annotations: { "prometheus.io/scrape": "true" },
      },
      spec: { containers: [{ name: "web", image: "web:2" }] },
    });
  });

  it("keep the pod template identical through promotion, so promotion restarts no pod", () => {
    const snap = snapshot(
      { strategy: { canary: { steps: [{ setWeight: 50 }] } } },
      {
        [STABLE]: ready(STABLE, 4),
        [CANARY]: ready(CANARY, 4),
      },
    );
    const before = { ...rolling, desiredWeight: 50 };
    const promoted = step({ ...snap, release: { ...snap.release, status: before } });
    expect(promoted.promoted?.revision).toBe(CANARY);
    const templateOf = (status: ReleaseStatus) =>
      specOf(named(planObjects(snap, status).objects, `web-${CANARY}`))["template"];
    expect(templateOf(promoted.status)).toEqual(templateOf(before));
    const dep = named(planObjects(snap, promoted.status).objects, `web-${CANARY}`);
    expect(dep?.metadata.labels?.["crescendo.dev/track"]).toBe("stable");
    expect(replicasOf(dep)).toBe(4);
  });

  it("label Deployments with the version recorded for the revision, not the current spec.version", () => {
    const snap = snapshot({ version: "9.9.9" }, { [STABLE]: ready(STABLE, 4) });
    const dep = named(planObjects(snap, rolling).objects, `web-${STABLE}`);
    expect(dep?.metadata.labels?.["app.kubernetes.io/version"]).toBe("1.0.0");
  });

  it("scale a rolled-back canary to zero but keep it", () => {
    const dep = named(
      planObjects(snapshot({}), { ...rolling, phase: "RolledBack" }).objects,
      `web-${CANARY}`,
    );
    expect(replicasOf(dep)).toBe(0);
  });

  it("run the canary at full size for the final scale-up", () => {
    expect(desiredCanaryReplicas(snapshot({}), { ...rolling, currentStepIndex: 2 })).toBe(4);
  });

  it("run no canary pods for a rollout recorded while spec.paused, whatever its first stage", () => {
    const recorded: ReleaseStatus = {
      ...rolling,
      currentStepIndex: undefined,
      desiredWeight: 0,
      phase: "Paused",
      pauseReason: "Paused",
    };
    const full = snapshot({ paused: true, strategy: { canary: { steps: [{ setWeight: 100 }] } } });
    expect(desiredCanaryReplicas(snapshot({ paused: true }), recorded)).toBe(0);
    expect(desiredCanaryReplicas(full, { ...recorded, desiredWeight: 100 })).toBe(0);
    expect(desiredCanaryReplicas(snapshot({ paused: true, strategy: { blueGreen: {} } }), recorded)).toBe(0);
  });

  it("run a blue-green preview at previewReplicas, defaulting to replicas", () => {
    const bg = (strategy: Record<string, unknown>) => snapshot({ strategy: { blueGreen: strategy } });
    expect(desiredCanaryReplicas(bg({ previewReplicas: 1 }), { ...rolling, currentStepIndex: 0 })).toBe(1);
    expect(desiredCanaryReplicas(bg({}), { ...rolling, currentStepIndex: 0 })).toBe(4);
    const dep = named(planObjects(bg({}), { ...rolling, currentStepIndex: 0 }).objects, `web-${CANARY}`);
    expect(dep?.metadata.labels?.["crescendo.dev/track"]).toBe("preview");
  });

  it("keep a replaced revision at full size until its scale-down time, then delete it", () => {
    const status: ReleaseStatus = {
      phase: "Healthy",
      stableRevision: CANARY,
      stableVersion: "2.0.0",
      scaleDown: [{ revision: STABLE, version: "1.0.0", at: new Date(T0 + 1).toISOString() }],
    };
    const deployments = { [STABLE]: ready(STABLE, 4), [CANARY]: ready(CANARY, 4) };
    const kept = planObjects(snapshot({}, deployments), status);
    const parked = named(kept.objects, `web-${STABLE}`);
    expect(replicasOf(parked)).toBe(4);
    expect(parked?.metadata.labels?.["crescendo.dev/track"]).toBeUndefined();
    expect(kept.deletions.filter((d) => d.kind === "Deployment")).toEqual([]);

    const later = { ...snapshot({}, deployments), now: T0 + 1 };
    const gone = planObjects(later, status);
    expect(named(gone.objects, `web-${STABLE}`)).toBeUndefined();
    expect(gone.deletions).toContainEqual({
      apiVersion: "apps/v1",
      kind: "Deployment",
      name: `web-${STABLE}`,
    });
  });

  it("delete observed Deployments of revisions no longer live (a superseded canary)", () => {
    const snap = snapshot({}, { old: { ...ready("old", 1), name: "web-old" }, [STABLE]: ready(STABLE, 4) });
    expect(planObjects(snap, rolling).deletions).toContainEqual({
      apiVersion: "apps/v1",
      kind: "Deployment",
      name: "web-old",
    });
  });
});

describe("pod templates", () => {
  const V3 = { ...TEMPLATE, spec: { containers: [{ name: "web", image: "web:3" }] } };
  const R3 = revisionOf(V3);
  /** The canary's template as the apiserver returns it once created from TEMPLATE. */
  const RUNNING_V2 = {
    ...TEMPLATE,
    metadata: { ...TEMPLATE.metadata, creationTimestamp: null },
    spec: { containers: [{ name: "web", image: "web:2", imagePullPolicy: "IfNotPresent" }] },
  };

  it("keep the stable revision's running template during a canary, never the canary's", () => {
    const snap = snapshot({}, { [STABLE]: ready(STABLE, 4), [CANARY]: ready(CANARY, 1) });
    const { objects } = planObjects(snap, rolling);
    const stable = named(objects, `web-${STABLE}`);
    expect(specOf(stable)["template"]).toEqual(RUNNING_V1);
    expect(imageOf(stable)).toBe("web:1");
    expect(imageOf(named(objects, `web-${CANARY}`))).toBe("web:2");
  });

  it("leave a revision that is not current untouched when its size and labels are as planned", () => {
    const labels = labelsFor(STABLE, "1.0.0", "stable");
    const finalizers = ["crescendo.dev/serving"];
    const snap = snapshot({}, { [STABLE]: ready(STABLE, 4, { template: RUNNING_V1, labels, finalizers }) });
    const plan = planObjects(snap, rolling);
    // Re-applying the observed template would only rewrite the applied-hash annotation, which
    // moves a Deployment's generation: nothing is planned for it, and nothing is deleted.
    expect(named(plan.objects, `web-${STABLE}`)).toBeUndefined();
    expect(plan.deletions.map((d) => d.name)).not.toContain(`web-${STABLE}`);
    expect(plan.missing).toEqual([]);
    // Resized (spec.replicas changed), it is planned again, still with its own template.
    const resized = planObjects(snapshot({ replicas: 6 }, snap.deployments), rolling);
    expect(replicasOf(named(resized.objects, `web-${STABLE}`))).toBe(6);
    expect(specOf(named(resized.objects, `web-${STABLE}`))["template"]).toEqual(RUNNING_V1);
    // One from before the serving finalizer is applied once, to get it; nothing else changes.
    const before = snapshot({}, { [STABLE]: ready(STABLE, 4, { template: RUNNING_V1, labels }) });
    const upgraded = named(planObjects(before, rolling).objects, `web-${STABLE}`);
    expect(upgraded?.metadata.finalizers).toEqual(finalizers);
    expect(specOf(upgraded)["template"]).toEqual(RUNNING_V1);
    expect(replicasOf(upgraded)).toBe(4);
  });

  it("keep a promoted canary's template: rendered while current, observed once a newer rollout starts", () => {
    const promoted: ReleaseStatus = { phase: "Healthy", stableRevision: CANARY, stableVersion: "2.0.0" };
    const atV2 = snapshot({}, { [CANARY]: ready(CANARY, 4, { template: RUNNING_V2 }) });
    expect(imageOf(named(planObjects(atV2, promoted).objects, `web-${CANARY}`))).toBe("web:2");

    const atV3 = snapshot({ template: V3, version: "3.0.0" }, atV2.deployments);
    const { objects } = planObjects(atV3, {
      ...promoted,
      phase: "Progressing",
      canaryRevision: R3,
      canaryVersion: "3.0.0",
      currentStepIndex: 0,
      desiredWeight: 20,
    });
    const stable = named(objects, `web-${CANARY}`);
    expect(specOf(stable)["template"]).toEqual(RUNNING_V2);
    expect(stable?.metadata.labels).toEqual(labelsFor(CANARY, "2.0.0", "stable"));
    expect(imageOf(named(objects, `web-${R3}`))).toBe("web:3");
  });

  it("keep a scale-down revision's template, relabelled off its track", () => {
    const status: ReleaseStatus = {
      phase: "Healthy",
      stableRevision: CANARY,
      stableVersion: "2.0.0",
      scaleDown: [{ revision: STABLE, version: "1.0.0", at: new Date(T0 + 30_000).toISOString() }],
    };
    const labels = labelsFor(STABLE, "1.0.0", "stable");
    const snap = snapshot({}, { [STABLE]: ready(STABLE, 4, { template: RUNNING_V1, labels }) });
    const parked = named(planObjects(snap, status).objects, `web-${STABLE}`);
    expect(specOf(parked)["template"]).toEqual(RUNNING_V1);
    expect(parked?.metadata.labels).toEqual(labelsFor(STABLE, "1.0.0"));
    expect(replicasOf(parked)).toBe(4);
  });

  it("do not plan a revision that is not current and whose Deployment is gone: it cannot be recreated", () => {
    const plan = planObjects(snapshot({}, { [CANARY]: ready(CANARY, 1) }), rolling);
    expect(named(plan.objects, `web-${STABLE}`)).toBeUndefined();
    expect(plan.missing).toEqual([STABLE]);
    expect(plan.deletions.map((d) => d.name)).not.toContain(`web-${STABLE}`);
    // The current revision is always planned, observed or not.
    expect(named(plan.objects, `web-${CANARY}`)).toBeDefined();
    const first = planObjects(snapshot({}), { phase: "Progressing", stableRevision: CANARY });
    expect(first.missing).toEqual([]);
    expect(imageOf(named(first.objects, `web-${CANARY}`))).toBe("web:2");
  });
});

describe("Services", () => {
  const selector = (objects: KubeObject[], name: string) => specOf(named(objects, name))["selector"];

  it("for canary: <release> selects every revision, -stable and -canary one each", () => {
    const { objects, deletions } = planObjects(snapshot({ service: PORTS }), rolling);
    expect(ofKind(objects, "Service").map((s) => s.metadata.name)).toEqual([
      "web",
      "web-stable",
      "web-canary",
    ]);
    expect(selector(objects, "web")).toEqual({ "crescendo.dev/release": "web" });
    expect(selector(objects, "web-stable")).toEqual({
      "crescendo.dev/release": "web",
      "crescendo.dev/revision": STABLE,
    });
    expect(selector(objects, "web-canary")).toEqual({
      "crescendo.dev/release": "web",
      "crescendo.dev/revision": CANARY,
    });
    expect(deletions).toEqual([{ apiVersion: "v1", kind: "Service", name: "web-preview" }]);
  });

  it("for canary: <release> selects only the stable revision when no rollout splits traffic", () => {
    const plan = (status: ReleaseStatus, spec: Record<string, unknown> = {}) =>
      selector(planObjects(snapshot({ service: PORTS, ...spec }), status).objects, "web");
    const stable = { "crescendo.dev/release": "web", "crescendo.dev/revision": STABLE };
    // After promotion, while the replaced revision still runs at full size for its scale-down.
    const promoted: ReleaseStatus = {
      phase: "Healthy",
      stableRevision: STABLE,
      scaleDown: [{ revision: "oldrev", version: "0.9.0", at: new Date(T0 + 30_000).toISOString() }],
    };
    expect(plan(promoted)).toEqual(stable);
    expect(plan({ phase: "Degraded", stableRevision: STABLE })).toEqual(stable);
    // A rollback takes every connection back to stable in the same apply.
    expect(plan({ ...rolling, phase: "RolledBack" })).toEqual(stable);
    // Recorded while spec.paused, not started: no split yet.
    const recorded = {
      ...rolling,
      currentStepIndex: undefined,
      phase: "Paused" as const,
      pauseReason: "Paused" as const,
    };
    expect(plan(recorded, { paused: true })).toEqual(stable);
    // Held mid-rollout: the canary keeps its share.
    expect(plan({ ...rolling, phase: "Paused", pauseReason: "ManualPause" })).toEqual({
      "crescendo.dev/release": "web",
    });
    // With Gateway API the HTTPRoute splits; <release> never sends traffic to the canary.
    const gw = {
      strategy: {
        canary: { steps: [{ setWeight: 20 }], trafficRouting: { gatewayAPI: { httpRoute: "r" } } },
      },
    };
    expect(plan(rolling, gw)).toEqual(stable);
  });

  it("point -canary at the stable revision when there is no live canary", () => {
    const plan = (status: ReleaseStatus) =>
      selector(planObjects(snapshot({ service: PORTS }), status).objects, "web-canary");
    const stable = { "crescendo.dev/release": "web", "crescendo.dev/revision": STABLE };
    expect(plan({ ...rolling, phase: "RolledBack" })).toEqual(stable);
    expect(plan({ phase: "Healthy", stableRevision: STABLE })).toEqual(stable);
  });

  it("for blue-green: <release> selects only the active revision, -preview the new one", () => {
    const { objects, deletions } = planObjects(
      snapshot({ service: PORTS, strategy: { blueGreen: {} } }),
      rolling,
    );
    expect(ofKind(objects, "Service").map((s) => s.metadata.name)).toEqual([
      "web",
      "web-stable",
      "web-preview",
    ]);
    expect(selector(objects, "web")).toEqual({
      "crescendo.dev/release": "web",
      "crescendo.dev/revision": STABLE,
    });
    expect(selector(objects, "web-preview")).toEqual({
      "crescendo.dev/release": "web",
      "crescendo.dev/revision": CANARY,
    });
    expect(deletions).toEqual([{ apiVersion: "v1", kind: "Service", name: "web-canary" }]);
  });

  it("expose the spec's ports, targetPort defaulting to port, owned by the Release", () => {
    const svc = named(planObjects(snapshot({ service: PORTS }), rolling).objects, "web");
    expect(specOf(svc)["ports"]).toEqual([
      { name: "http", port: 80, targetPort: 8080, protocol: "TCP" },
      { name: "metrics", port: 9090, targetPort: 9090, protocol: "TCP" },
    ]);
    expect(svc?.metadata.ownerReferences?.[0]).toMatchObject({
      kind: "Release",
      uid: "uid-1",
      controller: true,
    });
    expect(svc?.metadata.labels).toMatchObject({
      "crescendo.dev/squad": "checkout",
      "app.kubernetes.io/managed-by": "crescendo",
    });
  });

  it("are not created without spec.service, and any left over are deleted", () => {
    const { objects, deletions } = planObjects(snapshot({}), rolling);
    expect(ofKind(objects, "Service")).toEqual([]);
    expect(deletions.map((d) => d.name)).toEqual(["web", "web-stable", "web-canary", "web-preview"]);
  });
});

describe("HTTPRoute", () => {
  const GW = {
    service: PORTS,
    strategy: {
      canary: {
        steps: [{ setWeight: 20 }, { pause: {} }],
        trafficRouting: { gatewayAPI: { httpRoute: "shop" } },
      },
    },
  };
  const route: HTTPRoute = {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: { name: "shop", namespace: "shop" },
    spec: { rules: [{ backendRefs: [{ name: "web-stable", port: 80 }] }] },
  };
  const refsOf = (objects: KubeObject[]) =>
    (named(objects, "shop") as HTTPRoute | undefined)?.spec?.rules?.[0]?.backendRefs;

  it("is applied between the Services and the Deployments", () => {
    const snap = { ...snapshot(GW, { [STABLE]: ready(STABLE, 4), [CANARY]: ready(CANARY, 1) }), route };
    const { objects } = planObjects(snap, rolling);
    expect(objects.map((o) => o.kind)).toEqual([
      "Service",
      "Service",
      "Service",
      "HTTPRoute",
      "Deployment",
      "Deployment",
    ]);
    expect(refsOf(objects)).toEqual([
      { name: "web-stable", port: 80, weight: 80 },
      { name: "web-canary", port: 80, weight: 20 },
    ]);
  });

  it("carries no canary traffic once rolled back or promoted", () => {
    const snap = { ...snapshot(GW, { [CANARY]: ready(CANARY, 1) }), route };
    expect(refsOf(planObjects(snap, { ...rolling, phase: "RolledBack" }).objects)).toEqual([
      { name: "web-stable", port: 80, weight: 100 },
    ]);
    expect(refsOf(planObjects(snap, { phase: "Healthy", stableRevision: CANARY }).objects)).toEqual([
      { name: "web-stable", port: 80, weight: 100 },
    ]);
  });

  it("is not planned without gateway routing", () => {
    expect(ofKind(planObjects({ ...snapshot({}), route }, rolling).objects, "HTTPRoute")).toEqual([]);
  });
});

describe("the managed-by label", () => {
  // The operator caches Deployments and Services only with this label (cache.ts): one it
  // created without it would be invisible to it, and one that lost it must get it back.
  it("is on every Deployment and Service, rendered or relabelled, so the cache sees them", () => {
    const snap = snapshot(
      { service: PORTS },
      { [STABLE]: ready(STABLE, 4, { template: RUNNING_V1, labels: { app: "web" } }) },
    );
    const { objects } = planObjects(snap, rolling);
    expect(objects.map((o) => `${o.kind ?? ""}/${o.metadata.name ?? ""}`)).toEqual([
      "Service/web",
      "Service/web-stable",
      "Service/web-canary",
      `Deployment/web-${STABLE}`,
      `Deployment/web-${CANARY}`,
    ]);
    for (const o of objects) expect(o.metadata.labels?.["app.kubernetes.io/managed-by"]).toBe("crescendo");
  });
});

describe("labelValue", () => {
  it.each([
    ["1.4.2", "1.4.2"],
    ["1.4.2+build.7", "1.4.2-build.7"],
    ["v2 (beta)", "v2--beta"],
    ["-x-", "x"],
    ["+++", undefined],
    [undefined, undefined],
    ["a".repeat(70), "a".repeat(63)],
  ])("%s → %s", (input, out) => {
    expect(labelValue(input)).toBe(out);
  });
});

describe("a Deployment someone deleted, kept by the serving finalizer", () => {
  const finalizers = ["crescendo.dev/serving"];
  const deleted = (revision: string, template = RUNNING_V1) =>
    ready(revision, 4, { template, finalizers, deleting: true, uid: `uid-${revision}` });
  const kept = {
    [STABLE]: {
      name: `web-${STABLE}`,
      revision: STABLE,
      number: 1,
      template: RUNNING_V1,
      labels: {},
      data: {},
    },
  };

  it("is handed over when its revision is live and can be recreated, and not applied meanwhile", () => {
    const snap = { ...snapshot({}, { [STABLE]: deleted(STABLE) }), revisions: kept };
    const plan = planObjects(snap, rolling);
    expect(plan.serving).toEqual({
      handOver: [{ name: `web-${STABLE}`, uid: `uid-${STABLE}`, revision: STABLE }],
      release: [],
    });
    expect(named(ofKind(plan.objects, "Deployment"), `web-${STABLE}`)).toBeUndefined();
    expect(plan.deletions.map((d) => d.name)).not.toContain(`web-${STABLE}`);
    // Once it is gone, it is recreated from the ControllerRevision: same name, selector, template.
    const gone = planObjects({ ...snapshot({}, {}), revisions: kept }, rolling);
    const recreated = named(ofKind(gone.objects, "Deployment"), `web-${STABLE}`);
    expect(specOf(recreated)["template"]).toEqual(RUNNING_V1);
    expect(specOf(recreated)["selector"]).toEqual({
      matchLabels: { "crescendo.dev/release": "web", "crescendo.dev/revision": STABLE },
    });
    expect(recreated?.metadata.finalizers).toEqual(finalizers);
  });

  it("is handed over for the current revision too (rendered from the spec)", () => {
    const snap = snapshot({}, { [STABLE]: ready(STABLE, 4), [CANARY]: deleted(CANARY) });
    expect(planObjects(snap, rolling).serving.handOver.map((h) => h.revision)).toEqual([CANARY]);
  });

  it("keeps its finalizer while no ControllerRevision keeps its template (planned this reconcile)", () => {
    const plan = planObjects({ ...snapshot({}, { [STABLE]: deleted(STABLE) }), revisions: {} }, rolling);
    expect(plan.serving).toEqual({ handOver: [], release: [] });
    expect(ofKind(plan.objects, "ControllerRevision").map((o) => o.metadata.name)).toContain(`web-${STABLE}`);
  });

  it("is let go when its revision is not live, or its namespace is being deleted", () => {
    const stale = snapshot({}, { [STABLE]: ready(STABLE, 4), old: deleted("old") });
    const plan = planObjects(stale, rolling);
    expect(plan.serving).toEqual({ handOver: [], release: ["web-old"] });
    expect(plan.deletions.map((d) => d.name)).not.toContain("web-old");
    const ending = {
      ...snapshot({}, { [STABLE]: deleted(STABLE) }),
      revisions: kept,
      namespaceTerminating: true,
    };
    expect(planObjects(ending, rolling).serving).toEqual({ handOver: [], release: [`web-${STABLE}`] });
  });

  it("a stale Deployment is deleted with word that its finalizer goes first", () => {
    const snap = snapshot(
      {},
      {
        [STABLE]: ready(STABLE, 4),
        old: ready("old", 4, { template: RUNNING_V1, finalizers }),
        older: ready("older", 4),
      },
    );
    const deletions = planObjects(snap, rolling).deletions.filter((d) => d.kind === "Deployment");
    expect(deletions).toEqual([
      { apiVersion: "apps/v1", kind: "Deployment", name: "web-old", finalizer: true },
      { apiVersion: "apps/v1", kind: "Deployment", name: "web-older" },
    ]);
  });
});
