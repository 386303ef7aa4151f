/**
 * `helm install` of charts/crescendo into the suite's control plane, as a platform team would:
 * the operator's pods become Ready (KWOK runs no image, so the process itself is proven by
 * e2e/rbac.test.ts, which runs it with this chart's ServiceAccount), in a namespace that enforces
 * the `restricted` Pod Security Standard; the objects are there as rendered; the RBAC answers
 * access reviews as designed; the built-in view/edit/admin roles gain Releases and
 * FeatureToggles; and `helm uninstall` leaves the CRDs (and so every custom resource) in place.
 */
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { KubeClient } from "../operator/src/runtime/client.js";
import type { KubeObject, Resource } from "../operator/src/runtime/types.js";
import { kubeconfigPath, kubectl, testClient, waitFor } from "./support/kube.js";

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, "..");
const NAMESPACE = "crescendo-chart";
const RELEASE = "crescendo";
const SERVICE_ACCOUNT = `system:serviceaccount:${NAMESPACE}:${RELEASE}`;

/** helm as hack/cluster builds it: beside the harness's kubectl, else the cache, else PATH. */
function helmBinary(): string {
  const version = /^HELM_VERSION=(\S+)$/m.exec(
    readFileSync(join(ROOT, "hack/cluster/versions.env"), "utf8"),
  )?.[1];
  const cache =
    process.env.CRESCENDO_CACHE_DIR ??
    join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "crescendo");
  const candidates = [
    join(dirname(inject("kubectl")), `helm-${version}`),
    join(cache, "bin", `helm-${version}`),
  ];
  return candidates.find((c) => existsSync(c)) ?? "helm";
}

async function helm(args: string[]): Promise<string> {
  try {
    const { stdout } = await run(helmBinary(), [...args, "--kubeconfig", kubeconfigPath()], {
      maxBuffer: 16 * 1024 * 1024,
    });
    return stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`helm ${args.join(" ")} failed: ${e.message}\n${e.stdout ?? ""}\n${e.stderr ?? ""}`);
  }
}

const SubjectAccessReview: Resource = {
  group: "authorization.k8s.io",
  version: "v1",
  kind: "SubjectAccessReview",
  plural: "subjectaccessreviews",
  namespaced: false,
};

let client: KubeClient;

async function allowed(
  user: string,
  attributes: {
    verb: string;
    group: string;
    resource: string;
    subresource?: string;
    name?: string;
    namespace?: string;
  },
): Promise<boolean> {
  const review = await client.create<KubeObject>(
    {
      apiVersion: "authorization.k8s.io/v1",
      kind: "SubjectAccessReview",
      metadata: {},
      spec: { user, resourceAttributes: attributes },
    },
    SubjectAccessReview,
  );
  return (review.status as { allowed: boolean }).allowed;
}

async function getJson<T>(args: string[]): Promise<T> {
  const result = await kubectl([...args, "-o", "json"]);
  if (result.code !== 0) throw new Error(`kubectl ${args.join(" ")}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

interface Pod {
  metadata: { name: string };
  spec: {
    serviceAccountName: string;
    securityContext: Record<string, unknown>;
    containers: {
      args: string[];
      env: { name: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
      securityContext: Record<string, unknown>;
      livenessProbe: { httpGet: { path: string } };
      readinessProbe: { httpGet: { path: string } };
      resources: { requests?: Record<string, string>; limits?: Record<string, string> };
    }[];
  };
  status: { phase: string; conditions?: { type: string; status: string }[] };
}

beforeAll(async () => {
  client = testClient();
  // Pods that break the restricted Pod Security Standard are refused in this namespace.
  const ns = await kubectl(["apply", "-f", "-"], {
    input: `apiVersion: v1
kind: Namespace
metadata:
  name: ${NAMESPACE}
  labels:
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/enforce-version: latest
`,
  });
  expect(ns.code, ns.stderr).toBe(0);
  await helm([
    "install",
    RELEASE,
    join(ROOT, "charts/crescendo"),
    "--namespace",
    NAMESPACE,
    "--wait",
    "--timeout",
    "120s",
    // The admission policies are installed (the apiserver type-checks them), but other test
    // files' admin edits of Crescendo's objects stay allowed if this file stops before uninstall.
    "--set",
    "admissionPolicies.exemptGroups={system:masters}",
  ]);
});

afterAll(async () => {
  client?.close();
});

describe("helm install charts/crescendo", () => {
  it("is deployed, and its operator Deployment has 2 Ready pods", async () => {
    const status = JSON.parse(await helm(["status", RELEASE, "--namespace", NAMESPACE, "-o", "json"])) as {
      info: { status: string };
    };
    expect(status.info.status).toBe("deployed");
    const deployment = await getJson<{ status: { readyReplicas?: number; replicas?: number } }>([
      "get",
      "deployment",
      RELEASE,
      "--namespace",
      NAMESPACE,
    ]);
    expect(deployment.status).toMatchObject({ replicas: 2, readyReplicas: 2 });
    const pods = await getJson<{ items: Pod[] }>([
      "get",
      "pods",
      "--namespace",
      NAMESPACE,
      "-l",
      `app.kubernetes.io/instance=${RELEASE}`,
    ]);
    expect(pods.items).toHaveLength(2);
    for (const pod of pods.items) {
      expect(pod.status.phase).toBe("Running");
      expect(pod.status.conditions?.find((c) => c.type === "Ready")?.status).toBe("True");
    }
  });

  it("runs pods hardened as rendered, admitted under the restricted Pod Security Standard", async () => {
    const pods = await getJson<{ items: Pod[] }>(["get", "pods", "--namespace", NAMESPACE]);
    for (const pod of pods.items) {
      const [container] = pod.spec.containers;
      expect(pod.spec.serviceAccountName).toBe(RELEASE);
      expect(pod.spec.securityContext).toMatchObject({
        runAsNonRoot: true,
        seccompProfile: { type: "RuntimeDefault" },
      });
      expect(container!.securityContext).toMatchObject({
        runAsNonRoot: true,
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ["ALL"] },
      });
      expect(container!.args).toContain("--leader-elect=true");
      expect(container!.livenessProbe.httpGet.path).toBe("/healthz");
      expect(container!.readinessProbe.httpGet.path).toBe("/readyz");
      expect(container!.resources.requests).toBeDefined();
      const env = new Map(container!.env.map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath]));
      expect(env.get("POD_NAME")).toBe("metadata.name");
      expect(env.get("POD_NAMESPACE")).toBe("metadata.namespace");
    }
  });

  it("creates the Service, ServiceAccount, PodDisruptionBudget and RBAC objects", async () => {
    const service = await getJson<{ spec: { ports: { name: string; port: number }[] } }>([
      "get",
      "service",
      RELEASE,
      "--namespace",
      NAMESPACE,
    ]);
    expect(service.spec.ports.map((p) => [p.name, p.port])).toEqual([
      ["http-metrics", 8081],
      ["http-ofrep", 8016],
    ]);
    for (const args of [
      ["serviceaccount", RELEASE, "--namespace", NAMESPACE],
      ["poddisruptionbudget", RELEASE, "--namespace", NAMESPACE],
      ["role", `${RELEASE}-leader-election`, "--namespace", NAMESPACE],
      ["rolebinding", `${RELEASE}-leader-election`, "--namespace", NAMESPACE],
      ["clusterrole", RELEASE],
      ["clusterrolebinding", RELEASE],
      ["clusterrole", `${RELEASE}-view`],
      ["clusterrole", `${RELEASE}-edit`],
    ]) {
      const result = await kubectl(["get", ...args]);
      expect(result.code, `${args.join(" ")}: ${result.stderr}`).toBe(0);
    }
  });
});

describe("the operator's RBAC, as the apiserver judges it", () => {
  const can = (attributes: Parameters<typeof allowed>[1]) => allowed(SERVICE_ACCOUNT, attributes);

  it("grants what the controllers do", async () => {
    expect(
      await can({ verb: "patch", group: "crescendo.dev", resource: "squads", subresource: "status" }),
    ).toBe(true);
    expect(await can({ verb: "watch", group: "apps", resource: "deployments", namespace: "anywhere" })).toBe(
      true,
    );
    expect(await can({ verb: "create", group: "", resource: "namespaces" })).toBe(true);
    expect(
      await can({ verb: "create", group: "events.k8s.io", resource: "events", namespace: "default" }),
    ).toBe(true);
  });

  it("may bind admin, edit and view, and no other ClusterRole", async () => {
    for (const name of ["admin", "edit", "view"]) {
      expect(
        await can({ verb: "bind", group: "rbac.authorization.k8s.io", resource: "clusterroles", name }),
      ).toBe(true);
    }
    expect(
      await can({
        verb: "bind",
        group: "rbac.authorization.k8s.io",
        resource: "clusterroles",
        name: "cluster-admin",
      }),
    ).toBe(false);
    expect(
      await can({ verb: "escalate", group: "rbac.authorization.k8s.io", resource: "clusterroles" }),
    ).toBe(false);
  });

  it("touches only its own Lease, in its own namespace", async () => {
    const lease = { verb: "update", group: "coordination.k8s.io", resource: "leases" };
    expect(await can({ ...lease, name: "crescendo-operator", namespace: NAMESPACE })).toBe(true);
    expect(await can({ ...lease, name: "kube-scheduler", namespace: NAMESPACE })).toBe(false);
    expect(await can({ ...lease, name: "crescendo-operator", namespace: "kube-system" })).toBe(false);
  });

  it("refuses what no controller needs", async () => {
    expect(await can({ verb: "list", group: "", resource: "secrets", namespace: "default" })).toBe(false);
    expect(await can({ verb: "create", group: "", resource: "pods", namespace: "default" })).toBe(false);
    expect(
      await can({ verb: "create", group: "", resource: "pods", subresource: "exec", namespace: "default" }),
    ).toBe(false);
    expect(
      await can({ verb: "update", group: "crescendo.dev", resource: "releases", namespace: "default" }),
    ).toBe(false);
    expect(
      await can({ verb: "delete", group: "apiextensions.k8s.io", resource: "customresourcedefinitions" }),
    ).toBe(false);
  });
});

describe("the built-in roles, aggregated", () => {
  const ns = "crescendo-chart-team";
  const release = (verb: string, resource = "releases") => ({
    verb,
    group: "crescendo.dev",
    resource,
    namespace: ns,
  });

  beforeAll(async () => {
    const yaml = `apiVersion: v1
kind: Namespace
metadata: { name: ${ns} }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: dev, namespace: ${ns} }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit }
subjects: [{ apiGroup: rbac.authorization.k8s.io, kind: User, name: dev@example.com }]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: watcher, namespace: ${ns} }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view }
subjects: [{ apiGroup: rbac.authorization.k8s.io, kind: User, name: watcher@example.com }]
`;
    const result = await kubectl(["apply", "-f", "-"], { input: yaml });
    expect(result.code, result.stderr).toBe(0);
  });

  it("let edit create, annotate and delete Releases and FeatureToggles", async () => {
    // The clusterrole-aggregation controller copies the rules in shortly after install.
    await waitFor(
      "edit to include Releases",
      () => allowed("dev@example.com", release("create")),
      (ok) => ok,
    );
    for (const verb of ["create", "patch", "update", "delete", "get", "list", "watch"]) {
      expect(await allowed("dev@example.com", release(verb)), verb).toBe(true);
      expect(await allowed("dev@example.com", release(verb, "featuretoggles")), verb).toBe(true);
    }
    expect(await allowed("dev@example.com", release("list", "squads"))).toBe(false);
  });

  it("let view read them, and only read", async () => {
    await waitFor(
      "view to include FeatureToggles",
      () => allowed("watcher@example.com", release("list", "featuretoggles")),
      (ok) => ok,
    );
    for (const verb of ["get", "list", "watch"]) {
      expect(await allowed("watcher@example.com", release(verb)), verb).toBe(true);
    }
    for (const verb of ["create", "patch", "delete"]) {
      expect(await allowed("watcher@example.com", release(verb, "featuretoggles")), verb).toBe(false);
    }
  });

  it("let admin do what edit does", async () => {
    const yaml = `apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: boss, namespace: ${ns} }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: admin }
subjects: [{ apiGroup: rbac.authorization.k8s.io, kind: User, name: boss@example.com }]
`;
    expect((await kubectl(["apply", "-f", "-"], { input: yaml })).code).toBe(0);
    await waitFor(
      "admin to include Releases",
      () => allowed("boss@example.com", release("delete")),
      (ok) => ok,
    );
    expect(await allowed("boss@example.com", release("patch", "featuretoggles"))).toBe(true);
  });
});

describe("helm uninstall", () => {
  it("removes the operator and its cluster-wide RBAC, and keeps the CRDs", async () => {
    await helm(["uninstall", RELEASE, "--namespace", NAMESPACE, "--wait", "--timeout", "60s"]);
    expect((await kubectl(["get", "clusterrole", RELEASE])).code).not.toBe(0);
    expect((await kubectl(["get", "clusterrole", `${RELEASE}-edit`])).code).not.toBe(0);
    expect((await kubectl(["get", "deployment", RELEASE, "--namespace", NAMESPACE])).code).not.toBe(0);
    for (const crd of ["squads", "releases", "featuretoggles"]) {
      expect((await kubectl(["get", "crd", `${crd}.crescendo.dev`])).code, crd).toBe(0);
    }
    await kubectl(["delete", "namespace", NAMESPACE, "crescendo-chart-team", "--wait=false"]);
  });
});
