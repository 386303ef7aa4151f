/**
 * Reliability end to end, against a real apiserver (KWOK nodes run the pods) and the operator's
 * real entry point: a rollback never leaves a Release without pods (a deleted stable Deployment
 * is recreated from its ControllerRevision meanwhile), a stable Deployment deleted while no
 * operator runs keeps its pods (the serving finalizer) and is recreated around the same
 * ReplicaSet, a Release deleted with --cascade=orphan leaves Deployments whose later deletion
 * completes (and that a recreated Release adopts), an operator started before its apiserver
 * answers waits for it (alive, not ready) rather than exiting, and the scale subresource
 * resizes the stable revision (with the canary sized from it) the way an HPA or `kubectl scale`
 * expects.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ReleaseResource } from "../operator/src/api/kinds.js";
import { revisionOf } from "../operator/src/controllers/release/revision.js";
import type { KubeClient } from "../operator/src/runtime/client.js";
import {
  ControllerRevisionResource,
  DeploymentResource,
  EventResource,
  ReplicaSetResource,
  ServiceResource,
} from "../operator/src/runtime/resources.js";
import type { KubeObject, Resource } from "../operator/src/runtime/types.js";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { kubeconfigPath, kubectl, testClient, waitFor } from "./support/kube.js";
import { freePort, OperatorProcess } from "./support/operator.js";
import { condition, podTemplate, releaseHelpers, type Release } from "./support/releases.js";
import { tcpProxy } from "./support/tcp-proxy.js";

const FIELD_MANAGER = "e2e-reliability";
const PodResource: Resource = { group: "", version: "v1", kind: "Pod", plural: "pods", namespaced: true };

let client: KubeClient;
let operator: OperatorProcess;
const context = () => operator.tail(60);
const { createNamespace, applyRelease, waitRelease } = releaseHelpers({
  client: () => client,
  fieldManager: FIELD_MANAGER,
  context,
  waitTimeoutMs: 90_000,
});

type Deployment = KubeObject & { spec: { replicas: number; template: PodTemplate } };
type Pod = KubeObject & { status?: { conditions?: { type: string; status: string }[] } };
type PodTemplate = { spec?: { containers?: { image?: string }[] } };
type ControllerRevision = KubeObject & {
  data: { spec: { template: PodTemplate }; release: { version?: string; template?: unknown } };
};
const imageOf = (t: PodTemplate | undefined) => t?.spec?.containers?.[0]?.image;

async function replicasOf(namespace: string, name: string): Promise<number | undefined> {
  return (await client.get<Deployment>(DeploymentResource, name, namespace))?.spec.replicas;
}

/** Ready pods the Service `name` selects: what it sends traffic to. */
async function servingPods(namespace: string, name: string): Promise<number> {
  const svc = await client.get<KubeObject & { spec: { selector: Record<string, string> } }>(
    ServiceResource,
    name,
    namespace,
  );
  if (!svc) return 0;
  const selector = Object.entries(svc.spec.selector)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
  const pods = await client.list<Pod>(PodResource, { namespace, labelSelector: selector });
  return pods.items.filter(
    (p) =>
      p.metadata.deletionTimestamp === undefined &&
      p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
  ).length;
}

/** Two replicas of `<app>:<version>` behind the Release's Services, a canary pausing at 50 %. */
function servedSpec(tpl: Record<string, unknown>, version: string): Record<string, unknown> {
  return {
    version,
    replicas: 2,
    template: tpl,
    service: { ports: [{ name: "http", port: 80, targetPort: 8080 }] },
    strategy: { canary: { steps: [{ setWeight: 50 }, { pause: {} }] } },
  };
}

/** A new namespace with the Release `name` Healthy at 1.0.0 (`<name>:1`); its template returned. */
async function healthyRelease(ns: string, name: string): Promise<Record<string, unknown>> {
  await createNamespace(ns);
  const v1 = podTemplate(name, "1");
  await applyRelease(ns, name, servedSpec(v1, "1.0.0"));
  await waitRelease(ns, name, "Healthy at 1.0.0", (s) => s.phase === "Healthy");
  return v1;
}

/** `healthyRelease`, then a canary to 2.0.0 held at its pause step: stable and canary both run. */
async function canaryAtPause(
  ns: string,
  name: string,
): Promise<{ v1: Record<string, unknown>; v2: Record<string, unknown> }> {
  const v1 = await healthyRelease(ns, name);
  const v2 = podTemplate(name, "2");
  await applyRelease(ns, name, servedSpec(v2, "2.0.0"));
  await waitRelease(ns, name, "held at the pause step", (s) => s.pauseReason === "PauseStep");
  return { v1, v2 };
}

beforeAll(async () => {
  client = testClient();
  operator = await OperatorProcess.start({ kubeconfig: kubeconfigPath(), name: "reliability" });
});

afterAll(async () => {
  await operator?.stop();
  client?.close();
});

describe("a rollback with the stable Deployment gone", () => {
  it("keeps the canary's pods serving, says StableUnavailable, recreates stable from its ControllerRevision, never leaves the Service without pods", async () => {
    const ns = "rel-hold";
    const { v1, v2 } = await canaryAtPause(ns, "web");
    await waitFor(
      "the canary's pods ready",
      () => servingPods(ns, "web-canary"),
      (n) => n >= 2,
      { timeoutMs: 60_000, context },
    );

    // Someone (a GitOps prune, a cleanup script) deletes the stable Deployment, then the canary is aborted.
    const stable = `web-${revisionOf({ ...v1 })}`;
    const deletedUid = (await client.get<Deployment>(DeploymentResource, stable, ns))?.metadata.uid;
    await client.delete(DeploymentResource, stable, ns, { propagationPolicy: "Background" });
    await client.mergePatch(ReleaseResource, "web", ns, {
      metadata: { annotations: { "crescendo.dev/action": "abort", "crescendo.dev/action-id": "a1" } },
    });

    // Sampled every 200 ms: the Release's Service always has a ready pod to send traffic to.
    const samples: number[] = [];
    const until = Date.now() + 10_000;
    while (Date.now() < until) {
      samples.push(await servingPods(ns, "web"));
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(Math.min(...samples), `ready pods behind Service web: ${samples.join(" ")}`).toBeGreaterThan(0);

    const s = await waitRelease(ns, "web", "RolledBack", (x) => x.phase === "RolledBack");
    expect(s.message).toMatch(/stable revision .* is not ready/);
    const events = await client.list<
      KubeObject & { reason?: string; type?: string; regarding?: { name?: string } }
    >(EventResource, { namespace: ns });
    expect(events.items.filter((e) => e.regarding?.name === "web").map((e) => [e.type, e.reason])).toEqual(
      expect.arrayContaining([["Warning", "StableUnavailable"]]),
    );
    const held = await waitRelease(
      ns,
      "web",
      "Ready=False StableUnavailable, or the stable revision back",
      (x) =>
        condition(x, "Ready")?.reason === "StableUnavailable" ||
        ((x.readyReplicas ?? 0) >= 2 && condition(x, "Ready")?.reason === "RolledBack"),
    );
    if (condition(held, "Ready")?.reason === "StableUnavailable") {
      // Held: the canary keeps its pods, the Service keeps serving.
      expect(await replicasOf(ns, `web-${revisionOf(v2)}`)).toBeGreaterThan(0);
      expect(await servingPods(ns, "web")).toBeGreaterThan(0);
    }

    // The stable Deployment is recreated from its ControllerRevision, with the template it ran.
    const kept = await client.get<ControllerRevision>(ControllerRevisionResource, stable, ns);
    expect(kept?.metadata.labels).toMatchObject({
      "app.kubernetes.io/managed-by": "crescendo",
      "crescendo.dev/release": "web",
      "crescendo.dev/revision": revisionOf(v1),
      "app.kubernetes.io/version": "1.0.0",
    });
    expect(kept?.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: "Release", name: "web", controller: true }),
    ]);
    expect(kept?.data.release).toEqual({ version: "1.0.0", template: v1 });
    // A new object (not the deleted one, which the serving finalizer kept meanwhile).
    const recreated = await waitFor(
      "the stable Deployment recreated",
      () => client.get<Deployment>(DeploymentResource, stable, ns),
      (d) => d !== undefined && d.metadata.uid !== deletedUid && d.metadata.deletionTimestamp === undefined,
      { timeoutMs: 30_000, context },
    );
    expect(imageOf(recreated?.spec.template)).toBe("registry.example.com/web:1");
    expect(imageOf(recreated?.spec.template)).toBe(imageOf(kept?.data.spec.template));

    // Once its pods are ready the rollback completes: traffic on stable, the canary at zero.
    const done = await waitRelease(
      ns,
      "web",
      "the rollback complete on the recreated stable revision",
      (x) => (x.readyReplicas ?? 0) >= 2 && condition(x, "Ready")?.reason === "RolledBack",
    );
    expect(done.phase).toBe("RolledBack");
    await waitFor(
      "the canary scaled to zero",
      () => replicasOf(ns, `web-${revisionOf(v2)}`),
      (n) => n === 0,
      { timeoutMs: 30_000, context },
    );
    await waitFor(
      "stable pods behind Service web",
      () => servingPods(ns, "web"),
      (n) => n >= 2,
      {
        timeoutMs: 60_000,
        context,
      },
    );
  });
});

describe("a stable Deployment deleted while no operator runs", () => {
  it("keeps its pods serving under the serving finalizer; the next operator recreates it, adopting the same ReplicaSet, no pod replaced", async () => {
    const ns = "rel-serving";
    const { v1 } = await canaryAtPause(ns, "api");
    const r1 = revisionOf(v1);
    const name = `api-${r1}`;
    const before = await waitFor(
      "the stable Deployment with the serving finalizer",
      () => client.get<Deployment>(DeploymentResource, name, ns),
      (d) => (d?.metadata.finalizers ?? []).includes("crescendo.dev/serving"),
      { timeoutMs: 30_000, context },
    );
    const stablePods = async () =>
      (await client.list<Pod>(PodResource, { namespace: ns, labelSelector: `crescendo.dev/revision=${r1}` }))
        .items;
    const podUids = (await stablePods()).map((p) => p.metadata.uid).sort();
    expect(podUids).toHaveLength(2);
    const replicaSets = await client.list(ReplicaSetResource, {
      namespace: ns,
      labelSelector: `crescendo.dev/revision=${r1}`,
    });
    expect(replicaSets.items).toHaveLength(1);
    const rs = replicaSets.items[0]!;

    // No operator runs; someone deletes the stable Deployment (kubectl's default, background).
    await operator.stop();
    await client.delete(DeploymentResource, name, ns, { propagationPolicy: "Background" });
    const samples: number[] = [];
    const until = Date.now() + 10_000;
    while (Date.now() < until) {
      samples.push(await servingPods(ns, "api-stable"));
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(Math.min(...samples), `ready pods behind Service api-stable: ${samples.join(" ")}`).toBe(2);
    const held = await client.get<Deployment>(DeploymentResource, name, ns);
    expect(held?.metadata.deletionTimestamp, "Terminating, kept by the finalizer").toBeDefined();
    expect((await stablePods()).map((p) => p.metadata.uid).sort()).toEqual(podUids);

    // The next operator hands it over: recreated with the same name, adopting the same ReplicaSet.
    operator = await OperatorProcess.start({ kubeconfig: kubeconfigPath(), name: "reliability-serving" });
    const recreated = await waitFor(
      "the stable Deployment recreated",
      () => client.get<Deployment>(DeploymentResource, name, ns),
      (d) =>
        d !== undefined &&
        d.metadata.uid !== before?.metadata.uid &&
        d.metadata.deletionTimestamp === undefined,
      { timeoutMs: 60_000, context },
    );
    expect(recreated?.metadata.finalizers).toEqual(["crescendo.dev/serving"]);
    expect(recreated?.spec.template).toEqual(before?.spec.template);
    const adopted = await waitFor(
      "the same ReplicaSet adopted by the recreated Deployment",
      () => client.get(ReplicaSetResource, rs.metadata.name ?? "", ns),
      (x) =>
        (x?.metadata.ownerReferences ?? []).some((o) => o.uid === recreated?.metadata.uid && o.controller),
      { timeoutMs: 60_000, context },
    );
    expect(adopted?.metadata.uid).toBe(rs.metadata.uid);
    await waitFor(
      "the recreated Deployment reporting its pods ready",
      () => client.get<Deployment & { status?: { readyReplicas?: number } }>(DeploymentResource, name, ns),
      (d) => (d?.status?.readyReplicas ?? 0) >= 2,
      { timeoutMs: 60_000, context },
    );
    expect((await stablePods()).map((p) => p.metadata.uid).sort(), "no pod replaced").toEqual(podUids);
    expect(
      (
        await client.list(ReplicaSetResource, {
          namespace: ns,
          labelSelector: `crescendo.dev/revision=${r1}`,
        })
      ).items,
    ).toHaveLength(1);
    const s = await waitRelease(ns, "api", "still at its pause step", (x) => x.pauseReason === "PauseStep");
    expect(s.stableRevision).toBe(r1);
  });
});

describe("a Release deleted with --cascade=orphan", () => {
  it("leaves its Deployment serving without the serving finalizer: a recreated Release adopts it, and deleting it later completes", async () => {
    const ns = "rel-orphan";
    const v1 = await healthyRelease(ns, "shop");
    const revision = revisionOf(v1);
    const name = `shop-${revision}`;
    const finalizers = (d: KubeObject | undefined) => d?.metadata.finalizers ?? [];
    const controller = (d: KubeObject | undefined) => d?.metadata.ownerReferences?.find((o) => o.controller);
    await waitFor(
      "the Deployment with the serving finalizer",
      () => client.get<Deployment>(DeploymentResource, name, ns),
      (d) => finalizers(d).includes("crescendo.dev/serving"),
      { timeoutMs: 30_000, context },
    );
    const pods = async () =>
      (
        await client.list<Pod>(PodResource, {
          namespace: ns,
          labelSelector: `crescendo.dev/revision=${revision}`,
        })
      ).items
        .map((p) => p.metadata.uid)
        .sort();
    const podUids = await pods();
    expect(podUids).toHaveLength(2);

    /** Deletes the Release with orphan propagation; its Deployment stays, ownerless, finalizer-less. */
    const orphanRelease = async () => {
      const del = await kubectl(["delete", "release", "shop", "-n", ns, "--cascade=orphan", "--timeout=60s"]);
      expect(del.code, del.stderr).toBe(0);
      const orphaned = await waitFor(
        "the orphaned Deployment without the serving finalizer",
        () => client.get<Deployment>(DeploymentResource, name, ns),
        (d) =>
          d !== undefined && controller(d) === undefined && !finalizers(d).includes("crescendo.dev/serving"),
        { timeoutMs: 30_000, context },
      );
      expect(orphaned?.metadata.deletionTimestamp).toBeUndefined();
      expect(await servingPods(ns, "shop"), "its pods still serve").toBe(2);
      expect(await pods(), "no pod replaced").toEqual(podUids);
    };
    await orphanRelease();

    // A GitOps tool recreating the Release: it adopts the Deployment, finalizer and all, same pods.
    await applyRelease(ns, "shop", servedSpec(v1, "1.0.0"));
    const release = await client.get<Release>(ReleaseResource, "shop", ns);
    await waitFor(
      "the Deployment adopted by the recreated Release, with the serving finalizer",
      () => client.get<Deployment>(DeploymentResource, name, ns),
      (d) => controller(d)?.uid === release?.metadata.uid && finalizers(d).includes("crescendo.dev/serving"),
      { timeoutMs: 60_000, context },
    );
    await waitRelease(ns, "shop", "Healthy again", (s) => s.phase === "Healthy");
    expect(await pods(), "no pod replaced").toEqual(podUids);

    // Orphaned again and later deleted: the delete completes, nothing holds it.
    await orphanRelease();
    const replicaSets = await client.list(ReplicaSetResource, {
      namespace: ns,
      labelSelector: `crescendo.dev/revision=${revision}`,
    });
    expect(replicaSets.items.flatMap((rs) => finalizers(rs))).toEqual([]);
    const del = await kubectl(["delete", "deployment", name, "-n", ns, "--timeout=30s"]);
    expect(del.code, del.stderr).toBe(0);
    expect(await client.get(DeploymentResource, name, ns)).toBeUndefined();
  });

  it("orphaned while no operator runs: the next operator finds the ownerless Deployment by its label and lets it go", async () => {
    const ns = "rel-orphan-down";
    const v1 = await healthyRelease(ns, "cart");
    const name = `cart-${revisionOf(v1)}`;
    const finalizers = (d: KubeObject | undefined) => d?.metadata.finalizers ?? [];
    await waitFor(
      "the Deployment with the serving finalizer",
      () => client.get<Deployment>(DeploymentResource, name, ns),
      (d) => finalizers(d).includes("crescendo.dev/serving"),
      { timeoutMs: 30_000, context },
    );

    // No operator: the garbage collector orphans the Deployment, and nothing removes the finalizer.
    await operator.stop();
    const del = await kubectl(["delete", "release", "cart", "-n", ns, "--cascade=orphan", "--timeout=60s"]);
    expect(del.code, del.stderr).toBe(0);
    const orphaned = await waitFor(
      "the Deployment orphaned by the garbage collector",
      () => client.get<Deployment>(DeploymentResource, name, ns),
      (d) => d !== undefined && (d.metadata.ownerReferences ?? []).length === 0,
      { timeoutMs: 30_000, context },
    );
    expect(finalizers(orphaned)).toContain("crescendo.dev/serving");

    operator = await OperatorProcess.start({ kubeconfig: kubeconfigPath(), name: "reliability-orphan" });
    await waitFor(
      "the serving finalizer removed by the next operator",
      () => client.get<Deployment>(DeploymentResource, name, ns),
      (d) => d !== undefined && !finalizers(d).includes("crescendo.dev/serving"),
      { timeoutMs: 30_000, context },
    );
    expect(await servingPods(ns, "cart"), "its pods still serve").toBe(2);
    const gone = await kubectl(["delete", "deployment", name, "-n", ns, "--timeout=30s"]);
    expect(gone.code, gone.stderr).toBe(0);
  });
});

describe("an operator started before its apiserver answers", () => {
  it("stays up, alive and not ready, retrying with backoff, and starts once the apiserver answers", async () => {
    // The test apiserver, reached through a port where nothing listens yet.
    const real = readFileSync(kubeconfigPath(), "utf8");
    const server = /server: https:\/\/127\.0\.0\.1:(\d+)/.exec(real);
    expect(server, "the test kubeconfig names a loopback apiserver").not.toBeNull();
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), "crescendo-boot-"));
    const kubeconfig = join(dir, "kubeconfig");
    writeFileSync(kubeconfig, real.replace(server![0], `server: https://127.0.0.1:${port}`));

    const booting = await OperatorProcess.start({ kubeconfig, name: "reliability-boot", waitReady: false });
    const bootContext = () => booting.tail(60);
    const probe = async (path: string) => {
      try {
        const res = await fetch(`http://127.0.0.1:${booting.healthPort}${path}`);
        return { status: res.status, body: await res.text() };
      } catch {
        return undefined; // not listening yet
      }
    };
    let proxy: { close(): Promise<void> } | undefined;
    try {
      const notReady = await waitFor(
        "/readyz saying it waits for the apiserver",
        () => probe("/readyz"),
        (r) => r?.status === 503 && r.body.startsWith("waiting for the apiserver"),
        { timeoutMs: 60_000, context: bootContext },
      );
      expect(notReady?.body).toContain("ECONNREFUSED");
      expect(await probe("/healthz")).toEqual({ status: 200, body: "ok" });
      const retries = async () =>
        (booting.tail(400).match(/the apiserver does not answer yet/g) ?? []).length;
      await waitFor("a second retry, the process still running", retries, (n) => n >= 2, {
        timeoutMs: 30_000,
        context: bootContext,
      });
      expect(booting.running(), "still running").toBe(true);
      expect((await probe("/readyz"))?.status).toBe(503);

      // Stopped while it waits (a rollout replacing the pod): a clean exit, nothing held.
      const stopped = await OperatorProcess.start({
        kubeconfig,
        name: "reliability-boot-stop",
        waitReady: false,
      });
      await waitFor(
        "the second operator waiting for the apiserver",
        async () => stopped.tail(400),
        (t) => t.includes("the apiserver does not answer yet"),
        { timeoutMs: 60_000, context: () => stopped.tail(60) },
      );
      expect(await stopped.stop(), stopped.tail(20)).toBe(0);
      expect(stopped.tail(20)).toContain("stopped before the apiserver answered");

      // The apiserver comes up on that port: the operator starts, its informers sync, ready.
      proxy = await tcpProxy(port, { host: "127.0.0.1", port: Number(server![1]) });
      await booting.waitReady(90_000);
      expect(booting.tail(400)).toContain("the apiserver answers; starting");
      expect(booting.running()).toBe(true);
    } finally {
      expect(await booting.stop()).toBe(0);
      await proxy?.close();
    }
  });
});

describe("a ControllerRevision that lost its managed-by label", () => {
  it("is relabelled with its own data, never rewritten, and the Release is not stalled", async () => {
    const ns = "rel-relabel";
    await createNamespace(ns);
    const v1 = podTemplate("api", "1");
    const v2 = podTemplate("api", "2");
    const spec = (tpl: Record<string, unknown>, version: string) => ({
      version,
      replicas: 1,
      template: tpl,
      strategy: { canary: { steps: [{ setWeight: 50 }, { pause: {} }] } },
    });
    await applyRelease(ns, "api", spec(v1, "1.0.0"));
    await waitRelease(ns, "api", "Healthy", (s) => s.phase === "Healthy");
    // A canary: the stable revision is no longer the one spec.template renders, so its template
    // re-derived now (from its Deployment, with the apiserver's defaults) would differ.
    await applyRelease(ns, "api", spec(v2, "2.0.0"));
    await waitRelease(ns, "api", "held at the pause step", (s) => s.pauseReason === "PauseStep");
    const name = `api-${revisionOf(v1)}`;
    const before = await client.get<ControllerRevision>(ControllerRevisionResource, name, ns);
    expect(before).toBeDefined();

    await client.mergePatch(ControllerRevisionResource, name, ns, {
      metadata: { labels: { "app.kubernetes.io/managed-by": null } },
    });
    const after = await waitFor(
      "the managed-by label back on the ControllerRevision",
      () => client.get<ControllerRevision>(ControllerRevisionResource, name, ns),
      (r) => r?.metadata.labels?.["app.kubernetes.io/managed-by"] === "crescendo",
      { timeoutMs: 30_000, context },
    );
    expect(after?.metadata.uid).toBe(before?.metadata.uid);
    expect(after?.data).toEqual(before?.data);
    expect(after?.["revision"]).toBe(before?.["revision"]);
    const s = await waitRelease(ns, "api", "still paused", (x) => x.pauseReason === "PauseStep");
    expect(condition(s, "Stalled")?.status ?? "False").toBe("False");
  });
});

describe("the scale subresource", () => {
  it("kubectl scale resizes the stable revision, and a running canary with it", async () => {
    const ns = "rel-scale";
    await createNamespace(ns);
    const v1 = podTemplate("api", "1");
    const v2 = podTemplate("api", "2");
    const spec = (tpl: Record<string, unknown>, version: string, replicas: number) => ({
      version,
      replicas,
      template: tpl,
      strategy: { canary: { steps: [{ setWeight: 50 }, { pause: {} }] } },
    });
    await applyRelease(ns, "api", spec(v1, "1.0.0", 2));
    await waitRelease(ns, "api", "Healthy", (s) => s.phase === "Healthy");

    const scale = await kubectl(["scale", "release/api", "-n", ns, "--replicas=4"]);
    expect(scale.code, scale.stderr).toBe(0);
    const stable = `api-${revisionOf(v1)}`;
    await waitFor(
      "the stable Deployment at 4",
      () => replicasOf(ns, stable),
      (n) => n === 4,
      {
        timeoutMs: 30_000,
        context,
      },
    );
    let s = await waitRelease(ns, "api", "4 replicas", (x) => x.replicas === 4 && x.phase === "Healthy");
    expect(s.selector).toBe("crescendo.dev/release=api");

    // What the HPA reads: the same pods counted and selected.
    const read = await kubectl([
      "get",
      "--raw",
      `/apis/crescendo.dev/v1alpha1/namespaces/${ns}/releases/api/scale`,
    ]);
    expect(read.code, read.stderr).toBe(0);
    expect(JSON.parse(read.stdout)).toMatchObject({
      spec: { replicas: 4 },
      status: { replicas: 4, selector: "crescendo.dev/release=api" },
    });

    // A canary at 50 % of 4 stable pods runs 4; scaled to 2, the canary follows to 2.
    await client.mergePatch(ReleaseResource, "api", ns, { spec: { template: v2, version: "2.0.0" } });
    await waitRelease(ns, "api", "held at the pause step", (x) => x.pauseReason === "PauseStep");
    const canary = `api-${revisionOf(v2)}`;
    expect(await replicasOf(ns, canary)).toBe(4);
    const down = await kubectl(["scale", "release/api", "-n", ns, "--replicas=2"]);
    expect(down.code, down.stderr).toBe(0);
    await waitFor(
      "the canary resized from the new stable size",
      () => replicasOf(ns, canary),
      (n) => n === 2,
      {
        timeoutMs: 30_000,
        context,
      },
    );
    expect(await replicasOf(ns, stable)).toBe(2);
    s = await waitRelease(ns, "api", "4 pods counted", (x) => x.replicas === 4);
    expect(s.replicas).toBe(4);
  });
});
