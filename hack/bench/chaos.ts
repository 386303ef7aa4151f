/**
 * `npm run bench:chaos`: N concurrent rollouts on a local control plane while faults are injected
 * at random moments, then invariants checked on every Release. Writes bench/results/chaos.json.
 *
 *   CRESCENDO_CLUSTER_DIR=/tmp/cluster-x nice -n 10 npm run bench:chaos -- [--rollouts 100] [--seed 1]
 *
 * The rollouts, one Squad with an on-call webhook (a receiver in this process), 2 replicas each,
 * by index mod 5: a healthy canary judged by a step analysis, a failing one (rolled back), a
 * blue-green with auto-promotion, a canary aborted by hand at its pause step (rolled back), a
 * canary of timed pauses. All start at 1.0.0, then 2.0.0 is applied to each at a random moment.
 *
 * Faults, at random moments while the rollouts run: SIGKILL of the leader restarted at once
 * (`kill`); a standby started, then the leader SIGKILLed (`failover`); kube-apiserver stopped and
 * started again (`apiserverRestart`); Prometheus stopped for 30 s (`prometheusDown`); a Release's
 * stable Deployment deleted (`stableDeleted`). `watchExpiry` counts the server-side expiries of
 * a probe watch that sets no timeout: the apiserver runs with --min-request-timeout=20, which
 * shortens only watches that do not ask for a timeout. The operator's reflectors ask for
 * 300-600 s, as client-go's do, so their watches are ended by the apiserver restarts, not by this.
 *
 * Invariants, after everything settled (every violation is listed, none is fatal to the run):
 * - `finalPhase`: Healthy at 2.0.0, or RolledBack to 1.0.0 for the failing and aborted ones;
 * - `history`: one history entry for the 2.0.0 revision; its rollout never went back a step or
 *   restarted (`rolloutStartedAt` changed); a timed pause never ended early (`stepStartedAt`);
 * - `serving`: sampled every 200 ms, the `<release>` and `<release>-stable` Services (those that
 *   take production traffic) never selected no ready pod while a pod of the Release was ready;
 * - `notification`: exactly one delivery per rollback at the receiver (by Idempotency-Key), none
 *   for a Release that did not roll back;
 * - `orphan`: no Deployment or Service in the namespace that no Release wants.
 */
import { spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LABELS } from "../../operator/src/api/common.js";
import { ReleaseResource, SquadResource } from "../../operator/src/api/kinds.js";
import type { ReleaseStatus } from "../../operator/src/api/release.js";
import { MetricsSimulator } from "../../e2e/support/metrics-simulator.js";
import { createKubeClient, type KubeClient } from "../../operator/src/runtime/client.js";
import { loadKubeConfig } from "../../operator/src/runtime/kubeconfig.js";
import { createReflector } from "../../operator/src/runtime/reflector.js";
import {
  DeploymentResource,
  NamespaceResource,
  SecretResource,
  ServiceResource,
} from "../../operator/src/runtime/resources.js";
import { Store } from "../../operator/src/runtime/store.js";
import type { KubeObject, Resource } from "../../operator/src/runtime/types.js";
import { freePort, installCrds, script } from "../local-env.js";
import { ROOT } from "./cluster.js";
import { buildOperator, imageNodeOptions, Operator } from "./operator.js";
import { Cleanups, elapsed, onInterrupt, round, sleep, until } from "./run.js";

const PodResource: Resource = { group: "", version: "v1", kind: "Pod", plural: "pods", namespaced: true };
const NS = "chaos";
const FIELD_MANAGER = "crescendo-bench-chaos";
const KINDS = ["canaryHealthy", "canaryFailing", "blueGreen", "manualAbort", "canaryTimed"] as const;
type Kind = (typeof KINDS)[number];
const ROLLS_BACK: readonly Kind[] = ["canaryFailing", "manualAbort"];
type Fault = "kill" | "failover" | "apiserverRestart" | "prometheusDown" | "watchExpiry" | "stableDeleted";

type Release = KubeObject & { spec?: { version?: string }; status?: ReleaseStatus };
type Deployment = KubeObject & { spec?: { replicas?: number } };
type Pod = KubeObject & { status?: { conditions?: { type: string; status: string }[] } };
type Service = KubeObject & { spec?: { selector?: Record<string, string> } };

interface Violation {
  invariant: "finalPhase" | "history" | "serving" | "notification" | "orphan";
  release?: string;
  detail: string;
  /** Faults injected in the 10 s before (serving violations). */
  recentFaults?: string[];
}

const args = process.argv.slice(2);
const arg = (name: string, fallback: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const N = arg("rollouts", 100);
const MIN_FAULTS = arg("min-faults", 50);
/** v2 is applied to each Release at a random moment within this window. */
const APPLY_WINDOW_MS = arg("apply-window", 150) * 1000;
let seed = arg("seed", Date.now() % 100_000);
const SEED = seed;
/** mulberry32: a seeded random, so a run's schedule can be replayed. */
function random(): number {
  seed |= 0;
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const between = (a: number, b: number): number => a + (b - a) * random();

const kindOf = (i: number): Kind => KINDS[i % KINDS.length]!;
const nameOf = (i: number): string => `c-${i}`;
const log = (m: string): void => console.log(`[chaos ${new Date().toISOString().slice(11, 19)}] ${m}`);

function template(version: string): Record<string, unknown> {
  return {
    metadata: { labels: { app: "chaos" } },
    spec: { containers: [{ name: "app", image: `registry.example.com/chaos/app:${version}` }] },
  };
}

function errorRate(prometheusUrl: string, release: string): Record<string, unknown> {
  const sel = `namespace="{{namespace}}",release="${release}",revision="{{version}}"`;
  return {
    name: "error-rate",
    prometheus: {
      address: prometheusUrl,
      query: `sum(rate(http_requests_total{${sel},code="500"}[5s])) / sum(rate(http_requests_total{${sel}}[5s]))`,
    },
    thresholdRange: { max: 0.05 },
    failureLimit: 0,
    // A 30 s Prometheus outage is inconclusive measurements, not a verdict: tolerate them.
    inconclusiveLimit: 30,
    minSamples: 2,
  };
}

function releaseSpec(i: number, version: string, prometheusUrl: string): Record<string, unknown> {
  const base = {
    version,
    replicas: 2,
    template: template(version),
    service: { ports: [{ name: "http", port: 80 }] },
  };
  switch (kindOf(i)) {
    case "canaryHealthy":
    case "canaryFailing":
      return {
        ...base,
        strategy: {
          canary: {
            steps: [{ setWeight: 25 }, { analysis: {} }, { setWeight: 75 }, { pause: { duration: "5s" } }],
          },
        },
        analysis: { interval: "3s", metrics: [errorRate(prometheusUrl, nameOf(i))] },
        rollback: { onFailure: "Rollback", scaleDownDelaySeconds: 0 },
      };
    case "blueGreen":
      return { ...base, strategy: { blueGreen: { autoPromotionSeconds: 10, scaleDownDelaySeconds: 5 } } };
    case "manualAbort":
      return { ...base, strategy: { canary: { steps: [{ setWeight: 25 }, { pause: {} }] } } };
    case "canaryTimed":
      return {
        ...base,
        strategy: {
          canary: {
            steps: [
              { setWeight: 20 },
              { pause: { duration: "10s" } },
              { setWeight: 60 },
              { pause: { duration: "10s" } },
            ],
          },
        },
      };
  }
}

/** Milliseconds of the timed pause at each step index, for the "paused long enough" check. */
function timedPauses(i: number): Map<number, number> {
  if (kindOf(i) === "canaryTimed")
    return new Map([
      [1, 10_000],
      [3, 10_000],
    ]);
  if (kindOf(i) === "canaryHealthy" || kindOf(i) === "canaryFailing") return new Map([[3, 5_000]]);
  return new Map();
}

/** What the run observed of one Release's 2.0.0 rollout, from every watch event. */
interface Track {
  rolloutStartedAt?: string;
  lastStep?: number;
  /** stepStartedAt first seen at each step index. */
  stepStarted: Map<number, string>;
  problems: string[];
}

class Watched<T extends KubeObject> {
  readonly store = new Store<T>();
  private readonly abort = new AbortController();
  constructor(client: KubeClient, resource: Resource, onChange?: (obj: T) => void) {
    const reflector = createReflector<T>({ client, resource, store: this.store, namespace: NS });
    if (onChange) {
      this.store.subscribe((e) => {
        if (e.type === "upsert") onChange(e.object);
        if (e.type === "resync") e.objects.forEach(onChange);
      });
    }
    void reflector.run(this.abort.signal).catch(() => undefined);
  }
  stop(): void {
    this.abort.abort();
  }
}

async function main(): Promise<void> {
  const cleanups = new Cleanups();
  onInterrupt(cleanups);
  const started = Date.now();
  const faults: Record<Fault, number> = {
    kill: 0,
    failover: 0,
    apiserverRestart: 0,
    prometheusDown: 0,
    watchExpiry: 0,
    stableDeleted: 0,
  };
  const faultLog: { at: number; fault: Fault; what: string }[] = [];
  const recordFault = (fault: Fault, what: string): void => {
    faults[fault]++;
    faultLog.push({ at: Date.now(), fault, what });
    if (fault !== "watchExpiry") log(`fault ${fault}: ${what}`);
  };
  const violations: Violation[] = [];
  try {
    // --- the control plane, with short default watch timeouts -------------------------------
    const dir = process.env["CRESCENDO_CLUSTER_DIR"] ?? (await mkdtemp(join(tmpdir(), "crescendo-chaos-")));
    const clusterEnv = {
      CRESCENDO_CLUSTER_DIR: dir,
      CRESCENDO_NODES: String(Math.max(3, Math.ceil((N * 5) / 100))),
      CRESCENDO_APISERVER_ARGS: "--min-request-timeout=20",
    };
    log(`starting a control plane in ${dir}`);
    await script("hack/cluster/down", clusterEnv).catch(() => undefined);
    await script("hack/cluster/up", clusterEnv);
    cleanups.push(async () => {
      log("stopping the control plane");
      await script("hack/cluster/down", clusterEnv);
    });
    const kubeconfig = join(dir, "kubeconfig");
    const client = createKubeClient(loadKubeConfig({ path: kubeconfig }), { qps: 1000, burst: 1000 });
    cleanups.push(async () => client.close());
    await installCrds(client, FIELD_MANAGER);

    // --- Prometheus and the simulated pods' metrics --------------------------------------------
    const simulator = new MetricsSimulator();
    const simAddress = await simulator.start();
    cleanups.push(() => simulator.stop());
    const promDir = await mkdtemp(join(tmpdir(), "crescendo-chaos-prom-"));
    const promEnv = { CRESCENDO_PROM_DIR: promDir, PROM_JOB: "app", PROM_PORT: String(await freePort()) };
    const promUp = async (): Promise<string> =>
      (await script("hack/prometheus/up", promEnv, [simAddress])).trim().split("\n").pop()!;
    const promDown = () => script("hack/prometheus/down", promEnv);
    const prometheusUrl = await promUp();
    cleanups.push(async () => void (await promDown()));
    for (let i = 0; i < N; i++) {
      for (const v of ["1.0.0", "2.0.0"]) {
        const bad = kindOf(i) === "canaryFailing" && v === "2.0.0";
        simulator.set(
          { namespace: NS, release: nameOf(i), revision: v },
          { rps: 50, errorRate: bad ? 0.5 : 0, latencySeconds: 0.02 },
        );
      }
    }

    // --- the on-call receiver ------------------------------------------------------------------
    const deliveries = new Map<string, number>();
    const receiver: Server = createServer((req, res) => {
      const key = String(req.headers["idempotency-key"] ?? "");
      req.resume();
      req.on("end", () => {
        deliveries.set(key, (deliveries.get(key) ?? 0) + 1);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
    cleanups.push(() => new Promise<void>((r) => receiver.close(() => r())));
    const receiverUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/oncall`;

    // --- operators: one leader at a time, a standby only around a failover --------------------
    log("building the operator");
    const entry = await buildOperator();
    const logDir = join(ROOT, ".tmp/bench-logs");
    let opNo = 0;
    const startOperator = async (): Promise<Operator> => {
      const op = await Operator.start({
        kubeconfig,
        args: ["--allowed-prometheus-addresses", prometheusUrl],
        logFile: join(logDir, `chaos-operator-${started}-${opNo++}.log`),
        entry,
        nodeOptions: imageNodeOptions(),
      });
      await op.waitReady(180_000);
      return op;
    };
    const operators: Operator[] = [];
    cleanups.push(async () => {
      for (const op of operators) await op.stop(5_000);
    });
    operators.push(await startOperator());

    const squad = {
      apiVersion: "crescendo.dev/v1alpha1",
      kind: "Squad",
      metadata: { name: NS },
      spec: { tribe: "bench", oncall: { webhookSecretRef: { name: "oncall" }, channel: "#chaos" } },
    };
    await client.apply(squad, SquadResource, { fieldManager: FIELD_MANAGER, force: true });
    await until(
      "the squad's namespace",
      async () => (await client.get(NamespaceResource, NS)) !== undefined,
      () => "",
      120_000,
    );
    await client.apply(
      {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "oncall", namespace: NS },
        stringData: { url: receiverUrl },
      },
      SecretResource,
      { fieldManager: FIELD_MANAGER, force: true },
    );

    // --- what the run watches --------------------------------------------------------------------
    const tracks = new Map<string, Track>();
    const releases = new Watched<Release>(client, ReleaseResource, (r) => {
      const s = r.status;
      if (!s || s.canaryVersion !== "2.0.0" || s.currentStepIndex === undefined) return;
      const name = r.metadata.name ?? "";
      const t: Track = tracks.get(name) ?? { stepStarted: new Map<number, string>(), problems: [] };
      tracks.set(name, t);
      if (
        s.rolloutStartedAt &&
        t.rolloutStartedAt &&
        s.rolloutStartedAt !== t.rolloutStartedAt &&
        s.phase !== "RolledBack"
      ) {
        t.problems.push(
          `rollout restarted: rolloutStartedAt ${t.rolloutStartedAt} then ${s.rolloutStartedAt}`,
        );
      }
      t.rolloutStartedAt ??= s.rolloutStartedAt;
      if (t.lastStep !== undefined && s.currentStepIndex < t.lastStep && s.phase !== "RolledBack") {
        t.problems.push(`step went back from ${t.lastStep} to ${s.currentStepIndex}`);
      }
      t.lastStep = Math.max(t.lastStep ?? 0, s.currentStepIndex);
      if (s.stepStartedAt && !t.stepStarted.has(s.currentStepIndex))
        t.stepStarted.set(s.currentStepIndex, s.stepStartedAt);
    });
    const deployments = new Watched<Deployment>(client, DeploymentResource);
    const services = new Watched<Service>(client, ServiceResource);
    const pods = new Watched<Pod>(client, PodResource);
    cleanups.push(async () => [releases, deployments, services, pods].forEach((w) => w.stop()));

    // A probe watch with no timeout of its own: the apiserver ends it after 20-40 s.
    const probe = new AbortController();
    cleanups.push(async () => probe.abort());
    void (async () => {
      while (!probe.signal.aborted) {
        const opened = Date.now();
        try {
          // timeoutSeconds left out (the client drops undefined query values): the server picks it.
          const opts = { resourceVersion: "", allowWatchBookmarks: false } as unknown as Parameters<
            KubeClient["watch"]
          >[1];
          for await (const _ of client.watch(NamespaceResource, opts, probe.signal)) void _;
          // The server closed it: an expiry, if it lasted about as long as the flag says.
          if (Date.now() - opened >= 15_000) recordFault("watchExpiry", "a watch expired server-side");
        } catch {
          await sleep(1_000);
        }
      }
    })();

    // --- 1.0.0 everywhere ------------------------------------------------------------------------
    const apply = (i: number, version: string) =>
      client.apply(
        {
          apiVersion: "crescendo.dev/v1alpha1",
          kind: "Release",
          metadata: { name: nameOf(i), namespace: NS },
          spec: releaseSpec(i, version, prometheusUrl),
        },
        ReleaseResource,
        { fieldManager: FIELD_MANAGER, force: true },
      );
    log(`creating ${N} Releases at 1.0.0`);
    for (let i = 0; i < N; i++) await apply(i, "1.0.0");
    const statusOf = (i: number) => releases.store.get(`${NS}/${nameOf(i)}`)?.status;
    const healthyCount = () =>
      Array.from({ length: N }, (_, i) => statusOf(i)).filter((s) => s?.phase === "Healthy").length;
    await until(
      "every Release Healthy at 1.0.0",
      () => healthyCount() === N,
      () => `${healthyCount()}/${N}`,
      15 * 60_000,
    );

    // --- the serving sampler --------------------------------------------------------------------
    const openGaps = new Map<string, number>();
    const gapLog: Violation[] = [];
    const readyPod = (p: Pod) =>
      !p.metadata.deletionTimestamp &&
      (p.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");
    const sampler = setInterval(() => {
      const podsByRelease = new Map<string, Pod[]>();
      for (const p of pods.store.list()) {
        const r = p.metadata.labels?.[LABELS.release];
        if (r) podsByRelease.set(r, [...(podsByRelease.get(r) ?? []), p]);
      }
      for (let i = 0; i < N; i++) {
        const name = nameOf(i);
        const mine = (podsByRelease.get(name) ?? []).filter(readyPod);
        for (const svcName of [name, `${name}-stable`]) {
          const key = `${name}|${svcName}`;
          const selector = services.store.get(`${NS}/${svcName}`)?.spec?.selector;
          const selected =
            selector === undefined
              ? 1 // no Service yet (or gone with its Release): nothing selects nothing
              : mine.filter((p) => Object.entries(selector).every(([k, v]) => p.metadata.labels?.[k] === v))
                  .length;
          const gap = mine.length > 0 && selected === 0;
          if (gap && !openGaps.has(key)) openGaps.set(key, Date.now());
          if (!gap && openGaps.has(key)) {
            const from = openGaps.get(key)!;
            openGaps.delete(key);
            gapLog.push({
              invariant: "serving",
              release: name,
              detail: `Service ${svcName} selected no ready pod for ${Date.now() - from} ms while ${mine.length} pod(s) of the Release were ready`,
              recentFaults: faultLog
                .filter((f) => f.at >= from - 10_000 && f.at <= Date.now())
                .map((f) => `${f.fault}: ${f.what}`),
            });
          }
        }
      }
    }, 200);
    cleanups.push(async () => clearInterval(sampler));

    // --- 2.0.0 at random moments, manual aborts, and the faults ----------------------------------
    log(`applying 2.0.0 to each Release within ${APPLY_WINDOW_MS / 1000} s; injecting faults (seed ${SEED})`);
    const chaosStarted = Date.now();
    const applying = Promise.all(
      Array.from({ length: N }, async (_, i) => {
        await sleep(between(0, APPLY_WINDOW_MS));
        await retry(() => apply(i, "2.0.0"));
        if (kindOf(i) !== "manualAbort") return;
        await until(
          `${nameOf(i)} at its pause step`,
          () => statusOf(i)?.pauseReason === "PauseStep" && statusOf(i)?.canaryVersion === "2.0.0",
          () => "",
          10 * 60_000,
        );
        await sleep(between(0, 10_000));
        await retry(() =>
          client.mergePatch(ReleaseResource, nameOf(i), NS, {
            metadata: {
              annotations: { "crescendo.dev/action": "abort", "crescendo.dev/action-id": `chaos-${i}` },
            },
          }),
        );
      }),
    );
    const leader = async (): Promise<Operator | undefined> => {
      for (const op of operators.filter((o) => o.alive)) {
        try {
          if ((await op.scrape()).value("leader_election_master_status") === 1) return op;
        } catch {
          // busy or starting
        }
      }
      return operators.find((o) => o.alive);
    };
    const kill = (op: Operator): void => {
      if (op.alive) process.kill(op.pid, "SIGKILL");
      operators.splice(operators.indexOf(op), 1);
    };
    // As a Deployment would: an operator that exits on its own (it exits when it loses the Lease,
    // e.g. with the apiserver down past the renew deadline) is started again.
    let selfExits = 0;
    let restarting = false;
    const supervisor = setInterval(() => {
      for (const op of operators.filter((o) => !o.alive)) {
        operators.splice(operators.indexOf(op), 1);
        selfExits++;
        log(`operator pid ${op.pid} exited on its own`);
      }
      if (operators.length > 0 || restarting) return;
      restarting = true;
      void startOperator()
        .then((op) => void operators.push(op))
        .catch((err: unknown) => log(`restart failed: ${String(err)}`))
        .finally(() => (restarting = false));
    }, 2_000);
    cleanups.push(async () => clearInterval(supervisor));
    const processFaults: Record<"kill" | "failover" | "apiserverRestart", () => Promise<void>> = {
      kill: async () => {
        const op = await leader();
        if (!op) return;
        kill(op);
        recordFault("kill", `SIGKILL the leader (pid ${op.pid}), restarted at once`);
        operators.push(await startOperator());
      },
      failover: async () => {
        const standby = await startOperator();
        const op = await leader();
        operators.push(standby);
        if (!op || op === standby) return;
        kill(op);
        recordFault(
          "failover",
          `SIGKILL the leader (pid ${op.pid}) with a standby (pid ${standby.pid}) running`,
        );
      },
      apiserverRestart: async () => {
        await restartApiserver(dir);
        recordFault("apiserverRestart", "kube-apiserver stopped and started again");
        await until(
          "kube-apiserver back",
          async () => (await client.get(NamespaceResource, NS).catch(() => undefined)) !== undefined,
          () => "",
          120_000,
        );
      },
    };
    const total = () => Object.values(faults).reduce((a, b) => a + b, 0);
    let rolloutsDone = false;
    void applying.then(() => (rolloutsDone = true));
    const chaosGoesOn = () =>
      !rolloutsDone || total() < MIN_FAULTS || Date.now() - chaosStarted < APPLY_WINDOW_MS;
    const lanes = [
      (async () => {
        const kinds = ["kill", "failover", "apiserverRestart"] as const;
        while (chaosGoesOn()) {
          await sleep(between(3_000, 12_000));
          await processFaults[kinds[Math.floor(random() * kinds.length)]!]().catch((err: unknown) =>
            log(`fault failed: ${String(err)}`),
          );
        }
      })(),
      (async () => {
        while (chaosGoesOn()) {
          await sleep(between(5_000, 30_000));
          await promDown();
          recordFault("prometheusDown", "Prometheus stopped for 30 s");
          await sleep(30_000);
          await promUp();
        }
      })(),
      (async () => {
        while (chaosGoesOn()) {
          await sleep(between(2_000, 8_000));
          const i = Math.floor(random() * N);
          const stable = statusOf(i)?.stableRevision;
          if (!stable) continue;
          const deleted = await client
            .delete(DeploymentResource, `${nameOf(i)}-${stable}`, NS)
            .catch(() => false);
          if (deleted)
            recordFault(
              "stableDeleted",
              `${nameOf(i)}'s stable Deployment (${statusOf(i)?.phase ?? "?"}) deleted`,
            );
        }
      })(),
    ];
    await Promise.all(lanes);
    await applying;
    log(`faults over after ${elapsed(chaosStarted)}: ${JSON.stringify(faults)}`);

    // --- settling ---------------------------------------------------------------------------------
    const settled = (i: number): boolean => {
      const s = statusOf(i);
      if (!s) return false;
      const notified = (s.notifications ?? []).every((n) => n.deliveredAt || n.failedAt);
      if (ROLLS_BACK.includes(kindOf(i)))
        return s.phase === "RolledBack" && (s.notifications?.length ?? 0) > 0 && notified;
      return s.phase === "Healthy" && s.stableVersion === "2.0.0" && (s.scaleDown ?? []).length === 0;
    };
    const settledCount = () => Array.from({ length: N }, (_, i) => i).filter(settled).length;
    await until(
      "every Release settled",
      () => settledCount() === N,
      () => `${settledCount()}/${N}`,
      10 * 60_000,
    ).catch((err: unknown) => log(String(err)));
    await sleep(5_000); // the sampler sees the last moments, stores catch up
    clearInterval(sampler);
    for (const [key, from] of openGaps) {
      const [release, svc] = key.split("|");
      gapLog.push({
        invariant: "serving",
        release,
        detail: `Service ${svc} still selects no ready pod (since ${Date.now() - from} ms ago)`,
      });
    }
    violations.push(...gapLog);

    // --- invariants -------------------------------------------------------------------------------
    for (let i = 0; i < N; i++) {
      const name = nameOf(i);
      const s = statusOf(i);
      const kind = kindOf(i);
      const rollsBack = ROLLS_BACK.includes(kind);
      const want = rollsBack
        ? { phase: "RolledBack", stableVersion: "1.0.0" }
        : { phase: "Healthy", stableVersion: "2.0.0" };
      if (s?.phase !== want.phase || s.stableVersion !== want.stableVersion) {
        violations.push({
          invariant: "finalPhase",
          release: name,
          detail: `${kind}: expected ${want.phase} at ${want.stableVersion}, found ${s?.phase ?? "nothing"} at ${s?.stableVersion ?? "?"} (${s?.message ?? ""})`,
        });
      }
      const v2 = (s?.history ?? []).filter((h) => h.version === "2.0.0" && h.outcome !== "Degraded");
      if (v2.length !== 1)
        violations.push({
          invariant: "history",
          release: name,
          detail: `${v2.length} history entries for 2.0.0`,
        });
      const t = tracks.get(name);
      for (const p of t?.problems ?? []) violations.push({ invariant: "history", release: name, detail: p });
      for (const [step, ms] of timedPauses(i)) {
        const a = t?.stepStarted.get(step);
        const b = t?.stepStarted.get(step + 1);
        if (a && b && Date.parse(b) - Date.parse(a) < ms - 1000) {
          violations.push({
            invariant: "history",
            release: name,
            detail: `pause at step ${step} lasted ${Date.parse(b) - Date.parse(a)} ms of ${ms}`,
          });
        }
      }
      const ids = (s?.notifications ?? []).map((n) => n.id);
      if (rollsBack) {
        const id = ids[0];
        const n = id ? (deliveries.get(id) ?? 0) : 0;
        if (n !== 1)
          violations.push({
            invariant: "notification",
            release: name,
            detail: `${n} deliveries of rollback ${id ?? "(none recorded)"}`,
          });
      }
      for (const id of ids.slice(rollsBack ? 1 : 0)) {
        violations.push({
          invariant: "notification",
          release: name,
          detail: `unexpected notification ${id}`,
        });
      }
    }
    const known = new Set(
      Array.from({ length: N }, (_, i) => i).flatMap((i) =>
        (statusOf(i)?.notifications ?? []).map((n) => n.id),
      ),
    );
    for (const [key, n] of deliveries) {
      if (!known.has(key))
        violations.push({ invariant: "notification", detail: `${n} deliveries with unknown key ${key}` });
    }
    for (const d of (await client.list<Deployment>(DeploymentResource, { namespace: NS })).items) {
      const release = d.metadata.labels?.[LABELS.release];
      const revision = d.metadata.labels?.[LABELS.revision];
      const s = releases.store.get(`${NS}/${release ?? ""}`)?.status;
      const wanted =
        s &&
        (revision === s.stableRevision ||
          revision === s.canaryRevision ||
          (s.scaleDown ?? []).some((e) => e.revision === revision));
      if (!wanted)
        violations.push({
          invariant: "orphan",
          release,
          detail: `Deployment ${d.metadata.name ?? ""} is wanted by no Release`,
        });
    }
    for (const svc of (await client.list<Service>(ServiceResource, { namespace: NS })).items) {
      const name = svc.metadata.name ?? "";
      const owner = svc.metadata.ownerReferences?.find((o) => o.kind === "Release")?.name;
      if (!owner || !releases.store.get(`${NS}/${owner}`)) {
        violations.push({ invariant: "orphan", detail: `Service ${name} is wanted by no Release` });
      }
    }

    const result = {
      rollouts: N,
      faults,
      violations,
      durationSeconds: round((Date.now() - started) / 1000),
      seed: SEED,
      kinds: Object.fromEntries(
        KINDS.map((k) => [k, Array.from({ length: N }, (_, i) => i).filter((i) => kindOf(i) === k).length]),
      ),
      settled: settledCount(),
      operatorSelfExits: selfExits,
      deliveries: [...deliveries.values()].reduce((a, b) => a + b, 0),
      machine: {
        cpus: (await import("node:os")).cpus().length,
        loadAverage: (await import("node:os")).loadavg().map((x) => round(x, 1)),
      },
    };
    mkdirSync(join(ROOT, "bench/results"), { recursive: true });
    const out = join(ROOT, "bench/results/chaos.json");
    writeFileSync(out, JSON.stringify(result, null, 2) + "\n");
    const byInvariant = violations.reduce<Record<string, number>>(
      (acc, v) => ((acc[v.invariant] = (acc[v.invariant] ?? 0) + 1), acc),
      {},
    );
    console.log(`\nbench:chaos — ${N} rollouts, ${total()} faults ${JSON.stringify(faults)}`);
    console.log(`settled ${result.settled}/${N}; ${result.deliveries} notification deliveries`);
    console.log(`violations: ${violations.length} ${JSON.stringify(byInvariant)}`);
    for (const v of violations.slice(0, 20)) console.log(`  ${v.invariant} ${v.release ?? ""}: ${v.detail}`);
    console.log(`duration ${result.durationSeconds} s; written to ${out}`);
  } finally {
    await cleanups.run();
  }
}

/** Retries an API call through an apiserver restart. */
async function retry<T>(fn: () => Promise<T>, attempts = 60): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts) throw err;
      await sleep(1_000);
    }
  }
}

/**
 * Stops kube-apiserver and starts it again with the same command line (hack/cluster/up writes
 * it as the first line of the component's log), recording its new pid for hack/cluster/down.
 */
async function restartApiserver(dir: string): Promise<void> {
  const pidFile = join(dir, "pids/kube-apiserver.pid");
  const logFile = join(dir, "logs/kube-apiserver.log");
  const command = readFileSync(logFile, "utf8").split("\n")[0]!.replace(/^# /, "").split(" ");
  const pid = Number(readFileSync(pidFile, "utf8").trim());
  process.kill(pid, "SIGTERM");
  for (let i = 0; i < 300; i++) {
    try {
      process.kill(pid, 0);
      await sleep(100);
    } catch {
      break;
    }
  }
  const fd = openSync(logFile, "a");
  // detached: a session of its own, as setsid gives it in hack/cluster/up; spawned directly, so
  // the pid recorded is the apiserver's and hack/cluster/down stops it.
  const child = spawn(command[0]!, command.slice(1), { detached: true, stdio: ["ignore", fd, fd] });
  closeSync(fd);
  child.unref();
  writeFileSync(pidFile, `${child.pid ?? ""}\n`);
}

// Exit once cleaned up: a keep-alive socket or an aborted watch's last timer must not hold it.
main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
