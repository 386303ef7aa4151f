/**
 * Analysis timing that status must tell the truth about (issue #12), against the real apiserver
 * (KWOK runs the pods) and the operator's real entry point, with loopback servers standing in
 * for a Prometheus that behaves in a way the suite's real one cannot be made to:
 *
 * - an analysis that can never decide in time (every query accepted and never answered, so each
 *   measurement times out Inconclusive) holds with `AnalysisDeadlineExceeded` at its deadline,
 *   Stalled, with a Warning Event, and promotes nothing;
 * - background analysis whose query finds no data until the canary is up is not held by that
 *   early "no data": its warm-up waits for a ready canary pod, and the rollout promotes.
 */
import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ReleaseResource } from "../operator/src/api/kinds.js";
import type { ReleaseStatus } from "../operator/src/api/release.js";
import { revisionOf } from "../operator/src/controllers/release/revision.js";
import type { KubeClient } from "../operator/src/runtime/client.js";
import { DeploymentResource, ServiceResource } from "../operator/src/runtime/resources.js";
import type { KubeObject } from "../operator/src/runtime/types.js";
import { kubeconfigPath, kubectl, testClient, waitFor } from "./support/kube.js";
import { freePort, OperatorProcess } from "./support/operator.js";

let client: KubeClient;
let operator: OperatorProcess;
/** Loopback addresses the operator may query; each test binds its own server there. */
let silentAddress: { port: number; url: string };
let warmUpAddress: { port: number; url: string };
const context = () => operator.tail(60);

type Release = KubeObject & { status?: ReleaseStatus };

beforeAll(async () => {
  client = testClient();
  const [silent, warm] = [await freePort(), await freePort()];
  silentAddress = { port: silent, url: `http://127.0.0.1:${silent}` };
  warmUpAddress = { port: warm, url: `http://127.0.0.1:${warm}` };
  operator = await OperatorProcess.start({
    kubeconfig: kubeconfigPath(),
    name: "release-analysis-timing",
    allowPrometheus: [silentAddress.url, warmUpAddress.url],
  });
});

afterAll(async () => {
  await operator?.stop();
  client?.close();
});

/** Starts `server` on the loopback port; resolves once it listens. */
async function listen(server: Server, port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
}

/** Stops `server`, cutting the connections it left hanging. */
async function stop(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

async function apply(yaml: string): Promise<void> {
  const result = await kubectl(["apply", "-f", "-"], { input: yaml });
  expect(result.code, result.stderr).toBe(0);
}

function template(app: string, version: string, nodeSelector?: Record<string, string>) {
  return {
    metadata: { labels: { app } },
    spec: {
      containers: [{ name: "app", image: `registry.example.com/${app}:${version}` }],
      ...(nodeSelector ? { nodeSelector } : {}),
    },
  };
}

/** A Release applied with kubectl, as a squad would; `analysis` and `strategy` are YAML blocks. */
function releaseYaml(o: {
  name: string;
  namespace: string;
  version: string;
  strategy: string;
  analysis: string;
  nodeSelector?: Record<string, string>;
}): string {
  const tpl = template(o.name, o.version.split(".")[0] ?? o.version, o.nodeSelector);
  return `
apiVersion: crescendo.dev/v1alpha1
kind: Release
metadata:
  name: ${o.name}
  namespace: ${o.namespace}
spec:
  version: "${o.version}"
  replicas: 2
  template: ${JSON.stringify(tpl)}
  service:
    ports: [{ name: http, port: 80, targetPort: 8080 }]
  strategy:
${o.strategy}
  analysis:
${o.analysis}
`;
}

async function waitRelease(
  namespace: string,
  name: string,
  description: string,
  accept: (s: ReleaseStatus) => boolean,
  timeoutMs = 90_000,
): Promise<ReleaseStatus> {
  const found = await waitFor(
    `Release ${namespace}/${name}: ${description}`,
    () => client.get<Release>(ReleaseResource, name, namespace),
    (r) => r?.status !== undefined && accept(r.status),
    { timeoutMs, context },
  );
  return found?.status ?? {};
}

const condition = (s: ReleaseStatus, type: string) => s.conditions?.find((c) => c.type === type);

async function warningEvents(name: string, namespace: string): Promise<{ reason: string; note: string }[]> {
  const result = await kubectl([
    "get",
    "events.events.k8s.io",
    "-n",
    namespace,
    "--field-selector",
    `regarding.name=${name},type=Warning`,
    "-o",
    "json",
  ]);
  expect(result.code, result.stderr).toBe(0);
  return (JSON.parse(result.stdout) as { items: { reason: string; note: string }[] }).items;
}

async function stableSelector(namespace: string, name: string): Promise<string | undefined> {
  const svc = await client.get<KubeObject & { spec: { selector: Record<string, string> } }>(
    ServiceResource,
    `${name}-stable`,
    namespace,
  );
  return svc?.spec.selector["crescendo.dev/revision"];
}

describe("an analysis that can never decide in time", () => {
  it("holds with AnalysisDeadlineExceeded, Stalled and a Warning Event, and promotes nothing", async () => {
    const [namespace, name] = ["rel-deadline", "slow"];
    await kubectl(["create", "namespace", namespace]);
    // A "Prometheus" that accepts every query and never answers: each measurement times out
    // after 5 s as Inconclusive. With interval 1s and inconclusiveLimit 10 the deadline is
    // 2 × 1 s × (minSamples 1 + failureLimit 0 + inconclusiveLimit 10 + 1) = 24 s, by which time
    // at most ~5 measurements can have timed out: the deadline, not the limit, decides.
    const queries: string[] = [];
    const silent = createServer((req) => {
      queries.push(req.url ?? "");
    });
    await listen(silent, silentAddress.port);
    try {
      const spec = (version: string) =>
        releaseYaml({
          name,
          namespace,
          version,
          strategy: "    canary:\n      steps: [{ setWeight: 50 }, { analysis: {} }]",
          analysis: [
            '    interval: "1s"',
            "    metrics:",
            "      - name: silent",
            `        prometheus: { address: "${silentAddress.url}", query: "vector(0)" }`,
            "        thresholdRange: { max: 1 }",
            "        inconclusiveLimit: 10",
          ].join("\n"),
        });
      await apply(spec("1.0.0"));
      const v1 = await waitRelease(namespace, name, "Healthy at 1.0.0", (s) => s.phase === "Healthy");
      const r1 = revisionOf(template(name, "1"));
      const r2 = revisionOf(template(name, "2"));
      expect(v1.stableRevision).toBe(r1);

      await apply(spec("2.0.0"));
      const held = await waitRelease(
        namespace,
        name,
        "Paused (AnalysisDeadlineExceeded)",
        (s) => s.phase === "Paused",
        120_000,
      );
      expect(held).toMatchObject({
        pauseReason: "AnalysisDeadlineExceeded",
        stableRevision: r1,
        canaryRevision: r2,
      });
      expect(queries.length).toBeGreaterThan(0);
      // The limit did not decide: every measurement so far is Inconclusive, fewer than 11.
      const measured = held.analysis?.metrics[0];
      expect(measured).toMatchObject({ successful: 0, failed: 0 });
      expect(measured?.measurements.length ?? 0).toBeLessThanOrEqual(10);
      expect(measured?.measurements.at(-1)?.message).toContain("no answer from Prometheus");
      expect(condition(held, "Stalled")).toMatchObject({
        status: "True",
        reason: "AnalysisDeadlineExceeded",
      });
      expect(condition(held, "Stalled")?.message).toContain("reached no decision by its deadline");

      // kubectl users see it where they look: `kubectl wait` answers, and a Warning Event.
      const wait = await kubectl([
        "wait",
        "-n",
        namespace,
        "--for=condition=Stalled",
        "--timeout=30s",
        `release/${name}`,
      ]);
      expect(wait.code, wait.stderr).toBe(0);
      const events = await waitFor(
        `an AnalysisDeadlineExceeded Warning Event on release ${name}`,
        () => warningEvents(name, namespace),
        (items) => items.some((e) => e.reason === "AnalysisDeadlineExceeded"),
        { context, timeoutMs: 30_000 },
      );
      expect(events.find((e) => e.reason === "AnalysisDeadlineExceeded")?.note).toContain("deadline");

      // Nothing was promoted: the stable Service still selects 1.0.0, and no rollout ended.
      expect(await stableSelector(namespace, name)).toBe(r1);
      const now = (await client.get<Release>(ReleaseResource, name, namespace))?.status;
      expect(now).toMatchObject({ phase: "Paused", stableRevision: r1, stableVersion: "1.0.0" });
      expect(now?.history ?? []).toEqual([]);
    } finally {
      await stop(silent);
      await kubectl(["delete", "release", name, "-n", namespace, "--wait=false"]);
    }
  });
});

describe("background analysis whose query finds no data until the canary is up", () => {
  it("is not held InconclusiveAnalysis by the early no data: the warm-up waits, and it promotes", async () => {
    const [namespace, name] = ["rel-warmup", "warm"];
    await kubectl(["create", "namespace", namespace]);
    // A "Prometheus" whose answer about a revision exists only once a pod of that revision is
    // ready (as the apiserver says, which the operator's cache can only lag): before that it
    // answers an empty vector, "no data", which inconclusiveLimit 0 would hold on at once.
    const answers: { revision: string; data: boolean }[] = [];
    const prometheus = createServer((req, res) => {
      void (async () => {
        const query = new URL(req.url ?? "/", "http://x").searchParams.get("query") ?? "";
        const revision = /revision="([^"]*)"/.exec(query)?.[1] ?? "";
        const dep = await client
          .get<KubeObject & { status?: { readyReplicas?: number } }>(
            DeploymentResource,
            `${name}-${revision}`,
            namespace,
          )
          .catch(() => undefined);
        const data = (dep?.status?.readyReplicas ?? 0) > 0;
        answers.push({ revision, data });
        const result = data ? [{ metric: {}, value: [Date.now() / 1000, "0"] }] : [];
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ status: "success", data: { resultType: "vector", result } }));
      })();
    });
    await listen(prometheus, warmUpAddress.port);
    // The canary can run only on a node with this label, which the test sets once several
    // intervals have passed: until then it has no ready pod, and so no data.
    const node = "kwok-node-0";
    const label = "crescendo.dev/e2e-warm-up";
    const selector = { [label]: name };
    try {
      const spec = (version: string, nodeSelector?: Record<string, string>) =>
        releaseYaml({
          name,
          namespace,
          version,
          nodeSelector,
          strategy: [
            "    canary:",
            '      steps: [{ setWeight: 50 }, { pause: { duration: "8s" } }]',
            "      backgroundAnalysis: { metrics: [errors] }",
          ].join("\n"),
          analysis: [
            '    interval: "1s"',
            "    metrics:",
            "      - name: errors",
            `        prometheus: { address: "${warmUpAddress.url}", query: 'errors{revision="{{revision}}"}' }`,
            "        thresholdRange: { max: 0.05 }",
            "        inconclusiveLimit: 0",
          ].join("\n"),
        });
      await apply(spec("1.0.0"));
      await waitRelease(namespace, name, "Healthy at 1.0.0", (s) => s.phase === "Healthy");
      const r2 = revisionOf(template(name, "2", selector));

      await apply(spec("2.0.0", selector));
      await waitRelease(namespace, name, "rolling out 2.0.0", (s) => s.canaryRevision === r2);
      // Several intervals with the canary pending: a measurement now would find no data and,
      // with inconclusiveLimit 0, hold the rollout.
      await new Promise((r) => setTimeout(r, 4_000));
      const waiting = (await client.get<Release>(ReleaseResource, name, namespace))?.status;
      expect(waiting?.phase, context()).toBe("Progressing");
      expect(waiting?.backgroundAnalysis?.metrics ?? []).toEqual([]);
      const labelled = await kubectl(["label", "node", node, `${label}=${name}`, "--overwrite"]);
      expect(labelled.code, labelled.stderr).toBe(0);

      const done = await waitRelease(
        namespace,
        name,
        "promoted to 2.0.0 (or held)",
        (s) => (s.phase === "Healthy" && s.stableRevision === r2) || s.phase === "Paused",
        120_000,
      );
      expect(done, context()).toMatchObject({ phase: "Healthy", stableRevision: r2, stableVersion: "2.0.0" });
      expect(done.pauseReason).toBeUndefined();
      // Background analysis did measure the canary, and never while it had no data.
      const background = done.backgroundAnalysis?.metrics[0];
      expect(background?.successful ?? 0).toBeGreaterThan(0);
      expect(background).toMatchObject({ inconclusive: 0 });
      expect(answers.filter((a) => a.revision === r2).length).toBeGreaterThan(0);
      expect(answers.filter((a) => !a.data)).toEqual([]);
      expect(await stableSelector(namespace, name)).toBe(r2);
    } finally {
      await stop(prometheus);
      await kubectl(["label", "node", node, `${label}-`]);
      await kubectl(["delete", "release", name, "-n", namespace, "--wait=false"]);
    }
  });
});
