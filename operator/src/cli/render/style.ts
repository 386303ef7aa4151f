/**
 * The few text-layout tools the renderers share: colours that vanish when output is not a
 * terminal, aligned tables that measure text without its escape codes, and times written the
 * way kubectl writes them ("3m20s", "2h ago").
 */
import { styleText } from "node:util";

type Format = Parameters<typeof styleText>[0];

/** Colours by meaning, so a renderer says "bad" and never "red". All identity when colour is off. */
export interface Palette {
  ok(text: string): string;
  bad(text: string): string;
  warn(text: string): string;
  info(text: string): string;
  dim(text: string): string;
  bold(text: string): string;
}

/** Options every renderer takes: the time to measure ages from, and whether to colour. */
export interface RenderOptions {
  /** Milliseconds since the epoch; ages ("2m ago") are measured from it. Default: now. */
  now?: number;
  /** ANSI colours; the caller decides (a TTY without NO_COLOR). Default: false. */
  color?: boolean;
}

/**
 * Whether to colour: only a terminal gets escape codes, and NO_COLOR (any non-empty value,
 * https://no-color.org) turns them off even there.
 */
export function wantsColor(isTTY: boolean | undefined, env: NodeJS.ProcessEnv): boolean {
  return isTTY === true && !env.NO_COLOR;
}

export function palette(color: boolean): Palette {
  // validateStream: false because the caller has already decided; Node would otherwise look at
  // process.stdout, which is not where a test's output goes.
  const style = (format: Format) => (text: string) =>
    color ? styleText(format, text, { validateStream: false }) : text;
  return {
    ok: style("green"),
    bad: style("red"),
    warn: style("yellow"),
    info: style("cyan"),
    dim: style("dim"),
    bold: style("bold"),
  };
}

/** A table cell: plain text, or text with a style applied after the column is padded. */
export type Cell = string | { text: string; style: (text: string) => string };

/**
 * Lays out rows in columns separated by two spaces, widths measured on the plain text so
 * colours never misalign a column. Trailing spaces are trimmed; empty input gives no lines.
 */
export function table(rows: readonly (readonly Cell[])[], indent = "  "): string[] {
  const text = (c: Cell) => (typeof c === "string" ? c : c.text);
  const widths: number[] = [];
  for (const row of rows) row.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, text(c).length)));
  return rows.map((row) => {
    const cells = row.map((c, i) => {
      const plain = text(c);
      const padded = i === row.length - 1 ? plain : plain.padEnd(widths[i] ?? 0);
      return typeof c === "string" ? padded : c.style(plain) + padded.slice(plain.length);
    });
    return (indent + cells.join("  ")).trimEnd();
  });
}

/**
 * `label   value` lines with the labels aligned, at least `minWidth` wide so the layout does not
 * shift as optional rows come and go; rows with an undefined value are left out.
 */
export function fields(rows: readonly (readonly [string, string | undefined])[], minWidth = 0): string[] {
  const shown = rows.filter((r): r is [string, string] => r[1] !== undefined);
  const width = Math.max(minWidth, ...shown.map(([label]) => label.length));
  return shown.map(([label, value]) => `${label.padEnd(width)}  ${value}`.trimEnd());
}

/** A duration as kubectl prints ages: "45s", "3m20s", "2h5m", "4d3h". */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m}m${s % 60}s` : `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 ? `${h}h${m % 60}m` : `${h}h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d}d${h % 24}h` : `${d}d`;
}

/** "2m ago" for a past time, "in 20s" for a future one; the raw text if it is not a time. */
export function relative(iso: string | undefined, now: number): string | undefined {
  if (!iso) return undefined;
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  return t <= now ? `${formatDuration(now - t)} ago` : `in ${formatDuration(t - now)}`;
}

/** The time between two RFC 3339 times, or undefined if either is missing. */
export function between(from: string | undefined, to: string | undefined): string | undefined {
  const a = from ? Date.parse(from) : NaN;
  const b = to ? Date.parse(to) : NaN;
  return Number.isNaN(a) || Number.isNaN(b) ? undefined : formatDuration(b - a);
}

/** Joins the defined parts with a separator. */
export function join(parts: readonly (string | undefined | false)[], sep = ", "): string {
  return parts.filter((p): p is string => typeof p === "string" && p !== "").join(sep);
}

/** `n noun` with an English plural. */
export function plural(n: number, noun: string, many = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : many}`;
}
