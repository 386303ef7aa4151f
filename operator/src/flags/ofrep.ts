/**
 * The OFREP endpoint: a plain `node:http` handler that answers from documents already in memory.
 * The controller publishes each namespace's compiled document into a `FlagSource` from its
 * informer cache, so an evaluation never calls the Kubernetes API, and a burst of app traffic
 * cannot turn into apiserver load.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger as FlagdLogger } from "@openfeature/core";
import type { Logger } from "pino";
import { EvaluatorCache, type Evaluation, type PublishedDocument } from "./evaluate.js";
import type { OfrepCaller } from "./ofrep-access.js";
import { callerLabel, type OfrepAuthorizer } from "./ofrep-auth.js";
import { DEFAULT_OFREP_LIMITS, PerClientLimiter, type OfrepServerLimits } from "./ofrep-limits.js";
import {
  bulkBody,
  bulkEtag,
  errorStatus,
  evaluationBody,
  ifNoneMatchHits,
  matchRoute,
  parseRequestBody,
  type OfrepRoute,
  type OfrepRouteName,
} from "./ofrep-protocol.js";
import { BodyTooLarge, readBody } from "../runtime/http-body.js";

/** Where the server reads documents: the controller's in-memory view, one entry per namespace. */
export interface FlagSource {
  /** The namespace's current document and its content hash, or undefined when it has no toggles. */
  document(namespace: string): PublishedDocument | undefined;
}

/**
 * Hooks the lead wires to prom-client. Label values are bounded: `namespace` and `key` are only
 * passed through when they name a served document and flag (an unknown one is reported as ""),
 * so a client asking for random keys cannot create series.
 */
export interface OfrepMetrics {
  /** One flag evaluated: `crescendo_featuretoggle_evaluations_total{namespace,key,reason}`. */
  evaluation(labels: { namespace: string; key: string; reason: string }): void;
  /** One request answered: `crescendo_ofrep_request_duration_seconds{route,code}`. */
  request(labels: { route: OfrepRouteName; code: number }, seconds: number): void;
}

export interface OfrepOptions {
  source: FlagSource;
  /**
   * Decides who may read which namespace (`ofrep-auth.ts`). Required: "no authentication" is
   * an authorizer too (`--ofrep-auth=none`), so it is always a decision someone made.
   */
  authorize: OfrepAuthorizer;
  metrics?: OfrepMetrics;
  /**
   * Called once per flag evaluated to a variant (served flags only), e.g. `EvaluationInsight.record`.
   * On the hot path: it must be cheap and must not throw. `caller` is the authenticated identity
   * once the auth layer provides one; undefined until then.
   */
  onEvaluated?: (namespace: string, key: string, variant: string, caller: string | undefined) => void;
  logger?: Logger;
  /** Overrides of `DEFAULT_OFREP_LIMITS` (body size, timeouts, per-client concurrency). */
  limits?: Partial<OfrepServerLimits>;
}

export interface OfrepServerOptions extends OfrepOptions {
  /** Default 8016, flagd's OFREP port, so client configuration written for flagd carries over. */
  port?: number;
  /** Interface to bind; default all. */
  host?: string;
}

export interface OfrepServer {
  /** Starts listening; resolves with the bound address (useful with port 0). */
  listen(): Promise<AddressInfo>;
  /** Stops accepting, closes idle keep-alive connections, and resolves when the server is down. */
  close(): Promise<void>;
  /** The request handler, for mounting on another server. */
  readonly handler: (req: IncomingMessage, res: ServerResponse) => void;
}

/**
 * Writes a whole answer in one go. The body's length is always declared: headers sent by
 * `writeHead` without one make Node frame the body as chunked, which costs a vectored write of
 * three buffers per response instead of one.
 */
function send(res: ServerResponse, status: number, body?: unknown, headers?: Record<string, string>): void {
  if (body === undefined) {
    // Only a 304 has no body, and Node sends none for it: no length to declare.
    res.writeHead(status, headers).end();
    return;
  }
  const text = typeof body === "string" ? body : JSON.stringify(body);
  res
    .writeHead(status, {
      ...headers,
      "Content-Type": "application/json; charset=utf-8",
      "Content-Length": String(Buffer.byteLength(text)),
    })
    .end(text);
}

/** flagd-core's logger interface over pino; its messages are debugging aids, logged at debug. */
function flagdLogger(logger: Logger | undefined): FlagdLogger | undefined {
  if (!logger) return undefined;
  // A key of its own: pino does not replace a parent binding, it writes a duplicate JSON key.
  const child = logger.child({ library: "flagd-core" });
  const line =
    (level: "error" | "warn" | "info" | "debug") =>
    (...args: unknown[]) =>
      child[level](args.map((a) => (a instanceof Error ? a.message : String(a))).join(" "));
  return { error: line("error"), warn: line("warn"), info: line("debug"), debug: line("debug") };
}

/**
 * Metrics are a side channel: a throwing hook is logged, never allowed to fail a request or crash
 * the process. Plain wrappers (no rest arguments): `evaluation` runs once per flag of a bulk request.
 */
function guardMetrics(metrics: OfrepMetrics, logger: Logger | undefined): OfrepMetrics {
  const failed = (err: unknown) => logger?.warn({ err }, "OFREP metrics hook failed");
  return {
    evaluation(labels) {
      try {
        metrics.evaluation(labels);
      } catch (err) {
        failed(err);
      }
    },
    request(labels, seconds) {
      try {
        metrics.request(labels, seconds);
      } catch (err) {
        failed(err);
      }
    },
  };
}

/**
 * Who evaluated, as toggle insight lists callers: a ServiceAccount's username
 * (`system:serviceaccount:<ns>:<name>`); other callers are not told apart (a shared token or
 * anonymous access has no identity, and a user's name is not a workload).
 */
function insightCaller(caller: OfrepCaller): string | undefined {
  return caller.kind === "serviceAccount"
    ? `system:serviceaccount:${caller.namespace}:${caller.name}`
    : undefined;
}

/**
 * The OFREP request handler. Order of checks: route (404), method (405), the client's
 * concurrency (429), credentials (401; 503 when the apiserver cannot verify them), the
 * namespace (403), body size (413) and shape (400), then evaluation. Single evaluations answer 200 or the
 * spec's error body; bulk evaluations answer 200 with an ETag, or 304 when `If-None-Match`
 * already names it. A namespace without a document has no flags: single evaluation answers
 * FLAG_NOT_FOUND and bulk an empty list (the spec has no 404 for bulk, and an empty answer does
 * not reveal which namespaces exist).
 */
export function createOfrepHandler(
  options: OfrepOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  const { source, logger, onEvaluated } = options;
  const metrics = options.metrics && guardMetrics(options.metrics, logger);
  const limits = { ...DEFAULT_OFREP_LIMITS, ...options.limits };
  const limit = limits.maxBodyBytes;
  const perClient = new PerClientLimiter(limits.maxInFlightPerClient);
  const cache = new EvaluatorCache(flagdLogger(logger));

  const evaluatorFor = (namespace: string) => {
    const published = source.document(namespace);
    if (!published) {
      cache.delete(namespace);
      return undefined;
    }
    return cache.get(namespace, published);
  };

  const count = (namespace: string, known: boolean, e: Evaluation, caller: string | undefined) => {
    const found = known && !("errorCode" in e && e.errorCode === "FLAG_NOT_FOUND");
    metrics?.evaluation({ namespace: known ? namespace : "", key: found ? e.key : "", reason: e.reason });
    if (onEvaluated && found && "variant" in e && e.variant !== undefined)
      onEvaluated(namespace, e.key, e.variant, caller);
  };

  /** `caller`: the identity insight remembers (a ServiceAccount's username), if there is one. */
  async function answer(
    route: Exclude<OfrepRoute, { name: "unmatched" }>,
    req: IncomingMessage,
    res: ServerResponse,
    caller: string | undefined,
  ) {
    let text: string;
    try {
      text = await readBody(req, limit);
    } catch (err) {
      if (!(err instanceof BodyTooLarge)) throw err;
      return send(res, 413, { errorDetails: `request body exceeds ${limit} bytes` }, { Connection: "close" });
    }
    const parsed = parseRequestBody(text);
    if (!parsed.ok) {
      const failure = { errorCode: "INVALID_CONTEXT", errorDetails: parsed.details };
      return send(res, 400, route.name === "evaluate_flag" ? { key: route.key, ...failure } : failure);
    }
    const evaluator = evaluatorFor(route.namespace);
    if (route.name === "evaluate_flag") {
      const evaluation: Evaluation = evaluator
        ? evaluator.evaluate(route.key, parsed.context)
        : {
            key: route.key,
            reason: "ERROR",
            errorCode: "FLAG_NOT_FOUND",
            errorMessage: `flag '${route.key}' not found`,
            metadata: {},
          };
      count(route.namespace, evaluator !== undefined, evaluation, caller);
      const status = "errorCode" in evaluation ? errorStatus(evaluation.errorCode) : 200;
      return send(res, status, evaluationBody(evaluation));
    }
    const evaluations = evaluator ? evaluator.evaluateAll(parsed.context) : [];
    for (const e of evaluations) count(route.namespace, true, e, caller);
    const body = JSON.stringify(bulkBody(evaluations));
    const etag = bulkEtag(body);
    if (ifNoneMatchHits(req.headers["if-none-match"], etag)) return send(res, 304, undefined, { ETag: etag });
    return send(res, 200, body, { ETag: etag });
  }

  return (req, res) => {
    const started = process.hrtime.bigint();
    const route = matchRoute(req.url ?? "/");
    res.on("finish", () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      metrics?.request({ route: route.name, code: res.statusCode }, seconds);
    });
    if (route.name === "unmatched") return send(res, 404, { errorDetails: "not an OFREP route" });
    if (req.method !== "POST") return send(res, 405, { errorDetails: "use POST" }, { Allow: "POST" });
    const release = perClient.tryAcquire(req.socket.remoteAddress ?? "unknown");
    if (!release) {
      return send(
        res,
        429,
        { errorDetails: `more than ${limits.maxInFlightPerClient} requests in flight from this client` },
        { "Retry-After": "1", Connection: "close" },
      );
    }
    res.on("close", release);
    authorizeThenAnswer(route, req, res).catch((err: unknown) => {
      logger?.error({ err, route: route.name, namespace: route.namespace }, "OFREP request failed");
      if (!res.headersSent) send(res, 500, { errorDetails: "internal error" });
      else res.destroy();
    });
  };

  async function authorizeThenAnswer(
    route: Exclude<OfrepRoute, { name: "unmatched" }>,
    req: IncomingMessage,
    res: ServerResponse,
  ) {
    const auth = await options.authorize(req.headers, route.namespace);
    if (!auth.ok) {
      // The body was not read: close rather than leave it in the connection.
      const headers: Record<string, string> = { Connection: "close" };
      if (auth.status === 401) headers["WWW-Authenticate"] = 'Bearer realm="crescendo-ofrep"';
      if (auth.status === 503) headers["Retry-After"] = "1";
      logger?.debug(
        { status: auth.status, namespace: route.namespace, details: auth.details },
        "OFREP refused",
      );
      return send(res, auth.status, { errorDetails: auth.details }, headers);
    }
    // Guarded: building the line's fields on every request costs even when trace is off.
    if (logger?.isLevelEnabled("trace"))
      logger.trace({ caller: callerLabel(auth.caller), namespace: route.namespace }, "OFREP request");
    return answer(route, req, res, insightCaller(auth.caller));
  }
}

/**
 * An HTTP server around `createOfrepHandler`. Nothing happens until `listen()`, so constructing
 * one in a test or at start-up has no side effects.
 */
export function createOfrepServer(options: OfrepServerOptions): OfrepServer {
  const handler = createOfrepHandler(options);
  let server: Server | undefined;
  return {
    handler,
    listen() {
      const limits = { ...DEFAULT_OFREP_LIMITS, ...options.limits };
      // A slow client must not hold a connection open (slowloris): headers, then the whole
      // request, each have a deadline, checked every second rather than Node's default 30 s.
      const s = createServer(
        {
          headersTimeout: limits.headersTimeoutMs,
          requestTimeout: limits.requestTimeoutMs,
          keepAliveTimeout: limits.keepAliveTimeoutMs,
          connectionsCheckingInterval: limits.checkIntervalMs,
          maxHeaderSize: limits.maxHeaderBytes,
        },
        handler,
      );
      s.maxConnections = limits.maxConnections;
      server = s;
      return new Promise<AddressInfo>((resolve, reject) => {
        s.once("error", reject);
        s.listen(options.port ?? 8016, options.host, () => {
          s.off("error", reject);
          resolve(s.address() as AddressInfo);
        });
      });
    },
    close() {
      const s = server;
      server = undefined;
      if (!s) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        s.close((err) => (err ? reject(err) : resolve()));
        s.closeIdleConnections();
      });
    },
  };
}
