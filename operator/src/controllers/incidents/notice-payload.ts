/**
 * What an incident's on-call notification says: the JSON payload (its JSON Schema is
 * docs/schemas/oncall-webhook-incident.schema.json, generated from `incidentOncallPayload`
 * below) and what the Slack and Teams messages say of it. Only the message is an incident's own:
 * the POST, the Secret, the `Idempotency-Key`, the formats and the delivery rules are the
 * Releases' (`release/notify.ts`, `release/chat-format.ts`, `release/delivery.ts`).
 *
 * The payload is built from the incident's record as the Squad's status holds it when an attempt
 * is made, so a retry tells the actions' newer state (Requested, then Done); the
 * `notificationId` stays the same. Should the record be gone (more than 20 newer incidents of the
 * squad before delivery), the entry's own fields still say what fired.
 */
import { z } from "zod";
import {
  INCIDENT_ACTION_STATES,
  INCIDENT_ACTIONS,
  INCIDENT_NOTICE_EVENTS,
  incidentSuspect,
  type IncidentNotification,
  type IncidentRecord,
} from "../../api/incident.js";
import type { OncallFormat } from "../../api/squad.js";
import { messageBody, type ChatSummary } from "../release/chat-format.js";
import { oncallFields, type OncallMessage } from "../release/notify.js";

const dateTime = (description: string) => z.iso.datetime({ offset: true }).describe(description);

export const incidentOncallPayload = z
  .object({
    kind: z.literal("Incident").describe("What the message is about (a Release's payload has `release`)."),
    event: z
      .enum(INCIDENT_NOTICE_EVENTS)
      .describe("Opened: the incident was first received. Resolved: every alert of it resolved."),
    squad: z.string().describe("The squad whose incident it is."),
    tribe: oncallFields.tribe,
    channel: oncallFields.channel,
    incident: z.string().describe("The incident's id in the Squad's status.incidents."),
    alertname: z.string().nullable().describe("The alertname of the group's first alert, or null."),
    groupKey: z.string().nullable().describe("Alertmanager's group key (cut to 512 characters), or null."),
    alerts: z.array(z.string()).describe("The squad's alerts in the group: alertname (fingerprint)."),
    firedAt: dateTime("When the earliest of the squad's alerts started."),
    resolvedAt: dateTime("When every alert of the squad resolved; null until then.").nullable(),
    recoverySeconds: z
      .number()
      .int()
      .nullable()
      .describe(
        "firedAt to resolvedAt in seconds (the recovery time); null until resolved, and when the resolution was inferred (resolvedFrom FiredAgain).",
      ),
    resolvedFrom: z
      .enum(["Alertmanager", "FiredAgain"])
      .nullable()
      .describe(
        "Alertmanager: its resolved notification. FiredAgain: none arrived, and an alert of the incident fired again with a later startsAt, so it had ended by resolvedAt at the latest (the time it ended, and the recovery time, are not known). Null until resolved.",
      ),
    suspects: z
      .array(
        incidentSuspect.extend({
          revision: z
            .string()
            .nullable()
            .describe("For a Release: the revision the change introduced, or null."),
        }),
      )
      .describe("The squad's changes in the correlation window before the alert, newest first."),
    actions: z
      .array(
        z.object({
          do: z.enum(INCIDENT_ACTIONS).describe("Revert, KillToggles or Notify."),
          target: z.string().nullable().describe("The Release or FeatureToggle (namespace/name), or null."),
          state: z
            .enum(INCIDENT_ACTION_STATES)
            .describe("Requested (written, not yet acted on), Done, or NotDone (refused, or not asked)."),
          result: z.string().describe("What the target's controller did, or why nothing was."),
          at: dateTime("When it was requested."),
        }),
      )
      .describe("What was done, as it stands when the message is sent."),
    explanation: z
      .array(z.string())
      .describe("Every decision and why, in order (at most 40 lines of at most 512 characters)."),
    command: z.string().describe("The kubectl crescendo command that shows the squad's incidents."),
    at: dateTime("When the event was recorded."),
    notificationId: z
      .string()
      .describe(
        "The notification's id, also sent as the Idempotency-Key header: the same on every delivery attempt of this event, from any operator process. Delivery is at least once; a receiver drops a message whose id it has seen.",
      ),
  })
  .meta({
    additionalProperties: true,
    title: "Crescendo on-call webhook: incident opened or resolved",
    description:
      "POSTed (Content-Type: application/json) to the URL in the Secret named by a Squad's spec.oncall.webhookSecretRef, once when an incident of the squad is opened (first received from Alertmanager) and once when it is resolved.",
    examples: [
      {
        kind: "Incident",
        event: "Opened",
        squad: "payments",
        tribe: "money",
        channel: "#payments-oncall",
        incident: "3f2a9c0d1e4b5a67",
        alertname: "CheckoutErrorRateHigh",
        groupKey: '{}:{alertname="CheckoutErrorRateHigh", namespace="checkout"}',
        alerts: ["CheckoutErrorRateHigh (c0ffee0123456789)"],
        firedAt: "2030-01-01T03:00:00.000Z",
        resolvedAt: null,
        recoverySeconds: null,
        resolvedFrom: null,
        suspects: [
          {
            kind: "Release",
            namespace: "checkout",
            name: "web",
            revision: "7d9f8c6b5",
            at: "2030-01-01T02:50:00.000Z",
          },
        ],
        actions: [
          {
            do: "Revert",
            target: "checkout/web",
            state: "Requested",
            result: "undo of revision 7d9f8c6b5 requested (action incident-3f2a9c0d1e4b5a67)",
            at: "2030-01-01T03:00:11.000Z",
          },
        ],
        explanation: [
          "revert Release checkout/web revision 7d9f8c6b5 at 2030-01-01T02:50:00.000Z: the most recent Release change in the window",
        ],
        command: "kubectl crescendo incidents payments",
        at: "2030-01-01T03:00:11.000Z",
        notificationId: "payments/3f2a9c0d1e4b5a67/1893466811000/opened",
      },
    ],
  });

export type IncidentOncallPayload = z.infer<typeof incidentOncallPayload>;

/** The squad as the payload names it. */
export interface IncidentSquadFacts {
  name: string;
  tribe?: string | undefined;
  channel?: string | undefined;
}

/**
 * The payload for a pending entry: the incident as `record` (the Squad's record of it, if still
 * there) says, every field present, absent ones null.
 */
export function incidentPayloadOf(
  n: IncidentNotification,
  record: IncidentRecord | undefined,
  squad: IncidentSquadFacts,
): IncidentOncallPayload {
  return {
    kind: "Incident",
    event: n.event,
    squad: squad.name,
    tribe: squad.tribe ?? null,
    channel: squad.channel ?? null,
    incident: n.incident,
    alertname: record?.alertname ?? n.alertname ?? null,
    groupKey: record?.groupKey ?? null,
    alerts: record?.alerts ?? [],
    firedAt: record?.firedAt ?? n.firedAt,
    resolvedAt: record?.resolvedAt ?? null,
    recoverySeconds: record?.recoverySeconds ?? null,
    resolvedFrom: record?.resolvedAt === undefined ? null : (record.resolvedFrom ?? "Alertmanager"),
    suspects: (record?.suspects ?? []).map((s) => ({ ...s, revision: s.revision ?? null })),
    actions: (record?.actions ?? []).map((a) => ({
      do: a.do,
      target: a.target ?? null,
      state: a.state,
      result: a.result,
      at: a.at,
    })),
    explanation: record?.explanation ?? [
      `the incident's record is no longer in the Squad's status (more than 20 newer incidents)`,
    ],
    command: `kubectl crescendo incidents ${squad.name}`,
    at: n.at,
    notificationId: n.id,
  };
}

/** How much of the explanation a chat message quotes: the record keeps it all. */
const CHAT_EXPLANATION_CHARS = 2000;

/** What the chat formats say of an incident. */
export function incidentSummaryOf(p: IncidentOncallPayload): ChatSummary {
  const what = p.alertname ?? "alert";
  const resolved = p.event === "Resolved";
  const inferred = p.resolvedFrom === "FiredAgain";
  const title = resolved
    ? inferred
      ? `${p.squad}: ${what} ended unseen (fired again; no resolved notification arrived)`
      : `${p.squad}: ${what} resolved${p.recoverySeconds === null ? "" : ` after ${durationText(p.recoverySeconds)}`}`
    : `${p.squad}: ${what} firing`;
  const acted = p.actions.filter((a) => a.do !== "Notify");
  const done =
    acted.length === 0
      ? "Nothing changed: no Revert or KillToggles applied (recorded, Events raised)."
      : acted.map((a) => `${a.do} ${a.target ?? ""}: ${a.state} (${a.result})`).join("; ");
  const suspects = p.suspects.map(
    (s) => `${s.kind} ${s.namespace}/${s.name}${s.revision ? ` revision ${s.revision}` : ""} at ${s.at}`,
  );
  const facts: [string, string][] = [
    ["Alerts", p.alerts.length > 0 ? p.alerts.join(", ") : what],
    ["Suspects", suspects.length > 0 ? suspects.join("; ") : "none in the correlation window"],
    ["Fired", p.firedAt],
    ...(p.resolvedAt
      ? ([["Resolved", inferred ? `by ${p.resolvedAt} at the latest (inferred)` : p.resolvedAt]] as [
          string,
          string,
        ][])
      : []),
    ...(p.recoverySeconds === null
      ? []
      : ([["Recovery", durationText(p.recoverySeconds)]] as [string, string][])),
    ["Squad", p.squad],
    ["Incident", p.incident],
  ];
  return { title, why: bounded(p.explanation), done, command: p.command, facts };
}

/** The message to send: its id as the Idempotency-Key, rendered in the squad's format. */
export function incidentOncallMessage(payload: IncidentOncallPayload): OncallMessage {
  return {
    id: payload.notificationId,
    body: (format: OncallFormat | undefined) => messageBody(format, payload, incidentSummaryOf(payload)),
  };
}

/** The explanation's lines, as many whole ones as fit, then how many were left out. */
function bounded(lines: readonly string[]): string {
  const out: string[] = [];
  let size = 0;
  for (const line of lines) {
    if (size + line.length + 1 > CHAT_EXPLANATION_CHARS) {
      out.push(`… ${lines.length - out.length} more: see the command below`);
      break;
    }
    out.push(line);
    size += line.length + 1;
  }
  return out.length > 0 ? out.join("\n") : "no explanation recorded";
}

/** 270 → "4m30s"; 45 → "45s"; 3600 → "1h0m". */
function durationText(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`;
  return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}
