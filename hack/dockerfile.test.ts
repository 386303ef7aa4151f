/**
 * The Dockerfile, checked without a Docker engine (none here): what can be known from the file
 * itself, the tsconfig that `npm run build` uses, package.json and .dockerignore. Base images
 * pinned, a numeric non-root USER, production dependencies only, exec-form `node` as PID 1 on
 * the file tsc really writes, OCI labels, and a build context that holds what the build reads.
 */
import { builtinModules } from "node:module";
import { readFileSync } from "node:fs";
import { join, posix, relative } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { imageNodeOptions } from "./bench/operator.js";

const ROOT = join(import.meta.dirname, "..");
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  type?: string;
  license?: string;
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
};

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}
interface Stage {
  from: string;
  name?: string;
  instructions: Instruction[];
}

/** Splits a Dockerfile into instructions: comments dropped, `\` continuations joined. */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = "";
  let start = 0;
  text.split("\n").forEach((raw, i) => {
    const line = raw.trimEnd();
    if (pending === "" && (line.trim() === "" || line.trimStart().startsWith("#"))) return;
    if (pending !== "" && line.trimStart().startsWith("#")) return;
    if (pending === "") start = i + 1;
    if (line.endsWith("\\")) {
      pending += line.slice(0, -1) + " ";
      return;
    }
    const full = (pending + line).trim();
    pending = "";
    const m = /^(\S+)\s*(.*)$/s.exec(full)!;
    out.push({ keyword: m[1]!.toUpperCase(), args: m[2]!.trim(), line: start });
  });
  return out;
}

function stagesOf(instructions: Instruction[]): Stage[] {
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === "FROM") {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!m) throw new Error(`line ${ins.line}: cannot parse FROM ${ins.args}`);
      stages.push({ from: m[1]!, name: m[2]?.toLowerCase(), instructions: [] });
    } else {
      stages.at(-1)?.instructions.push(ins);
    }
  }
  return stages;
}

const dockerfile = readFileSync(join(ROOT, "Dockerfile"), "utf8");
const instructions = parseDockerfile(dockerfile);
const stages = stagesOf(instructions);
const final = stages.at(-1)!;
const stageByName = (name: string) => stages.find((s) => s.name === name.toLowerCase());
const of = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword);

/** The external image a stage starts from, following `FROM <earlier stage>`. */
function baseImage(stage: Stage): string {
  const parent = stageByName(stage.from);
  return parent && parent !== stage ? baseImage(parent) : stage.from;
}

/** `COPY --from=<stage> <src...> <dest>` of a stage. */
function copiesFrom(stage: Stage): { from?: string; sources: string[]; dest: string }[] {
  return of(stage, "COPY").map((ins) => {
    const words = ins.args.split(/\s+/);
    const flags = words.filter((w) => w.startsWith("--"));
    const paths = words.filter((w) => !w.startsWith("--"));
    const from = flags.find((f) => f.startsWith("--from="))?.slice("--from=".length);
    return { from, sources: paths.slice(0, -1), dest: paths.at(-1)! };
  });
}

/** The stage's working directory at its end (absolute). */
function workdir(stage: Stage): string {
  return of(stage, "WORKDIR").reduce((dir, ins) => posix.resolve(dir, ins.args), "/");
}

/** The .js file `npm run build` writes for `source`, from the same tsconfig tsc reads. */
function emittedFile(source: string): string {
  const match = /^tsc -p (\S+)$/.exec(pkg.scripts.build ?? "");
  if (!match) throw new Error(`npm run build is "${pkg.scripts.build}", not "tsc -p <config>"`);
  const parsed = ts.getParsedCommandLineOfConfigFile(
    join(ROOT, match[1]!),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, "\n"));
      },
    },
  );
  if (!parsed) throw new Error(`cannot read ${match[1]}`);
  const abs = join(ROOT, source);
  expect(parsed.fileNames, `${source} is compiled by ${match[1]}`).toContain(abs);
  expect(parsed.options.noEmit, `${match[1]} emits`).not.toBe(true);
  const js = ts.getOutputFileNames(parsed, abs, false).find((f) => f.endsWith(".js"));
  if (!js) throw new Error(`tsc emits no .js for ${source}`);
  return relative(ROOT, js);
}

/** Files `npm run build` compiles. */
function buildFiles(): string[] {
  const parsed = ts.getParsedCommandLineOfConfigFile(
    join(ROOT, "tsconfig.build.json"),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: () => {},
    },
  );
  return parsed?.fileNames ?? [];
}

/** Module specifiers that survive compilation (`import type` and `export type` are erased). */
function runtimeImports(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && !node.importClause?.isTypeOnly) {
      found.push((node.moduleSpecifier as ts.StringLiteral).text);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && !node.isTypeOnly) {
      found.push((node.moduleSpecifier as ts.StringLiteral).text);
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      found.push(node.arguments[0].text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/**
 * Docker's .dockerignore semantics, for the patterns this repository uses: patterns in order,
 * the last one that matches a path or one of its parent directories decides, `!` re-includes.
 */
function ignored(patterns: string[], path: string): boolean {
  const toRegex = (glob: string) =>
    new RegExp(
      "^" +
        glob
          .replace(/^\/+|\/+$/g, "")
          .split(/(\*\*\/|\*\*|\*|\?)/)
          .map((part) =>
            part === "**/"
              ? "(?:.*/)?"
              : part === "**"
                ? ".*"
                : part === "*"
                  ? "[^/]*"
                  : part === "?"
                    ? "[^/]"
                    : part.replace(/[.+^${}()|[\]\\]/g, "\\$&"),
          )
          .join("") +
        "$",
    );
  const prefixes = path.split("/").map((_, i, parts) => parts.slice(0, i + 1).join("/"));
  let excluded = false;
  for (const raw of patterns) {
    const negated = raw.startsWith("!");
    const regex = toRegex(negated ? raw.slice(1) : raw);
    if (prefixes.some((p) => regex.test(p))) excluded = !negated;
  }
  return excluded;
}

describe("Dockerfile", () => {
  it("gives the benchmark the NODE_OPTIONS the image runs with", () => {
    expect(imageNodeOptions()).toMatch(/--max-semi-space-size=\d+/);
    expect(imageNodeOptions('ENV NODE_ENV=production NODE_OPTIONS="--a --b"\n')).toBe("--a --b");
    expect(imageNodeOptions("ENV NODE_ENV=production\n")).toBe("");
  });

  it("is multi-stage: a build stage, a production-dependencies stage, a runtime", () => {
    expect(stages.length).toBeGreaterThanOrEqual(3);
    expect(stages.every((s) => s.name)).toBe(true);
  });

  it("starts every stage from a Node.js 24 image pinned by version or digest, never latest", () => {
    for (const stage of stages) {
      const image = baseImage(stage);
      expect(image, `stage ${stage.name}`).not.toMatch(/:latest$|^[^:@]+$/);
      const pinned =
        /^(docker\.io\/(library\/)?)?node:24\.\d+\.\d+-(bookworm|trixie)-slim(@sha256:[a-f0-9]{64})?$/.test(
          image,
        ) || /^gcr\.io\/distroless\/nodejs24-debian\d+(:[\w.-]+)?@sha256:[a-f0-9]{64}$/.test(image);
      expect(pinned, `stage ${stage.name} starts from ${image}`).toBe(true);
    }
  });

  it("runs as a numeric non-root user", () => {
    const user = of(final, "USER").at(-1)?.args;
    expect(user).toMatch(/^\d+(:\d+)?$/);
    expect(Number(user!.split(":")[0])).toBeGreaterThan(0);
  });

  it("ships only production dependencies (npm ci --omit=dev), never npm install", () => {
    const modules = copiesFrom(final).filter((c) => c.sources.some((s) => s.endsWith("node_modules")));
    expect(modules).toHaveLength(1);
    const deps = stageByName(modules[0]!.from ?? "");
    expect(deps, "node_modules come from another stage").toBeDefined();
    const installs = of(deps!, "RUN").map((r) => r.args);
    expect(installs.some((r) => /\bnpm ci\b[^&;|]*--omit=dev/.test(r))).toBe(true);
    expect(of(final, "RUN").filter((r) => /\bnpm (ci|install|i)\b/.test(r.args))).toEqual([]);
    expect(instructions.filter((i) => /\bnpm (install|i)\b/.test(i.args))).toEqual([]);
  });

  it("builds with npm ci and npm run build, and copies only the output to the runtime", () => {
    const dist = copiesFrom(final).filter((c) => c.sources.some((s) => s.includes("/dist")));
    expect(dist).toHaveLength(1);
    const build = stageByName(dist[0]!.from ?? "")!;
    const runs = of(build, "RUN").map((r) => r.args);
    expect(runs.some((r) => /^npm ci\b/.test(r) && !r.includes("--omit"))).toBe(true);
    expect(runs).toContain("npm run build");
  });

  it("starts node directly, exec form, on the file `npm run build` writes for operator/src/main.ts", () => {
    const entrypoints = of(final, "ENTRYPOINT");
    expect(entrypoints).toHaveLength(1);
    const argv = JSON.parse(entrypoints[0]!.args) as string[];
    expect(argv).toEqual(["node", emittedFile("operator/src/main.ts")]);
    expect(argv).toEqual(["node", "dist/operator/src/main.js"]);
    expect(of(final, "CMD")).toEqual([]);
    const code = instructions.map((i) => `${i.keyword} ${i.args}`).join("\n");
    expect(code).not.toMatch(/\btini\b|dumb-init/);
  });

  it("puts the entry file where the ENTRYPOINT looks for it", () => {
    const entry = posix.join(workdir(final), "dist/operator/src/main.js");
    const dist = copiesFrom(final).find((c) => c.sources.some((s) => s.includes("/dist")))!;
    const build = stageByName(dist.from!)!;
    const dest = posix.resolve(workdir(final), dist.dest);
    const src = posix.resolve(workdir(build), dist.sources[0]!);
    expect(entry.startsWith(dest + "/")).toBe(true);
    // The same relative path inside the build stage, where tsc wrote it.
    expect(posix.join(src, relative(dest, entry))).toBe(
      posix.join(workdir(build), emittedFile("operator/src/main.ts")),
    );
  });

  it("keeps package.json beside dist at run time (it makes the .js files ES modules)", () => {
    expect(pkg.type).toBe("module");
    expect(copiesFrom(final).some((c) => c.from === undefined && c.sources.includes("package.json"))).toBe(
      true,
    );
  });

  it("carries the OCI labels", () => {
    const labels = of(final, "LABEL")
      .map((l) => l.args)
      .join(" ");
    for (const key of ["title", "description", "version", "revision", "licenses"]) {
      expect(labels).toContain(`org.opencontainers.image.${key}=`);
    }
    expect(labels).toContain(`org.opencontainers.image.licenses="${pkg.license}"`);
  });

  it("exposes the health/metrics and OFREP ports", () => {
    expect(of(final, "EXPOSE").map((e) => e.args)).toEqual(["8081 8016"]);
  });
});

describe("the image's code", () => {
  it("imports at run time only Node built-ins, its own files and production dependencies", () => {
    const builtins = new Set(builtinModules);
    const problems: string[] = [];
    const files = buildFiles();
    expect(files).toContain(join(ROOT, "operator/src/main.ts"));
    for (const file of files) {
      for (const spec of runtimeImports(file)) {
        if (spec.startsWith(".")) {
          const target = relative(ROOT, join(file, "..", spec));
          if (!target.startsWith("operator/src/"))
            problems.push(`${relative(ROOT, file)}: ${spec} (outside the build)`);
          continue;
        }
        if (spec.startsWith("node:") || builtins.has(spec)) continue;
        const name = spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]!;
        if (!(name in pkg.dependencies))
          problems.push(`${relative(ROOT, file)}: ${spec} (not a production dependency)`);
      }
    }
    expect(problems).toEqual([]);
  });
});

describe(".dockerignore", () => {
  const patterns = readFileSync(join(ROOT, ".dockerignore"), "utf8")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));

  it("keeps out node_modules, dist, .git, local state and tests", () => {
    for (const path of [
      "node_modules/x/index.js",
      "dist/operator/src/main.js",
      ".git/HEAD",
      ".tmp/x.log",
      "e2e/squad.test.ts",
    ]) {
      expect(ignored(patterns, path), path).toBe(true);
    }
    expect(ignored(patterns, "operator/src/runtime/client.test.ts")).toBe(true);
  });

  it("lets in everything the Dockerfile copies from the context and the build compiles", () => {
    const fromContext = stages
      .flatMap((s) => copiesFrom(s).filter((c) => c.from === undefined))
      .flatMap((c) => c.sources);
    expect(fromContext.length).toBeGreaterThan(0);
    for (const source of fromContext) expect(ignored(patterns, source), source).toBe(false);
    for (const file of buildFiles()) {
      const path = relative(ROOT, file);
      expect(ignored(patterns, path), path).toBe(false);
      expect(
        fromContext.some((s) => path === s || path.startsWith(s.replace(/\/?$/, "/"))),
        `${path} is copied into the build stage`,
      ).toBe(true);
    }
  });
});
