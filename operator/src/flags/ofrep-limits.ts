/**
 * The OFREP server's limits, so one app cannot starve the others: at most `maxInFlight`
 * requests at a time per client address (a pod), refused beyond with 429 and `Retry-After`,
 * the status OFREP providers back off on. Authentication (a TokenReview) happens inside the
 * limit, so a client sending many fresh tokens is bounded too. The state is one counter per
 * client with requests in flight, so it is bounded by the open connections.
 */
export class PerClientLimiter {
  private readonly inFlight = new Map<string, number>();

  constructor(readonly maxInFlight: number) {}

  /** Takes a slot for `client`; the returned release must be called once. Undefined when full. */
  tryAcquire(client: string): (() => void) | undefined {
    const current = this.inFlight.get(client) ?? 0;
    if (current >= this.maxInFlight) return undefined;
    this.inFlight.set(client, current + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.inFlight.get(client) ?? 1) - 1;
      if (left <= 0) this.inFlight.delete(client);
      else this.inFlight.set(client, left);
    };
  }

  /** Clients with requests in flight (for tests). */
  get clients(): number {
    return this.inFlight.size;
  }
}

/** Server timeouts and sizes; the defaults are what the chart runs with. */
export interface OfrepServerLimits {
  /** All headers must arrive within this (slowloris). Default 5 s. */
  headersTimeoutMs: number;
  /** The whole request, body included, within this. Default 10 s. */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. Default 5 s. */
  keepAliveTimeoutMs: number;
  /** How often the server checks the two timeouts above (Node's default is 30 s). Default 1 s. */
  checkIntervalMs: number;
  /** Larger headers get 431. Default 16 KiB. */
  maxHeaderBytes: number;
  /** Larger bodies get 413. Default 64 KiB. */
  maxBodyBytes: number;
  /** Requests in flight per client address; more get 429. Default 64. */
  maxInFlightPerClient: number;
  /** Open connections in all; more are refused at accept. Default 4096. */
  maxConnections: number;
}

export const DEFAULT_OFREP_LIMITS: OfrepServerLimits = {
  headersTimeoutMs: 5_000,
  requestTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  checkIntervalMs: 1_000,
  maxHeaderBytes: 16 * 1024,
  maxBodyBytes: 64 * 1024,
  maxInFlightPerClient: 64,
  maxConnections: 4096,
};
