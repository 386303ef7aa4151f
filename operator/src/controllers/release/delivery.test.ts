import { describe, expect, it } from "vitest";
import type { PendingNotification } from "../../api/release.js";
import {
  addNotification,
  afterAttempt,
  backoffMs,
  due,
  GIVE_UP_AFTER_MS,
  NOTIFICATIONS_LIMIT,
  nextAttemptInMs,
  pending,
  rollbackId,
} from "./delivery.js";

const T0 = Date.parse("2030-01-01T00:00:00.000Z");
const iso = (ms: number) => new Date(ms).toISOString();

describe("rollback notification delivery", () => {
  it("identifies a rollback by Release uid, revision and time", () => {
    expect(rollbackId("uid-1", "abc", iso(T0))).toBe(`uid-1/abc/${T0}`);
    expect(rollbackId("uid-1", "abc", iso(T0 + 1))).not.toBe(rollbackId("uid-1", "abc", iso(T0)));
    expect(rollbackId("uid-2", "abc", iso(T0))).not.toBe(rollbackId("uid-1", "abc", iso(T0)));
  });

  it("is due at once, then after each backoff; delivered ends it", () => {
    const n = pending("id", "abc", iso(T0));
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
    let n: PendingNotification = pending("id", "abc", iso(T0));
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
      pending("p", "abc", iso(T0)),
      { kind: "permanent", error: "HTTP 404" },
      T0,
    );
    expect(permanent).toMatchObject({ gaveUp: true, entry: { failedAt: iso(T0), attempts: 1 } });
  });

  it("records a squad without webhook as finished, not given up", () => {
    const r = afterAttempt(pending("id", "abc", iso(T0)), { kind: "skipped", why: "no webhook" }, T0);
    expect(r).toMatchObject({
      gaveUp: false,
      entry: { attempts: 0, failedAt: iso(T0), lastError: "no webhook" },
    });
  });

  it("keeps at most 10 entries, dropping finished ones before pending ones, and never adds an id twice", () => {
    let list: PendingNotification[] = [];
    for (let i = 0; i < NOTIFICATIONS_LIMIT; i++) {
      const n = pending(`p${i}`, "abc", iso(T0 + i));
      list = addNotification(list, i % 2 === 0 ? { ...n, deliveredAt: iso(T0 + i) } : n);
    }
    list = addNotification(list, pending("new", "abc", iso(T0 + 100)));
    expect(list).toHaveLength(NOTIFICATIONS_LIMIT);
    expect(list.map((n) => n.id)).not.toContain("p0");
    expect(list.filter((n) => n.deliveredAt === undefined)).toHaveLength(6);
    expect(addNotification(list, pending("new", "abc", iso(T0)))).toEqual(list);
  });
});
