/**
 * The Prometheus metric provider: one instant query over the HTTP API
 * (`GET /api/v1/query`), reduced to a single number or to a reason why there is none.
 * The network part is thin; `interpretResponse` is the pure part and holds the decisions.
 *
 * The address comes from a Release, which squad members write, so the request is made as a
 * server-side request that must not be useful to anyone but Prometheus's users (the allowlist in
 * `allowlist.ts` decides which addresses are asked at all):
 * - redirects are never followed (a 3xx is an answer, reported as such);
 * - no byte of a body that is not a Prometheus answer reaches a reason (reasons end up in status,
 *   conditions and Events, readable by everyone who may read the Release): a reason says what
 *   kind of answer came (`HTTP 404 Not Found, 1.2 kB, not Prometheus JSON`); the body goes to
 *   the debug log only, truncated;
 * - network failures are one reason whatever their cause (refused, reset, unresolvable, timed
 *   out), so a status cannot tell an open port from a closed one; the cause is in the debug log;
 * - at most `MAX_BODY_BYTES` of a body are read.
 */
import { STATUS_CODES } from "node:http";
import { z } from "zod";
import type { Logger } from "../observability/logger.js";
import type { MetricProvider, QueryResult } from "./provider.js";

export interface PrometheusProviderOptions {
  /** Base URL, e.g. `http://prometheus.monitoring:9090`; a path prefix is kept. */
  address: string;
  /** Per-query deadline covering connect, headers and body. Default 5000. */
  timeoutMs?: number;
  /** Injected for tests; defaults to the global `fetch`. */
  fetch?: typeof globalThis.fetch;
  /** Where the details a reason leaves out go (at debug level). */
  logger?: Pick<Logger, "debug">;
}

export const DEFAULT_QUERY_TIMEOUT_MS = 5000;
/** A one-number answer is a few hundred bytes; a large body is not read past this. */
export const MAX_BODY_BYTES = 1024 * 1024;
/** How much of an unexpected body the debug log gets. */
const LOGGED_BODY_CHARS = 512;

/** Creates a provider that asks one Prometheus server. Creating it does no I/O. */
export function createPrometheusProvider(options: PrometheusProviderOptions): MetricProvider {
  const { address, timeoutMs = DEFAULT_QUERY_TIMEOUT_MS, logger } = options;
  const doFetch = options.fetch ?? globalThis.fetch;
  return {
    async query(q, signal) {
      try {
        const url = queryUrl(address, q);
        const limit = deadline(signal, timeoutMs);
        let answer: Answer;
        try {
          const response = await doFetch(url, {
            method: "GET",
            headers: { accept: "application/json" },
            redirect: "manual",
            signal: limit.signal,
          });
          answer = {
            status: response.status,
            statusText: response.statusText,
            ...(await readCapped(response)),
          };
        } catch (error) {
          logger?.debug({ address, err: rootCause(error) }, "Prometheus query got no answer");
          return {
            kind: "error",
            reason: describeFetchError({ address, signal, timeoutMs }),
          };
        } finally {
          limit.done();
        }
        const result = interpretResponse(answer.status, answer.statusText, answer.body, answer);
        if (result.kind === "error" && logger) {
          logger.debug(
            {
              address,
              status: answer.status,
              bytes: answer.bytes,
              body: answer.body.slice(0, LOGGED_BODY_CHARS),
            },
            "Prometheus answer not usable",
          );
        }
        return result;
      } catch (error) {
        // Only a bug (or an unusable address) lands here; the contract is still "never throws".
        return {
          kind: "error",
          reason: `query against Prometheus at ${address} failed: ${messageOf(error)}`,
        };
      }
    },
  };
}

/** What came back, as far as it was read. */
interface Answer {
  status: number;
  statusText: string;
  body: string;
  /** Bytes read (at most `MAX_BODY_BYTES`). */
  bytes: number;
  /** The body was longer than `MAX_BODY_BYTES` and was not read to its end. */
  truncated: boolean;
}

/** Reads at most `MAX_BODY_BYTES` of the body, then lets the rest go. */
async function readCapped(response: Response): Promise<Pick<Answer, "body" | "bytes" | "truncated">> {
  if (!response.body) return { body: "", bytes: 0, truncated: false };
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  let truncated = false;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    bytes += value.byteLength;
    if (bytes > MAX_BODY_BYTES) {
      truncated = true;
      await reader.cancel().catch(() => {});
      break;
    }
  }
  const body = Buffer.concat(chunks).subarray(0, MAX_BODY_BYTES).toString("utf8");
  return { body, bytes: Math.min(bytes, MAX_BODY_BYTES), truncated };
}

/**
 * A signal that aborts when the caller's signal does or when `timeoutMs` passes; `done()`
 * detaches it from the caller's signal and stops the timer.
 *
 * This is `AbortSignal.any([signal, AbortSignal.timeout(ms)])` written out, because on Node 20
 * `AbortSignal.any` keeps an entry per call on each input signal for as long as that input lives
 * (nodejs/node#55351), and the controller passes its process-lifetime shutdown signal to every
 * query: one entry per query, every interval, for every metric of every Release, forever.
 */
function deadline(
  caller: AbortSignal,
  timeoutMs: number,
): { signal: AbortSignal; timedOut: () => boolean; done: () => void } {
  const controller = new AbortController();
  let timedOut = false;
  const onAbort = () => controller.abort(caller.reason);
  if (caller.aborted) onAbort();
  else caller.addEventListener("abort", onAbort, { once: true });
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new DOMException(`query timed out after ${timeoutMs} ms`, "TimeoutError"));
  }, timeoutMs);
  timer.unref(); // a pending query must not keep a stopping process alive
  return {
    signal: controller.signal,
    timedOut: () => timedOut,
    done: () => {
      clearTimeout(timer);
      caller.removeEventListener("abort", onAbort);
    },
  };
}

/** `{address}/api/v1/query?query=...`, tolerating a trailing slash on the address. */
export function queryUrl(address: string, q: string): string {
  const url = new URL(`${address.replace(/\/+$/, "")}/api/v1/query`);
  url.searchParams.set("query", q);
  return url.toString();
}

/**
 * Why a fetch did not produce a response. One reason for every network failure, timeouts
 * included: telling "connection refused" from "timed out" from "no such host" would make the
 * status a port scanner's report. The cause goes to the debug log.
 */
function describeFetchError(ctx: { address: string; signal: AbortSignal; timeoutMs: number }): string {
  if (ctx.signal.aborted) return "query aborted before Prometheus answered";
  return `no answer from Prometheus at ${ctx.address} within ${ctx.timeoutMs} ms (the operator's debug log has the network error)`;
}

/**
 * undici reports network failures as `TypeError: fetch failed` with the useful part
 * (`connect ECONNREFUSED 127.0.0.1:9090`, `getaddrinfo ENOTFOUND ...`) in `cause`, sometimes
 * wrapped in an AggregateError when several addresses were tried.
 */
function rootCause(error: unknown): string {
  let current: unknown = error;
  for (let depth = 0; depth < 5; depth++) {
    if (current instanceof AggregateError && current.errors.length > 0 && !current.message) {
      current = current.errors[0];
    } else if (current instanceof Error && current.cause !== undefined) {
      current = current.cause;
    } else break;
  }
  if (current instanceof Error) {
    const code = (current as { code?: unknown }).code;
    return current.message || (typeof code === "string" ? code : current.name);
  }
  return String(current);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * What kind of answer came, in words safe for status: the status code with its standard phrase
 * (never the server's own reason phrase, which is as much the server's text as its body), the
 * size, and what the body is not. `HTTP 404 Not Found, 1.2 kB, not Prometheus JSON`.
 */
export function describeAnswer(status: number, size: BodySize, what: string): string {
  const phrase = STATUS_CODES[status];
  const bytes = size.truncated ? `more than ${formatBytes(size.bytes)}` : formatBytes(size.bytes);
  return `HTTP ${status}${phrase ? ` ${phrase}` : ""}, ${bytes}, ${what}`;
}

/** The part of an answer `describeAnswer` needs; `bytes` defaults to the body's UTF-8 length. */
export interface BodySize {
  bytes: number;
  truncated?: boolean;
}

/** `0 B`, `312 B`, `1.2 kB`, `3.4 MB`: decimal units, as `ls -h --si` and browsers show them. */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  if (bytes < 1_000_000) return `${(bytes / 1000).toFixed(1)} kB`;
  return `${(bytes / 1_000_000).toFixed(1)} MB`;
}

/**
 * Prometheus's `errorType`s (web/api/v1): only with one of these is the envelope's `error` a
 * Prometheus message (a PromQL parse error the author needs) and shown, shortened.
 */
const PROMETHEUS_ERROR_TYPES = new Set([
  "bad_data",
  "execution",
  "timeout",
  "canceled",
  "internal",
  "unavailable",
  "not_found",
  "not_acceptable",
]);
const MAX_PROMETHEUS_MESSAGE = 300;

function shortened(text: string, max: number): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

/** `[unixSeconds, "value"]`, how the API encodes a sample. */
const sample = z.tuple([z.number(), z.string()]);

const envelope = z.object({
  status: z.string(),
  data: z.unknown().optional(),
  errorType: z.string().optional(),
  error: z.string().optional(),
});

const queryData = z.discriminatedUnion("resultType", [
  z.object({
    resultType: z.literal("vector"),
    result: z.array(
      z.object({
        metric: z.record(z.string(), z.string()).optional(),
        value: sample.optional(),
        histogram: z.unknown().optional(),
      }),
    ),
  }),
  z.object({ resultType: z.literal("scalar"), result: sample }),
  z.object({ resultType: z.literal("matrix"), result: z.unknown() }),
  z.object({ resultType: z.literal("string"), result: z.unknown() }),
]);

/**
 * Reduces an HTTP response from `/api/v1/query` to one `QueryResult`. Pure, so every shape the
 * API can return is unit-tested without a server.
 *
 * The query must produce exactly one number: a scalar or a one-sample instant vector. An empty
 * vector is `noData` (nothing matched: typically no traffic yet), as are NaN and ±Inf (a ratio
 * over zero requests). Several series are an `error`, not a guess at which one counts: the
 * author has to aggregate (`sum`, `max`, `histogram_quantile`).
 */
export function interpretResponse(
  status: number,
  _statusText: string,
  body: string,
  size: BodySize = { bytes: Buffer.byteLength(body) },
): QueryResult {
  const answer = (what: string): QueryResult => ({
    kind: "error",
    reason: `Prometheus answered ${describeAnswer(status, size, what)}`,
  });
  if (status >= 300 && status < 400)
    return answer("a redirect, which is not followed: set the final address");
  if (size.truncated) return answer("too large to be a Prometheus answer");
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return answer(body.trim() === "" ? "empty, not Prometheus JSON" : "not Prometheus JSON");
  }
  const parsed = envelope.safeParse(json);
  if (!parsed.success) return answer("JSON but not a Prometheus API answer");
  const { status: apiStatus, data, errorType, error } = parsed.data;
  if (apiStatus === "error" && errorType !== undefined && PROMETHEUS_ERROR_TYPES.has(errorType)) {
    const message = error === undefined ? "no message" : shortened(error, MAX_PROMETHEUS_MESSAGE);
    return {
      kind: "error",
      reason: `Prometheus rejected the query (${errorType}), ${describeAnswer(status, size, message)}`,
    };
  }
  if (apiStatus === "error") return answer("an error without a Prometheus error type");
  if (status < 200 || status >= 300) return answer("a Prometheus answer under an HTTP error status");
  if (apiStatus !== "success") return answer("a Prometheus answer whose status is neither success nor error");
  const result = queryData.safeParse(data);
  if (!result.success) return answer("a Prometheus answer with a result that is not an instant query's");
  return interpretData(result.data);
}

function interpretData(data: z.infer<typeof queryData>): QueryResult {
  switch (data.resultType) {
    case "scalar":
      return sampleValue(data.result[1]);
    case "matrix":
      return {
        kind: "error",
        reason:
          "query returned a range vector; it must return one number (wrap the range selector in a function such as rate() or avg_over_time())",
      };
    case "string":
      return { kind: "error", reason: "query returned a string; it must return one number" };
    case "vector": {
      const series = data.result;
      const only = series[0];
      if (only === undefined) return { kind: "noData", reason: "query returned no series" };
      if (series.length > 1) {
        const shown = series.slice(0, 3).map((s) => labels(s.metric ?? {}));
        const more = series.length > 3 ? ", …" : "";
        return {
          kind: "error",
          reason: `query returned ${series.length} series (${shown.join(", ")}${more}); it must return one: aggregate it, e.g. with sum() or max()`,
        };
      }
      if (only.value === undefined) {
        return {
          kind: "error",
          reason:
            "query returned a native histogram; it must return one number (e.g. use histogram_quantile())",
        };
      }
      return sampleValue(only.value[1]);
    }
  }
}

/** `{code="500", job="api"}`, how PromQL users read a series. */
function labels(metric: Record<string, string>): string {
  const pairs = Object.entries(metric)
    .slice(0, 8)
    .map(([k, v]) => `${shortened(k, 60)}=${JSON.stringify(shortened(v, 60))}`);
  return `{${pairs.join(", ")}}`;
}

/**
 * Parses a sample value. The API writes NaN as "NaN" and infinities as "+Inf"/"-Inf", which
 * `Number()` does not read, so they are handled first.
 */
function sampleValue(text: string): QueryResult {
  if (text === "NaN") return { kind: "noData", reason: "query returned NaN", value: text };
  if (text === "+Inf" || text === "-Inf" || text === "Inf") {
    return { kind: "noData", reason: `query returned ${text}`, value: text };
  }
  const value = text.trim() === "" ? Number.NaN : Number(text);
  if (!Number.isFinite(value)) {
    return {
      kind: "error",
      reason: `Prometheus returned a sample value that is not a number: ${JSON.stringify(shortened(text, 40))}`,
    };
  }
  return { kind: "value", value };
}
