import { getEventListeners } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import fc from "fast-check";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  createPrometheusProvider,
  formatBytes,
  interpretResponse,
  MAX_BODY_BYTES,
  queryUrl,
} from "./prometheus.js";

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A stand-in Prometheus on 127.0.0.1 whose behaviour each test sets. */
let handler: Handler = (_req, res) => res.end();
let requests: {
  method: string | undefined;
  path: string;
  query: string | null;
  accept: string | undefined;
}[] = [];
let server: Server;
let address: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    requests.push({
      method: req.method,
      path: url.pathname,
      query: url.searchParams.get("query"),
      accept: req.headers.accept,
    });
    answered.push(res);
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  address = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

/**
 * Drops the connections of requests a test left hanging. Only those: undici may hold a spare
 * idle connection, and closing it under the client would fail the next test for a reason of the
 * harness's making.
 */
let answered: ServerResponse[] = [];
afterEach(() => {
  for (const res of answered) if (!res.writableFinished) res.socket?.destroy();
  answered = [];
  requests = [];
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const json =
  (status: number, body: unknown): Handler =>
  (_req, res) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };
const vector = (...samples: [Record<string, string>, string][]) => ({
  status: "success",
  data: {
    resultType: "vector",
    result: samples.map(([metric, v]) => ({ metric, value: [1_700_000_000.5, v] })),
  },
});
const never = () => new AbortController().signal;

describe("createPrometheusProvider against an HTTP server", () => {
  it("sends an instant query as GET /api/v1/query and reads a one-sample vector", async () => {
    handler = json(200, vector([{ job: "api" }, "0.125"]));
    const q = 'sum(rate(errors{version="1.0 \\"x\\"", path="/a?b=c&d"}[5m])) + 1';
    const result = await createPrometheusProvider({ address }).query(q, never());
    expect(result).toEqual({ kind: "value", value: 0.125 });
    expect(requests).toEqual([
      { method: "GET", path: "/api/v1/query", query: q, accept: "application/json" },
    ]);
  });

  it("keeps a path prefix and tolerates a trailing slash on the address", async () => {
    handler = json(200, vector([{}, "1"]));
    await createPrometheusProvider({ address: `${address}/prometheus/` }).query("up", never());
    expect(requests[0]?.path).toBe("/prometheus/api/v1/query");
  });

  it("reads a scalar", async () => {
    handler = json(200, { status: "success", data: { resultType: "scalar", result: [1_700_000_000, "42"] } });
    expect(await createPrometheusProvider({ address }).query("scalar(x)", never())).toEqual({
      kind: "value",
      value: 42,
    });
  });

  it("reports an empty vector as noData", async () => {
    handler = json(200, vector());
    expect(await createPrometheusProvider({ address }).query("x", never())).toEqual({
      kind: "noData",
      reason: "query returned no series",
    });
  });

  it("refuses several series, saying how many and asking for aggregation", async () => {
    handler = json(
      200,
      vector([{ code: "500" }, "1"], [{ code: "502" }, "2"], [{ code: "503" }, "3"], [{ code: "504" }, "4"]),
    );
    const result = await createPrometheusProvider({ address }).query("x", never());
    expect(result).toEqual({
      kind: "error",
      reason:
        'query returned 4 series ({code="500"}, {code="502"}, {code="503"}, …); it must return one: aggregate it, e.g. with sum() or max()',
    });
  });

  it.each(["NaN", "+Inf", "-Inf"])("reports %s as noData, keeping the raw value", async (raw) => {
    handler = json(200, vector([{}, raw]));
    expect(await createPrometheusProvider({ address }).query("x", never())).toEqual({
      kind: "noData",
      reason: `query returned ${raw}`,
      value: raw,
    });
  });

  it("reports an HTTP error with a text body", async () => {
    handler = (_req, res) => {
      res.writeHead(502, { "content-type": "text/html" });
      res.end("<html>\n  <body>bad gateway</body>\n</html>");
    };
    expect(await createPrometheusProvider({ address }).query("x", never())).toEqual({
      kind: "error",
      reason: "Prometheus answered HTTP 502 Bad Gateway, 41 B, not Prometheus JSON",
    });
  });

  it("never copies a body into the reason: it goes to the debug log, truncated", async () => {
    const secret = `AKIA${"S".repeat(2000)}`;
    handler = (_req, res) => {
      res.writeHead(200, "Totally OK " + secret.slice(0, 20), { "content-type": "text/plain" });
      res.end(secret);
    };
    const logged: unknown[] = [];
    const logger = { debug: (fields: unknown) => logged.push(fields) };
    const result = await createPrometheusProvider({ address, logger }).query("x", never());
    expect(result).toEqual({
      kind: "error",
      reason: "Prometheus answered HTTP 200 OK, 2.0 kB, not Prometheus JSON",
    });
    expect(JSON.stringify(result)).not.toContain("AKIA");
    expect(logged).toEqual([{ address, status: 200, bytes: 2004, body: secret.slice(0, 512) }]);
  });

  it("does not follow a redirect, and says it was one", async () => {
    handler = (req, res) => {
      if (req.url?.startsWith("/elsewhere")) return json(200, vector([{}, "1"]))(req, res);
      res.writeHead(302, { location: `${address}/elsewhere/api/v1/query?query=x` });
      res.end("moved to the metadata service");
    };
    const result = await createPrometheusProvider({ address }).query("x", never());
    expect(result).toEqual({
      kind: "error",
      reason:
        "Prometheus answered HTTP 302 Found, 29 B, a redirect, which is not followed: set the final address",
    });
    expect(requests.map((r) => r.path)).toEqual(["/api/v1/query"]);
  });

  it("reads no more than MAX_BODY_BYTES of a huge body", async () => {
    const chunk = "x".repeat(64 * 1024);
    let written = 0;
    handler = (_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      const more = () => {
        // 64 MiB unless the client stops reading first.
        while (written < 64 * 1024 * 1024 && !res.destroyed) {
          written += chunk.length;
          if (!res.write(chunk)) return res.once("drain", more);
        }
        res.end();
      };
      more();
    };
    const result = await createPrometheusProvider({ address }).query("x", never());
    expect(result).toEqual({
      kind: "error",
      reason: `Prometheus answered HTTP 200 OK, more than 1.0 MB, too large to be a Prometheus answer`,
    });
    expect(MAX_BODY_BYTES).toBe(1024 * 1024);
    expect(written).toBeLessThan(64 * 1024 * 1024);
  });

  it('reports status "error" with Prometheus\'s own message', async () => {
    handler = json(400, {
      status: "error",
      errorType: "bad_data",
      error: "1:5: parse error: unclosed left parenthesis",
    });
    expect(await createPrometheusProvider({ address }).query("foo(", never())).toEqual({
      kind: "error",
      reason:
        "Prometheus rejected the query (bad_data), HTTP 400 Bad Request, 95 B, 1:5: parse error: unclosed left parenthesis",
    });
  });

  it("reports a 200 whose body is not JSON", async () => {
    handler = (_req, res) => res.end("<html>login page</html>");
    expect(await createPrometheusProvider({ address }).query("x", never())).toEqual({
      kind: "error",
      reason: "Prometheus answered HTTP 200 OK, 23 B, not Prometheus JSON",
    });
  });

  it("times out a server that never answers", async () => {
    handler = () => {};
    const started = Date.now();
    const result = await createPrometheusProvider({ address, timeoutMs: 100 }).query("x", never());
    expect(result).toEqual({
      kind: "error",
      reason: `no answer from Prometheus at ${address} within 100 ms (the operator's debug log has the network error)`,
    });
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it("times out a server that sends headers and then stalls the body", async () => {
    handler = (_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.write('{"status":"success",');
    };
    const result = await createPrometheusProvider({ address, timeoutMs: 100 }).query("x", never());
    expect(result).toEqual({
      kind: "error",
      reason: `no answer from Prometheus at ${address} within 100 ms (the operator's debug log has the network error)`,
    });
  });

  it("uses the default 5 s timeout when none is given (a fast answer is unaffected)", async () => {
    handler = json(200, vector([{}, "1"]));
    expect(await createPrometheusProvider({ address }).query("x", never())).toEqual({
      kind: "value",
      value: 1,
    });
  });

  it("stops when the caller aborts, and says so rather than blaming Prometheus", async () => {
    handler = () => {};
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const result = await createPrometheusProvider({ address, timeoutMs: 10_000 }).query(
      "x",
      controller.signal,
    );
    expect(result).toEqual({ kind: "error", reason: "query aborted before Prometheus answered" });
  });

  it("does not even ask when the caller's signal is already aborted", async () => {
    handler = json(200, vector([{}, "1"]));
    const result = await createPrometheusProvider({ address }).query("x", AbortSignal.abort());
    expect(result).toEqual({ kind: "error", reason: "query aborted before Prometheus answered" });
    expect(requests).toEqual([]);
  });

  it("leaves no listener on the caller's signal, which lives as long as the process", async () => {
    const lifetime = new AbortController().signal;
    const provider = createPrometheusProvider({ address, timeoutMs: 100 });
    handler = json(200, vector([{}, "1"]));
    await provider.query("x", lifetime);
    handler = () => {};
    await provider.query("x", lifetime);
    expect(getEventListeners(lifetime, "abort")).toHaveLength(0);
  });

  it("reports a refused connection as it reports a timeout (a status is no port scan), the cause in the debug log", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const dead = `http://127.0.0.1:${port}`;
    const logged: unknown[] = [];
    const logger = { debug: (fields: unknown) => logged.push(fields) };
    const refused = await createPrometheusProvider({ address: dead, timeoutMs: 100, logger }).query(
      "x",
      never(),
    );
    handler = () => {};
    const silent = await createPrometheusProvider({ address, timeoutMs: 100 }).query("x", never());
    const reasonOf = (r: typeof refused) => (r.kind === "error" ? r.reason : "");
    expect(reasonOf(refused).replace(dead, "ADDRESS")).toBe(reasonOf(silent).replace(address, "ADDRESS"));
    expect(logged).toEqual([{ address: dead, err: `connect ECONNREFUSED 127.0.0.1:${port}` }]);
  });

  it("reports an unusable address instead of throwing", async () => {
    const result = await createPrometheusProvider({ address: "not a url" }).query("x", never());
    expect(result.kind).toBe("error");
    expect(result).toMatchObject({ reason: expect.stringContaining("Prometheus at not a url") });
  });
});

describe("createPrometheusProvider with an injected fetch", () => {
  it("uses it", async () => {
    const seen: string[] = [];
    const fetch: typeof globalThis.fetch = async (input) => {
      seen.push(String(input));
      return new Response(JSON.stringify(vector([{}, "3"])), { status: 200 });
    };
    const result = await createPrometheusProvider({ address: "http://prom:9090", fetch }).query(
      "a b",
      never(),
    );
    expect(result).toEqual({ kind: "value", value: 3 });
    expect(seen).toEqual(["http://prom:9090/api/v1/query?query=a+b"]);
  });

  it("turns a fetch that throws anything at all into an error result", async () => {
    for (const thrown of [
      new TypeError("fetch failed", { cause: new Error("getaddrinfo ENOTFOUND prom") }),
      "boom",
      undefined,
    ]) {
      const fetch: typeof globalThis.fetch = () => Promise.reject(thrown);
      const result = await createPrometheusProvider({ address: "http://prom:9090", fetch }).query(
        "x",
        never(),
      );
      expect(result.kind).toBe("error");
    }
    const fetch: typeof globalThis.fetch = () =>
      Promise.reject(new TypeError("fetch failed", { cause: new Error("getaddrinfo ENOTFOUND prom") }));
    const logged: unknown[] = [];
    const logger = { debug: (fields: unknown) => logged.push(fields) };
    expect(
      await createPrometheusProvider({ address: "http://prom:9090", fetch, logger }).query("x", never()),
    ).toEqual({
      kind: "error",
      reason:
        "no answer from Prometheus at http://prom:9090 within 5000 ms (the operator's debug log has the network error)",
    });
    expect(logged).toEqual([{ address: "http://prom:9090", err: "getaddrinfo ENOTFOUND prom" }]);
  });

  it("digs the reason out of an AggregateError (several addresses tried)", async () => {
    const cause = new AggregateError([
      Object.assign(new Error("connect ECONNREFUSED ::1:9090"), { code: "ECONNREFUSED" }),
    ]);
    const fetch: typeof globalThis.fetch = () => Promise.reject(new TypeError("fetch failed", { cause }));
    const logged: unknown[] = [];
    const logger = { debug: (fields: unknown) => logged.push(fields) };
    await createPrometheusProvider({ address: "http://prom:9090", fetch, logger }).query("x", never());
    expect(logged).toEqual([{ address: "http://prom:9090", err: "connect ECONNREFUSED ::1:9090" }]);
  });
});

describe("interpretResponse", () => {
  const ok = (body: unknown) => interpretResponse(200, "OK", JSON.stringify(body));

  it.each([
    ["0", 0],
    ["-1.5", -1.5],
    ["1e-3", 0.001],
    ["1.5e21", 1.5e21],
  ])("reads the sample %j", (raw, value) => {
    expect(ok(vector([{}, raw]))).toEqual({ kind: "value", value });
  });

  it.each(["", " ", "abc", "0x"])("refuses the sample %j", (raw) => {
    expect(ok(vector([{}, raw]))).toMatchObject({
      kind: "error",
      reason: expect.stringContaining("not a number"),
    });
  });

  it("refuses a range vector and says how to fix it", () => {
    const body = {
      status: "success",
      data: { resultType: "matrix", result: [{ metric: {}, values: [[1, "1"]] }] },
    };
    expect(ok(body)).toMatchObject({ kind: "error", reason: expect.stringContaining("range vector") });
  });

  it("refuses a string result", () => {
    const body = { status: "success", data: { resultType: "string", result: [1, "hello"] } };
    expect(ok(body)).toEqual({ kind: "error", reason: "query returned a string; it must return one number" });
  });

  it("refuses a native histogram sample", () => {
    const body = {
      status: "success",
      data: { resultType: "vector", result: [{ metric: {}, histogram: [1, {}] }] },
    };
    expect(ok(body)).toMatchObject({ kind: "error", reason: expect.stringContaining("native histogram") });
  });

  it("accepts a sample without labels field", () => {
    const body = { status: "success", data: { resultType: "vector", result: [{ value: [1, "2"] }] } };
    expect(ok(body)).toEqual({ kind: "value", value: 2 });
  });

  it("ignores warnings and infos", () => {
    expect(ok({ ...vector([{}, "2"]), warnings: ["w"], infos: ["i"] })).toEqual({ kind: "value", value: 2 });
  });

  it.each([
    [{ status: "success" }, "not an instant query's"],
    [{ status: "success", data: { resultType: "exotic", result: [] } }, "not an instant query's"],
    [{ status: "success", data: { resultType: "scalar", result: "1" } }, "not an instant query's"],
    [[1, 2], "JSON but not a Prometheus API answer"],
    [null, "JSON but not a Prometheus API answer"],
    [{ status: "pending" }, "neither success nor error"],
  ])("reports an unexpected shape: %j", (body, words) => {
    expect(ok(body)).toMatchObject({ kind: "error", reason: expect.stringContaining(words) });
  });

  it("reports status error without a message", () => {
    const body = JSON.stringify({ status: "error", errorType: "unavailable" });
    expect(interpretResponse(503, "Service Unavailable", body)).toEqual({
      kind: "error",
      reason: "Prometheus rejected the query (unavailable), HTTP 503 Service Unavailable, 44 B, no message",
    });
  });

  it("shows an error message only under one of Prometheus's error types, shortened", () => {
    const forged = JSON.stringify({ status: "error", errorType: "leak", error: "secret" });
    expect(interpretResponse(500, "", forged)).toEqual({
      kind: "error",
      reason:
        "Prometheus answered HTTP 500 Internal Server Error, 54 B, an error without a Prometheus error type",
    });
    const long = JSON.stringify({ status: "error", errorType: "execution", error: "e".repeat(5000) });
    const result = interpretResponse(422, "", long);
    expect(result.kind === "error" && result.reason.length).toBeLessThan(400);
  });

  it("shows the standard reason phrase, never the server's own", () => {
    expect(interpretResponse(404, "secret phrase", "")).toEqual({
      kind: "error",
      reason: "Prometheus answered HTTP 404 Not Found, 0 B, empty, not Prometheus JSON",
    });
    expect(interpretResponse(599, "x", "")).toMatchObject({
      reason: expect.stringMatching(/^Prometheus answered HTTP 599, 0 B/),
    });
  });

  it("reports a JSON success body under an HTTP error status as an error", () => {
    expect(interpretResponse(500, "", JSON.stringify(vector([{}, "1"])))).toMatchObject({
      kind: "error",
      reason: expect.stringContaining("HTTP 500"),
    });
  });

  it("describes a body by its size, and marks an empty one", () => {
    expect(interpretResponse(500, "Internal Server Error", "x".repeat(1234))).toEqual({
      kind: "error",
      reason: "Prometheus answered HTTP 500 Internal Server Error, 1.2 kB, not Prometheus JSON",
    });
    expect(interpretResponse(500, "Internal Server Error", "")).toEqual({
      kind: "error",
      reason: "Prometheus answered HTTP 500 Internal Server Error, 0 B, empty, not Prometheus JSON",
    });
  });

  it("never puts a byte of an unexpected body into a reason (property)", () => {
    const marker = "ZQXJ";
    fc.assert(
      fc.property(fc.integer({ min: 100, max: 599 }), fc.string(), (status, text) => {
        const bodies = [
          `${text}${marker}`,
          JSON.stringify({ status: "success", data: { resultType: marker } }),
          JSON.stringify({ status: marker }),
          JSON.stringify({ status: "error", errorType: marker, error: marker }),
          JSON.stringify([marker]),
        ];
        for (const body of bodies) {
          const result = interpretResponse(status, marker, body);
          expect(result.kind === "error" ? result.reason : "").not.toContain(marker);
        }
      }),
    );
  });

  it("never throws, and a value is always finite (property)", () => {
    const bodies = fc.oneof(
      fc.string(),
      fc.json(),
      fc
        .record({
          status: fc.constantFrom("success", "error"),
          data: fc.record({
            resultType: fc.constantFrom("vector", "scalar", "matrix", "string"),
            result: fc.oneof(
              fc.jsonValue(),
              fc.array(
                fc.record({
                  metric: fc.dictionary(fc.string(), fc.string()),
                  value: fc.tuple(fc.double(), fc.string()),
                }),
              ),
            ),
          }),
        })
        .map((b) => JSON.stringify(b)),
    );
    fc.assert(
      fc.property(fc.integer({ min: 100, max: 599 }), fc.string(), bodies, (status, text, body) => {
        const result = interpretResponse(status, text, body);
        expect(["value", "noData", "error"]).toContain(result.kind);
        if (result.kind === "value") expect(Number.isFinite(result.value)).toBe(true);
      }),
    );
  });
});

describe("queryUrl", () => {
  it("encodes the query as a URL parameter", () => {
    expect(queryUrl("http://p:9090/", 'x{a="b"} > 0.5 & 1')).toBe(
      "http://p:9090/api/v1/query?query=x%7Ba%3D%22b%22%7D+%3E+0.5+%26+1",
    );
  });
});

describe("formatBytes", () => {
  it.each([
    [0, "0 B"],
    [999, "999 B"],
    [1000, "1.0 kB"],
    [1234, "1.2 kB"],
    [999_949, "999.9 kB"],
    [1_048_576, "1.0 MB"],
  ])("%d is %s", (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });
});
