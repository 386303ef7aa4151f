/**
 * Release end to end, against a real apiserver (KWOK nodes run the pods), a real Prometheus
 * scraping the metrics simulator, and the operator's real entry point: first deployment, a
 * canary promoted on healthy metrics without restarting its pods, automatic rollback on a bad
 * canary (with the on-call webhook called), an unreachable Prometheus pausing rather than
 * guessing, manual actions, compareToStable, blue-green, a guarded FeatureToggle killed by a
 * rollback, and a crash mid-rollout that a new operator resumes from status.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { FeatureToggleResource, ReleaseResource, SquadResource } from "../operator/src/api/kinds.js";
import { revisionOf } from "../operator/src/controllers/release/revision.js";
import type { KubeClient } from "../operator/src/runtime/client.js";
import { DeploymentResource, SecretResource, ServiceResource } from "../operator/src/runtime/resources.js";
import type { KubeObject } from "../operator/src/runtime/types.js";
import { kubeconfigPath, testClient, waitFor, waitForCondition } from "./support/kube.js";
import { evaluateFlag, serviceAccountToken } from "./support/ofrep.js";
import { freePort, OperatorProcess } from "./support/operator.js";
import {
  condition,
  errorRateMetric,
  podTemplate,
  releaseHelpers,
  SELECTOR,
  setPodBehaviour,
} from "./support/releases.js";

const PROMETHEUS = inject("prometheusUrl");
const FIELD_MANAGER = "e2e-release";

let client: KubeClient;
let operator: OperatorProcess;
/** A loopback address nothing listens on, allowed so the unreachable-Prometheus case is asked. */
let closedPrometheus: string;
const context = () => operator.tail(60);
const { createNamespace, applyRelease, getRelease, waitRelease, eventsFor } = releaseHelpers({
  client: () => client,
  fieldManager: FIELD_MANAGER,
  context,
  waitTimeoutMs: 90_000,
});

type Deployment = KubeObject & {
  spec: { replicas: number; template: unknown };
  status?: { readyReplicas?: number };
};

// ---------------------------------------------------------------------------------------------
// Helpers

/** p99 latency over the last 10 s, compared with the stable revision's. */
function latencyP99(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: "latency-p99",
    prometheus: {
      address: PROMETHEUS,
      query: `histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{${SELECTOR}}[10s])))`,
    },
    interval: "2s",
    compareToStable: { maxRatio: 1.5 },
    minSamples: 2,
    ...over,
  };
}

async function getDeployment(namespace: string, name: string): Promise<Deployment | undefined> {
  return client.get<Deployment>(DeploymentResource, name, namespace);
}

async function getService(namespace: string, name: string) {
  return client.get<KubeObject & { spec: { selector: Record<string, string> } }>(
    ServiceResource,
    name,
    namespace,
  );
}

async function annotate(namespace: string, name: string, action: string, id: string): Promise<void> {
  await client.mergePatch(ReleaseResource, name, namespace, {
    metadata: { annotations: { "crescendo.dev/action": action, "crescendo.dev/action-id": id } },
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A Release rolled to Healthy at v1 with `spec(tpl, version)`; returns the v1 template. */
async function healthyAt(
  namespace: string,
  name: string,
  spec: (tpl: Record<string, unknown>, version: string) => Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const v1 = podTemplate(name, "1");
  await setPodBehaviour(namespace, name, v1, { errorRate: 0, latencySeconds: 0.02 });
  await applyRelease(namespace, name, spec(v1, "1.0.0"));
  await waitRelease(namespace, name, "Healthy at 1.0.0", (s) => s.phase === "Healthy");
  return v1;
}

beforeAll(async () => {
  client = testClient();
  closedPrometheus = `http://127.0.0.1:${await freePort()}`;
  operator = await OperatorProcess.start({
    kubeconfig: kubeconfigPath(),
    name: "release",
    allowPrometheus: [closedPrometheus],
  });
});

afterAll(async () => {
  await operator?.stop();
  client?.close();
});

// ---------------------------------------------------------------------------------------------

describe("first apply", () => {
  it("creates the revision's Deployment and the Services, owned by the Release, and is Healthy", async () => {
    const ns = "rel-first";
    await createNamespace(ns);
    const tpl = podTemplate("web", "1");
    await applyRelease(ns, "web", {
      version: "1.0.0",
      replicas: 2,
      template: tpl,
      service: { ports: [{ name: "http", port: 80, targetPort: 8080 }] },
      strategy: { canary: { steps: [{ setWeight: 50 }] } },
    });
    const status = await waitRelease(ns, "web", "Healthy", (s) => s.phase === "Healthy");
    const revision = revisionOf(tpl);
    expect(status).toMatchObject({ stableRevision: revision, stableVersion: "1.0.0", readyReplicas: 2 });
    expect(condition(status, "Ready")?.status).toBe("True");

    const release = await getRelease(ns, "web");
    const owner = expect.objectContaining({
      apiVersion: "crescendo.dev/v1alpha1",
      kind: "Release",
      name: "web",
      uid: release?.metadata.uid,
      controller: true,
    });
    const dep = await getDeployment(ns, `web-${revision}`);
    expect(dep?.metadata.ownerReferences).toEqual([owner]);
    expect(dep?.metadata.labels).toMatchObject({
      "app.kubernetes.io/managed-by": "crescendo",
      "crescendo.dev/release": "web",
      "crescendo.dev/revision": revision,
      "crescendo.dev/track": "stable",
    });
    for (const name of ["web", "web-stable", "web-canary"]) {
      const svc = await getService(ns, name);
      expect(svc?.metadata.ownerReferences, name).toEqual([owner]);
    }
    expect((await getService(ns, "web-stable"))?.spec.selector).toEqual({
      "crescendo.dev/release": "web",
      "crescendo.dev/revision": revision,
    });
    expect(await operator.metrics()).toMatch(
      /crescendo_release_phase\{namespace="rel-first",release="web",squad="[^"]*",phase="Healthy"\} 1/,
    );
  });

  it("relabels its Deployment when the managed-by label is removed, without ever calling it gone", async () => {
    // The operator caches Deployments only with its label: without it the Deployment leaves the
    // cache, and the Release reads it from the API (not Degraded) and applies the label back.
    const ns = "rel-first";
    const name = `web-${revisionOf(podTemplate("web", "1"))}`;
    const before = await getDeployment(ns, name);
    await client.mergePatch(DeploymentResource, name, ns, {
      metadata: { labels: { "app.kubernetes.io/managed-by": null } },
    });
    const after = await waitFor(
      `Deployment ${ns}/${name} labelled managed-by crescendo again`,
      () => getDeployment(ns, name),
      (d) => d?.metadata.labels?.["app.kubernetes.io/managed-by"] === "crescendo",
      { context },
    );
    expect(after?.metadata.uid).toBe(before?.metadata.uid);
    expect((await getRelease(ns, "web"))?.status?.phase).toBe("Healthy");
    expect((await eventsFor(ns, "web")).map((e) => e.reason)).not.toContain("Degraded");
  });
});

describe("canary with analysis", () => {
  it("promotes a healthy canary without restarting its pods, then scales the old revision down", async () => {
    const ns = "rel-canary";
    await createNamespace(ns);
    const spec = (tpl: Record<string, unknown>, version: string) => ({
      version,
      replicas: 3,
      template: tpl,
      service: { ports: [{ name: "http", port: 80 }] },
      strategy: {
        canary: { steps: [{ setWeight: 25 }, { analysis: { metrics: ["error-rate"] } }, { setWeight: 50 }] },
      },
      analysis: { interval: "2s", metrics: [errorRateMetric()] },
      rollback: { scaleDownDelaySeconds: 2 },
    });
    const v1 = await healthyAt(ns, "shop", spec);
    const v2 = podTemplate("shop", "2");
    const [r1, r2] = [revisionOf(v1), revisionOf(v2)];
    await setPodBehaviour(ns, "shop", v2, { errorRate: 0, latencySeconds: 0.02 });
    await applyRelease(ns, "shop", spec(v2, "2.0.0"));

    const canary = await waitFor(
      "the canary Deployment",
      () => getDeployment(ns, `shop-${r2}`),
      (d) => d !== undefined,
      { context },
    );
    const weighted = await waitRelease(ns, "shop", "25 % on the canary", (s) => (s.canaryWeight ?? 0) > 0);
    expect(weighted.canaryRevision).toBe(r2);
    // The replica-ratio split: <release> selects every revision while the canary rolls out.
    expect((await getService(ns, "shop"))?.spec.selector).toEqual({ "crescendo.dev/release": "shop" });

    const done = await waitRelease(
      ns,
      "shop",
      "promoted",
      (s) => s.phase === "Healthy" && s.stableRevision === r2,
    );
    expect(done.history?.[0]).toMatchObject({ revision: r2, outcome: "Promoted" });
    const analysed = done.analysis?.metrics.find((m) => m.name === "error-rate");
    expect(analysed?.successful).toBeGreaterThanOrEqual(2);
    expect(analysed?.failed).toBe(0);

    // The canary Deployment became the stable one as it was: same object, same pod template.
    const promoted = await getDeployment(ns, `shop-${r2}`);
    expect(promoted?.metadata.uid).toBe(canary?.metadata.uid);
    expect(promoted?.spec.template).toEqual(canary?.spec.template);
    // One ReplicaSet ever: the Deployment controller never rolled its pods.
    expect(promoted?.metadata.annotations?.["deployment.kubernetes.io/revision"]).toBe("1");
    expect(promoted?.metadata.labels?.["crescendo.dev/track"]).toBe("stable");
    expect((await getService(ns, "shop-stable"))?.spec.selector["crescendo.dev/revision"]).toBe(r2);
    // The replaced revision still runs for scaleDownDelaySeconds, but <release> sends it nothing.
    expect((await getService(ns, "shop"))?.spec.selector["crescendo.dev/revision"]).toBe(r2);

    // The old revision goes after scaleDownDelaySeconds.
    await waitFor(
      `Deployment shop-${r1} scaled down`,
      () => getDeployment(ns, `shop-${r1}`),
      (d) => d === undefined || d.spec.replicas === 0,
      { timeoutMs: 30_000, context },
    );
    expect(await operator.metrics()).toMatch(/crescendo_release_promotions_total [1-9]/);
  });
});

describe("automatic rollback", () => {
  let webhook: Server;
  const received: Record<string, unknown>[] = [];
  let webhookUrl: string;

  beforeAll(async () => {
    webhook = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        received.push(JSON.parse(body) as Record<string, unknown>);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => webhook.listen(0, "127.0.0.1", r));
    webhookUrl = `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/oncall`;
  });
  afterAll(() => new Promise<void>((r) => webhook.close(() => r())));

  it("rolls a bad canary back within seconds, tells on-call, and leaves stable untouched", async () => {
    const ns = "rel-oncall";
    await client.apply(
      {
        apiVersion: "crescendo.dev/v1alpha1",
        kind: "Squad",
        metadata: { name: "rel-oncall" },
        spec: {
          tribe: "payments",
          oncall: { webhookSecretRef: { name: "oncall-webhook" }, channel: "#payments-oncall" },
        },
      },
      SquadResource,
      { fieldManager: FIELD_MANAGER, force: true },
    );
    await waitForCondition(
      client,
      SquadResource,
      "rel-oncall",
      undefined,
      { type: "Ready", status: "True" },
      { context },
    );
    await client.apply(
      {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "oncall-webhook", namespace: ns },
        stringData: { url: webhookUrl },
      },
      SecretResource,
      { fieldManager: FIELD_MANAGER, force: true },
    );

    const spec = (tpl: Record<string, unknown>, version: string) => ({
      version,
      replicas: 2,
      template: tpl,
      service: { ports: [{ name: "http", port: 80 }] },
      strategy: { canary: { steps: [{ setWeight: 25 }, { analysis: {} }, { setWeight: 50 }] } },
      analysis: { interval: "2s", metrics: [errorRateMetric()] },
    });
    const v1 = await healthyAt(ns, "pay", spec);
    const v2 = podTemplate("pay", "2");
    const [r1, r2] = [revisionOf(v1), revisionOf(v2)];
    const stableBefore = await getDeployment(ns, `pay-${r1}`);
    await setPodBehaviour(ns, "pay", v2, { errorRate: 0.5, latencySeconds: 0.02 });
    await applyRelease(ns, "pay", spec(v2, "2.0.0"));

    // Watch the canary's replicas closely, to time the rollback from the outside.
    let canaryZeroAt: number | undefined;
    let sawCanary = false;
    const watching = (async () => {
      const deadline = Date.now() + 120_000;
      while (canaryZeroAt === undefined && Date.now() < deadline) {
        const d = await getDeployment(ns, `pay-${r2}`);
        if (d && d.spec.replicas > 0) sawCanary = true;
        if (d && sawCanary && d.spec.replicas === 0) canaryZeroAt = Date.now();
        await sleep(100);
      }
    })();
    const status = await waitRelease(ns, "pay", "RolledBack", (s) => s.phase === "RolledBack", 120_000);
    await watching;

    expect(status).toMatchObject({ stableRevision: r1, canaryRevision: r2, canaryWeight: 0 });
    const rolledBack = condition(status, "RolledBack");
    expect(rolledBack).toMatchObject({ status: "True", reason: "AnalysisFailed" });
    // Names the metric, the value and the threshold.
    expect(rolledBack?.message).toMatch(/error-rate 0\.[3-7]\d* > max 0\.05/);
    expect(status.history?.[0]).toMatchObject({
      revision: r2,
      outcome: "RolledBack",
      reason: "AnalysisFailed",
    });

    const canary = await getDeployment(ns, `pay-${r2}`);
    expect(canary?.spec.replicas).toBe(0);
    const stable = await getDeployment(ns, `pay-${r1}`);
    expect(stable?.spec.replicas).toBe(2);
    // Untouched: not written at all (a Deployment's generation also moves with its annotations).
    expect(stable?.metadata.generation).toBe(stableBefore?.metadata.generation);
    expect(stable?.spec.template).toEqual(stableBefore?.spec.template);
    expect(stable?.metadata.annotations?.["deployment.kubernetes.io/revision"]).toBe("1");
    expect((await getService(ns, "pay-canary"))?.spec.selector["crescendo.dev/revision"]).toBe(r1);
    expect((await getService(ns, "pay"))?.spec.selector["crescendo.dev/revision"]).toBe(r1);
    // kstatus Failed: a Flux health check fails now instead of at its timeout.
    expect(condition(status, "Stalled")).toMatchObject({ status: "True", reason: "RolledBack" });

    const warning = await waitFor(
      "a Warning RolledBack Event",
      () => eventsFor(ns, "pay"),
      (events) => events.some((e) => e.type === "Warning" && e.reason === "RolledBack"),
      { context },
    );
    expect(warning.find((e) => e.reason === "RolledBack")?.note).toContain("error-rate");

    await waitFor(
      "the on-call webhook to be called",
      async () => received,
      (r) => r.length > 0,
      { context },
    );
    expect(received[0]).toMatchObject({
      release: "pay",
      namespace: ns,
      squad: "rel-oncall",
      tribe: "payments",
      revision: r2,
      version: "2.0.0",
      reason: "AnalysisFailed",
      metric: "error-rate",
      channel: "#payments-oncall",
    });
    expect(String(received[0]?.["message"])).toContain("max 0.05");
    expect(typeof received[0]?.["at"]).toBe("string");

    // Time from the failing measurement to the canary at zero replicas.
    const failedAt = status.analysis?.metrics
      .find((m) => m.name === "error-rate")
      ?.measurements.findLast((m) => m.phase === "Failed")?.at;
    const metrics = await operator.metrics();
    const sum = Number(/crescendo_time_to_rollback_seconds_sum (\S+)/.exec(metrics)?.[1]);
    const count = Number(/crescendo_time_to_rollback_seconds_count (\S+)/.exec(metrics)?.[1]);
    expect(count).toBeGreaterThanOrEqual(1);
    console.log(
      `[e2e] time to rollback: failing measurement at ${failedAt} (second precision) → canary replicas 0 ` +
        `seen by the test ${canaryZeroAt && failedAt ? ((canaryZeroAt - Date.parse(failedAt)) / 1000).toFixed(2) : "?"} s later; ` +
        `operator histogram: ${count} rollback(s), mean ${(sum / count).toFixed(3)} s`,
    );
    expect(metrics).toMatch(/crescendo_release_rollbacks_total\{reason="AnalysisFailed"\} [1-9]/);
  });
});

describe("unreachable Prometheus", () => {
  it("pauses with InconclusiveAnalysis, never rolling back or promoting", async () => {
    const ns = "rel-noprom";
    await createNamespace(ns);
    const closed = closedPrometheus;
    const spec = (tpl: Record<string, unknown>, version: string) => ({
      version,
      replicas: 2,
      template: tpl,
      strategy: { canary: { steps: [{ setWeight: 25 }, { analysis: {} }, { setWeight: 50 }] } },
      analysis: {
        interval: "2s",
        metrics: [errorRateMetric({ prometheus: { address: closed, query: "up" } })],
      },
    });
    const v1 = await healthyAt(ns, "api", spec);
    const v2 = podTemplate("api", "2");
    await applyRelease(ns, "api", spec(v2, "2.0.0"));
    const status = await waitRelease(ns, "api", "Paused (InconclusiveAnalysis)", (s) => s.phase === "Paused");
    expect(status).toMatchObject({
      pauseReason: "InconclusiveAnalysis",
      stableRevision: revisionOf(v1),
      canaryRevision: revisionOf(v2),
    });
    expect(condition(status, "Stalled")).toMatchObject({ status: "True", reason: "InconclusiveAnalysis" });
    const measured = status.analysis?.metrics[0];
    expect(measured).toMatchObject({ failed: 0, successful: 0 });
    expect(measured?.measurements.at(-1)?.message).toContain("query failed");

    // And it stays there: no measurement while held, no verdict either way.
    await sleep(6_000);
    const later = (await getRelease(ns, "api"))?.status;
    expect(later).toMatchObject({
      phase: "Paused",
      pauseReason: "InconclusiveAnalysis",
      stableRevision: revisionOf(v1),
    });
    expect(later?.history ?? []).toEqual([]);
    expect(later?.analysis?.metrics[0]?.measurements.length).toBe(measured?.measurements.length);
  });
});

describe("manual actions", () => {
  it("acts on pause, resume, promote, promote-full and abort once per id", async () => {
    const ns = "rel-actions";
    await createNamespace(ns);
    const spec = (tpl: Record<string, unknown>, version: string) => ({
      version,
      replicas: 2,
      template: tpl,
      strategy: {
        canary: {
          steps: [{ setWeight: 25 }, { pause: {} }, { setWeight: 50 }, { pause: { duration: "1h" } }],
        },
      },
    });
    await healthyAt(ns, "ctl", spec);
    const v2 = podTemplate("ctl", "2");
    await applyRelease(ns, "ctl", spec(v2, "2.0.0"));
    await waitRelease(ns, "ctl", "held by the pause step", (s) => s.pauseReason === "PauseStep");

    await annotate(ns, "ctl", "promote", "a1");
    let s = await waitRelease(
      ns,
      "ctl",
      "past the pause step",
      (x) => x.lastAction?.id === "a1" && x.currentStepIndex === 3,
    );
    expect(s).toMatchObject({ phase: "Progressing", lastAction: { action: "promote" } });

    await annotate(ns, "ctl", "pause", "a2");
    s = await waitRelease(ns, "ctl", "paused by hand", (x) => x.lastAction?.id === "a2");
    expect(s).toMatchObject({ phase: "Paused", pauseReason: "ManualPause" });

    await annotate(ns, "ctl", "resume", "a3");
    s = await waitRelease(ns, "ctl", "resumed", (x) => x.lastAction?.id === "a3");
    expect(s).toMatchObject({ phase: "Progressing", currentStepIndex: 3 });
    expect(s.pauseReason).toBeUndefined();

    // The same id again, even with another action, is not acted on.
    await annotate(ns, "ctl", "pause", "a3");
    await sleep(3_000);
    s = (await getRelease(ns, "ctl"))?.status ?? {};
    expect(s).toMatchObject({ phase: "Progressing", lastAction: { id: "a3", action: "resume" } });

    await annotate(ns, "ctl", "promote-full", "a4");
    s = await waitRelease(
      ns,
      "ctl",
      "promoted in full",
      (x) => x.phase === "Healthy" && x.lastAction?.id === "a4",
    );
    expect(s.stableRevision).toBe(revisionOf(v2));

    const v3 = podTemplate("ctl", "3");
    await applyRelease(ns, "ctl", spec(v3, "3.0.0"));
    await waitRelease(ns, "ctl", "3.0.0 held by the pause step", (x) => x.pauseReason === "PauseStep");
    await annotate(ns, "ctl", "abort", "a5");
    s = await waitRelease(ns, "ctl", "aborted", (x) => x.phase === "RolledBack");
    expect(s).toMatchObject({ lastAction: { id: "a5", action: "abort" }, stableRevision: revisionOf(v2) });
    expect(condition(s, "RolledBack")?.reason).toBe("Aborted");
    await waitFor(
      "the aborted canary at zero replicas",
      () => getDeployment(ns, `ctl-${revisionOf(v3)}`),
      (d) => d?.spec.replicas === 0,
      { context },
    );
  });
});

describe("spec.paused", () => {
  it("records a new revision without starting its rollout until cleared", async () => {
    const ns = "rel-paused";
    await createNamespace(ns);
    const spec = (tpl: Record<string, unknown>, version: string, paused = false) => ({
      version,
      replicas: 2,
      template: tpl,
      paused,
      strategy: { canary: { steps: [{ setWeight: 50 }, { pause: {} }] } },
    });
    await healthyAt(ns, "hold", spec);
    const v2 = podTemplate("hold", "2");
    const r2 = revisionOf(v2);
    await applyRelease(ns, "hold", spec(v2, "2.0.0", true));
    const s = await waitRelease(ns, "hold", "2.0.0 recorded, paused", (x) => x.canaryRevision === r2);
    expect(s).toMatchObject({
      phase: "Paused",
      pauseReason: "Paused",
      canaryVersion: "2.0.0",
      canaryWeight: 0,
    });
    expect(s.currentStepIndex).toBeUndefined();
    await sleep(2_000);
    expect((await getDeployment(ns, `hold-${r2}`))?.spec.replicas ?? 0).toBe(0);

    await applyRelease(ns, "hold", spec(v2, "2.0.0", false));
    await waitRelease(
      ns,
      "hold",
      "step 0 started",
      (x) => x.currentStepIndex === 0 || x.pauseReason === "PauseStep",
    );
    await waitFor(
      "the canary at step 0's size",
      () => getDeployment(ns, `hold-${r2}`),
      (d) => (d?.spec.replicas ?? 0) > 0,
      { context },
    );
  });
});

describe("compareToStable", () => {
  it("rolls back a canary whose p99 latency is three times the stable's", async () => {
    const ns = "rel-latency";
    await createNamespace(ns);
    const spec = (tpl: Record<string, unknown>, version: string) => ({
      version,
      replicas: 2,
      template: tpl,
      strategy: { canary: { steps: [{ setWeight: 25 }, { analysis: {} }, { setWeight: 50 }] } },
      analysis: { interval: "2s", metrics: [latencyP99()] },
    });
    const v1 = await healthyAt(ns, "lat", spec);
    const v2 = podTemplate("lat", "2");
    await setPodBehaviour(ns, "lat", v1, { latencySeconds: 0.02 });
    await setPodBehaviour(ns, "lat", v2, { errorRate: 0, latencySeconds: 0.06 });
    await applyRelease(ns, "lat", spec(v2, "2.0.0"));
    const status = await waitRelease(ns, "lat", "RolledBack", (s) => s.phase === "RolledBack", 120_000);
    expect(condition(status, "RolledBack")?.message).toContain("latency-p99");
    const failed = status.analysis?.metrics[0]?.measurements.findLast((m) => m.phase === "Failed");
    expect(Number(failed?.value)).toBeGreaterThan(1.5 * Number(failed?.stableValue));
    expect(status.stableRevision).toBe(revisionOf(v1));
  });
});

describe("blue-green", () => {
  it("previews the new revision, and switches the Services on promote", async () => {
    const ns = "rel-bluegreen";
    await createNamespace(ns);
    const spec = (tpl: Record<string, unknown>, version: string) => ({
      version,
      replicas: 2,
      template: tpl,
      service: { ports: [{ name: "http", port: 80 }] },
      strategy: { blueGreen: { scaleDownDelaySeconds: 2 } },
    });
    const v1 = await healthyAt(ns, "bg", spec);
    const v2 = podTemplate("bg", "2");
    const [r1, r2] = [revisionOf(v1), revisionOf(v2)];
    await applyRelease(ns, "bg", spec(v2, "2.0.0"));
    await waitRelease(ns, "bg", "awaiting promotion", (s) => s.pauseReason === "AwaitingPromotion");
    const revisionOfService = async (name: string) =>
      (await getService(ns, name))?.spec.selector["crescendo.dev/revision"];
    expect(await revisionOfService("bg-preview")).toBe(r2);
    expect(await revisionOfService("bg")).toBe(r1);
    expect(await revisionOfService("bg-stable")).toBe(r1);
    expect((await getDeployment(ns, `bg-${r2}`))?.status?.readyReplicas).toBe(2);

    await annotate(ns, "bg", "promote", "go");
    await waitRelease(ns, "bg", "promoted", (s) => s.phase === "Healthy" && s.stableRevision === r2);
    expect(await revisionOfService("bg")).toBe(r2);
    expect(await revisionOfService("bg-stable")).toBe(r2);
    await waitFor(
      `Deployment bg-${r1} scaled down`,
      () => getDeployment(ns, `bg-${r1}`),
      (d) => d === undefined || d.spec.replicas === 0,
      { timeoutMs: 30_000, context },
    );
  });
});

const featureTogglesRegistered = readFileSync(
  join(import.meta.dirname, "../operator/src/main.ts"),
  "utf8",
).includes("registerFeatureToggleController(");

describe("guarded FeatureToggle", () => {
  it.skipIf(!featureTogglesRegistered)(
    "serves its default variant once its guard Release rolls back",
    async () => {
      const ns = "rel-guard";
      await createNamespace(ns);
      const spec = (tpl: Record<string, unknown>, version: string) => ({
        version,
        replicas: 2,
        template: tpl,
        strategy: { canary: { steps: [{ setWeight: 25 }, { analysis: {} }, { setWeight: 50 }] } },
        analysis: { interval: "2s", metrics: [errorRateMetric()] },
      });
      await healthyAt(ns, "gw", spec);
      await client.apply(
        {
          apiVersion: "crescendo.dev/v1alpha1",
          kind: "FeatureToggle",
          metadata: { name: "new-checkout", namespace: ns },
          spec: {
            variants: { on: true, off: false },
            defaultVariant: "off",
            rollout: { variant: "on", percentage: 100 },
            guard: { release: "gw" },
          },
        },
        FeatureToggleResource,
        { fieldManager: FIELD_MANAGER, force: true },
      );
      // As an app of the namespace reads it: with its ServiceAccount token (the default auth).
      const token = await serviceAccountToken(client, ns);
      const served = async () => {
        const res = await evaluateFlag(operator.ofrepPort, ns, "new-checkout", { targetingKey: "u1" }, token);
        return ((await res.json()) as { value?: unknown }).value;
      };
      await waitFor("the toggle served as on", served, (v) => v === true, { context });

      const v2 = podTemplate("gw", "2");
      await setPodBehaviour(ns, "gw", v2, { errorRate: 0.5 });
      await applyRelease(ns, "gw", spec(v2, "2.0.0"));
      await waitRelease(ns, "gw", "RolledBack", (s) => s.phase === "RolledBack", 120_000);
      await waitFor("the toggle served as its default variant", served, (v) => v === false, {
        timeoutMs: 10_000,
        context,
      });
    },
  );
});

describe("crash mid-rollout", () => {
  it("continues from status after SIGKILL and a restart, at the same step", async () => {
    const ns = "rel-crash";
    await createNamespace(ns);
    const spec = (tpl: Record<string, unknown>, version: string) => ({
      version,
      replicas: 2,
      template: tpl,
      strategy: {
        canary: {
          steps: [
            { setWeight: 25 },
            { pause: { duration: "8s" } },
            { setWeight: 50 },
            { pause: { duration: "4s" } },
          ],
        },
      },
    });
    await healthyAt(ns, "crash", spec);
    const v2 = podTemplate("crash", "2");
    await applyRelease(ns, "crash", spec(v2, "2.0.0"));
    const before = await waitRelease(ns, "crash", "at the 8 s pause", (s) => s.currentStepIndex === 1);

    await operator.stop("SIGKILL");
    operator = await OperatorProcess.start({
      kubeconfig: kubeconfigPath(),
      name: "release-restarted",
      allowPrometheus: [closedPrometheus],
    });

    // Never back to an earlier step: the new operator resumes from status, not from scratch.
    const steps: number[] = [];
    const done = await waitFor(
      "the rollout completed by the new operator",
      async () => {
        const s = (await getRelease(ns, "crash"))?.status ?? {};
        if (s.currentStepIndex !== undefined) steps.push(s.currentStepIndex);
        return s;
      },
      (s) => s.phase === "Healthy" && s.stableRevision === revisionOf(v2),
      { timeoutMs: 120_000, context },
    );
    expect(steps.filter((i) => i < 1)).toEqual([]);
    expect(done.history?.[0]).toMatchObject({
      revision: revisionOf(v2),
      outcome: "Promoted",
      startedAt: before.rolloutStartedAt,
    });
    expect((done.history ?? []).filter((h) => h.outcome !== "Promoted")).toEqual([]);
  });
});
