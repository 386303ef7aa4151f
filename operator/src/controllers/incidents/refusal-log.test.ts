import { describe, expect, it } from "vitest";
import { createRefusalLog, REFUSAL_MESSAGES } from "./refusal-log.js";

const UNAUTHENTICATED_MESSAGE = REFUSAL_MESSAGES.Unauthenticated;

function setup() {
  let clock = 1_000_000;
  const lines: { fields: Record<string, unknown>; msg: string }[] = [];
  let counted = 0;
  const refused = createRefusalLog({
    reason: "Unauthenticated",
    logger: { warn: (fields: Record<string, unknown>, msg: string) => lines.push({ fields, msg }) } as never,
    now: () => clock,
    count: () => counted++,
  });
  return {
    refused,
    lines,
    counted: () => counted,
    advance: (ms: number) => {
      clock += ms;
    },
  };
}

describe("the receiver's refusal log", () => {
  it("logs the first refusal at once, with the caller's address", () => {
    const s = setup();
    s.refused({ remote: "10.0.0.7" });
    expect(s.lines).toEqual([{ fields: { remote: "10.0.0.7" }, msg: UNAUTHENTICATED_MESSAGE }]);
    expect(s.counted()).toBe(1);
  });

  it("logs at most one line a minute under a flood, with how many it did not log, and counts every one", () => {
    const s = setup();
    for (let i = 0; i < 1000; i++) {
      s.refused({ remote: "10.0.0.7" });
      s.advance(50); // 1000 requests over 50 s
    }
    expect(s.lines).toHaveLength(1);
    expect(s.counted()).toBe(1000);
    s.advance(10_000); // 60 s after the first line
    s.refused({ remote: "10.0.0.8" });
    expect(s.lines).toHaveLength(2);
    expect(s.lines[1]).toEqual({
      fields: { remote: "10.0.0.8", suppressed: 999 },
      msg: UNAUTHENTICATED_MESSAGE,
    });
    // The count starts again from the line just written.
    s.advance(59_999);
    s.refused({ remote: "10.0.0.8" });
    expect(s.lines).toHaveLength(2);
    s.advance(1);
    s.refused({ remote: "10.0.0.9" });
    expect(s.lines[2]).toEqual({
      fields: { remote: "10.0.0.9", suppressed: 1 },
      msg: UNAUTHENTICATED_MESSAGE,
    });
    expect(s.counted()).toBe(1003);
  });

  it("logs each refusal of a trickle slower than one a minute, none suppressed", () => {
    const s = setup();
    for (let i = 0; i < 3; i++) {
      s.refused({ remote: undefined });
      s.advance(61_000);
    }
    expect(s.lines.map((l) => l.fields)).toEqual([
      { remote: undefined },
      { remote: undefined },
      { remote: undefined },
    ]);
  });

  it("counts in the real counter by default, by reason", async () => {
    const { receiverRefusedTotal } = await import("./metrics.js");
    const value = async (reason: string) =>
      (await receiverRefusedTotal.get()).values.find((v) => v.labels.reason === reason)?.value ?? 0;
    const before = await value("TLSHandshake");
    const lines: string[] = [];
    const log = createRefusalLog({
      logger: { warn: (_: unknown, msg: string) => lines.push(msg) } as never,
      reason: "TLSHandshake",
    });
    log({ remote: "10.0.0.7" });
    log({ remote: "10.0.0.7" });
    expect(await value("TLSHandshake")).toBe(before + 2);
    expect(lines).toEqual(["incident receiver: TLS handshake refused"]);
  });
});
