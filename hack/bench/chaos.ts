/**
 * `npm run bench:chaos`: N concurrent rollouts on a local control plane of its own while faults
 * are injected at random moments, then invariants checked on every Release (`chaos-run.ts` says
 * which; the e2e smoke test runs the same code at N=5). Writes bench/results/chaos.json.
 *
 *   CRESCENDO_CLUSTER_DIR=/tmp/cluster-x nice -n 10 npm run bench:chaos -- [flags]  (--help lists them)
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createKubeClient } from "../../operator/src/runtime/client.js";
import { loadKubeConfig } from "../../operator/src/runtime/kubeconfig.js";
import { installCrds, script } from "../local-env.js";
import { int, parseFlags } from "./args.js";
import { FAULTS, runChaos, violationsByInvariant } from "./chaos-run.js";
import { ROOT } from "./cluster.js";
import { buildOperator } from "./operator.js";
import { Cleanups, onInterrupt } from "./run.js";

const USAGE = `Usage: CRESCENDO_CLUSTER_DIR=/tmp/cluster-x nice -n 10 npm run bench:chaos -- [flags]
  --rollouts N          concurrent Releases, each rolled out once under faults (default 100)
  --seed S              seed of the fault schedule, to replay a run (default: from the clock)
  --min-faults F        faults (besides watch expiries) injected at the least once every rollout
                        has started (default 50)
  --apply-window W      seconds within which 2.0.0 is applied to each Release (default 150)
  --watch-timeout D     the operator's --watch-timeout: each watch ends after D to 2D (default 20s)`;

const { values } = parseFlags(process.argv.slice(2), USAGE, {
  rollouts: { type: "string", default: "100" },
  seed: { type: "string", default: String(Date.now() % 100_000) },
  "min-faults": { type: "string", default: "50" },
  "apply-window": { type: "string", default: "150" },
  "watch-timeout": { type: "string", default: "20s" },
});
const N = int("rollouts", values.rollouts, 1);
const log = (m: string): void => console.log(`[chaos ${new Date().toISOString().slice(11, 19)}] ${m}`);

async function main(): Promise<void> {
  const cleanups = new Cleanups();
  onInterrupt(cleanups);
  try {
    const dir = process.env["CRESCENDO_CLUSTER_DIR"] ?? (await mkdtemp(join(tmpdir(), "crescendo-chaos-")));
    const clusterEnv = {
      CRESCENDO_CLUSTER_DIR: dir,
      CRESCENDO_NODES: String(Math.max(3, Math.ceil((N * 5) / 100))),
    };
    log(`starting a control plane in ${dir}`);
    await script("hack/cluster/down", clusterEnv).catch(() => undefined);
    await script("hack/cluster/up", clusterEnv);
    cleanups.push(async () => {
      log("stopping the control plane");
      await script("hack/cluster/down", clusterEnv);
    });
    const kubeconfig = join(dir, "kubeconfig");
    const client = createKubeClient(loadKubeConfig({ path: kubeconfig }));
    try {
      await installCrds(client, "crescendo-bench-chaos");
    } finally {
      client.close();
    }
    log("building the operator");
    const entry = await buildOperator();

    const result = await runChaos({
      kubeconfig,
      clusterDir: dir,
      namespace: "chaos",
      rollouts: N,
      minFaults: int("min-faults", values["min-faults"], 0),
      applyWindowMs: int("apply-window", values["apply-window"], 0) * 1000,
      seed: int("seed", values.seed, 0),
      faults: FAULTS,
      watchTimeout: values["watch-timeout"],
      processFaultEveryMs: [3_000, 12_000],
      prometheusFaultEveryMs: [5_000, 30_000],
      prometheusDownMs: 30_000,
      stableDeleteEveryMs: [2_000, 8_000],
      settleTimeoutMs: 10 * 60_000,
      readyTimeoutMs: 180_000,
      entry,
      logDir: join(ROOT, ".tmp/bench-logs"),
      cleanups,
      log,
    });

    mkdirSync(join(ROOT, "bench/results"), { recursive: true });
    const out = join(ROOT, "bench/results/chaos.json");
    writeFileSync(out, JSON.stringify(result, null, 2) + "\n");
    const total = Object.values(result.faults).reduce((a, b) => a + b, 0);
    const r = result.notificationRepeats;
    console.log(`\nbench:chaos — ${N} rollouts, ${total} faults ${JSON.stringify(result.faults)}`);
    console.log(
      `settled ${result.settled}/${N}; operators that exited on their own: ${result.operatorSelfExits}`,
    );
    console.log(
      `notifications: ${r.deliveries} deliveries of ${r.keys} keys; ${r.dropped} repeats dropped by ` +
        `Idempotency-Key (${r.repeatedKeys} keys repeated, at most ${r.maxPerKey} times)`,
    );
    console.log(`violations: ${result.violations.length} ${JSON.stringify(violationsByInvariant(result))}`);
    for (const v of result.violations.slice(0, 20))
      console.log(`  ${v.invariant} ${v.release ?? ""}: ${v.detail}`);
    const during = result.machine.loadAverageDuringRun;
    console.log(
      `load average ${during.min}-${during.max} during the run, ${result.machine.loadAverage.join(" ")} at its end, on ${result.machine.cpus} cpus`,
    );
    console.log(`duration ${result.durationSeconds} s; written to ${out}`);
  } finally {
    await cleanups.run();
  }
}

// Exit once cleaned up: a keep-alive socket or an aborted watch's last timer must not hold it.
main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
