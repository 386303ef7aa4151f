/**
 * Rollback notifications to a squad's on-call webhook (the payload and delivery are
 * documented in docs/notifications.md, the payload's JSON Schema in
 * docs/schemas/oncall-webhook.schema.json, generated from `rollbackNotification` below). The URL
 * is a secret (it often embeds a token), so it lives in a Secret named by the Squad's
 * `spec.oncall.webhookSecretRef` and is read at notification time: rollbacks are rare, and a
 * Secret informer would cache every Secret of the cluster in the operator's memory for nothing.
 *
 * One message per rollback, not per reconcile: the controller sends one only from the reconcile
 * whose status write recorded the rollback, and `rollbackAlreadyRecorded` checks that against
 * the status observed before that reconcile, so a RolledBack Release reconciled again (a
 * requeue, a resync, an operator restart) never sends again; the decision rests on status, not
 * on memory.
 *
 * A notification never blocks or fails a reconcile: `notify` runs on its own, retries with
 * exponential backoff, and reports a final failure as a log line and a `NotificationFailed`
 * Event on the Release. Nor does it hold up shutdown: `close` (called once the manager has
 * stopped) aborts the POST in flight and every backoff wait, logs each notification it drops,
 * and the backoff timers never keep the process alive on their own.
 */
import { z } from "zod";
import type { Squad } from "../../api/kinds.js";
import type { ReleaseStatus } from "../../api/release.js";
import type { Logger } from "../../observability/logger.js";
import type { KubeClient } from "../../runtime/client.js";
import type { EventRecorder } from "../../runtime/events.js";
import { SecretResource } from "../../runtime/resources.js";
import type { Clock, KubeObject } from "../../runtime/types.js";
import { webhookBody } from "./chat-format.js";
import { ROLLBACK_REASONS, rolledBack, type RollbackReason } from "./state.js";

/**
 * The JSON body POSTed to the webhook. Every field is always present (absent values are sent as
 * null), so the shape is fixed; fields may be added, never removed or retyped, so receivers must
 * ignore fields they do not know.
 */
export const rollbackNotification = z
  .object({
    release: z.string().describe("Name of the Release that was rolled back."),
    namespace: z.string().describe("Namespace of the Release."),
    squad: z
      .string()
      .nullable()
      .describe("The squad owning the namespace (its crescendo.dev/squad label), or null."),
    tribe: z.string().nullable().describe("The squad's tribe, or null."),
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
    metric: z
      .string()
      .nullable()
      .describe("The metric whose analysis failed, when an analysis decided the rollback; otherwise null."),
    channel: z
      .string()
      .nullable()
      .describe("The squad's spec.oncall.channel, e.g. #payments-oncall, or null."),
    at: z.iso
      .datetime()
      .describe(
        "When the rollback happened (RFC 3339, UTC): status.abortedAt. With namespace, release and revision it identifies the rollback, so a receiver can drop a repeated delivery.",
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
        at: "2030-01-01T12:00:03.000Z",
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
  /** `status.abortedAt` of the rollback. */
  at: string;
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
    at: facts.at,
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

/** Per-attempt deadline for the POST. */
export const NOTIFY_TIMEOUT_MS = 5_000;
/** Waits before each retry: 1 s, 2 s, 4 s, 8 s, 16 s (six attempts in all, about half a minute). */
export const NOTIFY_BACKOFF_MS = [1_000, 2_000, 4_000, 8_000, 16_000];

export interface NotifierOptions {
  client: Pick<KubeClient, "get">;
  recorder: Pick<EventRecorder, "record">;
  logger: Logger;
  clock?: Pick<Clock, "sleep">;
  fetch?: typeof globalThis.fetch;
  timeoutMs?: number;
  backoffMs?: readonly number[];
}

/** An attempt that cannot succeed by retrying (no Secret key, a 4xx answer). */
class PermanentError extends Error {
  override name = "PermanentError";
}

/**
 * Waits `ms`, or less if `signal` aborts. Its timer is unref'd: a pending retry never keeps the
 * process alive once everything else has stopped.
 */
function unrefSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    timer.unref();
    signal?.addEventListener("abort", done, { once: true });
  });
}

export class OncallNotifier {
  private readonly clock: Pick<Clock, "sleep">;
  private readonly fetch: typeof globalThis.fetch;
  /** Aborted by `close`: every attempt and wait in flight gives up. */
  private readonly stopping = new AbortController();
  /** Notifications being delivered (or waiting to retry), for `close` to name what it drops. */
  private readonly inFlight = new Set<RollbackNotification>();

  constructor(private readonly opts: NotifierOptions) {
    this.clock = opts.clock ?? { sleep: unrefSleep };
    this.fetch = opts.fetch ?? globalThis.fetch;
  }

  /**
   * Sends `payload` to the on-call webhook of `squad`. Resolves when delivered, given up,
   * dropped by `close`, or when the squad has no on-call webhook; never rejects, so callers may
   * `void` it.
   */
  async notify(release: KubeObject, squad: Squad | undefined, payload: RollbackNotification): Promise<void> {
    const log = this.opts.logger.child({
      namespace: payload.namespace,
      name: payload.release,
      squad: payload.squad,
    });
    const ref = squad?.spec.oncall?.webhookSecretRef;
    if (!squad || !ref) {
      log.info("no on-call webhook configured for this Release's squad; not notifying");
      return;
    }
    const stop = this.stopping.signal;
    if (stop.aborted) {
      this.logDropped(payload);
      return;
    }
    const namespace = ref.namespace ?? firstNamespace(squad);
    const where = `Secret ${namespace}/${ref.name} key ${ref.key}`;
    const backoff = this.opts.backoffMs ?? NOTIFY_BACKOFF_MS;
    let lastError: unknown;
    this.inFlight.add(payload);
    try {
      for (let attempt = 0; attempt <= backoff.length; attempt++) {
        if (attempt > 0) await this.clock.sleep(backoff[attempt - 1] ?? 0, stop);
        if (stop.aborted) return; // dropped, and logged, by `close`
        try {
          const url = await this.webhookUrl(namespace, ref.name, ref.key, where);
          if (stop.aborted) return;
          await this.post(url, webhookBody(squad.spec.oncall?.format, payload), stop);
          log.info({ attempt: attempt + 1 }, "notified on-call of the rollback");
          return;
        } catch (err) {
          if (stop.aborted) return;
          lastError = err;
          log.warn({ err, attempt: attempt + 1 }, "on-call notification attempt failed");
          if (err instanceof PermanentError) break;
        }
      }
    } finally {
      this.inFlight.delete(payload);
    }
    const reason = lastError instanceof Error ? lastError.message : String(lastError);
    log.error({ err: lastError }, "could not notify on-call of the rollback");
    await this.opts.recorder.record(release, {
      type: "Warning",
      reason: "NotificationFailed",
      note: `could not notify on-call (${where}) of the rollback of ${payload.version}: ${reason}`,
      action: "Notify",
    });
  }

  /**
   * Stops notifying, for shutdown: the POST in flight is aborted, pending retries are abandoned
   * (each logged as dropped, so on-call can be told by hand), and later `notify` calls only log.
   * A notification already recorded in status is never sent again by the next process, so what
   * is dropped here is lost: the log line is the record of it. Idempotent.
   */
  close(): void {
    if (this.stopping.signal.aborted) return;
    for (const payload of this.inFlight) this.logDropped(payload);
    this.stopping.abort(new Error("the on-call notifier is closed"));
  }

  private logDropped(payload: RollbackNotification): void {
    this.opts.logger.warn(
      {
        namespace: payload.namespace,
        name: payload.release,
        squad: payload.squad,
        revision: payload.revision,
        version: payload.version,
        reason: payload.reason,
        at: payload.at,
      },
      "shutting down: on-call notification of a rollback dropped",
    );
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

  private async post(url: string, payload: unknown, stop: AbortSignal): Promise<void> {
    const timeoutMs = this.opts.timeoutMs ?? NOTIFY_TIMEOUT_MS;
    let response: Response;
    try {
      response = await this.fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", "user-agent": "crescendo" },
        body: JSON.stringify(payload),
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
