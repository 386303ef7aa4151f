import { describe, expect, it } from "vitest";
import type { PendingNotification } from "../../api/release.js";
import {
  addNotification,
  afterAttempt,
  backoffMs,
  due,
  foldAttempts,
  GIVE_UP_AFTER_MS,
  NOTIFICATIONS_LIMIT,
  nextAttemptInMs,
  payloadOf,
  pending,
  rollbackId,
} from "./delivery.js";
import { rollbackNotification } from "./notify.js";
import type { RollbackReason } from "./state.js";

const T0 = Date.parse("2030-01-01T00:00:00.000Z");
const iso = (ms: number) => new Date(ms).toISOString();
const rb = (revision: string, reason: RollbackReason = "Aborted") => ({
  revision,
  version: "2.0.0",
  reason,
  message: `rolled back ${revision}`,
});

describe("rollback notification delivery", () => {
  it("identifies a rollback by Release uid, revision and time", () => {
    expect(rollbackId("uid-1", "abc", iso(T0))).toBe(`uid-1/abc/${T0}`);
    expect(rollbackId("uid-1", "abc", iso(T0 + 1))).not.toBe(rollbackId("uid-1", "abc", iso(T0)));
    expect(rollbackId("uid-2", "abc", iso(T0))).not.toBe(rollbackId("uid-1", "abc", iso(T0)));
  });

  it("is due at once, then after each backoff; delivered ends it", () => {
    const n = pending("id", rb("abc"), iso(T0));
    const s = { notifications: [n] };
    expect(due(s, T0)).toEqual([n]);
    expect(nextAttemptInMs(s, T0)).toBe(0);
    const failed = afterAttempt(n, { kind: "retryable", error: "HTTP 503" }, T0);
    expect(failed).toMatchObject({ gaveUp: false, entry: { attempts: 1, nextAttemptAt: iso(T0 + 5_000) } });
    expect(due({ notifications: [failed.entry] }, T0 + 4_999)).toEqual([]);
    expect(nextAttemptInMs({ notifications: [failed.entry] }, T0 + 1_000)).toBe(4_000);
    const ok = afterAttempt(failed.entry, { kind: "delivered" }, T0 + 5_000);
    expect(ok.entry).toEqual({
      id: "id",
      revision: "abc",
      version: "2.0.0",
      reason: "Aborted",
      message: "rolled back abc",
      at: iso(T0),
      attempts: 2,
      deliveredAt: iso(T0 + 5_000),
    });
    expect(due({ notifications: [ok.entry] }, T0 + 60_000)).toEqual([]);
    expect(nextAttemptInMs({ notifications: [ok.entry] }, T0)).toBeUndefined();
  });

  it("backs off exponentially from 5 s to at most 5 min", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 20].map(backoffMs)).toEqual([
      5_000, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000,
    ]);
  });

  it("gives up after a bounded time, and at once on a permanent error", () => {
    let n: PendingNotification = pending("id", rb("abc"), iso(T0));
    let now = T0;
    let attempts = 0;
    for (;;) {
      const r = afterAttempt(n, { kind: "retryable", error: "connection refused" }, now);
      attempts++;
      n = r.entry;
      if (r.gaveUp) break;
      now = Date.parse(n.nextAttemptAt!);
      expect(now - T0).toBeLessThanOrEqual(GIVE_UP_AFTER_MS);
    }
    expect(n).toMatchObject({ failedAt: iso(now), lastError: "connection refused", attempts });
    expect(n.nextAttemptAt).toBeUndefined();
    expect(attempts).toBeGreaterThan(10);
    const permanent = afterAttempt(
      pending("p", rb("abc"), iso(T0)),
      { kind: "permanent", error: "HTTP 404" },
      T0,
    );
    expect(permanent).toMatchObject({ gaveUp: true, entry: { failedAt: iso(T0), attempts: 1 } });
  });

  it("records a squad without webhook as finished, not given up", () => {
    const r = afterAttempt(pending("id", rb("abc"), iso(T0)), { kind: "skipped", why: "no webhook" }, T0);
    expect(r).toMatchObject({
      gaveUp: false,
      entry: { attempts: 0, failedAt: iso(T0), lastError: "no webhook" },
    });
  });

  it("keeps at most 10 entries, dropping finished ones before pending ones, and never adds an id twice", () => {
    let list: PendingNotification[] = [];
    for (let i = 0; i < NOTIFICATIONS_LIMIT; i++) {
      const n = pending(`p${i}`, rb("abc"), iso(T0 + i));
      list = addNotification(list, i % 2 === 0 ? { ...n, deliveredAt: iso(T0 + i) } : n);
    }
    list = addNotification(list, pending("new", rb("abc"), iso(T0 + 100)));
    expect(list).toHaveLength(NOTIFICATIONS_LIMIT);
    expect(list.map((n) => n.id)).not.toContain("p0");
    expect(list.filter((n) => n.deliveredAt === undefined)).toHaveLength(6);
    expect(addNotification(list, pending("new", rb("abc"), iso(T0)))).toEqual(list);
  });

  it("waits for no attempt already in flight: its end brings a reconcile of its own", () => {
    const a = pending("a", rb("abc"), iso(T0));
    const b = { ...pending("b", rb("def"), iso(T0)), attempts: 1, nextAttemptAt: iso(T0 + 5_000) };
    const s = { notifications: [a, b] };
    expect(nextAttemptInMs(s, T0)).toBe(0);
    expect(nextAttemptInMs(s, T0, (id) => id === "a")).toBe(5_000);
    expect(nextAttemptInMs(s, T0, () => true)).toBeUndefined();
  });

  it("records a settled attempt once, and only on the attempt count it began with", () => {
    const n = pending("id", rb("abc"), iso(T0));
    const s = { phase: "RolledBack" as const, notifications: [n] };
    const failed = foldAttempts(s, [
      { id: "id", attemptsBefore: 0, outcome: { kind: "retryable", error: "HTTP 503" }, at: T0 + 100 },
    ]);
    expect(failed.status.notifications?.[0]).toMatchObject({ attempts: 1, lastError: "HTTP 503" });
    expect(failed.status.phase).toBe("RolledBack");
    expect(failed).toMatchObject({ delivered: [], gaveUp: [] });
    // The same outcome folded again (its status write failed, then was retried from the new status).
    const again = foldAttempts(failed.status, [
      { id: "id", attemptsBefore: 0, outcome: { kind: "retryable", error: "HTTP 503" }, at: T0 + 100 },
    ]);
    expect(again.status).toBe(failed.status);
    const ok = foldAttempts(failed.status, [
      { id: "id", attemptsBefore: 1, outcome: { kind: "delivered" }, at: T0 + 6_000 },
      // An unknown id (the entry was pruned) changes nothing.
      { id: "gone", attemptsBefore: 0, outcome: { kind: "delivered" }, at: T0 + 6_000 },
    ]);
    expect(ok.delivered).toEqual([expect.objectContaining({ id: "id", deliveredAt: iso(T0 + 6_000) })]);
    // A delivered entry takes no later outcome (an attempt of another process that ended late).
    const late = foldAttempts(ok.status, [
      { id: "id", attemptsBefore: 2, outcome: { kind: "permanent", error: "HTTP 400" }, at: T0 + 7_000 },
    ]);
    expect(late.status).toBe(ok.status);
    expect(late.gaveUp).toEqual([]);
    const refused = foldAttempts(s, [
      { id: "id", attemptsBefore: 0, outcome: { kind: "permanent", error: "HTTP 400" }, at: T0 },
    ]);
    expect(refused.gaveUp).toEqual([expect.objectContaining({ id: "id", failedAt: iso(T0) })]);
  });

  it("builds the payload from the entry: the rollback as recorded, the rollback id, the squad as it is now", () => {
    const id = rollbackId("uid-1", "abc", iso(T0));
    const n = pending(id, rb("abc", "AnalysisFailed"), iso(T0), "error-rate");
    const payload = payloadOf(
      n,
      {
        release: { name: "web", namespace: "shop" },
        squad: { name: "payments", tribe: "money", channel: "#oncall" },
        killedToggles: ["one-click"],
      },
      {},
    );
    expect(payload).toEqual({
      release: "web",
      namespace: "shop",
      squad: "payments",
      tribe: "money",
      revision: "abc",
      version: "2.0.0",
      reason: "AnalysisFailed",
      message: "rolled back abc",
      metric: "error-rate",
      channel: "#oncall",
      killedToggles: ["one-click"],
      at: iso(T0),
      rollbackId: id,
    });
    expect(rollbackNotification.parse(payload)).toEqual(payload);
    const aborted = payloadOf(
      pending(id, rb("abc"), iso(T0)),
      { release: { name: "web", namespace: "shop" } },
      {},
    );
    expect(aborted).toMatchObject({
      reason: "Aborted",
      metric: null,
      squad: null,
      tribe: null,
      channel: null,
    });
  });

  it("builds the payload of an entry recorded without the rollback's facts from the Release's history", () => {
    const bare = { id: "x", revision: "abc", at: iso(T0), attempts: 0 };
    const history = [
      {
        revision: "abc",
        version: "1.9.0",
        startedAt: iso(T0 - 60_000),
        finishedAt: iso(T0),
        outcome: "RolledBack" as const,
        reason: "ProgressDeadlineExceeded",
      },
    ];
    const payload = payloadOf(bare, { release: { name: "web", namespace: "shop" } }, { history });
    expect(payload).toMatchObject({ version: "1.9.0", reason: "ProgressDeadlineExceeded", rollbackId: "x" });
    expect(payload.message).toContain("abc");
  });

  it("records a long rollback message within the schema's bound", () => {
    const n = pending("id", { ...rb("abc"), message: "x".repeat(5_000) }, iso(T0));
    expect(n.message).toHaveLength(1024);
  });
});
