/**
 * `npm run bench:rollback -- --canaries N --interval-seconds I [--against argo-rollouts]`
 *
 * How fast a bad canary is taken back. On a private control plane with a real Prometheus
 * scraping the metrics simulator every second: N objects of one replica rolled to a canary held
 * at a pause step, its background analysis measuring the error rate every I seconds with no
 * failure tolerated. Then, one canary after another, the simulated error rate of the canary goes
 * from 0 to 50 % and the benchmark times, from its own watch of the API:
 *
 *   detection  error rate raised → the verdict appears in the API
 *   action     the verdict → traffic on the stable revision and the canary at zero pods
 *   total      error rate raised → traffic on stable and the canary at zero pods
 *
 * Detection and action split where each controller makes its verdict visible: Argo Rollouts
 * writes the failed AnalysisRun before acting; Crescendo acts and records RolledBack in the same
 * reconcile, its status write last, so part of its action is counted in its detection. Compare
 * controllers on the total.
 *
 * `--against argo-rollouts` also runs Argo Rollouts (built from its Go module) through the same
 * steps on the same control plane and Prometheus, rounds interleaved (Crescendo, Argo, Crescendo,
 * …), one controller running at a time. Flagger is not run: its rollback time is the arithmetic
 * its documentation gives (interval × threshold), recorded beside the measurements.
 *
 * Writes bench/results/rollback.json. A benchmark prints figures; it asserts nothing.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { NamespaceResource } from "../../operator/src/runtime/resources.js";
import { createReflector } from "../../operator/src/runtime/reflector.js";
import { Store } from "../../operator/src/runtime/store.js";
import type { KubeObject } from "../../operator/src/runtime/types.js";
import { choice, int, parseFlags } from "./args.js";
import { ROOT, startCluster, type Cluster } from "./cluster.js";
import { startMetricsEnv, type MetricsEnv } from "./metrics-env.js";
import { buildOperator, imageNodeOptions } from "./operator.js";
import { CrescendoSubject } from "./rollback-crescendo.js";
import { objectName, type RollbackSetup, type RollbackSubject, type Stores } from "./rollback-subject.js";
import { Cleanups, elapsed, median, onInterrupt, round, sleep, spread, until, type Spread } from "./run.js";
import { pool } from "./workload.js";

const USAGE = `Usage: npm run bench:rollback -- [flags]
  --canaries N          bad canaries per round (default 20)
  --rounds R            rounds per controller, interleaved with the peer's (default 1; 3 with --against)
  --interval-seconds I  analysis interval, 1-5 (default 2)
  --gap-ms G            time between two canaries going bad (default 700)
  --against NAME        also run the peer: argo-rollouts
  --results PATH        JSON results file (default bench/results/rollback.json)
  --tsx                 run the operator from source through tsx instead of compiled`;

interface Options {
  canaries: number;
  rounds: number;
  intervalSeconds: number;
  gapMs: number;
  against?: "argo-rollouts";
  results: string;
  tsx: boolean;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseFlags(argv, USAGE, {
    canaries: { type: "string", default: "20" },
    rounds: { type: "string" },
    "interval-seconds": { type: "string", default: "2" },
    "gap-ms": { type: "string", default: "700" },
    against: { type: "string" },
    results: { type: "string", default: join(ROOT, "bench/results/rollback.json") },
    tsx: { type: "boolean", default: false },
  });
  return {
    canaries: int("canaries", values.canaries, 1),
    rounds: int("rounds", values.rounds ?? (values.against ? "3" : "1"), 1),
    intervalSeconds: int("interval-seconds", values["interval-seconds"], 1, 5),
    gapMs: int("gap-ms", values["gap-ms"], 0),
    against: values.against === undefined ? undefined : choice("against", values.against, ["argo-rollouts"]),
    results: values.results,
    tsx: values.tsx,
  };
}

/** One canary's timings, ms. */
interface Timing {
  detectionMs: number;
  actionMs: number;
}

interface RoundResult {
  system: string;
  round: number;
  timings: Timing[];
  /** Canaries not rolled back within the deadline. */
  missed: number;
  /** Controller CPU seconds from the first bad canary to the last action. */
  cpuSeconds: number;
}

const BAD = { errorRate: 0.5 };
const GOOD = { errorRate: 0, rps: 50, latencySeconds: 0.02 };

/** One reflector per resource, feeding stores the subject's predicates read. */
class Watch {
  private readonly ctl = new AbortController();
  readonly stores: Stores = new Map();

  constructor(cluster: Cluster, subject: RollbackSubject) {
    for (const resource of subject.resources) {
      const store = new Store<KubeObject>();
      this.stores.set(resource.kind, store);
      void createReflector({ client: cluster.client, resource, store }).run(this.ctl.signal);
    }
  }

  synced = (): boolean => [...this.stores.values()].every((s) => s.hasSynced());

  /** Calls `fn` on every change of any watched object. */
  onChange(fn: () => void): () => void {
    const offs = [...this.stores.values()].map((s) => s.subscribe(fn));
    return () => offs.forEach((off) => off());
  }

  stop(): void {
    this.ctl.abort();
  }
}

async function runRound(
  subject: RollbackSubject,
  roundNo: number,
  o: Options,
  cluster: Cluster,
  metrics: MetricsEnv,
): Promise<RoundResult> {
  const tag = `[${subject.name} round ${roundNo}]`;
  const log = (m: string): void => console.log(`${tag} ${m}`);
  const namespace = `rb-${subject.name}-${roundNo}`;
  const setup: RollbackSetup = {
    cluster,
    namespace,
    prometheusUrl: metrics.prometheusUrl,
    intervalSeconds: o.intervalSeconds,
    logFile: join(ROOT, ".tmp/bench-logs", `rollback-${subject.name}-${roundNo}-${Date.now()}.log`),
  };
  const indices = Array.from({ length: o.canaries }, (_, i) => i);
  const series = (i: number, version: string) => ({ namespace, release: objectName(i), revision: version });
  const cleanups = new Cleanups();
  try {
    await cluster.client.apply(
      { apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } },
      NamespaceResource,
      { fieldManager: "crescendo-bench", force: true },
    );
    // Both versions serve well until a canary is made bad; series exist before any measurement.
    for (const i of indices) for (const v of ["1", "2"]) metrics.simulator.set(series(i, v), GOOD);

    const watch = new Watch(cluster, subject);
    cleanups.push(async () => watch.stop());
    await until("watches synced", watch.synced, () => "", 60_000);

    log(`starting the controller (log: ${setup.logFile})`);
    await subject.start(setup);
    cleanups.push(() => subject.stop());
    const alive = () => subject.alive();
    const count = (pred: (i: number) => boolean): number => indices.filter(pred).length;

    await pool(indices, 16, (i) => subject.apply(setup, i, "1"));
    await until(
      `${o.canaries} stable at version 1`,
      () => count((i) => subject.stableAt(watch.stores, namespace, i, "1")) === o.canaries,
      () => `${count((i) => subject.stableAt(watch.stores, namespace, i, "1"))}/${o.canaries}`,
      300_000,
      alive,
    );
    await pool(indices, 16, (i) => subject.apply(setup, i, "2"));
    await until(
      `${o.canaries} canaries of version 2 held with a passing analysis`,
      () => count((i) => subject.holding(watch.stores, namespace, i, "2")) === o.canaries,
      () => `${count((i) => subject.holding(watch.stores, namespace, i, "2"))}/${o.canaries}`,
      300_000,
      alive,
    );
    const early = indices.filter((i) => subject.decided(watch.stores, namespace, i));
    if (early.length > 0)
      throw new Error(`${early.length} canaries failed before going bad: a false rollback`);

    // Times from this process's clock, taken in the watch callbacks as events arrive.
    const raisedAt = new Map<number, number>();
    const decidedAt = new Map<number, number>();
    const actedAt = new Map<number, number>();
    const check = (): void => {
      const now = Date.now();
      for (const i of raisedAt.keys()) {
        if (!decidedAt.has(i) && subject.decided(watch.stores, namespace, i)) decidedAt.set(i, now);
        if (decidedAt.has(i) && !actedAt.has(i) && subject.actedOn(watch.stores, namespace, i))
          actedAt.set(i, now);
      }
    };
    const off = watch.onChange(check);
    cleanups.push(async () => off());

    log(`making the ${o.canaries} canaries bad, one every ${o.gapMs} ms`);
    const cpu0 = subject.cpuSeconds();
    const started = Date.now();
    for (const i of indices) {
      metrics.simulator.set(series(i, "2"), BAD);
      raisedAt.set(i, Date.now());
      if (o.gapMs > 0) await sleep(o.gapMs);
    }
    const deadline = 60_000 + 20 * o.intervalSeconds * 1000;
    try {
      await until(
        "every canary rolled back",
        () => (check(), actedAt.size === o.canaries),
        () => `decided ${decidedAt.size}, acted ${actedAt.size} of ${o.canaries}`,
        deadline,
        alive,
      );
    } catch (err) {
      log(`! ${String(err)}`);
    }
    const cpuSeconds = round(subject.cpuSeconds() - cpu0, 2);
    log(`done in ${elapsed(started)}`);
    const timings = indices.flatMap((i) => {
      const r = raisedAt.get(i)!;
      const d = decidedAt.get(i);
      const a = actedAt.get(i);
      return d === undefined || a === undefined ? [] : [{ detectionMs: d - r, actionMs: a - d }];
    });
    const result = {
      system: subject.name,
      round: roundNo,
      timings,
      missed: o.canaries - timings.length,
      cpuSeconds,
    };
    printRound(result);
    return result;
  } finally {
    await cleanups.run();
    // Free the control plane for the next round; nothing waits for the deletion.
    await cluster.client.delete(NamespaceResource, namespace).catch(() => undefined);
  }
}

function printRound(r: RoundResult): void {
  const d = spread(r.timings.map((t) => t.detectionMs));
  const a = spread(r.timings.map((t) => t.actionMs));
  const t = spread(r.timings.map((x) => x.detectionMs + x.actionMs));
  console.log(
    `[${r.system} round ${r.round}] detection ms ${fmt(d)}; action ms ${fmt(a)}; total ms ${fmt(t)}; ` +
      `${r.missed} missed; controller CPU ${r.cpuSeconds} s`,
  );
}

const fmt = (s: Spread): string => `min ${s.min} p50 ${s.p50} p95 ${s.p95} max ${s.max}`;

interface SystemResult {
  runs: number;
  intervalSeconds: number;
  detectionMs: Spread;
  actionMs: Spread;
  totalMs: Spread;
  missed: number;
  /** Per round: the median detection and action, to show how much rounds differ. */
  roundMediansMs: { detection: number; action: number; total: number }[];
  cpuSecondsPerRound: number[];
}

function summarize(rounds: RoundResult[], o: Options): SystemResult {
  const timings = rounds.flatMap((r) => r.timings);
  return {
    runs: timings.length,
    intervalSeconds: o.intervalSeconds,
    detectionMs: spread(timings.map((t) => t.detectionMs)),
    actionMs: spread(timings.map((t) => t.actionMs)),
    totalMs: spread(timings.map((t) => t.detectionMs + t.actionMs)),
    missed: rounds.reduce((a, r) => a + r.missed, 0),
    roundMediansMs: rounds.map((r) => ({
      detection: Math.round(median(r.timings.map((t) => t.detectionMs))),
      action: Math.round(median(r.timings.map((t) => t.actionMs))),
      total: Math.round(median(r.timings.map((t) => t.detectionMs + t.actionMs))),
    })),
    cpuSecondsPerRound: rounds.map((r) => r.cpuSeconds),
  };
}

/**
 * Flagger's rollback time as its documentation states it: "the time it takes for a canary to be
 * rollback when the metrics or webhook checks are failing: interval * threshold"
 * (https://github.com/fluxcd/flagger/blob/main/docs/gitbook/usage/deployment-strategies.md).
 * `threshold: 1` (roll back at the first failed check) is what failureLimit 0 means here.
 */
function flaggerArithmetic(o: Options) {
  return {
    source: "https://github.com/fluxcd/flagger/blob/main/docs/gitbook/usage/deployment-strategies.md",
    formula: "interval * threshold",
    sameSettings: { interval: `${o.intervalSeconds}s`, threshold: 1, rollbackMs: o.intervalSeconds * 1000 },
    documentedDefaults: { interval: "1m", threshold: 10, rollbackMs: 600_000 },
    note: "arithmetic, not measured: an upper bound on the checks alone, without Prometheus' scrape and rate window",
  };
}

function machine() {
  return { nproc: cpus().length, memoryGB: round(totalmem() / 1024 ** 3), node: process.version };
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  const cleanups = new Cleanups();
  const { interrupted } = onInterrupt(cleanups);
  try {
    let entry: string | undefined;
    if (!o.tsx) {
      console.log("compiling the operator (tsconfig.build.json) into .tmp/bench-build");
      entry = await buildOperator();
    }
    const subjects: RollbackSubject[] = [new CrescendoSubject(entry, imageNodeOptions())];
    if (o.against === "argo-rollouts") {
      const { ArgoRolloutsSubject } = await import("./rollback-argo.js");
      subjects.push(await ArgoRolloutsSubject.prepare());
    }
    const log = (m: string): void => console.log(`[setup] ${m}`);
    const cluster = await startCluster(2 * o.canaries * subjects.length + 20, log);
    cleanups.push(cluster.stop);
    for (const s of subjects) await s.install?.(cluster);
    const metrics = await startMetricsEnv(log);
    cleanups.push(metrics.stop);

    const rounds = new Map<string, RoundResult[]>(subjects.map((s) => [s.name, []]));
    for (let r = 1; r <= o.rounds && !interrupted(); r++) {
      for (const subject of subjects) {
        if (interrupted()) break;
        rounds.get(subject.name)!.push(await runRound(subject, r, o, cluster, metrics));
      }
    }

    const crescendo = summarize(rounds.get("crescendo")!, o);
    const peers: Record<string, SystemResult & { version?: string }> = {};
    for (const s of subjects.slice(1))
      peers[s.name] = { ...summarize(rounds.get(s.name)!, o), version: s.version };
    const result = {
      ...crescendo,
      system: "crescendo",
      rounds: o.rounds,
      canariesPerRound: o.canaries,
      gapMs: o.gapMs,
      peers,
      flagger: flaggerArithmetic(o),
      machine: machine(),
      at: new Date().toISOString(),
    };
    mkdirSync(join(o.results, ".."), { recursive: true });
    writeFileSync(o.results, JSON.stringify(result, null, 2) + "\n");
    console.log(
      `\ncrescendo: detection ms ${fmt(crescendo.detectionMs)}; action ms ${fmt(crescendo.actionMs)}`,
    );
    for (const [name, p] of Object.entries(peers)) {
      console.log(`${name}: detection ms ${fmt(p.detectionMs)}; action ms ${fmt(p.actionMs)}`);
      const ratio = (a: number, b: number) => (b === 0 ? "–" : (a / b).toFixed(2));
      console.log(
        `  crescendo ÷ ${name} (p50): detection ${ratio(crescendo.detectionMs.p50, p.detectionMs.p50)}, ` +
          `action ${ratio(crescendo.actionMs.p50, p.actionMs.p50)}, total ${ratio(crescendo.totalMs.p50, p.totalMs.p50)}`,
      );
    }
    console.log(`flagger (arithmetic, interval × threshold): ${o.intervalSeconds * 1000} ms at threshold 1`);
    console.log(`results: ${o.results}`);
  } finally {
    await cleanups.run();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
