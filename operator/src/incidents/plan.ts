/**
 * What to do for one Alertmanager notification, given the squads' policies, their incident
 * records and what the cluster looks like now. Pure: the receiver (`respond.ts`) reads the
 * caches, calls this, and writes what it says.
 *
 * One notification is one alert group; for each squad with an alert in it the group is one
 * incident, keyed by a digest of the group key (`incidentId`). Alertmanager sends a group again
 * and again (`group_interval`, `repeat_interval`, a retry, a new leader receiving it anew): the
 * record in the Squad's status says what was already done, and an action is asked for at most
 * once per incident and target, with an action id derived from the incident, so a repeat, or a
 * leader that restarted between the annotation and the status write, changes nothing more.
 *
 * The same group firing again after its incident resolved is another incident (`incidentOf`):
 * a new record, remediated and told to on-call anew, with its own id, so its actions are not
 * mistaken for the first one's.
 *
 * The actions reuse the operator's own paths, each GitOps-safe (annotations, never spec):
 * - Revert: the Release's `undo` action (`crescendo.dev/action: undo`), the path of
 *   `kubectl crescendo undo`. It works whether or not the post-promotion window is still open,
 *   leaves spec.template as Git wrote it (`status.override` records the undone revision until
 *   Git changes the template) and counts as a failed change in delivery metrics. Only when the
 *   Release still runs the suspect revision: one already replaced (a newer change, an undo) is
 *   not reverted, and the record says why.
 * - KillToggles: the FeatureToggle's `kill` action, which OFREP serves at once.
 * - Notify: the record, and Events on the Squad and the Release.
 */
import { createHash } from "node:crypto";
import {
  MAX_INCIDENT_ITEMS,
  MAX_INCIDENT_TEXT,
  MAX_SQUAD_INCIDENTS,
  type IncidentRecord,
} from "../api/incident.js";
import type { WebhookMessage } from "./alertmanager.js";
import { alertsOf } from "./alertmanager.js";
import {
  correlate,
  DEFAULT_ALERT_MAPPING,
  scopeOf,
  type Alert,
  type AlertMapping,
  type Change,
  type ResponsePolicy,
  type SquadDecision,
  type Unscoped,
} from "./correlate.js";

/** The incident of a group: a digest, since group keys are long and carry label values. */
export function incidentId(groupKey: string): string {
  return createHash("sha256").update(groupKey).digest("hex").slice(0, 16);
}

/**
 * The id of the group's incident that fired again at `firedAt`, once an earlier one resolved:
 * the group's digest and the time, readable in `kubectl crescendo incidents` and Events
 * (`3f2a9c0d1e4b5a67-20300101T031500Z`). The milliseconds are added only when two firings fall
 * in one second, which a rule evaluated every second or more never does.
 */
export function refiredIncidentId(groupId: string, firedAt: string, taken: (id: string) => boolean): string {
  const compact = new Date(Date.parse(firedAt)).toISOString().replace(/[-:]/g, "");
  const seconds = `${groupId}-${compact.slice(0, 15)}Z`;
  return taken(seconds) ? `${groupId}-${compact}` : seconds;
}

/**
 * An alert's identity across notifications: Alertmanager's fingerprint, a hash of its label set
 * (the same every time the same series fires); a digest of the labels when a sender leaves it out.
 * Recorded in the Squad's status, so anything but Alertmanager's plain hex is kept as a digest:
 * a hostile sender's escape sequence never reaches `kubectl` output.
 */
export function alertKey(a: Pick<Alert, "labels" | "fingerprint">): string {
  const digest = (text: string) => createHash("sha256").update(text).digest("hex").slice(0, 16);
  if (a.fingerprint)
    return /^[0-9a-zA-Z]{1,32}$/.test(a.fingerprint) ? a.fingerprint : `fp:${digest(a.fingerprint)}`;
  const labels = Object.entries(a.labels).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
  return `labels:${digest(JSON.stringify(labels))}`;
}

/** Which record of the squad a notification is about (`incidentOf`). */
export type IncidentOf =
  /** The group has no record (or none kept): a new incident under the group's id. */
  | { open: string; firedAt?: undefined; after?: undefined; endedBy?: undefined }
  /** Fired again after `after` resolved: a new incident, `firedAt` its start. */
  | { open: string; firedAt: string; after: IncidentRecord; endedBy?: undefined }
  /**
   * Fired again while `after` was still open: its resolution never reached us (the receiver
   * down, Alertmanager gave up, `send_resolved: false`). `after` ended by `endedBy` at the
   * latest (the earliest new start of its alerts that came back); `again` names them.
   */
  | { open: string; firedAt: string; after: IncidentRecord; endedBy: string; again: string[] }
  /** A repeat, or more of the same incident (an alert joining, its resolution). */
  | { record: IncidentRecord }
  /** A late repeat of an earlier firing of the group, whose record is not the newest: nothing to do. */
  | { stale: IncidentRecord };

/**
 * Which of the squad's records of the group (`groupId`) the notification's alerts (the squad's)
 * belong to. How Alertmanager behaves decides it: the group key is the same every time the group
 * fires (the route and the grouping labels); a notification carries every alert of the group,
 * firing and just resolved, and is `resolved` only when all are; once a resolved notification is
 * sent the group is dropped, and the next firing makes it anew. Prometheus sends an alert's
 * `startsAt` as the time it started firing, and one that fires again after it resolved is a new
 * alert: a new `startsAt`, later than the old one's `endsAt`. So:
 *
 * - the newest record of the group resolved, and an alert firing with a `startsAt` later than
 *   that resolution: it fired again, a new incident;
 * - the newest record resolved, no such alert: a repeat (`repeat_interval`, a resend of the
 *   resolution, a retry after a 5xx or a timeout, a late firing notification) — the same record;
 * - the newest record is a firing-again one, not resolved, and every alert started before it
 *   fired: a late retry of the earlier firing, which must neither resolve this one nor move its
 *   start — nothing;
 * - the newest record not resolved, an alert of it (its fingerprint, `alertStarts`) firing or
 *   resolved with a `startsAt` later than the one recorded for it, and no other alert of the
 *   group still going (firing, or resolved only after that new start; one not recorded yet counts
 *   if it started before that new start): the alert fired again, so its resolution was never
 *   received. Alertmanager keeps an alert's `startsAt` while it fires
 *   (a repeat merges into the stored alert, the earliest start kept) and gives it a new one only
 *   when it fires after it ended. The record ended by that new start at the latest (`endedBy`),
 *   and the firing is a new incident. An alert of the record still firing means the group never
 *   resolved (Alertmanager would not have sent a resolution): one alert flapping inside an open
 *   group is the same incident;
 * - otherwise the newest record: the same incident, its alerts arriving across notifications
 *   (a new fingerprint joining, a repeat, a late retry with an earlier start).
 */
export function incidentOf(
  groupId: string,
  records: readonly IncidentRecord[],
  own: readonly Alert[],
): IncidentOf {
  const newest = records.find((r) => r.id === groupId || r.id.startsWith(`${groupId}-`));
  if (!newest) return { open: groupId };
  const starts = (a: Alert) => Date.parse(a.startsAt);
  if (newest.resolvedAt !== undefined) {
    const resolved = Date.parse(newest.resolvedAt);
    const again = own.filter((a) => a.status === "firing" && starts(a) > resolved);
    const firedAt = earliest(again.map((a) => a.startsAt));
    if (firedAt === undefined) return { record: newest };
    const taken = (id: string) => records.some((r) => r.id === id);
    return { open: refiredIncidentId(groupId, firedAt, taken), firedAt, after: newest };
  }
  const before = Date.parse(newest.firedAt);
  if (newest.id !== groupId && own.length > 0 && own.every((a) => starts(a) < before))
    return { stale: newest };
  const known = new Map((newest.alertStarts ?? []).map((s) => [s.alert, Date.parse(s.startsAt)]));
  const again = own.filter((a) => {
    const was = known.get(alertKey(a));
    return was !== undefined && starts(a) > was;
  });
  const firedAt = earliest(again.map((a) => a.startsAt));
  if (firedAt === undefined) return { record: newest };
  const by = Date.parse(firedAt);
  const stillGoing = own.some((a) => {
    const was = known.get(alertKey(a));
    if (was !== undefined && starts(a) > was) return false;
    // An alert the record has not seen yet counts when it started before the new start: the
    // group was firing then (its notifications were lost too), as it would have joined the record.
    if (was === undefined && !(starts(a) < by)) return false;
    if (a.status === "firing") return true;
    const ends = a.endsAt === undefined ? NaN : Date.parse(a.endsAt);
    return ends > by;
  });
  if (stillGoing) return { record: newest };
  const taken = (id: string) => records.some((r) => r.id === id);
  return {
    open: refiredIncidentId(groupId, firedAt, taken),
    firedAt,
    after: newest,
    endedBy: firedAt,
    again: again.map(alertLabel),
  };
}

/** The `crescendo.dev/action-id` the incident writes: the same for every repeat. */
export function incidentActionId(id: string): string {
  return `incident-${id}`;
}

/** What the planner needs to know of a Release it may revert. */
export interface ReleaseView {
  stableRevision?: string;
  phase?: string;
  /**
   * The action ids on it (the annotation's, and `status.lastAction`'s): one of this incident's
   * means it was asked already (the status write after it was lost), not that it changed since.
   */
  actionIds?: readonly string[];
}

/** What the planner needs to know of a FeatureToggle it may kill. */
export interface ToggleView {
  killed: boolean;
  actionIds?: readonly string[];
}

export interface IncidentInput {
  message: WebhookMessage;
  now: number;
  squadOf: (namespace: string) => string | undefined;
  /** The Squad's policy (undefined: none) and its incident records; undefined: no such Squad. */
  squad: (name: string) => { policy?: ResponsePolicy; incidents: readonly IncidentRecord[] } | undefined;
  changes: readonly Change[];
  release: (namespace: string, name: string) => ReleaseView | undefined;
  toggle: (namespace: string, name: string) => ToggleView | undefined;
  mapping?: AlertMapping;
}

/** An annotation action to write on a Release (`undo`) or a FeatureToggle (`kill`). */
export interface ActionWrite {
  kind: "Release" | "FeatureToggle";
  namespace: string;
  name: string;
  action: "undo" | "kill";
  actionId: string;
  /** For an undo: the incident's start, recorded as the failure's start for delivery metrics. */
  failureStartedAt?: string;
  /**
   * For an undo: the revision to return to (`crescendo.dev/undo-revision`), the one the reverted
   * change replaced. Absent (a history entry from before promotions recorded it): the
   * controller's default, the most recent previous revision.
   */
  revision?: string;
  /** For a kill: why (`crescendo.dev/action-reason`), told in the kill's on-call message. */
  reason?: string;
}

export interface IncidentEvent {
  /** The Squad (cluster-scoped) or a namespaced object. */
  on:
    { kind: "Squad"; name: string } | { kind: "Release" | "FeatureToggle"; namespace: string; name: string };
  type: "Normal" | "Warning";
  reason: "IncidentOpened" | "IncidentRevert" | "IncidentKill" | "IncidentResolved";
  note: string;
}

export interface SquadIncidentPlan {
  squad: string;
  /** The incident's id (`incidentId` of the group key). */
  id: string;
  /** The squad's records with this incident added or updated, newest first, bounded. */
  incidents: IncidentRecord[];
  /** Whether `incidents` differ from what the Squad has. */
  changed: boolean;
  writes: ActionWrite[];
  events: IncidentEvent[];
}

export interface IncidentPlan {
  squads: SquadIncidentPlan[];
  /** Alerts no squad could be given (or whose Squad does not exist), and why. */
  unscoped: Unscoped[];
}

const iso = (ms: number) => new Date(ms).toISOString();
/**
 * Control characters (C0, DEL, C1) in what an alert carries, replaced: label values come from
 * the apps' own metrics, and an escape sequence recorded here would reach the terminal of whoever
 * runs `kubectl crescendo incidents` or reads the Events.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
/** A text for the record: control characters replaced, at most `max` characters. */
const cut = (text: string, max = MAX_INCIDENT_TEXT) => {
  const clean = text.replace(CONTROL, "\ufffd");
  return clean.length <= max ? clean : `${clean.slice(0, max - 1)}…`;
};

export function planIncident(input: IncidentInput): IncidentPlan {
  const mapping = input.mapping ?? DEFAULT_ALERT_MAPPING;
  const alerts = alertsOf(input.message);
  const squadOf = (ns: string) => input.squadOf(ns);
  const known = (squad: string) => input.squad(squad) !== undefined;
  // An alert whose squad has no Squad object is out of scope: there is no record to keep.
  const scoped: Alert[] = [];
  const unscoped: Unscoped[] = [];
  for (const a of alerts) {
    const scope = scopeOf(a, squadOf, mapping);
    if (!("why" in scope) && !known(scope.squad)) {
      unscoped.push({ alert: alertLabel(a), why: `no Squad ${scope.squad}` });
    } else scoped.push(a);
  }
  const result = correlate({
    alerts: scoped,
    changes: input.changes,
    squadOf,
    policyOf: (s) => input.squad(s)?.policy,
    mapping,
    now: input.now,
  });
  const groupId = incidentId(input.message.groupKey);
  const squads = result.decisions.map((d) => {
    const own = scoped.filter((a) => {
      const scope = scopeOf(a, squadOf, mapping);
      return !("why" in scope) && scope.squad === d.squad;
    });
    return planSquad(input, groupId, d, own);
  });
  return { squads, unscoped: [...unscoped, ...result.unscoped] };
}

function planSquad(
  input: IncidentInput,
  groupId: string,
  d: SquadDecision,
  own: readonly Alert[],
): SquadIncidentPlan {
  const squad = input.squad(d.squad);
  const records = squad?.incidents ?? [];
  const of = incidentOf(groupId, records, own);
  if ("stale" in of) {
    return {
      squad: d.squad,
      id: of.stale.id,
      incidents: [...records],
      changed: false,
      writes: [],
      events: [],
    };
  }
  const existing = "record" in of ? of.record : undefined;
  const id = "record" in of ? of.record.id : of.open;
  /** The resolved incident this one is the group firing again after, if so. */
  const after = "after" in of ? of.after : undefined;
  const now = iso(input.now);
  const firedAt = ("firedAt" in of ? of.firedAt : undefined) ?? earliest(own.map((a) => a.startsAt)) ?? now;
  const record: IncidentRecord = existing
    ? structuredClone(existing)
    : {
        id,
        groupKey: cut(input.message.groupKey),
        ...(own[0]?.labels["alertname"] ? { alertname: cut(own[0].labels["alertname"], 256) } : {}),
        firedAt,
        receivedAt: now,
        alerts: [],
        suspects: [],
        actions: [],
        explanation: [],
      };
  // An alert of the group arriving later with an earlier start moves the incident's start back,
  // while it is open: once resolved, recoverySeconds (firedAt to resolvedAt) is told and counted
  // in the squad's delivery figures, and the three stay consistent.
  if (record.resolvedAt === undefined && Date.parse(firedAt) < Date.parse(record.firedAt)) {
    record.firedAt = firedAt;
  }
  record.alertStarts = latestStarts(record.alertStarts ?? [], own);
  record.alerts = union(
    record.alerts,
    d.alerts.map((a) => cut(a, 256)),
  );
  const writes: ActionWrite[] = [];
  const events: IncidentEvent[] = [];
  const allResolved = own.every((a) => a.status === "resolved");
  /** The open incident this firing shows ended unseen (its resolution never arrived), closed. */
  const unseen = "endedBy" in of && of.endedBy !== undefined ? of : undefined;
  const ended = unseen ? endUnseen(unseen, input.now, d.squad, id) : undefined;
  if (unseen && ended) {
    explain(record, [
      `fired again at ${firedAt}: ${unseen.again.join(", ")} came back with a later startsAt while incident ${ended.record.id} of the same group was open; its resolved notification never arrived, so it had ended by then and this is a new incident`,
    ]);
    events.push(ended.event);
  } else if (after) {
    explain(record, [
      `fired again at ${firedAt}: incident ${after.id} of the same group resolved at ${after.resolvedAt ?? ""}, so this is a new incident`,
    ]);
  }

  if (!(existing && allResolved)) {
    // A resolved repeat of an incident already handled adds nothing but its resolution below.
    record.suspects = unionBy(
      record.suspects,
      d.suspects.map((c) => ({
        kind: c.kind,
        namespace: c.namespace,
        name: c.name,
        ...(c.revision ? { revision: c.revision } : {}),
        at: c.at,
      })),
      (s) => `${s.kind}/${s.namespace}/${s.name}/${s.revision ?? ""}/${s.at}`,
    ).sort((a, b) => Date.parse(b.at) - Date.parse(a.at));
    explain(record, d.explanation.slice(0, d.decidedFrom), d.explanation.slice(d.decidedFrom));
    act(input, id, d, record, writes, events, now);
  }
  if (!existing) {
    events.unshift({
      on: { kind: "Squad", name: d.squad },
      type: "Warning",
      reason: "IncidentOpened",
      note: cut(
        `incident ${id} (${record.alertname ?? "alert"}): ${ended ? `fired again while incident ${after?.id ?? ""} was open (its resolution was never received); ` : after ? `fired again after incident ${after.id} resolved; ` : ""}${d.suspects.length} suspect change(s); ${summary(record)}; kubectl crescendo incidents ${d.squad}`,
        1024,
      ),
    });
  }
  if (allResolved && record.resolvedAt === undefined) {
    const ends = own.map((a) => a.endsAt).filter((e): e is string => e !== undefined && Date.parse(e) > 0);
    const resolvedMs = Math.min(input.now, Date.parse(latest(ends) ?? now));
    const resolvedAt = iso(Math.max(resolvedMs, Date.parse(record.firedAt)));
    record.resolvedAt = resolvedAt;
    record.recoverySeconds = Math.round((Date.parse(resolvedAt) - Date.parse(record.firedAt)) / 1000);
    explain(record, [`resolved at ${resolvedAt}: ${record.recoverySeconds}s after it fired`]);
    events.push({
      on: { kind: "Squad", name: d.squad },
      type: "Normal",
      reason: "IncidentResolved",
      note: `incident ${id} (${record.alertname ?? "alert"}) resolved after ${record.recoverySeconds}s`,
    });
  }
  const incidents = existing
    ? records.map((r) => (r.id === id ? record : r))
    : [record, ...records.map((r) => (r.id === ended?.record.id ? ended.record : r))].slice(
        0,
        MAX_SQUAD_INCIDENTS,
      );
  return {
    squad: d.squad,
    id,
    incidents,
    changed: !existing || JSON.stringify(existing) !== JSON.stringify(record),
    writes,
    events,
  };
}

/**
 * The open incident closed because an alert of it fired again: resolved by the new start at the
 * latest, and marked so (`resolvedFrom: FiredAgain`). No `recoverySeconds`: the resolution is
 * known only to have happened before the new start, which may be hours later, and a recovery
 * time measured to it would be as wrong; delivery metrics end a change it reverted at the revert
 * (`delivery/incident-recovery.ts`). The bound is kept within [firedAt, now].
 */
function endUnseen(
  of: Extract<IncidentOf, { endedBy: string }>,
  now: number,
  squad: string,
  next: string,
): { record: IncidentRecord; event: IncidentEvent } {
  const record = structuredClone(of.after);
  const by = iso(Math.max(Date.parse(record.firedAt), Math.min(now, Date.parse(of.endedBy))));
  record.resolvedAt = by;
  record.resolvedFrom = "FiredAgain";
  delete record.recoverySeconds;
  explain(record, [
    `resolved by ${by} at the latest: no resolved notification arrived, and ${of.again.join(", ")} fired again then (a later startsAt: incident ${next}); when it ended is not known, so no recovery time is recorded`,
  ]);
  return {
    record,
    event: {
      on: { kind: "Squad", name: squad },
      type: "Normal",
      reason: "IncidentResolved",
      note: cut(
        `incident ${record.id} (${record.alertname ?? "alert"}) ended by ${by} at the latest: its resolution was never received and the alert fired again (incident ${next}); recovery time unknown`,
        1024,
      ),
    },
  };
}

/**
 * The record's alert starts with the notification's: the latest start per alert (a late retry of
 * an earlier firing never moves it back), new alerts added within the bound.
 */
function latestStarts(
  known: NonNullable<IncidentRecord["alertStarts"]>,
  own: readonly Alert[],
): NonNullable<IncidentRecord["alertStarts"]> {
  const out = known.map((s) => ({ ...s }));
  for (const a of own) {
    if (Number.isNaN(Date.parse(a.startsAt))) continue;
    const key = alertKey(a);
    const at = out.find((s) => s.alert === key);
    if (!at) {
      if (out.length < MAX_INCIDENT_ITEMS) out.push({ alert: key, startsAt: iso(Date.parse(a.startsAt)) });
    } else if (Date.parse(a.startsAt) > Date.parse(at.startsAt)) at.startsAt = iso(Date.parse(a.startsAt));
  }
  return out;
}

/** The actions the decision asks for that the record does not hold yet. */
function act(
  input: IncidentInput,
  id: string,
  d: SquadDecision,
  record: IncidentRecord,
  writes: ActionWrite[],
  events: IncidentEvent[],
  now: string,
): void {
  const actionId = incidentActionId(id);
  const recorded = (what: string, target?: string) =>
    record.actions.some((a) => a.do === what && a.target === target);
  const add = (a: IncidentRecord["actions"][number]) => {
    if (record.actions.length < MAX_INCIDENT_ITEMS) record.actions.push({ ...a, result: cut(a.result) });
  };
  const r = d.revert;
  if (r && !recorded("Revert", `${r.namespace}/${r.name}`)) {
    const target = `${r.namespace}/${r.name}`;
    const view = input.release(r.namespace, r.name);
    if (!view) {
      add({ do: "Revert", target, at: now, state: "NotDone", result: `Release ${target} no longer exists` });
    } else if (view.stableRevision !== r.revision && !view.actionIds?.includes(actionId)) {
      add({
        do: "Revert",
        target,
        at: now,
        state: "NotDone",
        result: `Release ${target} runs revision ${view.stableRevision ?? "none"} now, not the suspect revision ${r.revision ?? ""}: not reverted (a later change or an undo replaced it)`,
      });
    } else {
      writes.push({
        kind: "Release",
        namespace: r.namespace,
        name: r.name,
        action: "undo",
        actionId,
        failureStartedAt: record.firedAt,
        ...(r.replaced ? { revision: r.replaced } : {}),
      });
      add({
        do: "Revert",
        target,
        actionId,
        at: now,
        state: "Requested",
        result: `undo of revision ${r.revision ?? ""} requested (action ${actionId})`,
      });
      events.push({
        on: { kind: "Release", namespace: r.namespace, name: r.name },
        type: "Warning",
        reason: "IncidentRevert",
        note: `incident ${id} (${record.alertname ?? "alert"}): reverting revision ${r.revision ?? ""}, promoted at ${r.at}, the most recent change in the window before the alert`,
      });
    }
  }
  const seen = new Set<string>();
  for (const k of d.kill) {
    const target = `${k.namespace}/${k.name}`;
    if (seen.has(target) || recorded("KillToggles", target)) continue;
    seen.add(target);
    const view = input.toggle(k.namespace, k.name);
    if (!view) {
      add({
        do: "KillToggles",
        target,
        at: now,
        state: "NotDone",
        result: `FeatureToggle ${target} no longer exists`,
      });
    } else if (view.killed && !view.actionIds?.includes(actionId)) {
      add({ do: "KillToggles", target, at: now, state: "Done", result: "already killed: nothing to do" });
    } else {
      writes.push({
        kind: "FeatureToggle",
        namespace: k.namespace,
        name: k.name,
        action: "kill",
        actionId,
        reason: `incident ${id} (${record.alertname ?? "alert"}): changed at ${k.at}, in the window before the alert`,
      });
      add({
        do: "KillToggles",
        target,
        actionId,
        at: now,
        state: "Requested",
        result: `kill requested (action ${actionId})`,
      });
      events.push({
        on: { kind: "FeatureToggle", namespace: k.namespace, name: k.name },
        type: "Warning",
        reason: "IncidentKill",
        note: `incident ${id} (${record.alertname ?? "alert"}): killed, changed at ${k.at} in the window before the alert`,
      });
    }
  }
  if (d.notify && !recorded("Notify")) {
    add({
      do: "Notify",
      at: now,
      state: "Done",
      result: "recorded here, with Events on the Squad and on the Releases and FeatureToggles acted on",
    });
  }
}

/**
 * Actions still `Requested` settled from their targets' `status.lastAction` (the Release's undo,
 * the toggle's kill): Done, or NotDone with the controller's reason ("ignored: a rollout is in
 * progress"). Pure; the Squad controller runs it on every reconcile of the squad.
 */
export function settleActions(
  incidents: readonly IncidentRecord[],
  lastAction: (
    kind: "Release" | "FeatureToggle",
    target: string,
  ) => { id: string; result?: string | undefined } | undefined,
): IncidentRecord[] {
  return incidents.map((r) => {
    if (!r.actions.some((a) => a.state === "Requested")) return r;
    return {
      ...r,
      actions: r.actions.map((a) => {
        if (a.state !== "Requested" || !a.target || !a.actionId) return a;
        const kind = a.do === "Revert" ? "Release" : "FeatureToggle";
        const last = lastAction(kind, a.target);
        if (!last || last.id !== a.actionId) return a;
        const result = last.result ?? "";
        const refused = result.startsWith("ignored") || result.startsWith("refused");
        return { ...a, state: refused ? "NotDone" : "Done", result: cut(result || "done") };
      }),
    };
  });
}

/**
 * Adds the lines the record does not hold yet, within its bound. When they do not all fit (a
 * group of many alerts), the per-alert lines are cut, not the `decisions` after them: why the
 * Release was reverted is what the on-call reads the record for.
 */
function explain(
  record: IncidentRecord,
  perAlert: readonly string[],
  decisions: readonly string[] = [],
): void {
  const fresh = (lines: readonly string[]) =>
    [...new Set(lines.map((l) => cut(l)))].filter((l) => !record.explanation.includes(l));
  const alerts = fresh(perAlert);
  const decided = fresh(decisions);
  const room = MAX_INCIDENT_ITEMS * 2 - record.explanation.length;
  if (alerts.length + decided.length <= room) {
    record.explanation.push(...alerts, ...decided);
    return;
  }
  const kept = Math.max(0, room - decided.length - 1);
  record.explanation.push(...alerts.slice(0, kept));
  if (room - kept > decided.length) {
    record.explanation.push(`… ${alerts.length - kept} more line(s) about the group's alerts left out`);
  }
  record.explanation.push(...decided.slice(0, room - kept));
  record.explanation.splice(MAX_INCIDENT_ITEMS * 2);
}

function summary(record: IncidentRecord): string {
  const done = record.actions.filter((a) => a.do !== "Notify");
  return done.length === 0
    ? "nothing changed"
    : done.map((a) => `${a.do === "Revert" ? "revert" : "kill"} ${a.target ?? ""}`).join(", ");
}

function union(a: readonly string[], b: readonly string[]): string[] {
  return [...new Set([...a, ...b])].slice(0, MAX_INCIDENT_ITEMS);
}

function unionBy<T>(a: readonly T[], b: readonly T[], key: (t: T) => string): T[] {
  const seen = new Set(a.map(key));
  return [...a, ...b.filter((t) => !seen.has(key(t)))].slice(0, MAX_INCIDENT_ITEMS);
}

function earliest(times: readonly string[]): string | undefined {
  const valid = times.filter((t) => !Number.isNaN(Date.parse(t)));
  return valid.length === 0 ? undefined : iso(Math.min(...valid.map((t) => Date.parse(t))));
}

function latest(times: readonly string[]): string | undefined {
  const valid = times.filter((t) => !Number.isNaN(Date.parse(t)));
  return valid.length === 0 ? undefined : iso(Math.max(...valid.map((t) => Date.parse(t))));
}

function alertLabel(a: Alert): string {
  const name = a.labels["alertname"] ?? "alert";
  return a.fingerprint ? `${name} (${a.fingerprint})` : name;
}
