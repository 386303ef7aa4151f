import { request } from "node:http";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { documentEtag, FLAGD_SCHEMA, type FlagdDocument } from "./document.js";
import type { PublishedDocument } from "./evaluate.js";
import {
  createOfrepServer,
  type FlagSource,
  type OfrepMetrics,
  type OfrepServer,
  type OfrepServerOptions,
} from "./ofrep.js";

const teamA: FlagdDocument = {
  $schema: FLAGD_SCHEMA,
  metadata: { flagSetId: "team-a" },
  flags: {
    banner: { state: "ENABLED", variants: { on: true, off: false }, defaultVariant: "off" },
    color: {
      state: "ENABLED",
      variants: { red: "#f00", blue: "#00f" },
      defaultVariant: "red",
      targeting: { if: [{ in: [{ var: "country" }, ["de"]] }, "blue"] },
    },
    broken: { state: "ENABLED", variants: { a: 1 }, defaultVariant: "a", targeting: { nope: [1] } },
  },
};

class MapSource implements FlagSource {
  readonly docs = new Map<string, PublishedDocument>();
  set(namespace: string, doc: FlagdDocument): void {
    this.docs.set(namespace, { doc, etag: documentEtag(doc) });
  }
  document(namespace: string): PublishedDocument | undefined {
    return this.docs.get(namespace);
  }
}

interface Recorded {
  evaluations: Parameters<OfrepMetrics["evaluation"]>[0][];
  requests: Parameters<OfrepMetrics["request"]>[0][];
}

let server: OfrepServer;
let base: string;
let source: MapSource;
let recorded: Recorded;

async function start(options: Partial<OfrepServerOptions> = {}): Promise<void> {
  await server?.close();
  recorded = { evaluations: [], requests: [] };
  server = createOfrepServer({
    source,
    port: 0,
    host: "127.0.0.1",
    metrics: {
      evaluation: (labels) => recorded.evaluations.push(labels),
      request: (labels, seconds) => {
        expect(seconds).toBeGreaterThanOrEqual(0);
        recorded.requests.push(labels);
      },
    },
    ...options,
  });
  const address = await server.listen();
  base = `http://127.0.0.1:${address.port}`;
}

const post = (path: string, body: unknown = { context: {} }, headers: Record<string, string> = {}) =>
  fetch(`${base}${path}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });

const single = (key: string, ns = "team-a") => `/namespaces/${ns}/ofrep/v1/evaluate/flags/${key}`;
const bulk = (ns = "team-a") => `/namespaces/${ns}/ofrep/v1/evaluate/flags`;

beforeEach(async () => {
  source = new MapSource();
  source.set("team-a", teamA);
  await start();
});
afterEach(async () => {
  await server.close();
});

describe("single evaluation", () => {
  it("200 with key, value, reason, variant, metadata as JSON", async () => {
    const res = await post(single("color"), { context: { country: "de" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(await res.json()).toEqual({
      key: "color",
      value: "#00f",
      reason: "TARGETING_MATCH",
      variant: "blue",
      metadata: { flagSetId: "team-a" },
    });
  });
  it("404 FLAG_NOT_FOUND for an unknown key, and for a namespace without flags", async () => {
    for (const path of [single("nope"), single("banner", "team-b")]) {
      const res = await post(path);
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({
        key: path.endsWith("nope") ? "nope" : "banner",
        errorCode: "FLAG_NOT_FOUND",
        errorDetails: expect.any(String),
      });
    }
  });
  it("400 PARSE_ERROR for a flag whose targeting does not compile", async () => {
    const res = await post(single("broken"));
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ key: "broken", errorCode: "PARSE_ERROR" });
  });
  it("400 INVALID_CONTEXT for a malformed body or context", async () => {
    for (const body of ["{", '{"context": 3}', "[1]"]) {
      const res = await post(single("banner"), body);
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({
        key: "banner",
        errorCode: "INVALID_CONTEXT",
        errorDetails: expect.any(String),
      });
    }
  });
  it("an empty body is an empty context", async () => {
    const res = await fetch(`${base}${single("banner")}`, { method: "POST" });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ value: false, reason: "STATIC" });
  });
  it("answers from the source's current document", async () => {
    source.set("team-a", {
      ...teamA,
      flags: { banner: { ...teamA.flags["banner"]!, defaultVariant: "on" } },
    });
    expect(await (await post(single("banner"))).json()).toMatchObject({ value: true });
    expect((await post(single("color"))).status).toBe(404);
  });
});

describe("bulk evaluation", () => {
  it("200 with every flag and an ETag", async () => {
    const res = await post(bulk(), { context: { country: "de" } });
    expect(res.status).toBe(200);
    const etag = res.headers.get("etag");
    expect(etag).toMatch(/^"[0-9a-f]{32}"$/);
    expect(await res.json()).toEqual({
      flags: [
        { key: "banner", value: false, variant: "off", reason: "STATIC", metadata: { flagSetId: "team-a" } },
        { key: "broken", errorCode: "PARSE_ERROR", errorDetails: expect.any(String) },
        {
          key: "color",
          value: "#00f",
          variant: "blue",
          reason: "TARGETING_MATCH",
          metadata: { flagSetId: "team-a" },
        },
      ],
    });
  });
  it("304 without a body when If-None-Match names the current answer", async () => {
    const first = await post(bulk(), { context: { country: "de" } });
    const etag = first.headers.get("etag") as string;
    const again = await post(bulk(), { context: { country: "de" } }, { "If-None-Match": etag });
    expect(again.status).toBe(304);
    expect(again.headers.get("etag")).toBe(etag);
    expect(await again.text()).toBe("");
  });
  it("a different context or document changes the ETag", async () => {
    const de = (await post(bulk(), { context: { country: "de" } })).headers.get("etag") as string;
    const fr = await post(bulk(), { context: { country: "fr" } }, { "If-None-Match": de });
    expect(fr.status).toBe(200);
    source.set("team-a", { ...teamA, flags: { banner: teamA.flags["banner"]! } });
    const changed = await post(bulk(), { context: { country: "de" } }, { "If-None-Match": de });
    expect(changed.status).toBe(200);
    expect(changed.headers.get("etag")).not.toBe(de);
  });
  it("a namespace without flags answers an empty list, not 404", async () => {
    const res = await post(bulk("team-b"));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ flags: [] });
    expect(res.headers.get("etag")).toBeTruthy();
  });
  it("400 INVALID_CONTEXT without a key", async () => {
    const res = await post(bulk(), "{");
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ errorCode: "INVALID_CONTEXT", errorDetails: expect.any(String) });
  });
});

describe("HTTP rules", () => {
  it("405 with Allow: POST for other methods", async () => {
    const res = await fetch(`${base}${bulk()}`);
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("POST");
  });
  it("404 outside the OFREP routes", async () => {
    for (const path of ["/", "/ofrep/v1/evaluate/flags", "/namespaces/Team/ofrep/v1/evaluate/flags"]) {
      expect((await post(path)).status).toBe(404);
    }
  });
  it("413 for a body over the limit, declared or streamed", async () => {
    await start({ maxBodyBytes: 64 });
    const big = JSON.stringify({ context: { pad: "x".repeat(100) } });
    expect((await post(single("banner"), big)).status).toBe(413);
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${base}${single("banner")}`, { method: "POST" }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      req.write(big.slice(0, 50));
      req.end(big.slice(50)); // no Content-Length: chunked
    });
    expect(status).toBe(413);
    expect((await post(single("banner"), { context: {} })).status).toBe(200);
  });
  it("500 when the source fails, and the server keeps serving", async () => {
    const failing: FlagSource = {
      document: (ns) => {
        if (ns === "bad") throw new Error("boom");
        return source.document(ns);
      },
    };
    await start({ source: failing });
    const res = await post(bulk("bad"));
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ errorDetails: "internal error" });
    expect((await post(bulk())).status).toBe(200);
  });
});

describe("authentication", () => {
  it("401 without or with a wrong token; bearer and X-API-Key accepted", async () => {
    await start({ token: () => "s3cret" });
    const missing = await post(bulk());
    expect(missing.status).toBe(401);
    expect(missing.headers.get("www-authenticate")).toMatch(/^Bearer/);
    expect((await post(bulk(), {}, { Authorization: "Bearer wrong" })).status).toBe(401);
    expect((await post(bulk(), {}, { Authorization: "Bearer s3cret" })).status).toBe(200);
    expect((await post(bulk(), {}, { "X-API-Key": "s3cret" })).status).toBe(200);
  });
  it("reads the token on every request, so rotation needs no restart; none disables auth", async () => {
    let token: string | undefined = "one";
    await start({ token: () => token });
    expect((await post(bulk(), {}, { Authorization: "Bearer one" })).status).toBe(200);
    token = "two";
    expect((await post(bulk(), {}, { Authorization: "Bearer one" })).status).toBe(401);
    token = undefined;
    expect((await post(bulk())).status).toBe(200);
  });
});

describe("metrics", () => {
  it("counts evaluations with bounded labels and times requests by route and code", async () => {
    await post(single("color"), { context: { country: "de" } });
    await post(single("random-key-1"));
    await post(single("banner", "no-such-ns"));
    await post(bulk());
    await fetch(`${base}/elsewhere`);
    expect(recorded.evaluations).toEqual([
      { namespace: "team-a", key: "color", reason: "TARGETING_MATCH" },
      { namespace: "team-a", key: "", reason: "ERROR" },
      { namespace: "", key: "", reason: "ERROR" },
      { namespace: "team-a", key: "banner", reason: "STATIC" },
      { namespace: "team-a", key: "broken", reason: "ERROR" },
      { namespace: "team-a", key: "color", reason: "DEFAULT" },
    ]);
    expect(recorded.requests).toEqual([
      { route: "evaluate_flag", code: 200 },
      { route: "evaluate_flag", code: 404 },
      { route: "evaluate_flag", code: 404 },
      { route: "evaluate_flags", code: 200 },
      { route: "unmatched", code: 404 },
    ]);
  });

  it("a throwing metrics hook never fails a request", async () => {
    await start({
      metrics: {
        evaluation: () => {
          throw new Error("evaluation hook");
        },
        request: () => {
          throw new Error("request hook");
        },
      },
    });
    expect((await post(single("banner"))).status).toBe(200);
    expect((await post(bulk())).status).toBe(200);
  });
});

describe("lifecycle", () => {
  it("close() returns even with keep-alive connections open, and is idempotent", async () => {
    await post(bulk());
    await server.close();
    await server.close();
    await expect(post(bulk())).rejects.toThrow();
  });
});

describe("onEvaluated (evaluation insight)", () => {
  it("is called once per flag evaluated to a variant, never for unknown flags or errors", async () => {
    const seen: [string, string, string, string | undefined][] = [];
    await start({ onEvaluated: (...args) => void seen.push(args) });
    await post(single("color"), { context: { country: "de" } });
    await post(single("nope"));
    await post(single("banner", "team-b"));
    await post(single("broken"));
    await post(bulk(), { context: {} });
    expect(seen).toEqual([
      ["team-a", "color", "blue", undefined],
      ["team-a", "banner", "off", undefined],
      ["team-a", "color", "red", undefined],
    ]);
  });
});
