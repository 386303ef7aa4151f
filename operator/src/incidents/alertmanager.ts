/**
 * Alertmanager's webhook payload (version 4), parsed with bounds: the receiver reads only what
 * it needs and refuses what no Alertmanager sends (another version, a hundred thousand alerts,
 * megabyte labels), so a hostile body costs a parse and a 400, never memory or a write.
 *
 * The shape, as Alertmanager's `notify/webhook` sends it:
 * `{ version: "4", groupKey, truncatedAlerts, status, receiver, groupLabels, commonLabels,
 *    commonAnnotations, externalURL, alerts: [{ status, labels, annotations, startsAt, endsAt,
 *    generatorURL, fingerprint }] }`. Unknown members are ignored.
 */
import { z } from "zod";
import type { Alert } from "./correlate.js";

/** Alerts per notification the receiver takes (Alertmanager's `max_alerts` can keep it under). */
export const MAX_ALERTS = 200;
const MAX_LABELS = 64;

const labels = z
  .record(z.string().max(128), z.string().max(1024))
  .refine((l) => Object.keys(l).length <= MAX_LABELS, `at most ${MAX_LABELS} labels`);

/**
 * An RFC 3339 time as Alertmanager writes Go's `time.Time` (`2030-01-01T03:00:00.123Z`, or with
 * an offset), four-digit year. `Date.parse` alone reads far more ("1", "March 7", years like
 * +275760) that the apiserver's `date-time` refuses when the incident is recorded: the answer
 * would be a 500 that Alertmanager retries for ever, after the actions were written.
 */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;
const time = z
  .string()
  .max(64)
  .refine((t) => RFC3339.test(t) && !Number.isNaN(Date.parse(t)), {
    message: "must be an RFC 3339 time such as 2030-01-01T03:00:00Z",
  });

const alert = z.object({
  status: z.enum(["firing", "resolved"]),
  labels,
  startsAt: time,
  endsAt: time.optional(),
  fingerprint: z.string().max(64).optional(),
});

export const webhookMessage = z.object({
  version: z.literal("4"),
  groupKey: z.string().min(1).max(4096),
  status: z.enum(["firing", "resolved"]),
  receiver: z.string().max(256).optional(),
  truncatedAlerts: z.number().int().min(0).optional(),
  alerts: z.array(alert).min(1).max(MAX_ALERTS),
});
export type WebhookMessage = z.infer<typeof webhookMessage>;

/** The message, or why it is not one (for a 400 and a log line; never echoes the body). */
export function parseWebhookMessage(
  body: unknown,
): { ok: true; message: WebhookMessage } | { ok: false; why: string } {
  const parsed = webhookMessage.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? issue.path.join(".") : "body";
    return {
      ok: false,
      why: `not an Alertmanager webhook message (version 4): ${where}: ${issue?.message ?? "invalid"}`,
    };
  }
  return { ok: true, message: parsed.data };
}

/** The alerts as correlation reads them. */
export function alertsOf(message: WebhookMessage): Alert[] {
  return message.alerts.map((a) => ({
    status: a.status,
    labels: a.labels,
    startsAt: a.startsAt,
    ...(a.endsAt !== undefined ? { endsAt: a.endsAt } : {}),
    ...(a.fingerprint !== undefined ? { fingerprint: a.fingerprint } : {}),
  }));
}
