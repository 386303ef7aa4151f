/**
 * One change, one failure, one recovery, whatever else happened to the change: a Degraded period
 * an incident's undo ended, the reverted revision coming back (the undo undone, the change rolled
 * out again), a second incident reverting the same change. Each scenario drives the Release state
 * machine itself (`step`, undo included) on a fake clock and folds the Squad's ledger from what it
 * wrote, as the Squad controller does, with the incident records as they stood then.
 */
import { describe, expect, it } from "vitest";
import type { ChangeRecord } from "../api/delivery.js";
import type { IncidentRecord } from "../api/incident.js";
import { iso } from "../controllers/release/test-fixtures.js";
import { deriveChanges } from "./changes.js";
import { deliveryWindow } from "./figures.js";
import { foldLedger, recoverySeconds, type Ledger } from "./ledger.js";
import { Driver, HOUR, MIN, R } from "../controllers/release/delivery-driver.test-support.js";

/** The Squad's record of incident `id`, which reverted shop/web with action incident-<id>. */
function incident(id: string, firedAt: number, resolvedAt?: number): IncidentRecord {
  return {
    id,
    groupKey: `{}:{alertname="${id}"}`,
    firedAt: iso(firedAt),
    receivedAt: iso(firedAt),
    alerts: [],
    suspects: [],
    actions: [
      {
        do: "Revert",
        target: "shop/web",
        actionId: `incident-${id}`,
        at: iso(firedAt),
        state: "Done",
        result: "returned",
      },
    ],
    explanation: [],
    ...(resolvedAt === undefined
      ? {}
      : { resolvedAt: iso(resolvedAt), recoverySeconds: Math.round((resolvedAt - firedAt) / 1000) }),
  };
}

/** Folds the Squad's ledger as its controller does: from the last status, at `now`. */
class Squad {
  ledger: Ledger | undefined;
  constructor(private readonly d: Driver) {}
  fold(now: number, incidents: IncidentRecord[] = []): Ledger {
    // Through JSON, as the status is read back after a write (or a restart).
    const previous = this.ledger && (JSON.parse(JSON.stringify(this.ledger)) as Ledger);
    this.ledger = foldLedger(previous, [this.d.history()], now, undefined, incidents);
    return this.ledger;
  }
  change(n: number): ChangeRecord | undefined {
    return this.ledger?.records.find((r) => r.revision === R(n));
  }
}

describe("a change Degraded when an incident's undo ran", () => {
  /** v2 promoted, Degraded `degradedAfter` later; the alert starts at `alertAt`; undone 5 min after the Degraded start. */
  function scenario(o: { alertAfterDegraded: number; foldWhileDegraded: boolean }) {
    const d = new Driver().ship(2);
    const deployed = d.now;
    const squad = new Squad(d);
    d.tick(30 * MIN).stablePods(0);
    const degraded = d.now;
    expect(d.status?.phase).toBe("Degraded");
    if (o.foldWhileDegraded) {
      squad.fold(d.now + 30_000);
      expect(squad.change(2)).toMatchObject({ failure: "Degraded", failureStartedAt: iso(degraded) });
      expect(squad.ledger?.totals.failedChanges).toBe(1);
    }
    const fired = degraded + o.alertAfterDegraded;
    d.tick(5 * MIN).undo({ failureStartedAt: fired, actionId: "incident-i1" });
    const reverted = d.now;
    d.settle();
    expect(d.status?.stableRevision).toBe(R(1));
    return { d, squad, deployed, degraded, fired, reverted };
  }

  for (const foldWhileDegraded of [true, false]) {
    it(`counts one failure, linked to the incident, from the Degraded start, restored when the incident resolves${foldWhileDegraded ? " (folded while Degraded)" : ""}`, () => {
      const { squad, degraded, fired, reverted } = scenario({
        alertAfterDegraded: 2 * MIN,
        foldWhileDegraded,
      });
      squad.fold(reverted + MIN, [incident("i1", fired)]);
      expect(squad.change(2)).toMatchObject({
        failure: "Degraded",
        failedAt: iso(degraded),
        // The Release was unavailable before the alert said so: the earlier evidence.
        failureStartedAt: iso(degraded),
        failureStartFrom: "Degraded",
        revertActionId: "incident-i1",
        revertedAt: iso(reverted),
      });
      // Not restored by the undo: the incident says when users are well again.
      expect(squad.change(2)?.restoredAt).toBeUndefined();
      expect(squad.ledger?.totals).toMatchObject({ changes: 1, failedChanges: 1, deployments: 1 });
      expect(squad.ledger?.totals.recovery.count).toBe(0);

      const resolved = reverted + 10 * MIN;
      squad.fold(resolved + MIN, [incident("i1", fired, resolved)]);
      expect(squad.change(2)).toMatchObject({ restoredAt: iso(resolved), restoredFrom: "IncidentResolved" });
      expect(squad.ledger?.totals).toMatchObject({ changes: 1, failedChanges: 1 });
      expect(squad.ledger?.totals.recovery).toMatchObject({
        count: 1,
        sumSeconds: (resolved - degraded) / 1000,
      });
      expect(deliveryWindow(squad.ledger!.records, resolved + MIN, 7)).toMatchObject({
        changes: 1,
        failedChanges: 1,
        recoveries: 1,
        openFailures: 0,
        failedDeploymentRecoveryTimeSeconds: (resolved - degraded) / 1000,
      });
      // Again, and after the incident left the bounded list: nothing more.
      const totals = squad.ledger?.totals;
      squad.fold(resolved + 2 * MIN, [incident("i1", fired, resolved)]);
      squad.fold(resolved + 2 * 24 * HOUR, []);
      expect(squad.ledger?.totals).toEqual(totals);
    });
  }

  it("an alert that started before the Degraded period: from the alert, the incident's recoverySeconds", () => {
    const { squad, fired, reverted } = scenario({ alertAfterDegraded: -3 * MIN, foldWhileDegraded: true });
    const resolved = reverted + 10 * MIN;
    squad.fold(resolved + MIN, [incident("i1", fired, resolved)]);
    expect(squad.change(2)).toMatchObject({
      failure: "Degraded",
      failureStartedAt: iso(fired),
      failureStartFrom: "Alert",
      restoredAt: iso(resolved),
    });
    expect(recoverySeconds(squad.change(2)!)).toBe(incident("i1", fired, resolved).recoverySeconds);
    expect(squad.ledger?.totals.failedChanges).toBe(1);
  });

  it("an incident resolved before its undo took effect: restored at the undo, not at the Degraded start", () => {
    const { squad, degraded, fired, reverted } = scenario({
      alertAfterDegraded: MIN,
      foldWhileDegraded: false,
    });
    squad.fold(reverted + MIN, [incident("i1", fired, reverted - MIN)]);
    expect(squad.change(2)).toMatchObject({ restoredAt: iso(reverted), restoredFrom: "Revert" });
    expect(recoverySeconds(squad.change(2)!)).toBe((reverted - degraded) / 1000);
  });

  it("a person's undo of a Degraded change restores it at the undo, as before", () => {
    const d = new Driver().ship(2);
    d.tick(30 * MIN).stablePods(0);
    const degraded = d.now;
    d.tick(5 * MIN).undo();
    expect(deriveChanges(d.history(), []).find((c) => c.revision === R(2))).toMatchObject({
      failure: "Degraded",
      failureStartedAt: iso(degraded),
      restoredAt: iso(d.now),
    });
  });

  it("a ledger that already restored it at the undo (written before this rule) is left as counted", () => {
    const { d, squad, fired, reverted } = scenario({ alertAfterDegraded: MIN, foldWhileDegraded: true });
    const before = foldLedger(squad.ledger, [d.history()], reverted + MIN, undefined, []);
    const r2 = before.records.find((r) => r.revision === R(2))!;
    // As the old code recorded it: restored by the undo, the recovery counted once.
    const { revertActionId: _a, revertedAt: _b, ...old } = r2;
    void _a;
    void _b;
    const counted: Ledger = {
      ...before,
      records: before.records.map((r) => (r === r2 ? { ...old, restoredAt: iso(reverted) } : r)),
      totals: {
        ...before.totals,
        recovery: { count: 1, sumSeconds: 300, buckets: before.totals.recovery.buckets },
      },
    };
    const after = foldLedger(counted, [d.history()], reverted + HOUR, undefined, [
      incident("i1", fired, reverted + 30 * MIN),
    ]);
    expect(after.records.find((r) => r.revision === R(2))).toEqual({ ...old, restoredAt: iso(reverted) });
    expect(after.totals).toEqual(counted.totals);
  });
});

describe("an incident's revert and the revert window", () => {
  it("fails the change it reverted even past the window (a suspect by the incident's own correlation); a person's undo there does not", () => {
    const revertWindow = HOUR; // --revert-window 1h, with a Squad's correlationWindow of 2h
    const incidentUndo = new Driver().ship(2);
    incidentUndo.tick(90 * MIN).undo({ failureStartedAt: incidentUndo.now - MIN, actionId: "incident-i1" });
    expect(
      deriveChanges(incidentUndo.history(), [], revertWindow).find((c) => c.revision === R(2)),
    ).toMatchObject({ failure: "Reverted", failureStartFrom: "Alert", revertActionId: "incident-i1" });
    const personal = new Driver().ship(2);
    personal.tick(90 * MIN).undo();
    expect(
      deriveChanges(personal.history(), [], revertWindow).find((c) => c.revision === R(2))?.failure,
    ).toBeUndefined();
  });
});

describe("the reverted revision coming back", () => {
  it("an undo of an incident's undo fails neither the revision it restored nor the change again", () => {
    const d = new Driver().ship(2).ship(3);
    const squad = new Squad(d);
    d.tick(HOUR)
      .undo({ failureStartedAt: d.now - MIN, actionId: "incident-i1" })
      .settle();
    expect(d.status?.stableRevision).toBe(R(2));
    // Not v3 that was at fault after all: a person returns to it.
    d.tick(10 * MIN)
      .undo({ revision: R(3) })
      .settle();
    expect(d.status?.stableRevision).toBe(R(3));
    squad.fold(d.now + MIN, [incident("i1", d.now - 11 * MIN)]);
    // v2, deployed an hour before, only served again while v3 was off: it is no failed change.
    expect(squad.change(2)?.failure).toBeUndefined();
    expect(squad.change(3)).toMatchObject({ failure: "Reverted", revertActionId: "incident-i1" });
    expect(squad.ledger?.totals).toMatchObject({ changes: 2, failedChanges: 1, deployments: 2 });
  });

  it("a reverted change rolled out again fails the revision the revert restored no more than an undo does", () => {
    const d = new Driver().ship(2).ship(3);
    d.tick(HOUR).ship(2); // a revert of v3, by a rollout
    d.tick(HOUR).ship(3); // v3 again, fixed elsewhere
    const byRev = new Map(deriveChanges(d.history(), []).map((c) => [c.revision, c]));
    expect(byRev.get(R(2))?.failure).toBeUndefined();
    expect(byRev.get(R(3))).toMatchObject({ failure: "Reverted" });
    // A revert of a revision that was a change of its own still fails it: v4 → v3 → v2.
    const chain = new Driver().ship(2).ship(3).ship(4);
    chain.tick(HOUR).ship(3).tick(HOUR).ship(2);
    const failed = deriveChanges(chain.history(), []).filter((c) => c.failure !== undefined);
    expect(failed.map((c) => c.revision).sort()).toEqual([R(3), R(4)].sort());
  });

  it("a rollout back to the Release's first revision is a revert, not a new change or deployment", () => {
    const d = new Driver().ship(2);
    const deployed = d.now;
    d.tick(HOUR).ship(1); // Git reverted to v1, which was deployed without a rollout
    const squad = new Squad(d);
    squad.fold(d.now + MIN);
    expect(squad.ledger?.records.map((r) => r.revision)).toEqual([R(2)]);
    expect(squad.change(2)).toMatchObject({
      failure: "Reverted",
      failureStartedAt: iso(deployed),
      restoredAt: iso(d.now),
    });
    expect(squad.ledger?.totals).toMatchObject({ changes: 1, failedChanges: 1, deployments: 1 });
    // And v2 rolled out again after that is no failure of v1, nor a second deployment.
    d.tick(HOUR).ship(2);
    squad.fold(d.now + MIN);
    expect(squad.ledger?.totals).toMatchObject({ changes: 1, failedChanges: 1, deployments: 1 });
  });

  it("two incidents reverting the same change: one failure, the first incident's recovery, counted once", () => {
    const d = new Driver().ship(2).ship(3);
    const squad = new Squad(d);
    const fired1 = d.now + 30 * MIN;
    d.tick(31 * MIN)
      .undo({ failureStartedAt: fired1, actionId: "incident-i1" })
      .settle();
    const resolved1 = d.now + 10 * MIN;
    squad.fold(resolved1 + MIN, [incident("i1", fired1, resolved1)]);
    expect(squad.change(3)).toMatchObject({ restoredAt: iso(resolved1), restoredFrom: "IncidentResolved" });
    // v3 back by a person's undo, then a second incident reverts it again.
    d.tick(HOUR)
      .undo({ revision: R(3) })
      .settle();
    const fired2 = d.now + 10 * MIN;
    d.tick(11 * MIN)
      .undo({ failureStartedAt: fired2, actionId: "incident-i2" })
      .settle();
    const resolved2 = d.now + 5 * MIN;
    const incidents = [incident("i2", fired2, resolved2), incident("i1", fired1, resolved1)];
    squad.fold(resolved2 + MIN, incidents);
    squad.fold(resolved2 + 2 * MIN, incidents);
    expect(squad.change(3)).toMatchObject({
      failure: "Reverted",
      revertActionId: "incident-i1",
      restoredAt: iso(resolved1),
    });
    expect(squad.change(2)?.failure).toBeUndefined();
    expect(squad.ledger?.totals).toMatchObject({ changes: 2, failedChanges: 1 });
    expect(squad.ledger?.totals.recovery).toMatchObject({
      count: 1,
      sumSeconds: (resolved1 - fired1) / 1000,
    });
  });
});
