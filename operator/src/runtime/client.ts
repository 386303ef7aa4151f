/**
 * A thin typed REST client for any Resource. The generated clients in
 * `@kubernetes/client-node` are one class per group and cannot server-side apply a custom
 * resource without ceremony; every controller here needs exactly the same eight verbs on
 * arbitrary kinds, so they are written once, over Node's http/https, with the kubeconfig's
 * credentials, a client-side rate limit, a per-request timeout and one metrics hook.
 */
import http from "node:http";
import https from "node:https";
import { TokenBucket } from "./backoff.js";
import type { KubeConnection } from "./kubeconfig.js";
import { createTransport } from "./transport.js";
import { systemClock, type Clock, type KubeObject, type Resource, type WatchEvent } from "./types.js";

/** The Kubernetes verb of a request, as in RBAC and apiserver audit logs. */
export type Verb = "list" | "watch" | "get" | "create" | "update" | "patch" | "delete";

/** What the client reports once per request, for `rest_client_requests_total` and friends. */
export interface RequestInfo {
  method: string;
  /** HTTP status as a string ("200"), or "<error>" when no response arrived. */
  code: string;
  /** `plural.group` (`plural` for the core group), with `/subresource` when one is used. */
  resource: string;
  verb: Verb;
  /** Until the full response (for watches: until the response headers). */
  durationMs: number;
  /** Time spent waiting for the client-side rate limiter before sending (0 for watches). */
  rateLimiterWaitMs?: number;
}

export interface KubeClientOptions {
  /** Sustained requests per second (default 50). */
  qps?: number;
  /** Requests that may start at once (default 100). */
  burst?: number;
  /** Per-request timeout for everything but watches (default 30 s). */
  timeoutMs?: number;
  userAgent?: string;
  onRequest?: (info: RequestInfo) => void;
  clock?: Clock;
}

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
}

export interface ListResult<T> {
  items: T[];
  metadata: { resourceVersion: string; continue?: string };
}

export interface WatchOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  resourceVersion: string;
  allowWatchBookmarks: boolean;
  timeoutSeconds: number;
}

export interface ApplyOptions {
  fieldManager: string;
  /** Take ownership of fields another manager set (the operator is the authority for what it creates). */
  force?: boolean;
}

export interface DeleteOptions {
  propagationPolicy?: "Foreground" | "Background" | "Orphan";
}

export interface KubeClient {
  list<T extends KubeObject = KubeObject>(
    res: Resource,
    opts?: ListOptions,
    signal?: AbortSignal,
  ): Promise<ListResult<T>>;
  watch<T extends KubeObject = KubeObject>(
    res: Resource,
    opts: WatchOptions,
    signal: AbortSignal,
  ): AsyncIterable<WatchEvent<T>>;
  get<T extends KubeObject = KubeObject>(
    res: Resource,
    name: string,
    namespace?: string,
  ): Promise<T | undefined>;
  apply<T extends KubeObject>(obj: T, res: Resource, opts: ApplyOptions): Promise<T>;
  applyStatus<T extends KubeObject>(obj: T, res: Resource, opts: ApplyOptions): Promise<T>;
  mergePatch<T extends KubeObject = KubeObject>(
    res: Resource,
    name: string,
    namespace: string | undefined,
    patch: unknown,
    opts?: { subresource?: string },
  ): Promise<T>;
  create<T extends KubeObject>(obj: T, res: Resource): Promise<T>;
  replace<T extends KubeObject>(obj: T, res: Resource): Promise<T>;
  delete(res: Resource, name: string, namespace?: string, opts?: DeleteOptions): Promise<boolean>;
  /** Closes idle connections. */
  close(): void;
}

/**
 * A non-2xx answer from the apiserver, decoded from its `Status` body so callers branch on
 * `status`/`reason` (409 → requeue, 404 → gone) rather than on message text.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
    readonly details: unknown,
    readonly body: unknown,
    /** `METHOD path` of the failed request, for logs. */
    readonly request: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export const isNotFound = (err: unknown): boolean => err instanceof ApiError && err.status === 404;
export const isConflict = (err: unknown): boolean => err instanceof ApiError && err.status === 409;
export const isGone = (err: unknown): boolean => err instanceof ApiError && err.status === 410;

/** `group/version`, or `version` for the core group. */
export function apiVersionOf(res: Resource): string {
  return res.group ? `${res.group}/${res.version}` : res.version;
}

/** The REST path of a collection (no name) or an object, e.g. `/apis/apps/v1/namespaces/a/deployments/x`. */
export function resourcePath(res: Resource, namespace?: string, name?: string, subresource?: string): string {
  let p = res.group ? `/apis/${res.group}/${res.version}` : `/api/${res.version}`;
  if (res.namespaced && namespace) p += `/namespaces/${encodeURIComponent(namespace)}`;
  p += `/${res.plural}`;
  if (name !== undefined) p += `/${encodeURIComponent(name)}`;
  if (subresource) p += `/${subresource}`;
  return p;
}

type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

interface Call {
  method: Method;
  verb: Verb;
  res: Resource;
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  subresource?: string;
  body?: unknown;
  contentType?: string;
}

class RequestTimeoutError extends Error {
  constructor(request: string, ms: number) {
    super(`${request}: no response within ${ms} ms`);
    this.name = "RequestTimeoutError";
  }
}

/**
 * Creates a client for the kubeconfig's current context. Every request but a watch waits for
 * a rate-limit token and is bounded by `timeoutMs`; watches are long-running by design and are
 * bounded instead by their server-side `timeoutSeconds` and the reflector's watchdog.
 */
export function createKubeClient(kc: KubeConnection, options: KubeClientOptions = {}): KubeClient {
  const transport = createTransport(kc);
  const clock = options.clock ?? systemClock;
  const limiter = new TokenBucket(options.qps ?? 50, options.burst ?? 100, clock);
  const timeoutMs = options.timeoutMs ?? 30_000;
  const userAgent = options.userAgent ?? "crescendo";
  const prefix = transport.server.pathname.replace(/\/+$/, "");
  const hostname = transport.server.hostname.replace(/^\[(.*)\]$/, "$1");
  const mod = transport.server.protocol === "https:" ? https : http;

  const describe = (call: Call): string => `${call.method} ${call.path}`;

  function report(call: Call, code: string, startedAt: number, rateLimiterWaitMs = 0): void {
    const resource =
      (call.res.group ? `${call.res.plural}.${call.res.group}` : call.res.plural) +
      (call.subresource ? `/${call.subresource}` : "");
    try {
      options.onRequest?.({
        method: call.method,
        code,
        resource,
        verb: call.verb,
        durationMs: Date.now() - startedAt,
        rateLimiterWaitMs,
      });
    } catch {
      // A metrics hook must never fail a request.
    }
  }

  /** Sends the request and resolves with the response headers; aborting destroys request and response. */
  async function send(call: Call, signal: AbortSignal): Promise<http.IncomingMessage> {
    const base = await transport.requestOptions();
    signal.throwIfAborted();
    const headers: http.OutgoingHttpHeaders = { ...headerObject(base.headers) };
    headers["Accept"] = "application/json";
    headers["User-Agent"] = userAgent;
    const payload = call.body === undefined ? undefined : JSON.stringify(call.body);
    if (payload !== undefined) {
      headers["Content-Type"] = call.contentType ?? "application/json";
      headers["Content-Length"] = Buffer.byteLength(payload);
    }
    return new Promise((resolve, reject) => {
      const req = mod.request({
        ...base,
        protocol: transport.server.protocol,
        hostname,
        port: transport.server.port,
        method: call.method,
        path: prefix + call.path + queryString(call.query),
        headers,
      });
      let response: http.IncomingMessage | undefined;
      const onAbort = (): void => void (response ?? req).destroy(signal.reason as Error);
      signal.addEventListener("abort", onAbort, { once: true });
      req.on("response", (res) => {
        response = res;
        res.on("close", () => signal.removeEventListener("abort", onAbort));
        resolve(res);
      });
      req.on("error", (err) => {
        signal.removeEventListener("abort", onAbort);
        reject(signal.aborted ? signal.reason : err);
      });
      req.end(payload);
    });
  }

  /** A complete non-watch request: rate limit, timeout, body, error decoding, metrics. */
  async function call<R>(c: Call, signal?: AbortSignal): Promise<R> {
    const queuedAt = Date.now();
    await limiter.take(signal);
    const waitedMs = Date.now() - queuedAt;
    const ctl = new AbortController();
    const onParentAbort = (): void => ctl.abort(signal?.reason);
    signal?.addEventListener("abort", onParentAbort, { once: true });
    const timer = setTimeout(() => ctl.abort(new RequestTimeoutError(describe(c), timeoutMs)), timeoutMs);
    const startedAt = Date.now();
    let code = "<error>";
    try {
      const res = await send(c, ctl.signal);
      code = String(res.statusCode ?? 0);
      const text = await readBody(res);
      if (!isSuccess(res.statusCode)) throw apiError(res.statusCode ?? 0, text, describe(c));
      return (text ? JSON.parse(text) : undefined) as R;
    } catch (err) {
      throw ctl.signal.aborted ? ctl.signal.reason : err;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onParentAbort);
      report(c, code, startedAt, waitedMs);
    }
  }

  async function* watch<T extends KubeObject>(
    res: Resource,
    opts: WatchOptions,
    signal: AbortSignal,
  ): AsyncGenerator<WatchEvent<T>> {
    const c: Call = {
      method: "GET",
      verb: "watch",
      res,
      path: resourcePath(res, opts.namespace),
      query: {
        watch: true,
        resourceVersion: opts.resourceVersion,
        allowWatchBookmarks: opts.allowWatchBookmarks,
        timeoutSeconds: opts.timeoutSeconds,
        labelSelector: opts.labelSelector,
        fieldSelector: opts.fieldSelector,
      },
    };
    const startedAt = Date.now();
    let code = "<error>";
    let response: http.IncomingMessage;
    try {
      response = await send(c, signal);
      code = String(response.statusCode ?? 0);
    } finally {
      report(c, code, startedAt);
    }
    try {
      if (!isSuccess(response.statusCode)) {
        throw apiError(response.statusCode ?? 0, await readBody(response), describe(c));
      }
      yield* decodeLines<T>(response, res);
    } catch (err) {
      throw signal.aborted ? signal.reason : err;
    } finally {
      response.destroy();
    }
  }

  function objectCall(
    method: Method,
    verb: Verb,
    obj: KubeObject,
    res: Resource,
    extra: Partial<Call>,
  ): Call {
    const name = obj.metadata.name;
    if (!name) throw new Error(`${verb} ${res.kind}: metadata.name is required`);
    const namespace = requireNamespace(res, obj.metadata.namespace, verb);
    const path = resourcePath(res, namespace, name, extra.subresource);
    return { method, verb, res, path, body: withTypeMeta(obj, res), ...extra };
  }

  function applyCall(obj: KubeObject, res: Resource, opts: ApplyOptions, subresource?: string): Call {
    return objectCall("PATCH", "patch", obj, res, {
      subresource,
      contentType: "application/apply-patch+yaml", // JSON is valid YAML
      query: { fieldManager: opts.fieldManager, force: opts.force ? true : undefined },
    });
  }

  return {
    async list<T extends KubeObject>(res: Resource, opts: ListOptions = {}, signal?: AbortSignal) {
      const { namespace, ...query } = opts;
      const list = await call<{
        apiVersion?: string;
        kind?: string;
        items?: T[];
        metadata?: ListResult<T>["metadata"];
      }>(
        { method: "GET", verb: "list", res, path: resourcePath(res, namespace), query: { ...query } },
        signal,
      );
      // The apiserver omits apiVersion and kind on list items; consumers need them (e.g. to build ownerReferences).
      const apiVersion = list.apiVersion ?? apiVersionOf(res);
      const kind = list.kind?.replace(/List$/, "") || res.kind;
      const items = (list.items ?? []).map((item) => ({ ...item, apiVersion, kind }));
      return {
        items,
        metadata: {
          resourceVersion: list.metadata?.resourceVersion ?? "",
          continue: list.metadata?.continue || undefined,
        },
      };
    },
    watch,
    async get<T extends KubeObject>(res: Resource, name: string, namespace?: string) {
      try {
        const path = resourcePath(res, requireNamespace(res, namespace, "get"), name);
        return await call<T>({ method: "GET", verb: "get", res, path });
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    apply: async <T extends KubeObject>(obj: T, res: Resource, opts: ApplyOptions) =>
      call<T>(applyCall(obj, res, opts)),
    applyStatus: async <T extends KubeObject>(obj: T, res: Resource, opts: ApplyOptions) =>
      call<T>(applyCall(obj, res, opts, "status")),
    mergePatch: async <T extends KubeObject>(
      res: Resource,
      name: string,
      namespace: string | undefined,
      patch: unknown,
      opts: { subresource?: string } = {},
    ) =>
      call<T>({
        method: "PATCH",
        verb: "patch",
        res,
        path: resourcePath(res, requireNamespace(res, namespace, "patch"), name, opts.subresource),
        subresource: opts.subresource,
        body: patch,
        contentType: "application/merge-patch+json",
      }),
    create: async <T extends KubeObject>(obj: T, res: Resource) =>
      call<T>({
        method: "POST",
        verb: "create",
        res,
        path: resourcePath(res, requireNamespace(res, obj.metadata.namespace, "create")),
        body: withTypeMeta(obj, res),
      }),
    replace: async <T extends KubeObject>(obj: T, res: Resource) =>
      call<T>(objectCall("PUT", "update", obj, res, {})),
    async delete(res: Resource, name: string, namespace?: string, opts: DeleteOptions = {}) {
      try {
        await call({
          method: "DELETE",
          verb: "delete",
          res,
          path: resourcePath(res, requireNamespace(res, namespace, "delete"), name),
          body: { apiVersion: "v1", kind: "DeleteOptions", ...opts },
        });
        return true;
      } catch (err) {
        if (isNotFound(err)) return false;
        throw err;
      }
    },
    close: () => transport.close(),
  };
}

/** Apply and create need apiVersion and kind in the body; callers may leave them to the Resource. */
function withTypeMeta(obj: KubeObject, res: Resource): KubeObject {
  return { ...obj, apiVersion: obj.apiVersion ?? apiVersionOf(res), kind: obj.kind ?? res.kind };
}

function requireNamespace(res: Resource, namespace: string | undefined, verb: string): string | undefined {
  if (res.namespaced && !namespace) throw new Error(`${verb} ${res.kind}: a namespace is required`);
  return res.namespaced ? namespace : undefined;
}

function isSuccess(status: number | undefined): boolean {
  return status !== undefined && status >= 200 && status < 300;
}

function queryString(query: Call["query"]): string {
  if (!query) return "";
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== "") params.set(k, String(v));
  const s = params.toString();
  return s ? `?${s}` : "";
}

function headerObject(headers: https.RequestOptions["headers"]): http.OutgoingHttpHeaders {
  return headers && !Array.isArray(headers) ? (headers as http.OutgoingHttpHeaders) : {};
}

async function readBody(res: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** Decodes a `Status` body (or plain text from a proxy) into an ApiError. */
function apiError(status: number, text: string, request: string): ApiError {
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  const s = (typeof body === "object" && body !== null ? body : {}) as {
    reason?: unknown;
    message?: unknown;
    details?: unknown;
  };
  const reason =
    typeof s.reason === "string" && s.reason ? s.reason : (http.STATUS_CODES[status] ?? "Unknown");
  const message =
    typeof s.message === "string" && s.message
      ? s.message
      : `${request}: ${status} ${text.slice(0, 200)}`.trim();
  return new ApiError(status, reason, message, s.details, body, request);
}

/** Splits a newline-delimited JSON watch stream into events. */
async function* decodeLines<T extends KubeObject>(
  stream: http.IncomingMessage,
  res: Resource,
): AsyncGenerator<WatchEvent<T>> {
  stream.setEncoding("utf8");
  let pending = "";
  for await (const chunk of stream as AsyncIterable<string>) {
    pending += chunk;
    let start = 0;
    let nl: number;
    while ((nl = pending.indexOf("\n", start)) >= 0) {
      const line = pending.slice(start, nl).trim();
      start = nl + 1;
      if (line) yield decodeEvent<T>(line, res);
    }
    pending = pending.slice(start);
  }
  if (pending.trim()) yield decodeEvent<T>(pending.trim(), res);
}

function decodeEvent<T extends KubeObject>(line: string, res: Resource): WatchEvent<T> {
  const event = JSON.parse(line) as { type?: unknown; object?: unknown };
  if (typeof event.type !== "string" || typeof event.object !== "object" || event.object === null) {
    throw new Error(`malformed watch event: ${line.slice(0, 200)}`);
  }
  if (event.type === "ADDED" || event.type === "MODIFIED" || event.type === "DELETED") {
    const object = event.object as T;
    object.apiVersion ??= apiVersionOf(res);
    object.kind ??= res.kind;
  }
  return event as WatchEvent<T>;
}
