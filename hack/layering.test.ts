/**
 * The shape of operator/src, checked on every unit run: no import cycles between its files, and
 * no import against the layering (docs/architecture.md). A cycle makes module initialisation
 * order matter and hides which file owns a type; a layer importing upwards makes the generic
 * runtime depend on the domain it is meant to serve. Type-only imports count too: they are how
 * a cycle starts.
 *
 * Imports are read with a regular expression over the sources (relative specifiers only; packages
 * are not part of the graph), which is enough for code that prettier formats.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..");
const SRC = join(ROOT, "operator/src");

/**
 * What each top-level part of operator/src may import besides itself. A part not listed here
 * (a new folder) fails the check until its place in the layering is decided.
 */
const MAY_IMPORT: Record<string, readonly string[]> = {
  // Logger and metrics: read the runtime's types (request info, queue metrics) to record them.
  observability: ["runtime"],
  // The generic controller runtime: knows Kubernetes, not Crescendo.
  runtime: ["observability"],
  // The zod schemas of the CRDs and what is derived from them alone.
  api: ["runtime"],
  analysis: ["api", "runtime", "observability"],
  // Delivery metrics (DORA keys): pure functions over the Releases' history, read by the Squad
  // controller and by the kubectl plugin alike.
  delivery: ["api"],
  // Incident response: pure correlation of alerts with the changes that may have caused them.
  incidents: ["api"],
  flags: ["api", "runtime", "observability"],
  controllers: ["api", "runtime", "analysis", "flags", "observability", "delivery", "incidents"],
  // The kubectl plugin reads what the operator wrote; it must not pull the operator in.
  cli: ["api", "runtime", "delivery"],
  cache: ["api", "runtime"],
  config: ["api", "runtime", "observability"],
  main: ["api", "runtime", "controllers", "flags", "analysis", "observability", "cache", "config"],
};

/** Rules the issue tracker and the docs state in words; kept separate so a failure names them. */
const FORBIDDEN: readonly [from: string, to: string][] = [
  ["runtime", "api"],
  ["runtime", "controllers"],
  ["runtime", "flags"],
  ["api", "controllers"],
];

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(full));
    else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".test.ts")) out.push(full);
  }
  return out.sort();
}

/** Relative import specifiers: `import … from`, `export … from`, `import "…"`, `import("…")`. */
export function relativeImports(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const found: string[] = [];
  const patterns = [
    /^\s*(?:import|export)\b[^;]*?\bfrom\s+["'](\.{1,2}\/[^"']+)["']/gm,
    /^\s*import\s+["'](\.{1,2}\/[^"']+)["']/gm,
    /\bimport\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g,
  ];
  for (const pattern of patterns) for (const m of code.matchAll(pattern)) found.push(m[1] as string);
  return found;
}

/** The repository-relative file an import resolves to (`./x.js` is `./x.ts` in the sources). */
function target(from: string, specifier: string): string {
  return relative(ROOT, resolve(dirname(from), specifier.replace(/\.js$/, ".ts")));
}

/** `operator/src/controllers/release/plan.ts` → `controllers`; `operator/src/main.ts` → `main`. */
function partOf(file: string): string {
  const rest = relative("operator/src", file);
  return rest.includes("/") ? (rest.split("/")[0] as string) : rest.replace(/\.ts$/, "");
}

const graph = new Map<string, string[]>(
  sourceFiles(SRC).map((file) => [
    relative(ROOT, file),
    relativeImports(readFileSync(file, "utf8")).map((s) => target(file, s)),
  ]),
);

/**
 * The cycle each back edge of a depth-first search closes, as its files: not every elementary
 * cycle, but none when there is no cycle and at least one when there is.
 */
function cycles(edges: ReadonlyMap<string, readonly string[]>): string[][] {
  const found = new Map<string, string[]>();
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (node: string) => {
    state.set(node, "open");
    stack.push(node);
    for (const next of edges.get(node) ?? []) {
      if (state.get(next) === "open") {
        const cycle = stack.slice(stack.indexOf(next));
        // One name per cycle whichever file the search entered it by.
        const start = cycle.indexOf([...cycle].sort()[0] as string);
        const key = [...cycle.slice(start), ...cycle.slice(0, start)];
        found.set(key.join(" → "), key);
      } else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, "done");
  };
  for (const node of [...edges.keys()].sort()) if (!state.has(node)) visit(node);
  return [...found.values()];
}

describe("operator/src layering", () => {
  it("reads every kind of relative import", () => {
    const source = [
      'import { a } from "./a.js";',
      'import type { B } from "../b.js";',
      "import {\n  c,\n  type D,\n} from './c.js';",
      'export { e } from "./e.js";',
      'export * from "./f.js";',
      'import "./g.js";',
      'const h = await import("./h.js");',
      'import { z } from "zod";',
      '// import { no } from "./commented.js";',
    ].join("\n");
    expect(relativeImports(source)).toEqual([
      "./a.js",
      "../b.js",
      "./c.js",
      "./e.js",
      "./f.js",
      "./g.js",
      "./h.js",
    ]);
  });

  it("finds the source files and their imports", () => {
    expect(graph.size).toBeGreaterThan(50);
    expect(graph.get("operator/src/main.ts")).toContain("operator/src/runtime/manager.ts");
    for (const [file, imports] of graph) {
      for (const imported of imports) expect(graph.has(imported), `${file} imports ${imported}`).toBe(true);
    }
  });

  it("finds a cycle when there is one", () => {
    const edges = new Map([
      ["a", ["b"]],
      ["b", ["c"]],
      ["c", ["a", "d"]],
      ["d", []],
    ]);
    expect(cycles(edges)).toEqual([["a", "b", "c"]]);
  });

  it("has no import cycles", () => {
    expect(cycles(graph).map((c) => [...c, c[0]].join(" → "))).toEqual([]);
  });

  it("imports only along the layering", () => {
    const wrong: string[] = [];
    for (const [file, imports] of graph) {
      const from = partOf(file);
      const allowed = MAY_IMPORT[from];
      if (!allowed) {
        wrong.push(`${file}: ${from} has no place in the layering (MAY_IMPORT)`);
        continue;
      }
      for (const imported of imports) {
        const to = partOf(imported);
        if (to !== from && !allowed.includes(to)) wrong.push(`${file} → ${imported}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it("keeps the stated rules in the table", () => {
    for (const [from, to] of FORBIDDEN)
      expect(MAY_IMPORT[from], `${from} may not import ${to}`).not.toContain(to);
  });
});
