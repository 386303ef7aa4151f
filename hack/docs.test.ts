/**
 * Docs that cannot drift from the code without failing a unit run, where a check can tell:
 *
 * - every chart value (charts/crescendo/values.yaml) is documented in docs/install.md, and every
 *   value documented there exists;
 * - every metric the code registers is documented in docs/operations.md, and every metric named
 *   there is registered;
 * - the kubectl plugin's commands and flags (its own help) are the ones docs/cli.md describes;
 * - nothing in the project points at files outside the repository.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { COMMANDS, commandUsage, overallUsage } from "../operator/src/cli/run.js";
import { isRecord } from "../operator/src/runtime/is-record.js";

const ROOT = join(import.meta.dirname, "..");
const read = (path: string) => readFileSync(join(ROOT, path), "utf8");

/** The code spans of a markdown text, in order. */
function codeSpans(markdown: string): string[] {
  return [...markdown.replace(/```[\s\S]*?```/g, "").matchAll(/`([^`\n]+)`/g)].map((m) => m[1] as string);
}

/** The section of `markdown` under the heading `title`, up to the next heading of its level. */
function section(markdown: string, title: string): string {
  const lines = markdown.split("\n");
  const start = lines.findIndex((l) => /^#+ /.test(l) && l.replace(/^#+ /, "") === title);
  if (start < 0) throw new Error(`no section "${title}"`);
  const level = /^#+/.exec(lines[start] as string)?.[0].length ?? 1;
  const end = lines.findIndex((l, i) => i > start && new RegExp(`^#{1,${level}} `).test(l));
  return lines.slice(start + 1, end < 0 ? undefined : end).join("\n");
}

/** The first cell of each row of the markdown tables in `markdown` (header and rule excluded). */
function firstCells(markdown: string): string[] {
  const rows = markdown.split("\n").filter((l) => l.startsWith("|"));
  return rows
    .map((r) => r.split("|")[1]?.trim() ?? "")
    .filter((cell, i, all) => !/^-+$/.test(cell) && !/^-+$/.test(all[i + 1] ?? ""));
}

describe("docs/install.md and the chart's values", () => {
  const values: unknown = parse(read("charts/crescendo/values.yaml"));

  /** Paths of the values a user sets: scalars, lists, and maps the chart ships empty. */
  function leaves(value: unknown, prefix = ""): string[] {
    if (!isRecord(value) || Object.keys(value).length === 0) return [prefix];
    return Object.entries(value).flatMap(([k, v]) => leaves(v, prefix ? `${prefix}.${k}` : k));
  }

  /** Every path (leaf or map) in values.yaml. */
  function paths(value: unknown, prefix = ""): string[] {
    if (!isRecord(value)) return [];
    return Object.entries(value).flatMap(([k, v]) => {
      const path = prefix ? `${prefix}.${k}` : k;
      return [path, ...paths(v, path)];
    });
  }

  /** The values the table documents; `.interval` after `serviceMonitor.enabled` is `serviceMonitor.interval`. */
  function documented(): string[] {
    const out: string[] = [];
    for (const cell of firstCells(section(read("docs/install.md"), "Values"))) {
      let parent = "";
      for (const span of codeSpans(cell)) {
        const full = span.startsWith(".") ? `${parent}${span}` : span;
        parent = full.includes(".") ? full.slice(0, full.lastIndexOf(".")) : "";
        out.push(full);
      }
    }
    return out;
  }

  it("reads the table", () => {
    expect(documented()).toEqual(
      expect.arrayContaining(["replicaCount", "serviceMonitor.interval", "resources"]),
    );
  });

  it("documents every value (or the map holding it)", () => {
    const docs = new Set(documented());
    const covered = (path: string) =>
      path.split(".").some((_, i, parts) => docs.has(parts.slice(0, i + 1).join(".")));
    expect(leaves(values).filter((p) => !covered(p))).toEqual([]);
  });

  it("documents no value the chart does not have", () => {
    const known = new Set(paths(values));
    expect(documented().filter((p) => !known.has(p))).toEqual([]);
  });
});

describe("docs/operations.md and the metrics", () => {
  const METRIC =
    /\b(?:crescendo|controller_runtime|workqueue|rest_client|leader_election)_[a-z0-9_]*[a-z0-9]\b/g;

  /** Metric names the code registers: the name literals in every (*-)metrics.ts of operator/src. */
  function registered(): Set<string> {
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(dir, e.name));
        else if (e.name === "metrics.ts" || e.name.endsWith("-metrics.ts")) files.push(join(dir, e.name));
      }
    };
    walk(join(ROOT, "operator/src"));
    const names = new Set<string>();
    for (const file of files) {
      for (const m of readFileSync(file, "utf8").matchAll(/["']([a-z_][a-z0-9_]*)["']/g)) {
        const name = m[1] as string;
        if (name.match(METRIC)?.[0] === name) names.add(name);
      }
    }
    return names;
  }

  /** Histogram series carry suffixes the registry does not name. */
  const family = (name: string) => name.replace(/_(bucket|sum|count)$/, "");

  it("finds the registered metrics", () => {
    const names = registered();
    expect(names).toContain("controller_runtime_reconcile_total");
    expect(names).toContain("crescendo_release_rollbacks_total");
    expect(names).toContain("crescendo_squad_ready");
  });

  it("documents every registered metric in the Metrics section", () => {
    const documented = new Set(section(read("docs/operations.md"), "Metrics").match(METRIC) ?? []);
    expect([...registered()].filter((n) => !documented.has(n)).sort()).toEqual([]);
  });

  it("names no metric the code does not register, anywhere in the page", () => {
    const names = registered();
    const named = new Set((read("docs/operations.md").match(METRIC) ?? []).map(family));
    expect([...named].filter((n) => !names.has(n)).sort()).toEqual([]);
  });
});

describe("docs/cli.md and the plugin's help", () => {
  const page = read("docs/cli.md");

  /** `status <release>` … `help [command]` from the plugin's own help. */
  function helpCommands(): string[] {
    const help = overallUsage();
    const block = help.slice(
      help.indexOf("Commands:\n") + "Commands:\n".length,
      help.indexOf("\n\n", help.indexOf("Commands:")),
    );
    return block.split("\n").map((l) => (/^\s+(\S+ [<[]\S+[>\]])/.exec(l)?.[1] ?? "").trim());
  }

  it("lists the same commands as the plugin's help", () => {
    const documented = firstCells(section(page, "Usage")).flatMap(codeSpans);
    expect(helpCommands()).toContain("status <release>");
    expect([...documented].sort()).toEqual([...helpCommands()].sort());
  });

  it("describes every flag the plugin's help shows", () => {
    const help = [overallUsage(), ...COMMANDS.map(commandUsage)].join("\n");
    const flags = new Set(help.match(/(?<![\w-])--[a-z][a-z-]*/g) ?? []);
    expect(flags).toContain("--namespace");
    expect([...flags].filter((f) => !page.includes(f)).sort()).toEqual([]);
  });

  it("mentions no flag the plugin does not have", () => {
    const help = [overallUsage(), ...COMMANDS.map(commandUsage)].join("\n");
    const mentioned = new Set(
      codeSpans(page)
        .filter((s) => s.startsWith("kubectl crescendo") || s.startsWith("-"))
        .flatMap((s) => s.match(/(?<![\w-])--[a-z][a-z-]*/g) ?? []),
    );
    expect([...mentioned].filter((f) => !help.includes(f)).sort()).toEqual([]);
  });
});

describe("README.md and the plugin's commands", () => {
  it("names every command the plugin has, and no other", () => {
    const line = /kubectl plugin: `kubectl crescendo ([^`]+)`/.exec(read("README.md").replace(/\n/g, " "));
    const named = (line?.[1] ?? "").split("|").map((c) => c.trim());
    expect([...named].sort()).toEqual(COMMANDS.map((c) => c.name).sort());
  });
});

describe("references", () => {
  it("point at nothing outside the repository", () => {
    const tracked = execFileSync("git", ["ls-files", "-z"], { cwd: ROOT, encoding: "utf8" }).split("\0");
    const offenders = tracked.filter((file) => {
      if (!file || file === "hack/docs.test.ts" || file === "package-lock.json") return false;
      let text: string;
      try {
        text = read(file);
      } catch {
        return false;
      }
      // The founders' notes stayed behind: neither the files nor their section numbers mean anything here.
      return /\.\.\/shared\b|\bshared\/(DESIGN|STYLE)\.md|\b(DESIGN|STYLE) §/.test(text);
    });
    expect(offenders).toEqual([]);
  });
});
