/**
 * Verifies the projected ServiceAccount tokens apps send to OFREP, by asking the apiserver
 * (`authentication.k8s.io/v1` TokenReview, the way kube-rbac-proxy and the kubelet do): the
 * operator holds no signing key and trusts no claim it did not have confirmed.
 *
 * Answers are cached, as the apiserver's own webhook token authenticator caches them (2 min for
 * success, 10 s for failure by default), so an app's every evaluation does not cost a review:
 * - a confirmed token for `successTtlMs` (default 60 s), never past its own `exp`;
 * - a refused token for `failureTtlMs` (default 10 s), in a cache of its own, so a flood of
 *   random tokens cannot evict the good ones (and cannot become one: a failure is never read as
 *   a success);
 * - an apiserver that did not answer is not cached at all (the next request asks again).
 * Both caches are bounded (least recently used go first). Concurrent requests with one token
 * share one review. Tokens are kept only as SHA-256 digests.
 */
import { createHash } from "node:crypto";
import { systemClock, type Clock } from "../runtime/types.js";

/** What the apiserver said, as `TokenReview.status` carries it. */
export interface TokenReviewStatus {
  authenticated?: boolean;
  user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
  audiences?: string[];
  error?: string;
}

/** Sends one TokenReview for `token` with `audiences`; rejects when the apiserver cannot answer. */
export type ReviewToken = (token: string, audiences: string[]) => Promise<TokenReviewStatus>;

/** Who a verified token belongs to. */
export type TokenIdentity =
  { kind: "serviceAccount"; namespace: string; name: string } | { kind: "user"; username: string };

export type Verification =
  | { ok: true; identity: TokenIdentity }
  /** `unauthenticated`: 401. `unavailable`: the apiserver did not answer, 503. */
  | { ok: false; reason: "unauthenticated" | "unavailable"; details: string };

export interface TokenVerifierOptions {
  review: ReviewToken;
  /** The audience tokens must be issued for (`crescendo-ofrep` by default, `--ofrep-audience`). */
  audience: string;
  successTtlMs?: number;
  failureTtlMs?: number;
  /** Most tokens remembered per cache. Default 10,000 confirmed, 1,000 refused. */
  maxEntries?: number;
  maxFailureEntries?: number;
  clock?: Pick<Clock, "now">;
}

export const DEFAULT_OFREP_AUDIENCE = "crescendo-ofrep";
/** Longer than any projected token the kubelet writes (~1 kB), far below a header limit. */
const MAX_TOKEN_LENGTH = 8192;
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.([A-Za-z0-9_-]+)\.[A-Za-z0-9_-]+$/;
const SERVICE_ACCOUNT_USER = /^system:serviceaccount:([a-z0-9][-a-z0-9]*):([a-z0-9][-a-z0-9.]*)$/;

interface Entry {
  verification: Verification;
  expiresAt: number;
}

/** A least-recently-used map with a size bound and per-entry expiry. */
class BoundedCache {
  private readonly entries = new Map<string, Entry>();
  constructor(private readonly max: number) {}

  get(key: string, now: number): Verification | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    if (entry.expiresAt <= now) return undefined;
    this.entries.set(key, entry); // most recently used last
    return entry.verification;
  }

  set(key: string, verification: Verification, expiresAt: number): void {
    this.entries.delete(key);
    this.entries.set(key, { verification, expiresAt });
    while (this.entries.size > this.max) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  get size(): number {
    return this.entries.size;
  }
}

export class TokenVerifier {
  private readonly confirmed: BoundedCache;
  private readonly refused: BoundedCache;
  private readonly inFlight = new Map<string, Promise<Verification>>();
  private readonly clock: Pick<Clock, "now">;
  private readonly successTtlMs: number;
  private readonly failureTtlMs: number;

  constructor(private readonly options: TokenVerifierOptions) {
    this.confirmed = new BoundedCache(options.maxEntries ?? 10_000);
    this.refused = new BoundedCache(options.maxFailureEntries ?? 1_000);
    this.clock = options.clock ?? systemClock;
    this.successTtlMs = options.successTtlMs ?? 60_000;
    this.failureTtlMs = options.failureTtlMs ?? 10_000;
  }

  /** Tokens remembered, confirmed and refused (for tests and the debug log). */
  get cached(): { confirmed: number; refused: number } {
    return { confirmed: this.confirmed.size, refused: this.refused.size };
  }

  async verify(token: string): Promise<Verification> {
    const shape = checkShape(token, this.options.audience, this.clock.now());
    if (shape) return shape; // not worth a review: nothing to cache either
    const key = createHash("sha256").update(token).digest("base64");
    const now = this.clock.now();
    const known = this.confirmed.get(key, now) ?? this.refused.get(key, now);
    if (known) return known;
    let pending = this.inFlight.get(key);
    if (!pending) {
      pending = this.review(token, key).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    }
    return pending;
  }

  private async review(token: string, key: string): Promise<Verification> {
    let status: TokenReviewStatus;
    try {
      status = await this.options.review(token, [this.options.audience]);
    } catch {
      return { ok: false, reason: "unavailable", details: "the token could not be verified now; retry" };
    }
    const verification = interpretReview(status, this.options.audience);
    const now = this.clock.now();
    if (verification.ok) {
      const exp = claimsOf(token)?.exp;
      const expiresAt = Math.min(now + this.successTtlMs, typeof exp === "number" ? exp * 1000 : Infinity);
      this.confirmed.set(key, verification, expiresAt);
    } else {
      this.refused.set(key, verification, now + this.failureTtlMs);
    }
    return verification;
  }
}

/**
 * Cheap refusals before a review: a token that is not a JWT, is too long, or (by its unverified
 * claims) is for another audience or already expired. The claims decide only refusals; what is
 * accepted is what the apiserver confirms.
 */
export function checkShape(token: string, audience: string, now: number): Verification | undefined {
  const refuse = (details: string): Verification => ({ ok: false, reason: "unauthenticated", details });
  if (token.length > MAX_TOKEN_LENGTH || !JWT_SHAPE.test(token)) return refuse("the token is not a JWT");
  const claims = claimsOf(token);
  if (!claims) return refuse("the token is not a JWT");
  const aud = typeof claims.aud === "string" ? [claims.aud] : Array.isArray(claims.aud) ? claims.aud : [];
  if (!aud.includes(audience)) return refuse(`the token is not for audience ${audience}`);
  if (typeof claims.exp === "number" && claims.exp * 1000 <= now) return refuse("the token has expired");
  return undefined;
}

/** The unverified payload of a JWT, or undefined when it is not one. */
function claimsOf(token: string): { aud?: unknown; exp?: unknown } | undefined {
  const payload = JWT_SHAPE.exec(token)?.[1];
  if (payload === undefined) return undefined;
  try {
    const claims: unknown = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
    return claims !== null && typeof claims === "object" && !Array.isArray(claims)
      ? (claims as { aud?: unknown; exp?: unknown })
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A TokenReview's status as a verification: authenticated, for our audience (the apiserver
 * answers with the audiences the token is valid for among those asked), and a user name.
 */
export function interpretReview(status: TokenReviewStatus, audience: string): Verification {
  if (status.authenticated !== true) {
    return { ok: false, reason: "unauthenticated", details: "the token is not valid" };
  }
  if (status.audiences !== undefined && !status.audiences.includes(audience)) {
    return { ok: false, reason: "unauthenticated", details: `the token is not for audience ${audience}` };
  }
  const username = status.user?.username ?? "";
  if (username === "") return { ok: false, reason: "unauthenticated", details: "the token has no user" };
  const sa = SERVICE_ACCOUNT_USER.exec(username);
  return sa
    ? { ok: true, identity: { kind: "serviceAccount", namespace: sa[1] as string, name: sa[2] as string } }
    : { ok: true, identity: { kind: "user", username } };
}
