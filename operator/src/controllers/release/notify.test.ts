import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, join } from "node:path";
import * as prettier from "prettier";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import type { Squad } from "../../api/kinds.js";
import { squadSpec } from "../../api/squad.js";
import type { KubeObject, Resource } from "../../runtime/types.js";
import type { HistoryEntry, ReleaseStatus } from "../../api/release.js";
import {
  isNewRollback,
  OncallWebhook,
  rollbackNotification,
  rollbackNotificationOf,
  type RollbackNotification,
} from "./notify.js";

const PAYLOAD: RollbackNotification = {
  release: "web",
  namespace: "shop",
  squad: "payments",
  tribe: "money",
  revision: "r2",
  version: "1.5.0",
  reason: "AnalysisFailed",
  message: "error-rate failed 1 time, more than failureLimit 0: 0.5 > max 0.05",
  metric: "error-rate",
  channel: "#payments-oncall",
  killedToggles: [],
  at: "2030-01-01T00:00:00.000Z",
  rollbackId: "u1/r2/1893456000000",
};

function squad(oncall?: Record<string, unknown>): Squad {
  return {
    apiVersion: "crescendo.dev/v1alpha1",
    kind: "Squad",
    metadata: { name: "payments" },
    spec: squadSpec.parse({ namespaces: [{ name: "shop" }], ...(oncall ? { oncall } : {}) }),
  };
}

function secret(url: string | undefined, key = "url"): KubeObject {
  return {
    metadata: { name: "oncall", namespace: "shop" },
    data: url === undefined ? {} : { [key]: Buffer.from(url).toString("base64") },
  };
}

function harness(secrets: Record<string, KubeObject | undefined>, answers: (number | "hang" | "reset")[]) {
  const gets: string[] = [];
  const posts: { url: string; body: unknown; headers: Headers }[] = [];
  const fetch = (async (url: string, init: RequestInit) => {
    posts.push({ url, body: JSON.parse(String(init.body)), headers: new Headers(init.headers) });
    const answer = answers.shift() ?? 200;
    if (answer === "reset") throw new TypeError("fetch failed", { cause: new Error("ECONNRESET") });
    if (answer === "hang") {
      return new Promise((_, reject) =>
        init.signal?.addEventListener("abort", () => reject(init.signal?.reason)),
      );
    }
    return new Response(null, { status: answer });
  }) as typeof globalThis.fetch;
  const webhook = new OncallWebhook({
    client: {
      get: async <T extends KubeObject>(_res: Resource, name: string, namespace?: string) => {
        gets.push(`${namespace ?? ""}/${name}`);
        return secrets[`${namespace ?? ""}/${name}`] as T | undefined;
      },
    },
    fetch,
    timeoutMs: 50,
  });
  const send = (s: Squad | undefined, signal = new AbortController().signal) =>
    webhook.send(s, PAYLOAD, signal);
  return { send, gets, posts };
}

describe("OncallWebhook", () => {
  it("reads the Secret when sending and POSTs the rollback as JSON, its id as the Idempotency-Key", async () => {
    const h = harness({ "shop/oncall": secret("https://hooks.example.com/T0/abc") }, [200]);
    const s = squad({ webhookSecretRef: { name: "oncall" }, channel: "#payments-oncall" });
    expect(await h.send(s)).toEqual({ kind: "delivered" });
    // The Secret's namespace defaults to the squad's first namespace; its key to "url".
    expect(h.gets).toEqual(["shop/oncall"]);
    expect(h.posts).toHaveLength(1);
    expect(h.posts[0]?.url).toBe("https://hooks.example.com/T0/abc");
    expect(h.posts[0]?.body).toEqual(PAYLOAD);
    expect(h.posts[0]?.headers.get("content-type")).toBe("application/json");
    expect(h.posts[0]?.headers.get("idempotency-key")).toBe(PAYLOAD.rollbackId);
  });

  it("says what may be retried: 5xx, a reset, a timeout, a Secret that does not exist yet", async () => {
    const s = squad({ webhookSecretRef: { name: "pager", namespace: "ops", key: "endpoint" } });
    const h = harness({ "ops/pager": secret("http://pager.internal/hook", "endpoint") }, [
      503,
      "reset",
      "hang",
      429,
    ]);
    const outcomes = [await h.send(s), await h.send(s), await h.send(s), await h.send(s)];
    expect(outcomes.map((o) => o.kind)).toEqual(["retryable", "retryable", "retryable", "retryable"]);
    const errors = outcomes.map((o) => ("error" in o ? o.error : ""));
    // The URL may hold a token: only its origin is named.
    expect(errors[0]).toBe("POST http://pager.internal: HTTP 503");
    expect(errors[1]).toContain("ECONNRESET");
    expect(errors[2]).toBe("POST http://pager.internal: no answer within 50 ms");
    expect(errors.join(" ")).not.toContain("/hook");

    const missing = harness({}, []);
    expect(await missing.send(squad({ webhookSecretRef: { name: "oncall" } }))).toEqual({
      kind: "retryable",
      error: "Secret shop/oncall key url: the Secret does not exist",
    });
  });

  it("says what cannot succeed: a 4xx answer, a Secret without the key, a value that is no URL", async () => {
    const s = squad({ webhookSecretRef: { name: "oncall" } });
    const h = harness({ "shop/oncall": secret("http://hooks.example.com/x") }, [404]);
    expect(await h.send(s)).toEqual({ kind: "permanent", error: "POST http://hooks.example.com: HTTP 404" });

    const k = harness({ "shop/oncall": secret(undefined) }, []);
    expect(await k.send(s)).toEqual({
      kind: "permanent",
      error: "Secret shop/oncall key url: the Secret has no such key",
    });
    expect(k.posts).toHaveLength(0);

    const u = harness({ "shop/oncall": secret("ftp://x") }, []);
    expect(await u.send(s)).toMatchObject({
      kind: "permanent",
      error: expect.stringContaining("not an http(s) URL"),
    });
  });

  it("sends nothing when the squad has no on-call webhook", async () => {
    const h = harness({}, []);
    expect(await h.send(squad())).toMatchObject({ kind: "skipped" });
    expect(await h.send(undefined)).toMatchObject({ kind: "skipped" });
    expect(h.gets).toEqual([]);
    expect(h.posts).toEqual([]);
  });

  it("aborts a POST in flight when its signal aborts (shutdown)", async () => {
    const webhook = new OncallWebhook({
      client: { get: async <T extends KubeObject>() => secret("http://hooks.example.com/x") as T },
      timeoutMs: 60_000,
      fetch: ((_url: string, init: RequestInit) =>
        new Promise((_, reject) =>
          init.signal?.addEventListener("abort", () => reject(init.signal?.reason)),
        )) as typeof globalThis.fetch,
    });
    const stop = new AbortController();
    const started = Date.now();
    const sending = webhook.send(squad({ webhookSecretRef: { name: "oncall" } }), PAYLOAD, stop.signal);
    await new Promise((r) => setTimeout(r, 10));
    stop.abort(new Error("closing"));
    expect(await sending).toMatchObject({ kind: "retryable" });
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});

describe("OncallWebhook over HTTP", () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

  it("delivers to a real server with the global fetch, with the Idempotency-Key header", async () => {
    const received: { body: unknown; key: string | undefined }[] = [];
    server = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        received.push({ body: JSON.parse(body), key: req.headers["idempotency-key"] as string | undefined });
        res.writeHead(200).end("ok");
      });
    });
    await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    const webhook = new OncallWebhook({
      client: { get: async <T extends KubeObject>() => secret(url) as T },
    });
    const outcome = await webhook.send(
      squad({ webhookSecretRef: { name: "oncall" } }),
      PAYLOAD,
      new AbortController().signal,
    );
    expect(outcome).toEqual({ kind: "delivered" });
    expect(received).toEqual([{ body: PAYLOAD, key: PAYLOAD.rollbackId }]);
  });
});

describe("the webhook payload", () => {
  const SCHEMA_FILE = join(import.meta.dirname, "../../../../docs/schemas/oncall-webhook.schema.json");
  const generated = z.toJSONSchema(rollbackNotification);

  it("is documented by docs/schemas/oncall-webhook.schema.json, generated from the zod schema", async () => {
    // UPDATE_SCHEMAS=1 npx vitest run --project unit operator/src/controllers/release/notify.test.ts
    if (process.env["UPDATE_SCHEMAS"] === "1") {
      const options = await prettier.resolveConfig(SCHEMA_FILE);
      const text = await prettier.format(JSON.stringify(generated), { ...options, parser: "json" });
      mkdirSync(dirname(SCHEMA_FILE), { recursive: true });
      writeFileSync(SCHEMA_FILE, text);
    }
    expect(existsSync(SCHEMA_FILE), `${SCHEMA_FILE} is missing: regenerate it with UPDATE_SCHEMAS=1`).toBe(
      true,
    );
    const committed: unknown = JSON.parse(readFileSync(SCHEMA_FILE, "utf8"));
    expect(committed, "the committed schema is stale: regenerate it with UPDATE_SCHEMAS=1").toEqual(
      generated,
    );
  });

  it("as built for a rollback is valid against the committed JSON Schema", () => {
    const committed = JSON.parse(readFileSync(SCHEMA_FILE, "utf8")) as JsonSchema;
    const analysis = rollbackNotificationOf({
      release: { name: "web", namespace: "shop" },
      squad: { name: "payments", tribe: "money", channel: "#payments-oncall" },
      rollback: { revision: "r2", version: "1.5.0", reason: "AnalysisFailed", message: PAYLOAD.message },
      metric: "error-rate",
      at: "2030-01-01T00:00:00.000Z",
      id: PAYLOAD.rollbackId,
    });
    expect(analysis).toEqual(PAYLOAD);
    const aborted = rollbackNotificationOf({
      release: { name: "web", namespace: "shop" },
      rollback: { revision: "r2", version: "1.5.0", reason: "Aborted", message: "aborted by action a1" },
      at: "2030-01-01T00:00:00.000Z",
      id: PAYLOAD.rollbackId,
    });
    for (const payload of [analysis, aborted]) {
      expect(validate(committed, payload)).toEqual([]);
      expect(rollbackNotification.parse(payload)).toEqual(payload);
      // Every field is sent, absent ones as null: the shape never depends on the rollback.
      expect(Object.keys(payload).sort()).toEqual(Object.keys(committed.properties ?? {}).sort());
    }
    expect(aborted).toMatchObject({ squad: null, tribe: null, metric: null, channel: null });
    for (const example of committed.examples ?? []) expect(validate(committed, example)).toEqual([]);
    // The validator does catch what the schema forbids.
    expect(validate(committed, { ...aborted, reason: "Oops", at: "yesterday", squad: 1 })).toEqual([
      "squad: not of type string,null",
      "reason: not one of AnalysisFailed, ProgressDeadlineExceeded, Aborted, PostPromotionAnalysisFailed",
      "at: not a date-time",
    ]);
    const { release: _release, ...partial } = aborted;
    expect(validate(committed, partial)).toEqual(["release: required"]);
  });
});

describe("isNewRollback", () => {
  const entry = {
    revision: "r2",
    version: "2",
    startedAt: "2030-01-01T00:00:00Z",
    outcome: "RolledBack" as const,
  };
  const rolledBack = (
    at: string,
    history: HistoryEntry[] = [{ ...entry, finishedAt: at, reason: "Aborted" }],
  ): ReleaseStatus => ({
    phase: "RolledBack",
    stableRevision: "r1",
    canaryRevision: "r2",
    abortedAt: at,
    history,
  });
  const T1 = "2030-01-01T00:01:00.000Z";
  const T2 = "2030-01-01T00:05:00.000Z";

  it("is true only for the reconcile whose status records the rollback first", () => {
    const progressing: ReleaseStatus = { phase: "Progressing", stableRevision: "r1", canaryRevision: "r2" };
    expect(isNewRollback(progressing, rolledBack(T1))).toBe(true);
    expect(isNewRollback(undefined, rolledBack(T1))).toBe(true);
    // Reconciled again (a requeue, a resync, a restarted operator): already recorded.
    expect(isNewRollback(rolledBack(T1), rolledBack(T1))).toBe(false);
    expect(
      isNewRollback(rolledBack(T1), { ...rolledBack(T1), message: "edited", observedGeneration: 7 }),
    ).toBe(false);
  });

  it("is true again for a retried revision rolled back anew", () => {
    const retried: ReleaseStatus = { ...rolledBack(T1), phase: "Progressing", abortedAt: undefined };
    const again = rolledBack(T2, [
      { ...entry, finishedAt: T2, reason: "AnalysisFailed" },
      ...(retried.history ?? []),
    ]);
    expect(isNewRollback(retried, again)).toBe(true);
  });

  it("is false when no rollback is recorded", () => {
    expect(isNewRollback(undefined, { phase: "Healthy", stableRevision: "r1" })).toBe(false);
    expect(isNewRollback(undefined, { ...rolledBack(T1), history: [] })).toBe(false);
  });
});

/** The part of JSON Schema the payload's schema uses. */
interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  enum?: unknown[];
  format?: string;
  pattern?: string;
  examples?: unknown[];
}

/** A small JSON Schema validator for that part: one message per violation, "field: why". */
function validate(schema: JsonSchema, value: unknown, path = ""): string[] {
  const at = (why: string) => [`${path || "(root)"}: ${why}`];
  const typeOf = (v: unknown) => (v === null ? "null" : Array.isArray(v) ? "array" : typeof v);
  const types = schema.type === undefined ? undefined : [schema.type].flat();
  if (types && !types.includes(typeOf(value))) return at(`not of type ${types.join(",")}`);
  if (schema.enum && !schema.enum.includes(value)) return at(`not one of ${schema.enum.join(", ")}`);
  if (typeof value === "string") {
    if (schema.format === "date-time" && Number.isNaN(Date.parse(value))) return at("not a date-time");
    if (schema.pattern && !new RegExp(schema.pattern).test(value))
      return at(`does not match ${schema.pattern}`);
  }
  if (typeOf(value) !== "object") return [];
  const obj = value as Record<string, unknown>;
  const missing = (schema.required ?? []).filter((k) => !(k in obj)).map((k) => `${k}: required`);
  const fields = Object.entries(schema.properties ?? {}).flatMap(([k, s]) =>
    k in obj ? validate(s, obj[k], path ? `${path}.${k}` : k) : [],
  );
  return [...missing, ...fields];
}
