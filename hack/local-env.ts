/**
 * The local environment the e2e suite and the demo run against: the real control plane
 * (hack/cluster/up) unless KUBECONFIG points at a cluster already, Crescendo's CRDs, the
 * metrics simulator standing in for application pods, and a real Prometheus scraping it.
 */
import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { parseAllDocuments } from "yaml";
import { createKubeClient, type KubeClient } from "../operator/src/runtime/client.js";
import { loadKubeConfig } from "../operator/src/runtime/kubeconfig.js";
import { CustomResourceDefinitionResource } from "../operator/src/runtime/resources.js";
import type { KubeObject } from "../operator/src/runtime/types.js";
import { MetricsSimulator } from "../e2e/support/metrics-simulator.js";

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, "..");

/**
 * Runs a hack/ script and returns its stdout; failures carry stderr. `onStderrLine`, when given,
 * hears each line of the script's stderr (its progress log) as it is written.
 */
export async function script(
  path: string,
  env: Record<string, string>,
  args: string[] = [],
  onStderrLine?: (line: string) => void,
): Promise<string> {
  try {
    const running = run(join(ROOT, path), args, {
      env: { ...process.env, ...env },
      maxBuffer: 64 * 1024 * 1024,
      timeout: 60 * 60_000,
    });
    if (onStderrLine && running.child.stderr)
      createInterface({ input: running.child.stderr }).on("line", onStderrLine);
    const { stdout } = await running;
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${path} failed: ${e.message}\n${e.stdout ?? ""}\n${e.stderr ?? ""}`);
  }
}

/** Whether hack/cluster/build has built the control plane's binaries (as hack/cluster/lib.sh places them). */
function controlPlaneBuilt(): boolean {
  const cache =
    process.env.CRESCENDO_CACHE_DIR ??
    join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "crescendo");
  return ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"].every((b) =>
    existsSync(join(cache, "bin", b)),
  );
}

/** Parses the `export NAME=value` lines hack/cluster/up writes. */
function readEnvFile(path: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of readFileSync(path, "utf8").split("\n")) {
    const m = /^(?:export\s+)?([A-Z_][A-Z0-9_]*)=["']?(.*?)["']?$/.exec(line.trim());
    if (m) env[m[1]!] = m[2]!;
  }
  return env;
}

/** Applies every CRD in crds/ and waits (up to 60 s) until each is Established. */
export async function installCrds(client: KubeClient, fieldManager = "crescendo-e2e"): Promise<void> {
  const files = readdirSync(join(ROOT, "crds")).filter((f) => f.endsWith(".yaml"));
  for (const file of files) {
    for (const doc of parseAllDocuments(readFileSync(join(ROOT, "crds", file), "utf8"))) {
      const crd = doc.toJS() as KubeObject | null;
      if (crd) await client.apply(crd, CustomResourceDefinitionResource, { fieldManager, force: true });
    }
  }
  const deadline = Date.now() + 60_000;
  for (const file of files) {
    const name = file.replace(/\.yaml$/, "");
    for (;;) {
      const crd = await client.get<KubeObject>(CustomResourceDefinitionResource, name);
      const conds = (crd?.status as { conditions?: { type: string; status: string }[] } | undefined)
        ?.conditions;
      if (conds?.some((c) => c.type === "Established" && c.status === "True")) break;
      if (Date.now() > deadline) throw new Error(`CRD ${name} not Established after 60 s`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/**
 * Command-line arguments that run the operator as a pod would, on loopback ports and with the
 * Lease in `default`: the compiled `entry` when given, else the source through tsx.
 */
export function operatorArgs(o: {
  healthPort: number;
  ofrepPort: number;
  entry?: string;
  args?: string[];
}): string[] {
  return [
    ...(o.entry ? [o.entry] : ["--import", "tsx", join(ROOT, "operator/src/main.ts")]),
    "--health-port",
    String(o.healthPort),
    "--ofrep-port",
    String(o.ofrepPort),
    "--bind-address",
    "127.0.0.1",
    "--lease-namespace",
    "default",
    ...(o.args ?? []),
  ];
}

/** Asks the kernel for a free loopback port. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface LocalEnvironment {
  kubeconfig: string;
  /** kubectl matching the control plane's version (or the one on PATH for an external cluster). */
  kubectl: string;
  prometheusUrl: string;
  /** Prometheus file_sd directory: a `<name>.json` written here is scraped within seconds. */
  prometheusTargetsDir: string;
  /** hack/prometheus/up's state dir: its rules/ and alertmanagers/ wire alerting (hack/alerting.ts). */
  prometheusDir: string;
  simulator: MetricsSimulator;
  simulatorAddress: string;
  stop(): Promise<void>;
}

/** Starts everything; on failure stops what it started. `log` reports progress. */
export async function startLocalEnvironment(log: (message: string) => void): Promise<LocalEnvironment> {
  const cleanups: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch (err) {
        log(`teardown step failed: ${String(err)}`);
      }
    }
  };
  try {
    let kubeconfig = process.env.KUBECONFIG;
    let kubectl = "kubectl";
    if (kubeconfig) {
      log(`using the cluster in KUBECONFIG=${kubeconfig}`);
    } else {
      const clusterDir = await mkdtemp(join(tmpdir(), "crescendo-cluster-"));
      const env = { CRESCENDO_CLUSTER_DIR: clusterDir };
      if (!controlPlaneBuilt()) {
        log(
          "first run: building the control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kwok, helm) " +
            "from Go modules; this takes about 10-15 minutes on 2 cores, once (cached in ~/.cache/crescendo). Progress follows.",
        );
      }
      log("starting the local control plane (hack/cluster/up)");
      const started = Date.now();
      cleanups.push(async () => {
        log("stopping the local control plane");
        await script("hack/cluster/down", env);
        await rm(clusterDir, { recursive: true, force: true });
      });
      // hack/cluster/up and the build it runs log each step (component N of M, elapsed) to stderr.
      await script("hack/cluster/up", env, [], (line) =>
        log(`  ${line.replace(/^\[\d\d:\d\d:\d\d\] /, "")}`),
      );
      log(`control plane up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      const clusterEnv = readEnvFile(join(clusterDir, "env"));
      kubeconfig = clusterEnv.KUBECONFIG ?? join(clusterDir, "kubeconfig");
      if (clusterEnv.CRESCENDO_BIN_DIR) kubectl = join(clusterEnv.CRESCENDO_BIN_DIR, "kubectl");
    }

    log("installing CRDs");
    const client = createKubeClient(loadKubeConfig({ path: kubeconfig }));
    try {
      await installCrds(client);
    } finally {
      client.close();
    }

    const simulator = new MetricsSimulator();
    const simulatorAddress = await simulator.start();
    cleanups.push(() => simulator.stop());

    const promDir = await mkdtemp(join(tmpdir(), "crescendo-prometheus-"));
    const promEnv = { CRESCENDO_PROM_DIR: promDir, PROM_JOB: "app" };
    cleanups.push(async () => {
      await script("hack/prometheus/down", promEnv);
      await rm(promDir, { recursive: true, force: true });
    });
    log("starting Prometheus");
    // Its port is picked free, then bound by Prometheus a moment later: on a busy machine
    // another process can take it in between, so a failed start is retried on a new port.
    let prometheusUrl = "";
    for (let attempt = 1; ; attempt++) {
      try {
        prometheusUrl = (await script("hack/prometheus/up", promEnv, [simulatorAddress]))
          .trim()
          .split("\n")
          .pop()!;
        break;
      } catch (err) {
        if (attempt >= 3) throw err;
        log(`Prometheus did not start (attempt ${attempt}); retrying on another port`);
      }
    }
    log(`Prometheus at ${prometheusUrl}, scraping the metrics simulator at ${simulatorAddress}`);
    const prometheusTargetsDir = join(promDir, "targets");
    return {
      kubeconfig,
      kubectl,
      prometheusUrl,
      prometheusTargetsDir,
      prometheusDir: promDir,
      simulator,
      simulatorAddress,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
