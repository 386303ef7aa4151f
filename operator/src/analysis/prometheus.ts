/**
 * The Prometheus metric provider: one instant query over the HTTP API
 * (`GET /api/v1/query`), reduced to a single number or to a reason why there is none.
 * The network part is thin; `interpretResponse` is the pure part and holds the decisions.
 */
import { z } from "zod";
import type { MetricProvider, QueryResult } from "./provider.js";

export interface PrometheusProviderOptions {
  /** Base URL, e.g. `http://prometheus.monitoring:9090`; a path prefix is kept. */
  address: string;
  /** Per-query deadline covering connect, headers and body. Default 5000. */
  timeoutMs?: number;
  /** Injected for tests; defaults to the global `fetch`. */
  fetch?: typeof globalThis.fetch;
}

export const DEFAULT_QUERY_TIMEOUT_MS = 5000;

/** Creates a provider that asks one Prometheus server. Creating it does no I/O. */
export function createPrometheusProvider(options: PrometheusProviderOptions): MetricProvider {
  const { address, timeoutMs = DEFAULT_QUERY_TIMEOUT_MS } = options;
  const doFetch = options.fetch ?? globalThis.fetch;
  return {
    async query(q, signal) {
      try {
        const url = queryUrl(address, q);
        const limit = deadline(signal, timeoutMs);
        let status: number;
        let statusText: string;
        let body: string;
        try {
          const response = await doFetch(url, {
            method: "GET",
            headers: { accept: "application/json" },
            signal: limit.signal,
          });
          status = response.status;
          statusText = response.statusText;
          body = await response.text();
        } catch (error) {
          const timedOut = limit.timedOut();
          return {
            kind: "error",
            reason: describeFetchError(error, { address, signal, timedOut, timeoutMs }),
          };
        } finally {
          limit.done();
        }
        return interpretResponse(status, statusText, body);
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

/** Why a fetch did not produce a response, in words that point at the cause. */
function describeFetchError(
  error: unknown,
  ctx: { address: string; signal: AbortSignal; timedOut: boolean; timeoutMs: number },
): string {
  if (ctx.signal.aborted) return "query aborted before Prometheus answered";
  if (ctx.timedOut) return `Prometheus at ${ctx.address} did not answer within ${ctx.timeoutMs} ms`;
  return `cannot reach Prometheus at ${ctx.address}: ${rootCause(error)}`;
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

/** A body excerpt short enough for a status message. */
function snippet(body: string): string {
  const flat = body.replace(/\s+/g, " ").trim();
  if (flat === "") return "(empty body)";
  return flat.length > 200 ? `${flat.slice(0, 200)}…` : flat;
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
export function interpretResponse(status: number, statusText: string, body: string): QueryResult {
  const http = `HTTP ${status}${statusText ? ` ${statusText}` : ""}`;
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return status >= 200 && status < 300
      ? {
          kind: "error",
          reason: `Prometheus answered ${http} with a body that is not JSON: ${snippet(body)}`,
        }
      : { kind: "error", reason: `Prometheus answered ${http}: ${snippet(body)}` };
  }
  const parsed = envelope.safeParse(json);
  if (!parsed.success) {
    return { kind: "error", reason: `Prometheus answered ${http} with an unexpected body: ${snippet(body)}` };
  }
  const { status: apiStatus, data, errorType, error } = parsed.data;
  if (apiStatus === "error") {
    const type = errorType ? ` (${errorType})` : "";
    return {
      kind: "error",
      reason: `Prometheus rejected the query${type}, ${http}: ${error ?? "no message"}`,
    };
  }
  if (status < 200 || status >= 300 || apiStatus !== "success") {
    return {
      kind: "error",
      reason: `Prometheus answered ${http} with status "${apiStatus}": ${snippet(body)}`,
    };
  }
  const result = queryData.safeParse(data);
  if (!result.success) {
    return {
      kind: "error",
      reason: `Prometheus answered with an unexpected result: ${snippet(JSON.stringify(data) ?? "")}`,
    };
  }
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
  const pairs = Object.entries(metric).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
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
      reason: `Prometheus returned a sample value that is not a number: ${JSON.stringify(text)}`,
    };
  }
  return { kind: "value", value };
}
