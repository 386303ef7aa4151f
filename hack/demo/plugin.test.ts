/**
 * The demo's `kubectl-crescendo` launcher works from a fresh checkout (no build, no global
 * install): found on the PATH it puts first, it runs the plugin's source, from any directory.
 */
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { kubectlWithPlugin } from "./plugin.js";

describe("the demo's kubectl plugin launcher", () => {
  it("is found on the PATH as kubectl finds plugins, runs the plugin, and is removed by stop", async () => {
    // The launcher itself in kubectl's place: kubectl would exec the same file by the same lookup.
    const k = await kubectlWithPlugin("kubectl-crescendo", "/nonexistent/kubeconfig");
    try {
      const help = await k.run(["--help"]);
      expect(help).toContain("kubectl crescendo <command>");
      expect(help).toContain("undo <release>");
      expect(help).toContain("incidents [squad]");
    } finally {
      await k.stop();
    }
    expect(existsSync(k.pluginDir)).toBe(false);
  }, 30_000);
});
