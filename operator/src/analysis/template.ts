/**
 * Query templating. A metric's PromQL is written once and measured for several revisions, so it
 * names the Release's coordinates as `{{variable}}` placeholders. Every substituted value is
 * escaped for a PromQL double-quoted string literal: a version string or a namespace is data,
 * and must never be able to close the literal and add PromQL of its own (a value such as
 * `"} or vector(1) #` would otherwise turn a failing error-rate query into a passing one).
 */
import { QueryTemplateError } from "./errors.js";

/** The variables a query template may use, in the order they are listed to users. */
export const TEMPLATE_VARIABLES = [
  "namespace",
  "release",
  "revision",
  "stableRevision",
  "canaryRevision",
  "version",
  "interval",
] as const;
export type TemplateVariable = (typeof TEMPLATE_VARIABLES)[number];

/** A value for every template variable. All are required so a caller cannot forget one. */
export type TemplateVars = Readonly<Record<TemplateVariable, string>>;

/** `{{ name }}`, spaces allowed inside the braces; the name is whatever lies between them. */
const PLACEHOLDER = /\{\{(.*?)\}\}/gs;

const list = (names: readonly string[]) => names.map((n) => `{{${n}}}`).join(", ");

/**
 * The variable names a template uses, in order of first use, without checking them. Lets a
 * caller ask, for example, whether a compareToStable query mentions `{{revision}}` at all.
 */
export function templateVariables(template: string): string[] {
  const names = [...template.matchAll(PLACEHOLDER)].map((m) => (m[1] ?? "").trim());
  return [...new Set(names)];
}

/**
 * Substitutes every `{{name}}` in `template` with the escaped value of `vars[name]`.
 *
 * The template author writes the quotes (`job="{{release}}"`); this function only escapes what
 * goes between them, so a value is safe inside a double-quoted PromQL string. It is not escaped
 * for a regular expression: inside `=~"..."` a `.` in a version still matches any character.
 * A `{{` without a closing `}}` is an error rather than text, because PromQL never needs `{{`
 * and a half-written placeholder silently sent to Prometheus would measure the wrong thing.
 *
 * @throws QueryTemplateError naming the unknown variables and listing the known ones.
 */
export function renderQuery(template: string, vars: TemplateVars): string {
  return renderTemplate(template, vars, TEMPLATE_VARIABLES);
}

/**
 * `renderQuery` for another set of variables (a FeatureToggle's ramp names `{{flag}}` and
 * `{{variant}}`, not revisions): the same rules, the same escaping, `known` listed in errors.
 */
export function renderTemplate(
  template: string,
  vars: Readonly<Record<string, string>>,
  known: readonly string[],
): string {
  const unknown = templateVariables(template).filter((name) => !known.includes(name));
  if (unknown.length > 0) {
    const what = unknown.length === 1 ? "variable" : "variables";
    throw new QueryTemplateError(
      `query template uses unknown ${what} ${list(unknown)}; known variables: ${list(known)}`,
      template,
      unknown,
    );
  }
  if (template.replace(PLACEHOLDER, "").includes("{{")) {
    throw new QueryTemplateError(
      `query template has a "{{" without a closing "}}"; placeholders look like {{namespace}}`,
      template,
    );
  }
  return template.replace(PLACEHOLDER, (_match, name: string) => escapePromQLString(vars[name.trim()] ?? ""));
}

const SHORT_ESCAPES: Readonly<Record<string, string>> = {
  "\\": "\\\\",
  '"': '\\"',
  "\x07": "\\a",
  "\b": "\\b",
  "\f": "\\f",
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
  "\v": "\\v",
};

const hex = (code: number, width: number) => code.toString(16).padStart(width, "0");

/**
 * Escapes `value` for the inside of a PromQL double-quoted string literal. PromQL unquotes
 * strings with Go's `strconv.Unquote`, so this follows `strconv.Quote`: backslash and double
 * quote are backslash-escaped, control characters use `\n`-style or `\xNN` escapes (a raw
 * newline would end the literal with a syntax error), C1 controls and the Unicode line and
 * paragraph separators use `\uNNNN`. A lone UTF-16 surrogate, which has no UTF-8 encoding and
 * cannot be a Prometheus label value, becomes U+FFFD. Everything else passes through as is.
 */
export function escapePromQLString(value: string): string {
  let out = "";
  for (const ch of value) {
    const code = ch.codePointAt(0) ?? 0;
    const short = SHORT_ESCAPES[ch];
    if (short !== undefined) out += short;
    else if (code < 0x20 || code === 0x7f) out += `\\x${hex(code, 2)}`;
    else if ((code >= 0x80 && code <= 0x9f) || code === 0x2028 || code === 0x2029)
      out += `\\u${hex(code, 4)}`;
    else if (code >= 0xd800 && code <= 0xdfff) out += "\\ufffd";
    else out += ch;
  }
  return out;
}
