/**
 * What Slack's and Microsoft Teams' incoming webhooks accept, as checks: every on-call message
 * (a Release's rollback, a toggle's, an incident's) is tested against these, in unit tests and
 * by the e2e loopback receivers. Test-only: excluded from the build (`*.test-support.ts`).
 */
type Json = Record<string, unknown>;
export const isRecord = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const text = (v: unknown) => (isRecord(v) && typeof v["text"] === "string" ? v["text"] : undefined);

/**
 * What Slack's incoming webhook accepts (api.slack.com/reference/block-kit): a `text` fallback,
 * at most 50 blocks; a header's text plain_text of at most 150 characters; a section's text a
 * text object of at most 3000, its fields at most 10 of at most 2000; a context's elements at
 * most 10. Problems, empty when the message is valid.
 */
export function slackProblems(body: unknown): string[] {
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
export function teamsProblems(body: unknown): string[] {
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
