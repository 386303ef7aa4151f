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
import { createOfrepAuthorizer } from "./ofrep-auth.js";
import type { SquadScope } from "./ofrep-access.js";
import type { TokenVerifier, Verification } from "./token-review.js";

/** `--ofrep-auth=none`: what these tests run with unless they test authentication. */
const open = createOfrepAuthorizer({ mode: "none", squadOwning: () => undefined });

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
    authorize: open,
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
    await start({ limits: { maxBodyBytes: 64 } });
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
  const squads: Record<string, SquadScope> = {
    "team-a": { name: "alpha", tribe: "red", readableBy: [{ tribe: "red" }] },
    "team-b": { name: "beta", tribe: "red", readableBy: [] },
    "team-c": { name: "gamma", tribe: "blue", readableBy: [] },
  };
  const squadOwning = (ns: string) => squads[ns];
  /** Stands in for TokenReview: `sa:<ns>` tokens are valid ServiceAccount tokens of <ns>. */
  const verifier: Pick<TokenVerifier, "verify"> = {
    verify: async (token): Promise<Verification> => {
      if (token === "down") return { ok: false, reason: "unavailable", details: "retry" };
      const ns = /^sa:(.+)$/.exec(token)?.[1];
      return ns
        ? { ok: true, identity: { kind: "serviceAccount", namespace: ns, name: "app" } }
        : { ok: false, reason: "unauthenticated", details: "the token is not valid" };
    },
  };
  const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

  beforeEach(() => {
    source.set("team-b", teamA);
    source.set("team-c", teamA);
  });

  it("serviceaccount: 401 without a token or with an invalid one, with an OFREP error body", async () => {
    await start({ authorize: createOfrepAuthorizer({ mode: "serviceaccount", verifier, squadOwning }) });
    const missing = await post(bulk());
    expect(missing.status).toBe(401);
    expect(missing.headers.get("www-authenticate")).toMatch(/^Bearer/);
    expect(await missing.json()).toEqual({
      errorDetails:
        "no token: send Authorization: Bearer <a ServiceAccount token for audience crescendo-ofrep>",
    });
    const wrong = await post(single("banner"), {}, bearer("forged"));
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toEqual({ errorDetails: "the token is not valid" });
    expect((await post(bulk(), {}, { Authorization: "Basic dXNlcjpwYXNz" })).status).toBe(401);
  });

  it("serviceaccount: 200 for its own namespace, 403 for another's unless that squad shares", async () => {
    await start({ authorize: createOfrepAuthorizer({ mode: "serviceaccount", verifier, squadOwning }) });
    expect((await post(bulk("team-b"), {}, bearer("sa:team-b"))).status).toBe(200);
    const other = await post(bulk("team-c"), {}, bearer("sa:team-b"));
    expect(other.status).toBe(403);
    expect(((await other.json()) as { errorDetails: string }).errorDetails).toMatch(
      /^ServiceAccount team-b\/app may read the flags of namespace team-b/,
    );
    expect((await post(single("banner", "team-c"), {}, bearer("sa:team-b"))).status).toBe(403);
    // team-a's squad shares with tribe red, which team-b's squad is in; team-c's is not.
    expect((await post(bulk("team-a"), {}, bearer("sa:team-b"))).status).toBe(200);
    expect((await post(bulk("team-a"), {}, bearer("sa:team-c"))).status).toBe(403);
  });

  it("serviceaccount: 503 with Retry-After when the token cannot be verified now", async () => {
    await start({ authorize: createOfrepAuthorizer({ mode: "serviceaccount", verifier, squadOwning }) });
    const res = await post(bulk(), {}, bearer("down"));
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("1");
  });

  it("the static token reads only its namespaces, beside ServiceAccount tokens; bearer and X-API-Key", async () => {
    await start({
      authorize: createOfrepAuthorizer({
        mode: "serviceaccount",
        verifier,
        squadOwning,
        staticToken: () => "s3cret",
        staticTokenNamespaces: ["team-a"],
      }),
    });
    expect((await post(bulk("team-a"), {}, bearer("s3cret"))).status).toBe(200);
    expect((await post(bulk("team-a"), {}, { "X-API-Key": "s3cret" })).status).toBe(200);
    expect((await post(bulk("team-b"), {}, bearer("s3cret"))).status).toBe(403);
    expect((await post(bulk("team-b"), {}, bearer("sa:team-b"))).status).toBe(200);
  });

  it("token mode reads the token on every request, so rotation needs no restart", async () => {
    let token: string | undefined = "one";
    await start({
      authorize: createOfrepAuthorizer({
        mode: "token",
        squadOwning,
        staticToken: () => token,
        staticTokenNamespaces: "*",
      }),
    });
    expect((await post(bulk(), {}, bearer("one"))).status).toBe(200);
    token = "two";
    expect((await post(bulk(), {}, bearer("one"))).status).toBe(401);
    expect((await post(bulk(), {}, bearer("two"))).status).toBe(200);
    expect((await post(bulk(), {}, bearer("sa:team-a"))).status).toBe(401); // no TokenReview in token mode
  });

  it("refuses a configuration that would protect nothing as asked", () => {
    expect(() => createOfrepAuthorizer({ mode: "serviceaccount", squadOwning })).toThrow(/verifier/);
    expect(() => createOfrepAuthorizer({ mode: "token", squadOwning })).toThrow(/needs a token/);
    expect(() =>
      createOfrepAuthorizer({
        mode: "token",
        squadOwning,
        staticToken: () => "x",
        staticTokenNamespaces: [],
      }),
    ).toThrow(/--ofrep-token-namespaces/);
  });
});

describe("limits", () => {
  /** Raw socket: what a slowloris client does. Resolves with what the server sent and when it closed. */
  async function rawExchange(
    chunks: { data: string; afterMs: number }[],
  ): Promise<{ response: string; closedAfterMs: number }> {
    const { connect } = await import("node:net");
    const url = new URL(base);
    return new Promise((resolve, reject) => {
      const started = Date.now();
      const socket = connect(Number(url.port), url.hostname);
      let response = "";
      const timers: NodeJS.Timeout[] = [];
      socket.on("data", (d) => (response += d.toString()));
      socket.on("error", () => {});
      socket.on("close", () => {
        timers.forEach(clearTimeout);
        resolve({ response, closedAfterMs: Date.now() - started });
      });
      socket.on("connect", () => {
        for (const chunk of chunks) {
          timers.push(setTimeout(() => !socket.destroyed && socket.write(chunk.data), chunk.afterMs));
        }
      });
      setTimeout(() => reject(new Error("the server never closed the connection")), 10_000).unref();
    });
  }
  const head = (path: string, extra = "") => `POST ${path} HTTP/1.1\r\nHost: x\r\n${extra}`;

  it("cuts off a client that sends its headers too slowly", async () => {
    await start({ limits: { headersTimeoutMs: 300, requestTimeoutMs: 600, checkIntervalMs: 50 } });
    const drip = Array.from({ length: 40 }, (_, i) => ({
      data: `X-Drip-${i}: x\r\n`,
      afterMs: 100 * (i + 1),
    }));
    const { response, closedAfterMs } = await rawExchange([{ data: head(bulk()), afterMs: 0 }, ...drip]);
    expect(response).toMatch(/^HTTP\/1\.1 408/);
    expect(closedAfterMs).toBeLessThan(2_000);
  });

  it("cuts off a client that sends its body too slowly", async () => {
    await start({ limits: { headersTimeoutMs: 300, requestTimeoutMs: 600, checkIntervalMs: 50 } });
    const drip = Array.from({ length: 40 }, (_, i) => ({ data: "x", afterMs: 100 * (i + 1) }));
    const { response, closedAfterMs } = await rawExchange([
      { data: head(bulk(), "Content-Length: 100\r\n\r\n"), afterMs: 0 },
      ...drip,
    ]);
    expect(response).not.toMatch(/^HTTP\/1\.1 200/);
    expect(closedAfterMs).toBeLessThan(2_000);
  });

  it("431 for headers over the limit", async () => {
    await start({ limits: { maxHeaderBytes: 1024 } });
    const res = await post(bulk(), {}, { "X-Pad": "x".repeat(4096) });
    expect(res.status).toBe(431);
  });

  it("429 with Retry-After beyond the per-client concurrency, while other work goes on", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    await start({
      limits: { maxInFlightPerClient: 2 },
      authorize: async () => {
        await gate;
        return { ok: true, caller: { kind: "anonymous" } };
      },
    });
    const held = [post(bulk()), post(bulk())];
    await new Promise((r) => setTimeout(r, 100));
    const refused = await post(bulk());
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe("1");
    release();
    expect((await Promise.all(held)).map((r) => r.status)).toEqual([200, 200]);
    expect((await post(bulk())).status).toBe(200);
  });
});

describe("framing", () => {
  it("declares every body's length rather than sending it chunked (one write per answer)", async () => {
    for (const res of [
      await post(single("color"), { context: { country: "de" } }),
      await post(single("nope")),
      await post(bulk()),
      await post(single("color"), "not json"),
      await fetch(`${base}/elsewhere`),
    ]) {
      const body = Buffer.from(await res.arrayBuffer());
      expect(res.headers.get("transfer-encoding")).toBeNull();
      expect(res.headers.get("content-length")).toBe(String(body.length));
    }
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

  it("names a ServiceAccount caller, and no other kind of caller", async () => {
    const seen: (string | undefined)[] = [];
    const callers = [
      { kind: "serviceAccount" as const, namespace: "team-a", name: "web" },
      { kind: "user" as const, username: "alice" },
      { kind: "staticToken" as const, namespaces: "*" as const },
    ];
    let next = 0;
    await start({
      onEvaluated: (_ns, _key, _variant, caller) => void seen.push(caller),
      authorize: async () => ({ ok: true, caller: callers[next++]! }),
    });
    for (let i = 0; i < callers.length; i++) await post(single("color"), { context: { country: "de" } });
    expect(seen).toEqual(["system:serviceaccount:team-a:web", undefined, undefined]);
  });
});
