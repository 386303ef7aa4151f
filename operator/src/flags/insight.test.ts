import { describe, expect, it } from "vitest";
import { EvaluationInsight, HOUR_MS, summarise, WINDOW_MS, type FlagReport } from "./insight.js";

const T0 = Date.parse("2026-12-01T00:00:00Z");

function clocked(limits = {}) {
  let now = T0;
  const insight = new EvaluationInsight(() => now, limits);
  return {
    insight,
    at: (ms: number) => void (now = ms),
    advance: (ms: number) => void (now += ms),
    now: () => now,
  };
}

describe("EvaluationInsight counts", () => {
  it("counts per flag and variant, with the last evaluation and the callers", () => {
    const c = clocked();
    c.insight.record("team-a", "banner", "on", "system:serviceaccount:team-a:web");
    c.insight.record("team-a", "banner", "on", undefined);
    c.advance(1000);
    c.insight.record("team-a", "banner", "off", "system:serviceaccount:team-a:api");
    const summary = summarise([c.insight.report("team-a", "banner")], c.now());
    expect(summary).toEqual({
      lastEvaluatedAt: T0 + 1000,
      byVariant: { on: 2, off: 1 },
      callers: ["system:serviceaccount:team-a:api", "system:serviceaccount:team-a:web"],
    });
    expect(c.insight.report("team-a", "other")).toBeUndefined();
    expect(c.insight.report("team-b", "banner")).toBeUndefined();
  });

  it("keeps only the last 24 hours: an hour's bucket ages out, and a reused slot starts at zero", () => {
    const c = clocked();
    c.insight.record("ns", "f", "on");
    c.advance(HOUR_MS);
    c.insight.record("ns", "f", "on");
    c.insight.record("ns", "f", "off");
    expect(summarise([c.insight.report("ns", "f")], c.now()).byVariant).toEqual({ on: 2, off: 1 });
    // 24 h after the first hour: the first hour is out of the window, the second still in.
    c.at(T0 + 24 * HOUR_MS);
    expect(summarise([c.insight.report("ns", "f")], c.now()).byVariant).toEqual({ on: 1, off: 1 });
    // The first hour's slot is reused by this hour: it counts from zero.
    c.insight.record("ns", "f", "on");
    expect(c.insight.report("ns", "f")?.hours).toEqual({
      [String(T0 / HOUR_MS + 1)]: { on: 1, off: 1 },
      [String(T0 / HOUR_MS + 24)]: { on: 1 },
    });
    // Two days later nothing is in the window, but the last evaluation is remembered.
    c.at(T0 + 3 * 24 * HOUR_MS);
    expect(summarise([c.insight.report("ns", "f")], c.now())).toEqual({
      lastEvaluatedAt: T0 + 24 * HOUR_MS,
      byVariant: {},
      callers: [],
    });
  });

  it("forgets callers not seen for 24 hours", () => {
    const c = clocked();
    c.insight.record("ns", "f", "on", "old");
    c.advance(WINDOW_MS);
    c.insight.record("ns", "f", "on", "new");
    expect(summarise([c.insight.report("ns", "f")], c.now()).callers).toEqual(["new"]);
  });

  it("is bounded: flags, variants and callers beyond the caps are dropped, not evicting what is counted", () => {
    const c = clocked({ maxFlags: 2, maxVariants: 2, maxCallers: 2 });
    c.insight.record("ns", "a", "on");
    c.insight.record("ns", "b", "on");
    c.insight.record("other", "c", "on");
    expect(c.insight.size).toBe(2);
    expect(c.insight.report("other", "c")).toBeUndefined();
    c.insight.record("ns", "a", "off");
    c.insight.record("ns", "a", "third");
    expect(summarise([c.insight.report("ns", "a")], c.now()).byVariant).toEqual({ on: 1, off: 1 });
    c.insight.record("ns", "a", "on", "x");
    c.insight.record("ns", "a", "on", "y");
    c.insight.record("ns", "a", "on", "z");
    expect(summarise([c.insight.report("ns", "a")], c.now()).callers).toEqual(["x", "y"]);
    expect(c.insight.dropped).toBe(3);
    // A caller slot frees up once its caller is 24 h silent.
    c.advance(WINDOW_MS + 1);
    c.insight.record("ns", "a", "on", "z");
    expect(summarise([c.insight.report("ns", "a")], c.now()).callers).toEqual(["z"]);
  });

  it("stays within its caps under many distinct flags (10,000 flags, cap 1,000)", () => {
    const c = clocked({ maxFlags: 1000 });
    for (let i = 0; i < 10_000; i++) c.insight.record(`ns-${i % 50}`, `flag-${i}`, "on");
    expect(c.insight.size).toBe(1000);
    expect([...c.insight.totals()]).toHaveLength(1000);
  });

  it("exports totals since start and forgets flags a namespace no longer serves", () => {
    const c = clocked();
    c.insight.record("ns", "a", "on");
    c.insight.record("ns", "a", "on");
    c.insight.record("ns", "b", "off");
    expect([...c.insight.totals()]).toEqual([
      { namespace: "ns", flag: "a", variant: "on", count: 2 },
      { namespace: "ns", flag: "b", variant: "off", count: 1 },
    ]);
    c.insight.retainFlags("ns", ["b"]);
    expect([...c.insight.totals()]).toEqual([{ namespace: "ns", flag: "b", variant: "off", count: 1 }]);
    expect(c.insight.size).toBe(1);
    c.insight.retainFlags("ns", []);
    expect(c.insight.size).toBe(0);
  });
});

describe("summarise merges replica reports", () => {
  const hour = (offset: number) => String(T0 / HOUR_MS + offset);
  const now = T0 + 2 * HOUR_MS;

  it("adds the counts of each replica, takes the newest evaluation and the union of callers", () => {
    const a: FlagReport = {
      lastEvaluatedAt: T0 + 100,
      hours: { [hour(0)]: { on: 3 }, [hour(1)]: { on: 1, off: 2 } },
      callers: { "sa:web": T0 + 100 },
    };
    const b: FlagReport = {
      lastEvaluatedAt: T0 + HOUR_MS + 5,
      hours: { [hour(1)]: { off: 4 } },
      callers: { "sa:web": T0 + 50, "sa:api": T0 + HOUR_MS + 5 },
    };
    expect(summarise([a, undefined, b], now)).toEqual({
      lastEvaluatedAt: T0 + HOUR_MS + 5,
      byVariant: { on: 4, off: 6 },
      callers: ["sa:api", "sa:web"],
    });
    // Order does not matter.
    expect(summarise([b, a], now)).toEqual(summarise([a, b], now));
  });

  it("ignores hours outside the window (a stale replica's old report, a clock ahead)", () => {
    const stale: FlagReport = {
      lastEvaluatedAt: T0 - WINDOW_MS,
      hours: { [hour(-25)]: { on: 9 }, [hour(5)]: { on: 7 } },
      callers: { "sa:gone": T0 - WINDOW_MS },
    };
    expect(summarise([stale], now)).toEqual({ lastEvaluatedAt: T0 - WINDOW_MS, byVariant: {}, callers: [] });
  });

  it("has no last evaluation when no replica served the flag", () => {
    expect(summarise([], now)).toEqual({ byVariant: {}, callers: [] });
  });
});

describe("onFresh", () => {
  it("tells of a flag's first evaluation, then again only after its summary was taken", () => {
    const c = clocked();
    const told: string[] = [];
    c.insight.onFresh = (ns, key) => void told.push(`${ns}/${key}`);
    c.insight.record("ns", "a", "on");
    c.insight.record("ns", "a", "off");
    c.insight.record("ns", "b", "on");
    expect(told).toEqual(["ns/a", "ns/b"]);
    c.insight.taken("ns", "a");
    c.insight.taken("ns", "unknown");
    c.insight.record("ns", "a", "on");
    c.insight.record("ns", "b", "on");
    expect(told).toEqual(["ns/a", "ns/b", "ns/a"]);
  });
});
