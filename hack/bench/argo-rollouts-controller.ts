/**
 * The Argo Rollouts controller as a benchmark peer: built from its Go module by
 * hack/bench/argo-rollouts/build (cached under ~/.cache/crescendo), its CRDs installed from the
 * same module's manifests/crds, and the controller run against the bench's control plane with its
 * own defaults (leader election on, QPS 40, burst 80), as `kubectl apply -f install.yaml` runs it.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { parseAllDocuments } from "yaml";
import type { KubeClient } from "../../operator/src/runtime/client.js";
import { CustomResourceDefinitionResource } from "../../operator/src/runtime/resources.js";
import type { KubeObject, Resource } from "../../operator/src/runtime/types.js";
import { freePort } from "../local-env.js";
import { cpuSeconds, ROOT, rssBytes } from "./cluster.js";
import { sleep } from "./run.js";

const run = promisify(execFile);
const MODULE_DIR = join(ROOT, "hack/bench/argo-rollouts");

export const RolloutResource: Resource = {
  group: "argoproj.io",
  version: "v1alpha1",
  kind: "Rollout",
  plural: "rollouts",
  namespaced: true,
};
export const AnalysisTemplateResource: Resource = {
  group: "argoproj.io",
  version: "v1alpha1",
  kind: "AnalysisTemplate",
  plural: "analysistemplates",
  namespaced: true,
};
export const AnalysisRunResource: Resource = {
  group: "argoproj.io",
  version: "v1alpha1",
  kind: "AnalysisRun",
  plural: "analysisruns",
  namespaced: true,
};
export const ReplicaSetResource: Resource = {
  group: "apps",
  version: "v1",
  kind: "ReplicaSet",
  plural: "replicasets",
  namespaced: true,
};

/** The build's binary, its version and the module source (for the CRDs). */
export interface ArgoRolloutsBuild {
  binary: string;
  version: string;
  moduleDir: string;
}

/** Builds the controller if it is not cached (minutes the first time; waits on the build lock). */
export async function buildArgoRollouts(): Promise<ArgoRolloutsBuild> {
  const env = { ...process.env, GOTOOLCHAIN: "local", GOFLAGS: "-mod=mod" };
  const built = await run(join(MODULE_DIR, "build"), [], { env, maxBuffer: 16 << 20, timeout: 3600_000 });
  const binary = built.stdout.trim().split("\n").pop()!;
  const { stdout } = await run(
    "go",
    ["list", "-m", "-f", "{{.Dir}} {{.Version}}", "github.com/argoproj/argo-rollouts"],
    { cwd: MODULE_DIR, env },
  );
  const [moduleDir, version] = stdout.trim().split(" ");
  return { binary, version: version!, moduleDir: moduleDir! };
}

/** Applies Argo Rollouts' CRDs (manifests/crds of the module) and waits until each is Established. */
export async function installArgoRolloutsCrds(client: KubeClient, build: ArgoRolloutsBuild): Promise<void> {
  const dir = join(build.moduleDir, "manifests/crds");
  const names: string[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith("-crd.yaml"))) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, file), "utf8"))) {
      const crd = doc.toJS() as KubeObject | null;
      if (!crd) continue;
      await client.apply(crd, CustomResourceDefinitionResource, {
        fieldManager: "crescendo-bench",
        force: true,
      });
      names.push(crd.metadata.name!);
    }
  }
  const deadline = Date.now() + 60_000;
  for (const name of names) {
    for (;;) {
      const crd = await client.get<KubeObject>(CustomResourceDefinitionResource, name);
      const conds = (crd?.status as { conditions?: { type: string; status: string }[] } | undefined)
        ?.conditions;
      if (conds?.some((c) => c.type === "Established" && c.status === "True")) break;
      if (Date.now() > deadline) throw new Error(`CRD ${name} not Established after 60 s`);
      await sleep(200);
    }
  }
}

/** A running controller process, its log in `logFile`. */
export class ArgoRolloutsController {
  private readonly exited: Promise<number | null>;

  private constructor(
    private readonly child: ChildProcess,
    readonly healthzPort: number,
    readonly metricsPort: number,
  ) {
    this.exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
  }

  static async start(
    build: ArgoRolloutsBuild,
    kubeconfig: string,
    logFile: string,
    args: string[] = [],
  ): Promise<ArgoRolloutsController> {
    const [healthzPort, metricsPort] = [await freePort(), await freePort()];
    mkdirSync(join(logFile, ".."), { recursive: true });
    const fd = openSync(logFile, "a");
    const child = spawn(
      build.binary,
      [
        "--kubeconfig",
        kubeconfig,
        "--healthzPort",
        String(healthzPort),
        "--metricsPort",
        String(metricsPort),
        ...args,
      ],
      {
        // Its leader-election Lease goes to POD_NAMESPACE (in a cluster: the downward API).
        env: { ...process.env, POD_NAMESPACE: "default" },
        stdio: ["ignore", fd, fd],
        detached: true,
      },
    );
    closeSync(fd);
    const c = new ArgoRolloutsController(child, healthzPort, metricsPort);
    await c.waitHealthy(60_000, logFile);
    return c;
  }

  private async waitHealthy(timeoutMs: number, logFile: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!this.alive) throw new Error(`the argo-rollouts controller exited; see ${logFile}`);
      try {
        if ((await fetch(`http://127.0.0.1:${this.healthzPort}/healthz`)).ok) return;
      } catch {
        // not listening yet
      }
      await sleep(200);
    }
    throw new Error(`the argo-rollouts controller was not healthy after ${timeoutMs} ms; see ${logFile}`);
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  cpuSeconds(): number {
    return cpuSeconds(this.pid) ?? 0;
  }

  rssBytes(): number | undefined {
    return rssBytes(this.pid);
  }

  /** Its Prometheus metrics, as text. */
  async metrics(): Promise<string> {
    return (await fetch(`http://127.0.0.1:${this.metricsPort}/metrics`)).text();
  }

  async stop(graceMs = 30_000): Promise<void> {
    if (!this.alive) return;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    try {
      await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}
