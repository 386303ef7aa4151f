/**
 * Text from the cluster or an alert, made inert for a Teams Adaptive Card. A TextBlock's `text`
 * and a FactSet's `title`/`value` are markdown (the Adaptive Cards subset of CommonMark: `**bold**`,
 * `_italic_`, `- ` and `1. ` lists, `[title](url)` links; Teams renders HTML in none of them). So an
 * alertname like `[click](https://evil.example)` would reach the on-call as a link, and a label
 * with `**` or a line break as formatting or a fake line of the message.
 *
 * The renderers differ, so the escaping holds for each: CommonMark (Teams desktop and web) honours a
 * backslash before any ASCII punctuation; the Adaptive Cards shared parser (mobile) honours it only
 * before `*` and `_`, and starts a link at any `[` whose `]` is directly followed by `(`. Hence:
 *
 * - `\`, `*`, `` ` ``, `~`, `[`, `]` are backslash-escaped everywhere;
 * - `(` right after `]` is escaped too: for the shared parser the `]` is then followed by `\`, not
 *   `(`, so no link (other parentheses stay as they are, prose uses them);
 * - `_` is escaped unless it sits inside a word (`http_requests_total` stays copyable, and neither
 *   parser makes emphasis of an intraword underscore);
 * - a line starting with `-`, `+` or `1.` is escaped so it does not become a list item;
 * - control characters other than the line breaks the caller means become spaces; `\r` is one of
 *   them, a line break for the shared parser.
 *
 * `<` and `>` stay: HTML is not rendered, and a Teams mention (`<at>name</at>`) needs a
 * `msteams.entities` entry, which these messages never carry.
 */
export function escapeTeams(text: string): string {
  return (
    text
      .replace(/\r\n?/g, "\n")
      // eslint-disable-next-line no-control-regex -- matching control characters is the point
      .replace(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/g, " ")
      .split("\n")
      .map(escapeLine)
      .join("\n")
  );
}

/** A value shown on one line (a title, a fact): its line breaks become spaces too. */
export function escapeTeamsLine(text: string): string {
  return escapeTeams(text.replace(/\r\n?|\n/g, " "));
}

function escapeLine(line: string): string {
  const escaped = line
    .replace(/[\\*`~[\]]/g, (c) => `\\${c}`)
    .replace(/\\\]\(/g, "\\]\\(")
    .replace(/_/g, (c, at: number, all: string) =>
      isWordChar(all[at - 1]) && isWordChar(all[at + 1]) ? c : `\\${c}`,
    );
  // A list marker only counts at the start of a line (after spaces).
  return escaped.replace(/^(\s*)([-+])(?=\s|$)/, "$1\\$2").replace(/^(\s*\d+)([.)])(?=\s|$)/, "$1\\$2");
}

function isWordChar(c: string | undefined): boolean {
  return c !== undefined && /[\p{L}\p{N}]/u.test(c);
}
