/**
 * Waiting for the apiserver at start-up. An operator started before its apiserver answers (a
 * control plane still booting, an apiserver restarting, the network or DNS of a new node not
 * ready yet, the operator's RBAC applied a moment after its Deployment) retries with backoff
 * instead of exiting: an exit only becomes CrashLoopBackOff, whose restarts wait up to five
 * minutes once the apiserver is back, and says less. Meanwhile the process is alive (`/healthz`)
 * and not ready (`/readyz` says why), as it is later while its informers list.
 *
 * What is not worth a retry (a refusal no waiting changes, a certificate that does not match, a
 * bug) still ends the process, with the error.
 */
import { Backoff } from "./backoff.js";
import { ApiError } from "./client.js";
import type { Clock } from "./types.js";

/**
 * Connection-level errors a booting apiserver or network gives: nothing listening yet, the
 * connection cut by a restart, no route or name yet. TLS errors are not among them: a
 * certificate that does not verify is configuration, and waiting does not change it.
 */
const TRANSIENT_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EHOSTDOWN",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

/** Whether a start-up call that threw `err` is tried again; `why` is what `/readyz` and logs say. */
export type StartupDecision = { retry: true; why: string } | { retry: false };

/**
 * Retry: connection errors (above), requests with no answer in time, and the answers of an
 * apiserver not ready or not ready for us yet: 5xx and 429 (starting, overloaded), 401 (its
 * authenticators not loaded yet) and 403 (the operator's ClusterRoleBinding not applied or not
 * propagated yet). Anything else is final: another 4xx does not change by waiting.
 */
export function startupRetry(err: unknown): StartupDecision {
  if (err instanceof ApiError) {
    const s = err.status;
    if (s >= 500 || s === 429 || s === 401 || s === 403)
      return { retry: true, why: `the apiserver answered ${s} ${err.reason || ""}`.trim() };
    return { retry: false };
  }
  if (!(err instanceof Error)) return { retry: false };
  if (err.name === "RequestTimeoutError") return { retry: true, why: err.message };
  const code = (err as NodeJS.ErrnoException).code;
  if (code !== undefined && TRANSIENT_CODES.has(code)) return { retry: true, why: err.message };
  return { retry: false };
}

/** Pacing of the start-up retries: from 1 s, doubling, at most 30 s apart. */
export const STARTUP_BACKOFF = { initialMs: 1_000, maxMs: 30_000, jitter: 0.2 } as const;

export interface UntilAnswerOptions {
  clock: Clock;
  logger: { warn(fields: object, msg: string): void; info(fields: object, msg: string): void };
  /** Told why the operator is not ready while it waits, and `undefined` once answered. */
  onWaiting(why: string | undefined): void;
  /** Stops the waiting (SIGTERM): resolves `{ stopped: true }`. */
  signal?: AbortSignal;
  backoff?: Backoff;
}

/**
 * Calls `call` until it succeeds, retrying what `startupRetry` says is worth it; throws what is
 * not. Every failed attempt is logged with the error and the wait before the next one.
 */
export async function untilApiserverAnswers<T>(
  call: () => Promise<T>,
  o: UntilAnswerOptions,
): Promise<{ stopped: false; value: T } | { stopped: true }> {
  const backoff = o.backoff ?? new Backoff(STARTUP_BACKOFF);
  for (let attempt = 1; ; attempt++) {
    if (o.signal?.aborted) return { stopped: true };
    try {
      const value = await call();
      if (attempt > 1) o.logger.info({ attempts: attempt }, "the apiserver answers; starting");
      o.onWaiting(undefined);
      return { stopped: false, value };
    } catch (err) {
      const decision = startupRetry(err);
      if (!decision.retry) throw err;
      const retryInMs = Math.round(backoff.next());
      o.onWaiting(`waiting for the apiserver: ${decision.why}`);
      o.logger.warn(
        { err, attempt, retryInMs },
        "the apiserver does not answer yet; not ready, retrying (docs/operations.md)",
      );
      await o.clock.sleep(retryInMs, o.signal);
    }
  }
}

/**
 * An AbortSignal for SIGTERM and SIGINT while nothing else handles them (before the manager
 * runs): `dispose` removes the handlers again.
 */
export function abortOnSignals(): { signal: AbortSignal; dispose(): void } {
  const ctl = new AbortController();
  const onSignal = (): void => ctl.abort();
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  return {
    signal: ctl.signal,
    dispose: () => {
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
    },
  };
}
