/**
 * Incident response: a Squad's policy for alerts Alertmanager sends the operator
 * (`spec.incidentResponse`) and the record of what was done (`status.incidents`). The receiver
 * is `operator/src/incidents`; docs/incidents.md has the whole story.
 */
import { z } from "zod";
import { duration, parseDuration } from "./common.js";
import { notificationDelivery } from "./release.js";

export const INCIDENT_ACTIONS = ["Revert", "KillToggles", "Notify"] as const;
export type IncidentAction = (typeof INCIDENT_ACTIONS)[number];

/**
 * The correlation window's bounds. Under a minute, a change promoted just before an alert with
 * a `for: 1m` rule would never be a suspect; over a day, a week-old change would be reverted
 * for tonight's alert.
 */
export const CORRELATION_WINDOW_BOUNDS = { min: "1m", max: "24h", minMs: 60_000, maxMs: 86_400_000 } as const;
const windowMessage = `correlationWindow must be between ${CORRELATION_WINDOW_BOUNDS.min} and ${CORRELATION_WINDOW_BOUNDS.max}`;

export const correlationWindow = duration
  .max(32)
  .refine((text) => {
    const ms = parseDuration(text);
    return ms >= CORRELATION_WINDOW_BOUNDS.minMs && ms <= CORRELATION_WINDOW_BOUNDS.maxMs;
  }, windowMessage)
  .meta({
    "x-kubernetes-validations": [
      {
        rule: `duration(self) >= duration('${CORRELATION_WINDOW_BOUNDS.min}') && duration(self) <= duration('${CORRELATION_WINDOW_BOUNDS.max}')`,
        message: windowMessage,
      },
    ],
  });

/** Prometheus label names; a rule naming another could never match, so it is refused. */
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const labelMessage = "match.labels keys must be Prometheus label names ([a-zA-Z_][a-zA-Z0-9_]*)";
/**
 * A label value to match. Null is refused by name: the apiserver would otherwise drop the key
 * (a null is pruned), and `{severity: null}` — a YAML `severity:` left empty — would become `{}`,
 * a rule matching every alert, a Revert on any alert. `nullable` in the CRD keeps the null so the
 * Squad is Stalled with this message instead. (A client-side `kubectl apply` removes null keys
 * before sending; nothing server-side can see those.) Empty is refused at admission: Prometheus
 * drops empty labels, so the rule could never match.
 */
const labelValue = z
  .string({
    error: (issue) =>
      issue.input === null
        ? "a label value is needed; null (an empty YAML value) would match every alert"
        : "a label value must be a string",
  })
  .min(1, "a label value must not be empty: Prometheus drops empty labels, so the rule could never match")
  .max(256)
  .meta({ nullable: true });

/** The annotation a client-side `kubectl apply` records what it was given in. */
const LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration";

const asObject = (v: unknown): Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {};

/**
 * The null label values a client-side `kubectl apply` dropped before sending: kubectl removes a
 * key whose value is null (`severity:` left empty in YAML) from what it sends, so the Squad
 * arrives with `labels: {}`, a rule matching every alert, but keeps the null in its
 * last-applied annotation. A rule whose live labels lack a key the annotation has as null is
 * that mistake: the message for the Squad's Stalled condition, or undefined.
 */
export function droppedNullLabels(squad: {
  metadata?: { annotations?: Record<string, string> };
  spec?: unknown;
}): string | undefined {
  const text = squad.metadata?.annotations?.[LAST_APPLIED];
  if (!text || !text.includes("null")) return undefined;
  let applied: unknown;
  try {
    applied = JSON.parse(text);
  } catch {
    return undefined;
  }
  const actionsOf = (spec: unknown): unknown[] => {
    const actions = asObject(asObject(spec)["incidentResponse"])["actions"];
    return Array.isArray(actions) ? actions : [];
  };
  const live = actionsOf(squad.spec);
  const problems: string[] = [];
  actionsOf(asObject(applied)["spec"]).forEach((rule, i) => {
    const given = asObject(asObject(asObject(rule)["match"])["labels"]);
    const kept = asObject(asObject(asObject(live[i])["match"])["labels"]);
    for (const [key, value] of Object.entries(given)) {
      if (value === null && !(key in kept)) {
        problems.push(
          `spec.incidentResponse.actions[${i}].match.labels.${key}: a label value is needed; null (an empty YAML value) would match every alert (kubectl apply dropped it before sending)`,
        );
      }
    }
  });
  return problems.length > 0 ? problems.join("; ") : undefined;
}

const matchLabels = z
  .record(z.string(), labelValue)
  .refine((labels) => Object.keys(labels).every((k) => LABEL_NAME.test(k)), labelMessage)
  .refine((labels) => Object.keys(labels).length <= 16, "match.labels may name at most 16 labels")
  .meta({
    "x-kubernetes-validations": [
      { rule: "self.all(k, k.matches('^[a-zA-Z_][a-zA-Z0-9_]*$'))", message: labelMessage },
    ],
    maxProperties: 16,
  });

export const incidentRule = z
  .object({
    match: z
      .object({
        labels: matchLabels
          .default({})
          .describe("Labels the alert must all carry with these values; empty matches every alert."),
      })
      .default({ labels: {} })
      .describe("Which alerts the rule applies to."),
    do: z
      .enum(INCIDENT_ACTIONS)
      .describe(
        "Revert: return the most recent Release change in the window to the revision before it; KillToggles: kill the FeatureToggles changed in the window; Notify: record and tell, change nothing.",
      ),
  })
  .describe("One rule: alerts matching its labels get its action (every matching rule applies).");

export const incidentResponse = z
  .object({
    correlationWindow: correlationWindow
      .default("30m")
      .describe(
        "How long before an alert started a change is a suspect (1m to 24h, default 30m): a change in [startsAt - window, startsAt].",
      ),
    actions: z
      .array(incidentRule)
      .max(20)
      .default([])
      .describe("What to do for alerts of the squad; no rule matching an alert means Notify only."),
  })
  .describe(
    "What to do when Alertmanager reports an alert of the squad (docs/incidents.md). Without it, alerts are recorded and nothing is changed.",
  );
export type IncidentResponse = z.infer<typeof incidentResponse>;

/** Entries of Squad status.incidents, newest first: the recent ones, not an archive. */
export const MAX_SQUAD_INCIDENTS = 20;
/** Per incident: enough for a group of alerts, small enough for the Squad object. */
export const MAX_INCIDENT_ITEMS = 20;
export const MAX_INCIDENT_TEXT = 512;

const dateTime = (description: string) => z.string().describe(description).meta({ format: "date-time" });
const text = (description: string) => z.string().max(MAX_INCIDENT_TEXT).describe(description);

/**
 * Where an incident's resolution came from when not from Alertmanager's resolved notification:
 * `FiredAgain`, inferred from an alert of it firing again with a later startsAt.
 */
export const INCIDENT_RESOLUTION_SOURCES = ["FiredAgain"] as const;

export const INCIDENT_ACTION_STATES = ["Requested", "Done", "NotDone"] as const;

/** A change of the squad in the window before the alert (also in the on-call payload). */
export const incidentSuspect = z.object({
  kind: z.enum(["Release", "FeatureToggle"]).describe("What changed."),
  namespace: z.string().describe("Its namespace."),
  name: z.string().describe("Its name."),
  revision: z.string().optional().describe("For a Release: the revision the change introduced."),
  at: dateTime("When the change took effect (a Release's promotion, a toggle's spec change)."),
});

export const incidentRecord = z
  .object({
    id: z
      .string()
      .max(64)
      .describe(
        "The incident's id: a digest of Alertmanager's group key; the group firing again after its incident resolved adds when (digest-20300101T031500Z).",
      ),
    groupKey: text("Alertmanager's group key (cut to 512 characters)."),
    alertname: z.string().max(256).optional().describe("The alertname of the group's first alert."),
    firedAt: dateTime("When the earliest of the squad's alerts in the group started (startsAt)."),
    receivedAt: dateTime("When the operator first received the group."),
    alerts: z
      .array(z.string().max(256))
      .max(MAX_INCIDENT_ITEMS)
      .describe("The squad's alerts in the group: alertname (fingerprint)."),
    alertStarts: z
      .array(
        z.object({
          alert: z
            .string()
            .max(64)
            .describe(
              "The alert: Alertmanager's fingerprint (a hash of its labels), or a digest of its labels.",
            ),
          startsAt: dateTime(
            "Its startsAt: the same in every repeat of one firing, later once it fires again.",
          ),
        }),
      )
      .max(MAX_INCIDENT_ITEMS)
      .optional()
      .describe(
        "When each of the squad's alerts in the group started, the latest seen: a known alert arriving with a later startsAt fired again, so a firing whose resolved notification never arrived is told from a repeat (docs/incidents.md).",
      ),
    suspects: z
      .array(incidentSuspect)
      .max(MAX_INCIDENT_ITEMS)
      .describe("Changes of the squad in the window before the alert, newest first."),
    actions: z
      .array(
        z.object({
          do: z.enum(INCIDENT_ACTIONS).describe("The action."),
          target: z.string().max(256).optional().describe("Release or FeatureToggle namespace/name."),
          actionId: z
            .string()
            .max(64)
            .optional()
            .describe("The crescendo.dev/action-id written to the target."),
          at: dateTime("When it was requested."),
          state: z
            .enum(INCIDENT_ACTION_STATES)
            .describe("Requested (written, not yet acted on), Done, or NotDone (the target refused it)."),
          result: text(
            "What the target's controller did (its status.lastAction.result), or why nothing was.",
          ),
        }),
      )
      .max(MAX_INCIDENT_ITEMS)
      .describe("Actions taken and their outcome."),
    explanation: z
      .array(text("One decision."))
      .max(MAX_INCIDENT_ITEMS * 2)
      .describe("Every decision and why, in order, including nothing done."),
    resolvedAt: z
      .string()
      .optional()
      .describe(
        "When Alertmanager reported every alert of the squad resolved (their endsAt); with resolvedFrom FiredAgain, the latest it can have been.",
      )
      .meta({ format: "date-time" }),
    resolvedFrom: z
      .enum(INCIDENT_RESOLUTION_SOURCES)
      .optional()
      .describe(
        "Absent: Alertmanager's resolved notification. FiredAgain: none arrived, and an alert of the incident came back with a later startsAt, so it had ended by then (resolvedAt, an upper bound); no recoverySeconds, the span is not known.",
      ),
    recoverySeconds: z
      .number()
      .int()
      .optional()
      .describe(
        "firedAt to resolvedAt, when Alertmanager reported the resolution. A Release change this incident reverted counts the same span (alert start to resolved) as its failed deployment recovery time in the squad's delivery metrics (from the earlier Degraded start if the Release was unavailable before the alert; docs/delivery-metrics.md).",
      ),
  })
  .describe("One Alertmanager alert group and what was done about it.");
export type IncidentRecord = z.infer<typeof incidentRecord>;

export const incidentRecords = z
  .array(incidentRecord)
  .max(MAX_SQUAD_INCIDENTS)
  .describe(`The squad's recent incidents, newest first (at most ${MAX_SQUAD_INCIDENTS}).`);

/** What an incident notification tells the squad's on-call webhook. */
export const INCIDENT_NOTICE_EVENTS = ["Opened", "Resolved"] as const;
export type IncidentNoticeEvent = (typeof INCIDENT_NOTICE_EVENTS)[number];

/** Entries of Squad status.notifications (the Releases' bound: finished ones make room first). */
export const MAX_SQUAD_NOTIFICATIONS = 10;

/**
 * One on-call notification of an incident, recorded pending in the same status write as the
 * incident's opening or resolution, then delivered at least once by the leader as a Release's
 * rollback is (docs/incidents.md, "On-call notifications").
 */
export const incidentNotification = z
  .object({
    id: z
      .string()
      .max(256)
      .describe(
        "<squad>/<incident id>/<receivedAt ms>/<opened|resolved>: sent as the payload's notificationId and the Idempotency-Key header, so a receiver can drop a repeated delivery.",
      ),
    incident: z.string().max(64).describe("The incident's id in status.incidents."),
    event: z.enum(INCIDENT_NOTICE_EVENTS).describe("Opened (first received) or Resolved."),
    alertname: z
      .string()
      .max(256)
      .optional()
      .describe("The incident's alertname, should its record go first."),
    firedAt: dateTime("The incident's firedAt, should its record go first."),
    at: dateTime("When the event was recorded; retries stop an hour after it."),
    ...notificationDelivery,
  })
  .describe("One on-call notification of an incident and how its delivery stands.");
export type IncidentNotification = z.infer<typeof incidentNotification>;

export const incidentNotifications = z
  .array(incidentNotification)
  .max(MAX_SQUAD_NOTIFICATIONS)
  .describe(
    "On-call notifications of the squad's incidents (opened, resolved), newest first: pending until delivered or given up. Recorded in the incident's own status write, so a restarted or new leader finishes the delivery.",
  );
