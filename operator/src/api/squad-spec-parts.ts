/**
 * A Squad's spec read in two parts: its incident-response policy (`spec.incidentResponse`), and
 * everything else (namespaces, members, quota, isolation, toggles, on-call). A typo in an incident
 * rule must not take the squad's namespaces, RBAC, quota, isolation or flag access with it: the
 * rest is honoured while the policy alone is refused, and an alert of the squad is then only
 * notified (recorded and paged; nothing reverted or killed on rules nobody could read).
 *
 * Every reader of a Squad goes through here (the Squad controller, the Alertmanager receiver,
 * OFREP access, the Release and FeatureToggle controllers), so they all agree on what is valid.
 * Pure.
 */
import { droppedNullLabels, type IncidentResponse } from "./incident.js";
import { squadSpec, type SquadSpec } from "./squad.js";
import { zodMessage } from "./zod-message.js";

/** What became of `spec.incidentResponse`. */
export type IncidentPolicyCheck =
  | { state: "Absent" }
  | { state: "Valid"; policy: IncidentResponse }
  /** `message` names each bad field (`spec.incidentResponse.actions[0]...: why`). */
  | { state: "Invalid"; message: string };

/**
 * The spec without its incident policy is `ok` (parsed and defaulted, with the policy in it only
 * when that is valid too) or refused as a whole (`message`): then the Squad is Stalled. The policy
 * is judged on its own either way.
 */
export type SquadSpecParts =
  | { ok: true; spec: SquadSpec; incidentResponse: IncidentPolicyCheck }
  | { ok: false; message: string; incidentResponse: IncidentPolicyCheck };

/** The Squad as it arrives: metadata for kubectl's last-applied annotation, the spec unparsed. */
export interface UnparsedSquad {
  metadata?: { annotations?: Record<string, string> };
  spec?: unknown;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

export function squadSpecParts(squad: UnparsedSquad): SquadSpecParts {
  const raw = squad.spec ?? {};
  const incidentResponse = checkIncidentResponse(squad);
  // A spec that is no object at all has no part to keep: it is refused as it is.
  const rest = isPlainObject(raw) ? withoutIncidentResponse(raw) : raw;
  const parsed = squadSpec.safeParse(rest);
  if (!parsed.success) return { ok: false, message: zodMessage(parsed.error), incidentResponse };
  const spec: SquadSpec =
    incidentResponse.state === "Valid"
      ? { ...parsed.data, incidentResponse: incidentResponse.policy }
      : parsed.data;
  return { ok: true, spec, incidentResponse };
}

/**
 * `spec.incidentResponse` alone: its schema, then the null label values a client-side
 * `kubectl apply` dropped before sending (`droppedNullLabels`), which left a rule matching every
 * alert. Absent when the live spec has none: a policy removed since the last client-side apply
 * is no policy, whatever the annotation still says.
 */
export function checkIncidentResponse(squad: UnparsedSquad): IncidentPolicyCheck {
  const spec = squad.spec;
  const value = isPlainObject(spec) ? spec["incidentResponse"] : undefined;
  if (value === undefined) return { state: "Absent" };
  const parsed = squadSpec.shape.incidentResponse.safeParse(value);
  if (!parsed.success) {
    return { state: "Invalid", message: zodMessage(parsed.error, "spec.incidentResponse") };
  }
  const dropped = droppedNullLabels(squad);
  if (dropped !== undefined) return { state: "Invalid", message: dropped };
  // `optional()` lets undefined through; it was handled above, so the policy is there.
  return parsed.data ? { state: "Valid", policy: parsed.data } : { state: "Absent" };
}

function withoutIncidentResponse(spec: Record<string, unknown>): Record<string, unknown> {
  const rest = { ...spec };
  delete rest["incidentResponse"];
  return rest;
}
