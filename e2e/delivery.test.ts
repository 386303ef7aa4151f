/**
 * The DORA keys end to end, against a real apiserver (KWOK nodes run the pods), the operator's
 * real entry point and a real Prometheus that scrapes the operator and evaluates the chart's own
 * recording rules. A squad of a declared tribe makes five changes through one Release — one
 * promoted with its commit time, one rolled back, one reverted after promotion (a later rollout
 * back to the template it replaced), one Degraded and then restored, one promoted — and the keys
 * read the same in the Squad status, in the operator's /metrics, through the recording rules and
 * in `kubectl crescendo tribe`. A squad naming a tribe the platform does not declare is Stalled
 * and joins no tribe.
 *
 * The Prometheus is this file's own (hack/prometheus/up on loopback, stopped in afterAll), with
 * the chart's PrometheusRule rendered at a 1 s evaluation interval: the rules are the chart's,
 * only evaluated more often than an installation would.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { ReleaseResource, SquadResource, type Squad } from "../operator/src/api/kinds.js";
import type { ReleaseStatus } from "../operator/src/api/release.js";
import { revisionOf } from "../operator/src/controllers/release/revision.js";
import type { KubeClient } from "../operator/src/runtime/client.js";
import {
  DeploymentResource,
  NamespaceResource,
  NetworkPolicyResource,
  RoleBindingResource,
} from "../operator/src/runtime/resources.js";
import type { KubeObject } from "../operator/src/runtime/types.js";
import { helmTemplate } from "../hack/helm.js";
import { script } from "../hack/local-env.js";
import { kubeconfigPath, kubectl, testClient, waitFor, waitForCondition } from "./support/kube.js";
import { metricValue, OperatorProcess } from "./support/operator.js";

const ROOT = join(import.meta.dirname, "..");
const SQUAD = "dora-e2e";
const NS = "dora-e2e";
const TRIBE = "dora-tribe";
const STRAY = "dora-stray";
/** The scrape job the chart's rules select (`job="<release fullname>"`, helm release crescendo). */
const JOB = "crescendo";
const FIELD_MANAGER = "e2e-delivery";
const run = promisify(execFile);

let client: KubeClient;
let operator: OperatorProcess;
let prometheusUrl = "";
const promDir = mkdtempSync(join(tmpdir(), "crescendo-delivery-prom-"));
const promEnv = { CRESCENDO_PROM_DIR: promDir, PROM_JOB: JOB };
const context = () => operator.tail(60);

type Release = KubeObject & { status?: ReleaseStatus };

const template = (version: number) => ({
  metadata: { labels: { app: "web" } },
  spec: { containers: [{ name: "web", image: `registry.example/web:${version}` }] },
});
const R = (version: number) => revisionOf(template(version));

async function applyRelease(version: number, change?: Record<string, string>): Promise<void> {
  await client.apply(
    {
      apiVersion: "crescendo.dev/v1alpha1",
      kind: "Release",
      metadata: { name: "web", namespace: NS },
      spec: {
        version: `${version}.0.0`,
        replicas: 2,
        template: template(version),
        strategy: { canary: { steps: [{ setWeight: 50 }, { pause: {} }] } },
        // The replaced revision goes at once: a return to it is a rollout of its own (a revert),
        // not a switch back to pods still running.
        rollback: { scaleDownDelaySeconds: 0 },
        ...(change ? { change } : {}),
      },
    },
    ReleaseResource,
    { fieldManager: FIELD_MANAGER, force: true },
  );
}

let actions = 0;
async function act(action: string): Promise<void> {
  await client.mergePatch(ReleaseResource, "web", NS, {
    metadata: { annotations: { "crescendo.dev/action": action, "crescendo.dev/action-id": `a${++actions}` } },
  });
}

async function waitRelease(
  description: string,
  accept: (s: ReleaseStatus) => boolean,
): Promise<ReleaseStatus> {
  const r = await waitFor(
    `Release ${NS}/web: ${description}`,
    () => client.get<Release>(ReleaseResource, "web", NS),
    (x) => x?.status !== undefined && accept(x.status),
    { timeoutMs: 120_000, context },
  );
  return r?.status ?? {};
}

/** Rolls `version` out to its pause step, then promotes it. */
async function ship(version: number, change?: Record<string, string>): Promise<void> {
  await applyRelease(version, change);
  await waitRelease(
    `${version} at its pause step`,
    (s) => s.canaryRevision === R(version) && s.phase === "Paused",
  );
  await act("promote");
  await waitRelease(`${version} promoted`, (s) => s.phase === "Healthy" && s.stableRevision === R(version));
}

/** Cordons (or uncordons) every node: pods deleted meanwhile have nowhere to run. */
async function cordonAll(cordon: boolean): Promise<void> {
  const nodes = (await kubectl(["get", "nodes", "-o", "name"])).stdout.split("\n").filter((n) => n !== "");
  for (const node of nodes) {
    const r = await kubectl([cordon ? "cordon" : "uncordon", node]);
    if (r.code !== 0) throw new Error(`kubectl ${cordon ? "cordon" : "uncordon"} ${node}: ${r.stderr}`);
  }
}

async function squadStatus(name = SQUAD): Promise<Squad["status"]> {
  return (await client.get<Squad>(SquadResource, name))?.status;
}

/** One instant query; the samples' labels and values. */
async function query(promql: string): Promise<{ metric: Record<string, string>; value: number }[]> {
  const res = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(promql)}`);
  const body = (await res.json()) as {
    data: { result: { metric: Record<string, string>; value: [number, string] }[] };
  };
  return body.data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
}

/** The one sample of a query, once it exists and `accept` holds. */
async function sampleOf(promql: string, accept: (v: number) => boolean = () => true): Promise<number> {
  const samples = await waitFor(
    `Prometheus: ${promql}`,
    () => query(promql),
    (s) => s.length === 1 && accept(s[0]!.value),
    { timeoutMs: 60_000, intervalMs: 1000 },
  );
  return samples[0]!.value;
}

/** The chart's PrometheusRule, rendered as an installation would have it, evaluated every second. */
async function chartRules(): Promise<string> {
  const objects = await helmTemplate("crescendo-system", [
    "prometheusRule.enabled=true",
    "prometheusRule.deliveryInterval=1s",
  ]);
  const rule = objects.find((o) => o.kind === "PrometheusRule");
  if (!rule) throw new Error("the chart rendered no PrometheusRule");
  return stringify(rule["spec"]);
}

/** Starts Prometheus scraping the operator, with the chart's rules loaded. */
async function startPrometheus(): Promise<string> {
  const url = (await script("hack/prometheus/up", promEnv, [`127.0.0.1:${operator.healthPort}`]))
    .trim()
    .split("\n")
    .pop()!;
  // hack/prometheus/up loads every rule file in its rules/ dir on reload.
  writeFileSync(join(promDir, "rules", "crescendo-rules.yaml"), await chartRules());
  const reload = await fetch(`${url}/-/reload`, { method: "POST" });
  if (!reload.ok) throw new Error(`Prometheus did not reload: ${reload.status} ${await reload.text()}`);
  await waitFor(
    "Prometheus to load the chart's delivery rules",
    async () =>
      (await (await fetch(`${url}/api/v1/rules?type=record`)).json()) as {
        data: { groups: { name: string }[] };
      },
    (r) => r.data.groups.some((g) => g.name === "crescendo.delivery.1d"),
    { timeoutMs: 30_000 },
  );
  return url;
}

beforeAll(async () => {
  client = testClient();
  operator = await OperatorProcess.start({
    kubeconfig: kubeconfigPath(),
    name: "delivery",
    args: ["--tribes", `${TRIBE},other-tribe`, "--revert-window", "2h"],
  });
  prometheusUrl = await startPrometheus();
  for (const [name, tribe, isolation] of [
    [SQUAD, TRIBE, "Squad"],
    [STRAY, "not-declared", "Tribe"],
  ] as const) {
    await client.apply(
      {
        apiVersion: "crescendo.dev/v1alpha1",
        kind: "Squad",
        metadata: { name },
        spec: {
          tribe,
          networkIsolation: isolation,
          members: [
            { kind: "User", name: `${name}-lead`, role: "lead", chapter: "backend" },
            { kind: "User", name: `${name}-dev`, chapter: "frontend" },
          ],
        },
      },
      SquadResource,
      { fieldManager: FIELD_MANAGER, force: true },
    );
  }
}, 180_000);

afterAll(async () => {
  // Cordoned nodes would stop every later test's pods.
  await cordonAll(false).catch(() => undefined);
  await operator?.stop();
  await script("hack/prometheus/down", promEnv).catch(() => undefined);
  rmSync(promDir, { recursive: true, force: true });
  client?.close();
});

describe("tribes and chapters", () => {
  it("labels a declared tribe's squad: namespace and member RoleBindings carry its tribe, chapters and Backstage id", async () => {
    await waitForCondition(
      client,
      SquadResource,
      SQUAD,
      undefined,
      { type: "Ready", status: "True" },
      {
        timeoutMs: 120_000,
        context,
      },
    );
    const ns = await client.get<KubeObject>(NamespaceResource, NS);
    expect(ns?.metadata.labels).toMatchObject({
      "crescendo.dev/squad": SQUAD,
      "crescendo.dev/tribe": TRIBE,
      "backstage.io/kubernetes-id": SQUAD,
      "chapter.crescendo.dev/backend": "true",
      "chapter.crescendo.dev/frontend": "true",
    });
    const lead = await client.get<KubeObject>(RoleBindingResource, "crescendo-lead", NS);
    expect(lead?.metadata.labels).toMatchObject({
      "crescendo.dev/tribe": TRIBE,
      "chapter.crescendo.dev/backend": "true",
    });
    expect(lead?.metadata.labels?.["chapter.crescendo.dev/frontend"]).toBeUndefined();
    // What a person selects by: every binding that gives the backend chapter access.
    const r = await kubectl([
      "get",
      "rolebindings",
      "-A",
      "-l",
      "chapter.crescendo.dev/backend",
      "-o",
      "name",
    ]);
    expect(r.stdout).toContain("rolebinding.rbac.authorization.k8s.io/crescendo-lead");
  });

  it("stalls a squad naming a tribe the platform does not declare, and lets it join no tribe", async () => {
    const stalled = await waitForCondition(
      client,
      SquadResource,
      STRAY,
      undefined,
      { type: "Stalled", status: "True", reason: "InvalidSpec" },
      { timeoutMs: 120_000, context },
    );
    const message = (stalled.status as Squad["status"])?.conditions?.find(
      (c) => c.type === "Stalled",
    )?.message;
    expect(message).toContain(
      'spec.tribe: tribe "not-declared" is not one the platform declares (dora-tribe, other-tribe)',
    );
    // Its namespace and isolation exist, without the tribe: no tribe's policy admits it, and its own
    // Tribe isolation admits only the squad.
    const ns = await waitFor(
      `namespace ${STRAY}`,
      () => client.get<KubeObject>(NamespaceResource, STRAY),
      (n) => n?.metadata.labels?.["crescendo.dev/squad"] === STRAY,
      { context },
    );
    expect(ns?.metadata.labels?.["crescendo.dev/tribe"]).toBeUndefined();
    const policy = await waitFor(
      `NetworkPolicy of ${STRAY}`,
      () => client.get<KubeObject & { spec: unknown }>(NetworkPolicyResource, "crescendo-isolation", STRAY),
      (p) => p !== undefined,
      { context },
    );
    expect(policy?.spec).toMatchObject({
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { "crescendo.dev/squad": STRAY } } }] }],
    });
    expect(policy?.metadata.labels?.["crescendo.dev/tribe"]).toBeUndefined();
  });
});

describe("five changes of a squad, read four ways", () => {
  beforeAll(async () => {
    // The counters exist at 0 and Prometheus has scraped them before the first change, as in a
    // running installation: increase() over a window then counts every change.
    await waitFor(
      "the squad's delivery totals in its status",
      () => squadStatus(),
      (s) => s?.delivery?.totals !== undefined,
      { timeoutMs: 120_000, context },
    );
    await sampleOf(`crescendo_delivery_changes_total{squad="${SQUAD}",tribe="${TRIBE}"}`, (v) => v === 0);

    await applyRelease(1);
    await waitRelease("Healthy at 1", (s) => s.phase === "Healthy" && s.stableRevision === R(1));

    // 1. Promoted; CI said when it was committed.
    const committedAt = new Date(Date.now() - 3_600_000).toISOString();
    await ship(2, { id: "c0ffee", committedAt, url: "https://git.example/web/commit/c0ffee" });
    // 2. Rolled back during its rollout.
    await applyRelease(3);
    await waitRelease("3 at its pause step", (s) => s.canaryRevision === R(3) && s.phase === "Paused");
    await act("abort");
    await waitRelease("3 rolled back", (s) => s.phase === "RolledBack" && s.stableRevision === R(2));
    // 3. Promoted, then reverted: a later rollout back to the template it replaced.
    await ship(4);
    await waitFor(
      "the replaced revision 2 scaled down",
      () => client.get<KubeObject & { spec: { replicas: number } }>(DeploymentResource, `web-${R(2)}`, NS),
      (d) => d === undefined || d.spec.replicas === 0,
      { timeoutMs: 60_000, context },
    );
    await ship(2);
    // 4. Promoted, then Degraded (its pods gone and nowhere to run), then restored.
    await ship(5);
    await cordonAll(true);
    await kubectl(["delete", "pods", "-n", NS, "-l", `crescendo.dev/revision=${R(5)}`, "--wait=false"]);
    await waitRelease("5 Degraded", (s) => s.phase === "Degraded" && s.degradedSince !== undefined);
    await cordonAll(false);
    await waitRelease("5 restored", (s) => s.phase === "Healthy" && s.stableRevision === R(5));
    // 5. Promoted.
    await ship(6);
  }, 600_000);

  it("in the Squad status", async () => {
    const status = await waitFor(
      "the squad's figures after five changes",
      () => squadStatus(),
      (s) => s?.delivery?.last7d?.changes === 5 && s.delivery.last7d.recoveries === 3,
      { timeoutMs: 60_000, context },
    );
    const week = status!.delivery!.last7d!;
    expect(week).toMatchObject({
      deployments: 4,
      changes: 5,
      failedChanges: 3,
      changeFailRate: "60%",
      leadTimeFrom: "Mixed",
      recoveries: 3,
      openFailures: 0,
    });
    expect(status!.delivery!.last30d).toEqual(week);
    const byRevision = new Map(status!.delivery!.changes!.map((c) => [c.revision, c]));
    expect([...byRevision.keys()].sort()).toEqual([R(2), R(3), R(4), R(5), R(6)].sort());
    expect(byRevision.get(R(2))).toMatchObject({ changeId: "c0ffee", leadTimeFrom: "Commit" });
    expect(byRevision.get(R(2))?.failure).toBeUndefined();
    expect(byRevision.get(R(3))).toMatchObject({ failure: "RolledBack" });
    expect(byRevision.get(R(3))?.deployedAt).toBeUndefined();
    expect(byRevision.get(R(4))).toMatchObject({ failure: "Reverted", failureStartFrom: "Traffic" });
    expect(byRevision.get(R(5))).toMatchObject({ failure: "Degraded", failureStartFrom: "Degraded" });
    expect(byRevision.get(R(6))?.failure).toBeUndefined();
    // Lead time from the commit is at least the hour since it; the others from their rollout start.
    expect(byRevision.get(R(2))?.leadTimeSeconds).toBeGreaterThanOrEqual(3600);
    expect(byRevision.get(R(6))?.leadTimeFrom).toBe("RolloutStart");
    expect(status!.delivery!.totals).toMatchObject({ changes: 5, failedChanges: 3, deployments: 4 });
  });

  it("in the operator's metrics, labelled by squad and tribe", async () => {
    const labels = { squad: SQUAD, tribe: TRIBE };
    const text = await waitFor(
      "the operator's delivery counters",
      () => operator.metrics(),
      (t) => metricValue(t, "crescendo_delivery_changes_total", labels) === 5,
      { timeoutMs: 30_000, context },
    );
    expect(metricValue(text, "crescendo_delivery_change_failures_total", labels)).toBe(3);
    expect(metricValue(text, "crescendo_delivery_deployments_total", labels)).toBe(4);
    const lead = "crescendo_delivery_change_lead_time_seconds_count";
    expect(metricValue(text, lead, { ...labels, from: "Commit" })).toBe(1);
    expect(metricValue(text, lead, { ...labels, from: "RolloutStart" })).toBe(3);
    expect(
      metricValue(text, "crescendo_delivery_failed_deployment_recovery_time_seconds_count", labels),
    ).toBe(3);
  });

  it("through the chart's recording rules, per squad and per tribe, over 1, 7 and 30 days", async () => {
    for (const [level, selector] of [
      ["squad", `squad="${SQUAD}"`],
      ["tribe", `tribe="${TRIBE}"`],
    ] as const) {
      // A ratio of two increases over the same samples: exact.
      for (const window of ["1d", "7d", "30d"]) {
        const rate = await sampleOf(
          `${level}:crescendo_delivery_change_fail_rate:ratio_${window}{${selector}}`,
          (v) => Math.abs(v - 0.6) < 1e-9,
        );
        expect(rate).toBeCloseTo(0.6, 9);
      }
      // increase() extrapolates from the last scrape to the evaluation (the counters start at 0,
      // so never backwards): 4 deployments read as 4 and a little more, never 5.
      for (const [window, days] of [
        ["1d", 1],
        ["7d", 7],
        ["30d", 30],
      ] as const) {
        const perDay = await sampleOf(
          `${level}:crescendo_delivery_deployment_frequency:per_day_${window}{${selector}}`,
          (v) => v * days >= 4,
        );
        expect(perDay * days).toBeLessThan(5);
      }
      // Medians interpolated in the histogram's buckets: the lead time's (three of four changes
      // within five minutes of their rollout start) and the recovery time's (all three restored
      // within five minutes) fall in the first five minutes, the elite level.
      const lead = await sampleOf(`${level}:crescendo_delivery_change_lead_time_seconds:p50_1d{${selector}}`);
      expect(lead).toBeGreaterThan(0);
      expect(lead).toBeLessThanOrEqual(300);
      const recovery = await sampleOf(
        `${level}:crescendo_delivery_failed_deployment_recovery_time_seconds:p50_30d{${selector}}`,
      );
      expect(recovery).toBeGreaterThan(0);
      expect(recovery).toBeLessThanOrEqual(300);
    }
  });

  it("in kubectl crescendo tribe", async () => {
    const { stdout } = await run(
      process.execPath,
      ["--import", "tsx", join(ROOT, "operator/src/cli/main.ts"), "tribe", TRIBE],
      { cwd: ROOT, env: { ...process.env, KUBECONFIG: kubeconfigPath() }, timeout: 60_000 },
    );
    expect(stdout).toContain(`Tribe     ${TRIBE}\nSquads    1 (1 ready)`);
    expect(stdout).toMatch(
      new RegExp(`\\n  ${SQUAD}\\s+True\\s+4 \\(0\\.13/day\\)\\s+\\S+\\s+60%\\s+\\S+\\s+0\\s`),
    );
    expect(stdout).toMatch(/Deployment frequency\s+4 \(0\.57\/day\)\s+4 \(0\.13\/day\)\s+Medium/);
    expect(stdout).toMatch(/Change lead time\s+\S+ median, from commit or rollout start/);
    expect(stdout).toMatch(/Change failure rate\s+60% \(3 of 5 changes\)\s+60% \(3 of 5 changes\)\s+Low/);
    expect(stdout).toMatch(/Failed deployment recovery time\s+\S+ median \(3 restored\)/);
    expect(stdout).toContain("Releases in flight  none");
  });
});
