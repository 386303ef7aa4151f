/**
 * Pacing primitives shared by the runtime: how long to wait before the next attempt
 * (exponential backoff) and how many requests may start now (token bucket). Both take
 * time from an injected Clock so their callers are tested without real waiting.
 */
import type { Clock } from "./types.js";

/**
 * `initialMs * factor^attempt`, capped at `maxMs`. Pure, so the workqueue's per-key backoff
 * and the reflector's retry backoff agree on one formula.
 */
export function exponentialDelay(attempt: number, initialMs: number, maxMs: number, factor = 2): number {
  // Cap the exponent too: 2^1100 is Infinity, and Infinity * 0 is NaN.
  const raw = initialMs * Math.pow(factor, Math.min(attempt, 1000));
  return Math.min(maxMs, raw);
}

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  factor?: number;
  /**
   * Fraction of each delay that is randomised downward: a delay `d` becomes uniform in
   * `[d * (1 - jitter), d]`. Jitter keeps many reflectors that failed together (an
   * apiserver restart) from retrying in lockstep, without ever exceeding `maxMs`.
   */
  jitter?: number;
  random?: () => number;
}

/**
 * Stateful jittered exponential backoff: `next()` after each failure, `reset()` after a
 * success, so a long-lived loop backs off while the apiserver is unhealthy and returns to
 * fast retries once it recovers.
 */
export class Backoff {
  private attempt = 0;
  private readonly factor: number;
  private readonly jitter: number;
  private readonly random: () => number;

  constructor(private readonly opts: BackoffOptions) {
    this.factor = opts.factor ?? 2;
    this.jitter = opts.jitter ?? 0.5;
    this.random = opts.random ?? Math.random;
  }

  /** The delay before the next attempt; each call lengthens the following one. */
  next(): number {
    const base = exponentialDelay(this.attempt, this.opts.initialMs, this.opts.maxMs, this.factor);
    this.attempt++;
    return base * (1 - this.jitter * this.random());
  }

  reset(): void {
    this.attempt = 0;
  }
}

/**
 * Client-side rate limit, as client-go's `flowcontrol` token bucket: up to `burst` requests
 * start at once, then `qps` per second. It protects the apiserver from a hot loop in one
 * controller (and the operator from API Priority and Fairness throttling everything else).
 * Waiters reserve a token before sleeping, so they are served in arrival order.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly qps: number,
    private readonly burst: number,
    private readonly clock: Clock,
  ) {
    if (!(qps > 0) || !(burst >= 1)) throw new Error(`invalid rate limit: qps=${qps} burst=${burst}`);
    this.tokens = burst;
    this.last = clock.now();
  }

  /** Resolves when the caller may send one request; rejects with the signal's reason if aborted first. */
  async take(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    this.refill();
    this.tokens -= 1;
    if (this.tokens >= 0) return;
    const waitMs = (-this.tokens / this.qps) * 1000;
    await this.clock.sleep(waitMs, signal);
    if (signal?.aborted) {
      this.tokens += 1; // give the reservation back
      throw signal.reason;
    }
  }

  private refill(): void {
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.qps);
    this.last = now;
  }
}
