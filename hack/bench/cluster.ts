/**
 * A private local control plane per benchmark run (hack/cluster/up in its own
 * CRESCENDO_CLUSTER_DIR), Crescendo's CRDs, and the CPU time its processes use, so a run can
 * say whether the apiserver side or the operator was the busy one.
 */
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createKubeClient, type KubeClient } from "../../operator/src/runtime/client.js";
import { loadKubeConfig } from "../../operator/src/runtime/kubeconfig.js";
import { installCrds, script } from "../local-env.js";

export const ROOT = join(import.meta.dirname, "../..");

/** The control-plane processes whose CPU time a run reports. */
export const COMPONENTS = ["kube-apiserver", "etcd", "kube-controller-manager", "kube-scheduler", "kwok"];

export interface Cluster {
  dir: string;
  kubeconfig: string;
  /** A client for the benchmark's own writes and watches, with rate limits well above the operator's. */
  client: KubeClient;
  /** PIDs of the control-plane processes, by component name. */
  pids: Record<string, number>;
  stop(): Promise<void>;
}

/**
 * Starts a control plane with enough KWOK nodes (110 pods each) for `pods` pods, installs the
 * CRDs and waits until they are Established. On failure it stops what it started.
 */
export async function startCluster(pods: number, log: (m: string) => void): Promise<Cluster> {
  const dir = await mkdtemp(join(tmpdir(), "crescendo-bench-"));
  const env = { CRESCENDO_CLUSTER_DIR: dir, CRESCENDO_NODES: String(Math.max(3, Math.ceil(pods / 100))) };
  let client: KubeClient | undefined;
  const stop = async (): Promise<void> => {
    client?.close();
    log(`stopping the control plane in ${dir}`);
    try {
      await script("hack/cluster/down", env);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };
  try {
    log(`starting a control plane in ${dir} with ${env.CRESCENDO_NODES} KWOK nodes`);
    await script("hack/cluster/up", env);
    const kubeconfig = join(dir, "kubeconfig");
    client = createKubeClient(loadKubeConfig({ path: kubeconfig }), { qps: 1000, burst: 1000 });
    await installCrds(client, "crescendo-bench");
    const pids: Record<string, number> = {};
    for (const name of COMPONENTS) {
      try {
        pids[name] = Number(readFileSync(join(dir, "pids", `${name}.pid`), "utf8").trim());
      } catch {
        // not started by up (an older layout); its CPU is simply not reported
      }
    }
    return { dir, kubeconfig, client, pids, stop };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** User + system CPU seconds a process has used so far (from /proc), or undefined if it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** Resident set size in bytes (VmRSS), or undefined if the process is gone. */
export function rssBytes(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Busy CPU seconds of the whole machine (all cores, /proc/stat), including other people's work. */
export function machineBusySeconds(): number {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
  // cpu user nice system idle iowait irq softirq steal ...
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const busy = (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0);
  return busy / TICKS_PER_SECOND;
}

/**
 * CPU seconds of every component at this instant, plus `machine` (all busy CPU) and `bench`
 * (this process): what is left over is other work on a shared machine, which skews timings.
 */
export function cpuSnapshot(pids: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, pid] of Object.entries(pids)) out[name] = cpuSeconds(pid) ?? 0;
  const self = process.cpuUsage();
  out["bench"] = (self.user + self.system) / 1e6;
  out["machine"] = machineBusySeconds();
  return out;
}
