/**
 * The Release examples users copy (examples/release.yaml, examples/release-canary.yaml,
 * examples/release-bluegreen.yaml), applied with kubectl as they are — only their namespace and
 * Prometheus address swapped for the suite's — accepted by the CRD, Healthy at their version, and
 * a new version progressing into analysis whose error-rate and p99 queries the real Prometheus
 * answers with a passing value. examples/release.yaml's comment promises a rollback when the
 * error rate passes 5 %: a version failing 30 % of requests is rolled back on its own.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parse } from "yaml";
import { ReleaseResource } from "../operator/src/api/kinds.js";
import type { ReleaseStatus } from "../operator/src/api/release.js";
import { revisionOf } from "../operator/src/controllers/release/revision.js";
import type { KubeClient } from "../operator/src/runtime/client.js";
import type { KubeObject } from "../operator/src/runtime/types.js";
import { kubeconfigPath, kubectl, testClient, waitFor } from "./support/kube.js";
import { setRevisionBehaviour } from "./support/metrics-simulator.js";
import { OperatorProcess } from "./support/operator.js";

const EXAMPLES = join(import.meta.dirname, "../examples");
const PROMETHEUS = inject("prometheusUrl");
const SIMULATOR = inject("simulatorAddress");

let client: KubeClient;
let operator: OperatorProcess;

beforeAll(async () => {
  client = testClient();
  operator = await OperatorProcess.start({ kubeconfig: kubeconfigPath(), name: "release-examples" });
});

afterAll(async () => {
  await operator?.stop();
  client?.close();
});

interface ExampleDoc {
  metadata: { name: string };
  spec: { version: string; template: unknown };
}

/** The example's name and version as the file has them. */
function nameAndVersion(file: string): { name: string; version: string } {
  const doc = parse(readFileSync(join(EXAMPLES, file), "utf8")) as ExampleDoc;
  return { name: doc.metadata.name, version: doc.spec.version };
}

/** The example's text in `namespace`, against the suite's Prometheus, at `version` if given. */
function example(file: string, namespace: string, version?: string): string {
  let text = readFileSync(join(EXAMPLES, file), "utf8")
    .replace(/^ {2}namespace: checkout$/m, `  namespace: ${namespace}`)
    .replaceAll("http://prometheus.monitoring:9090", PROMETHEUS);
  if (version) text = text.replaceAll(nameAndVersion(file).version, version);
  return text;
}

/** Simulated pods (by default healthy: 0.2 % errors, 40 ms) for the revision the text's template makes. */
async function behave(namespace: string, text: string, errorRate = 0.002): Promise<void> {
  const doc = parse(text) as ExampleDoc;
  await setRevisionBehaviour(SIMULATOR, {
    namespace,
    release: doc.metadata.name,
    revision: revisionOf(doc.spec.template),
    errorRate,
    latencySeconds: 0.04,
  });
}

async function status(namespace: string, name: string): Promise<ReleaseStatus | undefined> {
  return (await client.get<KubeObject & { status?: ReleaseStatus }>(ReleaseResource, name, namespace))
    ?.status;
}

const passed = (s: ReleaseStatus | undefined, metric: string): boolean =>
  (s?.analysis?.metrics ?? []).some((m) => m.name === metric && m.successful > 0);

describe.each([
  ["release.yaml", "ex-release"],
  ["release-canary.yaml", "ex-canary"],
  ["release-bluegreen.yaml", "ex-bluegreen"],
])("examples/%s", (file, namespace) => {
  const { name, version } = nameAndVersion(file);

  it("is accepted, becomes Healthy, and a new version progresses with both metrics passing", async () => {
    const created = await kubectl(["create", "namespace", namespace]);
    expect(created.code, created.stderr).toBe(0);
    const v1 = example(file, namespace);
    await behave(namespace, v1);
    const applied = await kubectl(["apply", "-f", "-"], { input: v1 });
    expect(applied.code, applied.stderr).toBe(0);
    await waitFor(
      `${namespace}/${name} Healthy at ${version}`,
      () => status(namespace, name),
      (s) => s?.phase === "Healthy" && s.stableVersion === version,
      { context: () => operator.tail(40) },
    );

    const v2 = example(file, namespace, "9.4.0");
    await behave(namespace, v2);
    const changed = await kubectl(["apply", "-f", "-"], { input: v2 });
    expect(changed.code, changed.stderr).toBe(0);
    const s = await waitFor(
      `${namespace}/${name} progressing to 9.4.0 with error-rate and latency-p99 passing`,
      () => status(namespace, name),
      (s) =>
        s?.phase === "Progressing" &&
        s.canaryVersion === "9.4.0" &&
        passed(s, "error-rate") &&
        passed(s, "latency-p99"),
      // The examples measure every 15-30 s as written: the first measurement may find too few
      // samples in the fresh revision's rate window, so allow for the second and third.
      { timeoutMs: 120_000, context: () => operator.tail(40) },
    );
    expect(s?.stableVersion).toBe(version);
    expect(s?.analysis?.metrics.every((m) => m.failed === 0)).toBe(true);
  }, 240_000);
});

describe("examples/release.yaml, after its new version started", () => {
  const { name } = nameAndVersion("release.yaml");
  const namespace = "ex-release";

  it("rolls back on its own a version whose error rate passes 5 %, as its comment says", async () => {
    const bad = example("release.yaml", namespace, "9.5.0");
    await behave(namespace, bad, 0.3);
    const applied = await kubectl(["apply", "-f", "-"], { input: bad });
    expect(applied.code, applied.stderr).toBe(0);
    const s = await waitFor(
      `${namespace}/${name} 9.5.0 rolled back`,
      () => status(namespace, name),
      (s) => s?.phase === "RolledBack" && s.canaryVersion === "9.5.0",
      // failureLimit 1 at a 15 s interval: the second failed measurement rolls back.
      { timeoutMs: 150_000, context: () => operator.tail(40) },
    );
    expect(s?.history?.[0]).toMatchObject({
      version: "9.5.0",
      outcome: "RolledBack",
      reason: "AnalysisFailed",
    });
    expect(s?.conditions?.find((c) => c.type === "Ready")?.message).toMatch(/error-rate/);
  }, 240_000);
});
