/**
 * A change an incident reverted is restored when its incident resolves: alert start to resolved
 * is its failed deployment recovery time, counted once, with defined fallbacks when the incident
 * never says so.
 */
import { describe, expect, it } from "vitest";
import type { ChangeRecord } from "../api/delivery.js";
import type { IncidentRecord } from "../api/incident.js";
import type { HistoryEntry } from "../api/release.js";
import { incidentActionId } from "../incidents/plan.js";
import { deriveChanges, type ReleaseHistory } from "./changes.js";
import { deliveryWindow } from "./figures.js";
import {
  INCIDENT_RESOLUTION_WAIT_MS,
  nextResolutionDeadlineMs,
  restoreByIncident,
} from "./incident-recovery.js";
import { foldLedger, recoverySeconds, type Ledger } from "./ledger.js";
import { deliveryRequeueMs, squadDelivery } from "./squad-delivery.js";

const T0 = Date.parse("2030-01-01T00:00:00.000Z");
const MIN = 60_000;
const HOUR = 60 * MIN;
const iso = (ms: number) => new Date(ms).toISOString();

const ID = "3f2a9c0d1e4b5a67";
const ACTION = incidentActionId(ID);
/** r2 promoted at T0 + 1 h; its error rate pages at T0 + 90 min; the incident's undo at T0 + 91 min. */
const DEPLOYED = T0 + HOUR;
const FIRED = T0 + 90 * MIN;
const REVERTED = T0 + 91 * MIN;

function undone(extra: Partial<HistoryEntry> = {}): HistoryEntry {
  return {
    revision: "r1",
    version: "1",
    startedAt: iso(REVERTED),
    finishedAt: iso(REVERTED),
    outcome: "Promoted",
    reason: "Undone",
    replacedRevision: "r2",
    failureStartedAt: iso(FIRED),
    actionId: ACTION,
    ...extra,
  };
}

function web(undo: HistoryEntry | undefined = undone()): ReleaseHistory {
  return {
    release: "shop/web",
    status: {
      history: [
        ...(undo ? [undo] : []),
        {
          revision: "r2",
          version: "2",
          startedAt: iso(DEPLOYED - 10 * MIN),
          finishedAt: iso(DEPLOYED),
          outcome: "Promoted",
          reason: "Completed",
          replacedRevision: "r1",
        },
      ],
    },
  };
}

function incident(resolvedAt?: number, actions?: IncidentRecord["actions"]): IncidentRecord {
  return {
    id: ID,
    groupKey: '{}:{alertname="ShopErrorRateHigh"}',
    alertname: "ShopErrorRateHigh",
    firedAt: iso(FIRED),
    receivedAt: iso(FIRED + 20_000),
    alerts: ["ShopErrorRateHigh (c0ffee)"],
    suspects: [{ kind: "Release", namespace: "shop", name: "web", revision: "r2", at: iso(DEPLOYED) }],
    actions: actions ?? [
      {
        do: "Revert",
        target: "shop/web",
        actionId: ACTION,
        at: iso(FIRED + 20_000),
        state: "Done",
        result: "returned to 1 (revision r1)",
      },
    ],
    explanation: [],
    ...(resolvedAt === undefined
      ? {}
      : { resolvedAt: iso(resolvedAt), recoverySeconds: Math.round((resolvedAt - FIRED) / 1000) }),
  };
}

const r2 = (records: readonly ChangeRecord[]) => records.find((r) => r.revision === "r2");

describe("an incident's revert, read from the Release's history", () => {
  it("fails the change from the alert's start and leaves it open, linked to the incident's undo", () => {
    const change = r2(deriveChanges(web(), []));
    expect(change).toMatchObject({
      failure: "Reverted",
      failedAt: iso(REVERTED),
      failureStartedAt: iso(FIRED),
      failureStartFrom: "Alert",
      revertActionId: ACTION,
    });
    expect(change?.restoredAt).toBeUndefined();
  });

  it("a person's undo (no alert start) and an entry written before action ids are restored by the revert", () => {
    const { failureStartedAt: _alert, ...personal } = undone({ actionId: "kubectl-1" });
    void _alert;
    const { actionId: _id, ...older } = undone();
    void _id;
    for (const entry of [personal, older]) {
      const change = r2(deriveChanges(web(entry), []));
      expect(change).toMatchObject({ failure: "Reverted", restoredAt: iso(REVERTED) });
      expect(change).not.toHaveProperty("revertActionId");
    }
  });
});

describe("restoreByIncident", () => {
  const open = () => r2(deriveChanges(web(), []))!;

  it("restores at the incident's resolution: alert start to resolved, as the incident's recoverySeconds", () => {
    const resolved = T0 + 95 * MIN;
    const restored = restoreByIncident(open(), [incident(resolved)], resolved + MIN);
    expect(restored).toMatchObject({ restoredAt: iso(resolved), restoredFrom: "IncidentResolved" });
    expect((Date.parse(restored.restoredAt!) - Date.parse(restored.failureStartedAt!)) / 1000).toBe(
      incident(resolved).recoverySeconds,
    );
  });

  it("stays open while the incident is open, until the wait ends; then the revert restored it", () => {
    const change = open();
    expect(restoreByIncident(change, [incident()], REVERTED + HOUR)).toBe(change);
    expect(restoreByIncident(change, [incident()], REVERTED + INCIDENT_RESOLUTION_WAIT_MS - 1)).toBe(change);
    expect(restoreByIncident(change, [incident()], REVERTED + INCIDENT_RESOLUTION_WAIT_MS)).toMatchObject({
      restoredAt: iso(REVERTED),
      restoredFrom: "Revert",
    });
  });

  it("an incident record that is gone (the bounded list evicted it) waits the same, never less", () => {
    const change = open();
    // The receiver writes the undo before the record: a missing record may also be one not written yet.
    expect(restoreByIncident(change, [], REVERTED + MIN)).toBe(change);
    expect(restoreByIncident(change, [], REVERTED + INCIDENT_RESOLUTION_WAIT_MS)).toMatchObject({
      restoredAt: iso(REVERTED),
      restoredFrom: "Revert",
    });
  });

  it("an incident resolved before its revert took effect: the failing revision served until the revert", () => {
    const restored = restoreByIncident(open(), [incident(FIRED + 30_000)], REVERTED + MIN);
    expect(restored).toMatchObject({ restoredAt: iso(REVERTED), restoredFrom: "Revert" });
  });

  it("an inferred resolution (the alert fired again, none received): the revert restored it, at once", () => {
    // resolvedAt is only an upper bound (the next firing's start, here a day later): not a recovery time.
    const inferred: IncidentRecord = {
      ...incident(),
      resolvedAt: iso(FIRED + 24 * HOUR),
      resolvedFrom: "FiredAgain",
    };
    const restored = restoreByIncident(open(), [inferred], FIRED + 24 * HOUR + MIN);
    expect(restored).toMatchObject({ restoredAt: iso(REVERTED), restoredFrom: "Revert" });
    expect(Date.parse(restored.restoredAt!) - Date.parse(restored.failureStartedAt!)).toBe(REVERTED - FIRED);
    // Not held for the 24 hours a missing resolution waits: it is known to have happened.
    const soon: IncidentRecord = {
      ...incident(),
      resolvedAt: iso(REVERTED + 10 * MIN),
      resolvedFrom: "FiredAgain",
    };
    expect(restoreByIncident(open(), [soon], REVERTED + 11 * MIN)).toMatchObject({
      restoredAt: iso(REVERTED),
      restoredFrom: "Revert",
    });
  });

  it("links by the undo's action id and the Release it targeted, not by anything else", () => {
    const change = open();
    const revert = incident(T0 + 95 * MIN).actions[0]!;
    const others = [
      incident(T0 + 95 * MIN, [{ ...revert, actionId: incidentActionId("another") }]),
      incident(T0 + 95 * MIN, [{ ...revert, target: "shop/api" }]),
      incident(T0 + 95 * MIN, [{ ...revert, do: "KillToggles", target: "shop/web" }]),
    ];
    expect(restoreByIncident(change, others, REVERTED + HOUR)).toBe(change);
  });

  it("leaves every other record alone, and a restore once made is never moved", () => {
    const plain = r2(deriveChanges(web(undone({ failureStartedAt: undefined })), []))!;
    expect(restoreByIncident(plain, [incident(T0 + 95 * MIN)], REVERTED + HOUR)).toBe(plain);
    const restored = restoreByIncident(open(), [incident(T0 + 95 * MIN)], REVERTED + HOUR);
    expect(restoreByIncident(restored, [incident(T0 + 2 * HOUR)], REVERTED + 2 * HOUR)).toBe(restored);
  });

  it("says when the Squad must look again for a change still waiting", () => {
    const change = open();
    expect(nextResolutionDeadlineMs([change], REVERTED + HOUR)).toBe(INCIDENT_RESOLUTION_WAIT_MS - HOUR + 1);
    const restored = restoreByIncident(change, [incident(T0 + 95 * MIN)], REVERTED + HOUR);
    expect(nextResolutionDeadlineMs([restored], REVERTED + HOUR)).toBeUndefined();
  });
});

describe("the failure start follows the incident's firedAt", () => {
  const open = () => r2(deriveChanges(web(), []))!;
  /** The incident after an alert of its group arrived with an earlier start. */
  const movedTo = (firedAt: number, resolvedAt?: number): IncidentRecord => {
    const i = incident(resolvedAt);
    return {
      ...i,
      firedAt: iso(firedAt),
      ...(resolvedAt === undefined ? {} : { recoverySeconds: Math.round((resolvedAt - firedAt) / 1000) }),
    };
  };

  it("moves back with it while the change is open, and keeps recovery = the incident's recoverySeconds", () => {
    const earlier = FIRED - 5 * MIN;
    const waiting = restoreByIncident(open(), [movedTo(earlier)], REVERTED + MIN);
    expect(waiting).toMatchObject({ failureStartedAt: iso(earlier), failureStartFrom: "Alert" });
    expect(waiting.restoredAt).toBeUndefined();
    const resolved = T0 + 2 * HOUR;
    const restored = restoreByIncident(waiting, [movedTo(earlier, resolved)], resolved + MIN);
    expect(recoverySeconds(restored)).toBe(movedTo(earlier, resolved).recoverySeconds);
    // Moved and resolved in the same look: the same.
    const atOnce = restoreByIncident(open(), [movedTo(earlier, resolved)], resolved + MIN);
    expect(atOnce).toEqual(restored);
  });

  it("never before the change's deployment: from there (Traffic), whatever order the alerts came in", () => {
    const before = DEPLOYED - 10 * MIN;
    const moved = restoreByIncident(open(), [movedTo(before)], REVERTED + MIN);
    expect(moved).toMatchObject({ failureStartedAt: iso(DEPLOYED), failureStartFrom: "Traffic" });
    // The same as an undo that carried that start from the first: the order of arrival changes nothing.
    const direct = r2(deriveChanges(web(undone({ failureStartedAt: iso(before) })), []))!;
    expect(moved.failureStartedAt).toBe(direct.failureStartedAt);
    expect(moved.failureStartFrom).toBe(direct.failureStartFrom);
  });

  it("never forward, and not once restored (a recovery counted is never moved)", () => {
    const change = open();
    expect(restoreByIncident(change, [movedTo(FIRED + 30_000)], REVERTED + MIN)).toBe(change);
    const resolved = T0 + 2 * HOUR;
    const restored = restoreByIncident(change, [incident(resolved)], resolved + MIN);
    expect(restoreByIncident(restored, [movedTo(FIRED - 5 * MIN, resolved)], resolved + HOUR)).toBe(restored);
  });

  it("an incident resolved before the revert took effect: from the moved start to the revert", () => {
    const earlier = FIRED - 2 * MIN;
    const restored = restoreByIncident(open(), [movedTo(earlier, FIRED + 30_000)], REVERTED + MIN);
    expect(restored).toMatchObject({
      failureStartedAt: iso(earlier),
      restoredAt: iso(REVERTED),
      restoredFrom: "Revert",
    });
  });

  it("is kept in the ledger across restarts and folds that do not see the incident, and counted once", () => {
    const earlier = FIRED - 5 * MIN;
    const resolved = T0 + 2 * HOUR;
    let ledger = foldLedger(undefined, [web()], REVERTED + MIN, undefined, [incident()]);
    expect(r2(ledger.records)?.failureStartedAt).toBe(iso(FIRED));
    ledger = foldLedger(ledger, [web()], REVERTED + 2 * MIN, undefined, [movedTo(earlier)]);
    expect(r2(ledger.records)?.failureStartedAt).toBe(iso(earlier));
    // A restarted operator reads the status; a fold before its incidents are read moves nothing back.
    const restarted = JSON.parse(JSON.stringify(ledger)) as Ledger;
    ledger = foldLedger(restarted, [web()], REVERTED + 3 * MIN, undefined, []);
    expect(r2(ledger.records)).toMatchObject({ failureStartedAt: iso(earlier), failureStartFrom: "Alert" });
    expect(ledger.totals).toEqual(restarted.totals);
    ledger = foldLedger(ledger, [web()], resolved + MIN, undefined, [movedTo(earlier, resolved)]);
    const recovery = movedTo(earlier, resolved).recoverySeconds;
    expect(ledger.totals.recovery).toMatchObject({ count: 1, sumSeconds: recovery });
    expect(ledger.totals.failedChanges).toBe(1);
    expect(deliveryWindow(ledger.records, resolved + MIN, 7).failedDeploymentRecoveryTimeSeconds).toBe(
      recovery,
    );
  });
});

describe("the ledger: an incident's recovery counted once", () => {
  it("counts the failure at the revert and the recovery at the resolution, once, across restarts", () => {
    const resolved = T0 + 97 * MIN;
    const ledgers: Ledger[] = [];
    const fold = (now: number, incidents: IncidentRecord[], previous = ledgers.at(-1)) =>
      ledgers.push(foldLedger(previous, [web()], now, undefined, incidents));
    fold(REVERTED + MIN, []); // the record not written yet
    fold(REVERTED + 2 * MIN, [incident()]);
    expect(ledgers.at(-1)?.totals).toMatchObject({ changes: 1, failedChanges: 1, deployments: 1 });
    expect(ledgers.at(-1)?.totals.recovery.count).toBe(0);
    expect(deliveryWindow(ledgers.at(-1)!.records, REVERTED + 2 * MIN, 7)).toMatchObject({
      failedChanges: 1,
      recoveries: 0,
      openFailures: 1,
    });

    fold(resolved + MIN, [incident(resolved)]);
    const recovery = (resolved - FIRED) / 1000;
    expect(ledgers.at(-1)?.totals.recovery).toMatchObject({ count: 1, sumSeconds: recovery });
    expect(deliveryWindow(ledgers.at(-1)!.records, resolved + MIN, 7)).toMatchObject({
      failedDeploymentRecoveryTimeSeconds: recovery,
      recoveries: 1,
      openFailures: 0,
    });
    // Again; from the status JSON after a restart; after the bounded list evicted the incident.
    fold(resolved + 2 * MIN, [incident(resolved)]);
    fold(resolved + 3 * MIN, [incident(resolved)], JSON.parse(JSON.stringify(ledgers.at(-1))) as Ledger);
    fold(REVERTED + 2 * INCIDENT_RESOLUTION_WAIT_MS, []);
    for (const l of ledgers.slice(-3)) {
      expect(l.totals).toEqual(ledgers.at(-4)?.totals);
      expect(r2(l.records)).toMatchObject({ restoredAt: iso(resolved), restoredFrom: "IncidentResolved" });
    }
  });

  it("restores a change whose Release is gone when its incident resolves", () => {
    const before = foldLedger(undefined, [web()], REVERTED + MIN, undefined, [incident()]);
    const resolved = T0 + 2 * HOUR;
    const after = foldLedger(before, [], resolved + MIN, undefined, [incident(resolved)]);
    expect(r2(after.records)).toMatchObject({ restoredAt: iso(resolved), restoredFrom: "IncidentResolved" });
    expect(after.totals.recovery).toMatchObject({ count: 1, sumSeconds: (resolved - FIRED) / 1000 });
  });

  it("an incident that only killed toggles or only notified fails no deployment and counts no recovery", () => {
    // r2 promoted and never reverted: the incident changed no Release.
    const unchanged = { release: "shop/web", status: { history: web().status!.history!.slice(1) } };
    const toggleOnly = incident(T0 + 2 * HOUR, [
      {
        do: "KillToggles",
        target: "shop/one-click",
        actionId: ACTION,
        at: iso(FIRED),
        state: "Done",
        result: "killed",
      },
      { do: "Notify", at: iso(FIRED), state: "Done", result: "recorded" },
    ]);
    const ledger = foldLedger(undefined, [unchanged], T0 + 3 * HOUR, undefined, [toggleOnly]);
    expect(ledger.totals).toMatchObject({ changes: 1, failedChanges: 0, deployments: 1 });
    expect(ledger.totals.recovery.count).toBe(0);
  });
});

describe("the Squad's delivery status", () => {
  it("looks again when a change stops waiting for its incident, if nothing sooner", () => {
    const release = {
      metadata: { name: "web", namespace: "shop" },
      spec: {} as never,
      status: web().status!,
    };
    const now = REVERTED + 20 * HOUR;
    const delivery = squadDelivery(undefined, [release], now, undefined, [], [incident()]);
    expect(delivery.last7d?.openFailures).toBe(1);
    expect(deliveryRequeueMs(delivery, now)).toBe(INCIDENT_RESOLUTION_WAIT_MS - 20 * HOUR + 1);
    const resolved = squadDelivery(delivery, [release], now + MIN, undefined, [], [incident(now)]);
    expect(resolved.last7d).toMatchObject({
      openFailures: 0,
      recoveries: 1,
      failedDeploymentRecoveryTimeSeconds: (now - FIRED) / 1000,
    });
  });
});
