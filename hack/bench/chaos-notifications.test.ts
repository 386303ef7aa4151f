import { afterEach, describe, expect, it } from "vitest";
import { checkNotifications, OncallReceiver, type NotifiedRelease } from "./chaos-notifications.js";

const rolledBack = (release: string, id: string): NotifiedRelease => ({
  release,
  rollsBack: true,
  ids: [id],
});
const healthy = (release: string): NotifiedRelease => ({ release, rollsBack: false, ids: [] });

describe("checkNotifications", () => {
  it("takes repeats of one key as one delivery (the receiver drops them) and counts them apart", () => {
    const { violations, repeats } = checkNotifications(
      [rolledBack("a", "k1"), rolledBack("b", "k2"), healthy("c")],
      [
        { key: "k1", release: "a" },
        { key: "k1", release: "a" },
        { key: "k1", release: "a" },
        { key: "k2", release: "b" },
      ],
    );
    expect(violations).toEqual([]);
    expect(repeats).toEqual({ deliveries: 4, keys: 2, dropped: 2, repeatedKeys: 1, maxPerKey: 3 });
  });

  it("reports a rollback never delivered, or delivered under two keys, or under another key", () => {
    const { violations } = checkNotifications(
      [rolledBack("a", "k1"), rolledBack("b", "k2"), rolledBack("c", "k3"), rolledBack("d", "k4")],
      [
        { key: "k2", release: "b" },
        { key: "k2-again", release: "b" },
        { key: "other", release: "c" },
        { key: "k4", release: "d" },
      ],
    );
    expect(violations.map((v) => [v.release, v.detail])).toEqual([
      ["a", "rollback k1 never delivered"],
      ["b", "one rollback delivered under 2 different keys: k2, k2-again"],
      ["c", "delivered key other, but status records rollback k3"],
    ]);
  });

  it("reports deliveries and notifications of Releases that did not roll back, and unknown ones", () => {
    const { violations } = checkNotifications(
      [{ release: "a", rollsBack: false, ids: ["k1"] }, rolledBack("b", "k2")],
      [
        { key: "k1", release: "a" },
        { key: "k2", release: "b" },
        { key: "k9", release: "zz" },
      ],
    );
    expect(violations.map((v) => v.detail)).toEqual([
      "unexpected notification k1 in status",
      "delivery with key k1 for a Release that did not roll back",
      'delivery with key k9 for unknown Release "zz"',
    ]);
  });

  it("reports a rollback with no notification in status", () => {
    const { violations } = checkNotifications([{ release: "a", rollsBack: true, ids: [] }], []);
    expect(violations.map((v) => v.detail)).toEqual([
      "no notification recorded in status for its rollback",
      "rollback (none recorded) never delivered",
    ]);
  });
});

describe("OncallReceiver", () => {
  const receivers: OncallReceiver[] = [];
  afterEach(async () => {
    for (const r of receivers.splice(0)) await r.stop();
  });

  it("records each POST's Idempotency-Key and payload release, answering 204", async () => {
    const r = new OncallReceiver();
    receivers.push(r);
    const url = await r.start();
    for (let i = 0; i < 2; i++) {
      const res = await fetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/json", "Idempotency-Key": "k1" },
        body: JSON.stringify({ release: "web", rollbackId: "k1" }),
      });
      expect(res.status).toBe(204);
    }
    expect(r.deliveries).toEqual([
      { key: "k1", release: "web" },
      { key: "k1", release: "web" },
    ]);
  });
});
