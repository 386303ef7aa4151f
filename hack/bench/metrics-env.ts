/**
 * The application side of a benchmark: the metrics simulator standing in for the pods (their
 * request counter and latency histogram, per revision) and a real Prometheus scraping it every
 * second (hack/prometheus/up), as in the e2e suite.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MetricsSimulator } from "../../e2e/support/metrics-simulator.js";
import { script } from "../local-env.js";

export interface MetricsEnv {
  simulator: MetricsSimulator;
  prometheusUrl: string;
  /** hack/prometheus/up's state dir: rules/ and alertmanagers/ wire alerting (hack/alerting.ts). */
  prometheusDir: string;
  stop(): Promise<void>;
}

export async function startMetricsEnv(log: (m: string) => void): Promise<MetricsEnv> {
  const simulator = new MetricsSimulator();
  const address = await simulator.start();
  const dir = await mkdtemp(join(tmpdir(), "crescendo-bench-prom-"));
  const env = { CRESCENDO_PROM_DIR: dir, PROM_JOB: "app" };
  const stop = async (): Promise<void> => {
    log("stopping Prometheus and the metrics simulator");
    try {
      await script("hack/prometheus/down", env);
    } finally {
      await rm(dir, { recursive: true, force: true });
      await simulator.stop();
    }
  };
  try {
    const out = await script("hack/prometheus/up", env, [address]);
    const prometheusUrl = out.trim().split("\n").pop()!;
    log(`Prometheus at ${prometheusUrl}, scraping the metrics simulator at ${address} every second`);
    return { simulator, prometheusUrl, prometheusDir: dir, stop };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}
