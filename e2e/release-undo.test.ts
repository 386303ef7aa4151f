/**
 * `kubectl crescendo undo` end to end, against a real apiserver (KWOK nodes run the pods) and the
 * operator's real entry point: v1 then v2 promoted, the real plugin (a child process, as kubectl
 * runs it) undoes to v1, whose pods serve behind the stable Service at once while spec.template
 * still says v2; `kubectl get release` shows the override; applying v3 ends it and rolls out.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ReleaseResource } from "../operator/src/api/kinds.js";
import type { ReleaseStatus } from "../operator/src/api/release.js";
import { revisionOf } from "../operator/src/controllers/release/revision.js";
import type { KubeClient } from "../operator/src/runtime/client.js";
import { DeploymentResource, ServiceResource } from "../operator/src/runtime/resources.js";
import type { KubeObject } from "../operator/src/runtime/types.js";
import { kubeconfigPath, kubectl, testClient, waitFor } from "./support/kube.js";
import { OperatorProcess } from "./support/operator.js";
import { podTemplate, releaseHelpers } from "./support/releases.js";

const ROOT = join(import.meta.dirname, "..");
const NS = "undo-e2e";
const NAME = "shop";
const FIELD_MANAGER = "e2e-undo";
const run = promisify(execFile);

let client: KubeClient;
let operator: OperatorProcess;
const context = () => operator.tail(60);

const releases = releaseHelpers({
  client: () => client,
  fieldManager: FIELD_MANAGER,
  context,
  waitTimeoutMs: 120_000,
});
const template = (version: string) => podTemplate(NAME, version);

async function applyRelease(version: string): Promise<void> {
  await releases.applyRelease(NS, NAME, {
    version,
    replicas: 2,
    template: template(version),
    service: { ports: [{ name: "http", port: 80 }] },
    strategy: { canary: { steps: [{ setWeight: 50 }] } },
  });
}

const waitRelease = (description: string, accept: (s: ReleaseStatus) => boolean): Promise<ReleaseStatus> =>
  releases.waitRelease(NS, NAME, description, accept);

/** Runs `kubectl-crescendo` from source as a child process, as kubectl would run the plugin. */
async function plugin(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      ["--import", "tsx", join(ROOT, "operator/src/cli/main.ts"), ...args],
      { cwd: ROOT, env: { ...process.env, KUBECONFIG: kubeconfigPath() }, timeout: 90_000 },
    );
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

beforeAll(async () => {
  client = testClient();
  await releases.createNamespace(NS);
  operator = await OperatorProcess.start({ kubeconfig: kubeconfigPath(), name: "undo" });
});

afterAll(async () => {
  await operator?.stop();
  client?.close();
});

describe("kubectl crescendo undo", () => {
  it("returns to v1 at once, records the override while the spec says v2, and a new template ends it", async () => {
    const r1 = revisionOf(template("1.0.0"));
    const r2 = revisionOf(template("2.0.0"));
    const r3 = revisionOf(template("3.0.0"));
    await applyRelease("1.0.0");
    await waitRelease("Healthy at 1.0.0", (s) => s.phase === "Healthy" && s.stableRevision === r1);
    await applyRelease("2.0.0");
    await waitRelease("2.0.0 promoted", (s) => s.phase === "Healthy" && s.stableRevision === r2);

    // Within the window: no confirmation needed, and none asked (no terminal here).
    const undone = await plugin(["undo", NAME, "-n", NS, "--wait", "--timeout", "60s"]);
    expect(undone.stderr).toBe("");
    expect(undone.code).toBe(0);
    expect(undone.stdout).toContain(`undoing release "${NAME}" to 1.0.0 (revision ${r1})`);
    expect(undone.stdout).toContain(`done: returned to 1.0.0 (revision ${r1})`);

    const status = await waitRelease(
      "Healthy on the undone v1",
      (s) => s.phase === "Healthy" && s.stableRevision === r1,
    );
    expect(status.override).toMatchObject({ revision: r1, version: "1.0.0", specRevision: r2 });
    expect(status.canaryRevision).toBeUndefined();
    // v1's pods serve: the stable Service selects them and they are available at full size.
    const service = await client.get<KubeObject & { spec: { selector: Record<string, string> } }>(
      ServiceResource,
      NAME,
      NS,
    );
    expect(service?.spec.selector["crescendo.dev/revision"]).toBe(r1);
    await waitFor(
      `Deployment ${NAME}-${r1} available at 2`,
      () =>
        client.get<KubeObject & { status?: { availableReplicas?: number } }>(
          DeploymentResource,
          `${NAME}-${r1}`,
          NS,
        ),
      (d) => d?.status?.availableReplicas === 2,
      { timeoutMs: 60_000, context },
    );
    // The spec is as it was written: GitOps sees no drift.
    const release = await client.get<KubeObject & { spec: { version: string } }>(ReleaseResource, NAME, NS);
    expect(release?.spec.version).toBe("2.0.0");

    const table = await kubectl(["get", "releases", NAME, "-n", NS]);
    expect(table.code).toBe(0);
    const [header, row] = table.stdout.trim().split("\n");
    expect(header).toMatch(/\bOVERRIDE\b/);
    expect(row).toContain(r1);

    // An older target than the window needs --yes without a terminal; an unknown one is refused.
    const unknown = await plugin(["undo", NAME, "-n", NS, "--to-revision", "nosuchrev", "--yes"]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("revision nosuchrev is not kept in a ControllerRevision");

    await applyRelease("3.0.0");
    const rolled = await waitRelease(
      "3.0.0 promoted after the override ended",
      (s) => s.phase === "Healthy" && s.stableRevision === r3,
    );
    expect(rolled.override).toBeUndefined();
    expect(rolled.history?.some((h) => h.revision === r3 && h.outcome === "Promoted")).toBe(true);
  });
});
