/**
 * Alert-driven remediation end to end, with real parts only: the operator from its entry point
 * serving its Alertmanager receiver with a token file, the suite's Prometheus evaluating an alert
 * rule over the metrics simulator, a real Alertmanager (hack/alertmanager/up) POSTing to the
 * operator with the bearer token. A Release is promoted, its error rate rises afterwards, the
 * alert fires, and the operator reverts that Release (undo, spec untouched) and kills the toggle
 * changed in the window; another squad's Release and toggle, changed in the same window, are left
 * alone. The incident's record shows the timeline, and the resolution once the alert resolves.
 * The reverted change is a failed change in the squad's delivery figures, open while the incident
 * is, then restored at its resolution: its recovery time is the incident's (alert start to
 * resolved), in the Squad's status and in the operator's histogram; an alert of the group that
 * reaches Alertmanager after the revert with an earlier start moves the incident's start back,
 * and the change's with it, so the two still agree. An unauthenticated POST gets 401 and changes
 * nothing.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { loadAlertRules } from "../hack/alerting.js";
import type { ChangeRecord } from "../operator/src/api/delivery.js";
import { FeatureToggleResource, ReleaseResource, SquadResource } from "../operator/src/api/kinds.js";
import type { ReleaseStatus } from "../operator/src/api/release.js";
import type { SquadStatus } from "../operator/src/api/squad.js";
import { revisionOf } from "../operator/src/controllers/release/revision.js";
import type { KubeClient } from "../operator/src/runtime/client.js";
import { EventResource, NamespaceResource } from "../operator/src/runtime/resources.js";
import type { KubeObject } from "../operator/src/runtime/types.js";
import { kubeconfigPath, testClient, waitFor } from "./support/kube.js";
import { setRevisionBehaviour } from "./support/metrics-simulator.js";
import { startIncidentChain, type IncidentChain } from "./support/incident-chain.js";
import { metricValue } from "./support/operator.js";

const ROOT = join(import.meta.dirname, "..");
const PROMETHEUS = { url: inject("prometheusUrl"), dir: inject("prometheusDir") };
const SIMULATOR = inject("simulatorAddress");
const FIELD_MANAGER = "e2e-incidents";
const run = promisify(execFile);

/** The squad whose Release goes bad, and a bystander squad changing things in the same window. */
const PAY = { squad: "inc-pay", ns: "inc-shop", release: "web", toggle: "new-checkout" };
const OTHER = { squad: "inc-other", ns: "inc-search", release: "api", toggle: "new-ranking" };

const POLICY = {
  correlationWindow: "30m",
  actions: [
    { match: { labels: { severity: "page" } }, do: "Revert" },
    { match: { labels: { severity: "page" } }, do: "KillToggles" },
  ],
};

let client: KubeClient;
let chain: IncidentChain | undefined;
const undo: (() => Promise<void>)[] = [];
/** The earlier-started alert sent to Alertmanager after the revert, and its start. */
let earlier: { labels: Record<string, string>; startsAt: string } | undefined;

/** Sends an alert to Alertmanager's API, as Prometheus would; `endsAt` now or later resolves or holds it. */
async function sendAlert(alert: { labels: Record<string, string>; startsAt: string }, endsAt: Date) {
  const res = await fetch(`${chain!.alertmanager.url}/api/v2/alerts`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify([{ ...alert, endsAt: endsAt.toISOString() }]),
  });
  expect(res.status, await res.text()).toBe(200);
}

const template = (name: string, version: string) => ({
  metadata: { labels: { app: name } },
  spec: { containers: [{ name: "app", image: `registry.example.com/${name}:${version}` }] },
});

type Rel = KubeObject & { spec: { version: string }; status?: ReleaseStatus };
type Toggle = KubeObject & {
  status?: { effectiveState?: string; killedBy?: string; specChangedAt?: string };
};
type SquadObject = KubeObject & { status?: Pick<SquadStatus, "incidents" | "delivery"> };

const context = async () => (chain ? chain.context() : "");

async function applyRelease(ns: string, name: string, version: string): Promise<void> {
  await client.apply(
    {
      apiVersion: "crescendo.dev/v1alpha1",
      kind: "Release",
      metadata: { name, namespace: ns },
      spec: {
        version,
        replicas: 2,
        template: template(name, version),
        service: { ports: [{ name: "http", port: 80 }] },
        strategy: { canary: { steps: [{ setWeight: 50 }] } },
      },
    },
    ReleaseResource,
    { fieldManager: FIELD_MANAGER, force: true },
  );
}

async function waitRelease(ns: string, name: string, what: string, accept: (s: ReleaseStatus) => boolean) {
  const r = await waitFor(
    `Release ${ns}/${name}: ${what}`,
    () => client.get<Rel>(ReleaseResource, name, ns),
    (o) => o?.status !== undefined && accept(o.status),
    { timeoutMs: 120_000, context },
  );
  return r!;
}

async function applyToggle(ns: string, name: string): Promise<void> {
  await client.apply(
    {
      apiVersion: "crescendo.dev/v1alpha1",
      kind: "FeatureToggle",
      metadata: { name, namespace: ns },
      spec: { variants: { on: true, off: false }, defaultVariant: "on" },
    },
    FeatureToggleResource,
    { fieldManager: FIELD_MANAGER, force: true },
  );
}

const incidents = async (squad: string) =>
  (await client.get<SquadObject>(SquadResource, squad))?.status?.incidents ?? [];

const delivery = async (squad: string) =>
  (await client.get<SquadObject>(SquadResource, squad))?.status?.delivery;

/** The squad's record of the change a Release's revision made. */
const changeOf = (
  d: SquadStatus["delivery"] | undefined,
  release: string,
  revision: string,
): ChangeRecord | undefined => d?.changes?.find((c) => c.release === release && c.revision === revision);

/** Runs `kubectl-crescendo` from source as a child process, as kubectl would run the plugin. */
async function plugin(args: string[]): Promise<string> {
  const { stdout } = await run(
    process.execPath,
    ["--import", "tsx", join(ROOT, "operator/src/cli/main.ts"), ...args],
    { cwd: ROOT, env: { ...process.env, KUBECONFIG: kubeconfigPath() }, timeout: 90_000 },
  );
  return stdout;
}

beforeAll(async () => {
  client = testClient();
  chain = await startIncidentChain({ name: FIELD_MANAGER, prometheus: PROMETHEUS });
  for (const s of [PAY, OTHER]) {
    await client.apply(
      {
        apiVersion: "crescendo.dev/v1alpha1",
        kind: "Squad",
        metadata: { name: s.squad },
        spec: { namespaces: [{ name: s.ns }], incidentResponse: POLICY },
      },
      SquadResource,
      { fieldManager: FIELD_MANAGER, force: true },
    );
  }
  for (const s of [PAY, OTHER]) {
    await waitFor(
      `namespace ${s.ns} of squad ${s.squad}`,
      () => client.get<KubeObject>(NamespaceResource, s.ns),
      (n) => n?.metadata.labels?.["crescendo.dev/squad"] === s.squad,
      { timeoutMs: 60_000, context },
    );
  }
}, 180_000);

afterAll(async () => {
  for (const step of undo.reverse()) await step().catch(() => undefined);
  await chain?.stop();
  for (const s of [PAY, OTHER]) {
    await client?.delete(SquadResource, s.squad).catch(() => undefined);
  }
  client?.close();
});

describe("an alert remedies the change that caused it", () => {
  const r1 = revisionOf(template(PAY.release, "1.0.0"));
  const r2 = revisionOf(template(PAY.release, "2.0.0"));
  const o2 = revisionOf(template(OTHER.release, "2.0.0"));

  it("reverts the squad's Release promoted before the alert and kills its toggle changed in the window; another squad is untouched", async () => {
    // Both squads change things: v1 then v2 of each Release, and a toggle each.
    for (const s of [PAY, OTHER]) await applyRelease(s.ns, s.release, "1.0.0");
    for (const s of [PAY, OTHER]) {
      await waitRelease(s.ns, s.release, "Healthy at 1.0.0", (st) => st.phase === "Healthy");
      await applyToggle(s.ns, s.toggle);
    }
    await setRevisionBehaviour(SIMULATOR, {
      namespace: PAY.ns,
      release: PAY.release,
      revision: r2,
      rps: 50,
      errorRate: 0,
    });
    for (const s of [PAY, OTHER]) await applyRelease(s.ns, s.release, "2.0.0");
    await waitRelease(
      PAY.ns,
      PAY.release,
      "2.0.0 promoted",
      (st) => st.phase === "Healthy" && st.stableRevision === r2,
    );
    await waitRelease(
      OTHER.ns,
      OTHER.release,
      "2.0.0 promoted",
      (st) => st.phase === "Healthy" && st.stableRevision === o2,
    );
    await waitFor(
      `toggle ${PAY.ns}/${PAY.toggle} reconciled`,
      () => client.get<Toggle>(FeatureToggleResource, PAY.toggle, PAY.ns),
      (t) => t?.status?.specChangedAt !== undefined,
      { timeoutMs: 60_000, context },
    );

    // Only now, after promotion, does v2 start failing; the rule fires on it.
    undo.push(
      await loadAlertRules(PROMETHEUS, "e2e-incidents", [
        {
          alert: "ShopErrorRateHigh",
          expr:
            `sum by (namespace, release) (rate(http_requests_total{namespace="${PAY.ns}",code="500"}[5s]))` +
            ` / sum by (namespace, release) (rate(http_requests_total{namespace="${PAY.ns}"}[5s])) > 0.1`,
          labels: { severity: "page", crescendo_release: "{{ $labels.release }}" },
        },
      ]),
    );
    await setRevisionBehaviour(SIMULATOR, {
      namespace: PAY.ns,
      release: PAY.release,
      revision: r2,
      errorRate: 0.5,
    });

    const acted = await waitFor(
      `squad ${PAY.squad}: an incident whose revert and kill are done`,
      () => incidents(PAY.squad),
      (list) => {
        const states = list[0]?.actions.filter((a) => a.do !== "Notify").map((a) => a.state) ?? [];
        return states.length === 2 && states.every((s) => s === "Done");
      },
      { timeoutMs: 120_000, context },
    );
    const incident = acted![0]!;
    expect(incident.alertname).toBe("ShopErrorRateHigh");
    expect(incident.actions.map((a) => [a.do, a.target])).toEqual([
      ["Revert", `${PAY.ns}/${PAY.release}`],
      ["KillToggles", `${PAY.ns}/${PAY.toggle}`],
      ["Notify", undefined],
    ]);
    expect(incident.actions[0]!.result).toContain(`revision ${r1}`);
    expect(incident.suspects.map((s) => `${s.kind} ${s.name}${s.revision ? ` ${s.revision}` : ""}`)).toEqual(
      expect.arrayContaining([`Release ${PAY.release} ${r2}`, `FeatureToggle ${PAY.toggle}`]),
    );
    // The other squad's changes are no suspects of this squad's alert.
    expect(incident.suspects.every((s) => s.namespace === PAY.ns)).toBe(true);
    expect(incident.explanation.join("\n")).toContain(
      `revert Release ${PAY.ns}/${PAY.release} revision ${r2}`,
    );

    // The Release runs v1 again, by undo: the spec still says 2.0.0 (GitOps sees no drift).
    const web = await waitRelease(PAY.ns, PAY.release, "undone to v1", (st) => st.stableRevision === r1);
    expect(web.status?.override).toMatchObject({ revision: r1, specRevision: r2 });
    expect(web.spec.version).toBe("2.0.0");
    // In the squad's delivery figures v2 failed at the revert, from the alert's start, and is not
    // restored while the incident is open: no recovery is counted yet.
    const web2 = `${PAY.ns}/${PAY.release}`;
    const failed = await waitFor(
      `squad ${PAY.squad}: v2 failed in its delivery figures`,
      () => delivery(PAY.squad),
      (d) => changeOf(d, web2, r2)?.failure === "Reverted",
      { timeoutMs: 60_000, context },
    );
    expect(changeOf(failed, web2, r2)).toMatchObject({
      failureStartFrom: "Alert",
      failureStartedAt: incident.firedAt,
      revertActionId: `incident-${incident.id}`,
    });
    expect(changeOf(failed, web2, r2)?.restoredAt).toBeUndefined();
    expect(failed?.last7d).toMatchObject({ failedChanges: 1, openFailures: 1, recoveries: 0 });
    expect(failed?.totals?.recovery.count).toBe(0);

    // Another alert of the group (same alertname and namespace) reaches Alertmanager only now,
    // started between v2's promotion and the first alert: the incident's start moves back to it,
    // and so does the failure start its recovery time is measured from.
    const deployedAt = Date.parse(changeOf(failed, web2, r2)!.deployedAt!);
    const firedAt = Date.parse(incident.firedAt);
    expect(firedAt - deployedAt).toBeGreaterThan(2);
    earlier = {
      labels: {
        alertname: "ShopErrorRateHigh",
        namespace: PAY.ns,
        release: PAY.release,
        crescendo_release: PAY.release,
        severity: "page",
        instance: "late-reporter",
      },
      startsAt: new Date(Math.round((deployedAt + firedAt) / 2)).toISOString(),
    };
    await sendAlert(earlier, new Date(Date.now() + 10 * 60_000));
    const moved = await waitFor(
      `squad ${PAY.squad}: the incident's start and v2's failure start moved back`,
      () => client.get<SquadObject>(SquadResource, PAY.squad),
      (sq) =>
        sq?.status?.incidents?.[0]?.firedAt === earlier!.startsAt &&
        changeOf(sq.status.delivery, web2, r2)?.failureStartedAt === earlier!.startsAt,
      { timeoutMs: 60_000, context },
    );
    expect(moved?.status?.incidents?.[0]?.actions.filter((a) => a.do === "Revert")).toHaveLength(1);
    expect(moved?.status?.delivery?.totals).toMatchObject({ failedChanges: 1 });

    const killed = await client.get<Toggle>(FeatureToggleResource, PAY.toggle, PAY.ns);
    expect(killed?.status?.effectiveState).toBe("KilledByRollback");
    expect(killed?.status?.killedBy).toBe(`action incident-${incident.id}`);

    // The bystander squad: same window, nothing done.
    const api = await client.get<Rel>(ReleaseResource, OTHER.release, OTHER.ns);
    expect(api?.status?.stableRevision).toBe(o2);
    expect(api?.status?.override).toBeUndefined();
    const ranking = await client.get<Toggle>(FeatureToggleResource, OTHER.toggle, OTHER.ns);
    expect(ranking?.status?.effectiveState).toBe("Enabled");
    expect(await incidents(OTHER.squad)).toEqual([]);

    // Events on the Squad and the Release.
    const events = async (ns: string, name: string) =>
      (
        await client.list<KubeObject & { reason: string; regarding: { name: string } }>(EventResource, {
          namespace: ns,
        })
      ).items
        .filter((e) => e.regarding.name === name)
        .map((e) => e.reason);
    await waitFor(
      "IncidentOpened on the Squad and IncidentRevert on the Release",
      async () => [...(await events("default", PAY.squad)), ...(await events(PAY.ns, PAY.release))],
      (reasons) => reasons.includes("IncidentOpened") && reasons.includes("IncidentRevert"),
      { timeoutMs: 30_000, context },
    );
  });

  it("refuses an unauthenticated POST with 401 and changes nothing", async () => {
    const before = JSON.stringify(await incidents(OTHER.squad));
    const apiBefore = (await client.get<Rel>(ReleaseResource, OTHER.release, OTHER.ns))?.metadata.annotations;
    const payload = {
      version: "4",
      groupKey: '{}:{alertname="Forged"}',
      status: "firing",
      alerts: [
        {
          status: "firing",
          labels: { alertname: "Forged", namespace: OTHER.ns, severity: "page" },
          startsAt: new Date().toISOString(),
          fingerprint: "0000000000000000",
        },
      ],
    };
    const attempts: Record<string, string>[] = [{}, { Authorization: "Bearer not-the-token" }];
    for (const headers of attempts) {
      const res = await fetch(chain!.receiverUrl, {
        method: "POST",
        headers: { "Content-Type": "application/json", ...headers },
        body: JSON.stringify(payload),
      });
      expect(res.status).toBe(401);
    }
    await new Promise((r) => setTimeout(r, 2000));
    expect(JSON.stringify(await incidents(OTHER.squad))).toBe(before);
    expect((await client.get<Rel>(ReleaseResource, OTHER.release, OTHER.ns))?.metadata.annotations).toEqual(
      apiBefore,
    );
  });

  it("records the resolution, and kubectl crescendo incidents shows the timeline", async () => {
    // The revert took v2 off production; the simulator stands in for its traffic, so calm it.
    await setRevisionBehaviour(SIMULATOR, {
      namespace: PAY.ns,
      release: PAY.release,
      revision: r2,
      errorRate: 0,
    });
    if (earlier) await sendAlert(earlier, new Date());
    const resolved = await waitFor(
      `squad ${PAY.squad}: the incident resolved`,
      () => incidents(PAY.squad),
      (list) => list[0]?.resolvedAt !== undefined,
      { timeoutMs: 120_000, context },
    );
    const incident = resolved![0]!;
    expect(incident.firedAt).toBe(earlier?.startsAt);
    expect(incident.recoverySeconds).toBeGreaterThanOrEqual(0);
    expect(Date.parse(incident.resolvedAt!)).toBeGreaterThan(Date.parse(incident.firedAt));
    expect(incident.actions.filter((a) => a.do === "Revert")).toHaveLength(1);

    // The reverted change is restored at the incident's resolution: its recovery time is the
    // incident's, alert start to resolved.
    const web2 = `${PAY.ns}/${PAY.release}`;
    const restored = await waitFor(
      `squad ${PAY.squad}: v2 restored in its delivery figures`,
      () => delivery(PAY.squad),
      (d) => changeOf(d, web2, r2)?.restoredAt !== undefined,
      { timeoutMs: 60_000, context },
    );
    const change = changeOf(restored, web2, r2)!;
    expect(change).toMatchObject({
      failure: "Reverted",
      failureStartFrom: "Alert",
      failureStartedAt: incident.firedAt,
      restoredAt: incident.resolvedAt,
      restoredFrom: "IncidentResolved",
    });
    const seconds = Math.round(
      (Date.parse(change.restoredAt!) - Date.parse(change.failureStartedAt!)) / 1000,
    );
    expect(seconds).toBe(incident.recoverySeconds);
    expect(restored?.last7d).toMatchObject({
      failedChanges: 1,
      openFailures: 0,
      recoveries: 1,
      failedDeploymentRecoveryTimeSeconds: incident.recoverySeconds,
    });
    expect(restored?.totals?.recovery).toMatchObject({ count: 1, sumSeconds: incident.recoverySeconds });
    // The operator's histogram observed it, once.
    const recovery = "crescendo_delivery_failed_deployment_recovery_time_seconds";
    const metrics = await waitFor(
      `the operator's ${recovery} for squad ${PAY.squad}`,
      () => chain!.operator.metrics(),
      (t) => metricValue(t, `${recovery}_count`, { squad: PAY.squad }) === 1,
      { timeoutMs: 30_000, context },
    );
    expect(metricValue(metrics, `${recovery}_sum`, { squad: PAY.squad })).toBe(incident.recoverySeconds);

    const text = await plugin(["incidents", PAY.squad]);
    expect(text).toContain(`Incident ${incident.id} (ShopErrorRateHigh)`);
    for (const line of [
      `Release ${PAY.ns}/${PAY.release} revision ${r2} promoted (suspect)`,
      "alert fired: ShopErrorRateHigh",
      `Revert ${PAY.ns}/${PAY.release}: Done`,
      `KillToggles ${PAY.ns}/${PAY.toggle}: Done`,
      "resolved,",
    ]) {
      expect(text).toContain(line);
    }
    expect(text.indexOf("alert fired")).toBeLessThan(text.indexOf(`Revert ${PAY.ns}/${PAY.release}`));
    expect(text.indexOf(`Revert ${PAY.ns}/${PAY.release}`)).toBeLessThan(text.indexOf("resolved,"));
  });
});
