/**
 * The squad's on-call notification when a toggle's guarded ramp rolls back: what is recorded in
 * `status.notifications` and what is POSTed. Only the message is a toggle's own; recording,
 * retries, backoff, giving up and the POST itself are the Releases' (`release/delivery.ts`,
 * `release/notify.ts`, `release/chat-format.ts`), so a ramp's rollback is delivered at least
 * once, with the same `Idempotency-Key`, in the same formats. The payload's JSON Schema is
 * docs/schemas/oncall-webhook-featuretoggle.schema.json, generated from
 * `toggleRollbackNotification` below.
 */
import { z } from "zod";
import type { OncallFormat } from "../../api/squad.js";
import {
  RAMP_ROLLBACK_REASONS,
  type RampRollbackReason,
  type ToggleNotification,
  type ToggleRolloutStatus,
} from "../../api/toggle-rollout.js";
import { messageBody, type ChatSummary } from "../release/chat-format.js";
import { newEntry, rollbackId } from "../release/delivery.js";
import { oncallFields, type OncallMessage } from "../release/notify.js";

/** Fields every toggle payload has (a ramp's rollback, a kill), after `toggle`. */
export const toggleOncallFields = {
  namespace: z.string().describe("Namespace of the FeatureToggle."),
  squad: oncallFields.squad,
  tribe: oncallFields.tribe,
  flag: z.string().describe("The flag key apps evaluate (status.key)."),
};

/**
 * The JSON body POSTed for a ramp's rollback. As the Release's payload: every field always
 * present (absent values null), fields may be added, never removed or retyped.
 */
export const toggleRollbackNotification = z
  .object({
    kind: z
      .literal("FeatureToggle")
      .describe("What rolled back: a FeatureToggle's ramp (a Release's payload has `release` instead)."),
    event: z
      .literal("RampRolledBack")
      .describe(
        "What happened to the toggle: its ramp rolled back. A kill is another payload, with event Killed (oncall-webhook-featuretoggle-killed.schema.json).",
      ),
    toggle: z.string().describe("Name of the FeatureToggle whose ramp rolled back."),
    ...toggleOncallFields,
    variant: z.string().describe("The variant whose ramp rolled back."),
    defaultVariant: z.string().describe("The variant everyone is served since the rollback."),
    reason: z
      .enum(RAMP_ROLLBACK_REASONS)
      .describe(
        "Why: AnalysisFailed (a metric failed its threshold at an analysis step) or Aborted (the abort action).",
      ),
    message: z.string().describe("For people: names the step, the metric, its values and the threshold."),
    metric: oncallFields.metric,
    channel: oncallFields.channel,
    command: z.string().describe("The kubectl crescendo command that shows the ramp and its analysis."),
    at: z.iso.datetime().describe("When the ramp rolled back (RFC 3339, UTC): status.rollout.rolledBackAt."),
    rollbackId: z
      .string()
      .describe(
        "The rollback's id, also sent as the Idempotency-Key header: the same on every delivery attempt, from any operator process. Delivery is at least once; a receiver drops a message whose id it has seen.",
      ),
  })
  .meta({
    additionalProperties: true,
    title: "Crescendo on-call webhook: FeatureToggle ramp rolled back",
    description:
      "POSTed (Content-Type: application/json) to the URL in the Secret named by a Squad's spec.oncall.webhookSecretRef, once per rollback of a guarded ramp (spec.rollout.steps) of one of the squad's FeatureToggles.",
    examples: [
      {
        kind: "FeatureToggle",
        event: "RampRolledBack",
        toggle: "one-click-checkout",
        namespace: "checkout",
        squad: "payments",
        tribe: "money",
        flag: "one-click-checkout",
        variant: "on",
        defaultVariant: "off",
        reason: "AnalysisFailed",
        message:
          'Everyone is served default variant "off": analysis failed at step 4: error-rate failed 1 time, more than failureLimit 0: error-rate canary 0.5 vs stable 0: increase 0.5 > maxIncrease 0.01',
        metric: "error-rate",
        channel: "#payments-oncall",
        command: "kubectl crescendo status featuretoggle/one-click-checkout -n checkout",
        at: "2030-01-01T12:00:03.000Z",
        rollbackId: "5f0c2a4e-8d1b-4c39-9a57-0e6f3b2d1c88/3f9c0a7d1e2b4c56/1893499203000",
      },
    ],
  });

export type ToggleRollbackNotification = z.infer<typeof toggleRollbackNotification>;

/**
 * The pending entry for a ramp that just rolled back, or undefined when `rollout` records no
 * rollback. Its id is the toggle's uid (a recreated toggle differs), the ramp's id and the time,
 * so a ramp retried and rolled back again is a new rollback with a new message.
 */
export function rampRollbackEntry(
  uid: string,
  rollout: ToggleRolloutStatus | undefined,
  reason: RampRollbackReason,
): ToggleNotification | undefined {
  if (rollout?.phase !== "RolledBack" || rollout.rolledBackAt === undefined) return undefined;
  return newEntry<ToggleNotification>({
    id: rollbackId(uid, rollout.id, rollout.rolledBackAt),
    event: "RampRolledBack",
    variant: rollout.variant,
    reason,
    message: rollout.message ?? `the ramp of variant "${rollout.variant}" rolled back (${reason})`,
    ...(rollout.failedMetric ? { metric: rollout.failedMetric } : {}),
    at: rollout.rolledBackAt,
  });
}

/** What the payload is made of besides the entry: the toggle as it is now and its squad. */
export interface ToggleFacts {
  toggle: { name: string; namespace: string; flag: string; defaultVariant: string };
  squad?: { name: string; tribe?: string; channel?: string };
}

/** What every toggle payload says of the toggle and its squad (a ramp's rollback, a kill). */
export function toggleFieldsOf(facts: ToggleFacts) {
  const { name, namespace, flag, defaultVariant } = facts.toggle;
  return {
    kind: "FeatureToggle" as const,
    toggle: name,
    namespace,
    squad: facts.squad?.name ?? null,
    tribe: facts.squad?.tribe ?? null,
    flag,
    defaultVariant,
    channel: facts.squad?.channel ?? null,
    command: `kubectl crescendo status featuretoggle/${name} -n ${namespace}`,
  };
}

/** The payload for an entry: every field present, absent ones null. */
export function toggleRollbackNotificationOf(
  n: ToggleNotification,
  facts: ToggleFacts,
): ToggleRollbackNotification {
  return {
    ...toggleFieldsOf(facts),
    event: "RampRolledBack",
    variant: n.variant ?? "",
    reason: n.reason ?? "Aborted",
    message: n.message,
    metric: n.metric ?? null,
    at: n.at,
    rollbackId: n.id,
  };
}

/** What the chat formats say of a ramp's rollback. */
export function toggleSummaryOf(n: ToggleRollbackNotification): ChatSummary {
  const facts: [string, string][] = [
    ["Reason", n.reason],
    ...(n.metric ? ([["Metric", n.metric]] as [string, string][]) : []),
    ["Flag", n.flag],
    ["Variant", n.variant],
    ...(n.squad ? ([["Squad", n.squad]] as [string, string][]) : []),
    ["At", n.at],
  ];
  return {
    title: `${n.namespace}/${n.toggle}: ramp of "${n.variant}" rolled back`,
    why: n.message,
    done: `Everyone is served the default variant "${n.defaultVariant}" of flag ${n.flag}; the ramp stays rolled back until retried (kubectl crescendo retry featuretoggle/${n.toggle} -n ${n.namespace}).`,
    command: n.command,
    facts,
  };
}

/** The message to send: the payload's id as the Idempotency-Key, rendered in the squad's format. */
export function toggleOncallMessage(payload: ToggleRollbackNotification): OncallMessage {
  return {
    id: payload.rollbackId,
    body: (format: OncallFormat | undefined) => messageBody(format, payload, toggleSummaryOf(payload)),
  };
}
