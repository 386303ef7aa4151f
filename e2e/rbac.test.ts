/**
 * Least privilege, proven both ways against a real apiserver. The chart's ServiceAccount and
 * RBAC are applied to a private local control plane whose apiserver writes an audit log
 * (hack/cluster/up with CRESCENDO_AUDIT_LOG); the real operator runs with a token of that
 * ServiceAccount through the three examples and the paths that create, patch and delete (a
 * rollout through an HTTPRoute, a FeatureFlag, Squads shrinking and deleted); then the audit log says
 * (a) nothing the operator asked was refused: the RBAC is sufficient, and (b) every permission
 * the chart grants was used, or is on the commented allow-list below: the RBAC is minimal.
 *
 * A private control plane, not the suite's shared one, so the audit log holds this file's
 * traffic only and the shared cluster keeps its configuration. It needs the hack/cluster
 * binaries (the suite builds them unless KUBECONFIG points elsewhere); without them it skips.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, parseAllDocuments, stringify } from "yaml";
import { SquadResource } from "../operator/src/api/kinds.js";
import { createKubeClient, type KubeClient } from "../operator/src/runtime/client.js";
import { loadKubeConfig } from "../operator/src/runtime/kubeconfig.js";
import {
  LimitRangeResource,
  NamespaceResource,
  NetworkPolicyResource,
  ResourceQuotaResource,
  RoleBindingResource,
} from "../operator/src/runtime/resources.js";
import type { KubeObject } from "../operator/src/runtime/types.js";
import { waitFor, waitForCondition } from "./support/kube.js";
import { OperatorProcess } from "./support/operator.js";

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, "..");
const NAMESPACE = "crescendo-system";
const RELEASE_NAME = "crescendo";

/**
 * Granted on purpose although the scenario below never makes the request. Each entry says why;
 * `onlyIfUsed` ties it to the request that makes it necessary, so the exemption lapses with that
 * request. Keys are `<verb> <group>/<resource>[/<subresource>]` (core group: no prefix).
 */
const RARE_PATHS: { permission: string; why: string; onlyIfUsed?: string }[] = [
  {
    permission: "bind rbac.authorization.k8s.io/clusterroles",
    why:
      "never a request of its own: the apiserver's RBAC escalation check asks it inside every " +
      "RoleBinding write that grants admin, edit or view",
    onlyIfUsed: "patch rbac.authorization.k8s.io/rolebindings",
  },
  {
    permission: "update crescendo.dev/squads/finalizers",
    why:
      "never a request: the OwnerReferencesPermissionEnforcement admission plugin (OpenShift, " +
      "hardened clusters; off in the local control plane) asks it when an object names a Squad " +
      "as owner with blockOwnerDeletion",
    onlyIfUsed: "patch rbac.authorization.k8s.io/rolebindings",
  },
  {
    permission: "update crescendo.dev/releases/finalizers",
    why: "the same admission check, for the Deployments and Services a Release owns",
    onlyIfUsed: "patch apps/deployments",
  },
  {
    permission: "get apps/deployments",
    why:
      "only when a Release's status names a revision whose Deployment the cache lacks: its " +
      "managed-by label was removed, or the watch event of its creation has not arrived yet",
    onlyIfUsed: "patch apps/deployments",
  },
  {
    permission: "get apps/controllerrevisions",
    why:
      "only when a live revision's ControllerRevision is missing from the cache: its managed-by " +
      "label was removed, or the watch event of its creation has not arrived yet",
    onlyIfUsed: "patch apps/controllerrevisions",
  },
  {
    permission: "delete apps/controllerrevisions",
    why:
      "only when a revision is neither live nor among the last rollouts of status.history " +
      "(20): its ControllerRevision is pruned, which takes more rollouts than this scenario makes",
    onlyIfUsed: "create apps/controllerrevisions",
  },
  {
    permission: "list apps/replicasets",
    why:
      "only when someone deletes a live revision's Deployment: the finalizer crescendo.dev/serving " +
      "holds it, and its ReplicaSets are listed to be orphaned before its recreation adopts them " +
      "(e2e/reliability.test.ts)",
  },
  {
    permission: "patch apps/replicasets",
    why: "the same hand-over: each ReplicaSet's ownerReference to the deleted Deployment is removed",
  },
  {
    permission: "patch events.k8s.io/events",
    why: "only when the same Event repeats within 10 minutes: its series count is bumped",
  },
  {
    permission: "get secrets",
    why:
      "only when a Release rolls back and its Squad names an on-call webhook Secret " +
      "(spec.oncall.webhookSecretRef); a rollback needs failing Prometheus measurements, which " +
      "this control plane has no Prometheus for. Granted in the operator's namespace only (and " +
      "in a squad's, by the RoleBinding the operator manages there: checked below)",
  },
];

/** A minimal stand-in for the OpenFeature Operator's CRD, so the FeatureFlag path runs. */
const OPENFEATURE_CRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: { name: featureflags.core.openfeature.dev }
spec:
  group: core.openfeature.dev
  names: { kind: FeatureFlag, listKind: FeatureFlagList, plural: featureflags, singular: featureflag }
  scope: Namespaced
  versions:
    - name: v1beta1
      served: true
      storage: true
      schema:
        openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true }
`;

/**
 * A Release that splits traffic with an HTTPRoute and drops the replaced revision at once;
 * without `service` its Services are deleted.
 */
const demoRelease = (version: string, service = true) => `apiVersion: crescendo.dev/v1alpha1
kind: Release
metadata: { name: rbac-demo, namespace: checkout }
spec:
  version: "${version}"
  replicas: 2
  template:
    metadata: { labels: { app: rbac-demo } }
    spec:
      containers: [{ name: app, image: "registry.example.com/rbac-demo:${version}" }]
${service ? "  service: { ports: [{ name: http, port: 80 }] }\n" : ""}  strategy:
    canary:
      steps: [{ setWeight: 50 }]
      trafficRouting: { gatewayAPI: { httpRoute: rbac-demo } }
  rollback: { scaleDownDelaySeconds: 0 }
`;
const HTTPROUTE = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: rbac-demo, namespace: checkout }
spec:
  rules:
    - backendRefs:
        - { name: rbac-demo-stable, port: 80, weight: 100 }
        - { name: rbac-demo-canary, port: 80, weight: 0 }
`;

// --- the tools hack/cluster builds ----------------------------------------------------------

const versions = readFileSync(join(ROOT, "hack/cluster/versions.env"), "utf8");
const version = (name: string) => new RegExp(`^${name}=(\\S+)$`, "m").exec(versions)?.[1] ?? "";
const binDir = join(
  process.env.CRESCENDO_CACHE_DIR ??
    join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "crescendo"),
  "bin",
);
const tools = {
  apiserver: join(binDir, `kube-apiserver-${version("K8S_VERSION")}`),
  kubectl: join(binDir, `kubectl-${version("K8S_VERSION")}`),
  helm: join(binDir, `helm-${version("HELM_VERSION")}`),
};
const missing = Object.values(tools).filter((t) => !existsSync(t));

// --- audit log ------------------------------------------------------------------------------

interface AuditEvent {
  auditID: string;
  stage: string;
  verb: string;
  requestURI: string;
  user: { username: string };
  objectRef?: {
    apiGroup?: string;
    resource?: string;
    subresource?: string;
    namespace?: string;
    name?: string;
  };
  responseStatus?: { code?: number; message?: string };
}
interface Request {
  permission: string;
  name?: string;
  namespace?: string;
  code: number;
  uri: string;
  /** The apiserver's reason on a refusal, e.g. which verb was missing. */
  message?: string;
}

const permissionOf = (verb: string, group: string, resource: string) =>
  `${verb} ${group ? `${group}/` : ""}${resource}`;

/** The ServiceAccount's resource requests, one per audit ID (a watch logs two stages). */
function requestsOf(auditLog: string, username: string): Request[] {
  const byId = new Map<string, Request>();
  for (const line of readFileSync(auditLog, "utf8").split("\n")) {
    if (!line.trim()) continue;
    const event = JSON.parse(line) as AuditEvent;
    const ref = event.objectRef;
    if (event.user.username !== username || !ref?.resource) continue;
    const resource = ref.subresource ? `${ref.resource}/${ref.subresource}` : ref.resource;
    const previous = byId.get(event.auditID);
    const code = event.responseStatus?.code ?? previous?.code ?? 0;
    const message = event.responseStatus?.message ?? previous?.message;
    const request = { name: ref.name, namespace: ref.namespace, code, uri: event.requestURI, message };
    byId.set(event.auditID, {
      ...request,
      permission: permissionOf(event.verb, ref.apiGroup ?? "", resource),
    });
    // A server-side apply that creates the object (201) is authorized as a patch and a create.
    if (event.verb === "patch" && code === 201) {
      byId.set(`${event.auditID}/create`, {
        ...request,
        permission: permissionOf("create", ref.apiGroup ?? "", resource),
      });
    }
  }
  return [...byId.values()];
}

// --- the chart's grants -----------------------------------------------------------------------

interface Rule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
}
interface Grant {
  permission: string;
  /** From resourceNames; absent: any name. */
  names?: string[];
  /** From a Role; absent: cluster-wide. */
  namespace?: string;
  source: string;
}
type Manifest = KubeObject & {
  rules?: Rule[];
  roleRef?: { kind: string; name: string };
  subjects?: { kind: string; name: string; namespace?: string }[];
};

/** Every (verb, group, resource) the rendered chart grants the ServiceAccount, and where. */
function grantsOf(objects: Manifest[], serviceAccount: string): Grant[] {
  const grants: Grant[] = [];
  for (const binding of objects.filter((o) => o.kind === "ClusterRoleBinding" || o.kind === "RoleBinding")) {
    const ours = binding.subjects?.some(
      (s) => s.kind === "ServiceAccount" && s.name === serviceAccount && s.namespace === NAMESPACE,
    );
    if (!ours) continue;
    const role = objects.find(
      (o) => o.kind === binding.roleRef?.kind && o.metadata.name === binding.roleRef?.name,
    );
    if (!role) throw new Error(`${binding.kind} ${binding.metadata.name} refers to a role the chart lacks`);
    const namespace = binding.kind === "RoleBinding" ? binding.metadata.namespace : undefined;
    for (const rule of role.rules ?? []) {
      for (const group of rule.apiGroups ?? [])
        for (const resource of rule.resources ?? [])
          for (const verb of rule.verbs)
            grants.push({
              permission: permissionOf(verb, group, resource),
              names: rule.resourceNames,
              namespace,
              source: `${role.kind} ${role.metadata.name}`,
            });
    }
  }
  return grants;
}

const covers = (grant: Grant, request: Request) =>
  grant.permission === request.permission &&
  (grant.names === undefined || (request.name !== undefined && grant.names.includes(request.name))) &&
  (grant.namespace === undefined || grant.namespace === request.namespace);

// --- the test ---------------------------------------------------------------------------------

async function exec(
  file: string,
  args: string[],
  options: { input?: string; env?: Record<string, string> } = {},
): Promise<string> {
  const child = run(file, args, {
    env: { ...process.env, ...options.env },
    maxBuffer: 64 * 1024 * 1024,
    timeout: 300_000,
  });
  if (options.input !== undefined) child.child.stdin?.end(options.input);
  try {
    return (await child).stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${file} ${args.join(" ")} failed: ${e.message}\n${e.stdout ?? ""}\n${e.stderr ?? ""}`);
  }
}

if (missing.length > 0) {
  describe.skip(`chart RBAC against an audited apiserver: ${missing.join(", ")} not built (hack/cluster/build)`, () => {
    it("needs the local control plane", () => {});
  });
} else {
  const dirs: string[] = [];
  let clusterEnv: Record<string, string> = {};
  let kubeconfig = "";
  let auditLog = "";
  let client: KubeClient;
  let operator: OperatorProcess | undefined;
  let chart: Manifest[] = [];
  let serviceAccount = "";
  const context = () => operator?.tail() ?? "";
  const kubectl = (args: string[], input?: string) =>
    exec(tools.kubectl, ["--kubeconfig", kubeconfig, ...args], { input });
  const apply = (yaml: string) => kubectl(["apply", "-f", "-"], yaml);
  /** A literal environment variable of the chart's Deployment. */
  const chartEnv = (name: string): string => {
    const deployment = chart.find((o) => o.kind === "Deployment") as
      | { spec: { template: { spec: { containers: { env?: { name: string; value?: string }[] }[] } } } }
      | undefined;
    const value = deployment?.spec.template.spec.containers[0]?.env?.find((e) => e.name === name)?.value;
    if (!value) throw new Error(`the chart's Deployment sets no ${name}`);
    return value;
  };
  /** `kubectl auth can-i` as the operator's ServiceAccount. */
  const operatorCan = async (verb: string, resource: string, namespace: string) => {
    try {
      await kubectl([
        "auth",
        "can-i",
        verb,
        resource,
        "--namespace",
        namespace,
        "--as",
        `system:serviceaccount:${NAMESPACE}:${serviceAccount}`,
      ]);
      return true;
    } catch {
      return false; // can-i exits 1 for "no"
    }
  };

  /** Waits until each named object's status.observedGeneration reaches its generation. */
  async function waitForReconciled(resource: string, namespace: string, names: string[]): Promise<void> {
    for (const name of names) {
      await waitFor(
        `${resource} ${namespace}/${name} reconciled (status.observedGeneration)`,
        async () =>
          JSON.parse(await kubectl(["get", resource, name, "--namespace", namespace, "-o", "json"])) as {
            metadata: { generation: number };
            status?: { observedGeneration?: number };
          },
        (o) => (o.status?.observedGeneration ?? 0) >= o.metadata.generation,
        { context, timeoutMs: 90_000 },
      );
    }
  }

  type DemoRelease = { status?: { phase?: string; stableVersion?: string } };
  const waitForRelease = (accept: (r: DemoRelease) => boolean) =>
    waitFor(
      "Release checkout/rbac-demo",
      async () =>
        JSON.parse(
          await kubectl(["get", "release", "rbac-demo", "--namespace", "checkout", "-o", "json"]),
        ) as DemoRelease,
      accept,
      { context, timeoutMs: 120_000 },
    );

  beforeAll(async () => {
    const clusterDir = mkdtempSync(join(tmpdir(), "crescendo-rbac-cluster-"));
    const auditDir = mkdtempSync(join(tmpdir(), "crescendo-rbac-audit-"));
    dirs.push(clusterDir, auditDir);
    auditLog = join(auditDir, "audit.log");
    clusterEnv = { CRESCENDO_CLUSTER_DIR: clusterDir, CRESCENDO_AUDIT_LOG: auditLog };
    await exec(join(ROOT, "hack/cluster/up"), [], { env: clusterEnv });
    kubeconfig = join(clusterDir, "kubeconfig");
    client = createKubeClient(loadKubeConfig({ path: kubeconfig }), { qps: 200, burst: 400 });

    // The CRDs as the chart ships them, and OpenFeature's so the FeatureFlag path runs too.
    await kubectl(["apply", "--server-side", "-f", join(ROOT, "charts/crescendo/crds")]);
    await apply(OPENFEATURE_CRD);
    await kubectl(["wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"]);

    // The chart's ServiceAccount and RBAC, exactly as `helm template` renders them.
    const rendered = await exec(tools.helm, [
      "template",
      RELEASE_NAME,
      join(ROOT, "charts/crescendo"),
      "--namespace",
      NAMESPACE,
    ]);
    chart = parseAllDocuments(rendered)
      .map((d) => d.toJS() as Manifest | null)
      .filter((o): o is Manifest => o !== null);
    const rbacKinds = new Set(["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"]);
    serviceAccount = chart.find((o) => o.kind === "ServiceAccount")!.metadata.name!;
    await kubectl(["create", "namespace", NAMESPACE]);
    await apply(
      chart
        .filter((o) => rbacKinds.has(o.kind ?? ""))
        .map((o) => stringify(o))
        .join("---\n"),
    );

    // A token from the TokenRequest API (POST .../serviceaccounts/<sa>/token), in a kubeconfig
    // that points at the same apiserver with the same CA.
    const token = (
      await kubectl(["create", "token", serviceAccount, "--namespace", NAMESPACE, "--duration=2h"])
    ).trim();
    const admin = parse(readFileSync(kubeconfig, "utf8")) as {
      clusters: { cluster: Record<string, string> }[];
    };
    const saKubeconfig = join(clusterDir, "operator.kubeconfig");
    writeFileSync(
      saKubeconfig,
      stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "crescendo", cluster: admin.clusters[0]!.cluster }],
        users: [{ name: serviceAccount, user: { token } }],
        contexts: [{ name: "crescendo", context: { cluster: "crescendo", user: serviceAccount } }],
        "current-context": "crescendo",
      }),
      { mode: 0o600 },
    );
    operator = await OperatorProcess.start({
      kubeconfig: saKubeconfig,
      name: "rbac",
      // Leader election on, in the chart's namespace, as in a pod.
      args: ["--lease-namespace", NAMESPACE, "--leader-elect", "true"],
      env: {
        POD_NAMESPACE: NAMESPACE,
        POD_NAME: "crescendo-rbac-test",
        // What the chart's Deployment sets (SERVICE_ACCOUNT_NAME through the downward API).
        SERVICE_ACCOUNT_NAME: serviceAccount,
        SECRET_READER_CLUSTER_ROLE: chartEnv("SECRET_READER_CLUSTER_ROLE"),
      },
    });
  });

  afterAll(async () => {
    await operator?.stop();
    client?.close();
    if (clusterEnv.CRESCENDO_CLUSTER_DIR) {
      await exec(join(ROOT, "hack/cluster/down"), [], { env: clusterEnv }).catch((err: unknown) =>
        console.error(String(err)),
      );
    }
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  describe("the operator, as the chart's ServiceAccount", () => {
    it("reconciles examples/squad.yaml", async () => {
      await kubectl(["apply", "-f", join(ROOT, "examples/squad.yaml")]);
      await waitForCondition(
        client,
        SquadResource,
        "checkout",
        undefined,
        { type: "Ready", status: "True" },
        { context },
      );
      const bindings = await client.list<KubeObject>(RoleBindingResource, { namespace: "checkout" });
      expect(bindings.items.length).toBeGreaterThanOrEqual(3);
    });

    it("reconciles examples/featuretoggle.yaml into a ConfigMap and a FeatureFlag", async () => {
      await kubectl(["apply", "-f", join(ROOT, "examples/featuretoggle.yaml")]);
      await waitForReconciled("featuretoggles", "checkout", [
        "one-click-checkout",
        "checkout-theme",
        "new-payment-form",
      ]);
      for (const kind of ["configmap", "featureflags.core.openfeature.dev"]) {
        await waitFor(
          `${kind} crescendo-flags in checkout`,
          () =>
            kubectl([
              "get",
              kind,
              "crescendo-flags",
              "--namespace",
              "checkout",
              "--ignore-not-found",
              "-o",
              "name",
            ]),
          (out) => out.trim() !== "",
          { context },
        );
      }
    });

    it("may read Secrets only where a Squad keeps its on-call webhook Secret, and its own namespace", async () => {
      expect(await operatorCan("get", "secrets", "checkout")).toBe(false);
      const squad = (await kubectl(["get", "squad", "checkout", "-o", "json"])) as string;
      const spec = (JSON.parse(squad) as { spec: Record<string, unknown> }).spec;
      await apply(
        stringify({
          apiVersion: "crescendo.dev/v1alpha1",
          kind: "Squad",
          metadata: { name: "checkout" },
          spec: { ...spec, oncall: { webhookSecretRef: { name: "pager", namespace: "checkout-staging" } } },
        }),
      );
      await waitFor(
        "the operator's secret-reader RoleBinding in checkout-staging",
        () =>
          client.get<KubeObject>(RoleBindingResource, "crescendo-oncall-secret-reader", "checkout-staging"),
        (rb) => rb !== undefined,
        { context },
      );
      expect(await operatorCan("get", "secrets", "checkout-staging")).toBe(true);
      expect(await operatorCan("get", "secrets", NAMESPACE)).toBe(true);
      for (const elsewhere of ["checkout", "default", "kube-system"]) {
        expect(await operatorCan("get", "secrets", elsewhere), elsewhere).toBe(false);
      }
      expect(await operatorCan("list", "secrets", "checkout-staging")).toBe(false);
    });

    it("verifies an app's ServiceAccount token with a TokenReview before serving its flags", async () => {
      await kubectl(["create", "serviceaccount", "web", "--namespace", "checkout"]);
      const token = (
        await kubectl([
          "create",
          "token",
          "web",
          "--namespace",
          "checkout",
          "--audience",
          "crescendo-ofrep",
          "--duration=1h",
        ])
      ).trim();
      const url = `http://127.0.0.1:${operator!.ofrepPort}/namespaces/checkout/ofrep/v1/evaluate/flags`;
      const post = (headers: Record<string, string>) =>
        fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json", ...headers },
          body: "{}",
        });
      expect((await post({ Authorization: `Bearer ${token}` })).status).toBe(200);
      expect((await post({})).status).toBe(401);
    });

    it("reconciles examples/release.yaml", async () => {
      await kubectl(["apply", "-f", join(ROOT, "examples/release.yaml")]);
      await waitForReconciled("releases", "checkout", ["web"]);
    });

    it("rolls a Release out through an HTTPRoute and removes the replaced revision", async () => {
      await apply(HTTPROUTE);
      await apply(demoRelease("1"));
      await waitForRelease((r) => r.status?.phase === "Healthy" && r.status.stableVersion === "1");
      await apply(demoRelease("2"));
      await waitForRelease((r) => r.status?.phase === "Healthy" && r.status.stableVersion === "2");
      await waitFor(
        "one Deployment of rbac-demo left (the replaced revision deleted)",
        () =>
          kubectl([
            "get",
            "deployments",
            "--namespace",
            "checkout",
            "-l",
            "crescendo.dev/release=rbac-demo",
            "-o",
            "name",
          ]),
        (out) => out.trim().split("\n").length === 1,
        { context, timeoutMs: 90_000 },
      );
    });

    it("deletes a Release's Services when it stops asking for them", async () => {
      await apply(demoRelease("2", false));
      await waitFor(
        "no Service of rbac-demo left",
        () => kubectl(["get", "services", "--namespace", "checkout", "-o", "name"]),
        (out) => !out.includes("service/rbac-demo"),
        { context },
      );
    });

    it("deletes the flags objects with the namespace's last FeatureToggle", async () => {
      await kubectl(["delete", "featuretoggles", "--all", "--namespace", "checkout", "--wait=true"]);
      for (const kind of ["configmap", "featureflags.core.openfeature.dev"]) {
        await waitFor(
          `${kind} crescendo-flags gone from checkout`,
          () =>
            kubectl([
              "get",
              kind,
              "crescendo-flags",
              "--namespace",
              "checkout",
              "--ignore-not-found",
              "-o",
              "name",
            ]),
          (out) => out.trim() === "",
          { context },
        );
      }
    });

    it("removes what a Squad no longer asks for, and releases a namespace it drops", async () => {
      await apply(`apiVersion: crescendo.dev/v1alpha1
kind: Squad
metadata: { name: checkout }
spec:
  tribe: payments
  members:
    - { kind: User, name: alice@example.com, role: lead }
  namespaces:
    - name: checkout
  networkIsolation: None
`);
      const empty = async (res: typeof ResourceQuotaResource) =>
        waitFor(
          `no ${res.kind} left in namespace checkout`,
          () => client.list<KubeObject>(res, { namespace: "checkout" }),
          (list) => list.items.length === 0,
          { context },
        );
      await empty(ResourceQuotaResource);
      await empty(LimitRangeResource);
      await empty(NetworkPolicyResource);
      await waitFor(
        "one RoleBinding (the lead's) left in checkout",
        () => client.list<KubeObject>(RoleBindingResource, { namespace: "checkout" }),
        (list) => list.items.length === 1,
        { context },
      );
      await waitFor(
        "namespace checkout-staging released",
        () => client.get<KubeObject>(NamespaceResource, "checkout-staging"),
        (ns) => ns !== undefined && ns.metadata.labels?.["crescendo.dev/squad"] === undefined,
        { context },
      );
    });

    it("deletes the namespaces of a Squad with namespaceDeletionPolicy: Delete", async () => {
      await apply(`apiVersion: crescendo.dev/v1alpha1
kind: Squad
metadata: { name: ephemeral }
spec: { namespaceDeletionPolicy: Delete }
`);
      await waitForCondition(
        client,
        SquadResource,
        "ephemeral",
        undefined,
        { type: "Ready", status: "True" },
        { context },
      );
      await kubectl(["delete", "squad", "ephemeral", "--wait=true", "--timeout=120s"]);
      const ns = await client.get<KubeObject>(NamespaceResource, "ephemeral");
      expect(ns === undefined || ns.metadata.deletionTimestamp !== undefined).toBe(true);
    });

    it("hands its Lease over on SIGTERM", async () => {
      expect(await operator!.stop("SIGTERM")).toBe(0);
      const lease = JSON.parse(
        await kubectl(["get", "lease", "crescendo-operator", "--namespace", NAMESPACE, "-o", "json"]),
      ) as { spec: { holderIdentity?: string } };
      expect(lease.spec.holderIdentity ?? "").toBe("");
    });
  });

  describe("the audit log", () => {
    const user = () => `system:serviceaccount:${NAMESPACE}:${serviceAccount}`;
    const requests = () => requestsOf(auditLog, user());
    const used = () => new Set(requests().map((r) => r.permission));

    it("shows the operator's requests under the ServiceAccount's name", () => {
      expect(requests().length).toBeGreaterThan(20);
      expect(used()).toContain("patch crescendo.dev/squads/status");
    });

    it("refused the ServiceAccount nothing: the chart's RBAC is sufficient", () => {
      // One line per distinct refusal; the apiserver's message names the missing verb.
      const refused = new Set(
        requests().flatMap((r) => (r.code === 403 ? [`${r.permission}: ${r.message}`] : [])),
      );
      expect([...refused], "add these to charts/crescendo/templates/rbac.yaml").toEqual([]);
    });

    it("shows no request outside what the chart grants", () => {
      const grants = grantsOf(chart, serviceAccount);
      const ungranted = requests().filter((r) => !grants.some((g) => covers(g, r)));
      expect(ungranted.map((r) => `${r.permission} ${r.uri} -> ${r.code}`)).toEqual([]);
    });

    it("used every permission the chart grants, but the commented rare paths: the RBAC is minimal", () => {
      const grants = grantsOf(chart, serviceAccount);
      const reqs = requests();
      const usedSet = used();
      const unused = grants
        .filter((g) => !reqs.some((r) => covers(g, r)))
        .filter((g) => {
          const rare = RARE_PATHS.find((e) => e.permission === g.permission);
          return !(rare && (rare.onlyIfUsed === undefined || usedSet.has(rare.onlyIfUsed)));
        })
        .map((g) => `${g.permission}${g.names ? ` [${g.names.join(", ")}]` : ""} (${g.source})`);
      expect(
        unused,
        "granted but never used: drop them from charts/crescendo/templates/rbac.yaml, or add them to RARE_PATHS with the reason",
      ).toEqual([]);
    });

    it("read no Secret outside the namespaces that may hold a webhook Secret, and holds no cluster-wide grant for them", () => {
      const secretReads = requests().filter((r) => r.permission.endsWith(" secrets"));
      expect(
        secretReads.filter((r) => r.namespace !== NAMESPACE && r.namespace !== "checkout-staging"),
      ).toEqual([]);
      const secretGrants = grantsOf(chart, serviceAccount).filter((g) => g.permission.endsWith(" secrets"));
      expect(secretGrants.map((g) => `${g.permission} in ${g.namespace ?? "every namespace"}`)).toEqual([
        `get secrets in ${NAMESPACE}`,
      ]);
    });

    it("allow-lists only permissions the chart grants", () => {
      const granted = new Set(grantsOf(chart, serviceAccount).map((g) => g.permission));
      expect(RARE_PATHS.map((e) => e.permission).filter((p) => !granted.has(p))).toEqual([]);
    });
  });
}
