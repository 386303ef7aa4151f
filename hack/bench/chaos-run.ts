/**
 * The chaos run itself, shared by `npm run bench:chaos` (hack/bench/chaos.ts: N=100 on a control
 * plane of its own, the result recorded) and the e2e smoke test (e2e/chaos.test.ts: N=5 on the
 * suite's control plane, asserting no violation): N concurrent rollouts on a local control plane
 * while faults are injected at random moments, then invariants checked on every Release.
 *
 * The rollouts, one Squad with an on-call webhook (a receiver in this process), 2 replicas each,
 * by index mod 5: a healthy canary judged by a step analysis, a failing one (rolled back), a
 * blue-green with auto-promotion, a canary aborted by hand at its pause step (rolled back), a
 * canary of timed pauses. All start at 1.0.0, then 2.0.0 is applied to each at a random moment.
 *
 * Faults, at random moments while the rollouts run: SIGKILL of the leader restarted at once
 * (`kill`); a standby started, then the leader SIGKILLed (`failover`); kube-apiserver stopped and
 * started again (`apiserverRestart`, when the control plane's directory is known); Prometheus
 * stopped (`prometheusDown`); a Release's stable Deployment deleted (`stableDeleted`). Every
 * operator runs with a short `--watch-timeout`, so each of its watches is ended by the apiserver
 * every few tens of seconds; `watchExpiry` counts those ends (`crescendo_watch_restarts_total
 * {reason="expired"}`, scraped from every operator that ran).
 *
 * Invariants, after everything settled (every violation is listed, none is fatal to the run):
 * - `finalPhase`: Healthy at 2.0.0, or RolledBack to 1.0.0 for the failing and aborted ones;
 * - `history`: one history entry for the 2.0.0 revision; its rollout never went back a step or
 *   restarted (`rolloutStartedAt` changed); a timed pause never ended early (`stepStartedAt`);
 * - `serving`: sampled every 200 ms, the `<release>` and `<release>-stable` Services (those that
 *   take production traffic) never selected no ready pod while a pod of the Release was ready;
 * - `notification`: at a receiver that drops repeats by `Idempotency-Key` (as
 *   docs/notifications.md tells receivers to), one delivery per rollback under its rollback id,
 *   none for a Release that did not roll back (`chaos-notifications.ts`); the repeats it dropped
 *   are reported apart (`notificationRepeats`), not hidden;
 * - `orphan`: no Deployment or Service in the namespace that no Release wants.
 */
import { closeSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { spawn } from "node:child_process";
import { mkdtemp } from "node:fs/promises";
import { loadavg, cpus, tmpdir } from "node:os";
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
import { freePort, script } from "../local-env.js";
import { checkNotifications, OncallReceiver, type Repeats } from "./chaos-notifications.js";
import { imageNodeOptions, Operator } from "./operator.js";
import { elapsed, round, sleep, until, type Cleanups } from "./run.js";

const PodResource: Resource = { group: "", version: "v1", kind: "Pod", plural: "pods", namespaced: true };
const FIELD_MANAGER = "crescendo-bench-chaos";
const KINDS = ["canaryHealthy", "canaryFailing", "blueGreen", "manualAbort", "canaryTimed"] as const;
type Kind = (typeof KINDS)[number];
const ROLLS_BACK: readonly Kind[] = ["canaryFailing", "manualAbort"];
export type Fault =
  "kill" | "failover" | "apiserverRestart" | "prometheusDown" | "watchExpiry" | "stableDeleted";

type Release = KubeObject & { spec?: { version?: string }; status?: ReleaseStatus };
type Deployment = KubeObject & { spec?: { replicas?: number } };
type Pod = KubeObject & { status?: { conditions?: { type: string; status: string }[] } };
type Service = KubeObject & { spec?: { selector?: Record<string, string> } };

export interface Violation {
  invariant: "finalPhase" | "history" | "serving" | "notification" | "orphan";
  release?: string;
  detail: string;
  /** Faults injected in the 10 s before (serving violations). */
  recentFaults?: string[];
}

const kindOf = (i: number): Kind => KINDS[i % KINDS.length]!;
const nameOf = (i: number): string => `c-${i}`;

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
  constructor(client: KubeClient, resource: Resource, namespace: string, onChange?: (obj: T) => void) {
    const reflector = createReflector<T>({ client, resource, store: this.store, namespace });
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

export const FAULTS: readonly Fault[] = [
  "kill",
  "failover",
  "apiserverRestart",
  "prometheusDown",
  "watchExpiry",
  "stableDeleted",
];

export interface ChaosOptions {
  kubeconfig: string;
  /**
   * The control plane's directory (hack/cluster/up's, holding pids/ and logs/), for the
   * apiserverRestart fault; without it that fault is not injected.
   */
  clusterDir?: string;
  /** Namespace (and Squad) of the run's Releases. */
  namespace: string;
  rollouts: number;
  /** Faults go on, once every rollout has started, until at least this many besides watch expiries. */
  minFaults: number;
  /** 2.0.0 is applied to each Release at a random moment within this window. */
  applyWindowMs: number;
  seed: number;
  /** Which faults to inject (watchExpiry: by `--watch-timeout`, always counted). */
  faults: readonly Fault[];
  /** The operator's `--watch-timeout`: each watch ends after this to twice this. */
  watchTimeout: string;
  /** Wait between process faults (kill, failover, apiserverRestart), [min, max] ms. */
  processFaultEveryMs: [number, number];
  /** Process faults each in turn (a short run still has one of each), instead of at random. */
  processFaultsInTurn?: boolean;
  /** Wait between Prometheus outages, and how long each lasts. */
  prometheusFaultEveryMs: [number, number];
  prometheusDownMs: number;
  /** Wait between deletions of a stable Deployment. */
  stableDeleteEveryMs: [number, number];
  /** How long every Release may take to settle after the faults. */
  settleTimeoutMs: number;
  /** How long an operator may take to start (its caches synced). */
  readyTimeoutMs: number;
  /** The compiled operator (`buildOperator`); absent runs its source through tsx. */
  entry?: string;
  /** Where each operator's log goes. */
  logDir: string;
  /** What the run started; the caller runs them (also on Ctrl-C). */
  cleanups: Cleanups;
  log: (message: string) => void;
}

export interface ChaosResult {
  rollouts: number;
  faults: Record<Fault, number>;
  violations: Violation[];
  durationSeconds: number;
  seed: number;
  kinds: Record<string, number>;
  settled: number;
  operatorSelfExits: number;
  /** Every POST the receiver got, repeats included. */
  deliveries: number;
  /** The repeats a receiver dropping them by Idempotency-Key dropped: at least once at work. */
  notificationRepeats: Repeats;
  /** The 1, 5 and 15 min load averages at the end, and the 1 min one's range during the run. */
  machine: { cpus: number; loadAverage: number[]; loadAverageDuringRun: { min: number; max: number } };
}

/** The violations of `result`, counted by invariant. */
export function violationsByInvariant(result: Pick<ChaosResult, "violations">): Record<string, number> {
  return result.violations.reduce<Record<string, number>>(
    (acc, v) => ((acc[v.invariant] = (acc[v.invariant] ?? 0) + 1), acc),
    {},
  );
}

/**
 * The operators' watch expiries: each operator's `crescendo_watch_restarts_total{reason="expired"}`
 * as last scraped, summed over every operator that ran (a SIGKILLed one keeps its last figure).
 */
class WatchExpiries {
  private readonly byPid = new Map<number, number>();

  async scrape(operators: readonly Operator[]): Promise<void> {
    await Promise.all(
      operators
        .filter((op) => op.alive)
        .map(async (op) => {
          try {
            const n = (await op.scrape()).sum("crescendo_watch_restarts_total", { reason: "expired" });
            this.byPid.set(op.pid, Math.max(n, this.byPid.get(op.pid) ?? 0));
          } catch {
            // Starting, busy or just killed: the last figure stands.
          }
        }),
    );
  }

  total(): number {
    let n = 0;
    for (const v of this.byPid.values()) n += v;
    return n;
  }
}

/** mulberry32: a seeded random, so a run's schedule can be replayed. */
function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state |= 0;
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Runs the rollouts under faults and checks every invariant; never throws for a violation. */
export async function runChaos(o: ChaosOptions): Promise<ChaosResult> {
  const { cleanups } = o;
  const ns = o.namespace;
  const random = seeded(o.seed);
  const between = (a: number, b: number): number => a + (b - a) * random();
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
    o.log(`fault ${fault}: ${what}`);
  };
  const violations: Violation[] = [];
  // The machine is shared: the load during the run says how much of it the run had.
  const loads: number[] = [];
  const loadSampler = setInterval(() => loads.push(loadavg()[0]!), 10_000);
  cleanups.push(async () => clearInterval(loadSampler));
  const client = createKubeClient(loadKubeConfig({ path: o.kubeconfig }), { qps: 1000, burst: 1000 });
  cleanups.push(async () => client.close());
  {
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
    for (let i = 0; i < o.rollouts; i++) {
      for (const v of ["1.0.0", "2.0.0"]) {
        const bad = kindOf(i) === "canaryFailing" && v === "2.0.0";
        simulator.set(
          { namespace: ns, release: nameOf(i), revision: v },
          { rps: 50, errorRate: bad ? 0.5 : 0, latencySeconds: 0.02 },
        );
      }
    }

    // --- the on-call receiver ------------------------------------------------------------------
    const receiver = new OncallReceiver();
    const receiverUrl = await receiver.start();
    cleanups.push(() => receiver.stop());

    // --- operators: one leader at a time, a standby only around a failover --------------------
    let opNo = 0;
    // Every watch the operator makes asks the apiserver to end it after --watch-timeout (to twice
    // that): the watchExpiry fault, counted from the operators' crescendo_watch_restarts_total.
    const expiries = new WatchExpiries();
    const startOperator = async (): Promise<Operator> => {
      const op = await Operator.start({
        kubeconfig: o.kubeconfig,
        args: ["--allowed-prometheus-addresses", prometheusUrl, "--watch-timeout", o.watchTimeout],
        logFile: join(o.logDir, `chaos-operator-${started}-${opNo++}.log`),
        entry: o.entry,
        nodeOptions: imageNodeOptions(),
      });
      await op.waitReady(o.readyTimeoutMs);
      return op;
    };
    const operators: Operator[] = [];
    cleanups.push(async () => {
      for (const op of operators) await op.stop(5_000);
    });
    operators.push(await startOperator());
    const expiryScraper = setInterval(() => void expiries.scrape(operators), 5_000);
    cleanups.push(async () => clearInterval(expiryScraper));

    const squad = {
      apiVersion: "crescendo.dev/v1alpha1",
      kind: "Squad",
      metadata: { name: ns },
      spec: { tribe: "bench", oncall: { webhookSecretRef: { name: "oncall" }, channel: "#chaos" } },
    };
    await client.apply(squad, SquadResource, { fieldManager: FIELD_MANAGER, force: true });
    await until(
      "the squad's namespace",
      async () => (await client.get(NamespaceResource, ns)) !== undefined,
      () => "",
      120_000,
    );
    await client.apply(
      {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "oncall", namespace: ns },
        stringData: { url: receiverUrl },
      },
      SecretResource,
      { fieldManager: FIELD_MANAGER, force: true },
    );

    // --- what the run watches --------------------------------------------------------------------
    const tracks = new Map<string, Track>();
    const releases = new Watched<Release>(client, ReleaseResource, ns, (r) => {
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
    const deployments = new Watched<Deployment>(client, DeploymentResource, ns);
    const services = new Watched<Service>(client, ServiceResource, ns);
    const pods = new Watched<Pod>(client, PodResource, ns);
    cleanups.push(async () => [releases, deployments, services, pods].forEach((w) => w.stop()));

    // --- 1.0.0 everywhere ------------------------------------------------------------------------
    const apply = (i: number, version: string) =>
      client.apply(
        {
          apiVersion: "crescendo.dev/v1alpha1",
          kind: "Release",
          metadata: { name: nameOf(i), namespace: ns },
          spec: releaseSpec(i, version, prometheusUrl),
        },
        ReleaseResource,
        { fieldManager: FIELD_MANAGER, force: true },
      );
    o.log(`creating ${o.rollouts} Releases at 1.0.0`);
    for (let i = 0; i < o.rollouts; i++) await apply(i, "1.0.0");
    const statusOf = (i: number) => releases.store.get(`${ns}/${nameOf(i)}`)?.status;
    const healthyCount = () =>
      Array.from({ length: o.rollouts }, (_, i) => statusOf(i)).filter((s) => s?.phase === "Healthy").length;
    await until(
      "every Release Healthy at 1.0.0",
      () => healthyCount() === o.rollouts,
      () => `${healthyCount()}/${o.rollouts}`,
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
      for (let i = 0; i < o.rollouts; i++) {
        const name = nameOf(i);
        const mine = (podsByRelease.get(name) ?? []).filter(readyPod);
        for (const svcName of [name, `${name}-stable`]) {
          const key = `${name}|${svcName}`;
          const selector = services.store.get(`${ns}/${svcName}`)?.spec?.selector;
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
    o.log(
      `applying 2.0.0 to each Release within ${o.applyWindowMs / 1000} s; injecting faults (seed ${o.seed})`,
    );
    const chaosStarted = Date.now();
    const applying = Promise.all(
      Array.from({ length: o.rollouts }, async (_, i) => {
        await sleep(between(0, o.applyWindowMs));
        await retry(() => apply(i, "2.0.0"));
        if (kindOf(i) !== "manualAbort") return;
        // A rollout that never gets there (no leader long enough, under faults and load) is a
        // violation of its own, not the end of the run: the others are still checked.
        const paused = await until(
          `${nameOf(i)} at its pause step`,
          () => statusOf(i)?.pauseReason === "PauseStep" && statusOf(i)?.canaryVersion === "2.0.0",
          () => "",
          o.settleTimeoutMs,
        ).then(
          () => true,
          () => false,
        );
        if (!paused) {
          violations.push({
            invariant: "finalPhase",
            release: nameOf(i),
            detail: `manualAbort: not at its pause step after ${o.settleTimeoutMs / 1000} s, so never aborted`,
          });
          return;
        }
        await sleep(between(0, 10_000));
        await retry(() =>
          client.mergePatch(ReleaseResource, nameOf(i), ns, {
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
        o.log(`operator pid ${op.pid} exited on its own`);
      }
      if (operators.length > 0 || restarting) return;
      restarting = true;
      void startOperator()
        .then((op) => void operators.push(op))
        .catch((err: unknown) => o.log(`restart failed: ${String(err)}`))
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
        if (!o.clusterDir) return;
        await restartApiserver(o.clusterDir);
        recordFault("apiserverRestart", "kube-apiserver stopped and started again");
        await until(
          "kube-apiserver back",
          async () => (await client.get(NamespaceResource, ns).catch(() => undefined)) !== undefined,
          () => "",
          120_000,
        );
      },
    };
    const total = () => {
      faults.watchExpiry = expiries.total();
      return Object.values(faults).reduce((a, b) => a + b, 0);
    };
    let rolloutsDone = false;
    void applying.then(
      () => (rolloutsDone = true),
      () => (rolloutsDone = true),
    );
    // Watch expiries come by the dozen a minute on their own: the goal counts the other faults.
    const injected = () => total() - faults.watchExpiry;
    const chaosGoesOn = () =>
      !rolloutsDone || injected() < o.minFaults || Date.now() - chaosStarted < o.applyWindowMs;
    const enabled = (f: Fault) => o.faults.includes(f);
    const kinds = (["kill", "failover", "apiserverRestart"] as const).filter(
      (f) => enabled(f) && (f !== "apiserverRestart" || o.clusterDir !== undefined),
    );
    let processFaultNo = 0;
    const lanes = [
      (async () => {
        while (kinds.length > 0 && chaosGoesOn()) {
          await sleep(between(...o.processFaultEveryMs));
          const pick = o.processFaultsInTurn
            ? processFaultNo++ % kinds.length
            : Math.floor(random() * kinds.length);
          await processFaults[kinds[pick]!]().catch((err: unknown) => o.log(`fault failed: ${String(err)}`));
        }
      })(),
      (async () => {
        while (enabled("prometheusDown") && chaosGoesOn()) {
          await sleep(between(...o.prometheusFaultEveryMs));
          await promDown();
          recordFault("prometheusDown", `Prometheus stopped for ${o.prometheusDownMs / 1000} s`);
          await sleep(o.prometheusDownMs);
          // A Prometheus that fails to come back (the last one not gone yet on a busy machine) is
          // stopped and started again on the same port (the Releases name it), not the end of the run.
          for (let attempt = 1; ; attempt++) {
            try {
              await promUp();
              break;
            } catch (err) {
              o.log(`Prometheus did not start again (attempt ${attempt}): ${String(err).split("\n")[0]}`);
              await promDown().catch(() => undefined);
              if (attempt >= 5) throw err;
              await sleep(2_000);
            }
          }
        }
      })(),
      (async () => {
        while (enabled("stableDeleted") && chaosGoesOn()) {
          await sleep(between(...o.stableDeleteEveryMs));
          const i = Math.floor(random() * o.rollouts);
          const stable = statusOf(i)?.stableRevision;
          if (!stable) continue;
          const deleted = await client
            .delete(DeploymentResource, `${nameOf(i)}-${stable}`, ns)
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
    o.log(`faults over after ${elapsed(chaosStarted)}: ${JSON.stringify(faults)}`);
    await expiries.scrape(operators);

    // --- settling ---------------------------------------------------------------------------------
    const settled = (i: number): boolean => {
      const s = statusOf(i);
      if (!s) return false;
      const notified = (s.notifications ?? []).every((n) => n.deliveredAt || n.failedAt);
      if (ROLLS_BACK.includes(kindOf(i)))
        return s.phase === "RolledBack" && (s.notifications?.length ?? 0) > 0 && notified;
      return s.phase === "Healthy" && s.stableVersion === "2.0.0" && (s.scaleDown ?? []).length === 0;
    };
    const settledCount = () => Array.from({ length: o.rollouts }, (_, i) => i).filter(settled).length;
    await until(
      "every Release settled",
      () => settledCount() === o.rollouts,
      () => `${settledCount()}/${o.rollouts}`,
      o.settleTimeoutMs,
    ).catch((err: unknown) => o.log(String(err)));
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
    for (let i = 0; i < o.rollouts; i++) {
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
    }
    const notifications = checkNotifications(
      Array.from({ length: o.rollouts }, (_, i) => ({
        release: nameOf(i),
        rollsBack: ROLLS_BACK.includes(kindOf(i)),
        ids: (statusOf(i)?.notifications ?? []).map((n) => n.id),
      })),
      receiver.deliveries,
    );
    violations.push(...notifications.violations);
    for (const d of (await client.list<Deployment>(DeploymentResource, { namespace: ns })).items) {
      const release = d.metadata.labels?.[LABELS.release];
      const revision = d.metadata.labels?.[LABELS.revision];
      const s = releases.store.get(`${ns}/${release ?? ""}`)?.status;
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
    for (const svc of (await client.list<Service>(ServiceResource, { namespace: ns })).items) {
      const name = svc.metadata.name ?? "";
      const owner = svc.metadata.ownerReferences?.find((ref) => ref.kind === "Release")?.name;
      if (!owner || !releases.store.get(`${ns}/${owner}`)) {
        violations.push({ invariant: "orphan", detail: `Service ${name} is wanted by no Release` });
      }
    }

    const settledNow = settledCount();
    const result: ChaosResult = {
      rollouts: o.rollouts,
      faults,
      violations,
      durationSeconds: round((Date.now() - started) / 1000),
      seed: o.seed,
      kinds: Object.fromEntries(
        KINDS.map((k) => [
          k,
          Array.from({ length: o.rollouts }, (_, i) => i).filter((i) => kindOf(i) === k).length,
        ]),
      ),
      settled: settledNow,
      operatorSelfExits: selfExits,
      deliveries: receiver.deliveries.length,
      notificationRepeats: notifications.repeats,
      machine: {
        cpus: cpus().length,
        loadAverage: loadavg().map((x) => round(x, 1)),
        loadAverageDuringRun: {
          min: round(Math.min(...loads, loadavg()[0]!), 1),
          max: round(Math.max(...loads, loadavg()[0]!), 1),
        },
      },
    };
    return result;
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
