/**
 * Post-promotion verification end to end, against a real apiserver (KWOK nodes run the pods), a
 * real Prometheus scraping the metrics simulator, and the operator's real entry point: a canary
 * that was healthy while it rolled out is promoted, its error rate rises only afterwards under
 * full traffic, and the operator reverts it to the previous revision in one write (Services back,
 * the previous revision scaled back up from the share it was kept at), with phase Reverted, a
 * condition naming the metric, an Event and the on-call notification. A second Release whose
 * window passes cleanly is Verified and its previous revision goes.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SquadResource } from "../operator/src/api/kinds.js";
import { revisionOf } from "../operator/src/controllers/release/revision.js";
import type { KubeClient } from "../operator/src/runtime/client.js";
import { DeploymentResource, SecretResource, ServiceResource } from "../operator/src/runtime/resources.js";
import type { KubeObject } from "../operator/src/runtime/types.js";
import { kubeconfigPath, testClient, waitFor, waitForCondition } from "./support/kube.js";
import { OperatorProcess } from "./support/operator.js";
import {
  condition,
  errorRateMetric,
  podTemplate,
  releaseHelpers,
  setPodBehaviour,
} from "./support/releases.js";

const FIELD_MANAGER = "e2e-post-promotion";

let client: KubeClient;
let operator: OperatorProcess;
const context = () => operator.tail(60);
const { createNamespace, applyRelease, waitRelease, eventsFor } = releaseHelpers({
  client: () => client,
  fieldManager: FIELD_MANAGER,
  context,
  waitTimeoutMs: 120_000,
});

type Deployment = KubeObject & { spec: { replicas: number } };

/** One 50 % step, then promotion and a verification window of `duration`. */
const spec = (tpl: Record<string, unknown>, version: string, duration: string) => ({
  version,
  replicas: 4,
  template: tpl,
  service: { ports: [{ name: "http", port: 80 }] },
  strategy: {
    canary: {
      steps: [{ setWeight: 50 }, { analysis: {} }],
      postPromotion: { duration, analysis: ["error-rate"], previousReplicasPercent: 50 },
    },
  },
  analysis: { interval: "2s", metrics: [errorRateMetric()] },
});

const getDeployment = (namespace: string, name: string) =>
  client.get<Deployment>(DeploymentResource, name, namespace);
const selectorOf = async (namespace: string, name: string) =>
  (
    await client.get<KubeObject & { spec: { selector: Record<string, string> } }>(
      ServiceResource,
      name,
      namespace,
    )
  )?.spec.selector;

/** v1 Healthy, then v2 (healthy while it rolls out) promoted: the window has begun. */
async function promotedV2(ns: string, name: string, duration: string) {
  const v1 = podTemplate(name, "1");
  const v2 = podTemplate(name, "2");
  await setPodBehaviour(ns, name, v1, { errorRate: 0, latencySeconds: 0.02 });
  await setPodBehaviour(ns, name, v2, { errorRate: 0, latencySeconds: 0.02 });
  await applyRelease(ns, name, spec(v1, "1.0.0", duration));
  await waitRelease(ns, name, "Healthy at 1.0.0", (s) => s.phase === "Healthy");
  await applyRelease(ns, name, spec(v2, "2.0.0", duration));
  const r2 = revisionOf(v2);
  const status = await waitRelease(
    ns,
    name,
    "2.0.0 promoted and verifying",
    (s) => s.postPromotion?.result === "Verifying",
  );
  return { v1, v2, r1: revisionOf(v1), r2, status };
}

let webhook: Server;
const received: Record<string, unknown>[] = [];

beforeAll(async () => {
  client = testClient();
  operator = await OperatorProcess.start({ kubeconfig: kubeconfigPath(), name: "post-promotion" });
  webhook = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      received.push(JSON.parse(body) as Record<string, unknown>);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => webhook.listen(0, "127.0.0.1", r));
});

afterAll(async () => {
  await operator?.stop();
  await new Promise<void>((r) => webhook.close(() => r()));
  client?.close();
});

describe("post-promotion verification", () => {
  it("reverts a promoted revision whose error rate rises under full traffic, in one write, and tells on-call", async () => {
    // A Squad with no namespaces listed owns one named after it, labelled with the squad.
    const ns = "pp-revert";
    const squad = ns;
    await client.apply(
      {
        apiVersion: "crescendo.dev/v1alpha1",
        kind: "Squad",
        metadata: { name: squad },
        spec: { oncall: { webhookSecretRef: { name: "oncall-webhook" }, channel: "#pp-oncall" } },
      },
      SquadResource,
      { fieldManager: FIELD_MANAGER, force: true },
    );
    await waitForCondition(
      client,
      SquadResource,
      squad,
      undefined,
      { type: "Ready", status: "True" },
      { context },
    );
    const url = `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/oncall`;
    await client.apply(
      {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "oncall-webhook", namespace: ns },
        stringData: { url },
      },
      SecretResource,
      { fieldManager: FIELD_MANAGER, force: true },
    );

    const { v2, r1, r2, status: verifying } = await promotedV2(ns, "shop", "5m");
    expect(verifying).toMatchObject({
      stableRevision: r2,
      postPromotion: { revision: r2, previousRevision: r1 },
    });
    expect(verifying.scaleDown?.[0]).toMatchObject({ revision: r1, replicas: 2 });
    expect(await selectorOf(ns, "shop")).toEqual({
      "crescendo.dev/release": "shop",
      "crescendo.dev/revision": r2,
    });
    // The previous revision is kept at half size, out of service.
    await waitFor(
      "the previous revision kept at 2 pods",
      () => getDeployment(ns, `shop-${r1}`),
      (d) => d?.spec.replicas === 2,
      { timeoutMs: 30_000, context },
    );

    // The regression shows only now, under full traffic.
    const raisedAt = Date.now();
    await setPodBehaviour(ns, "shop", v2, { errorRate: 0.5, latencySeconds: 0.02 });
    const reverted = await waitRelease(ns, "shop", "Reverted", (s) => s.phase === "Reverted", 90_000);
    const tookMs = Date.now() - raisedAt;

    expect(reverted).toMatchObject({
      stableRevision: r1,
      stableVersion: "1.0.0",
      canaryRevision: r2,
      postPromotion: { result: "Reverted" },
    });
    expect(condition(reverted, "Reverted")).toMatchObject({
      status: "True",
      reason: "PostPromotionAnalysisFailed",
    });
    expect(condition(reverted, "Reverted")?.message).toMatch(/error-rate .*> max 0\.05/);
    expect(condition(reverted, "Stalled")?.status).toBe("True");
    expect(reverted.history?.[0]).toMatchObject({
      revision: r2,
      outcome: "RolledBack",
      reason: "PostPromotionAnalysisFailed",
    });
    expect(reverted.history?.[0]?.failureStartedAt).toBeDefined();
    // The window measures every 2 s over 10 s of rate: well within a minute of the regression.
    expect(tookMs).toBeLessThan(60_000);

    // The stable Service is on the previous revision at once; kept at half size, it is scaled
    // back up while the reverted revision keeps serving beside it (the revert holds), then every
    // Service is on it and the reverted revision goes to zero.
    expect((await selectorOf(ns, "shop-stable"))?.["crescendo.dev/revision"]).toBe(r1);
    await waitFor(
      "the previous revision back at 4 pods, the reverted one at 0",
      async () => [await getDeployment(ns, `shop-${r1}`), await getDeployment(ns, `shop-${r2}`)] as const,
      ([prev, bad]) => prev?.spec.replicas === 4 && bad?.spec.replicas === 0,
      { timeoutMs: 60_000, context },
    );
    await waitRelease(
      ns,
      "shop",
      "Reverted and settled",
      (s) => condition(s, "Ready")?.reason === "Reverted",
    );
    for (const service of ["shop", "shop-stable", "shop-canary"]) {
      expect((await selectorOf(ns, service))?.["crescendo.dev/revision"], service).toBe(r1);
    }

    const events = await waitFor(
      "a Warning Reverted Event",
      () => eventsFor(ns, "shop"),
      (list) => list.some((e) => e.type === "Warning" && e.reason === "Reverted"),
      { context },
    );
    expect(events.find((e) => e.reason === "Reverted")?.note).toContain("error-rate");

    await waitFor(
      "the on-call webhook to be called",
      async () => received,
      (r) => r.length > 0,
      { context },
    );
    expect(received[0]).toMatchObject({
      release: "shop",
      namespace: ns,
      squad,
      revision: r2,
      version: "2.0.0",
      reason: "PostPromotionAnalysisFailed",
      metric: "error-rate",
      channel: "#pp-oncall",
    });
    expect(await operator.metrics()).toMatch(
      /crescendo_release_rollbacks_total\{reason="PostPromotionAnalysisFailed"\} 1/,
    );
  });

  it("closes a clean window as Verified and then scales the previous revision down", async () => {
    const ns = "pp-verified";
    await createNamespace(ns);
    const { r1, r2 } = await promotedV2(ns, "web", "12s");
    const verified = await waitRelease(
      ns,
      "web",
      "Verified",
      (s) => s.postPromotion?.result !== "Verifying",
      60_000,
    );
    expect(verified).toMatchObject({
      phase: "Healthy",
      stableRevision: r2,
      postPromotion: { result: "Verified" },
    });
    expect(verified.postPromotion?.metrics[0]?.successful).toBeGreaterThanOrEqual(2);
    await waitFor(
      `Deployment web-${r1} scaled down`,
      () => getDeployment(ns, `web-${r1}`),
      (d) => d === undefined || d.spec.replicas === 0,
      { timeoutMs: 30_000, context },
    );
    const events = await eventsFor(ns, "web");
    expect(events.map((e) => e.reason)).toContain("PostPromotionVerified");
  });
});
