/**
 * `npm run bench:scale -- --releases N[,N...] --toggles M --squads S --idle-seconds T`
 *
 * For each N: a private control plane, S squads, N Releases and M FeatureToggles created
 * BEFORE the operator starts; then the operator's cold start until every object is Ready, a
 * new version for all N Releases until each is Healthy again through a one-step canary, and T
 * seconds of idle. Prints how each figure grows with N and writes bench/results/scale.json.
 * A benchmark prints figures; it asserts nothing and is not part of CI (the lead may run
 * `--releases 10 --toggles 10 --squads 2 --idle-seconds 5` there as a smoke test).
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../operator/src/config.js";
import { choice, int, ints, optionalInt, parseFlags } from "./args.js";
import { COMPONENTS, ROOT, cpuSnapshot, startCluster, type Cluster } from "./cluster.js";
import { buildArgoRollouts } from "./argo-rollouts-controller.js";
import { buildOperator, imageNodeOptions, Operator } from "./operator.js";
import { Cleanups, elapsed, onInterrupt, round, sleep } from "./run.js";
import { runArgoScale, type PeerRun } from "./scale-argo.js";
import { counterDelta, histogramBuckets, histogramQuantile, type Scrape } from "./prom.js";
import {
  changeAllReleases,
  createWorkload,
  isHealthyAt,
  isReady,
  isSettledAt,
  Watcher,
  WATCHED,
  type Shape,
} from "./workload.js";

const USAGE = `Usage: npm run bench:scale -- [flags]
  --releases N[,N...]   Releases per run; a list runs one after another (default 100)
  --toggles M           FeatureToggles per run (default: the run's N)
  --squads S            Squads, one namespace each (default 10)
  --idle-seconds T      idle period measured after the rollout (default 60)
  --qps Q --burst B     passed to the operator as --kube-api-qps/--kube-api-burst (default: its own)
  --workers W           passed to the operator as --workers (default: its own)
  --timeout-seconds T   give up waiting for convergence after this long per phase (default 1200)
  --results PATH        JSON results file (default bench/results/scale.json)
  --node-options=OPTS   NODE_OPTIONS for the operator (default: the Dockerfile's, as the image runs it;
                        --node-options= runs it with none)
  --server-side         create objects as server-side apply does (default: as client-side
                        \`kubectl apply\`, with the last-applied-configuration annotation)
  --hold-seconds T      keep the cluster and operator running this long after measuring, to inspect
  --tsx                 run the operator from source through tsx instead of compiled (adds ~35 MB RSS)
  --against argo-rollouts
                        after each Crescendo run, the same N canaries as Argo Rollouts on a fresh
                        control plane of the same size (toggles default to 0 then: the same work);
                        side by side in scale-vs-argo-rollouts.json beside --results, and in
                        --results as \`sideBySide\` and \`peers\` (merged by N with earlier runs)`;

interface Options {
  releases: number[];
  toggles?: number;
  squads: number;
  idleSeconds: number;
  qps?: number;
  burst?: number;
  workers?: number;
  timeoutMs: number;
  results: string;
  tsx: boolean;
  nodeOptions?: string;
  serverSide: boolean;
  holdSeconds: number;
  against?: "argo-rollouts";
}

function parseOptions(argv: string[]): Options {
  const { values } = parseFlags(argv, USAGE, {
    releases: { type: "string", default: "100" },
    toggles: { type: "string" },
    squads: { type: "string", default: "10" },
    "idle-seconds": { type: "string", default: "60" },
    qps: { type: "string" },
    burst: { type: "string" },
    workers: { type: "string" },
    "timeout-seconds": { type: "string", default: "1200" },
    results: { type: "string", default: join(ROOT, "bench/results/scale.json") },
    tsx: { type: "boolean", default: false },
    "node-options": { type: "string" },
    "server-side": { type: "boolean", default: false },
    "hold-seconds": { type: "string", default: "0" },
    against: { type: "string" },
  });
  return {
    against: values.against === undefined ? undefined : choice("against", values.against, ["argo-rollouts"]),
    releases: ints("releases", values.releases, 1),
    toggles: optionalInt("toggles", values.toggles, 0),
    squads: int("squads", values.squads, 1),
    idleSeconds: int("idle-seconds", values["idle-seconds"], 0),
    qps: optionalInt("qps", values.qps, 1),
    burst: optionalInt("burst", values.burst, 1),
    workers: optionalInt("workers", values.workers, 1),
    timeoutMs: int("timeout-seconds", values["timeout-seconds"], 1) * 1000,
    results: values.results,
    tsx: values.tsx,
    // Unless told otherwise, the operator runs with the image's NODE_OPTIONS, as it would in a cluster.
    nodeOptions: values["node-options"] ?? imageNodeOptions(),
    serverSide: values["server-side"],
    holdSeconds: int("hold-seconds", values["hold-seconds"], 0),
  };
}

/** One row of bench/results/scale.json; the first fields are the ones the issue names. */
interface RunResult {
  releases: number;
  toggles: number;
  squads: number;
  coldStartSeconds: number | null;
  rolloutAllSeconds: number | null;
  rssPeakMB: number;
  rssSettledMB: number;
  /** Live heap after idle: heapUsed right after the full GC a heap snapshot forces. */
  heapSettledMB: number | null;
  /** Lowest heapUsed sampled during idle (garbage included when no major GC ran). */
  heapIdleMinMB: number | null;
  cpuSeconds: number;
  idleWrites: number;
  idleRequests: number;
  reconcileP50Ms: number | null;
  reconcileP99Ms: number | null;
  reconcilesPerObjectPerChange: number | null;
  // Context for reading the figures above.
  kubeApiQps: number;
  kubeApiBurst: number;
  workers: number;
  /** "compiled" (as the image runs it) or "tsx" (from source, ~35 MB more RSS). */
  operatorRuntime: string;
  /** "client-side" (objects carry kubectl's last-applied annotation) or "server-side". */
  apply: string;
  /** NODE_OPTIONS the operator ran with ("" for none). */
  nodeOptions: string;
  idleSeconds: number;
  /** Operator start until /readyz (informers listed everything). */
  cacheSyncSeconds: number;
  /** Leader-election Lease requests at idle: the designed heartbeat, excluded from idleRequests. */
  idleLeaseRequests: number;
  idleReconciles: Record<string, number>;
  reconcilesPerChangeByController: Record<string, number> | null;
  coldStartReconciles: Record<string, number>;
  reconcileMsByController: Record<string, { p50: number | null; p99: number | null }>;
  /** Requests by `verb resource` in each phase (the operator's crescendo_rest_client_requests_total). */
  requests: {
    coldStart: Record<string, number>;
    rollout: Record<string, number>;
    idle: Record<string, number>;
  };
  /**
   * Seconds requests spent waiting for the client-side rate limiter (all requests summed) and
   * the p99 wait, per phase: large waits mean --kube-api-qps is what bounds the operator.
   */
  rateLimiterWait: Record<string, { totalSeconds: number; p99Ms: number | null }>;
  /** CPU seconds per process per phase, with the phase's wall time: who was busy. */
  cpu: Record<string, Record<string, number>>;
  controllers: string[];
  machine: { nproc: number; memoryGB: number; node: string };
  at: string;
}

const MB = 1024 * 1024;
const cleanups = new Cleanups();
const { interrupted } = onInterrupt(cleanups);

/**
 * Waits until `done()` with a progress line every 5 s; throws after `timeoutMs`. `step` runs
 * every second (sampling), `describe` says where things are.
 */
async function until(
  what: string,
  done: () => boolean | Promise<boolean>,
  describe: () => string | Promise<string>,
  timeoutMs: number,
  op?: Operator,
): Promise<void> {
  const started = Date.now();
  let lastLog = started;
  for (;;) {
    if (await done()) return;
    if (op && !op.alive) throw new Error(`the operator exited during ${what}; see its log`);
    if (Date.now() - started > timeoutMs)
      throw new Error(`timed out after ${elapsed(started)}: ${what}; ${await describe()}`);
    if (Date.now() - lastLog >= 5000) {
      lastLog = Date.now();
      console.log(`  … ${what}: ${elapsed(started)}, ${await describe()}`);
    }
    await sleep(250);
  }
}

/**
 * Waits until the operator has nothing queued and reconciled nothing for `quietMs`: what
 * "settled" means for memory and the start of the idle period. Requeue-after timers may still
 * be pending; those show up as idle reconciles, which is what the idle figures are for.
 */
async function quiesce(op: Operator, quietMs: number, timeoutMs: number): Promise<Scrape> {
  const started = Date.now();
  let last = await op.scrape();
  let quietSince = Date.now();
  for (;;) {
    await sleep(1000);
    const now = await op.scrape();
    const busy =
      now.sum("controller_runtime_reconcile_total") !== last.sum("controller_runtime_reconcile_total") ||
      now.sum("workqueue_depth") > 0 ||
      now.sum("controller_runtime_active_workers") > 0;
    if (busy) quietSince = Date.now();
    last = now;
    if (Date.now() - quietSince >= quietMs) return now;
    if (Date.now() - started > timeoutMs) {
      console.log(`  ! still reconciling after ${elapsed(started)}; measuring idle anyway`);
      return now;
    }
  }
}

const byVerbResource = (before: Scrape | undefined, after: Scrape): Record<string, number> => {
  const out: Record<string, number> = {};
  const delta = counterDelta(before, after, "crescendo_rest_client_requests_total", ["verb", "resource"]);
  for (const [k, v] of [...delta].sort((a, b) => b[1] - a[1])) if (v > 0) out[k.replace("|", " ")] = v;
  return out;
};

const byController = (before: Scrape | undefined, after: Scrape): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const [k, v] of counterDelta(before, after, "controller_runtime_reconcile_total", ["controller"]))
    out[k] = v;
  return out;
};

const WRITE_VERBS = new Set(["create", "update", "patch", "delete"]);
const isLease = (key: string): boolean => key.endsWith(" leases.coordination.k8s.io");

const quantileMs = (
  q: number,
  before: Scrape | undefined,
  after: Scrape,
  match: Record<string, string> = {},
) => {
  const v = histogramQuantile(
    q,
    histogramBuckets(before, after, "controller_runtime_reconcile_time_seconds", match),
  );
  return v === undefined ? null : round(v * 1000, 1);
};

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : (s[Math.floor((s.length - 1) / 2)]! + s[Math.ceil((s.length - 1) / 2)]!) / 2;
};

async function runOne(shape: Shape, o: Options, entry: string | undefined): Promise<RunResult> {
  const defaults = loadConfig([], {});
  const qps = o.qps ?? defaults.qps;
  const burst = o.burst ?? defaults.burst;
  const workers = o.workers ?? defaults.workers;
  const tag = `[N=${shape.releases}]`;
  const phase = (m: string): void => console.log(`${tag} ${m}`);
  phase(
    `${o.nodeOptions ? `NODE_OPTIONS=${o.nodeOptions}; ` : ""}${shape.squads} squads, ${shape.releases} releases, ${shape.toggles} toggles; operator qps ${qps} burst ${burst} workers ${workers}`,
  );

  const cluster: Cluster = await startCluster(2 * shape.releases + 20, phase);
  cleanups.push(cluster.stop);

  let lastQuarter = 0;
  const created = Date.now();
  await createWorkload(cluster.client, shape, (done, total) => {
    const quarter = Math.floor((done / total) * 4);
    if (quarter > lastQuarter && done < total) phase(`creating objects: ${done}/${total}`);
    lastQuarter = quarter;
  });
  phase(`created ${shape.squads * 2 + shape.releases + shape.toggles} objects in ${elapsed(created)}`);

  const watcher = new Watcher(cluster.client, WATCHED);
  cleanups.push(async () => watcher.stop());
  await until(
    "bench watches synced",
    () => watcher.synced(),
    () => "",
    60_000,
  );

  const logFile = join(ROOT, ".tmp/bench-logs", `operator-${shape.releases}-${Date.now()}.log`);
  const args = [
    ...(o.qps ? ["--kube-api-qps", String(o.qps)] : []),
    ...(o.burst ? ["--kube-api-burst", String(o.burst)] : []),
    ...(o.workers ? ["--workers", String(o.workers)] : []),
  ];
  const pids = { ...cluster.pids };
  const cpu0 = cpuSnapshot(pids);
  phase(`starting the operator (log: ${logFile})`);
  const op = await Operator.start({
    kubeconfig: cluster.kubeconfig,
    args,
    logFile,
    entry,
    nodeOptions: o.nodeOptions,
  });
  cleanups.push(() => op.stop());
  const t0 = op.startedAt;
  await op.waitReady(o.timeoutMs);
  const cacheSyncSeconds = (Date.now() - t0) / 1000;
  const registered = (await op.scrape())
    .select("controller_runtime_max_concurrent_reconciles")
    .map((s) => s.labels["controller"] ?? "");
  phase(`caches synced in ${cacheSyncSeconds.toFixed(1)} s; controllers: ${registered.join(", ")}`);
  const hasRelease = registered.includes("release");
  const hasToggle = registered.includes("featuretoggle");
  for (const [kind, present] of [
    ["release", hasRelease],
    ["featuretoggle", hasToggle],
  ] as const) {
    if (!present) phase(`! no ${kind} controller registered: its objects are not waited for`);
  }

  const counts = (): string =>
    [
      `squads ${watcher.count("Squad", isReady)}/${shape.squads}`,
      hasRelease ? `releases ${watcher.count("Release", isReady)}/${shape.releases}` : "",
      hasToggle ? `toggles ${watcher.count("FeatureToggle", isReady)}/${shape.toggles}` : "",
      `rss ${round((op.samples.at(-1)?.rss ?? 0) / MB, 0)} MB`,
    ]
      .filter(Boolean)
      .join(", ");
  await until(
    "cold start",
    () =>
      watcher.count("Squad", isReady) === shape.squads &&
      (!hasRelease || watcher.count("Release", isReady) === shape.releases) &&
      (!hasToggle || watcher.count("FeatureToggle", isReady) === shape.toggles),
    counts,
    o.timeoutMs,
    op,
  );
  const coldStartSeconds = (Date.now() - t0) / 1000;
  const sCold = await op.scrape();
  const cpuCold = { ...cpuSnapshot(pids), operator: op.cpuSeconds() };
  phase(`cold start: every object Ready ${coldStartSeconds.toFixed(1)} s after the operator started`);

  phase("waiting for the operator to go quiet");
  const sBeforeChange = await quiesce(op, 5000, o.timeoutMs);
  const cpuBeforeChange = { ...cpuSnapshot(pids), operator: op.cpuSeconds() };

  let rolloutAllSeconds: number | null = null;
  let sAfterChange = sBeforeChange;
  let cpuAfterChange = cpuBeforeChange;
  let tChange = Date.now();
  let tSettled = tChange;
  if (hasRelease) {
    phase(`changing all ${shape.releases} Releases to version 2`);
    tChange = Date.now();
    await changeAllReleases(cluster.client, shape, "2");
    phase(`patched in ${elapsed(tChange)}`);
    const healthy = isHealthyAt("2");
    await until(
      "rollout",
      () => watcher.count("Release", healthy) === shape.releases,
      () =>
        `healthy ${watcher.count("Release", healthy)}/${shape.releases}, rss ${round((op.samples.at(-1)?.rss ?? 0) / MB, 0)} MB`,
      o.timeoutMs,
      op,
    );
    rolloutAllSeconds = (Date.now() - tChange) / 1000;
    phase(
      `rollout: all ${shape.releases} Releases Healthy at version 2 after ${rolloutAllSeconds.toFixed(1)} s`,
    );
    const settled = isSettledAt("2");
    await until(
      "scale-down",
      () => watcher.count("Release", settled) === shape.releases,
      () => "",
      o.timeoutMs,
      op,
    );
    sAfterChange = await quiesce(op, 5000, o.timeoutMs);
    tSettled = Date.now();
    cpuAfterChange = { ...cpuSnapshot(pids), operator: op.cpuSeconds() };
  }

  phase(`idle for ${o.idleSeconds} s`);
  const sIdle0 = await op.scrape();
  const cpuIdle0 = { ...cpuSnapshot(pids), operator: op.cpuSeconds() };
  const tIdle0 = Date.now();
  for (let left = o.idleSeconds; left > 0; left -= 10) {
    await sleep(Math.min(10, left) * 1000);
    if (left > 10) console.log(`  … idle: ${o.idleSeconds - left + 10}/${o.idleSeconds} s`);
  }
  const sIdle1 = await op.scrape();
  const cpuIdle1 = { ...cpuSnapshot(pids), operator: op.cpuSeconds() };
  const tIdle1 = Date.now();

  phase("measuring the live heap (heap snapshot)");
  const liveHeap = await op.liveHeapBytes().catch(() => undefined);
  const idle = byVerbResource(sIdle0, sIdle1);
  const idleNonLease = Object.entries(idle).filter(([k]) => !isLease(k));
  const settledWindow = op.window(Math.max(tIdle0, tIdle1 - 10_000), tIdle1);
  // The lowest heapUsed while idle is the closest outside view of live data: right after a GC.
  const heaps = op.window(tIdle0, tIdle1).flatMap((s) => (s.heapUsed === undefined ? [] : [s.heapUsed]));
  const changeDelta = hasRelease ? byController(sBeforeChange, sAfterChange) : null;
  const controllers = registered.sort();
  const reconcileMsByController: RunResult["reconcileMsByController"] = {};
  for (const c of controllers) {
    reconcileMsByController[c] = {
      p50: quantileMs(0.5, undefined, sAfterChange, { controller: c }),
      p99: quantileMs(0.99, undefined, sAfterChange, { controller: c }),
    };
  }
  const cpuPhase = (a: Record<string, number>, b: Record<string, number>, from: number, to: number) => {
    const d = (k: string): number => (b[k] ?? 0) - (a[k] ?? 0);
    const out: Record<string, number> = { wallSeconds: round((to - from) / 1000) };
    for (const k of [...COMPONENTS, "operator", "bench"]) out[k] = round(d(k), 2);
    const ours = [...COMPONENTS, "operator", "bench"].reduce((sum, k) => sum + d(k), 0);
    // Busy CPU of everything else on the machine in the same window (other tests, builds).
    out["others"] = round(Math.max(0, d("machine") - ours), 2);
    return out;
  };

  const limiterWait = (before: Scrape | undefined, after: Scrape) => {
    const name = "rest_client_rate_limiter_duration_seconds";
    const total = [...counterDelta(before, after, `${name}_sum`, [])].reduce((a, [, v]) => a + v, 0);
    const p99 = histogramQuantile(0.99, histogramBuckets(before, after, name));
    return { totalSeconds: round(total, 1), p99Ms: p99 === undefined ? null : round(p99 * 1000, 0) };
  };

  const result: RunResult = {
    releases: shape.releases,
    toggles: shape.toggles,
    squads: shape.squads,
    coldStartSeconds: round(coldStartSeconds),
    rolloutAllSeconds: rolloutAllSeconds === null ? null : round(rolloutAllSeconds),
    rssPeakMB: round(Math.max(...op.window(0, tIdle1).map((s) => s.rss)) / MB),
    rssSettledMB: round(median(settledWindow.map((s) => s.rss)) / MB),
    heapSettledMB: liveHeap === undefined ? null : round(liveHeap / MB),
    heapIdleMinMB: heaps.length ? round(Math.min(...heaps) / MB) : null,
    cpuSeconds: round(op.cpuSeconds(), 1),
    idleWrites: idleNonLease
      .filter(([k]) => WRITE_VERBS.has(k.split(" ")[0]!))
      .reduce((a, [, v]) => a + v, 0),
    idleRequests: idleNonLease.filter(([k]) => !k.startsWith("watch ")).reduce((a, [, v]) => a + v, 0),
    reconcileP50Ms: quantileMs(0.5, undefined, sAfterChange),
    reconcileP99Ms: quantileMs(0.99, undefined, sAfterChange),
    reconcilesPerObjectPerChange:
      changeDelta === null ? null : round((changeDelta["release"] ?? 0) / shape.releases, 2),
    kubeApiQps: qps,
    kubeApiBurst: burst,
    workers,
    operatorRuntime: entry ? "compiled" : "tsx",
    nodeOptions: o.nodeOptions ?? "",
    apply: shape.lastApplied ? "client-side" : "server-side",
    idleSeconds: o.idleSeconds,
    cacheSyncSeconds: round(cacheSyncSeconds),
    idleLeaseRequests: Object.entries(idle)
      .filter(([k]) => isLease(k))
      .reduce((a, [, v]) => a + v, 0),
    idleReconciles: byController(sIdle0, sIdle1),
    reconcilesPerChangeByController:
      changeDelta === null
        ? null
        : Object.fromEntries(Object.entries(changeDelta).map(([k, v]) => [k, round(v / shape.releases, 2)])),
    coldStartReconciles: byController(undefined, sCold),
    reconcileMsByController,
    requests: {
      coldStart: byVerbResource(undefined, sCold),
      rollout: hasRelease ? byVerbResource(sBeforeChange, sAfterChange) : {},
      idle,
    },
    rateLimiterWait: {
      coldStart: limiterWait(undefined, sCold),
      rollout: limiterWait(sBeforeChange, sAfterChange),
    },
    cpu: {
      coldStart: cpuPhase(cpu0, cpuCold, t0, t0 + coldStartSeconds * 1000),
      rollout: cpuPhase(cpuBeforeChange, cpuAfterChange, tChange, tSettled),
      idle: cpuPhase(cpuIdle0, cpuIdle1, tIdle0, tIdle1),
    },
    controllers,
    machine: machine(),
    at: new Date().toISOString(),
  };
  printRun(result);
  if (o.holdSeconds > 0) {
    phase(
      `holding for ${o.holdSeconds} s to inspect: operator pid ${op.pid}, ` +
        `metrics http://127.0.0.1:${op.healthPort}/metrics, KUBECONFIG=${cluster.kubeconfig}`,
    );
    await sleep(o.holdSeconds * 1000);
  }
  return result;
}

function machine(): RunResult["machine"] {
  return { nproc: cpus().length, memoryGB: round(totalmem() / 1024 ** 3), node: process.version };
}

function printRun(r: RunResult): void {
  const table = (title: string, rec: Record<string, number>): void => {
    const rows = Object.entries(rec);
    console.log(`  ${title}: ${rows.length === 0 ? "none" : ""}`);
    for (const [k, v] of rows) console.log(`    ${String(v).padStart(7)}  ${k}`);
  };
  console.log(`\n[N=${r.releases}] requests by verb and resource`);
  table("cold start", r.requests.coldStart);
  table("rollout", r.requests.rollout);
  table(`idle ${r.idleSeconds} s`, r.requests.idle);
  console.log(`[N=${r.releases}] CPU seconds by process (wall seconds first)`);
  for (const [p, rec] of Object.entries(r.cpu)) {
    console.log(
      `  ${p.padEnd(10)} ${Object.entries(rec)
        .map(([k, v]) => `${k} ${v}`)
        .join(", ")}`,
    );
  }
  console.log(`[N=${r.releases}] client rate limiter waits: ${JSON.stringify(r.rateLimiterWait)}`);
  console.log(`[N=${r.releases}] reconciles: cold start ${JSON.stringify(r.coldStartReconciles)}`);
  console.log(
    `  per changed Release during the rollout: ${JSON.stringify(r.reconcilesPerChangeByController)}`,
  );
  console.log(`  at idle: ${JSON.stringify(r.idleReconciles)}`);
  console.log(`  latency ms by controller: ${JSON.stringify(r.reconcileMsByController)}\n`);
}

const COLUMNS: [string, (r: RunResult) => unknown][] = [
  ["releases", (r) => r.releases],
  ["toggles", (r) => r.toggles],
  ["squads", (r) => r.squads],
  ["qps/burst", (r) => `${r.kubeApiQps}/${r.kubeApiBurst}`],
  ["workers", (r) => r.workers],
  ["cold start s", (r) => r.coldStartSeconds],
  ["rollout s", (r) => r.rolloutAllSeconds],
  ["RSS peak MB", (r) => r.rssPeakMB],
  ["RSS settled MB", (r) => r.rssSettledMB],
  ["heap settled MB", (r) => r.heapSettledMB],
  ["CPU s", (r) => r.cpuSeconds],
  ["reconcile p50 ms", (r) => r.reconcileP50Ms],
  ["reconcile p99 ms", (r) => r.reconcileP99Ms],
  ["reconciles/obj/change", (r) => r.reconcilesPerObjectPerChange],
  ["idle writes", (r) => r.idleWrites],
  ["idle requests", (r) => r.idleRequests],
];

/** A Markdown table (what docs/performance.md shows), one row per run. */
export function markdownTable(runs: RunResult[]): string {
  const cell = (v: unknown): string => (v === null || v === undefined ? "–" : String(v));
  const rows = runs.map((r) => COLUMNS.map(([, f]) => cell(f(r))));
  const widths = COLUMNS.map(([h], i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padStart(widths[i]!)).join(" | ")} |`;
  return [
    line(COLUMNS.map(([h]) => h)),
    `|${widths.map((w) => "-".repeat(w + 1) + ":").join("|")}|`,
    ...rows.map(line),
  ].join("\n");
}

/** Same releases/toggles/squads and client settings: a rerun replaces its entry. */
const sameRun = (a: RunResult, b: RunResult): boolean =>
  a.releases === b.releases &&
  a.toggles === b.toggles &&
  a.squads === b.squads &&
  a.kubeApiQps === b.kubeApiQps &&
  a.kubeApiBurst === b.kubeApiBurst &&
  a.workers === b.workers &&
  a.operatorRuntime === b.operatorRuntime &&
  (a.nodeOptions ?? "") === (b.nodeOptions ?? "") &&
  (a.apply ?? "server-side") === (b.apply ?? "server-side");

/** The JSON object in `path`, or an empty one when there is none yet (or it cannot be read). */
function readResults(path: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
  } catch {
    return {}; // first run, or an unreadable file: start afresh
  }
}

function saveResult(path: string, result: RunResult): RunResult[] {
  const saved = readResults(path);
  let runs = (saved["runs"] as RunResult[] | undefined) ?? [];
  runs = runs.filter((r) => !sameRun(r, result)).concat(result);
  runs.sort((a, b) => a.releases - b.releases || a.kubeApiQps - b.kubeApiQps || a.toggles - b.toggles);
  mkdirSync(join(path, ".."), { recursive: true });
  // Other keys (the side-by-side figures) are kept as they are.
  writeFileSync(path, JSON.stringify({ ...saved, runs }, null, 2) + "\n");
  return runs;
}

/** Requests that are not watches or the leader-election Lease, per changed Release. */
function requestsPerChange(r: RunResult): number | null {
  if (r.rolloutAllSeconds === null) return null;
  const n = Object.entries(r.requests.rollout)
    .filter(([k]) => !k.startsWith("watch ") && !isLease(k))
    .reduce((a, [, v]) => a + v, 0);
  return round(n / r.releases, 2);
}

const SIDE_BY_SIDE: [string, (r: RunResult) => number | null, (p: PeerRun) => number | null][] = [
  ["cold start s", (r) => r.coldStartSeconds, (p) => p.coldStartSeconds],
  ["rollout s", (r) => r.rolloutAllSeconds, (p) => p.rolloutAllSeconds],
  ["RSS peak MB", (r) => r.rssPeakMB, (p) => p.rssPeakMB],
  ["RSS settled MB", (r) => r.rssSettledMB, (p) => p.rssSettledMB],
  ["CPU s", (r) => r.cpuSeconds, (p) => p.cpuSeconds],
  ["requests/change", requestsPerChange, (p) => p.requestsPerChange],
  ["idle requests", (r) => r.idleRequests, (p) => p.idleRequests],
];

const ratio = (a: number | null, b: number | null): number | null =>
  a === null || b === null || b === 0 ? null : round(a / b, 2);

/** Crescendo and Argo Rollouts at each N, with Crescendo ÷ Argo Rollouts. */
function sideBySide(done: RunResult[], peers: PeerRun[]): ({ releases: number } & Record<string, unknown>)[] {
  return peers.map((p) => {
    const c = done.find((r) => r.releases === p.releases)!;
    const row: { releases: number } & Record<string, unknown> = { releases: p.releases };
    for (const [name, mine, theirs] of SIDE_BY_SIDE)
      row[name] = { crescendo: mine(c), "argo-rollouts": theirs(p), ratio: ratio(mine(c), theirs(p)) };
    return row;
  });
}

/** Beside the Crescendo results: bench/results/scale-vs-argo-rollouts.json by default. */
const sideBySidePath = (o: Options): string => join(o.results, "..", "scale-vs-argo-rollouts.json");

/** Rows of earlier runs at other N are kept; a run at the same N replaces its row. */
function byReleases<T extends { releases: number }>(earlier: T[] | undefined, now: T[]): T[] {
  const fresh = new Set(now.map((r) => r.releases));
  return [...(earlier ?? []).filter((r) => !fresh.has(r.releases)), ...now].sort(
    (a, b) => a.releases - b.releases,
  );
}

/**
 * The side-by-side figures, merged by N with those of earlier invocations (N=1,000 can run on
 * its own after N=500): in scale-vs-argo-rollouts.json with both systems' full runs, and in
 * scale.json as `sideBySide` and `peers` beside its `runs` (whose schema is unchanged).
 */
function saveSideBySide(path: string, scalePath: string, done: RunResult[], peers: PeerRun[]): void {
  type Saved = {
    sideBySide?: { releases: number }[];
    crescendo?: RunResult[];
    peers?: { "argo-rollouts"?: PeerRun[] };
  };
  const saved = readResults(path) as Saved;
  const rows = byReleases(saved.sideBySide, sideBySide(done, peers));
  const argo = { "argo-rollouts": byReleases(saved.peers?.["argo-rollouts"], peers) };
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(
    path,
    JSON.stringify({ sideBySide: rows, crescendo: byReleases(saved.crescendo, done), peers: argo }, null, 2) +
      "\n",
  );
  const scale = readResults(scalePath);
  writeFileSync(scalePath, JSON.stringify({ ...scale, sideBySide: rows, peers: argo }, null, 2) + "\n");
}

function sideBySideTable(done: RunResult[], peers: PeerRun[]): string {
  const lines = ["| N | figure | Crescendo | Argo Rollouts | Crescendo ÷ Argo |", "|--:|---|--:|--:|--:|"];
  for (const row of sideBySide(done, peers))
    for (const [name] of SIDE_BY_SIDE) {
      const cell = row[name] as {
        crescendo: number | null;
        "argo-rollouts": number | null;
        ratio: number | null;
      };
      const f = (v: number | null) => (v === null ? "–" : String(v));
      lines.push(
        `| ${String(row["releases"])} | ${name} | ${f(cell.crescendo)} | ${f(cell["argo-rollouts"])} | ${f(cell.ratio)} |`,
      );
    }
  return lines.join("\n");
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  const m = machine();
  console.log(`machine: ${m.nproc} CPUs, ${m.memoryGB} GB, Node ${m.node}`);
  let entry: string | undefined;
  if (!o.tsx) {
    console.log("compiling the operator (tsconfig.build.json) into .tmp/bench-build");
    entry = await buildOperator();
  }
  const done: RunResult[] = [];
  const peers: PeerRun[] = [];
  const argo = o.against === "argo-rollouts" ? await buildArgoRollouts() : undefined;
  if (argo) console.log(`argo-rollouts controller ${argo.version}: ${argo.binary}`);
  for (const releases of o.releases) {
    const shape: Shape = {
      releases,
      // Side by side, Crescendo does what the peer does: canaries, no FeatureToggles.
      toggles: o.toggles ?? (o.against ? 0 : releases),
      squads: o.squads,
      lastApplied: !o.serverSide,
    };
    try {
      const result = await runOne(shape, o, entry);
      saveResult(o.results, result);
      done.push(result);
    } finally {
      await cleanups.run();
    }
    if (interrupted()) return;
    if (argo) {
      peers.push(
        await runArgoScale(argo, releases, o.squads, {
          idleSeconds: o.idleSeconds,
          timeoutMs: o.timeoutMs,
          lastApplied: !o.serverSide,
        }),
      );
      saveSideBySide(sideBySidePath(o), o.results, done, peers);
      if (interrupted()) return;
    }
  }
  console.log(`\n${markdownTable(done)}\n\nresults: ${o.results}`);
  if (argo)
    console.log(`\n${sideBySideTable(done, peers)}\n\nresults: bench/results/scale-vs-argo-rollouts.json`);
}

main().catch(async (err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  await cleanups.run();
  process.exit(1);
});
