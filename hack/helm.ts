/**
 * The helm binary hack/cluster/build pins (versions.env) and caches, and `helm template` of
 * charts/crescendo, for the tests that check what the chart renders.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { parseAllDocuments } from "yaml";

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, "..");
export const CHART = join(ROOT, "charts/crescendo");

/** Where hack/cluster/build puts helm (see hack/cluster/lib.sh and versions.env). */
export function helmPath(): string {
  const versions = readFileSync(join(ROOT, "hack/cluster/versions.env"), "utf8");
  const version = /^HELM_VERSION=(\S+)$/m.exec(versions)?.[1];
  if (!version) throw new Error("hack/cluster/versions.env has no HELM_VERSION");
  const cache =
    process.env.CRESCENDO_CACHE_DIR ??
    join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "crescendo");
  return join(cache, "bin", `helm-${version}`);
}

export interface RenderedObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

/** `helm template crescendo charts/crescendo` with `--set` values; throws with helm's message. */
export async function helmTemplate(namespace: string, set: string[] = []): Promise<RenderedObject[]> {
  const args = [
    "template",
    "crescendo",
    CHART,
    "--namespace",
    namespace,
    ...set.flatMap((s) => ["--set", s]),
  ];
  let stdout: string;
  try {
    ({ stdout } = await run(helmPath(), args, { maxBuffer: 16 * 1024 * 1024 }));
  } catch (err) {
    throw new Error(`helm template failed: ${(err as { stderr?: string }).stderr ?? String(err)}`);
  }
  return parseAllDocuments(stdout)
    .map((d) => d.toJS() as RenderedObject | null)
    .filter((o): o is RenderedObject => o !== null);
}
