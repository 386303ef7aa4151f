import { describe, expect, it } from "vitest";
import type { IncidentPolicyCheck } from "../../api/squad-spec-parts.js";
import type { Condition } from "../../runtime/conditions.js";
import {
  INCIDENT_RESPONSE_VALID,
  incidentPolicyConditions,
  incidentPolicyEvents,
  REFUSED_CONSEQUENCE,
} from "./incident-policy-condition.js";

const T0 = Date.parse("2030-01-01T00:00:00Z");
const T1 = T0 + 60_000;
const ready: Condition = {
  type: "Ready",
  status: "True",
  reason: "Succeeded",
  message: "1 namespace ready",
  lastTransitionTime: "2029-12-31T00:00:00Z",
};
const valid = (actions = 2, correlationWindow = "30m"): IncidentPolicyCheck => ({
  state: "Valid",
  policy: {
    correlationWindow,
    actions: Array.from({ length: actions }, () => ({ match: { labels: {} }, do: "Notify" })),
  },
});
const invalid = (message = "spec.incidentResponse.correlationWindow: too short"): IncidentPolicyCheck => ({
  state: "Invalid",
  message,
});
const at = (check: IncidentPolicyCheck, before: Condition[] = [ready], now = T0, observedGeneration = 4) =>
  incidentPolicyConditions(before, check, { observedGeneration, now });
const mine = (conditions: Condition[]) => conditions.find((c) => c.type === INCIDENT_RESPONSE_VALID);

describe("incidentPolicyConditions", () => {
  it("is True for a policy that parses, saying how many rules and the window", () => {
    expect(mine(at(valid()))).toEqual({
      type: INCIDENT_RESPONSE_VALID,
      status: "True",
      reason: "Valid",
      message: "2 rules, correlationWindow 30m",
      lastTransitionTime: "2030-01-01T00:00:00Z",
      observedGeneration: 4,
    });
    expect(mine(at(valid(1, "5m")))?.message).toBe("1 rule, correlationWindow 5m");
    expect(mine(at(valid(0)))?.message).toBe("0 rules, correlationWindow 30m");
  });

  it("is False, InvalidSpec, naming the fields and what alerts get meanwhile", () => {
    expect(mine(at(invalid()))).toEqual({
      type: INCIDENT_RESPONSE_VALID,
      status: "False",
      reason: "InvalidSpec",
      message: `spec.incidentResponse.correlationWindow: too short; ${REFUSED_CONSEQUENCE}`,
      lastTransitionTime: "2030-01-01T00:00:00Z",
      observedGeneration: 4,
    });
    expect(REFUSED_CONSEQUENCE).toMatch(/only notified.*nothing is reverted or killed/);
  });

  it("is absent for a Squad without a policy, and removed when its policy goes", () => {
    expect(at({ state: "Absent" })).toEqual([ready]);
    expect(at({ state: "Absent" }, at(invalid()))).toEqual([ready]);
    expect(incidentPolicyConditions(undefined, { state: "Absent" }, { now: T0 })).toEqual([]);
  });

  it("keeps the other conditions and their order", () => {
    const stalled: Condition = { ...ready, type: "Stalled", status: "False" };
    const out = at(invalid(), [ready, stalled]);
    expect(out.map((c) => c.type)).toEqual(["Ready", "Stalled", INCIDENT_RESPONSE_VALID]);
    expect(out.slice(0, 2)).toEqual([ready, stalled]);
  });

  it("moves its time only when the status moves, as metav1.Condition does", () => {
    const first = at(invalid("a"));
    expect(mine(at(invalid("b"), first, T1))?.lastTransitionTime).toBe("2030-01-01T00:00:00Z");
    expect(mine(at(valid(), first, T1))?.lastTransitionTime).toBe("2030-01-01T00:01:00Z");
    // An unchanged reconcile gives an identical list, so nothing is written.
    expect(at(invalid("a"), first, T1)).toEqual(first);
  });

  it("carries the generation it was judged at, or none when the Squad has none", () => {
    expect(mine(at(valid(), [], T0, 9))?.observedGeneration).toBe(9);
    const none = incidentPolicyConditions([], valid(), { observedGeneration: undefined, now: T0 });
    expect(none[0]).not.toHaveProperty("observedGeneration");
  });
});

describe("incidentPolicyEvents", () => {
  const refusedA = at(invalid("a"));
  const refusedB = at(invalid("b"));
  const fine = at(valid());
  const none = [ready];

  it("warns when the policy becomes refused, or refused for another reason", () => {
    for (const before of [none, fine, undefined]) {
      expect(incidentPolicyEvents(before, refusedA)).toEqual([
        { type: "Warning", reason: "IncidentResponseInvalid", note: `a; ${REFUSED_CONSEQUENCE}` },
      ]);
    }
    expect(incidentPolicyEvents(refusedA, refusedB)).toEqual([
      { type: "Warning", reason: "IncidentResponseInvalid", note: `b; ${REFUSED_CONSEQUENCE}` },
    ]);
  });

  it("says nothing for the same problem again: once per distinct problem, not per reconcile", () => {
    expect(incidentPolicyEvents(refusedA, at(invalid("a"), refusedA, T1))).toEqual([]);
  });

  it("says so when a refused policy is read again", () => {
    expect(incidentPolicyEvents(refusedA, fine)).toEqual([
      {
        type: "Normal",
        reason: "IncidentResponseValid",
        note: "spec.incidentResponse is valid again (2 rules, correlationWindow 30m): alerts are answered as its rules say",
      },
    ]);
  });

  it("is quiet for a policy valid from the start, unchanged, or removed", () => {
    expect(incidentPolicyEvents(none, fine)).toEqual([]);
    expect(incidentPolicyEvents(undefined, fine)).toEqual([]);
    expect(incidentPolicyEvents(fine, at(valid(3), fine))).toEqual([]);
    expect(incidentPolicyEvents(fine, none)).toEqual([]);
    expect(incidentPolicyEvents(refusedA, none)).toEqual([]);
    expect(incidentPolicyEvents(none, none)).toEqual([]);
  });
});
