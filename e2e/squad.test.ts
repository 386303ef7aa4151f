/**
 * Squad end to end, against a real apiserver: what `kubectl apply -f examples/squad.yaml`
 * gives a squad, what it refuses, and that a crash mid-reconcile loses nothing.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SquadResource } from "../operator/src/api/kinds.js";
import type { KubeClient } from "../operator/src/runtime/client.js";
import {
  ConfigMapResource,
  LimitRangeResource,
  NamespaceResource,
  NetworkPolicyResource,
  ResourceQuotaResource,
  RoleBindingResource,
} from "../operator/src/runtime/resources.js";
import type { KubeObject, Resource } from "../operator/src/runtime/types.js";
import { kubeconfigPath, kubectl, testClient, waitFor, waitForCondition } from "./support/kube.js";
import { OperatorProcess } from "./support/operator.js";

const SubjectAccessReview: Resource = {
  group: "authorization.k8s.io",
  version: "v1",
  kind: "SubjectAccessReview",
  plural: "subjectaccessreviews",
  namespaced: false,
};

let client: KubeClient;
let operator: OperatorProcess;
const context = () => operator.tail();

async function can(
  user: { user?: string; groups?: string[] },
  verb: string,
  resource: string,
  namespace: string,
) {
  const review = await client.create<KubeObject>(
    {
      apiVersion: "authorization.k8s.io/v1",
      kind: "SubjectAccessReview",
      metadata: {},
      spec: { ...user, resourceAttributes: { namespace, verb, group: "apps", resource } },
    },
    SubjectAccessReview,
  );
  return (review.status as { allowed: boolean }).allowed;
}

beforeAll(async () => {
  client = testClient();
  operator = await OperatorProcess.start({ kubeconfig: kubeconfigPath(), name: "squad" });
});

afterAll(async () => {
  await operator?.stop();
  client?.close();
});

describe("examples/squad.yaml", () => {
  beforeAll(async () => {
    const result = await kubectl(["apply", "-f", join(import.meta.dirname, "../examples/squad.yaml")]);
    expect(result.code, result.stderr).toBe(0);
    await waitForCondition(
      client,
      SquadResource,
      "checkout",
      undefined,
      { type: "Ready", status: "True" },
      { context },
    );
  });

  it("creates labelled namespaces with quota, limits and isolation", async () => {
    for (const name of ["checkout", "checkout-staging"]) {
      const ns = await client.get<KubeObject>(NamespaceResource, name);
      expect(ns?.metadata.labels).toMatchObject({
        "app.kubernetes.io/managed-by": "crescendo",
        "crescendo.dev/squad": "checkout",
        "crescendo.dev/tribe": "payments",
        "backstage.io/kubernetes-id": "checkout",
      });
      const quota = await client.list<KubeObject>(ResourceQuotaResource, { namespace: name });
      expect(quota.items.map((q) => (q.spec as { hard: Record<string, string> }).hard)).toEqual([
        { "requests.cpu": "8", "requests.memory": "16Gi", pods: "100" },
      ]);
      const limits = await client.list<KubeObject>(LimitRangeResource, { namespace: name });
      expect(limits.items).toHaveLength(1);
      const policies = await client.list<KubeObject>(NetworkPolicyResource, { namespace: name });
      expect(policies.items).toHaveLength(1);
    }
    const staging = await client.get<KubeObject>(NamespaceResource, "checkout-staging");
    expect(staging?.metadata.labels?.environment).toBe("staging");
  });

  it("grants members real access, by role, and nobody else", async () => {
    const bindings = await client.list<KubeObject>(RoleBindingResource, { namespace: "checkout" });
    expect(bindings.items.length).toBeGreaterThanOrEqual(3);
    expect(await can({ user: "alice@example.com" }, "delete", "deployments", "checkout")).toBe(true);
    expect(await can({ user: "bob@example.com" }, "create", "deployments", "checkout-staging")).toBe(true);
    expect(await can({ user: "carol", groups: ["payments-sre"] }, "get", "deployments", "checkout")).toBe(
      true,
    );
    expect(await can({ user: "carol", groups: ["payments-sre"] }, "create", "deployments", "checkout")).toBe(
      false,
    );
    expect(await can({ user: "mallory@example.com" }, "get", "deployments", "checkout")).toBe(false);
    expect(
      await can({ user: "system:serviceaccount:checkout:deployer" }, "update", "deployments", "checkout"),
    ).toBe(true);
  });

  it("relabels an object whose managed-by label is removed, and leaves an app's ConfigMap alone", async () => {
    // The operator caches RoleBindings only with its label: removing it drops the binding from the
    // cache (the watch says DELETED), which brings a reconcile that applies it, label and all.
    const app = await client.create<KubeObject>(
      {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "app-config", namespace: "checkout" },
        data: { a: "1" },
      },
      ConfigMapResource,
    );
    const before = await client.get<KubeObject>(RoleBindingResource, "crescendo-lead", "checkout");
    const strip = await kubectl([
      "label",
      "rolebinding",
      "crescendo-lead",
      "-n",
      "checkout",
      "app.kubernetes.io/managed-by-",
    ]);
    expect(strip.code, strip.stderr).toBe(0);
    const after = await waitFor(
      "RoleBinding checkout/crescendo-lead labelled managed-by crescendo again",
      () => client.get<KubeObject>(RoleBindingResource, "crescendo-lead", "checkout"),
      (rb) => rb?.metadata.labels?.["app.kubernetes.io/managed-by"] === "crescendo",
      { context },
    );
    expect(after?.metadata.uid).toBe(before?.metadata.uid);
    expect(await can({ user: "alice@example.com" }, "delete", "deployments", "checkout")).toBe(true);
    const untouched = await client.get<KubeObject>(ConfigMapResource, "app-config", "checkout");
    expect(untouched?.metadata.resourceVersion).toBe(app.metadata.resourceVersion);
    await client.delete(ConfigMapResource, "app-config", "checkout");
  });

  it("shows the squad in kubectl's printer columns and the crescendo category", async () => {
    const result = await kubectl(["get", "crescendo", "-o", "wide"]);
    expect(result.stdout).toMatch(/squad\.crescendo\.dev\/checkout\s+payments\s+2/);
  });
});

describe("bad input", () => {
  it("is refused by kubectl apply with the validation message", async () => {
    const bad = `apiVersion: crescendo.dev/v1alpha1
kind: Squad
metadata: { name: bad-squad }
spec:
  members:
    - { kind: ServiceAccount, name: robot }
`;
    const result = await kubectl(["apply", "-f", "-"], { input: bad });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("a ServiceAccount member needs a namespace");

    const badEnum = bad.replace("- { kind: ServiceAccount, name: robot }", "- { kind: Robot, name: r2d2 }");
    const result2 = await kubectl(["apply", "-f", "-"], { input: badEnum });
    expect(result2.code).not.toBe(0);
    expect(result2.stderr).toMatch(/Unsupported value: "Robot"/);
  });
});

describe("namespace ownership", () => {
  it("never adopts a namespace another squad owns, and says so", async () => {
    const apply = (yaml: string) => kubectl(["apply", "-f", "-"], { input: yaml });
    expect(
      (await apply("apiVersion: crescendo.dev/v1alpha1\nkind: Squad\nmetadata: {name: owner}\nspec: {}\n"))
        .code,
    ).toBe(0);
    await waitForCondition(
      client,
      SquadResource,
      "owner",
      undefined,
      { type: "Ready", status: "True" },
      { context },
    );
    const intruder =
      "apiVersion: crescendo.dev/v1alpha1\nkind: Squad\nmetadata: {name: intruder}\nspec: {namespaces: [{name: owner}]}\n";
    expect((await apply(intruder)).code).toBe(0);
    const stalled = await waitForCondition(
      client,
      SquadResource,
      "intruder",
      undefined,
      { type: "Stalled", status: "True", reason: "NamespaceConflict" },
      { context },
    );
    expect(JSON.stringify(stalled.status)).toContain("owner");
    const ns = await client.get<KubeObject>(NamespaceResource, "owner");
    expect(ns?.metadata.labels?.["crescendo.dev/squad"]).toBe("owner");
  });

  it("does not take an existing unlabelled namespace unless adopt is set", async () => {
    await client.create<KubeObject>(
      { apiVersion: "v1", kind: "Namespace", metadata: { name: "legacy" } },
      NamespaceResource,
    );
    const squad = (adopt: boolean) =>
      `apiVersion: crescendo.dev/v1alpha1\nkind: Squad\nmetadata: {name: legacy-team}\nspec: {namespaces: [{name: legacy, adopt: ${adopt}}]}\n`;
    expect((await kubectl(["apply", "-f", "-"], { input: squad(false) })).code).toBe(0);
    await waitForCondition(
      client,
      SquadResource,
      "legacy-team",
      undefined,
      { type: "Stalled", status: "True", reason: "NamespaceConflict" },
      { context },
    );
    expect((await kubectl(["apply", "-f", "-"], { input: squad(true) })).code).toBe(0);
    await waitForCondition(
      client,
      SquadResource,
      "legacy-team",
      undefined,
      { type: "Ready", status: "True" },
      { context },
    );
    const ns = await client.get<KubeObject>(NamespaceResource, "legacy");
    expect(ns?.metadata.labels?.["crescendo.dev/squad"]).toBe("legacy-team");
  });
});

describe("deleting a Squad", () => {
  it("retains its namespaces by default", async () => {
    const yaml = "apiVersion: crescendo.dev/v1alpha1\nkind: Squad\nmetadata: {name: shortlived}\nspec: {}\n";
    expect((await kubectl(["apply", "-f", "-"], { input: yaml })).code).toBe(0);
    await waitForCondition(
      client,
      SquadResource,
      "shortlived",
      undefined,
      { type: "Ready", status: "True" },
      { context },
    );
    const deleted = await kubectl(["delete", "squad", "shortlived", "--wait=true", "--timeout=60s"]);
    expect(deleted.code, deleted.stderr).toBe(0);
    const ns = await client.get<KubeObject>(NamespaceResource, "shortlived");
    expect(ns).toBeDefined();
    expect(ns?.metadata.deletionTimestamp).toBeUndefined();
  });
});

describe("a crash mid-reconcile", () => {
  it("converges after the operator is killed and restarted", async () => {
    const names = Array.from({ length: 8 }, (_, i) => `crash-${i}`);
    const yaml = names
      .map(
        (n) =>
          `apiVersion: crescendo.dev/v1alpha1\nkind: Squad\nmetadata: {name: ${n}}\nspec: {quota: {hard: {pods: "10"}}}\n`,
      )
      .join("---\n");
    expect((await kubectl(["apply", "-f", "-"], { input: yaml })).code).toBe(0);
    // Kill as soon as the first namespace appears: some squads are half done.
    await waitFor(
      "the first crash-* namespace",
      () => client.get<KubeObject>(NamespaceResource, "crash-0"),
      (ns) => ns !== undefined,
      {
        intervalMs: 20,
        context,
      },
    );
    await operator.stop("SIGKILL");
    operator = await OperatorProcess.start({ kubeconfig: kubeconfigPath(), name: "squad-restarted" });
    for (const name of names) {
      await waitForCondition(
        client,
        SquadResource,
        name,
        undefined,
        { type: "Ready", status: "True" },
        { context, timeoutMs: 90_000 },
      );
      const quota = await client.list<KubeObject>(ResourceQuotaResource, { namespace: name });
      expect(quota.items).toHaveLength(1);
    }
  });
});
