/**
 * The Alertmanager receiver under hostile or mistaken input, against the real apiserver and the
 * operator from its entry point: what a token holder sends wrong (a time the apiserver cannot
 * store, another squad's namespace, a Release of another namespace) is refused or recorded
 * without acting outside the alert's squad; a second alert after an incident's revert does not
 * revert the revert; a token file missing at start stops the operator with a message naming it.
 * (The happy path, with Prometheus and Alertmanager, is e2e/incidents.test.ts.)
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { operatorArgs } from "../hack/local-env.js";
import type { IncidentRecord } from "../operator/src/api/incident.js";
import { ReleaseResource, SquadResource } from "../operator/src/api/kinds.js";
import type { ReleaseStatus } from "../operator/src/api/release.js";
import { revisionOf } from "../operator/src/controllers/release/revision.js";
import type { KubeClient } from "../operator/src/runtime/client.js";
import type { KubeObject } from "../operator/src/runtime/types.js";
import {
  applyIncidentSquads,
  startReceiverOperator,
  type ReceiverOperator,
} from "./support/incident-receiver.js";
import { kubeconfigPath, testClient, waitFor } from "./support/kube.js";
import { freePort } from "./support/operator.js";

const FIELD_MANAGER = "e2e-incident-hostile";
/** The squad an alert is about, and a neighbour whose objects no alert of the first may reach. */
const MINE = { squad: "ih-mine", ns: "ih-mine" };
const NEIGHBOUR = { squad: "ih-neighbour", ns: "ih-neighbour" };
const POLICY = { correlationWindow: "30m", actions: [{ match: { labels: {} }, do: "Revert" }] };

let client: KubeClient;
let receiver: ReceiverOperator;

type Rel = KubeObject & { status?: ReleaseStatus };
type SquadObject = KubeObject & { status?: { incidents?: IncidentRecord[] } };

const template = (version: string) => ({
  metadata: { labels: { app: "web" } },
  spec: { containers: [{ name: "web", image: `registry.example.com/web:${version}` }] },
});
const context = () => receiver.operator.tail(40);

async function applyRelease(ns: string, version: string): Promise<void> {
  await client.apply(
    {
      apiVersion: "crescendo.dev/v1alpha1",
      kind: "Release",
      metadata: { name: "web", namespace: ns },
      spec: {
        version,
        replicas: 1,
        template: template(version),
        strategy: { canary: { steps: [{ setWeight: 50 }] } },
      },
    },
    ReleaseResource,
    { fieldManager: FIELD_MANAGER, force: true },
  );
}

const release = (ns: string) => client.get<Rel>(ReleaseResource, "web", ns);
const incidents = async (squad: string) =>
  (await client.get<SquadObject>(SquadResource, squad))?.status?.incidents ?? [];

/** One alert in a group, as Alertmanager's webhook (version 4) sends it. */
function notification(groupKey: string, labels: Record<string, string>, startsAt: string): unknown {
  return {
    version: "4",
    groupKey,
    status: "firing",
    receiver: "crescendo",
    alerts: [{ status: "firing", labels, startsAt, endsAt: "0001-01-01T00:00:00Z", fingerprint: "f0" }],
  };
}

async function post(body: unknown, token = receiver.token): Promise<{ status: number; body: string }> {
  const res = await fetch(receiver.url, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.status, body: await res.text() };
}

beforeAll(async () => {
  client = testClient();
  receiver = await startReceiverOperator("incident-hostile");
  await applyIncidentSquads(client, [MINE, NEIGHBOUR], POLICY, FIELD_MANAGER, context);
  // Each squad promotes 2.0.0 over 1.0.0: both are suspects of any alert of their squad.
  for (const s of [MINE, NEIGHBOUR]) await applyRelease(s.ns, "1.0.0");
  for (const s of [MINE, NEIGHBOUR]) {
    await waitFor(
      `${s.ns}/web Healthy at 1.0.0`,
      () => release(s.ns),
      (r) => r?.status?.phase === "Healthy",
      {
        timeoutMs: 90_000,
        context,
      },
    );
  }
  for (const s of [MINE, NEIGHBOUR]) await applyRelease(s.ns, "2.0.0");
  const r2 = revisionOf(template("2.0.0"));
  for (const s of [MINE, NEIGHBOUR]) {
    await waitFor(
      `${s.ns}/web promoted to 2.0.0`,
      () => release(s.ns),
      (r) => r?.status?.phase === "Healthy" && r.status.stableRevision === r2,
      { timeoutMs: 90_000, context },
    );
  }
  await new Promise((r) => setTimeout(r, 1_500));
}, 240_000);

afterAll(async () => {
  await receiver?.stop();
  for (const s of [MINE, NEIGHBOUR]) await client?.delete(SquadResource, s.squad).catch(() => undefined);
  client?.close();
});

describe("the Alertmanager receiver, fed hostile or mistaken payloads", () => {
  const r1 = revisionOf(template("1.0.0"));
  const r2 = revisionOf(template("2.0.0"));
  // Alerts start now: after the promotions (beforeAll waits a moment past them), so those are
  // in every alert's window.
  const now = () => new Date().toISOString();

  it("refuses a wrong token, non-JSON, and times the apiserver could not store, with 4xx and nothing changed", async () => {
    const before = JSON.stringify(await incidents(MINE.squad));
    const labels = { alertname: "Hostile", namespace: MINE.ns };
    const wrong = await post(notification("h0", labels, now()), "not-the-token");
    expect(wrong.status).toBe(401);
    expect((await post("{not json")).status).toBe(400);
    // Date.parse reads each; the Squad status write would be refused: a 500 Alertmanager
    // retries for ever, after the actions were written.
    for (const startsAt of ["-271821-04-20T00:00:00Z", "+275760-09-13T00:00:00.000Z", "1", "March 7"]) {
      const res = await post(notification(`h-${startsAt}`, labels, startsAt));
      expect(res.status, startsAt).toBe(400);
      expect(JSON.parse(res.body)).toEqual({
        error:
          "not an Alertmanager webhook message (version 4): alerts.0.startsAt: must be an RFC 3339 time such as 2030-01-01T03:00:00Z",
      });
    }
    expect(JSON.stringify(await incidents(MINE.squad))).toBe(before);
    expect((await release(MINE.ns))?.status?.stableRevision).toBe(r2);
  });

  it("never acts on another squad: a squad label that disagrees, a Release named in another namespace", async () => {
    const disagree = await post(
      notification("h1", { alertname: "Mislabelled", namespace: NEIGHBOUR.ns, squad: MINE.squad }, now()),
    );
    expect(disagree.status).toBe(200);
    expect(JSON.parse(disagree.body)).toEqual({
      incidents: [],
      unscoped: [
        {
          alert: "Mislabelled (f0)",
          why: `its squad label says ${MINE.squad}, but namespace ${NEIGHBOUR.ns} belongs to ${NEIGHBOUR.squad}: not acted on`,
        },
      ],
    });
    // MINE's namespace has no Release "api"; the neighbour's "web" is out of the alert's scope.
    const elsewhere = await post(
      notification("h2", { alertname: "OtherRelease", namespace: MINE.ns, crescendo_release: "api" }, now()),
    );
    expect(elsewhere.status).toBe(200);
    expect(JSON.parse(elsewhere.body)).toMatchObject({ incidents: [{ squad: MINE.squad, actions: [] }] });
    expect(await incidents(NEIGHBOUR.squad)).toEqual([]);
    for (const s of [MINE, NEIGHBOUR]) {
      const r = await release(s.ns);
      expect(r?.status?.stableRevision, s.ns).toBe(r2);
      expect(r?.metadata.annotations?.["crescendo.dev/action"], s.ns).toBeUndefined();
    }
  });

  it("reverts once, and a second alert group after the revert does not bring the bad revision back", async () => {
    const first = await post(notification("h3", { alertname: "ErrorRateHigh", namespace: MINE.ns }, now()));
    expect(first.status).toBe(200);
    expect(JSON.parse(first.body)).toMatchObject({
      incidents: [{ actions: [`undo Release ${MINE.ns}/web`] }],
    });
    await waitFor(
      `${MINE.ns}/web undone to 1.0.0`,
      () => release(MINE.ns),
      (r) => r?.status?.stableRevision === r1 && r.status.override?.revision === r1,
      { timeoutMs: 60_000, context },
    );

    // Another group (another alertname) that started after the revert: the undo is the most
    // recent Release change in its window, and reverting it would redeploy 2.0.0.
    await new Promise((r) => setTimeout(r, 1_500)); // so the undo is before the alert's start
    const second = await post(
      notification("h4", { alertname: "LatencyHigh", namespace: MINE.ns }, new Date().toISOString()),
    );
    expect(second.status).toBe(200);
    expect(JSON.parse(second.body)).toMatchObject({ incidents: [{ actions: [] }] });
    const record = (await incidents(MINE.squad)).find((i) => i.alertname === "LatencyHigh");
    expect(record?.actions[0]).toMatchObject({ do: "Revert", state: "NotDone" });
    expect(record?.explanation.join("\n")).toContain("an undo is never reverted");
    await new Promise((r) => setTimeout(r, 3_000));
    const web = await release(MINE.ns);
    expect(web?.status?.stableRevision).toBe(r1);
    const firstId = (JSON.parse(first.body) as { incidents: { id: string }[] }).incidents[0]?.id;
    expect(web?.status?.lastAction?.id).toBe(`incident-${firstId}`);
  });

  it("leaves the operator running and ready", async () => {
    expect(receiver.operator.child.exitCode).toBeNull();
    expect((await fetch(`http://127.0.0.1:${receiver.operator.healthPort}/readyz`)).status).toBe(200);
  });
});

describe("a token file missing at start", () => {
  it("stops the operator with a message naming the file and its flag", async () => {
    const missing = join(receiver.dir, "not-mounted");
    const child = spawn(
      process.execPath,
      operatorArgs({
        healthPort: await freePort(),
        ofrepPort: await freePort(),
        args: ["--incident-port", String(await freePort()), "--incident-token-file", missing],
      }),
      { env: { ...process.env, KUBECONFIG: kubeconfigPath() }, stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    expect(code).toBe(1);
    expect(out).toContain(
      `incident token file ${missing} (--incident-token-file) cannot be read: no such file`,
    );
  }, 60_000);
});
