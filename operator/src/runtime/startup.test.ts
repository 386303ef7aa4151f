import { describe, expect, it } from "vitest";
import { Backoff } from "./backoff.js";
import { ApiError } from "./client.js";
import { startupRetry, untilApiserverAnswers } from "./startup.js";
import type { Clock } from "./types.js";

const apiError = (status: number, reason = "") => new ApiError(status, reason, "m", {}, {}, "GET /x");
const sysError = (code: string, message = `connect ${code} 127.0.0.1:6443`) =>
  Object.assign(new Error(message), { code });

describe("startupRetry", () => {
  it("retries what a booting apiserver or network gives: nothing listening, cut, no route or name yet", () => {
    for (const code of [
      "ECONNREFUSED",
      "ECONNRESET",
      "ETIMEDOUT",
      "EHOSTUNREACH",
      "ENETUNREACH",
      "ENOTFOUND",
      "EAI_AGAIN",
      "EPIPE",
    ]) {
      expect(startupRetry(sysError(code)), code).toEqual({
        retry: true,
        why: `connect ${code} 127.0.0.1:6443`,
      });
    }
  });

  it("retries a request with no answer in time", () => {
    const timeout = Object.assign(new Error("GET /x: no response within 30000 ms"), {
      name: "RequestTimeoutError",
    });
    expect(startupRetry(timeout)).toEqual({ retry: true, why: "GET /x: no response within 30000 ms" });
  });

  it("retries an apiserver not ready (5xx, 429) or not ready for us yet (401, 403: RBAC applied after)", () => {
    for (const status of [500, 502, 503, 504, 429, 401, 403]) {
      expect(startupRetry(apiError(status, "Reason")), String(status)).toEqual({
        retry: true,
        why: `the apiserver answered ${status} Reason`,
      });
    }
  });

  it("gives up on what waiting does not change: other 4xx, TLS errors, bugs, non-errors", () => {
    for (const status of [400, 404, 405, 406, 415, 422])
      expect(startupRetry(apiError(status)).retry).toBe(false);
    expect(startupRetry(sysError("ERR_TLS_CERT_ALTNAME_INVALID", "Hostname/IP does not match")).retry).toBe(
      false,
    );
    expect(startupRetry(sysError("DEPTH_ZERO_SELF_SIGNED_CERT", "self-signed certificate")).retry).toBe(
      false,
    );
    expect(startupRetry(new TypeError("x is undefined")).retry).toBe(false);
    expect(startupRetry("ECONNREFUSED").retry).toBe(false);
    expect(startupRetry(undefined).retry).toBe(false);
  });
});

describe("untilApiserverAnswers", () => {
  /** A clock whose sleeps return at once, recording how long each would have been. */
  function fakeClock(onSleep?: () => void): Clock & { slept: number[] } {
    const slept: number[] = [];
    return {
      slept,
      now: () => 0,
      sleep: (ms) => {
        slept.push(ms);
        onSleep?.();
        return Promise.resolve();
      },
    };
  }
  const lines: { level: string; msg: string; fields: object }[] = [];
  const logger = {
    warn: (fields: object, msg: string) => lines.push({ level: "warn", msg, fields }),
    info: (fields: object, msg: string) => lines.push({ level: "info", msg, fields }),
  };
  const backoff = () => new Backoff({ initialMs: 1000, maxMs: 4000, jitter: 0 });

  it("retries with growing, capped delays, saying why not ready, until the call answers", async () => {
    lines.length = 0;
    const clock = fakeClock();
    const waiting: (string | undefined)[] = [];
    let calls = 0;
    const out = await untilApiserverAnswers(
      () => (++calls <= 4 ? Promise.reject(sysError("ECONNREFUSED")) : Promise.resolve(true)),
      { clock, logger, backoff: backoff(), onWaiting: (why) => waiting.push(why) },
    );
    expect(out).toEqual({ stopped: false, value: true });
    expect(clock.slept).toEqual([1000, 2000, 4000, 4000]);
    expect(waiting).toEqual([
      ...Array(4).fill("waiting for the apiserver: connect ECONNREFUSED 127.0.0.1:6443"),
      undefined,
    ]);
    expect(lines.filter((l) => l.level === "warn")).toHaveLength(4);
    expect(lines[0]?.fields).toMatchObject({ attempt: 1, retryInMs: 1000 });
    expect(lines.at(-1)).toMatchObject({ level: "info", fields: { attempts: 5 } });
  });

  it("answers at once without a word when the apiserver is up", async () => {
    lines.length = 0;
    const waiting: (string | undefined)[] = [];
    const out = await untilApiserverAnswers(() => Promise.resolve(7), {
      clock: fakeClock(),
      logger,
      onWaiting: (why) => waiting.push(why),
    });
    expect(out).toEqual({ stopped: false, value: 7 });
    expect(waiting).toEqual([undefined]);
    expect(lines).toEqual([]);
  });

  it("throws what is not worth a retry, at once", async () => {
    const clock = fakeClock();
    await expect(
      untilApiserverAnswers(() => Promise.reject(apiError(422)), {
        clock,
        logger,
        onWaiting: () => undefined,
      }),
    ).rejects.toBeInstanceOf(ApiError);
    expect(clock.slept).toEqual([]);
  });

  it("stops waiting when told (SIGTERM), without another call", async () => {
    const ctl = new AbortController();
    const clock = fakeClock(() => ctl.abort());
    let calls = 0;
    const out = await untilApiserverAnswers(
      () => {
        calls++;
        return Promise.reject(sysError("ECONNREFUSED"));
      },
      { clock, logger, signal: ctl.signal, onWaiting: () => undefined },
    );
    expect(out).toEqual({ stopped: true });
    expect(calls).toBe(1);
  });
});
