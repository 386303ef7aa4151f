import { describe, expect, it } from "vitest";
import {
  conditionTime,
  findCondition,
  isTrue,
  readyConditions,
  removeCondition,
  setCondition,
  type Condition,
} from "./conditions.js";

const t0 = Date.parse("2024-05-01T10:00:00.123Z");
const t1 = t0 + 60_000;

describe("setCondition", () => {
  it("adds a missing condition with the current time at second precision", () => {
    const out = setCondition(undefined, { type: "Ready", status: "True", reason: "Ok", message: "" }, t0);
    expect(out).toEqual([
      {
        type: "Ready",
        status: "True",
        reason: "Ok",
        message: "",
        lastTransitionTime: "2024-05-01T10:00:00Z",
      },
    ]);
  });

  it("keeps lastTransitionTime when only reason, message or generation change", () => {
    const before = setCondition([], { type: "Ready", status: "False", reason: "A", message: "a" }, t0);
    const after = setCondition(
      before,
      { type: "Ready", status: "False", reason: "B", message: "b", observedGeneration: 3 },
      t1,
    );
    expect(after[0]).toEqual({
      type: "Ready",
      status: "False",
      reason: "B",
      message: "b",
      lastTransitionTime: conditionTime(t0),
      observedGeneration: 3,
    });
  });

  it("moves lastTransitionTime when the status changes", () => {
    const before = setCondition([], { type: "Ready", status: "False", reason: "A", message: "" }, t0);
    const after = setCondition(before, { type: "Ready", status: "True", reason: "A", message: "" }, t1);
    expect(after[0]?.lastTransitionTime).toBe(conditionTime(t1));
  });

  it("returns a new array, keeps order and leaves the input untouched", () => {
    const input: Condition[] = [
      { type: "A", status: "True", reason: "R", message: "", lastTransitionTime: "x" },
      { type: "B", status: "True", reason: "R", message: "", lastTransitionTime: "x" },
    ];
    const frozen = structuredClone(input);
    const out = setCondition(input, { type: "A", status: "False", reason: "R", message: "" }, t0);
    expect(out).not.toBe(input);
    expect(input).toEqual(frozen);
    expect(out.map((c) => c.type)).toEqual(["A", "B"]);
  });

  it("is idempotent: the same input twice gives equal arrays", () => {
    const once = setCondition([], { type: "Ready", status: "True", reason: "Ok", message: "m" }, t0);
    const twice = setCondition(once, { type: "Ready", status: "True", reason: "Ok", message: "m" }, t1);
    expect(twice).toEqual(once);
  });
});

describe("isTrue / findCondition / removeCondition", () => {
  const list = setCondition([], { type: "Ready", status: "Unknown", reason: "P", message: "" }, t0);
  it("counts only status True", () => {
    expect(isTrue(list, "Ready")).toBe(false);
    expect(
      isTrue(setCondition(list, { type: "Ready", status: "True", reason: "P", message: "" }, t0), "Ready"),
    ).toBe(true);
    expect(isTrue(undefined, "Ready")).toBe(false);
    expect(findCondition(list, "Missing")).toBeUndefined();
  });
  it("removes by type", () => {
    expect(removeCondition(list, "Ready")).toEqual([]);
  });
});

describe("readyConditions", () => {
  const statusOf = (list: Condition[]) => Object.fromEntries(list.map((c) => [c.type, c.status]));

  it("Ready: Ready=True, Reconciling=False, Stalled=False", () => {
    const out = readyConditions([], { state: "Ready" }, { now: t0, observedGeneration: 2 });
    expect(statusOf(out)).toEqual({ Ready: "True", Reconciling: "False", Stalled: "False" });
    expect(out.every((c) => c.observedGeneration === 2 && c.reason.length > 0)).toBe(true);
  });

  it("Reconciling: Ready=Unknown with the reconciling reason", () => {
    const out = readyConditions(
      [],
      { state: "Reconciling", reason: "Progressing", message: "step 2/5" },
      { now: t0 },
    );
    expect(statusOf(out)).toEqual({ Ready: "Unknown", Reconciling: "True", Stalled: "False" });
    expect(findCondition(out, "Ready")).toMatchObject({ reason: "Progressing", message: "step 2/5" });
  });

  it("Stalled: Ready=False, Stalled=True with the reason and message", () => {
    const out = readyConditions([], { state: "Stalled", reason: "InvalidSpec", message: "bad" }, { now: t0 });
    expect(statusOf(out)).toEqual({ Ready: "False", Reconciling: "False", Stalled: "True" });
    expect(findCondition(out, "Stalled")).toMatchObject({ reason: "InvalidSpec", message: "bad" });
  });

  it("keeps other condition types and transition times of unchanged statuses", () => {
    const other = setCondition([], { type: "Stale", status: "False", reason: "Fresh", message: "" }, t0);
    const first = readyConditions(other, { state: "Ready" }, { now: t0 });
    const second = readyConditions(first, { state: "Stalled", reason: "X", message: "" }, { now: t1 });
    expect(second.map((c) => c.type)).toEqual(["Stale", "Ready", "Reconciling", "Stalled"]);
    expect(findCondition(second, "Reconciling")?.lastTransitionTime).toBe(conditionTime(t0));
    expect(findCondition(second, "Ready")?.lastTransitionTime).toBe(conditionTime(t1));
  });
});
