import { describe, expect, it } from "vitest";
import {
  checkShape,
  interpretReview,
  TokenVerifier,
  type ReviewToken,
  type TokenReviewStatus,
} from "./token-review.js";

const AUD = "crescendo-ofrep";

/** An unsigned JWT with these claims: the verifier reads claims only to refuse early. */
function jwt(claims: Record<string, unknown>, signature = "c2ln"): string {
  const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
  return `${part({ alg: "RS256" })}.${part(claims)}.${signature}`;
}

const NOW = 1_800_000_000_000;
const token = (sub = "a", over: Record<string, unknown> = {}) =>
  jwt({ aud: [AUD], exp: NOW / 1000 + 3600, sub, ...over });

function harness(answer: (token: string) => TokenReviewStatus | Promise<TokenReviewStatus>) {
  const clock = { t: NOW, now: () => clock.t };
  const reviews: { token: string; audiences: string[] }[] = [];
  const review: ReviewToken = async (t, audiences) => {
    reviews.push({ token: t, audiences });
    return answer(t);
  };
  return { clock, reviews, review };
}

const sa = (ns: string, name = "app"): TokenReviewStatus => ({
  authenticated: true,
  user: { username: `system:serviceaccount:${ns}:${name}` },
  audiences: [AUD],
});

describe("TokenVerifier", () => {
  it("asks the apiserver for our audience and names the ServiceAccount", async () => {
    const h = harness(() => sa("checkout"));
    const verifier = new TokenVerifier({ review: h.review, audience: AUD, clock: h.clock });
    expect(await verifier.verify(token())).toEqual({
      ok: true,
      identity: { kind: "serviceAccount", namespace: "checkout", name: "app" },
    });
    expect(h.reviews).toEqual([{ token: token(), audiences: [AUD] }]);
  });

  it("caches a success for successTtlMs, then asks again", async () => {
    const h = harness(() => sa("checkout"));
    const verifier = new TokenVerifier({
      review: h.review,
      audience: AUD,
      clock: h.clock,
      successTtlMs: 60_000,
    });
    await verifier.verify(token());
    h.clock.t += 59_999;
    await verifier.verify(token());
    expect(h.reviews).toHaveLength(1);
    h.clock.t += 1;
    await verifier.verify(token());
    expect(h.reviews).toHaveLength(2);
  });

  it("never caches a success past the token's own exp", async () => {
    const h = harness(() => sa("checkout"));
    const verifier = new TokenVerifier({
      review: h.review,
      audience: AUD,
      clock: h.clock,
      successTtlMs: 60_000,
    });
    const shortLived = token("a", { exp: NOW / 1000 + 5 });
    await verifier.verify(shortLived);
    h.clock.t += 5_000;
    // Expired by its claims: refused without a review, and not from the cache.
    expect(await verifier.verify(shortLived)).toMatchObject({ ok: false, reason: "unauthenticated" });
    expect(h.reviews).toHaveLength(1);
  });

  it("caches a refusal briefly, as a refusal", async () => {
    const h = harness(() => ({ authenticated: false, error: "invalid bearer token" }));
    const verifier = new TokenVerifier({
      review: h.review,
      audience: AUD,
      clock: h.clock,
      failureTtlMs: 10_000,
    });
    expect(await verifier.verify(token())).toEqual({
      ok: false,
      reason: "unauthenticated",
      details: "the token is not valid",
    });
    h.clock.t += 9_999;
    expect(await verifier.verify(token())).toMatchObject({ ok: false });
    expect(h.reviews).toHaveLength(1);
    h.clock.t += 1;
    await verifier.verify(token());
    expect(h.reviews).toHaveLength(2);
  });

  it("does not cache an apiserver that did not answer, and never turns it into a success", async () => {
    let fail = true;
    const h = harness(() => {
      if (fail) throw new Error("ECONNREFUSED");
      return sa("checkout");
    });
    const verifier = new TokenVerifier({ review: h.review, audience: AUD, clock: h.clock });
    expect(await verifier.verify(token())).toEqual({
      ok: false,
      reason: "unavailable",
      details: "the token could not be verified now; retry",
    });
    expect(verifier.cached).toEqual({ confirmed: 0, refused: 0 });
    fail = false;
    expect(await verifier.verify(token())).toMatchObject({ ok: true });
    expect(h.reviews).toHaveLength(2);
  });

  it("bounds each cache; refused tokens cannot evict confirmed ones", async () => {
    const h = harness(() => ({ authenticated: false }));
    const good = new Set<string>();
    const review: ReviewToken = async (t, audiences) => {
      h.reviews.push({ token: t, audiences });
      return good.has(t) ? sa("a") : { authenticated: false };
    };
    const verifier = new TokenVerifier({
      review,
      audience: AUD,
      clock: h.clock,
      maxEntries: 3,
      maxFailureEntries: 2,
    });
    for (let i = 0; i < 5; i++) {
      const t = token(`good-${i}`);
      good.add(t);
      await verifier.verify(t);
    }
    for (let i = 0; i < 50; i++) await verifier.verify(token(`bad-${i}`));
    expect(verifier.cached).toEqual({ confirmed: 3, refused: 2 });
    const before = h.reviews.length;
    // The three most recent good tokens are still known; the two oldest were evicted.
    for (const i of [2, 3, 4]) expect(await verifier.verify(token(`good-${i}`))).toMatchObject({ ok: true });
    expect(h.reviews.length).toBe(before);
    await verifier.verify(token("good-0"));
    expect(h.reviews.length).toBe(before + 1);
  });

  it("shares one review between concurrent requests with the same token", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const h = harness(async () => {
      await gate;
      return sa("checkout");
    });
    const verifier = new TokenVerifier({ review: h.review, audience: AUD, clock: h.clock });
    const all = Promise.all([1, 2, 3].map(() => verifier.verify(token())));
    release();
    expect((await all).every((v) => v.ok)).toBe(true);
    expect(h.reviews).toHaveLength(1);
  });

  it("refuses without a review what is not a token for us", async () => {
    const h = harness(() => sa("checkout"));
    const verifier = new TokenVerifier({ review: h.review, audience: AUD, clock: h.clock });
    for (const t of [
      "",
      "s3cret",
      "a.b",
      "a.b.c.d",
      `${"a".repeat(9000)}.b.c`,
      jwt({ aud: ["https://kubernetes.default.svc"], exp: NOW / 1000 + 60 }),
      jwt({ aud: "other", exp: NOW / 1000 + 60 }),
      jwt({ exp: NOW / 1000 + 60 }),
      jwt({ aud: [AUD], exp: NOW / 1000 - 1 }),
      "eyJ.bm90IGpzb24.c2ln",
      "a.W10.c", // payload is an array
    ]) {
      expect(await verifier.verify(t), t.slice(0, 40)).toMatchObject({
        ok: false,
        reason: "unauthenticated",
      });
    }
    expect(h.reviews).toEqual([]);
  });
});

describe("checkShape", () => {
  it("names the audience it wants", () => {
    expect(checkShape(jwt({ aud: "x" }), AUD, NOW)).toEqual({
      ok: false,
      reason: "unauthenticated",
      details: "the token is not for audience crescendo-ofrep",
    });
    expect(checkShape(jwt({ aud: AUD }), AUD, NOW)).toBeUndefined();
  });
});

describe("interpretReview", () => {
  it.each<[TokenReviewStatus, unknown]>([
    [{ authenticated: false }, { ok: false, reason: "unauthenticated" }],
    [{}, { ok: false, reason: "unauthenticated" }],
    [
      { authenticated: true, audiences: ["other"], user: { username: "system:serviceaccount:a:b" } },
      { ok: false },
    ],
    [
      { authenticated: true, audiences: [AUD] },
      { ok: false, details: "the token has no user" },
    ],
    [
      { authenticated: true, audiences: [AUD], user: { username: "system:serviceaccount:team-a:web.v2" } },
      { ok: true, identity: { kind: "serviceAccount", namespace: "team-a", name: "web.v2" } },
    ],
    [
      { authenticated: true, user: { username: "jane@example.com" } },
      { ok: true, identity: { kind: "user", username: "jane@example.com" } },
    ],
    [
      { authenticated: true, user: { username: "system:serviceaccount:A:b" } },
      { ok: true, identity: { kind: "user", username: "system:serviceaccount:A:b" } },
    ],
  ])("%j", (status, expected) => {
    expect(interpretReview(status, AUD)).toMatchObject(expected as object);
  });
});
