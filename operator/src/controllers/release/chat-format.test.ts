import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { Squad } from "../../api/kinds.js";
import { squadSpec } from "../../api/squad.js";
import type { KubeObject } from "../../runtime/types.js";
import { summaryOf, webhookBody } from "./chat-format.js";
import { OncallWebhook, type RollbackNotification } from "./notify.js";
import { isRecord, slackProblems, teamsProblems } from "./chat-formats.test-support.js";

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
  killedToggles: [],
  at: "2030-01-01T00:00:00.000Z",
  rollbackId: "u1/r2/1893456000000",
};

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

  it("names the toggles the rollback kills: they get no message of their own", () => {
    const s = summaryOf({ ...PAYLOAD, killedToggles: ["one-click", "wallet"] });
    expect(s.done).toContain(
      "Feature toggles guarded by web are killed, everyone gets their default variant: one-click, wallet (kubectl crescendo rearm <toggle> -n shop once the Release is Healthy).",
    );
    expect(s.facts).toContainEqual(["Toggles killed", "one-click, wallet"]);
    expect(slackProblems(webhookBody("slack", { ...PAYLOAD, killedToggles: ["one-click"] }))).toEqual([]);
    expect(teamsProblems(webhookBody("teams", { ...PAYLOAD, killedToggles: ["one-click"] }))).toEqual([]);
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

  it("escapes alert and cluster text in a Teams card: no link, formatting, list or mention from it", () => {
    const hostile = "[click](http://evil.example) **urgent** _now_\n- fake line <at>Everyone</at>";
    const body = webhookBody("teams", {
      ...PAYLOAD,
      message: hostile,
      metric: "**m**",
      version: "[v](http://evil.example)",
    });
    expect(teamsProblems(body)).toEqual([]);
    const card = (body as { attachments: [{ content: { body: Record<string, unknown>[] } }] }).attachments[0]
      .content;
    const texts = card.body.flatMap((e) =>
      e["type"] === "FactSet"
        ? (e["facts"] as { title: string; value: string }[]).flatMap((f) => [f.title, f.value])
        : [e["text"] as string],
    );
    const user = texts.join("\n");
    expect(user).not.toContain("](");
    expect(user).not.toMatch(/(^|[^\\])\[/);
    expect(user).toContain("\\*\\*urgent\\*\\*");
    expect(user).toContain("\n\\- fake line");
    expect(user).toContain("<at>Everyone</at>");
    expect(JSON.stringify(body)).not.toContain("msteams");
    // Crescendo's own markup stays: the bold labels and the command's code span.
    expect(texts).toContain(
      "**Done:** Traffic is back on the previous revision; \\[v\\]\\(http://evil.example) (revision r2) is scaled to zero.",
    );
    expect(texts.at(-1)).toBe("Look closer: `kubectl crescendo status web -n shop`");
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
