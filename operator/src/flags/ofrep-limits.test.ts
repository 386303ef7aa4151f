import { describe, expect, it } from "vitest";
import { PerClientLimiter } from "./ofrep-limits.js";

describe("PerClientLimiter", () => {
  it("admits up to maxInFlight per client, independently of other clients", () => {
    const limiter = new PerClientLimiter(2);
    const a1 = limiter.tryAcquire("10.0.0.1");
    const a2 = limiter.tryAcquire("10.0.0.1");
    expect(a1 && a2).toBeTruthy();
    expect(limiter.tryAcquire("10.0.0.1")).toBeUndefined();
    expect(limiter.tryAcquire("10.0.0.2")).toBeDefined();
    a1!();
    expect(limiter.tryAcquire("10.0.0.1")).toBeDefined();
  });

  it("forgets a client with nothing in flight, and a double release frees one slot only", () => {
    const limiter = new PerClientLimiter(1);
    const release = limiter.tryAcquire("a")!;
    release();
    release();
    expect(limiter.clients).toBe(0);
    const again = limiter.tryAcquire("a");
    expect(again).toBeDefined();
    release(); // the old release must not free the new slot
    expect(limiter.tryAcquire("a")).toBeUndefined();
  });
});
