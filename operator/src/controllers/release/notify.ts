/**
 * Rollback notifications to a squad's on-call webhook (DESIGN §5). The URL is a secret (it often
 * embeds a token), so it lives in a Secret named by the Squad's `spec.oncall.webhookSecretRef`
 * and is read at notification time: rollbacks are rare, and a Secret informer would cache every
 * Secret of the cluster in the operator's memory for nothing.
 *
 * A notification never blocks or fails a reconcile: `notify` runs on its own, retries with
 * exponential backoff, and reports a final failure as a log line and a `NotificationFailed`
 * Event on the Release.
 */
import type { Squad } from "../../api/kinds.js";
import type { Logger } from "../../observability/logger.js";
import type { KubeClient } from "../../runtime/client.js";
import type { EventRecorder } from "../../runtime/events.js";
import { SecretResource } from "../../runtime/resources.js";
import { systemClock, type Clock, type KubeObject } from "../../runtime/types.js";

/** The JSON body POSTed to the webhook. Absent values are sent as null, so the shape is fixed. */
export interface RollbackNotification {
  release: string;
  namespace: string;
  squad: string | null;
  tribe: string | null;
  /** The revision that was rolled back. */
  revision: string;
  version: string;
  /** AnalysisFailed, ProgressDeadlineExceeded or Aborted. */
  reason: string;
  /** Names the metric, its values and the threshold. */
  message: string;
  /** The metric whose analysis failed, when an analysis decided it. */
  metric: string | null;
  /** `spec.oncall.channel` of the squad. */
  channel: string | null;
  /** When the rollback happened (RFC 3339). */
  at: string;
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

export class OncallNotifier {
  private readonly clock: Pick<Clock, "sleep">;
  private readonly fetch: typeof globalThis.fetch;

  constructor(private readonly opts: NotifierOptions) {
    this.clock = opts.clock ?? systemClock;
    this.fetch = opts.fetch ?? globalThis.fetch;
  }

  /**
   * Sends `payload` to the on-call webhook of `squad`. Resolves when delivered, given up, or
   * when the squad has no on-call webhook; never rejects, so callers may `void` it.
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
    const namespace = ref.namespace ?? firstNamespace(squad);
    const where = `Secret ${namespace}/${ref.name} key ${ref.key}`;
    const backoff = this.opts.backoffMs ?? NOTIFY_BACKOFF_MS;
    let lastError: unknown;
    for (let attempt = 0; attempt <= backoff.length; attempt++) {
      if (attempt > 0) await this.clock.sleep(backoff[attempt - 1] ?? 0);
      try {
        const url = await this.webhookUrl(namespace, ref.name, ref.key, where);
        await this.post(url, payload);
        log.info({ attempt: attempt + 1 }, "notified on-call of the rollback");
        return;
      } catch (err) {
        lastError = err;
        log.warn({ err, attempt: attempt + 1 }, "on-call notification attempt failed");
        if (err instanceof PermanentError) break;
      }
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

  private async post(url: string, payload: RollbackNotification): Promise<void> {
    const timeoutMs = this.opts.timeoutMs ?? NOTIFY_TIMEOUT_MS;
    let response: Response;
    try {
      response = await this.fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", "user-agent": "crescendo" },
        body: JSON.stringify(payload),
        signal: AbortSignal.timeout(timeoutMs),
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
