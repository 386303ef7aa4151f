/**
 * The Release examples users copy (examples/release-canary.yaml, examples/release-bluegreen.yaml),
 * applied with kubectl as they are — only their namespace and Prometheus address swapped for the
 * suite's — accepted by the CRD, Healthy at their version, and a new version progressing into
 * analysis whose error-rate and p99 queries the real Prometheus answers with a passing value.
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

/** The example's text in `namespace`, against the suite's Prometheus, at `version` if given. */
function example(file: string, namespace: string, version?: string): string {
  let text = readFileSync(join(EXAMPLES, file), "utf8")
    .replace(/^ {2}namespace: checkout$/m, `  namespace: ${namespace}`)
    .replaceAll("http://prometheus.monitoring:9090", PROMETHEUS);
  if (version) text = text.replaceAll("2.3.0", version);
  return text;
}

/** Healthy simulated pods (0.2 % errors, 40 ms) for the revision the text's template makes. */
async function behaveWell(namespace: string, text: string): Promise<void> {
  const doc = parse(text) as { metadata: { name: string }; spec: { template: unknown } };
  await setRevisionBehaviour(SIMULATOR, {
    namespace,
    release: doc.metadata.name,
    revision: revisionOf(doc.spec.template),
    errorRate: 0.002,
    latencySeconds: 0.04,
  });
}

async function status(namespace: string): Promise<ReleaseStatus | undefined> {
  return (
    await client.get<KubeObject & { status?: ReleaseStatus }>(ReleaseResource, "payments-api", namespace)
  )?.status;
}

const passed = (s: ReleaseStatus | undefined, metric: string): boolean =>
  (s?.analysis?.metrics ?? []).some((m) => m.name === metric && m.successful > 0);

describe.each([
  ["release-canary.yaml", "ex-canary"],
  ["release-bluegreen.yaml", "ex-bluegreen"],
])("examples/%s", (file, namespace) => {
  it("is accepted, becomes Healthy, and a new version progresses with both metrics passing", async () => {
    const created = await kubectl(["create", "namespace", namespace]);
    expect(created.code, created.stderr).toBe(0);
    const v1 = example(file, namespace);
    await behaveWell(namespace, v1);
    const applied = await kubectl(["apply", "-f", "-"], { input: v1 });
    expect(applied.code, applied.stderr).toBe(0);
    await waitFor(
      `${namespace}/payments-api Healthy at 2.3.0`,
      () => status(namespace),
      (s) => s?.phase === "Healthy" && s.stableVersion === "2.3.0",
      { context: () => operator.tail(40) },
    );

    const v2 = example(file, namespace, "2.4.0");
    await behaveWell(namespace, v2);
    const changed = await kubectl(["apply", "-f", "-"], { input: v2 });
    expect(changed.code, changed.stderr).toBe(0);
    const s = await waitFor(
      `${namespace}/payments-api progressing to 2.4.0 with error-rate and latency-p99 passing`,
      () => status(namespace),
      (s) =>
        s?.phase === "Progressing" &&
        s.canaryVersion === "2.4.0" &&
        passed(s, "error-rate") &&
        passed(s, "latency-p99"),
      // The examples measure every 30 s as written: the first measurement may find too few
      // samples in the fresh revision's 2m rate window, so allow for the second and third.
      { timeoutMs: 120_000, context: () => operator.tail(40) },
    );
    expect(s?.stableVersion).toBe("2.3.0");
    expect(s?.analysis?.metrics.every((m) => m.failed === 0)).toBe(true);
  }, 240_000);
});
