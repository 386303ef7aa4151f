import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { Squad } from "../../api/kinds.js";
import { squadSpec } from "../../api/squad.js";
import type { KubeObject } from "../../runtime/types.js";
import { summaryOf, webhookBody } from "./chat-format.js";
import { OncallWebhook, type RollbackNotification } from "./notify.js";

const PAYLOAD: RollbackNotification = {
  release: "web",
  namespace: "shop",
  squad: "payments",
  tribe: "money",
  revision: "r2",
  version: "1.5.0",
  reason: "PostPromotionAnalysisFailed",
  message: "post-promotion analysis failed: error-rate 0.42 > max 0.05",
  metric: "error-rate",
  channel: "#payments-oncall",
  at: "2030-01-01T00:00:00.000Z",
  rollbackId: "u1/r2/1893456000000",
};

type Json = Record<string, unknown>;
const isRecord = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const text = (v: unknown) => (isRecord(v) && typeof v["text"] === "string" ? v["text"] : undefined);

/**
 * What Slack's incoming webhook accepts (api.slack.com/reference/block-kit): a `text` fallback,
 * at most 50 blocks; a header's text plain_text of at most 150 characters; a section's text a
 * text object of at most 3000, its fields at most 10 of at most 2000; a context's elements at
 * most 10. Problems, empty when the message is valid.
 */
function slackProblems(body: unknown): string[] {
  const problems: string[] = [];
  if (!isRecord(body)) return ["not an object"];
  if (typeof body["text"] !== "string" || body["text"] === "") problems.push("no text fallback");
  const blocks = body["blocks"];
  if (!Array.isArray(blocks) || blocks.length === 0 || blocks.length > 50)
    return [...problems, "blocks: 1-50"];
  blocks.forEach((b: unknown, i) => {
    if (!isRecord(b)) return problems.push(`blocks[${i}]: not an object`);
    const t = b["text"];
    switch (b["type"]) {
      case "header":
        if (!isRecord(t) || t["type"] !== "plain_text" || (text(t)?.length ?? 999) > 150)
          problems.push(`blocks[${i}]: header needs plain_text of at most 150`);
        break;
      case "section": {
        const fields = b["fields"];
        if (t === undefined && !Array.isArray(fields))
          problems.push(`blocks[${i}]: section needs text or fields`);
        if (
          t !== undefined &&
          (!isRecord(t) ||
            !["mrkdwn", "plain_text"].includes(String(t["type"])) ||
            (text(t)?.length ?? 9999) > 3000)
        )
          problems.push(`blocks[${i}]: section text must be a text object of at most 3000`);
        if (
          Array.isArray(fields) &&
          (fields.length > 10 || fields.some((f) => (text(f)?.length ?? 9999) > 2000))
        )
          problems.push(`blocks[${i}]: at most 10 fields of at most 2000`);
        break;
      }
      case "context": {
        const elements = b["elements"];
        if (!Array.isArray(elements) || elements.length === 0 || elements.length > 10)
          problems.push(`blocks[${i}]: context needs 1-10 elements`);
        break;
      }
      default:
        problems.push(`blocks[${i}]: unexpected type ${String(b["type"])}`);
    }
    return undefined;
  });
  return problems;
}

/**
 * What a Teams Workflows webhook accepts: `{type: "message", attachments: [{contentType:
 * "application/vnd.microsoft.card.adaptive", content: AdaptiveCard}]}`, the card with `type`,
 * `version` and a `body` of elements each with a `type` (TextBlock needs `text`, FactSet `facts`
 * of `{title, value}` strings).
 */
function teamsProblems(body: unknown): string[] {
  if (!isRecord(body) || body["type"] !== "message") return ["not a message"];
  const attachments = body["attachments"];
  if (!Array.isArray(attachments) || attachments.length !== 1) return ["one attachment expected"];
  const a: unknown = attachments[0];
  if (!isRecord(a) || a["contentType"] !== "application/vnd.microsoft.card.adaptive")
    return ["not an Adaptive Card"];
  const card = a["content"];
  if (!isRecord(card) || card["type"] !== "AdaptiveCard" || typeof card["version"] !== "string")
    return ["bad card"];
  const problems: string[] = [];
  const items = card["body"];
  if (!Array.isArray(items) || items.length === 0) return ["empty body"];
  items.forEach((e: unknown, i) => {
    if (!isRecord(e)) return problems.push(`body[${i}]: not an object`);
    if (e["type"] === "TextBlock" && typeof e["text"] !== "string")
      problems.push(`body[${i}]: TextBlock needs text`);
    else if (e["type"] === "FactSet") {
      const facts = e["facts"];
      if (
        !Array.isArray(facts) ||
        facts.some((f) => !isRecord(f) || typeof f["title"] !== "string" || typeof f["value"] !== "string")
      )
        problems.push(`body[${i}]: FactSet needs facts of {title, value}`);
    } else if (e["type"] !== "TextBlock") problems.push(`body[${i}]: unexpected type ${String(e["type"])}`);
    return undefined;
  });
  return problems;
}

describe("webhookBody", () => {
  it("sends Crescendo's own payload as it is for json (and when no format is set)", () => {
    expect(webhookBody("json", PAYLOAD)).toBe(PAYLOAD);
    expect(webhookBody(undefined, PAYLOAD)).toBe(PAYLOAD);
  });

  it("says what changed, why, what was done and the command to look closer", () => {
    expect(summaryOf(PAYLOAD)).toEqual({
      title: "shop/web: 1.5.0 reverted after promotion",
      why: PAYLOAD.message,
      done: "Traffic is back on the previous revision; 1.5.0 (revision r2) is scaled to zero.",
      command: "kubectl crescendo status web -n shop",
      facts: [
        ["Reason", "PostPromotionAnalysisFailed"],
        ["Metric", "error-rate"],
        ["Revision", "r2"],
        ["Squad", "payments"],
        ["At", "2030-01-01T00:00:00.000Z"],
      ],
    });
    const rolled = summaryOf({ ...PAYLOAD, reason: "Aborted", metric: null, squad: null });
    expect(rolled.title).toBe("shop/web: 1.5.0 rolled back");
    expect(rolled.facts.map(([k]) => k)).toEqual(["Reason", "Revision", "At"]);
  });

  it("renders a valid Slack Block Kit message, escaping mrkdwn and cutting to Slack's limits", () => {
    const body = webhookBody("slack", PAYLOAD);
    expect(slackProblems(body)).toEqual([]);
    expect(JSON.stringify(body)).toContain("kubectl crescendo status web -n shop");
    const hostile = webhookBody("slack", {
      ...PAYLOAD,
      message: `<!channel> <https://evil.example|click> & ${"x".repeat(5000)}`,
      release: "r".repeat(200),
    });
    expect(slackProblems(hostile)).toEqual([]);
    const serialized = JSON.stringify(hostile);
    expect(serialized).not.toContain("<!channel>");
    expect(serialized).toContain("&lt;!channel&gt;");
  });

  it("renders a valid Teams message with one Adaptive Card", () => {
    const body = webhookBody("teams", PAYLOAD);
    expect(teamsProblems(body)).toEqual([]);
    expect(JSON.stringify(body)).toContain("error-rate 0.42 > max 0.05");
  });

  it("the validators catch what the formats forbid", () => {
    expect(
      slackProblems({ text: "", blocks: [{ type: "header", text: { type: "mrkdwn", text: "x" } }] }),
    ).toEqual(["no text fallback", "blocks[0]: header needs plain_text of at most 150"]);
    expect(teamsProblems({ type: "message", attachments: [{ contentType: "text/plain" }] })).toEqual([
      "not an Adaptive Card",
    ]);
  });
});

describe("the notifier in each format, against a loopback receiver that checks the payload", () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

  for (const [format, problemsOf] of [
    ["slack", slackProblems],
    ["teams", teamsProblems],
    ["json", (b: unknown) => (isRecord(b) && b["reason"] === PAYLOAD.reason ? [] : ["not the JSON payload"])],
  ] as const) {
    it(`delivers a ${format} message the receiver accepts`, async () => {
      const received: unknown[] = [];
      server = createServer((req, res) => {
        let body = "";
        req.on("data", (c: Buffer) => (body += c.toString()));
        req.on("end", () => {
          const parsed: unknown = JSON.parse(body);
          const problems = problemsOf(parsed);
          received.push(parsed);
          // As the tools do: a malformed payload is a 400 (Slack answers invalid_blocks).
          res.writeHead(problems.length === 0 ? 200 : 400).end(problems.join("; ") || "ok");
        });
      });
      await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
      const webhook = new OncallWebhook({
        client: {
          get: async <T extends KubeObject>() =>
            ({
              metadata: { name: "oncall" },
              data: { url: Buffer.from(url).toString("base64") },
            }) as unknown as T,
        },
      });
      const squad: Squad = {
        apiVersion: "crescendo.dev/v1alpha1",
        kind: "Squad",
        metadata: { name: "payments" },
        spec: squadSpec.parse({
          namespaces: [{ name: "shop" }],
          oncall: { webhookSecretRef: { name: "oncall" }, format },
        }),
      };
      const outcome = await webhook.send(squad, PAYLOAD, new AbortController().signal);
      expect(outcome).toEqual({ kind: "delivered" });
      expect(received).toHaveLength(1);
      expect(received[0]).toEqual(webhookBody(format, PAYLOAD));
    });
  }
});
