/**
 * The kubectl plugin for the demo, run as users run it: `kubectl crescendo …`. kubectl finds a
 * plugin as an executable named `kubectl-crescendo` on the PATH; a fresh checkout has not built
 * or installed it (`npm run build && npm install -g .`), so the demo puts a small launcher of
 * that name, running the plugin's source through tsx, in a temp dir at the front of the PATH.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, "../..");

export interface Kubectl {
  /** The directory holding `kubectl-crescendo`, for a user's own PATH (`--keep`). */
  pluginDir: string;
  /** Runs `kubectl <args>` with the plugin on the PATH; resolves with its stdout, then its stderr. */
  run(args: string[]): Promise<string>;
  stop(): Promise<void>;
}

/** `kubectl` (the control plane's own) against `kubeconfig`, with `kubectl-crescendo` installed. */
export async function kubectlWithPlugin(kubectl: string, kubeconfig: string): Promise<Kubectl> {
  const pluginDir = await mkdtemp(join(tmpdir(), "crescendo-demo-plugin-"));
  // Absolute paths: kubectl runs the plugin from whatever directory the user is in.
  const launcher = [
    "#!/bin/sh",
    `exec ${quote(process.execPath)} --import ${quote(import.meta.resolve("tsx"))} ${quote(join(ROOT, "operator/src/cli/main.ts"))} "$@"`,
    "",
  ].join("\n");
  await writeFile(join(pluginDir, "kubectl-crescendo"), launcher, { mode: 0o755 });
  const env = {
    ...process.env,
    KUBECONFIG: kubeconfig,
    PATH: `${pluginDir}${delimiter}${process.env.PATH ?? ""}`,
  };
  return {
    pluginDir,
    async run(args) {
      try {
        const { stdout, stderr } = await run(kubectl, args, { env, timeout: 180_000 });
        return stdout + stderr;
      } catch (err) {
        const e = err as { stdout?: string; stderr?: string; message: string };
        throw new Error(`kubectl ${args.join(" ")} failed: ${e.message}\n${e.stdout ?? ""}${e.stderr ?? ""}`);
      }
    },
    stop: () => rm(pluginDir, { recursive: true, force: true }),
  };
}

/** A single-quoted shell word. */
function quote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
