/**
 * The OpenFeature Remote Evaluation Protocol (OFREP, https://github.com/open-feature/protocol,
 * `service/openapi.yaml`) as pure functions: routes, request bodies, response bodies, status
 * codes and ETag matching. `ofrep.ts` does the HTTP around them. Where the spec leaves a choice,
 * flagd's own OFREP service (`core/pkg/service/ofrep`) is followed, so a client that works
 * against flagd works against Crescendo.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { EvaluationContext } from "@openfeature/core";
import type { Evaluation } from "./evaluate.js";

/** Route names, used as the bounded `route` label of the request metric. */
export type OfrepRouteName = "evaluate_flag" | "evaluate_flags" | "unmatched";

export type OfrepRoute =
  | { name: "evaluate_flag"; namespace: string; key: string }
  | { name: "evaluate_flags"; namespace: string }
  | { name: "unmatched" };

/**
 * `/namespaces/{ns}` is the base URL a client is given, so one operator serves every namespace;
 * the namespace must look like a DNS-1123 label. The path only selects which namespace's flags
 * are evaluated; whether the caller may read them is decided before any evaluation, by
 * `ofrep-auth.ts` and `ofrep-access.ts`: an app's ServiceAccount reads its own namespace and what
 * Squads share with it (`spec.toggles.readableBy`), the static token only the namespaces it is
 * scoped to, and only `--ofrep-auth=none` lets anyone read every namespace.
 */
const ROUTE =
  /^\/namespaces\/([a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?)\/ofrep\/v1\/evaluate\/flags(?:\/([^/]+))?\/?$/;

/** Matches a request path (query string ignored) to an OFREP route. */
export function matchRoute(url: string): OfrepRoute {
  const path = url.split("?", 1)[0] ?? "";
  const match = ROUTE.exec(path);
  if (!match) return { name: "unmatched" };
  const namespace = match[1] as string;
  const rawKey = match[2];
  if (rawKey === undefined) return { name: "evaluate_flags", namespace };
  try {
    return { name: "evaluate_flag", namespace, key: decodeURIComponent(rawKey) };
  } catch {
    // Not valid percent-encoding: no flag can have this key.
    return { name: "evaluate_flag", namespace, key: rawKey };
  }
}

/**
 * HTTP status for an evaluation error. The spec answers a missing flag with 404 and every other
 * evaluation failure (PARSE_ERROR, TARGETING_KEY_MISSING, INVALID_CONTEXT, GENERAL; TYPE_MISMATCH
 * cannot happen server-side, since OFREP requests carry no type) with 400, as flagd does.
 */
export function errorStatus(errorCode: string): 400 | 404 {
  return errorCode === "FLAG_NOT_FOUND" ? 404 : 400;
}

export type ParsedRequest = { ok: true; context: EvaluationContext } | { ok: false; details: string };

/**
 * Reads `{"context": {...}}`. An empty body and a missing context both mean an empty context
 * (the spec makes `context` optional). Anything that is not a JSON object, or a context that is
 * not an object, is INVALID_CONTEXT, as flagd answers.
 */
export function parseRequestBody(text: string): ParsedRequest {
  if (text.trim() === "") return { ok: true, context: {} };
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { ok: false, details: "request body is not valid JSON" };
  }
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    return { ok: false, details: "request body must be a JSON object" };
  }
  const context = (body as { context?: unknown }).context;
  if (context === undefined) return { ok: true, context: {} };
  if (context === null || typeof context !== "object" || Array.isArray(context)) {
    return { ok: false, details: "context must be a JSON object" };
  }
  return { ok: true, context: context as EvaluationContext };
}

export interface SuccessBody {
  key: string;
  value: unknown;
  reason: string;
  variant?: string;
  metadata: Record<string, string | number | boolean>;
}
export interface FailureBody {
  key: string;
  errorCode: string;
  errorDetails: string;
}

/**
 * The body for one evaluation. Reasons are flagd's (STATIC, TARGETING_MATCH, DEFAULT, DISABLED,
 * ERROR), passed through unchanged so OFREP and file-mode apps report the same reason.
 */
export function evaluationBody(e: Evaluation): SuccessBody | FailureBody {
  if ("value" in e) {
    return {
      key: e.key,
      value: e.value,
      reason: e.reason,
      ...(e.variant === undefined ? {} : { variant: e.variant }),
      metadata: e.metadata,
    };
  }
  return { key: e.key, errorCode: e.errorCode, errorDetails: e.errorMessage };
}

/** The bulk body: every flag, successes and failures side by side, as the spec's `oneOf` allows. */
export function bulkBody(evaluations: readonly Evaluation[]): { flags: (SuccessBody | FailureBody)[] } {
  return { flags: evaluations.map(evaluationBody) };
}

/**
 * A strong ETag for a bulk response, hashed from the body itself rather than from the document:
 * the answer also depends on the context (and, for raw targeting using `$flagd.timestamp`, on
 * time), so only the body hash changes exactly when the answer does.
 */
export function bulkEtag(body: string): string {
  return `"${createHash("sha256").update(body).digest("hex").slice(0, 32)}"`;
}

/**
 * RFC 9110 `If-None-Match`: a comma-separated list of entity tags, or `*`. Comparison is weak
 * (`W/"x"` matches `"x"`), as the RFC requires for this header.
 */
export function ifNoneMatchHits(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const bare = (tag: string) => tag.trim().replace(/^W\//, "");
  const wanted = bare(etag);
  return header.split(",").some((tag) => {
    const t = tag.trim();
    return t === "*" || bare(t) === wanted;
  });
}

/** The credential a request presents: `Authorization: Bearer <t>` or the spec's `X-API-Key: <t>`. */
export function presentedToken(headers: {
  authorization?: string;
  "x-api-key"?: string | string[];
}): string | undefined {
  const bearer = /^Bearer\s+(.+)$/i.exec(headers.authorization ?? "");
  if (bearer) return (bearer[1] as string).trim();
  const apiKey = headers["x-api-key"];
  return typeof apiKey === "string" && apiKey !== "" ? apiKey : undefined;
}

/** A token's SHA-256 digest: what `tokensEqual` compares, so the expected side can be digested once. */
export function tokenDigest(token: string): Buffer {
  return createHash("sha256").update(token).digest();
}

/**
 * Compares a presented token with an expected token's digest (`tokenDigest`) in constant time:
 * the presented token is hashed too, so neither the content nor the length of the expected
 * token leaks through timing.
 */
export function matchesDigest(presented: string | undefined, expected: Buffer): boolean {
  const equal = timingSafeEqual(tokenDigest(presented ?? ""), expected);
  return presented !== undefined && equal;
}

/**
 * Compares tokens in constant time. Both sides are hashed first, so neither the content nor the
 * length of the expected token leaks through timing.
 */
export function tokensEqual(presented: string | undefined, expected: string): boolean {
  return matchesDigest(presented, tokenDigest(expected));
}

/**
 * The expected token's digest, computed when the token changes rather than on every request
 * (it is one of two SHA-256 digests per request otherwise). `token` is read on each call, so a
 * rotated token takes effect on the next request.
 */
export function expectedTokenDigest(token: () => string | undefined): () => Buffer | undefined {
  let text: string | undefined;
  let digest: Buffer | undefined;
  return () => {
    const current = token();
    if (!current) return undefined;
    if (current !== text) {
      digest = tokenDigest(current);
      text = current;
    }
    return digest;
  };
}
