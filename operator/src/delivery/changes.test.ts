/**
 * The delivery keys from the Release state machine's own histories: every scenario below drives
 * `step` (the real transitions) on a fake clock, then reads the change records, the ledger and
 * the windowed figures from the status it wrote.
 */
import { describe, expect, it } from "vitest";
import type { ReleaseStatus } from "../api/release.js";
import { iso, T0 } from "../controllers/release/test-fixtures.js";
import { deriveChanges, DEFAULT_REVERT_WINDOW_MS, type ReleaseHistory } from "./changes.js";
import { deliveryWindow, nextWindowBoundaryMs } from "./figures.js";
import { foldLedger, LEAD_TIME_BUCKETS, type Ledger } from "./ledger.js";
import {
  ANALYSED,
  DAY,
  Driver,
  HOUR,
  METRIC,
  MIN,
  R,
} from "../controllers/release/delivery-driver.test-support.js";

const changes = (d: Driver) =>
  deriveChanges(d.history(), []).sort((a, b) => a.startedAt.localeCompare(b.startedAt));

describe("deriveChanges, from the state machine's own history", () => {
  it("a promotion is a deployed change; lead time from the rollout start says so", () => {
    const d = new Driver().ship(2, 25 * MIN);
    expect(changes(d)).toEqual([
      {
        release: "shop/web",
        revision: R(2),
        version: "2",
        startedAt: iso(T0),
        deployedAt: iso(T0 + 25 * MIN),
        leadTimeSeconds: 25 * 60,
        leadTimeFrom: "RolloutStart",
      },
    ]);
  });

  it("lead time starts at spec.change.committedAt when CI set it, and the change id is kept", () => {
    const committed = T0 - 3 * HOUR;
    const d = new Driver().ship(2, 10 * MIN, {
      id: "abc123",
      committedAt: iso(committed),
      url: "https://git/x",
    });
    expect(d.status?.history?.[0]?.change).toEqual({
      id: "abc123",
      committedAt: iso(committed),
      url: "https://git/x",
    });
    expect(changes(d)[0]).toMatchObject({
      changeId: "abc123",
      leadTimeFrom: "Commit",
      leadTimeSeconds: 3 * 3600 + 600,
    });
  });

  it("ignores a commit time after the deployment or unreadable, falling back to the rollout start", () => {
    const future = new Driver().ship(2, 10 * MIN, { committedAt: iso(T0 + DAY) });
    expect(changes(future)[0]).toMatchObject({ leadTimeFrom: "RolloutStart", leadTimeSeconds: 600 });
    const garbage = new Driver().ship(2, 10 * MIN, { committedAt: "yesterday" });
    expect(changes(garbage)[0]).toMatchObject({ leadTimeFrom: "RolloutStart" });
  });

  it("a rollback during the rollout is a failed change, never deployed; recovery from the first failing measurement", () => {
    const d = new Driver({
      strategy: ANALYSED,
      analysis: { metrics: [METRIC] },
    });
    d.set(2)
      .settle()
      .tick(2 * MIN)
      .settle();
    expect(d.status?.currentStepIndex).toBe(1);
    const failing = d.now;
    d.tick(3 * MIN).failAnalysis(failing + MIN);
    expect(d.status?.phase).toBe("RolledBack");
    expect(d.status?.history?.[0]).toMatchObject({
      outcome: "RolledBack",
      failureStartedAt: iso(failing + MIN),
    });
    expect(changes(d)).toEqual([
      {
        release: "shop/web",
        revision: R(2),
        version: "2",
        startedAt: iso(T0),
        failure: "RolledBack",
        failedAt: iso(d.now),
        failureStartedAt: iso(failing + MIN),
        failureStartFrom: "Measurement",
        restoredAt: iso(d.now),
      },
    ]);
  });

  it("an abort during the rollout without a measurement: the failure started when the canary took traffic", () => {
    const d = new Driver();
    d.set(2)
      .settle()
      .tick(7 * MIN)
      .act("abort");
    expect(changes(d)[0]).toMatchObject({
      failure: "RolledBack",
      failureStartedAt: iso(T0),
      failureStartFrom: "Traffic",
      restoredAt: iso(T0 + 7 * MIN),
    });
  });

  it("retry after a rollback and promotion: one change, failed once, deployed once, lead time from its first rollout", () => {
    const d = new Driver();
    d.set(2)
      .settle()
      .tick(5 * MIN)
      .act("abort");
    d.tick(HOUR)
      .act("retry")
      .settle()
      .tick(5 * MIN)
      .act("promote")
      .settle();
    expect(d.status?.stableRevision).toBe(R(2));
    const [c] = changes(d);
    expect(changes(d)).toHaveLength(1);
    expect(c).toMatchObject({
      failure: "RolledBack",
      deployedAt: iso(d.now),
      leadTimeSeconds: (70 * MIN) / 1000,
    });
  });

  it("an abort after promotion fails the promoted change once (one RolledBack, one deployment)", () => {
    const d = new Driver({ rollback: { scaleDownDelaySeconds: 600 } }).ship(2);
    const deployed = d.now;
    d.tick(2 * MIN).act("abort");
    expect(d.status).toMatchObject({ phase: "RolledBack", stableRevision: R(1) });
    const all = changes(d);
    expect(all).toHaveLength(1);
    expect(all[0]).toMatchObject({
      deployedAt: iso(deployed),
      failure: "AbortedAfterPromotion",
      failureStartedAt: iso(deployed),
      failureStartFrom: "Traffic",
      restoredAt: iso(deployed + 2 * MIN),
    });
  });

  it("a blue-green switch-back is a revert: the replaced change fails, and the switch is no deployment", () => {
    const d = new Driver({
      strategy: { blueGreen: { autoPromotionSeconds: 0, scaleDownDelaySeconds: 600 } },
    });
    d.set(2).settle().settle();
    expect(d.status?.stableRevision).toBe(R(2));
    const deployed = d.now;
    d.tick(3 * MIN).set(1);
    expect(d.status?.history?.[0]).toMatchObject({
      outcome: "Promoted",
      reason: "SwitchedBack",
      revision: R(1),
    });
    const all = changes(d);
    expect(all.map((c) => c.revision)).toEqual([R(2)]);
    expect(all[0]).toMatchObject({
      failure: "SwitchedBack",
      failedAt: iso(deployed + 3 * MIN),
      restoredAt: iso(deployed + 3 * MIN),
    });
  });

  it("a later rollout back to the previous revision within the window reverts the change it replaces", () => {
    const d = new Driver().ship(2).ship(3);
    const deployed3 = d.now;
    d.tick(2 * HOUR).ship(2, 5 * MIN);
    const byRev = new Map(changes(d).map((c) => [c.revision, c]));
    expect(byRev.size).toBe(2);
    expect(byRev.get(R(3))).toMatchObject({
      deployedAt: iso(deployed3),
      failure: "Reverted",
      failedAt: iso(deployed3 + 2 * HOUR),
      failureStartedAt: iso(deployed3),
      restoredAt: iso(deployed3 + 2 * HOUR + 5 * MIN),
    });
    // Revision 2's redeploy is no new change and no second deployment.
    expect(byRev.get(R(2))?.failure).toBeUndefined();
  });

  it("a revert an incident asked for fails the change from the alert's start (failureStartFrom Alert)", () => {
    const history = (alertAt: string): ReleaseHistory => ({
      release: "shop/web",
      status: {
        history: [
          {
            revision: "r1",
            version: "1",
            startedAt: iso(T0 + 2 * HOUR),
            finishedAt: iso(T0 + 2 * HOUR),
            outcome: "Promoted",
            reason: "Undone",
            failureStartedAt: alertAt,
          },
          {
            revision: "r2",
            version: "2",
            startedAt: iso(T0 + HOUR - MIN),
            finishedAt: iso(T0 + HOUR),
            outcome: "Promoted",
          },
          {
            revision: "r1",
            version: "1",
            startedAt: iso(T0 - MIN),
            finishedAt: iso(T0),
            outcome: "Promoted",
          },
        ],
      },
    });
    const r2 = deriveChanges(history(iso(T0 + 90 * MIN)), []).find((c) => c.revision === "r2");
    expect(r2).toMatchObject({
      failure: "Reverted",
      failureStartedAt: iso(T0 + 90 * MIN),
      failureStartFrom: "Alert",
      restoredAt: iso(T0 + 2 * HOUR),
    });
    // An alert start before the deployment, or after the revert, is no evidence for this change.
    for (const odd of [iso(T0 + 30 * MIN), iso(T0 + 3 * HOUR)]) {
      expect(deriveChanges(history(odd), []).find((c) => c.revision === "r2")).toMatchObject({
        failureStartedAt: iso(T0 + HOUR),
        failureStartFrom: "Traffic",
      });
    }
  });

  it("an undo to a Release's first revision (deployed, never rolled out) is a revert, not a deployment", () => {
    const status = {
      history: [
        {
          revision: "r1",
          version: "1",
          startedAt: iso(T0 + 2 * HOUR),
          finishedAt: iso(T0 + 2 * HOUR),
          outcome: "Promoted" as const,
          reason: "Undone",
          replacedRevision: "r2",
        },
        {
          revision: "r2",
          version: "2",
          startedAt: iso(T0 + HOUR - MIN),
          finishedAt: iso(T0 + HOUR),
          outcome: "Promoted" as const,
          reason: "Completed",
          replacedRevision: "r1",
        },
      ],
    };
    const result = deriveChanges({ release: "shop/web", status }, []);
    expect(result.map((c) => c.revision)).toEqual(["r2"]);
    expect(result[0]).toMatchObject({ failure: "Reverted", restoredAt: iso(T0 + 2 * HOUR) });
  });

  it("the same return after the revert window is a redeploy, not a failure", () => {
    const d = new Driver().ship(2).ship(3);
    d.tick(DEFAULT_REVERT_WINDOW_MS + HOUR).ship(2);
    expect(changes(d).filter((c) => c.failure)).toEqual([]);
  });

  it("a superseded rollout is no change", () => {
    const d = new Driver();
    d.set(2).settle().tick(MIN);
    d.ship(3);
    expect(d.status?.history?.map((h) => h.outcome)).toEqual(["Promoted", "Superseded"]);
    expect(changes(d).map((c) => c.revision)).toEqual([R(3)]);
  });

  it("a Degraded stable change fails at the start of Degraded, open until recovered", () => {
    const d = new Driver().ship(2);
    const deployed = d.now;
    d.tick(30 * MIN).stablePods(1);
    expect(d.status).toMatchObject({ phase: "Degraded", degradedSince: iso(deployed + 30 * MIN) });
    expect(changes(d)[0]).toMatchObject({
      failure: "Degraded",
      failedAt: iso(deployed + 30 * MIN),
      failureStartFrom: "Degraded",
    });
    expect(changes(d)[0]?.restoredAt).toBeUndefined();
    // A different count of missing pods is the same period.
    d.tick(MIN).stablePods(0);
    expect(d.status?.degradedSince).toBe(iso(deployed + 30 * MIN));
    d.tick(9 * MIN).stablePods(2);
    expect(d.status?.phase).toBe("Healthy");
    expect(d.status?.degradedSince).toBeUndefined();
    expect(d.status?.history?.[0]).toMatchObject({
      outcome: "Degraded",
      reason: "Recovered",
      startedAt: iso(deployed + 30 * MIN),
      finishedAt: iso(deployed + 40 * MIN),
    });
    expect(changes(d)[0]).toMatchObject({ failure: "Degraded", restoredAt: iso(deployed + 40 * MIN) });
  });

  it("a Degraded period ended by promoting a fix restores at the promotion; the fix is a change of its own", () => {
    const d = new Driver().ship(2);
    d.tick(HOUR).stablePods(0);
    const since = d.now;
    d.tick(MIN).set(3).settle();
    d.tick(20 * MIN)
      .act("promote")
      .settle();
    expect(d.status?.stableRevision).toBe(R(3));
    const byRev = new Map(changes(d).map((c) => [c.revision, c]));
    expect(byRev.get(R(2))).toMatchObject({
      failure: "Degraded",
      failedAt: iso(since),
      restoredAt: iso(d.now),
    });
    expect(byRev.get(R(3))?.failure).toBeUndefined();
  });

  it("a Degraded period long after the deployment is an incident, not this change's failure", () => {
    const d = new Driver().ship(2);
    d.tick(DEFAULT_REVERT_WINDOW_MS + HOUR)
      .stablePods(0)
      .tick(MIN)
      .stablePods(2);
    expect(changes(d)[0]?.failure).toBeUndefined();
  });

  it("reading the same history again on its own result changes nothing", () => {
    const d = new Driver().ship(2).ship(3);
    d.tick(HOUR).ship(2);
    d.tick(HOUR).stablePods(0);
    const once = deriveChanges(d.history(), []);
    expect(deriveChanges(d.history(), once)).toEqual(once);
  });
});

describe("foldLedger: each fact counted once", () => {
  /** Five changes: two deployed, one rolled back, one reverted after promotion, one degraded then fixed. */
  function fiveChanges(): { d: Driver; ledgers: Ledger[] } {
    const d = new Driver({ rollback: { scaleDownDelaySeconds: 600 } });
    const ledgers: Ledger[] = [];
    const fold = () => ledgers.push(foldLedger(ledgers.at(-1), [d.history()], d.now));
    d.ship(2, 10 * MIN, { committedAt: iso(T0 - HOUR) });
    fold();
    d.tick(HOUR).ship(3, 20 * MIN);
    fold();
    d.tick(HOUR)
      .set(4)
      .settle()
      .tick(5 * MIN)
      .act("abort");
    fold();
    d.tick(HOUR)
      .ship(5, 10 * MIN)
      .tick(2 * MIN)
      .act("abort");
    fold();
    d.tick(HOUR)
      .ship(6, 30 * MIN)
      .tick(10 * MIN)
      .stablePods(0);
    fold();
    d.tick(15 * MIN).stablePods(2);
    fold();
    fold();
    return { d, ledgers };
  }

  it("counts changes, failures, deployments, lead and recovery times, whatever the reconciles in between", () => {
    const { ledgers } = fiveChanges();
    const totals = ledgers.at(-1)?.totals;
    expect(totals).toMatchObject({ changes: 5, failedChanges: 3, deployments: 4 });
    expect(totals?.leadTimeFromCommit).toMatchObject({ count: 1, sumSeconds: 3600 + 600 });
    expect(totals?.leadTimeFromRolloutStart.count).toBe(3);
    // Rollback of 4 (5 min from the canary's start), abort of 5 after 2 min, Degraded 6 for 15 min.
    expect(totals?.recovery).toMatchObject({ count: 3, sumSeconds: 5 * 60 + 2 * 60 + 15 * 60 });
    expect(totals?.recovery.buckets[0]).toBe(0);
    expect(totals?.recovery.buckets[2]).toBe(3);
    expect(ledgers.at(-1)).toEqual(ledgers.at(-2));
  });

  it("counts the same whether folded after every step or once at the end, and again on a restart", () => {
    const { d, ledgers } = fiveChanges();
    const once = foldLedger(undefined, [d.history()], d.now);
    expect(once.totals).toEqual({ ...ledgers.at(-1)?.totals, since: iso(d.now) });
    // A restarted operator reads the ledger back from the status: nothing is counted again.
    const restarted = foldLedger(JSON.parse(JSON.stringify(once)) as Ledger, [d.history()], d.now + MIN);
    expect(restarted.totals).toEqual(once.totals);
  });

  it("keeps a deleted Release's changes until they age out, and prunes by age, not count", () => {
    const { d, ledgers } = fiveChanges();
    const last = ledgers.at(-1);
    const gone = foldLedger(last, [], d.now + DAY);
    expect(gone.records).toHaveLength(5);
    expect(deliveryWindow(gone.records, d.now + DAY, 7)).toMatchObject({
      deployments: 4,
      changes: 5,
      failedChanges: 3,
    });
    const aged = foldLedger(gone, [], d.now + 31 * DAY);
    expect(aged.records).toEqual([]);
    expect(aged.totals).toEqual(last?.totals);
    // The Release's history, still holding those entries, does not bring them back.
    expect(foldLedger(aged, [d.history()], d.now + 31 * DAY)).toEqual(aged);
  });

  it("buckets lead times at the DORA level edges", () => {
    expect(LEAD_TIME_BUCKETS).toEqual(expect.arrayContaining([86400, 604800, 2592000, 15552000]));
  });
});

describe("deliveryWindow on a fake clock", () => {
  it("reads the five changes as a head of engineering would, and ages them out of 7 and 30 days", () => {
    const d = new Driver({ rollback: { scaleDownDelaySeconds: 600 } });
    d.ship(2, 10 * MIN, { committedAt: iso(T0 - HOUR) });
    d.tick(HOUR).ship(3, 20 * MIN);
    d.tick(HOUR)
      .set(4)
      .settle()
      .tick(5 * MIN)
      .act("abort");
    d.tick(HOUR)
      .ship(5, 10 * MIN)
      .tick(2 * MIN)
      .act("abort");
    d.tick(HOUR)
      .ship(6, 30 * MIN)
      .tick(10 * MIN)
      .stablePods(0)
      .tick(15 * MIN)
      .stablePods(2);
    const ledger = foldLedger(undefined, [d.history()], d.now);
    const now = d.now;
    const week = deliveryWindow(ledger.records, now, 7);
    expect(week).toEqual({
      deployments: 4,
      changes: 5,
      failedChanges: 3,
      changeFailRate: "60%",
      changeLeadTimeSeconds: 25 * 60, // 70, 20, 10 and 30 min: the median of 10, 20, 30, 70
      leadTimeFrom: "Mixed",
      failedDeploymentRecoveryTimeSeconds: 5 * 60,
      recoveries: 3,
      openFailures: 0,
    });
    expect(deliveryWindow(ledger.records, now + 8 * DAY, 7)).toMatchObject({
      deployments: 0,
      changes: 0,
      recoveries: 0,
    });
    expect(deliveryWindow(ledger.records, now + 8 * DAY, 7).changeFailRate).toBeUndefined();
    expect(deliveryWindow(ledger.records, now + 8 * DAY, 30)).toEqual(week);
    expect(deliveryWindow(ledger.records, now + 31 * DAY, 30)).toMatchObject({ deployments: 0, changes: 0 });
  });

  it("an open failure counts as failed at once and has no recovery yet", () => {
    const d = new Driver().ship(2);
    d.tick(MIN).stablePods(0);
    const w = deliveryWindow(foldLedger(undefined, [d.history()], d.now).records, d.now, 7);
    expect(w).toMatchObject({
      changes: 1,
      failedChanges: 1,
      changeFailRate: "100%",
      recoveries: 0,
      openFailures: 1,
    });
    expect(w.failedDeploymentRecoveryTimeSeconds).toBeUndefined();
  });

  it("says when the figures next change: the first record leaving a window", () => {
    const d = new Driver().ship(2);
    const deployed = d.now;
    const { records } = foldLedger(undefined, [d.history()], d.now);
    expect(nextWindowBoundaryMs(records, deployed)).toBe(7 * DAY + 1);
    expect(nextWindowBoundaryMs(records, deployed + 7 * DAY + 1)).toBe(23 * DAY);
    expect(nextWindowBoundaryMs(records, deployed + 30 * DAY + 1)).toBeUndefined();
    expect(nextWindowBoundaryMs([], deployed)).toBeUndefined();
  });
});

describe("a revert by post-promotion verification", () => {
  it("fails the promoted change as Reverted, from its first failing measurement, restored by the revert", () => {
    const promotedAt = T0 + 10 * MIN;
    const failedAt = promotedAt + 3 * MIN;
    const revertedAt = failedAt + 2_000;
    const status: ReleaseStatus = {
      stableRevision: R(1),
      history: [
        {
          revision: R(2),
          version: "2",
          startedAt: iso(promotedAt),
          finishedAt: iso(revertedAt),
          outcome: "RolledBack",
          reason: "PostPromotionAnalysisFailed",
          failureStartedAt: iso(failedAt),
        },
        {
          revision: R(2),
          version: "2",
          startedAt: iso(T0),
          finishedAt: iso(promotedAt),
          outcome: "Promoted",
          reason: "Completed",
        },
      ],
    };
    const [c] = deriveChanges({ release: "shop/web", status }, []);
    expect(c).toMatchObject({
      revision: R(2),
      deployedAt: iso(promotedAt),
      failure: "Reverted",
      failedAt: iso(revertedAt),
      failureStartedAt: iso(failedAt),
      failureStartFrom: "Measurement",
      restoredAt: iso(revertedAt),
    });
  });
});
