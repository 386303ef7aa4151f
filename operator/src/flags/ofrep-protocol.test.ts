import { describe, expect, it } from "vitest";
import {
  bulkBody,
  bulkEtag,
  errorStatus,
  evaluationBody,
  expectedTokenDigest,
  ifNoneMatchHits,
  matchesDigest,
  matchRoute,
  parseRequestBody,
  presentedToken,
  tokenDigest,
  tokensEqual,
} from "./ofrep-protocol.js";

describe("matchRoute", () => {
  it.each([
    ["/namespaces/team-a/ofrep/v1/evaluate/flags", { name: "evaluate_flags", namespace: "team-a" }],
    ["/namespaces/team-a/ofrep/v1/evaluate/flags/", { name: "evaluate_flags", namespace: "team-a" }],
    ["/namespaces/team-a/ofrep/v1/evaluate/flags?x=1", { name: "evaluate_flags", namespace: "team-a" }],
    [
      "/namespaces/a/ofrep/v1/evaluate/flags/new-ui",
      { name: "evaluate_flag", namespace: "a", key: "new-ui" },
    ],
    [
      "/namespaces/a/ofrep/v1/evaluate/flags/checkout.v2_x",
      { name: "evaluate_flag", namespace: "a", key: "checkout.v2_x" },
    ],
    ["/namespaces/a/ofrep/v1/evaluate/flags/a%20b", { name: "evaluate_flag", namespace: "a", key: "a b" }],
    [
      "/namespaces/a/ofrep/v1/evaluate/flags/%E0%A4%A",
      { name: "evaluate_flag", namespace: "a", key: "%E0%A4%A" },
    ],
  ])("%s", (url, route) => {
    expect(matchRoute(url)).toEqual(route);
  });
  it.each([
    "/",
    "/ofrep/v1/evaluate/flags",
    "/namespaces/Team/ofrep/v1/evaluate/flags",
    "/namespaces/-a/ofrep/v1/evaluate/flags",
    `/namespaces/${"a".repeat(64)}/ofrep/v1/evaluate/flags`,
    "/namespaces/a/ofrep/v1/evaluate/flags/x/y",
    "/namespaces/a/ofrep/v2/evaluate/flags",
    "/namespaces/a/ofrep/v1/configuration",
  ])("%s is not an OFREP route", (url) => {
    expect(matchRoute(url)).toEqual({ name: "unmatched" });
  });
});

describe("errorStatus", () => {
  it("404 only for FLAG_NOT_FOUND; every other evaluation error is 400", () => {
    expect(errorStatus("FLAG_NOT_FOUND")).toBe(404);
    for (const code of [
      "PARSE_ERROR",
      "TARGETING_KEY_MISSING",
      "INVALID_CONTEXT",
      "TYPE_MISMATCH",
      "GENERAL",
    ]) {
      expect(errorStatus(code)).toBe(400);
    }
  });
});

describe("parseRequestBody", () => {
  it("accepts a context object, an empty body and a body without context", () => {
    expect(parseRequestBody('{"context":{"targetingKey":"u1","n":1}}')).toEqual({
      ok: true,
      context: { targetingKey: "u1", n: 1 },
    });
    expect(parseRequestBody("")).toEqual({ ok: true, context: {} });
    expect(parseRequestBody("  \n")).toEqual({ ok: true, context: {} });
    expect(parseRequestBody("{}")).toEqual({ ok: true, context: {} });
  });
  it.each([
    ["{", "request body is not valid JSON"],
    ["[]", "request body must be a JSON object"],
    ["null", "request body must be a JSON object"],
    ['"x"', "request body must be a JSON object"],
    ['{"context":[]}', "context must be a JSON object"],
    ['{"context":null}', "context must be a JSON object"],
    ['{"context":"u1"}', "context must be a JSON object"],
  ])("refuses %s", (text, details) => {
    expect(parseRequestBody(text)).toEqual({ ok: false, details });
  });
});

describe("response bodies", () => {
  it("success: key, value, reason, variant, metadata", () => {
    expect(
      evaluationBody({
        key: "f",
        value: { a: 1 },
        variant: "v",
        reason: "STATIC",
        metadata: { flagSetId: "ns" },
      }),
    ).toEqual({ key: "f", value: { a: 1 }, reason: "STATIC", variant: "v", metadata: { flagSetId: "ns" } });
  });
  it("success without a variant leaves the field out", () => {
    expect(evaluationBody({ key: "f", value: false, reason: "DEFAULT", metadata: {} })).toEqual({
      key: "f",
      value: false,
      reason: "DEFAULT",
      metadata: {},
    });
  });
  it("failure: key, errorCode, errorDetails", () => {
    expect(
      evaluationBody({
        key: "f",
        reason: "ERROR",
        errorCode: "FLAG_NOT_FOUND",
        errorMessage: "gone",
        metadata: {},
      }),
    ).toEqual({ key: "f", errorCode: "FLAG_NOT_FOUND", errorDetails: "gone" });
  });
  it("bulk lists successes and failures in order", () => {
    expect(
      bulkBody([
        { key: "a", value: 1, variant: "one", reason: "STATIC", metadata: {} },
        { key: "b", reason: "ERROR", errorCode: "PARSE_ERROR", errorMessage: "bad", metadata: {} },
      ]),
    ).toEqual({
      flags: [
        { key: "a", value: 1, variant: "one", reason: "STATIC", metadata: {} },
        { key: "b", errorCode: "PARSE_ERROR", errorDetails: "bad" },
      ],
    });
  });
});

describe("ETags", () => {
  it("bulkEtag is a quoted strong tag of the body", () => {
    expect(bulkEtag("{}")).toMatch(/^"[0-9a-f]{32}"$/);
    expect(bulkEtag("{}")).toBe(bulkEtag("{}"));
    expect(bulkEtag("{}")).not.toBe(bulkEtag('{"flags":[]}'));
  });
  it("If-None-Match: exact, listed, weak and * match; others and absence do not", () => {
    const tag = '"abc"';
    expect(ifNoneMatchHits(undefined, tag)).toBe(false);
    expect(ifNoneMatchHits('"abc"', tag)).toBe(true);
    expect(ifNoneMatchHits('"x", "abc"', tag)).toBe(true);
    expect(ifNoneMatchHits('W/"abc"', tag)).toBe(true);
    expect(ifNoneMatchHits("*", tag)).toBe(true);
    expect(ifNoneMatchHits('"abcd"', tag)).toBe(false);
    expect(ifNoneMatchHits("abc", tag)).toBe(false);
    expect(ifNoneMatchHits("", tag)).toBe(false);
  });
});

describe("credentials", () => {
  it("reads a bearer token or an X-API-Key", () => {
    expect(presentedToken({ authorization: "Bearer s3cret" })).toBe("s3cret");
    expect(presentedToken({ authorization: "bearer  s3cret " })).toBe("s3cret");
    expect(presentedToken({ "x-api-key": "k" })).toBe("k");
    expect(presentedToken({ authorization: "Basic abc" })).toBeUndefined();
    expect(presentedToken({ "x-api-key": ["a", "b"] })).toBeUndefined();
    expect(presentedToken({})).toBeUndefined();
  });
  it("compares in constant time and never accepts a missing token", () => {
    expect(tokensEqual("s3cret", "s3cret")).toBe(true);
    expect(tokensEqual("s3cre", "s3cret")).toBe(false);
    expect(tokensEqual("s3cret-longer", "s3cret")).toBe(false);
    expect(tokensEqual(undefined, "s3cret")).toBe(false);
    expect(tokensEqual(undefined, "")).toBe(false);
  });
  it("digests the expected token once per token, not per request, and follows a rotation", () => {
    let token: string | undefined = "one";
    let reads = 0;
    const expected = expectedTokenDigest(() => (reads++, token));
    const first = expected();
    expect(first).toEqual(tokenDigest("one"));
    expect(expected()).toBe(first); // the same Buffer: not digested again
    expect(reads).toBe(2); // but the token is read every time, so rotation needs no restart
    expect(matchesDigest("one", first!)).toBe(true);
    token = "two";
    const second = expected();
    expect(second).toEqual(tokenDigest("two"));
    expect(matchesDigest("one", second!)).toBe(false);
    expect(matchesDigest("two", second!)).toBe(true);
    expect(matchesDigest(undefined, tokenDigest(""))).toBe(false);
    token = undefined;
    expect(expected()).toBeUndefined();
    token = "";
    expect(expected()).toBeUndefined();
  });
});
