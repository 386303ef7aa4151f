/**
 * The Grafana dashboard (charts/crescendo/dashboards/crescendo.json): every PromQL expression in
 * it (panel targets, annotations, the selectors of its template variables) parses, checked
 * offline by `promtool check rules` on a rule file that records each expression; every metric
 * it names is one the operator registers (read from the prom-client registry after importing the
 * modules that register them, as the running operator does; histograms expand to
 * _bucket/_sum/_count); it covers what an operator of Crescendo watches; and the chart ships it
 * as a ConfigMap Grafana's dashboard sidecar loads.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { parseAllDocuments, stringify } from "yaml";
// Importing the controllers registers their metrics on the shared registry, as in the operator.
import "../operator/src/controllers/featuretoggle/controller.js";
import "../operator/src/controllers/release/controller.js";
import "../operator/src/controllers/squad/controller.js";
import { registry } from "../operator/src/observability/metrics.js";

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, "..");
const CHART = join(ROOT, "charts/crescendo");
const DASHBOARD_FILE = join(CHART, "dashboards/crescendo.json");
const NAMESPACE = "crescendo-system";

interface Target {
  refId: string;
  expr: string;
  datasource?: { type?: string; uid?: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  description?: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  panels?: Panel[];
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  annotations: { list: { name: string; expr?: string }[] };
  templating: { list: { name: string; type: string; query?: string | { query: string } }[] };
}

const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, "utf8")) as Dashboard;
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);

/** Every PromQL expression in the dashboard, with where it comes from. */
function expressions(): { where: string; expr: string }[] {
  const found: { where: string; expr: string }[] = [];
  for (const panel of panels) {
    for (const t of panel.targets ?? []) found.push({ where: `${panel.title} ${t.refId}`, expr: t.expr });
  }
  for (const a of dashboard.annotations.list) {
    if (a.expr) found.push({ where: `annotation ${a.name}`, expr: a.expr });
  }
  for (const v of dashboard.templating.list) {
    if (v.type !== "query") continue;
    const query = typeof v.query === "string" ? v.query : (v.query?.query ?? "");
    // Grafana's label_values(selector, label): the selector is PromQL.
    const selector = /^label_values\((.*),\s*[a-zA-Z_]\w*\)$/.exec(query)?.[1];
    if (!selector)
      throw new Error(`variable ${v.name}: expected label_values(selector, label), got ${query}`);
    found.push({ where: `variable ${v.name}`, expr: selector });
  }
  return found;
}

/** Grafana's variables replaced by what Grafana would send, so promtool sees plain PromQL. */
function interpolate(expr: string): string {
  return expr
    .replaceAll("$__rate_interval", "2m")
    .replaceAll("$__interval", "1m")
    .replaceAll("$__range", "6h")
    .replaceAll("$window", "7d")
    .replace(/\$\{(\w+)\}|\$(\w+)/g, (_m, a?: string, b?: string) => `${a ?? b}-value`);
}

const KEYWORDS = new Set([
  "and",
  "or",
  "unless",
  "bool",
  "offset",
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "inf",
  "nan",
]);

/**
 * The metric names an expression selects: bare identifiers that are not functions, aggregations
 * or keywords, once label matchers, ranges, grouping clauses and strings are removed, plus names
 * given through `__name__` matchers (alternations of literal names).
 */
function metricNames(expr: string): string[] {
  const names: string[] = [];
  for (const m of expr.matchAll(/__name__\s*=~?\s*"([^"]*)"/g)) names.push(...m[1]!.split("|"));
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, "")
    .replace(/\[[^\]]*\]/g, "")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ");
  for (const m of bare.matchAll(/(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    const [, name, call] = m;
    if (!call && !KEYWORDS.has(name!)) names.push(name!);
  }
  return [...new Set(names)];
}

/** Every series name the operator exports: histograms as _bucket/_sum/_count, summaries as _sum/_count. */
async function registeredNames(): Promise<Set<string>> {
  const names = new Set<string>();
  for (const metric of await registry.getMetricsAsJSON()) {
    const type = String(metric.type);
    if (type === "histogram") for (const s of ["_bucket", "_sum", "_count"]) names.add(metric.name + s);
    else if (type === "summary") for (const s of ["", "_sum", "_count"]) names.add(metric.name + s);
    else names.add(metric.name);
  }
  return names;
}

describe("metricNames", () => {
  it("finds selected metrics, not functions, labels, keywords or strings", () => {
    expect(
      metricNames(
        'histogram_quantile(0.99, sum by (controller, le) (rate(a_bucket{job=~"x|y"}[5m]))) / on (job) b or vector(0)',
      ),
    ).toEqual(["a_bucket", "b"]);
    expect(metricNames('label_replace(c{x="1"}, "state", "Stale", "", "") == 1')).toEqual(["c"]);
    expect(metricNames('{__name__=~"d|e", job="j"}')).toEqual(["d", "e"]);
  });
});

describe("dashboards/crescendo.json", () => {
  const all = expressions();
  const tmp = mkdtempSync(join(tmpdir(), "crescendo-dashboard-test-"));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it("is a Grafana dashboard with a fixed uid, unique panel ids and panels that do not overlap", () => {
    expect(dashboard.uid).toBe("crescendo-operator");
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const [i, a] of panels.entries()) {
      expect(a.gridPos.x + a.gridPos.w, a.title).toBeLessThanOrEqual(24);
      for (const b of panels.slice(i + 1)) {
        const apart =
          a.gridPos.x + a.gridPos.w <= b.gridPos.x ||
          b.gridPos.x + b.gridPos.w <= a.gridPos.x ||
          a.gridPos.y + a.gridPos.h <= b.gridPos.y ||
          b.gridPos.y + b.gridPos.h <= a.gridPos.y;
        expect(apart, `${a.title} overlaps ${b.title}`).toBe(true);
      }
    }
  });

  it("queries Prometheus through the datasource variable, with a description on every panel", () => {
    expect(dashboard.templating.list.find((v) => v.name === "datasource")).toMatchObject({
      type: "datasource",
      query: "prometheus",
    });
    for (const panel of panels.filter((p) => p.type !== "row")) {
      expect(panel.datasource, panel.title).toEqual({ type: "prometheus", uid: "${datasource}" });
      expect(panel.description, panel.title).toBeTruthy();
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
    }
  });

  it("scopes every query to the operator's scrape job (but the variable that lists the jobs)", () => {
    for (const { where, expr } of all.filter((e) => e.where !== "variable job")) {
      const selectors = [...expr.matchAll(/\{[^}]*\}/g)].map((m) => m[0]);
      expect(selectors.length, where).toBeGreaterThan(0);
      for (const s of selectors) expect(s, where).toContain('job=~"$job"');
    }
  });

  it("names only metrics the operator registers (and Prometheus's own up)", async () => {
    const known = await registeredNames();
    expect(known).toContain("controller_runtime_reconcile_time_seconds_bucket");
    const used = all.flatMap(({ where, expr }) => metricNames(expr).map((name) => ({ where, name })));
    expect(used.length).toBeGreaterThanOrEqual(all.length);
    const unknown = used.filter(({ name }) => name !== "up" && !known.has(name));
    expect(unknown).toEqual([]);
  });

  it("shows operator health, releases, rollbacks, toggles, OFREP and the DORA keys", () => {
    const used = new Set(all.flatMap(({ expr }) => metricNames(expr)));
    for (const name of [
      "controller_runtime_reconcile_total",
      "controller_runtime_reconcile_errors_total",
      "controller_runtime_reconcile_time_seconds_bucket",
      "workqueue_depth",
      "leader_election_master_status",
      "crescendo_release_phase",
      "crescendo_release_canary_weight",
      "crescendo_release_rollbacks_total",
      "crescendo_time_to_rollback_seconds_bucket",
      "crescendo_featuretoggle_state",
      "crescendo_featuretoggle_stale",
      "crescendo_ofrep_request_duration_seconds_count",
      "crescendo_ofrep_request_duration_seconds_bucket",
      "crescendo_delivery_deployments_total",
      "crescendo_delivery_changes_total",
      "crescendo_delivery_change_failures_total",
      "crescendo_delivery_change_lead_time_seconds_bucket",
      "crescendo_delivery_failed_deployment_recovery_time_seconds_bucket",
    ]) {
      expect(used, name).toContain(name);
    }
    const quantiles = all.map((e) => e.expr).filter((e) => e.includes("controller_runtime_reconcile_time"));
    expect(quantiles.some((e) => e.startsWith("histogram_quantile(0.5,"))).toBe(true);
    expect(quantiles.some((e) => e.startsWith("histogram_quantile(0.99,"))).toBe(true);
  });

  it("parses: every expression is a valid recording rule (promtool check rules)", async (ctx) => {
    const promtool = ["/usr/bin/promtool", "/usr/local/bin/promtool"].find((p) => existsSync(p));
    if (!promtool) ctx.skip("promtool not installed (Debian package prometheus; .ci/run installs it)");
    const rules = all.map(({ expr }, i) => ({
      record: `crescendo_dashboard:expr_${i}`,
      expr: interpolate(expr),
    }));
    const file = join(tmp, "dashboard-rules.yaml");
    writeFileSync(file, stringify({ groups: [{ name: "crescendo-dashboard", rules }] }));
    const result = await run(promtool!, ["check", "rules", file]).catch(
      (err: { stdout?: string; stderr?: string }) => ({ stdout: err.stdout ?? "", stderr: err.stderr ?? "" }),
    );
    expect(result.stdout + result.stderr).toContain(`SUCCESS: ${rules.length} rules found`);
  });
});

// ---------------------------------------------------------------------------------------------
// The chart's ConfigMap

/** Where hack/cluster/build puts helm (see hack/cluster/lib.sh and versions.env). */
function helmPath(): string {
  const versions = readFileSync(join(ROOT, "hack/cluster/versions.env"), "utf8");
  const version = /^HELM_VERSION=(\S+)$/m.exec(versions)?.[1] ?? "missing";
  const cache =
    process.env.CRESCENDO_CACHE_DIR ??
    join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "crescendo");
  return join(cache, "bin", `helm-${version}`);
}

interface K8sObject {
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  data?: Record<string, string>;
}

const helm = helmPath();

async function render(set: string[]): Promise<K8sObject[]> {
  const { stdout } = await run(
    helm,
    ["template", "crescendo", CHART, "--namespace", NAMESPACE, ...set.flatMap((s) => ["--set", s])],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  return parseAllDocuments(stdout)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

const dashboards = (objects: K8sObject[]) =>
  objects.filter((o) => o.kind === "ConfigMap" && o.metadata.labels?.grafana_dashboard !== undefined);

describe.runIf(existsSync(helm))("chart: grafanaDashboard", () => {
  it("ships nothing by default", async () => {
    expect(dashboards(await render([]))).toEqual([]);
  });

  it('ships the dashboard as a ConfigMap labelled grafana_dashboard: "1" when enabled', async () => {
    const [cm, ...rest] = dashboards(await render(["grafanaDashboard.enabled=true"]));
    expect(rest).toEqual([]);
    expect(cm?.metadata).toMatchObject({
      name: "crescendo-dashboard",
      namespace: NAMESPACE,
      labels: { grafana_dashboard: "1", "app.kubernetes.io/part-of": "crescendo" },
    });
    expect(JSON.parse(cm?.data?.["crescendo.json"] ?? "")).toEqual(dashboard);
  });

  it("takes a namespace, extra labels (overriding the default value) and annotations", async () => {
    const [cm] = dashboards(
      await render([
        "grafanaDashboard.enabled=true",
        "grafanaDashboard.namespace=monitoring",
        "grafanaDashboard.labels.grafana_dashboard=crescendo",
        "grafanaDashboard.labels.team=platform",
        "grafanaDashboard.annotations.grafana_folder=Crescendo",
      ]),
    );
    expect(cm?.metadata.namespace).toBe("monitoring");
    expect(cm?.metadata.labels).toMatchObject({ grafana_dashboard: "crescendo", team: "platform" });
    expect(cm?.metadata.annotations).toEqual({ grafana_folder: "Crescendo" });
  });

  it("passes helm lint --strict with the dashboard on, and refuses unknown keys in the block", async () => {
    await expect(
      run(helm, ["lint", CHART, "--strict", "--set", "grafanaDashboard.enabled=true"]),
    ).resolves.toBeDefined();
    await expect(render(["grafanaDashboard.folder=x"])).rejects.toThrow(/additional properties 'folder'/);
  });
});
