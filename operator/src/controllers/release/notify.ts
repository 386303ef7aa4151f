/**
 * Rollback notifications to a squad's on-call webhook (the payload and delivery are
 * documented in docs/notifications.md, the payload's JSON Schema in
 * docs/schemas/oncall-webhook.schema.json, generated from `rollbackNotification` below). The URL
 * is a secret (it often embeds a token), so it lives in a Secret named by the Squad's
 * `spec.oncall.webhookSecretRef` and is read at notification time: rollbacks are rare, and a
 * Secret informer would cache every Secret of the cluster in the operator's memory for nothing.
 *
 * This file is the payload and one attempt's I/O (`OncallWebhook.send`): whether to attempt,
 * when to retry and when to give up are decided on `status.notifications` (`delivery.ts`), so
 * any leader, after any restart, finishes a delivery another process began. Every attempt
 * carries the rollback's id in the payload (`rollbackId`) and in the `Idempotency-Key` header:
 * delivery is at least once, and a receiver drops a repeat by that key.
 */
import { z } from "zod";
import type { Squad } from "../../api/kinds.js";
import type { OncallFormat } from "../../api/squad.js";
import type { ReleaseStatus } from "../../api/release.js";
import type { KubeClient } from "../../runtime/client.js";
import { SecretResource } from "../../runtime/resources.js";
import type { KubeObject } from "../../runtime/types.js";
import { webhookBody } from "./chat-format.js";
import { ROLLBACK_REASONS, rolledBack, type RollbackReason } from "./state.js";

/** Fields every on-call payload has, whatever rolled back (a Release, a toggle's ramp). */
export const oncallFields = {
  squad: z
    .string()
    .nullable()
    .describe("The squad owning the namespace (its crescendo.dev/squad label), or null."),
  tribe: z.string().nullable().describe("The squad's tribe, or null."),
  metric: z
    .string()
    .nullable()
    .describe("The metric whose analysis failed, when an analysis decided the rollback; otherwise null."),
  channel: z.string().nullable().describe("The squad's spec.oncall.channel, e.g. #payments-oncall, or null."),
};

/**
 * The JSON body POSTed to the webhook. Every field is always present (absent values are sent as
 * null), so the shape is fixed; fields may be added, never removed or retyped, so receivers must
 * ignore fields they do not know.
 */
export const rollbackNotification = z
  .object({
    release: z.string().describe("Name of the Release that was rolled back."),
    namespace: z.string().describe("Namespace of the Release."),
    squad: oncallFields.squad,
    tribe: oncallFields.tribe,
    revision: z.string().describe("The revision (pod template hash) that was rolled back."),
    version: z.string().describe("spec.version of the revision that was rolled back."),
    reason: z
      .enum(ROLLBACK_REASONS)
      .describe(
        "Why: AnalysisFailed (a metric failed its threshold), ProgressDeadlineExceeded (a stage waited for pods to become ready longer than progressDeadlineSeconds), Aborted (the abort action) or PostPromotionAnalysisFailed (a metric failed during the verification window after promotion: the Release was reverted to the previous revision).",
      ),
    message: z
      .string()
      .describe("For people: names the metric, its values and the threshold, or the deadline or the action."),
    metric: oncallFields.metric,
    channel: oncallFields.channel,
    killedToggles: z
      .array(z.string())
      .describe(
        "The FeatureToggles in the Release's namespace guarded by it (spec.guard.release), by name: the rollback kills them (everyone gets their default variant) until a person re-arms them. They get no message of their own. Empty when none.",
      ),
    at: z.iso
      .datetime()
      .describe(
        "When the rollback happened (RFC 3339, UTC): status.abortedAt. With namespace, release and revision it identifies the rollback, so a receiver can drop a repeated delivery.",
      ),
    rollbackId: z
      .string()
      .describe(
        "The rollback's id, also sent as the Idempotency-Key header: the same on every delivery attempt of this rollback, from any operator process. Delivery is at least once; a receiver drops a message whose id it has seen.",
      ),
  })
  .meta({
    // Receivers must accept fields added later; zod's own parsing stays strict.
    additionalProperties: true,
    title: "Crescendo on-call webhook: Release rolled back",
    description:
      "POSTed (Content-Type: application/json) to the URL in the Secret named by a Squad's spec.oncall.webhookSecretRef, once per rollback of one of the squad's Releases.",
    examples: [
      {
        release: "web",
        namespace: "checkout",
        squad: "payments",
        tribe: "money",
        revision: "x7kq2hmz4b",
        version: "1.5.0",
        reason: "AnalysisFailed",
        message: "error-rate failed 1 time, more than failureLimit 0: error-rate 0.42 > max 0.05",
        metric: "error-rate",
        channel: "#payments-oncall",
        killedToggles: ["one-click-checkout"],
        at: "2030-01-01T12:00:03.000Z",
        rollbackId: "5f0c2a4e-8d1b-4c39-9a57-0e6f3b2d1c88/x7kq2hmz4b/1893499203000",
      },
    ],
  });

export type RollbackNotification = z.infer<typeof rollbackNotification>;

/** What a rollback notification is made of, as the controller knows it. */
export interface RollbackFacts {
  release: { name: string; namespace: string };
  /** The owning squad, if any; its channel comes from `spec.oncall.channel`. */
  squad?: { name: string; tribe?: string; channel?: string };
  rollback: { revision: string; version: string; reason: RollbackReason; message: string };
  /** The failing metric, when an analysis decided the rollback. */
  metric?: string;
  /** The FeatureToggles the Release guards, which its rollback kills. */
  killedToggles?: readonly string[];
  /** `status.abortedAt` of the rollback. */
  at: string;
  /** The rollback's id (`rollbackId` in `delivery.ts`). */
  id: string;
}

/** The payload for one rollback: every field present, absent ones null. */
export function rollbackNotificationOf(facts: RollbackFacts): RollbackNotification {
  return {
    release: facts.release.name,
    namespace: facts.release.namespace,
    squad: facts.squad?.name ?? null,
    tribe: facts.squad?.tribe ?? null,
    revision: facts.rollback.revision,
    version: facts.rollback.version,
    reason: facts.rollback.reason,
    message: facts.rollback.message,
    metric: facts.metric ?? null,
    channel: facts.squad?.channel ?? null,
    killedToggles: [...(facts.killedToggles ?? [])],
    at: facts.at,
    rollbackId: facts.id,
  };
}

/**
 * Whether `after` (the status this reconcile wrote) records a rollback that `before` (the status
 * it observed) did not: the rollback's history entry for the canary revision, finished at
 * `abortedAt`. When `before` has it, an earlier reconcile, perhaps of an operator process that
 * no longer exists, recorded the rollback and notified; this one must not notify again. A
 * revision retried and rolled back again has a new `abortedAt`: a new rollback, notified.
 */
export function isNewRollback(before: ReleaseStatus | undefined, after: ReleaseStatus): boolean {
  const revision = after.canaryRevision;
  const at = after.abortedAt;
  if (!rolledBack(after) || revision === undefined || at === undefined) return false;
  const recorded = (s: ReleaseStatus | undefined) =>
    (s?.history ?? []).some(
      (h) => h.outcome === "RolledBack" && h.revision === revision && h.finishedAt === at,
    );
  return recorded(after) && !recorded(before);
}

/** What one attempt came to. */
export type AttemptOutcome =
  | { kind: "delivered" }
  | { kind: "retryable"; error: string }
  | { kind: "permanent"; error: string }
  /** Nothing to deliver to (the squad has no on-call webhook): finished, nothing sent. */
  | { kind: "skipped"; why: string };

/** One on-call message: its id (the `Idempotency-Key`) and its body in a squad's format. */
export interface OncallMessage {
  id: string;
  body: (format: OncallFormat | undefined) => unknown;
}

/** Per-attempt deadline for the POST. */
export const NOTIFY_TIMEOUT_MS = 5_000;

export interface OncallWebhookOptions {
  client: Pick<KubeClient, "get">;
  fetch?: typeof globalThis.fetch;
  timeoutMs?: number;
}

/** An attempt that cannot succeed by retrying (no Secret key, a 4xx answer). */
class PermanentError extends Error {
  override name = "PermanentError";
}

/** One delivery attempt to a squad's on-call webhook: read the Secret, POST, classify. */
export class OncallWebhook {
  private readonly fetch: typeof globalThis.fetch;

  constructor(private readonly opts: OncallWebhookOptions) {
    this.fetch = opts.fetch ?? globalThis.fetch;
  }

  /**
   * Sends `payload` once. Never rejects: the outcome says whether it was delivered, may be
   * retried, cannot succeed, or had nowhere to go (the squad has no on-call webhook any more).
   */
  async send(
    squad: Squad | undefined,
    payload: RollbackNotification,
    signal: AbortSignal,
  ): Promise<AttemptOutcome> {
    return this.sendMessage(
      squad,
      { id: payload.rollbackId, body: (format) => webhookBody(format, payload) },
      signal,
    );
  }

  /**
   * Sends any on-call message once (a Release's rollback, a toggle ramp's), with the same
   * Secret, headers, deadline and outcomes as `send`: `body` renders it in the squad's format.
   */
  async sendMessage(
    squad: Squad | undefined,
    message: OncallMessage,
    signal: AbortSignal,
  ): Promise<AttemptOutcome> {
    const ref = squad?.spec.oncall?.webhookSecretRef;
    if (!squad || !ref) return { kind: "skipped", why: "the squad has no on-call webhook" };
    const namespace = ref.namespace ?? firstNamespace(squad);
    const where = `Secret ${namespace}/${ref.name} key ${ref.key}`;
    try {
      const url = await this.webhookUrl(namespace, ref.name, ref.key, where);
      await this.post(url, message.body(squad.spec.oncall?.format), message.id, signal);
      return { kind: "delivered" };
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      return err instanceof PermanentError ? { kind: "permanent", error } : { kind: "retryable", error };
    }
  }

  private async webhookUrl(namespace: string, name: string, key: string, where: string): Promise<string> {
    const secret = await this.opts.client.get<KubeObject & { data?: Record<string, string> }>(
      SecretResource,
      name,
      namespace,
    );
    // The Secret may be created after the Release; a missing one is worth the retries.
    if (!secret) throw new Error(`${where}: the Secret does not exist`);
    const encoded = secret.data?.[key];
    if (encoded === undefined) throw new PermanentError(`${where}: the Secret has no such key`);
    const url = Buffer.from(encoded, "base64").toString("utf8").trim();
    if (!/^https?:\/\//.test(url)) throw new PermanentError(`${where}: not an http(s) URL`);
    return url;
  }

  private async post(url: string, body: unknown, idempotencyKey: string, stop: AbortSignal): Promise<void> {
    const timeoutMs = this.opts.timeoutMs ?? NOTIFY_TIMEOUT_MS;
    let response: Response;
    try {
      response = await this.fetch(url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "user-agent": "crescendo",
          // The same key on every attempt of this rollback, from any operator process.
          "idempotency-key": idempotencyKey,
        },
        body: JSON.stringify(body),
        signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), stop]),
      });
      await response.body?.cancel();
    } catch (err) {
      const timedOut = err instanceof Error && err.name === "TimeoutError";
      // The URL may carry a token: name only its origin.
      const target = originOf(url);
      throw new Error(
        timedOut ? `POST ${target}: no answer within ${timeoutMs} ms` : `POST ${target}: ${messageOf(err)}`,
      );
    }
    if (response.ok) return;
    const text = `POST ${originOf(url)}: HTTP ${response.status}`;
    // Client errors other than timeouts and rate limits will not go away by asking again.
    const retryable = response.status >= 500 || response.status === 408 || response.status === 429;
    throw retryable ? new Error(text) : new PermanentError(text);
  }
}

/** The squad's first namespace: the first declared one, or the one named after the squad. */
function firstNamespace(squad: Squad): string {
  return squad.spec.namespaces[0]?.name ?? squad.metadata.name ?? "";
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return "the webhook";
  }
}

function messageOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as { cause?: unknown }).cause;
  return cause instanceof Error ? `${err.message}: ${cause.message}` : err.message;
}
