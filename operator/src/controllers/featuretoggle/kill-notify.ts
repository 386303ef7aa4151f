/**
 * The squad's on-call notification when a kill action kills a toggle (an incident's KillToggles,
 * or a person's `kubectl crescendo kill`): what is recorded in `status.notifications` and what
 * is POSTed. As for a ramp's rollback (`ramp-notify.ts`), only the message is a kill's own;
 * recording, retries, giving up and the POST are the Releases' (`release/delivery.ts`,
 * `release/notify.ts`, `release/chat-format.ts`): at least once, one `Idempotency-Key`, the
 * squad's format. The payload's JSON Schema is
 * docs/schemas/oncall-webhook-featuretoggle-killed.schema.json, generated from
 * `toggleKillNotification` below.
 *
 * A toggle killed by its guard Release's rollback (`killedBy` a revision) gets no message of its
 * own: the Release's rollback message names the toggles it kills (`release/notify.ts`
 * `killedToggles`), so one event is one message.
 */
import { z } from "zod";
import type { FeatureToggleStatus } from "../../api/featuretoggle.js";
import type { OncallFormat } from "../../api/squad.js";
import type { ToggleNotification } from "../../api/toggle-rollout.js";
import { messageBody, type ChatSummary } from "../release/chat-format.js";
import { newEntry } from "../release/delivery.js";
import { oncallFields, type OncallMessage } from "../release/notify.js";
import { KILLED_BY_ACTION_PREFIX, killedByAction } from "./kill-by.js";
import { toggleFieldsOf, toggleOncallFields, type ToggleFacts } from "./ramp-notify.js";

/** The action id the incident receiver writes (`incidents/plan.ts` incidentActionId). */
const INCIDENT_ACTION_PREFIX = "incident-";

/**
 * The JSON body POSTed for a kill. As every on-call payload: every field always present (absent
 * values null), fields may be added, never removed or retyped. `kind` and `event` tell it from a
 * ramp's rollback (event RampRolledBack) and from a Release's rollback (no kind).
 */
export const toggleKillNotification = z
  .object({
    kind: z.literal("FeatureToggle").describe("What the message is about: a FeatureToggle."),
    event: z.literal("Killed").describe("What happened: a kill action killed the toggle."),
    toggle: z.string().describe("Name of the FeatureToggle."),
    ...toggleOncallFields,
    defaultVariant: z.string().describe("The variant everyone is served since the kill."),
    killedBy: z
      .enum(["Incident", "Action"])
      .describe(
        "Who killed it: Incident (the incident receiver, for a squad's KillToggles rule) or Action (a kill action from anyone else: kubectl crescendo kill, or the annotation written by hand).",
      ),
    actionId: z.string().describe("The kill action's crescendo.dev/action-id (status.lastAction.id)."),
    incident: z
      .string()
      .nullable()
      .describe(
        "The incident (Squad status.incidents id) when the incident receiver killed it; otherwise null.",
      ),
    reason: z
      .string()
      .nullable()
      .describe(
        "Why, in the requester's words (the crescendo.dev/action-reason annotation): the incident and its alert when the incident receiver killed it; null when none was given.",
      ),
    message: z.string().describe("For people: who killed it, why, and what everyone is served now."),
    channel: oncallFields.channel,
    command: z.string().describe("The kubectl crescendo command that shows the toggle."),
    rearmCommand: z.string().describe("The kubectl crescendo command that un-kills it, once it is safe."),
    at: z.iso.datetime().describe("When the toggle was killed (RFC 3339, UTC): status.killedAt."),
    notificationId: z
      .string()
      .describe(
        "The kill's id, also sent as the Idempotency-Key header: the same on every delivery attempt, from any operator process. Delivery is at least once; a receiver drops a message whose id it has seen.",
      ),
  })
  .meta({
    additionalProperties: true,
    title: "Crescendo on-call webhook: FeatureToggle killed",
    description:
      "POSTed (Content-Type: application/json) to the URL in the Secret named by a Squad's spec.oncall.webhookSecretRef, once per kill of one of the squad's FeatureToggles by a kill action. A kill by a guard Release's rollback is named in that Release's rollback message (killedToggles) instead.",
    examples: [
      {
        kind: "FeatureToggle",
        event: "Killed",
        toggle: "one-click-checkout",
        namespace: "checkout",
        squad: "payments",
        tribe: "money",
        flag: "one-click-checkout",
        defaultVariant: "off",
        killedBy: "Incident",
        actionId: "incident-3f9c0a7d1e2b4c56",
        incident: "3f9c0a7d1e2b4c56",
        reason:
          "incident 3f9c0a7d1e2b4c56 (CheckoutErrorRate): changed at 2030-01-01T11:50:00Z, in the window before the alert",
        message:
          'Killed by incident 3f9c0a7d1e2b4c56: incident 3f9c0a7d1e2b4c56 (CheckoutErrorRate): changed at 2030-01-01T11:50:00Z, in the window before the alert. Everyone is served default variant "off".',
        channel: "#payments-oncall",
        command: "kubectl crescendo status featuretoggle/one-click-checkout -n checkout",
        rearmCommand: "kubectl crescendo rearm one-click-checkout -n checkout",
        at: "2030-01-01T12:00:01.000Z",
        notificationId: "5f0c2a4e-8d1b-4c39-9a57-0e6f3b2d1c88/killed/1893499201000",
      },
    ],
  });

export type ToggleKillNotification = z.infer<typeof toggleKillNotification>;

/** The incident a kill action came from, by its action id; undefined for any other action. */
export function incidentOfAction(actionId: string): string | undefined {
  return actionId.startsWith(INCIDENT_ACTION_PREFIX)
    ? actionId.slice(INCIDENT_ACTION_PREFIX.length)
    : undefined;
}

/**
 * The pending entry for a kill that `after` (the status this reconcile writes) records and
 * `before` (the status it read) did not, or undefined. Only kills by an action: a kill by the
 * guard's rollback is told in the Release's message. The id is the toggle's uid and the kill's
 * time, so the same kill seen again adds nothing, and a kill after a rearm is a new message.
 */
export function killEntry(
  uid: string,
  before: Pick<FeatureToggleStatus, "killedAt"> | undefined,
  after: Pick<FeatureToggleStatus, "killedAt" | "killedBy" | "servedVariant">,
  reason?: string,
): ToggleNotification | undefined {
  const at = after.killedAt;
  if (at === undefined || at === before?.killedAt || !killedByAction(after)) return undefined;
  const actionId = (after.killedBy ?? "").slice(KILLED_BY_ACTION_PREFIX.length);
  const incident = incidentOfAction(actionId);
  const note = reason?.trim() || undefined;
  const who = incident ? `incident ${incident}` : `action ${actionId}`;
  const served = after.servedVariant ? ` Everyone is served default variant "${after.servedVariant}".` : "";
  return newEntry<ToggleNotification>({
    id: `${uid}/killed/${timeId(at)}`,
    event: "Killed",
    message: `Killed by ${who}${note ? `: ${note}` : ""}.${served}`,
    actionId,
    ...(incident ? { incident } : {}),
    ...(note ? { note: note.length > 1024 ? `${note.slice(0, 1021)}...` : note } : {}),
    at,
  });
}

function timeId(at: string): string {
  const ms = Date.parse(at);
  return Number.isNaN(ms) ? at : String(ms);
}

/** The payload for a kill's entry: every field present, absent ones null. */
export function toggleKillNotificationOf(n: ToggleNotification, facts: ToggleFacts): ToggleKillNotification {
  const { name, namespace } = facts.toggle;
  const actionId = n.actionId ?? "";
  const incident = n.incident ?? incidentOfAction(actionId) ?? null;
  return {
    ...toggleFieldsOf(facts),
    event: "Killed",
    killedBy: incident ? "Incident" : "Action",
    actionId,
    incident,
    reason: n.note ?? null,
    message: n.message,
    rearmCommand: `kubectl crescendo rearm ${name} -n ${namespace}`,
    at: n.at,
    notificationId: n.id,
  };
}

/** What the chat formats say of a kill. */
export function killSummaryOf(n: ToggleKillNotification): ChatSummary {
  const by: [string, string] =
    n.incident !== null ? ["Incident", n.incident] : ["Killed by", `action ${n.actionId}`];
  const incidents =
    n.incident !== null && n.squad ? `; the incident: kubectl crescendo incidents ${n.squad}` : "";
  return {
    title: `${n.namespace}/${n.toggle}: killed`,
    why: n.message,
    done: `Everyone is served the default variant "${n.defaultVariant}" of flag ${n.flag} until a person re-arms it: ${n.rearmCommand}${incidents}.`,
    command: n.command,
    facts: [
      by,
      ["Flag", n.flag],
      ["Served", n.defaultVariant],
      ...(n.squad ? ([["Squad", n.squad]] as [string, string][]) : []),
      ["At", n.at],
    ],
  };
}

/** The message to send: the payload's id as the Idempotency-Key, rendered in the squad's format. */
export function killOncallMessage(payload: ToggleKillNotification): OncallMessage {
  return {
    id: payload.notificationId,
    body: (format: OncallFormat | undefined) => messageBody(format, payload, killSummaryOf(payload)),
  };
}
