/**
 * The Squad's `IncidentResponseValid` condition and its Events: whether the operator could read
 * `spec.incidentResponse`. Kept apart from Ready/Stalled on purpose: a refused policy does not
 * stall the squad (its namespaces, RBAC, quota and isolation are reconciled as usual), it only
 * makes every alert of the squad Notify-only, and this condition is where a person sees that.
 * Pure.
 */
import type { IncidentPolicyCheck } from "../../api/squad-spec-parts.js";
import { findCondition, removeCondition, setCondition, type Condition } from "../../runtime/conditions.js";
import type { SquadEvent } from "./status.js";

export const INCIDENT_RESPONSE_VALID = "IncidentResponseValid";

/** What an alert of a squad whose policy is refused gets, in the condition's words. */
export const REFUSED_CONSEQUENCE =
  "alerts of this squad are only notified (recorded and paged; nothing is reverted or killed) until it is fixed";

/**
 * The conditions with `IncidentResponseValid` set from the check: True (reason `Valid`) for a
 * policy that parses, False (reason `InvalidSpec`, the fields and why, then what that means) for
 * one that does not, and no such condition for a Squad without a policy (nothing to judge).
 * Other conditions are kept; the time moves only when the status does.
 */
export function incidentPolicyConditions(
  conditions: readonly Condition[] | undefined,
  check: IncidentPolicyCheck,
  options: { observedGeneration?: number | undefined; now: number | Date },
): Condition[] {
  if (check.state === "Absent") return removeCondition(conditions, INCIDENT_RESPONSE_VALID);
  const { observedGeneration, now } = options;
  const generation = observedGeneration === undefined ? {} : { observedGeneration };
  if (check.state === "Invalid") {
    return setCondition(
      conditions,
      {
        type: INCIDENT_RESPONSE_VALID,
        status: "False",
        reason: "InvalidSpec",
        message: `${check.message}; ${REFUSED_CONSEQUENCE}`,
        ...generation,
      },
      now,
    );
  }
  const rules = check.policy.actions.length;
  return setCondition(
    conditions,
    {
      type: INCIDENT_RESPONSE_VALID,
      status: "True",
      reason: "Valid",
      message: `${rules} rule${rules === 1 ? "" : "s"}, correlationWindow ${check.policy.correlationWindow}`,
      ...generation,
    },
    now,
  );
}

/**
 * The Event a change of the condition deserves: a Warning `IncidentResponseInvalid` when the
 * policy becomes refused or is refused for another reason (once per distinct problem, not per
 * reconcile), a Normal `IncidentResponseValid` when a refused policy is read again. A policy valid
 * from the start, or removed, says nothing.
 */
export function incidentPolicyEvents(
  before: readonly Condition[] | undefined,
  after: readonly Condition[] | undefined,
): SquadEvent[] {
  const was = findCondition(before, INCIDENT_RESPONSE_VALID);
  const now = findCondition(after, INCIDENT_RESPONSE_VALID);
  if (now?.status === "False") {
    const same = was?.status === "False" && was.reason === now.reason && was.message === now.message;
    return same ? [] : [{ type: "Warning", reason: "IncidentResponseInvalid", note: now.message }];
  }
  if (now?.status === "True" && was?.status === "False") {
    return [
      {
        type: "Normal",
        reason: "IncidentResponseValid",
        note: `spec.incidentResponse is valid again (${now.message}): alerts are answered as its rules say`,
      },
    ];
  }
  return [];
}
