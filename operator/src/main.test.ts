import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

describe("the operator's entry point", () => {
  it("prints the usage on stdout and exits 0 for --help, without a log line", () => {
    const run = spawnSync(process.execPath, ["--import", "tsx", "operator/src/main.ts", "--help"], {
      cwd: root,
      encoding: "utf8",
      timeout: 60_000,
      env: { ...process.env, KUBECONFIG: "/nonexistent" },
    });
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^Usage: crescendo \[flags\]/);
    expect(run.stdout).toContain("--kubeconfig PATH");
    expect(run.stderr).toBe("");
    expect(run.stdout).not.toContain('"level"');
  }, 60_000);
});
