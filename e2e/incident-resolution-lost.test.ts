/**
 * An alert whose resolved notification never reached Crescendo (the receiver down when it was
 * sent, Alertmanager giving up, `send_resolved: false`) and that fires again later, against the
 * real apiserver and the operator from its entry point serving its receiver. The payloads are
 * Alertmanager's webhook (version 4) as it sends them: the same group key and fingerprint every
 * time the alert fires, `startsAt` the same across repeats of one firing and later once it fires
 * anew (Alertmanager merges a repeat into the stored alert, keeping the earliest start, and stores
 * an alert that fires after it ended as a new one). Posted directly, since making the real
 * Alertmanager lose a resolution on purpose would need the receiver down at the right second.
 *
 * The first firing is an incident and reverts its Release; no resolution arrives; the alert fires
 * again after Git promoted another change: the first incident is closed as resolved by then at
 * the latest (inferred, no recovery time), a second incident reverts the new change, and the
 * first change's recovery time in the squad's delivery figures ends at its revert, not at the
 * second firing. Repeats and a late copy of the first firing change nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ChangeRecord } from "../operator/src/api/delivery.js";
import type { IncidentRecord } from "../operator/src/api/incident.js";
import { ReleaseResource, SquadResource } from "../operator/src/api/kinds.js";
import type { ReleaseStatus } from "../operator/src/api/release.js";
import type { SquadStatus } from "../operator/src/api/squad.js";
import { revisionOf } from "../operator/src/controllers/release/revision.js";
import type { KubeClient } from "../operator/src/runtime/client.js";
import type { KubeObject } from "../operator/src/runtime/types.js";
import {
  applyIncidentSquads,
  startReceiverOperator,
  type ReceiverOperator,
} from "./support/incident-receiver.js";
import { testClient, waitFor } from "./support/kube.js";

const FIELD_MANAGER = "e2e-incident-resolution-lost";
const MINE = { squad: "lost-pay", ns: "lost-shop" };
const POLICY = { correlationWindow: "30m", actions: [{ match: { labels: {} }, do: "Revert" }] };
const GROUP = '{}/{severity="critical"}:{alertname="CheckoutFailing", namespace="lost-shop"}';
const LABELS = { alertname: "CheckoutFailing", namespace: MINE.ns, severity: "critical" };
/** Alertmanager's fingerprint of LABELS: a hash of the label set, the same on every firing. */
const FINGERPRINT = "9c2d4e6f8a0b1c3d";

let client: KubeClient;
let receiver: ReceiverOperator;

type Rel = KubeObject & { status?: ReleaseStatus };
type SquadObject = KubeObject & {
  status?: { incidents?: IncidentRecord[]; delivery?: SquadStatus["delivery"] };
};

const template = (version: string) => ({
  metadata: { labels: { app: "web" } },
  spec: { containers: [{ name: "web", image: `registry.example.com/web:${version}` }] },
});
const r1 = revisionOf(template("1.0.0"));
const r2 = revisionOf(template("2.0.0"));
const r3 = revisionOf(template("3.0.0"));
const context = () => receiver.operator.tail(40);

async function applyRelease(version: string): Promise<void> {
  await client.apply(
    {
      apiVersion: "crescendo.dev/v1alpha1",
      kind: "Release",
      metadata: { name: "web", namespace: MINE.ns },
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

const release = () => client.get<Rel>(ReleaseResource, "web", MINE.ns);
const squad = () => client.get<SquadObject>(SquadResource, MINE.squad);
const incidents = async () => (await squad())?.status?.incidents ?? [];
const changeOf = (d: SquadStatus["delivery"] | undefined, revision: string): ChangeRecord | undefined =>
  d?.changes?.find((c) => c.release === `${MINE.ns}/web` && c.revision === revision);

/** The group as Alertmanager's webhook sends it: one alert, firing or resolved. */
function notification(startsAt: string, resolvedAt?: string): unknown {
  const status = resolvedAt === undefined ? "firing" : "resolved";
  return {
    version: "4",
    groupKey: GROUP,
    truncatedAlerts: 0,
    status,
    receiver: "crescendo",
    groupLabels: { alertname: LABELS.alertname, namespace: MINE.ns },
    commonLabels: LABELS,
    commonAnnotations: {},
    externalURL: "http://alertmanager.example:9093",
    alerts: [
      {
        status,
        labels: LABELS,
        annotations: {},
        startsAt,
        // Alertmanager sends the zero time for an alert still firing.
        endsAt: resolvedAt ?? "0001-01-01T00:00:00Z",
        generatorURL: "http://prometheus.example:9090/graph",
        fingerprint: FINGERPRINT,
      },
    ],
  };
}

interface Answer {
  incidents: { squad: string; id: string; actions: string[] }[];
}

async function post(body: unknown): Promise<Answer> {
  const res = await fetch(receiver.url, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${receiver.token}` },
    body: JSON.stringify(body),
  });
  expect(res.status, await context()).toBe(200);
  return (await res.json()) as Answer;
}

async function promote(version: string, revision: string): Promise<void> {
  await applyRelease(version);
  await waitFor(
    `${MINE.ns}/web Healthy at ${version}`,
    release,
    (r) => r?.status?.phase === "Healthy" && r.status.stableRevision === revision,
    { timeoutMs: 90_000, context },
  );
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  client = testClient();
  receiver = await startReceiverOperator("incident-resolution-lost");
  await applyIncidentSquads(client, [MINE], POLICY, FIELD_MANAGER, context);
  await promote("1.0.0", r1);
  await promote("2.0.0", r2);
  // So the promotion is before the alert's start, in its window.
  await pause(1_500);
}, 240_000);

afterAll(async () => {
  await receiver?.stop();
  await client?.delete(SquadResource, MINE.squad).catch(() => undefined);
  client?.close();
});

describe("an alert firing again after its resolved notification was lost", () => {
  let firstStart = "";
  let first: IncidentRecord | undefined;

  it("the first firing is an incident and reverts the change", async () => {
    firstStart = new Date().toISOString();
    const answer = await post(notification(firstStart));
    expect(answer.incidents).toEqual([
      { squad: MINE.squad, id: expect.any(String), actions: [`undo Release ${MINE.ns}/web`] },
    ]);
    await waitFor(
      `${MINE.ns}/web undone to 1.0.0`,
      release,
      (r) => r?.status?.stableRevision === r1 && r.status.override?.revision === r1,
      { timeoutMs: 60_000, context },
    );
    const failed = await waitFor(
      `squad ${MINE.squad}: 2.0.0 failed, open while its incident is`,
      async () => (await squad())?.status?.delivery,
      (d) => changeOf(d, r2)?.failure === "Reverted",
      { timeoutMs: 60_000, context },
    );
    expect(changeOf(failed, r2)?.restoredAt).toBeUndefined();
    [first] = await incidents();
    expect(first).toMatchObject({
      id: answer.incidents[0]!.id,
      firedAt: firstStart,
      alertStarts: [{ alert: FINGERPRINT, startsAt: firstStart }],
    });
    expect(first?.resolvedAt).toBeUndefined();
  });

  it("Alertmanager's repeats of that firing (repeat_interval, a retry) change nothing", async () => {
    const before = JSON.stringify(await incidents());
    const answer = await post(notification(firstStart));
    expect(answer.incidents).toEqual([{ squad: MINE.squad, id: first!.id, actions: [] }]);
    expect(JSON.stringify(await incidents())).toBe(before);
  });

  it("no resolution arrives; Git promotes 3.0.0; the alert fires again with a new startsAt: a second incident reverts it", async () => {
    // Git's next change ends the override (docs/undo.md) and rolls out 3.0.0.
    await promote("3.0.0", r3);
    await pause(1_500);
    const secondStart = new Date().toISOString();
    const answer = await post(notification(secondStart));
    expect(answer.incidents).toHaveLength(1);
    const second = answer.incidents[0]!;
    expect(second.id).not.toBe(first!.id);
    expect(second.id.startsWith(`${first!.id}-`)).toBe(true);
    expect(second.actions).toEqual([`undo Release ${MINE.ns}/web`]);

    const web = await waitFor(
      `${MINE.ns}/web: 3.0.0 undone by the second incident`,
      release,
      (r) => r?.status?.lastAction?.id === `incident-${second.id}` && r.status.stableRevision !== r3,
      { timeoutMs: 60_000, context },
    );
    // Back to 1.0.0, the revision 3.0.0 replaced: not 2.0.0, the Release's most recent previous
    // ControllerRevision, which the first incident took away.
    expect(web?.status?.stableRevision).toBe(r1);
    expect(web?.status?.override?.revision).toBe(r1);

    // The Squad controller settles the action from the Release's lastAction.
    const [now, closed] = (await waitFor(
      `squad ${MINE.squad}: the second incident's Revert settled`,
      incidents,
      (list) => list[0]?.id === second.id && list[0].actions[0]?.state === "Done",
      { timeoutMs: 60_000, context },
    ))!;
    expect(now).toMatchObject({ id: second.id, firedAt: secondStart });
    expect(now?.resolvedAt).toBeUndefined();
    expect(now?.explanation[0]).toContain(`while incident ${first!.id} of the same group was open`);
    expect(now?.actions[0]).toMatchObject({ do: "Revert", target: `${MINE.ns}/web` });
    // The first: resolved by the second start at the latest, inferred, no recovery time claimed.
    expect(closed).toMatchObject({ id: first!.id, resolvedAt: secondStart, resolvedFrom: "FiredAgain" });
    expect(closed?.recoverySeconds).toBeUndefined();
    expect(closed?.actions).toEqual(
      expect.arrayContaining([expect.objectContaining({ do: "Revert", actionId: `incident-${first!.id}` })]),
    );

    // 2.0.0's recovery ends at its revert, not at the second firing: the span to that is not a
    // recovery time.
    const restored = await waitFor(
      `squad ${MINE.squad}: 2.0.0 restored in its delivery figures`,
      async () => (await squad())?.status?.delivery,
      (d) => changeOf(d, r2)?.restoredAt !== undefined,
      { timeoutMs: 60_000, context },
    );
    const change = changeOf(restored, r2)!;
    expect(change).toMatchObject({
      failure: "Reverted",
      failureStartedAt: firstStart,
      restoredFrom: "Revert",
      restoredAt: change.revertedAt ?? change.failedAt,
    });
    expect(Date.parse(change.restoredAt!)).toBeLessThan(Date.parse(secondStart));
  });

  it("repeats of the second firing and a late copy of the first change nothing", async () => {
    const list = await incidents();
    const before = JSON.stringify(list);
    const secondStart = list[0]!.firedAt;
    const repeat = await post(notification(secondStart));
    expect(repeat.incidents).toEqual([{ squad: MINE.squad, id: list[0]!.id, actions: [] }]);
    // Out of order: the first firing's payload (and its resolution, sent at last) after the second.
    for (const late of [notification(firstStart), notification(firstStart, secondStart)]) {
      const answer = await post(late);
      expect(answer.incidents[0]?.actions).toEqual([]);
    }
    await pause(1_000);
    expect(JSON.stringify(await incidents())).toBe(before);
    expect(receiver.operator.child.exitCode).toBeNull();
  });
});
