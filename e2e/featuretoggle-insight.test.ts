/**
 * Evaluation insight as apps produce it: evaluations through the real OpenFeature server SDK
 * and OFREP provider, served by two operator replicas (a leader and a standby, as the chart runs
 * them), reach the toggle's status merged — the standby publishes its counts, the leader adds
 * them to its own — with the callers' ServiceAccounts; and a toggle nobody evaluates becomes
 * `Unused` once the (here very short) period has passed.
 */
import { hostname } from "node:os";
import { OFREPProvider } from "@openfeature/ofrep-provider";
import { OpenFeature } from "@openfeature/server-sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FeatureToggleResource } from "../operator/src/api/kinds.js";
import { insightConfigMapName } from "../operator/src/controllers/featuretoggle/insight-replicas.js";
import type { KubeClient } from "../operator/src/runtime/client.js";
import { ConfigMapResource, NamespaceResource } from "../operator/src/runtime/resources.js";
import type { KubeObject } from "../operator/src/runtime/types.js";
import { kubeconfigPath, testClient, waitFor, waitForCondition } from "./support/kube.js";
import { serviceAccountToken } from "./support/ofrep.js";
import { OperatorProcess } from "./support/operator.js";

const NS = "insight-shop";
const FIELD_MANAGER = "crescendo-e2e";
/** 0.0005 days = 43 s: long enough to evaluate first, short enough to watch `Unused` arrive. */
const ARGS = ["--insight-publish-interval=1s", "--toggle-unused-days=0.0005"];

interface ToggleStatus {
  insight?: { lastEvaluatedAt?: string; evaluations24h?: Record<string, number>; callers24h?: string[] };
  conditions?: { type: string; status: string; reason?: string }[];
}

let client: KubeClient;
let leader: OperatorProcess;
let standby: OperatorProcess;
const context = async () => `--- leader\n${leader.tail(30)}\n--- standby\n${standby?.tail(30) ?? ""}`;

const toggle = (name: string) => ({
  apiVersion: "crescendo.dev/v1alpha1",
  kind: "FeatureToggle",
  metadata: { name, namespace: NS },
  spec: { variants: { on: true, off: false }, defaultVariant: "on" },
});

async function statusOf(name: string): Promise<ToggleStatus | undefined> {
  return (await client.get<KubeObject & { status?: ToggleStatus }>(FeatureToggleResource, name, NS))?.status;
}

beforeAll(async () => {
  client = testClient();
  leader = await OperatorProcess.start({ kubeconfig: kubeconfigPath(), name: "insight-leader", args: ARGS });
  await client.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: NS } }, NamespaceResource, {
    fieldManager: FIELD_MANAGER,
    force: true,
  });
  for (const name of ["dark-mode", "forgotten"]) {
    await client.apply(toggle(name), FeatureToggleResource, { fieldManager: FIELD_MANAGER, force: true });
    // Only the leader reconciles: a Ready toggle says the first process leads.
    await waitForCondition(
      client,
      FeatureToggleResource,
      name,
      NS,
      { type: "Ready", status: "True" },
      { context },
    );
  }
  standby = await OperatorProcess.start({
    kubeconfig: kubeconfigPath(),
    name: "insight-standby",
    args: ARGS,
  });
});

afterAll(async () => {
  await OpenFeature.close();
  await standby?.stop();
  await leader?.stop();
  client?.close();
});

describe("evaluation insight across replicas", () => {
  it("sums what the leader and the standby served, with the callers, into the toggle's status", async () => {
    const web = await serviceAccountToken(client, NS, "web");
    const worker = await serviceAccountToken(client, NS, "worker");
    const clientFor = async (name: string, port: number, token: string) => {
      await OpenFeature.setProviderAndWait(
        name,
        new OFREPProvider({
          baseUrl: `http://127.0.0.1:${port}/namespaces/${NS}`,
          headers: { Authorization: `Bearer ${token}` },
        }),
      );
      return OpenFeature.getClient(name);
    };
    const viaStandby = await clientFor("insight-standby", standby.ofrepPort, web);
    const viaLeader = await clientFor("insight-leader", leader.ofrepPort, worker);
    for (let i = 0; i < 7; i++) expect(await viaStandby.getBooleanValue("dark-mode", false)).toBe(true);
    for (let i = 0; i < 3; i++) expect(await viaLeader.getBooleanValue("dark-mode", false)).toBe(true);

    const status = await waitFor(
      "dark-mode insight with 10 evaluations from both replicas",
      () => statusOf("dark-mode"),
      (s) => s?.insight?.evaluations24h?.["on"] === 10,
      { timeoutMs: 120_000, context },
    );
    expect(status?.insight?.callers24h).toEqual([
      `system:serviceaccount:${NS}:web`,
      `system:serviceaccount:${NS}:worker`,
    ]);
    expect(Date.parse(status?.insight?.lastEvaluatedAt ?? "")).toBeGreaterThan(Date.now() - 300_000);
    // The standby's counts travelled through its own ConfigMap in the operator's namespace.
    const published = await client.get<KubeObject>(
      ConfigMapResource,
      insightConfigMapName(`${hostname()}-${standby.child.pid ?? ""}`), // POD_NAME unset: <host>-<pid>
      "default",
    );
    expect(JSON.stringify(published?.["data"] ?? {})).toContain(`${NS}/dark-mode`);
  });

  it("marks a toggle nobody evaluates Unused, and not the one apps read", async () => {
    const status = await waitFor(
      "forgotten Unused",
      () => statusOf("forgotten"),
      (s) => s?.conditions?.some((c) => c.type === "Unused" && c.status === "True") ?? false,
      { timeoutMs: 150_000, intervalMs: 1_000, context },
    );
    expect(status?.conditions?.find((c) => c.type === "Unused")).toMatchObject({ reason: "NeverEvaluated" });
    expect(status?.insight?.evaluations24h ?? {}).toEqual({});
  });
});
