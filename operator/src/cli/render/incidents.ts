/**
 * `kubectl crescendo incidents [squad]`: the incidents Alertmanager reported and what Crescendo
 * did about them, from the Squads' `status.incidents`. A table of every incident (newest first);
 * with one squad named, each incident's timeline — the suspect changes, the alert, what was
 * done and how it ended, whether on-call was told, the resolution — and every decision's reason.
 * Pure.
 */
import type { IncidentNotification, IncidentRecord } from "../../api/incident.js";
import {
  formatDuration,
  palette,
  relative,
  table,
  type Cell,
  type Palette,
  type RenderOptions,
} from "./style.js";

export interface SquadIncident {
  squad: string;
  incident: IncidentRecord;
  /** The on-call messages of this incident in the Squad's `status.notifications`. */
  notices?: readonly IncidentNotification[];
}

export interface IncidentsRenderOptions extends RenderOptions {
  /** Print each incident's timeline and reasons (one squad named). */
  timelines?: boolean;
}

/** The incidents of `squads` newest first (by when they fired). */
export function incidentsOf(
  squads: readonly {
    name: string;
    incidents?: readonly IncidentRecord[];
    notifications?: readonly IncidentNotification[];
  }[],
): SquadIncident[] {
  return squads
    .flatMap((s) =>
      (s.incidents ?? []).map((incident) => {
        // This occurrence's: recorded with or after it (an older one of the same group went first).
        const notices = (s.notifications ?? []).filter(
          (n) => n.incident === incident.id && Date.parse(n.at) >= Date.parse(incident.receivedAt),
        );
        return { squad: s.name, incident, ...(notices.length > 0 ? { notices } : {}) };
      }),
    )
    .sort((a, b) => Date.parse(b.incident.firedAt) - Date.parse(a.incident.firedAt));
}

export function renderIncidents(
  list: readonly SquadIncident[],
  options: IncidentsRenderOptions = {},
): string {
  const now = options.now ?? Date.now();
  const p = palette(options.color ?? false);
  if (list.length === 0) return "No incidents recorded.\n";
  const rows: Cell[][] = [["SQUAD", "INCIDENT", "ALERT", "FIRED", "SUSPECTS", "ACTIONS", "RESOLVED"]];
  for (const { squad, incident: i } of list) {
    rows.push([
      squad,
      i.id,
      clip(i.alertname ?? "-", ALERT_COLUMN),
      relative(i.firedAt, now) ?? "-",
      String(i.suspects.length),
      actionsCell(i, p),
      i.resolvedAt ? resolvedCell(i) : { text: "open", style: p.warn },
    ]);
  }
  const out = table(rows, "");
  if (options.timelines)
    for (const { incident, notices } of list) out.push("", ...timeline(incident, now, p, notices));
  else out.push("", "Name a squad for each incident's timeline: kubectl crescendo incidents <squad>");
  return `${out.join("\n")}\n`;
}

/**
 * How long it took, or, for a resolution inferred from the alert firing again (Alertmanager's
 * resolved notification never arrived), that the time is not known: never "after 0s".
 */
function resolvedCell(i: IncidentRecord): string {
  if (i.resolvedFrom === "FiredAgain") return "by next firing";
  return `after ${formatDuration((i.recoverySeconds ?? 0) * 1000)}`;
}

/**
 * The table's ALERT column at most this wide: an alertname may be 256 characters (a label value
 * an alert rule templated), which would push every other column off the screen. The timeline
 * below the table prints it whole.
 */
const ALERT_COLUMN = 40;
const clip = (text: string, max: number) => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);

function actionsCell(i: IncidentRecord, p: Palette): Cell {
  const acted = i.actions.filter((a) => a.do !== "Notify");
  if (acted.length === 0) return "notified only";
  const text = acted
    .map((a) => `${a.do === "Revert" ? "revert" : "kill"} ${a.target ?? ""} (${a.state})`)
    .join(", ");
  const failed = acted.some((a) => a.state === "NotDone");
  return { text, style: failed ? p.bad : acted.every((a) => a.state === "Done") ? p.ok : p.warn };
}

/** The incident's events in time order, then why each decision was made. */
export function timeline(
  i: IncidentRecord,
  now: number,
  p: Palette = palette(false),
  notices: readonly IncidentNotification[] = [],
): string[] {
  const events: { at: string; what: string }[] = [
    ...i.suspects.map((s) => ({
      at: s.at,
      what:
        s.kind === "Release"
          ? `Release ${s.namespace}/${s.name} revision ${s.revision ?? "?"} promoted (suspect)`
          : `FeatureToggle ${s.namespace}/${s.name} changed (suspect)`,
    })),
    { at: i.firedAt, what: p.bad(`alert fired: ${i.alerts.join(", ") || (i.alertname ?? "alert")}`) },
    { at: i.receivedAt, what: "received from Alertmanager" },
    ...i.actions.map((a) => ({
      at: a.at,
      what: `${a.do}${a.target ? ` ${a.target}` : ""}: ${a.state === "Done" ? p.ok(a.state) : a.state === "NotDone" ? p.bad(a.state) : p.warn(a.state)} (${a.result})`,
    })),
    ...notices.map((n) => oncallEvent(n, p)),
    ...(i.resolvedAt
      ? [
          {
            at: i.resolvedAt,
            what:
              i.resolvedFrom === "FiredAgain"
                ? p.warn(
                    "resolved by then at the latest: no resolved notification arrived, and the alert fired again (recovery time unknown)",
                  )
                : p.ok(`resolved, ${formatDuration((i.recoverySeconds ?? 0) * 1000)} after it fired`),
          },
        ]
      : []),
  ];
  // Stable order: equal times keep the order above (suspects, alert, receipt, actions, resolution).
  const sorted = events
    .map((e, n) => ({ ...e, n }))
    .sort((a, b) => Date.parse(a.at) - Date.parse(b.at) || a.n - b.n);
  return [
    p.bold(`Incident ${i.id}${i.alertname ? ` (${i.alertname})` : ""}`),
    ...table(sorted.map((e) => [e.at, relative(e.at, now) ?? "", e.what])),
    "  Why:",
    ...i.explanation.map((line) => `    - ${line}`),
  ];
}

/** Whether on-call was told (`docs/incidents.md`, "On-call notifications"), and when. */
function oncallEvent(n: IncidentNotification, p: Palette): { at: string; what: string } {
  const tries = `${n.attempts} attempt${n.attempts === 1 ? "" : "s"}`;
  if (n.deliveredAt) return { at: n.deliveredAt, what: p.ok(`on-call told: ${n.event} (${tries})`) };
  if (n.failedAt)
    return {
      at: n.failedAt,
      what: p.bad(`on-call not told: ${n.event}, gave up after ${tries}: ${n.lastError ?? ""}`),
    };
  const last = n.lastError ? `, last error: ${n.lastError}` : "";
  return { at: n.at, what: p.warn(`on-call message ${n.event} pending (${tries}${last})`) };
}
