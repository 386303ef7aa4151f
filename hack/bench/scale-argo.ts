/**
 * `bench:scale --against argo-rollouts`: the Argo Rollouts side. The same N canaries of one
 * replica as Crescendo's run (one `setWeight: 50` step, no analysis), as Rollouts spread over the
 * same S namespaces, created the same way (client-side-apply annotation unless --server-side)
 * before the controller starts, on a private control plane of the same size; the same figures:
 * cold start (controller start → every Rollout Healthy), rollout of all N (new image → every
 * Rollout Healthy on it), RSS peak and settled, CPU seconds, API requests per change and while
 * idle (from the controller's own `controller_clientset_k8s_request_total`, see argo-requests.ts).
 */
import { join } from "node:path";
import { NamespaceResource } from "../../operator/src/runtime/resources.js";
import type { KubeObject } from "../../operator/src/runtime/types.js";
import {
  ArgoRolloutsController,
  installArgoRolloutsCrds,
  RolloutResource,
  type ArgoRolloutsBuild,
} from "./argo-rollouts-controller.js";
import { ROOT, startCluster } from "./cluster.js";
import { argoRequestsBy as requestsBy, countedRequests } from "./argo-requests.js";
import { parseMetrics, type Scrape } from "./prom.js";
import { Cleanups, elapsed, median, round, sleep, until } from "./run.js";
import { asKubectlApplied, pool, squadName, Watcher } from "./workload.js";

export interface PeerRun {
  system: string;
  version: string;
  releases: number;
  namespaces: number;
  coldStartSeconds: number | null;
  rolloutAllSeconds: number | null;
  rssPeakMB: number;
  rssSettledMB: number;
  cpuSeconds: number;
  /** Requests (not watches) during the rollout, per changed object. */
  requestsPerChange: number | null;
  idleRequests: number;
  idleSeconds: number;
  requests: {
    coldStart: Record<string, number>;
    rollout: Record<string, number>;
    idle: Record<string, number>;
  };
  kubeApiQps: number;
  kubeApiBurst: number;
  at: string;
}

const MB = 1024 * 1024;
const IMAGE = "registry.example.com/bench/app";

function rollout(i: number, namespaces: number, version: string): KubeObject {
  const name = `rel-${i}`;
  return {
    apiVersion: "argoproj.io/v1alpha1",
    kind: "Rollout",
    metadata: { name, namespace: squadName(i % namespaces) },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: "bench", rollout: name } },
      template: {
        metadata: { labels: { app: "bench", rollout: name } },
        spec: {
          containers: [
            {
              name: "app",
              image: `${IMAGE}:${version}`,
              ports: [{ name: "http", containerPort: 8080 }],
              resources: { requests: { cpu: "10m", memory: "16Mi" } },
            },
          ],
        },
      },
      strategy: { canary: { steps: [{ setWeight: 50 }] } },
    },
  };
}

type Rollout = KubeObject & {
  spec?: { template?: { spec?: { containers?: { image?: string }[] } } };
  status?: { phase?: string; stableRS?: string; currentPodHash?: string; observedGeneration?: string };
};

/**
 * Healthy on `version` with the stable ReplicaSet the current one, in a status that has seen the
 * latest spec (Argo writes observedGeneration as a string): the rollout is complete.
 */
const healthyAt =
  (version: string) =>
  (o: KubeObject): boolean => {
    const r = o as Rollout;
    return (
      (r.spec?.template?.spec?.containers?.[0]?.image ?? "").endsWith(`:${version}`) &&
      r.status?.observedGeneration === String(r.metadata.generation) &&
      r.status.phase === "Healthy" &&
      !!r.status.stableRS &&
      r.status.stableRS === r.status.currentPodHash
    );
  };

export async function runArgoScale(
  build: ArgoRolloutsBuild,
  n: number,
  namespaces: number,
  o: { idleSeconds: number; timeoutMs: number; lastApplied: boolean },
): Promise<PeerRun> {
  const tag = `[argo-rollouts N=${n}]`;
  const phase = (m: string): void => console.log(`${tag} ${m}`);
  const cleanups = new Cleanups();
  try {
    const cluster = await startCluster(2 * n + 20, phase);
    cleanups.push(cluster.stop);
    await installArgoRolloutsCrds(cluster.client, build);
    const opts = { fieldManager: "crescendo-bench", force: true };
    const range = (k: number) => Array.from({ length: k }, (_, i) => i);
    await pool(range(namespaces), 16, async (i) => {
      await cluster.client.apply(
        { apiVersion: "v1", kind: "Namespace", metadata: { name: squadName(i) } },
        NamespaceResource,
        opts,
      );
    });
    const created = Date.now();
    await pool(range(n), 32, async (i) => {
      await cluster.client.apply(
        asKubectlApplied(rollout(i, namespaces, "1"), o.lastApplied),
        RolloutResource,
        opts,
      );
    });
    phase(`created ${n} Rollouts in ${namespaces} namespaces in ${elapsed(created)}`);
    const watcher = new Watcher(cluster.client, [RolloutResource]);
    cleanups.push(async () => watcher.stop());
    await until(
      "bench watch synced",
      () => watcher.synced(),
      () => "",
      60_000,
    );

    const logFile = join(ROOT, ".tmp/bench-logs", `argo-rollouts-${n}-${Date.now()}.log`);
    phase(`starting the argo-rollouts controller (log: ${logFile})`);
    const t0 = Date.now();
    const ctl = await ArgoRolloutsController.start(build, cluster.kubeconfig, logFile);
    cleanups.push(() => ctl.stop());
    const rss: { at: number; rss: number }[] = [];
    const sampler = setInterval(() => {
      const b = ctl.rssBytes();
      if (b !== undefined) rss.push({ at: Date.now(), rss: b });
    }, 1000);
    cleanups.push(async () => clearInterval(sampler));
    const scrape = async (): Promise<Scrape> => parseMetrics(await ctl.metrics());
    const alive = () => ctl.alive;

    const v1 = healthyAt("1");
    await until(
      "cold start",
      () => watcher.count("Rollout", v1) === n,
      () => `healthy ${watcher.count("Rollout", v1)}/${n}`,
      o.timeoutMs,
      alive,
    );
    const coldStartSeconds = (Date.now() - t0) / 1000;
    const sCold = await scrape();
    phase(`cold start: every Rollout Healthy ${coldStartSeconds.toFixed(1)} s after the controller started`);

    const quiet = async (): Promise<Scrape> => {
      let last = await scrape();
      for (let stable = 0; stable < 5;) {
        await sleep(1000);
        const now = await scrape();
        stable = countedRequests(requestsBy(last, now)) === 0 ? stable + 1 : 0;
        last = now;
      }
      return last;
    };
    const sBefore = await quiet();
    phase(`changing all ${n} Rollouts to version 2`);
    const tChange = Date.now();
    await pool(range(n), 32, async (i) => {
      await cluster.client.apply(
        asKubectlApplied(rollout(i, namespaces, "2"), o.lastApplied),
        RolloutResource,
        opts,
      );
    });
    const v2 = healthyAt("2");
    await until(
      "rollout",
      () => watcher.count("Rollout", v2) === n,
      () => `healthy ${watcher.count("Rollout", v2)}/${n}`,
      o.timeoutMs,
      alive,
    );
    const rolloutAllSeconds = (Date.now() - tChange) / 1000;
    phase(`rollout: all ${n} Rollouts Healthy at version 2 after ${rolloutAllSeconds.toFixed(1)} s`);
    const sAfter = await quiet();

    phase(`idle for ${o.idleSeconds} s`);
    const tIdle0 = Date.now();
    await sleep(o.idleSeconds * 1000);
    const sIdle = await scrape();
    const tIdle1 = Date.now();
    const idle = requestsBy(sAfter, sIdle);
    const rolloutRequests = requestsBy(sBefore, sAfter);
    const settled = rss.filter((s) => s.at >= Math.max(tIdle0, tIdle1 - 10_000)).map((s) => s.rss);
    return {
      system: "argo-rollouts",
      version: build.version,
      releases: n,
      namespaces,
      coldStartSeconds: round(coldStartSeconds),
      rolloutAllSeconds: round(rolloutAllSeconds),
      rssPeakMB: round(Math.max(...rss.map((s) => s.rss)) / MB),
      rssSettledMB: round(median(settled) / MB),
      cpuSeconds: round(ctl.cpuSeconds(), 1),
      requestsPerChange: round(countedRequests(rolloutRequests) / n, 2),
      idleRequests: countedRequests(idle),
      idleSeconds: o.idleSeconds,
      requests: { coldStart: requestsBy(undefined, sCold), rollout: rolloutRequests, idle },
      kubeApiQps: 40,
      kubeApiBurst: 80,
      at: new Date().toISOString(),
    };
  } finally {
    await cleanups.run();
  }
}
