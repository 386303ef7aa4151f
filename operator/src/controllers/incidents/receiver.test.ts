import { afterEach, describe, expect, it } from "vitest";
import type { WebhookMessage } from "../../incidents/alertmanager.js";
import { ALERTMANAGER_MESSAGE } from "./test-fixtures.js";
import { createReceiver, RECEIVER_PATH, type Receiver, type ReceiverOptions } from "./receiver.js";

const TOKEN = "s3cret-token";
const message = ALERTMANAGER_MESSAGE;

const quiet = { info: () => {}, warn: () => {}, error: () => {} };
let receiver: Receiver | undefined;
afterEach(async () => {
  await receiver?.close();
  receiver = undefined;
});

async function start(over: Partial<ReceiverOptions> = {}) {
  const handled: WebhookMessage[] = [];
  receiver = createReceiver({
    port: 0,
    host: "127.0.0.1",
    token: () => TOKEN,
    isLeader: () => true,
    handle: async (m) => {
      handled.push(m);
      return { ok: true };
    },
    logger: quiet,
    ...over,
  });
  const address = await receiver.listen();
  const url = `http://127.0.0.1:${address.port}${RECEIVER_PATH}`;
  const post = (body: unknown, headers: Record<string, string> = { Authorization: `Bearer ${TOKEN}` }) =>
    fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
  return { handled, url, post };
}

describe("the Alertmanager receiver", () => {
  it("hands an authenticated Alertmanager message to the handler and answers 200", async () => {
    const { handled, post } = await start();
    const res = await post(message);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
    expect(handled.map((m) => m.groupKey)).toEqual([message.groupKey]);
  });

  it("refuses without the token, or with a wrong one, with 401 and handles nothing", async () => {
    const { handled, post } = await start();
    const attempts: Record<string, string>[] = [
      {},
      { Authorization: "Bearer wrong" },
      { Authorization: `Basic ${TOKEN}` },
      { "X-API-Key": TOKEN },
    ];
    for (const headers of attempts) {
      const res = await post(message, headers);
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toContain("Bearer");
    }
    expect(handled).toEqual([]);
  });

  it("logs one warning for a burst of refusals, not one each: anyone reaching the port could fill the log", async () => {
    const warnings: unknown[] = [];
    const { post } = await start({ logger: { ...quiet, warn: (...args: unknown[]) => warnings.push(args) } });
    for (let i = 0; i < 5; i++) expect((await post(message, {})).status).toBe(401);
    expect(warnings).toHaveLength(1);
  });

  it("a standby answers 503 with Retry-After, so Alertmanager retries (it does not retry a 4xx)", async () => {
    const { handled, post } = await start({ isLeader: () => false });
    const res = await post(message);
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("1");
    expect(handled).toEqual([]);
  });

  it("checks the token before anything else: a standby answers 401 to a stranger", async () => {
    const { post } = await start({ isLeader: () => false });
    expect((await post(message, {})).status).toBe(401);
  });

  it("refuses what is not an Alertmanager message with 400, and a large body with 413", async () => {
    const { handled, post } = await start({ limits: { maxBodyBytes: 2048 } });
    expect((await post("not json")).status).toBe(400);
    const wrong = await post({ ...message, version: "3" });
    expect(wrong.status).toBe(400);
    expect(((await wrong.json()) as { error: string }).error).toMatch(/version/);
    expect((await post({ ...message, groupKey: "k".repeat(4000) })).status).toBe(413);
    expect(handled).toEqual([]);
  });

  it("answers 404 elsewhere and 405 to another method", async () => {
    const { url } = await start();
    expect((await fetch(url.replace(RECEIVER_PATH, "/"), { method: "POST" })).status).toBe(404);
    expect((await fetch(url, { headers: { Authorization: `Bearer ${TOKEN}` } })).status).toBe(405);
  });

  it("a failed handling answers 500 and a slow one 503, both retried by Alertmanager", async () => {
    const failing = await start({
      handle: () => Promise.reject(new Error("apiserver down")),
    });
    expect((await failing.post(message)).status).toBe(500);
    await receiver?.close();
    const slow = await start({
      handle: () => new Promise((resolve) => setTimeout(() => resolve({}), 500)),
      limits: { handleTimeoutMs: 50 },
    });
    expect((await slow.post(message)).status).toBe(503);
  });

  it("handles one notification at a time, in order", async () => {
    const order: string[] = [];
    let running = 0;
    const { post } = await start({
      handle: async (m) => {
        running++;
        expect(running).toBe(1);
        await new Promise((resolve) => setTimeout(resolve, 20));
        order.push(m.groupKey);
        running--;
        return {};
      },
    });
    const answers = await Promise.all(["a", "b", "c"].map((k) => post({ ...message, groupKey: k })));
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(order).toEqual(["a", "b", "c"]);
  });

  it("takes a rotated token on the next request", async () => {
    let token = TOKEN;
    const { post } = await start({ token: () => token });
    token = "rotated";
    expect((await post(message)).status).toBe(401);
    expect((await post(message, { Authorization: "Bearer rotated" })).status).toBe(200);
  });
});
