import { describe, expect, it } from "vitest";
import { escapeTeams, escapeTeamsLine } from "./teams-text.js";

describe("escapeTeams", () => {
  it("leaves plain prose, comparisons and metric names as they are", () => {
    const prose =
      "post-promotion analysis failed: error-rate 0.42 > max 0.05 (over 5m) on http_requests_total";
    expect(escapeTeams(prose)).toBe(prose);
    expect(escapeTeams("naïve_名前_x 3 < 4 & done")).toBe("naïve_名前_x 3 < 4 & done");
  });

  it("turns a markdown link into text for CommonMark and for the Adaptive Cards parser", () => {
    const out = escapeTeams("[click here](http://evil.example)");
    expect(out).toBe("\\[click here\\]\\(http://evil.example)");
    // No `[` left unescaped, and no `]` directly followed by `(` (the shared parser's link test).
    expect(out).not.toMatch(/(^|[^\\])\[/);
    expect(out).not.toContain("](");
  });

  it("escapes emphasis, code and strike-through delimiters and backslashes", () => {
    expect(escapeTeams("**bold** _it_ `code` ~~gone~~ a\\b")).toBe(
      "\\*\\*bold\\*\\* \\_it\\_ \\`code\\` \\~\\~gone\\~\\~ a\\\\b",
    );
    // An already escaped delimiter cannot cancel the escape: the backslash is escaped first.
    expect(escapeTeams("\\*x*")).toBe("\\\\\\*x\\*");
  });

  it("keeps intended line breaks but no line becomes a list item", () => {
    expect(escapeTeams("first\n- fake item\n+ another\n1. numbered\n 2) indented")).toBe(
      "first\n\\- fake item\n\\+ another\n1\\. numbered\n 2\\) indented",
    );
    expect(escapeTeams("a - b + c 1. d")).toBe("a - b + c 1. d");
  });

  it("turns carriage returns and other control characters into line breaks or spaces", () => {
    expect(escapeTeams("a\r- b\r\nc\u0007d\u001b[31m")).toBe("a\n\\- b\nc d \\[31m");
  });

  it("keeps a one-line value on one line", () => {
    expect(escapeTeamsLine("web\n- [x](http://evil)\r**y**")).toBe(
      "web - \\[x\\]\\(http://evil) \\*\\*y\\*\\*",
    );
  });

  it("leaves a mention tag as inert text (a mention needs msteams.entities)", () => {
    expect(escapeTeams("<at>Everyone</at>")).toBe("<at>Everyone</at>");
  });
});
