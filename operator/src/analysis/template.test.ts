import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AnalysisSpecError, QueryTemplateError } from "./errors.js";
import {
  escapePromQLString,
  renderQuery,
  TEMPLATE_VARIABLES,
  templateVariables,
  type TemplateVars,
} from "./template.js";

const vars: TemplateVars = {
  namespace: "payments",
  release: "checkout",
  revision: "7d9f8c6b5",
  stableRevision: "5c4b3a291",
  canaryRevision: "7d9f8c6b5",
  version: "1.4.2",
  interval: "30s",
};

/**
 * Reads the PromQL double-quoted string literal that starts at `s[start]` the way Prometheus
 * does: its lexer ends the literal at the first unescaped `"` and refuses a raw newline, then
 * Go's `strconv.Unquote` decodes the escapes. Returns the decoded text and the index just past
 * the closing quote, so a test can check both what the literal means and where it ends.
 */
function readLiteral(s: string, start: number): { text: string; end: number } {
  if (s[start] !== '"') throw new Error(`no literal at ${start}`);
  const simple: Record<string, string> = {
    a: "\x07",
    b: "\b",
    f: "\f",
    n: "\n",
    r: "\r",
    t: "\t",
    v: "\v",
    "\\": "\\",
    '"': '"',
  };
  let text = "";
  let i = start + 1;
  for (;;) {
    const ch = s[i];
    if (ch === undefined || ch === "\n") throw new Error("unterminated quoted string");
    if (ch === '"') return { text, end: i + 1 };
    if (ch !== "\\") {
      text += ch;
      i++;
      continue;
    }
    const kind = s[i + 1] ?? "";
    const width = { x: 2, u: 4, U: 8 }[kind];
    if (simple[kind] !== undefined) {
      text += simple[kind];
      i += 2;
    } else if (width !== undefined) {
      const digits = s.slice(i + 2, i + 2 + width);
      if (!/^[0-9a-fA-F]+$/.test(digits) || digits.length !== width) throw new Error(`bad \\${kind} escape`);
      const code = parseInt(digits, 16);
      if (kind === "x" && code >= 0x80)
        throw new Error("\\x above 0x7f is a raw byte: not valid UTF-8 alone");
      if (code >= 0xd800 && code <= 0xdfff) throw new Error("surrogate in escape");
      text += String.fromCodePoint(code);
      i += 2 + width;
    } else if (/[0-7]/.test(kind)) {
      const digits = s.slice(i + 1, i + 4);
      text += String.fromCodePoint(parseInt(digits, 8));
      i += 4;
    } else {
      throw new Error(`unknown escape sequence \\${kind}`);
    }
  }
}

describe("renderQuery", () => {
  it("substitutes every variable", () => {
    const template = TEMPLATE_VARIABLES.map((v) => `${v}={{${v}}}`).join(" ");
    expect(renderQuery(template, vars)).toBe(
      "namespace=payments release=checkout revision=7d9f8c6b5 stableRevision=5c4b3a291 canaryRevision=7d9f8c6b5 version=1.4.2 interval=30s",
    );
  });

  it("substitutes a realistic error-rate query", () => {
    const template =
      'sum(rate(http_requests_total{namespace="{{namespace}}", revision="{{ revision }}", code=~"5.."}[{{interval}}])) / sum(rate(http_requests_total{namespace="{{namespace}}", revision="{{ revision }}"}[{{interval}}]))';
    expect(renderQuery(template, vars)).toBe(
      'sum(rate(http_requests_total{namespace="payments", revision="7d9f8c6b5", code=~"5.."}[30s])) / sum(rate(http_requests_total{namespace="payments", revision="7d9f8c6b5"}[30s]))',
    );
  });

  it.each([
    "{{release}}",
    "{{ release }}",
    "{{release }}",
    "{{  release}}",
    "{{\trelease\t}}",
    "{{\nrelease\n}}",
  ])("allows white space inside the braces: %j", (placeholder) => {
    expect(renderQuery(`x{job="${placeholder}"}`, vars)).toBe('x{job="checkout"}');
  });

  it("leaves a template without placeholders, single braces included, untouched", () => {
    const q = 'histogram_quantile(0.99, sum by (le) (rate(x_bucket{job="a"}[5m])))';
    expect(renderQuery(q, vars)).toBe(q);
  });

  it("substitutes a variable used several times", () => {
    expect(renderQuery("{{release}}-{{release}}-{{ release }}", vars)).toBe("checkout-checkout-checkout");
  });

  it("does not expand placeholders that appear inside a value", () => {
    expect(renderQuery("{{version}}", { ...vars, version: "{{namespace}}" })).toBe("{{namespace}}");
  });

  it("does not interpret String.replace patterns in a value", () => {
    expect(renderQuery('"{{version}}"', { ...vars, version: "$&$1$$`'" })).toBe('"$&$1$$`\'"');
  });

  describe("unknown variables", () => {
    it("throws a QueryTemplateError, which is an AnalysisSpecError, naming the unknown and listing the known", () => {
      const template = 'up{job="{{ job }}"}';
      const error = catchError(() => renderQuery(template, vars));
      expect(error).toBeInstanceOf(QueryTemplateError);
      expect(error).toBeInstanceOf(AnalysisSpecError);
      expect(error).toMatchObject({ name: "QueryTemplateError", template, unknownVariables: ["job"] });
      expect(error.message).toBe(
        "query template uses unknown variable {{job}}; known variables: {{namespace}}, {{release}}, {{revision}}, {{stableRevision}}, {{canaryRevision}}, {{version}}, {{interval}}",
      );
    });

    it("lists every unknown variable once", () => {
      const error = catchError(() => renderQuery("{{a}} {{namespace}} {{b}} {{ a }}", vars));
      expect(error).toMatchObject({ unknownVariables: ["a", "b"] });
      expect(error.message).toMatch(/^query template uses unknown variables \{\{a\}\}, \{\{b\}\}; known/);
    });

    it.each([
      ["{{Namespace}}", "Namespace"],
      ["{{args.service-name}}", "args.service-name"],
      ["{{ .Release }}", ".Release"],
      ["{{}}", ""],
      ["{{ namespace | quote }}", "namespace | quote"],
    ])("refuses %j", (template, name) => {
      expect(catchError(() => renderQuery(template, vars))).toMatchObject({ unknownVariables: [name] });
    });
  });

  it.each(["up{{namespace", 'up{job="{{release}}"} {{', "{{ release }"])(
    "refuses an unterminated placeholder: %j",
    (template) => {
      const error = catchError(() => renderQuery(template, vars));
      expect(error).toBeInstanceOf(QueryTemplateError);
      expect(error.message).toContain('"{{" without a closing "}}"');
    },
  );

  describe("injection", () => {
    const prefix = "sum(rate(errors{version=";
    const suffix = ', namespace="{{namespace}}"}[5m]))';
    const template = `${prefix}"{{version}}"${suffix}`;

    it.each([
      '"} or vector(1) #',
      '"} or vector(1) #\n',
      '\\"} or vector(1) #',
      '\\\\"} or vector(1)',
      '1.0"}) or vector(0',
      '1.0\n"} or vector(1)',
      "1.0\\",
      "x\\u0022} or vector(1) #",
    ])("keeps %j inside its string literal", (version) => {
      const rendered = renderQuery(template, { ...vars, version });
      const literal = readLiteral(rendered, prefix.length);
      expect(literal.text).toBe(version);
      expect(rendered.slice(literal.end)).toBe(', namespace="payments"}[5m]))');
    });

    it("keeps any value inside its literal and decodes to the same text (property)", () => {
      fc.assert(
        fc.property(fc.string({ unit: "binary" }), fc.string({ unit: "grapheme" }), (version, namespace) => {
          const rendered = renderQuery(template, { ...vars, version, namespace });
          const v = readLiteral(rendered, prefix.length);
          expect(v.text).toBe(version);
          expect(rendered.slice(v.end, v.end + ", namespace=".length)).toBe(", namespace=");
          const ns = readLiteral(rendered, v.end + ", namespace=".length);
          expect(ns.text).toBe(namespace);
          expect(rendered.slice(ns.end)).toBe("}[5m]))");
        }),
      );
    });
  });
});

describe("escapePromQLString", () => {
  it.each([
    ["plain-1.4.2", "plain-1.4.2"],
    ["", ""],
    ['say "hi"', 'say \\"hi\\"'],
    ["a\\b", "a\\\\b"],
    ["line\nbreak", "line\\nbreak"],
    ["\x07\b\f\r\t\v", "\\a\\b\\f\\r\\t\\v"],
    ["\x00\x1b\x7f", "\\x00\\x1b\\x7f"],
    ["\u0085\u009f", "\\u0085\\u009f"],
    ["\u2028\u2029", "\\u2028\\u2029"],
    ["'single' and `back`", "'single' and `back`"],
    ["é漢字😀", "é漢字😀"],
    ["lone \ud800 high", "lone \\ufffd high"],
    ["lone \udc00 low", "lone \\ufffd low"],
  ])("escapes %j as %j", (input, expected) => {
    expect(escapePromQLString(input)).toBe(expected);
  });

  it("produces a literal body Prometheus reads back as the original (property)", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (value) => {
        expect(readLiteral(`"${escapePromQLString(value)}"`, 0)).toEqual({
          text: value,
          end: escapePromQLString(value).length + 2,
        });
      }),
    );
  });

  it("never leaves a raw newline, unescaped quote or dangling backslash (property)", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary-ascii" }), (value) => {
        const escaped = escapePromQLString(value);
        expect(escaped).not.toMatch(/\n/);
        expect(escaped.replace(/\\./gs, "")).not.toMatch(/["\\]/);
      }),
    );
  });
});

describe("templateVariables", () => {
  it("lists the names used, trimmed, once each, in order of first use", () => {
    expect(templateVariables("{{ revision }} {{namespace}} {{revision}} {{bogus}}")).toEqual([
      "revision",
      "namespace",
      "bogus",
    ]);
  });

  it("is empty for a template without placeholders", () => {
    expect(templateVariables("up")).toEqual([]);
  });
});

function catchError(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    if (error instanceof Error) return error;
    throw new Error(`threw a non-Error: ${String(error)}`);
  }
  throw new Error("did not throw");
}
