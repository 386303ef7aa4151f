/**
 * Every shell script under hack/ and .ci/ passes shellcheck (the Debian package; .ci/run
 * installs it). Scripts are found by content, not by name: a `bash`/`sh` shebang, or a
 * `# shellcheck shell=` directive in the first lines (files meant to be sourced, like lib.sh).
 */
import { execFile } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, "..");
const SKIP_DIRS = new Set(["node_modules", ".git", "dist"]);

/** Shell scripts under `dir`, as paths relative to the repository root. */
function shellScripts(dir: string): string[] {
  const found: string[] = [];
  const walk = (path: string) => {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      const full = join(path, entry.name);
      if (entry.isDirectory()) {
        if (!SKIP_DIRS.has(entry.name)) walk(full);
      } else if (entry.isFile() && isShell(readFileSync(full).subarray(0, 512).toString("utf8"))) {
        found.push(relative(ROOT, full));
      }
    }
  };
  walk(join(ROOT, dir));
  return found.sort();
}

function isShell(head: string): boolean {
  return (
    hasShebang(head) ||
    head
      .split("\n")
      .slice(0, 5)
      .some((l) => /^#\s*shellcheck\s+shell=/.test(l))
  );
}

function hasShebang(head: string): boolean {
  return /^#!\s*(\/usr\/bin\/env\s+)?(\/bin\/|\/usr\/bin\/)?(ba|da)?sh\b/.test(head);
}

async function shellcheckVersion(): Promise<string | undefined> {
  try {
    const { stdout } = await run("shellcheck", ["--version"]);
    return /version:\s*(\S+)/.exec(stdout)?.[1];
  } catch {
    return undefined;
  }
}

const version = await shellcheckVersion();
const scripts = [...shellScripts("hack"), ...shellScripts(".ci")];

describe("shell scripts", () => {
  it("are found (hack/cluster, hack/prometheus, .ci/run)", () => {
    expect(scripts).toEqual(expect.arrayContaining([".ci/run", "hack/cluster/up", "hack/cluster/lib.sh"]));
  });

  if (version === undefined) {
    console.warn("[shellcheck.test] shellcheck is not installed: apt-get install shellcheck (.ci/run does)");
    it.skip("shellcheck is not installed: apt-get install shellcheck (.ci/run does)", () => {});
    return;
  }

  // -x follows `source`d files; each directory's .shellcheckrc resolves them next to the script.
  // A file with no shebang is only ever sourced: the variables it sets are its includers' to use
  // (SC2034 "appears unused" would flag every one of them).
  it.each(scripts)(`%s passes shellcheck ${version}`, async (script) => {
    const sourced = !hasShebang(readFileSync(join(ROOT, script), "utf8"));
    const args = ["-x", "--format=gcc", ...(sourced ? ["--exclude=SC2034"] : []), script];
    const result = await run("shellcheck", args, { cwd: ROOT }).then(
      () => "",
      (err: { stdout?: string; message: string }) => err.stdout || err.message,
    );
    expect(result).toBe("");
  });
});
