/**
 * The chaos benchmark in small (`hack/bench/chaos-run.ts`, the same code `npm run bench:chaos`
 * runs at N=100): five rollouts, one of each kind, on the suite's control plane while the leader
 * is SIGKILLed (with and without a standby), kube-apiserver restarted, Prometheus stopped, stable
 * Deployments deleted and every watch of the operators ended by the apiserver every 10-20 s; then
 * no invariant may be violated. Operators run from source, started and killed by the run itself;
 * Prometheus, the metrics simulator and the on-call receiver are the run's own.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { FAULTS, runChaos } from "../hack/bench/chaos-run.js";
import { Cleanups } from "../hack/bench/run.js";
import { kubeconfigPath } from "./support/kube.js";

const ROOT = join(import.meta.dirname, "..");
const cleanups = new Cleanups();
afterAll(() => cleanups.run());

it("five rollouts under injected faults end with no violation", { timeout: 15 * 60_000 }, async () => {
  const kubeconfig = kubeconfigPath();
  // hack/cluster/up's directory holds the kubeconfig; against an external cluster there is none,
  // and the apiserver is not restarted.
  const dir = dirname(kubeconfig);
  const clusterDir = existsSync(join(dir, "pids/kube-apiserver.pid")) ? dir : undefined;
  const result = await runChaos({
    kubeconfig,
    clusterDir,
    namespace: "chaos-smoke",
    rollouts: 5,
    minFaults: 6,
    applyWindowMs: 20_000,
    seed: 14,
    faults: FAULTS,
    watchTimeout: "10s",
    processFaultEveryMs: [10_000, 20_000],
    processFaultsInTurn: true,
    prometheusFaultEveryMs: [5_000, 15_000],
    prometheusDownMs: 10_000,
    stableDeleteEveryMs: [8_000, 15_000],
    // Under CI load an operator from source takes tens of seconds to start, and each SIGKILL of a
    // leader leaves its Lease to expire (15 s) before the next one leads.
    settleTimeoutMs: 6 * 60_000,
    readyTimeoutMs: 180_000,
    logDir: join(ROOT, ".tmp/e2e-logs"),
    cleanups,
    log: (m) => console.log(`[chaos-smoke ${new Date().toISOString().slice(11, 19)}] ${m}`),
  });
  console.log(`[chaos-smoke] ${JSON.stringify({ ...result, violations: result.violations.length })}`);
  expect(result.violations).toEqual([]);
  expect(result.settled).toBe(5);
  const { watchExpiry, ...injected } = result.faults;
  expect(Object.values(injected).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(6);
  expect(watchExpiry).toBeGreaterThan(0);
  // Every rollback reached the receiver (repeats, if any, are at-least-once at work).
  expect(result.notificationRepeats.keys).toBe(2);
});
