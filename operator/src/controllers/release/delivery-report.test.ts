import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "../../observability/logger.js";
import type { EventInput } from "../../runtime/events.js";
import type { DeliveryEntry } from "./delivery.js";
import { reportDeliveries } from "./delivery-report.js";

function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { lines, log: createLogger({ level: "info", destination }) };
}

const entry = (id: string, extra: Partial<DeliveryEntry> = {}): DeliveryEntry => ({
  id,
  at: "2030-01-01T00:00:00.000Z",
  attempts: 2,
  ...extra,
});

describe("reportDeliveries", () => {
  it("says what on-call was told of: an incident is logged as an incident, not a rollback", () => {
    const { lines, log } = capture();
    const events: EventInput[] = [];
    reportDeliveries(
      {
        delivered: [entry("payments/abc/1/opened")],
        gaveUp: [entry("payments/abc/2/resolved", { lastError: "HTTP 500" })],
      },
      { log, record: (e) => events.push(e) },
      { kind: "incident", about: (n) => `incident abc (${n.id.split("/")[3]})` },
    );
    expect(lines.map((l) => [l["msg"], l["notificationId"], l["about"]])).toEqual([
      ["notified on-call of the incident", "payments/abc/1/opened", "incident abc (opened)"],
      ["could not notify on-call of the incident", "payments/abc/2/resolved", "incident abc (resolved)"],
    ]);
    expect(lines.some((l) => "rollbackId" in l)).toBe(false);
    expect(events).toEqual([
      {
        type: "Warning",
        reason: "NotificationFailed",
        note: "gave up notifying on-call of incident abc (resolved) after 2 attempt(s): HTTP 500",
        action: "Notify",
      },
    ]);
  });

  it("tells a toggle's kill from its rollback, entry by entry", () => {
    const { lines, log } = capture();
    const killed = (n: DeliveryEntry) => n.id.endsWith("/kill");
    reportDeliveries(
      { delivered: [entry("t1/kill"), entry("t1/ramp")], gaveUp: [] },
      { log, record: () => undefined },
      {
        kind: (n) => (killed(n) ? "kill" : "rollback"),
        about: (n) => (killed(n) ? "the kill" : "the rollback"),
      },
    );
    expect(lines.map((l) => [l["msg"], l["notificationId"] ?? l["rollbackId"]])).toEqual([
      ["notified on-call of the kill", "t1/kill"],
      ["notified on-call of the rollback", "t1/ramp"],
    ]);
    expect(lines[1]).toHaveProperty("rollbackId");
  });

  it("keeps the rollback's message and rollbackId field that log filters use", () => {
    const { lines, log } = capture();
    reportDeliveries(
      { delivered: [entry("u1/r2/1")], gaveUp: [] },
      { log, record: () => undefined },
      { kind: "rollback", about: () => "the rollback of 1.5.0" },
    );
    expect(lines[0]).toMatchObject({
      msg: "notified on-call of the rollback",
      rollbackId: "u1/r2/1",
      about: "the rollback of 1.5.0",
      attempts: 2,
    });
  });
});
