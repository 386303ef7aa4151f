/**
 * The Helm chart (charts/crescendo) without a cluster: its CRDs are the generated ones, `helm
 * lint` and `helm template` pass, the Deployment is hardened and HA the way the issue asks, the
 * rendered flags are ones the operator accepts, the RBAC has no wildcard and `bind` only on the
 * three roles Squads grant, and the alerts are valid PromQL. What the RBAC is worth against a
 * real apiserver is e2e/rbac.test.ts's job; installing it is e2e/chart.test.ts's.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { parseAllDocuments, stringify } from "yaml";
import { PrometheusAllowlist } from "../operator/src/analysis/allowlist.js";
import { loadConfig } from "../operator/src/config.js";
import { helmPath } from "./helm.js";
// The metrics the operator exports, registered on import as they are when it runs.
import "../operator/src/controllers/featuretoggle/metrics.js";
import "../operator/src/controllers/release/metrics.js";
import "../operator/src/controllers/squad/delivery-metrics.js";
import { registry } from "../operator/src/observability/metrics.js";

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, "..");
const CHART = join(ROOT, "charts/crescendo");
const NAMESPACE = "crescendo-system";

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}
interface Rule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}
interface Container {
  name: string;
  image: string;
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  ports?: { name: string; containerPort: number }[];
  livenessProbe?: { httpGet?: { path: string; port: string | number } };
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: Record<string, unknown>;
}
interface PodSpec {
  containers: Container[];
  securityContext?: Record<string, unknown>;
  serviceAccountName?: string;
}

const helm = helmPath();
const haveHelm = existsSync(helm);

async function runHelm(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(helm, args, { maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : 1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

/** `helm template` with `--set` values; throws with helm's message if it fails. */
async function render(set: string[] = []): Promise<K8sObject[]> {
  const result = await runHelm([
    "template",
    "crescendo",
    CHART,
    "--namespace",
    NAMESPACE,
    ...set.flatMap((s) => ["--set", s]),
  ]);
  if (result.code !== 0) throw new Error(`helm template failed: ${result.stderr}`);
  return parseAllDocuments(result.stdout)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

function only(objects: K8sObject[], kind: string, name?: string): K8sObject {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  expect(found, `exactly one ${kind}${name ? ` ${name}` : ""}`).toHaveLength(1);
  return found[0]!;
}

const isRole = (o: K8sObject) => o.kind === "ClusterRole" || o.kind === "Role";
const rulesOf = (o: K8sObject) => (o.rules as Rule[] | undefined) ?? [];

describe("charts/crescendo/crds", () => {
  it("holds exactly the generated CRDs of crds/ (npm run generate writes both)", () => {
    const generated = readdirSync(join(ROOT, "crds")).sort();
    expect(readdirSync(join(CHART, "crds")).sort()).toEqual(generated);
    expect(generated.length).toBeGreaterThanOrEqual(3);
    for (const file of generated) {
      expect(readFileSync(join(CHART, "crds", file), "utf8"), file).toBe(
        readFileSync(join(ROOT, "crds", file), "utf8"),
      );
    }
  });
});

if (!haveHelm) {
  console.warn(`[chart.test] ${helm} not found: run \`hack/cluster/build helm\` (.ci/run builds it)`);
  it.skip(`helm lint/template: ${helm} not found, run \`hack/cluster/build helm\``, () => {});
} else {
  describe("helm lint", () => {
    it("passes --strict with the default values", async () => {
      const result = await runHelm(["lint", CHART, "--strict", "--namespace", NAMESPACE]);
      expect(result.code, result.stdout + result.stderr).toBe(0);
    });

    it("passes --strict with every optional object enabled", async () => {
      const result = await runHelm([
        "lint",
        CHART,
        "--strict",
        "--namespace",
        NAMESPACE,
        "--set",
        "serviceMonitor.enabled=true,prometheusRule.enabled=true,podDisruptionBudget.enabled=true",
      ]);
      expect(result.code, result.stdout + result.stderr).toBe(0);
    });
  });

  describe("helm template, default values", async () => {
    const objects = await render();
    const deployment = only(objects, "Deployment");
    const pod = (deployment.spec as { template: { spec: PodSpec } }).template.spec;
    const container = pod.containers[0]!;

    it("renders the operator's objects and nothing optional that needs extra CRDs", () => {
      expect(objects.map((o) => o.kind).sort()).toEqual(
        [
          "ClusterRole", // the operator's
          "ClusterRole", // aggregated into view
          "ClusterRole", // aggregated into edit (and admin)
          "ClusterRoleBinding",
          "Deployment",
          "NetworkPolicy",
          "PodDisruptionBudget",
          "ClusterRole", // the secret reader, bound per namespace only
          "Role", // leader election
          "RoleBinding",
          "RoleBinding", // the secret reader, in the operator's namespace
          "Service",
          "ServiceAccount",
          "ValidatingAdmissionPolicy", // managed objects: only the operator changes them
          "ValidatingAdmissionPolicy", // members' NetworkPolicies stay within the isolation
          "ValidatingAdmissionPolicyBinding",
          "ValidatingAdmissionPolicyBinding",
        ].sort(),
      );
      const clusterScoped = new Set([
        "ClusterRole",
        "ClusterRoleBinding",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
      ]);
      for (const o of objects.filter((o) => !clusterScoped.has(o.kind))) {
        expect(o.metadata.namespace, `${o.kind} ${o.metadata.name}`).toBe(NAMESPACE);
      }
    });

    it("runs 2 replicas with leader election on", () => {
      expect((deployment.spec as { replicas: number }).replicas).toBe(2);
      expect(container.args).toContain("--leader-elect=true");
    });

    it("passes only flags the operator accepts, with the ports the Service and probes use", () => {
      const env = Object.fromEntries(
        (container.env ?? []).flatMap((e) => (e.value ? [[e.name, e.value]] : [])),
      );
      const config = loadConfig(container.args ?? [], env);
      expect(config).toMatchObject({ leaderElection: true, healthPort: 8081, ofrepPort: 8016 });
      expect(config).toMatchObject({ qps: 100, burst: 200, eventsQps: 50, eventsBurst: 100 });
      expect(container.ports).toEqual([
        { name: "metrics", containerPort: config.healthPort, protocol: "TCP" },
        { name: "ofrep", containerPort: config.ofrepPort, protocol: "TCP" },
      ]);
    });

    it("gets POD_NAME and POD_NAMESPACE from the downward API", () => {
      const fieldOf = (name: string) =>
        container.env?.find((e) => e.name === name)?.valueFrom?.fieldRef?.fieldPath;
      expect(fieldOf("POD_NAME")).toBe("metadata.name");
      expect(fieldOf("POD_NAMESPACE")).toBe("metadata.namespace");
    });

    it("probes /healthz (liveness) and /readyz (readiness) on the health port", () => {
      expect(container.livenessProbe?.httpGet).toEqual({ path: "/healthz", port: "metrics" });
      expect(container.readinessProbe?.httpGet).toEqual({ path: "/readyz", port: "metrics" });
    });

    it("sets resource requests and a memory limit", () => {
      expect(container.resources?.requests).toMatchObject({
        cpu: expect.any(String),
        memory: expect.any(String),
      });
      expect(container.resources?.limits).toMatchObject({ memory: expect.any(String) });
    });

    it("is non-root, read-only, unprivileged, capability-free and seccomp-confined", () => {
      expect(pod.securityContext).toMatchObject({
        runAsNonRoot: true,
        seccompProfile: { type: "RuntimeDefault" },
      });
      expect(pod.securityContext?.runAsUser).toBeGreaterThan(0);
      expect(container.securityContext).toMatchObject({
        runAsNonRoot: true,
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        privileged: false,
        capabilities: { drop: ["ALL"] },
        seccompProfile: { type: "RuntimeDefault" },
      });
      expect((container.securityContext?.capabilities as { add?: unknown }).add).toBeUndefined();
    });

    it("runs the chart's appVersion image as the chart's ServiceAccount", () => {
      const chart = readFileSync(join(CHART, "Chart.yaml"), "utf8");
      const appVersion = /^appVersion:\s*"?([^"\s]+)"?/m.exec(chart)?.[1];
      expect(container.image).toMatch(new RegExp(`:${appVersion!.replace(/\./g, "\\.")}$`));
      expect(pod.serviceAccountName).toBe(only(objects, "ServiceAccount").metadata.name);
    });

    it("exposes metrics (8081) and OFREP (8016) through the Service", () => {
      const ports = (
        only(objects, "Service").spec as { ports: { name: string; port: number; targetPort: string }[] }
      ).ports;
      expect(ports.map((p) => [p.port, p.targetPort])).toEqual([
        [8081, "metrics"],
        [8016, "ofrep"],
      ]);
    });

    it("has no wildcard in any rule", () => {
      for (const role of objects.filter(isRole)) {
        for (const rule of rulesOf(role)) {
          const fields = [
            rule.apiGroups,
            rule.resources,
            rule.verbs,
            rule.resourceNames,
            rule.nonResourceURLs,
          ];
          for (const value of fields.flatMap((f) => f ?? [])) {
            expect(value, `${role.kind} ${role.metadata.name}: ${JSON.stringify(rule)}`).not.toContain("*");
          }
        }
      }
    });

    it("may bind only admin, edit, view and its secret reader, and never escalate or impersonate", () => {
      const binds = objects
        .filter(isRole)
        .flatMap(rulesOf)
        .filter((r) => r.verbs.includes("bind"));
      expect(binds).toEqual([
        {
          apiGroups: ["rbac.authorization.k8s.io"],
          resources: ["clusterroles"],
          verbs: ["bind"],
          resourceNames: ["admin", "edit", "view", "crescendo-secret-reader"],
        },
      ]);
      const verbs = objects
        .filter(isRole)
        .flatMap(rulesOf)
        .flatMap((r) => r.verbs);
      expect(verbs).not.toContain("escalate");
      expect(verbs).not.toContain("impersonate");
    });

    it("reads Secrets in no namespace cluster-wide: the reader is bound per namespace only", () => {
      const clusterWide = objects
        .filter((o) => o.kind === "ClusterRoleBinding")
        .map((b) => (b.roleRef as { name: string }).name);
      for (const role of objects.filter(
        (o) => o.kind === "ClusterRole" && clusterWide.includes(o.metadata.name),
      )) {
        expect(
          rulesOf(role).filter((r) => r.resources?.includes("secrets")),
          role.metadata.name,
        ).toEqual([]);
      }
      const reader = only(objects, "ClusterRole", "crescendo-secret-reader");
      expect(rulesOf(reader)).toEqual([{ apiGroups: [""], resources: ["secrets"], verbs: ["get"] }]);
      const binding = only(objects, "RoleBinding", "crescendo-secret-reader");
      expect(binding.metadata.namespace).toBe(NAMESPACE);
      expect(binding.roleRef).toMatchObject({ kind: "ClusterRole", name: "crescendo-secret-reader" });
      const config = loadConfig(container.args ?? [], {
        SECRET_READER_CLUSTER_ROLE: container.env?.find((e) => e.name === "SECRET_READER_CLUSTER_ROLE")
          ?.value,
      });
      expect(config.secretReaderClusterRole).toBe("crescendo-secret-reader");
      expect(
        container.env?.find((e) => e.name === "SERVICE_ACCOUNT_NAME")?.valueFrom?.fieldRef?.fieldPath,
      ).toBe("spec.serviceAccountName");
    });

    it("touches only its own Lease, in its own namespace", () => {
      const clusterWide = objects.filter((o) => o.kind === "ClusterRole").flatMap(rulesOf);
      expect(clusterWide.filter((r) => r.resources?.includes("leases"))).toEqual([]);
      const role = only(objects, "Role");
      const leaseName = loadConfig([], {}).leaseName;
      expect(rulesOf(role)).toEqual([
        { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["create"] },
        {
          apiGroups: ["coordination.k8s.io"],
          resources: ["leases"],
          verbs: ["get", "update"],
          resourceNames: [leaseName],
        },
      ]);
      const binding = only(objects, "RoleBinding", `${role.metadata.name}`);
      expect(binding.roleRef).toMatchObject({ kind: "Role", name: role.metadata.name });
      expect(binding.subjects).toEqual([
        { kind: "ServiceAccount", name: only(objects, "ServiceAccount").metadata.name, namespace: NAMESPACE },
      ]);
    });

    it("adds Releases and FeatureToggles to view (read) and edit/admin (write) by aggregation", () => {
      const aggregated = objects.filter(
        (o) =>
          o.kind === "ClusterRole" &&
          Object.keys(o.metadata.labels ?? {}).some((l) => l.includes("aggregate-to")),
      );
      const view = aggregated.find((o) => o.metadata.labels?.["rbac.authorization.k8s.io/aggregate-to-view"]);
      const edit = aggregated.find(
        (o) =>
          o.metadata.labels?.["rbac.authorization.k8s.io/aggregate-to-edit"] &&
          !o.metadata.labels["rbac.authorization.k8s.io/aggregate-to-view"],
      );
      expect(view?.metadata.labels).toMatchObject({
        "rbac.authorization.k8s.io/aggregate-to-view": "true",
        "rbac.authorization.k8s.io/aggregate-to-edit": "true",
        "rbac.authorization.k8s.io/aggregate-to-admin": "true",
      });
      expect(edit?.metadata.labels).toMatchObject({
        "rbac.authorization.k8s.io/aggregate-to-edit": "true",
        "rbac.authorization.k8s.io/aggregate-to-admin": "true",
      });
      for (const rule of rulesOf(view!)) expect(rule.verbs).toEqual(["get", "list", "watch"]);
      const viewed = rulesOf(view!).flatMap((r) => r.resources ?? []);
      expect(viewed).toEqual(expect.arrayContaining(["releases", "featuretoggles"]));
      const edited = rulesOf(edit!).find((r) => r.resources?.includes("releases"));
      expect(edited?.resources).toContain("featuretoggles");
      expect(edited?.verbs).toEqual(["create", "update", "patch", "delete"]);
      for (const role of aggregated) {
        expect(rulesOf(role).flatMap((r) => r.resources ?? [])).not.toContain("squads");
        expect(rulesOf(role).flatMap((r) => r.apiGroups ?? [])).toEqual(
          rulesOf(role).map(() => "crescendo.dev"),
        );
      }
    });

    it("binds the operator's ClusterRole to its ServiceAccount only", () => {
      const binding = only(objects, "ClusterRoleBinding");
      const role = objects.find(
        (o) => o.kind === "ClusterRole" && o.metadata.name === (binding.roleRef as { name: string }).name,
      );
      expect(role).toBeDefined();
      expect(role?.metadata.labels?.["rbac.authorization.k8s.io/aggregate-to-view"]).toBeUndefined();
      expect(binding.subjects).toEqual([
        { kind: "ServiceAccount", name: only(objects, "ServiceAccount").metadata.name, namespace: NAMESPACE },
      ]);
    });
  });

  describe("helm template, optional objects", async () => {
    const objects = await render([
      "serviceMonitor.enabled=true",
      "prometheusRule.enabled=true",
      "prometheusRule.alertLabels.team=platform",
    ]);
    const rule = only(objects, "PrometheusRule");
    const groups = (rule.spec as { groups: { name: string; rules: Record<string, unknown>[] }[] }).groups;
    const rules = groups.flatMap((g) => g.rules);
    const alerts = new Map(rules.filter((r) => r.alert !== undefined).map((r) => [r.alert as string, r]));
    const records = rules.filter((r) => r.record !== undefined);
    const tmp = mkdtempSync(join(tmpdir(), "crescendo-chart-test-"));
    afterAll(() => rmSync(tmp, { recursive: true, force: true }));

    it("scrapes the Service's metrics port with a ServiceMonitor", () => {
      const monitor = only(objects, "ServiceMonitor");
      const service = only(objects, "Service");
      const spec = monitor.spec as {
        selector: { matchLabels: Record<string, string> };
        endpoints: { port: string; path: string }[];
      };
      expect(service.metadata.labels).toMatchObject(spec.selector.matchLabels);
      expect(spec.endpoints).toMatchObject([{ port: "http-metrics", path: "/metrics" }]);
    });

    it("alerts on a rollback, reconcile errors, no leader, a down replica and stale toggles", () => {
      const expr = (name: string) => String(alerts.get(name)?.expr ?? "");
      // One alert per RolledBack Release, named by namespace, release and squad.
      expect(expr("CrescendoReleaseRolledBack")).toMatch(
        /^max by \(namespace, release, squad\) \(crescendo_release_phase\{[^}]*phase="RolledBack"\}\) == 1$/,
      );
      expect(expr("CrescendoRollbacks")).toMatch(
        /^sum by \(reason\) \(increase\(crescendo_release_rollbacks_total\{[^}]*\}\[5m\]\)\) > 0$/,
      );
      expect(expr("CrescendoReconcileErrors")).toContain("controller_runtime_reconcile_errors_total");
      expect(expr("CrescendoNoLeader")).toMatch(/^max\(leader_election_master_status\{[^}]*\}\) < 1$/);
      expect(alerts.get("CrescendoNoLeader")?.for).toBe("5m");
      // A replica down, or (scraped through the ServiceMonitor) none left at all.
      expect(expr("CrescendoOperatorDown")).toMatch(/^up\{([^}]*)\} == 0 or absent\(up\{\1\}\)$/);
      expect(expr("CrescendoFeatureToggleStale")).toMatch(/^crescendo_featuretoggle_stale\{[^}]*\} > 0$/);
      // Scoped to this release's scrape job, so they never fire for another app's targets.
      for (const [name, alert] of alerts) {
        expect(String(alert.expr), name).toContain('job="crescendo"');
        expect(alert.labels, name).toMatchObject({ severity: expect.any(String), team: "platform" });
        expect(alert.annotations, name).toMatchObject({
          summary: expect.any(String),
          description: expect.any(String),
        });
      }
    });

    it("names only metrics the operator exports (and Prometheus's own up)", () => {
      const names = [...alerts.values()].flatMap((a) =>
        [...String(a.expr).matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\{/g)].map((m) => m[1]!),
      );
      expect(names.length).toBeGreaterThanOrEqual(alerts.size);
      const unknown = names.filter((n) => n !== "up" && registry.getSingleMetric(n) === undefined);
      expect(unknown).toEqual([]);
    });

    it("is a valid Prometheus rule file (promtool check rules)", async (ctx) => {
      const promtool = ["/usr/bin/promtool", "/usr/local/bin/promtool"].find((p) => existsSync(p));
      if (!promtool) ctx.skip("promtool not installed (Debian package prometheus; .ci/run installs it)");
      const file = join(tmp, "rules.yaml");
      writeFileSync(file, stringify({ groups }));
      const { stdout } = await run(promtool!, ["check", "rules", file]);
      expect(stdout).toContain(`SUCCESS: ${alerts.size + records.length} rules found`);
    });

    it("records the four DORA keys per squad and per tribe over 1, 7 and 30 days, from exported metrics", () => {
      const names = records.map((r) => String(r.record)).sort();
      expect(names).toHaveLength(4 * 2 * 3);
      for (const level of ["squad", "tribe"]) {
        for (const w of ["1d", "7d", "30d"]) {
          expect(names).toContain(`${level}:crescendo_delivery_deployment_frequency:per_day_${w}`);
          expect(names).toContain(`${level}:crescendo_delivery_change_fail_rate:ratio_${w}`);
          expect(names).toContain(`${level}:crescendo_delivery_change_lead_time_seconds:p50_${w}`);
          expect(names).toContain(
            `${level}:crescendo_delivery_failed_deployment_recovery_time_seconds:p50_${w}`,
          );
        }
      }
      for (const r of records) {
        const expr = String(r.expr);
        expect(expr, String(r.record)).toContain('job="crescendo"');
        const used = [...expr.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\{/g)].map((m) =>
          m[1]!.replace(/_bucket$/, ""),
        );
        expect(
          used.filter((n) => registry.getSingleMetric(n) === undefined),
          String(r.record),
        ).toEqual([]);
      }
    });
  });

  describe("helm template, guard rails", () => {
    it("renders no RBAC with rbac.create=false and no aggregation when turned off", async () => {
      expect((await render(["rbac.create=false"])).filter((o) => o.apiVersion.startsWith("rbac."))).toEqual(
        [],
      );
      const kept = await render(["rbac.aggregateToDefaultRoles=false"]);
      expect(kept.filter((o) => o.kind === "ClusterRole").map((o) => o.metadata.name)).toEqual([
        "crescendo",
        "crescendo-secret-reader",
      ]);
    });

    it("refuses several replicas without leader election", async () => {
      await expect(render(["leaderElection.enabled=false"])).rejects.toThrow(/needs leaderElection.enabled/);
      const single = await render(["leaderElection.enabled=false", "replicaCount=1"]);
      const args = (only(single, "Deployment").spec as { template: { spec: PodSpec } }).template.spec
        .containers[0]!.args;
      expect(args).toContain("--leader-elect=false");
      expect(single.filter((o) => o.kind === "Role")).toEqual([]);
    });

    it("refuses unknown values, a mutable image tag and zero replicas (values.schema.json)", async () => {
      await expect(render(["replicas=3"])).rejects.toThrow(/additional properties 'replicas' not allowed/);
      await expect(render(["image.tag=latest"])).rejects.toThrow(/image\/tag/);
      await expect(render(["replicaCount=0"])).rejects.toThrow(/replicaCount/);
    });

    it("mounts an OFREP token Secret as a file the operator re-reads", async () => {
      const objects = await render([
        "ofrep.auth.existingSecret=ofrep-clients",
        "ofrep.auth.key=bearer",
        "ofrep.auth.namespaces={checkout,catalog}",
      ]);
      const pod = (
        only(objects, "Deployment").spec as { template: { spec: PodSpec & Record<string, unknown> } }
      ).template.spec;
      const container = pod.containers[0]! as Container & {
        volumeMounts: { name: string; mountPath: string }[];
      };
      const config = loadConfig(container.args ?? [], {});
      expect(config.ofrepTokenFile).toBe("/etc/crescendo/ofrep/token");
      expect(config.ofrepTokenNamespaces).toEqual(["checkout", "catalog"]);
      // A static token without its namespaces would read everything: the chart refuses it.
      await expect(render(["ofrep.auth.existingSecret=ofrep-clients"])).rejects.toThrow(
        /ofrep.auth.namespaces/,
      );
      await expect(render(["ofrep.auth.mode=token"])).rejects.toThrow(/existingSecret/);
      expect(container.volumeMounts).toContainEqual({
        name: "ofrep-token",
        mountPath: "/etc/crescendo/ofrep",
        readOnly: true,
      });
      expect(pod.volumes).toContainEqual({
        name: "ofrep-token",
        secret: { secretName: "ofrep-clients", items: [{ key: "bearer", path: "token" }] },
      });
      const plain = await render();
      const args = (only(plain, "Deployment").spec as { template: { spec: PodSpec } }).template.spec
        .containers[0]!.args;
      expect(args?.some((a) => a.startsWith("--ofrep-token-file"))).toBe(false);
    });

    it("serves the incident receiver with a token, over TLS, with client certificates, as the values say", async () => {
      const podOf = async (set: string[]) => {
        const objects = await render(["incidents.enabled=true", ...set]);
        const pod = (
          only(objects, "Deployment").spec as { template: { spec: PodSpec & Record<string, unknown> } }
        ).template.spec;
        const container = pod.containers[0]! as Container & {
          volumeMounts: { name: string; mountPath: string }[];
        };
        const ports = (only(objects, "Service").spec as { ports: { name: string; appProtocol?: string }[] })
          .ports;
        // The operator accepts the rendered flags (loadConfig refuses inconsistent ones).
        return { pod, container, config: loadConfig(container.args ?? [], {}), ports };
      };
      const token = await podOf(["incidents.existingSecret=am-token"]);
      expect(token.config.incidentTokenFile).toBe("/etc/crescendo/incidents/token");
      expect(token.config.incidentTlsCertFile).toBeUndefined();
      expect(token.ports).toContainEqual(
        expect.objectContaining({ name: "http-incidents", appProtocol: "http" }),
      );

      const mtls = await podOf([
        "incidents.existingSecret=am-token",
        "incidents.tls.secretName=crescendo-receiver-tls",
        "incidents.clientCA.secretName=alertmanager-ca",
        "incidents.clientCA.names={alertmanager.monitoring.svc,alertmanager}",
      ]);
      expect(mtls.config).toMatchObject({
        incidentTokenFile: "/etc/crescendo/incidents/token",
        incidentTlsCertFile: "/etc/crescendo/incidents-tls/tls.crt",
        incidentTlsKeyFile: "/etc/crescendo/incidents-tls/tls.key",
        incidentClientCaFile: "/etc/crescendo/incidents-client-ca/ca.crt",
        incidentClientNames: ["alertmanager.monitoring.svc", "alertmanager"],
      });
      // Directory mounts (no subPath): the kubelet swaps renewed certificates in place.
      expect(mtls.container.volumeMounts).toEqual(
        expect.arrayContaining([
          { name: "incident-tls", mountPath: "/etc/crescendo/incidents-tls", readOnly: true },
          { name: "incident-client-ca", mountPath: "/etc/crescendo/incidents-client-ca", readOnly: true },
        ]),
      );
      expect(mtls.pod.volumes).toEqual(
        expect.arrayContaining([
          {
            name: "incident-tls",
            secret: {
              secretName: "crescendo-receiver-tls",
              items: [
                { key: "tls.crt", path: "tls.crt" },
                { key: "tls.key", path: "tls.key" },
              ],
            },
          },
          {
            name: "incident-client-ca",
            secret: { secretName: "alertmanager-ca", items: [{ key: "ca.crt", path: "ca.crt" }] },
          },
        ]),
      );
      expect(mtls.ports).toContainEqual(
        expect.objectContaining({ name: "https-incidents", appProtocol: "https" }),
      );

      // mTLS alone: no token Secret, no token flag.
      const certOnly = await podOf([
        "incidents.tls.secretName=crescendo-receiver-tls",
        "incidents.clientCA.secretName=alertmanager-ca",
      ]);
      expect(certOnly.config.incidentTokenFile).toBeUndefined();
      expect(certOnly.config.incidentClientCaFile).toBe("/etc/crescendo/incidents-client-ca/ca.crt");
      expect(certOnly.container.volumeMounts.map((m) => m.name)).not.toContain("incident-token");

      // No authentication, or client certificates without TLS: refused before anything is applied.
      await expect(render(["incidents.enabled=true"])).rejects.toThrow(/no unauthenticated mode/);
      await expect(
        render(["incidents.enabled=true", "incidents.tls.secretName=crescendo-receiver-tls"]),
      ).rejects.toThrow(/no unauthenticated mode/);
      await expect(
        render(["incidents.enabled=true", "incidents.clientCA.secretName=alertmanager-ca"]),
      ).rejects.toThrow(/needs incidents.tls.secretName/);
    });

    it("allows analysis only the chart's Prometheus, or the list when one is set", async () => {
      const configOf = async (set: string[]) => {
        const objects = await render(set);
        const container = (only(objects, "Deployment").spec as { template: { spec: PodSpec } }).template.spec
          .containers[0]!;
        const env = Object.fromEntries(
          (container.env ?? []).flatMap((e) => (e.value ? [[e.name, e.value]] : [])),
        );
        const config = loadConfig(container.args ?? [], env);
        PrometheusAllowlist.of(config.allowedPrometheusAddresses); // the operator would start
        return config.allowedPrometheusAddresses;
      };
      expect(await configOf([])).toEqual([]);
      expect(await configOf(["prometheus.address=http://prometheus-operated.monitoring.svc:9090"])).toEqual([
        "http://prometheus-operated.monitoring.svc:9090",
      ]);
      expect(
        await configOf([
          "prometheus.address=http://prom.monitoring:9090",
          "analysis.allowedPrometheusAddresses={http://a.monitoring:9090,https://thanos.example.com/tenant}",
        ]),
      ).toEqual(["http://a.monitoring:9090", "https://thanos.example.com/tenant"]);
      await expect(render(["analysis.allowedPrometheusAddresses={http://x:9090/#}"])).rejects.toThrow(
        /allowedPrometheusAddresses/,
      );
      await expect(render(["prometheus.address=http://user@x:9090"])).rejects.toThrow(/prometheus/);
    });

    it("declares the tribes Squads may name and the revert window, as the operator reads them", async () => {
      const configOf = async (set: string[]) => {
        const container = (only(await render(set), "Deployment").spec as { template: { spec: PodSpec } })
          .template.spec.containers[0]!;
        return loadConfig(container.args ?? [], {});
      };
      expect(await configOf([])).toMatchObject({ tribes: [], revertWindowMs: 24 * 3_600_000 });
      expect(
        await configOf(["squads.tribes={payments,discovery}", "delivery.revertWindow=72h"]),
      ).toMatchObject({
        tribes: ["discovery", "payments"],
        revertWindowMs: 72 * 3_600_000,
      });
      await expect(render(["squads.tribes={Payments}"])).rejects.toThrow(/tribes/);
      await expect(render(["delivery.revertWindow=0h"])).rejects.toThrow(/revertWindow/);
    });

    it("authenticates OFREP with ServiceAccount tokens by default, and may create TokenReviews", async () => {
      const objects = await render();
      const container = (only(objects, "Deployment").spec as { template: { spec: PodSpec } }).template.spec
        .containers[0]!;
      const config = loadConfig(container.args ?? [], {});
      expect(config).toMatchObject({ ofrepAuth: "serviceaccount", ofrepAudience: "crescendo-ofrep" });
      const role = objects.find((o) => o.kind === "ClusterRole" && o.metadata.name === "crescendo")!;
      expect(rulesOf(role)).toContainEqual({
        apiGroups: ["authentication.k8s.io"],
        resources: ["tokenreviews"],
        verbs: ["create"],
      });
      const none = await render(["ofrep.auth.mode=none"]);
      const args = (only(none, "Deployment").spec as { template: { spec: PodSpec } }).template.spec
        .containers[0]!.args;
      expect(loadConfig(args ?? [], {}).ofrepAuth).toBe("none");
    });

    it("admits OFREP from any namespace and metrics from the monitoring namespace, nothing else", async () => {
      const policy = only(await render(["networkPolicy.metricsNamespace=observability"]), "NetworkPolicy");
      expect(policy.spec).toEqual({
        podSelector: {
          matchLabels: {
            "app.kubernetes.io/name": "crescendo",
            "app.kubernetes.io/instance": "crescendo",
            "app.kubernetes.io/component": "operator",
          },
        },
        policyTypes: ["Ingress"],
        ingress: [
          { from: [{ namespaceSelector: {} }], ports: [{ port: "ofrep", protocol: "TCP" }] },
          {
            from: [
              { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "observability" } } },
            ],
            ports: [{ port: "metrics", protocol: "TCP" }],
          },
        ],
      });
      expect((await render(["networkPolicy.enabled=false"])).some((o) => o.kind === "NetworkPolicy")).toBe(
        false,
      );
    });

    it("restricts egress only when asked, and never without the apiserver", async () => {
      await expect(render(["networkPolicy.egress.enabled=true"])).rejects.toThrow(/apiServerCIDRs/);
      const policy = only(
        await render([
          "networkPolicy.egress.enabled=true",
          "networkPolicy.egress.apiServerCIDRs={10.0.0.10/32}",
        ]),
        "NetworkPolicy",
      );
      const spec = policy.spec as { policyTypes: string[]; egress: { to: unknown[]; ports: unknown[] }[] };
      expect(spec.policyTypes).toEqual(["Ingress", "Egress"]);
      expect(spec.egress[0]).toEqual({
        to: [{ ipBlock: { cidr: "10.0.0.10/32" } }],
        ports: [{ port: 6443, protocol: "TCP" }],
      });
      expect(spec.egress[1]?.ports).toEqual([
        { port: 53, protocol: "UDP" },
        { port: 53, protocol: "TCP" },
      ]);
    });

    it("drops the PodDisruptionBudget when asked", async () => {
      const objects = await render(["podDisruptionBudget.enabled=false"]);
      expect(objects.filter((o) => o.kind === "PodDisruptionBudget")).toEqual([]);
    });
  });
}
