/**
 * The on-call message in the format the squad's webhook expects (`spec.oncall.format`): `json`
 * sends Crescendo's own payload as documented in docs/notifications.md; `slack` a message for a
 * Slack incoming webhook (`text` as the notification fallback, Block Kit `blocks` for the
 * channel); `teams` a message with one Adaptive Card attachment, the only format Teams Workflows
 * webhooks accept (the Office 365 connectors' MessageCard is retired). Each says what changed,
 * why, what was done and the `kubectl crescendo` command to look closer. Pure; the notifier
 * POSTs what it returns.
 *
 * Text from the cluster or an alert (messages quoting metric values, names, labels) is escaped for
 * each tool's markup — Slack's mrkdwn (`&`, `<`, `>`), Teams' markdown (teams-text.ts) — so a name
 * cannot turn into a link, a mention or formatting, and cut to the tools' limits (3000 characters
 * for a Slack section, 150 for a header).
 */
import type { OncallFormat } from "../../api/squad.js";
import { escapeTeams, escapeTeamsLine } from "./teams-text.js";

/**
 * The fields of the on-call payload (`rollbackNotification` in notify.ts) the chat formats use;
 * declared here so the notifier can depend on this file and not the other way round.
 */
export interface RollbackNotification {
  release: string;
  namespace: string;
  squad: string | null;
  revision: string;
  version: string;
  reason: string;
  message: string;
  metric: string | null;
  /** Toggles the rollback kills (absent: none). */
  killedToggles?: readonly string[];
  at: string;
}

/** The body to POST for `payload` in `format`. */
export function webhookBody(format: OncallFormat | undefined, payload: RollbackNotification): unknown {
  return messageBody(format, payload, summaryOf(payload));
}

/** What an on-call message says, the same in every chat format, whatever rolled back. */
export interface ChatSummary {
  title: string;
  why: string;
  done: string;
  command: string;
  facts: [string, string][];
}

/**
 * The body to POST in `format`: `json` sends `payload` itself, the chat formats render `summary`.
 * Shared by every kind of on-call message, so each is escaped and cut the same way.
 */
export function messageBody(
  format: OncallFormat | undefined,
  payload: unknown,
  summary: ChatSummary,
): unknown {
  switch (format) {
    case "slack":
      return slackMessage(summary);
    case "teams":
      return teamsMessage(summary);
    default:
      return payload;
  }
}

/** What the message says, the same in every chat format. */
export function summaryOf(n: RollbackNotification): ChatSummary {
  const reverted = n.reason === "PostPromotionAnalysisFailed";
  const title = `${n.namespace}/${n.release}: ${n.version} ${reverted ? "reverted after promotion" : "rolled back"}`;
  const done = reverted
    ? `Traffic is back on the previous revision; ${n.version} (revision ${n.revision}) is scaled to zero.`
    : `Traffic is back on the stable revision; the canary ${n.version} (revision ${n.revision}) is scaled to zero.`;
  const killed = n.killedToggles ?? [];
  const facts: [string, string][] = [
    ["Reason", n.reason],
    ...(n.metric ? ([["Metric", n.metric]] as [string, string][]) : []),
    ["Revision", n.revision],
    ...(killed.length ? ([["Toggles killed", killed.join(", ")]] as [string, string][]) : []),
    ...(n.squad ? ([["Squad", n.squad]] as [string, string][]) : []),
    ["At", n.at],
  ];
  // A toggle its guard's rollback kills gets no message of its own: this one tells it.
  const kills = killed.length
    ? ` Feature toggles guarded by ${n.release} are killed, everyone gets their default variant: ${killed.join(", ")} (kubectl crescendo rearm <toggle> -n ${n.namespace} once the Release is Healthy).`
    : "";
  return {
    title,
    why: n.message,
    done: done + kills,
    command: `kubectl crescendo status ${n.release} -n ${n.namespace}`,
    facts,
  };
}

/** Slack: `text` (notifications, clients without blocks) and Block Kit blocks. */
function slackMessage(s: ChatSummary): Record<string, unknown> {
  const section = (text: string) => ({ type: "section", text: { type: "mrkdwn", text: cut(text, 3000) } });
  return {
    text: cut(escapeSlack(`${s.title}: ${s.why}`), 3000),
    blocks: [
      { type: "header", text: { type: "plain_text", text: cut(s.title, 150) } },
      section(`*Why:* ${escapeSlack(s.why)}`),
      section(`*Done:* ${escapeSlack(s.done)}`),
      {
        type: "section",
        fields: s.facts.map(([k, v]) => ({ type: "mrkdwn", text: cut(`*${k}:* ${escapeSlack(v)}`, 2000) })),
      },
      { type: "context", elements: [{ type: "mrkdwn", text: cut(`Look closer: \`${s.command}\``, 3000) }] },
    ],
  };
}

/**
 * Teams: a `message` with one Adaptive Card (schema 1.4), as Workflows webhooks take it. Every
 * TextBlock and fact is markdown there, so all of the summary is escaped; the command, shown as
 * code, is made of Kubernetes names, and loses any backtick that could close its code span.
 */
function teamsMessage(s: ChatSummary): Record<string, unknown> {
  const text = (value: string, extra: Record<string, unknown> = {}) => ({
    type: "TextBlock",
    text: value,
    wrap: true,
    ...extra,
  });
  return {
    type: "message",
    attachments: [
      {
        contentType: "application/vnd.microsoft.card.adaptive",
        contentUrl: null,
        content: {
          $schema: "http://adaptivecards.io/schemas/adaptive-card.json",
          type: "AdaptiveCard",
          version: "1.4",
          body: [
            text(escapeTeamsLine(s.title), { size: "Medium", weight: "Bolder", color: "Attention" }),
            text(`**Why:** ${escapeTeams(s.why)}`),
            text(`**Done:** ${escapeTeams(s.done)}`),
            {
              type: "FactSet",
              facts: s.facts.map(([title, value]) => ({
                title: escapeTeamsLine(title),
                value: escapeTeamsLine(value),
              })),
            },
            text(`Look closer: \`${s.command.replace(/`/g, "")}\``, { isSubtle: true }),
          ],
        },
      },
    ],
  };
}

/** Slack mrkdwn control characters, escaped as Slack documents. */
function escapeSlack(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function cut(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
