import { describe, expect, it } from "vitest";
import {
  initControllerMetrics,
  RECONCILE_RESULTS,
  registry,
  restClientMetrics,
  workQueueMetrics,
} from "./metrics.js";

async function value(
  metric: string,
  labels: Record<string, string>,
  suffix = "",
): Promise<number | undefined> {
  const m = await registry.getSingleMetric(metric)!.get();
  const match = m.values.find(
    (v) =>
      (suffix === "" || (v as { metricName?: string }).metricName === `${metric}${suffix}`) &&
      Object.entries(labels).every(([k, val]) => v.labels[k] === val),
  );
  return match?.value;
}

describe("metrics", () => {
  it("registers controller-runtime's names and default process metrics in one registry", async () => {
    const text = await registry.metrics();
    for (const name of [
      "controller_runtime_reconcile_total",
      "controller_runtime_reconcile_errors_total",
      "controller_runtime_reconcile_time_seconds",
      "controller_runtime_active_workers",
      "workqueue_depth",
      "workqueue_adds_total",
      "workqueue_retries_total",
      "workqueue_queue_duration_seconds",
      "workqueue_work_duration_seconds",
      "rest_client_requests_total",
      "rest_client_request_duration_seconds",
      "leader_election_master_status",
      "process_resident_memory_bytes",
      "nodejs_eventloop_lag_seconds",
    ]) {
      expect(text).toContain(`# TYPE ${name}`);
    }
  });

  it("creates a controller's counters at 0 for every result before its first reconcile", async () => {
    initControllerMetrics("init-test", 3);
    for (const result of RECONCILE_RESULTS) {
      expect(await value("controller_runtime_reconcile_total", { controller: "init-test", result })).toBe(0);
    }
    expect(await value("controller_runtime_reconcile_errors_total", { controller: "init-test" })).toBe(0);
    expect(
      await value("controller_runtime_terminal_reconcile_errors_total", { controller: "init-test" }),
    ).toBe(0);
    expect(await value("controller_runtime_max_concurrent_reconciles", { controller: "init-test" })).toBe(3);
    expect(await value("controller_runtime_active_workers", { controller: "init-test" })).toBe(0);
    workQueueMetrics("wq-init");
    expect(await value("workqueue_adds_total", { name: "wq-init" })).toBe(0);
    expect(await value("workqueue_retries_total", { name: "wq-init" })).toBe(0);
  });

  it("workQueueMetrics reports under the queue's name", async () => {
    const hook = workQueueMetrics("wq-test");
    hook.onAdd();
    hook.onAdd();
    hook.onDepth(3);
    hook.onRetry();
    hook.onQueueLatency(0.5);
    hook.onWorkDuration(0.25);
    expect(await value("workqueue_adds_total", { name: "wq-test" })).toBe(2);
    expect(await value("workqueue_depth", { name: "wq-test" })).toBe(3);
    expect(await value("workqueue_retries_total", { name: "wq-test" })).toBe(1);
    expect(await value("workqueue_queue_duration_seconds", { name: "wq-test" }, "_count")).toBe(1);
    expect(await value("workqueue_work_duration_seconds", { name: "wq-test" }, "_sum")).toBe(0.25);
  });

  it("restClientMetrics counts by code and method and times by verb", async () => {
    const hook = restClientMetrics();
    hook({
      method: "PATCH",
      code: "409",
      resource: "leases.coordination.k8s.io",
      verb: "update",
      durationMs: 20,
    });
    hook({
      method: "PATCH",
      code: "",
      resource: "leases.coordination.k8s.io",
      verb: "update",
      durationMs: 10,
    });
    expect(await value("rest_client_requests_total", { code: "409", method: "PATCH" })).toBe(1);
    expect(await value("rest_client_requests_total", { code: "<error>", method: "PATCH" })).toBe(1);
    expect(await value("rest_client_request_duration_seconds", { verb: "update" }, "_sum")).toBeCloseTo(0.03);
    expect(
      await value("crescendo_rest_client_requests_total", {
        verb: "update",
        resource: "leases.coordination.k8s.io",
        code: "409",
      }),
    ).toBe(1);
  });

  it("leaves a client's waits out of the rate-limiter histogram when asked (the Events client)", async () => {
    const waited = async () =>
      (await value("rest_client_rate_limiter_duration_seconds", { verb: "create" }, "_sum")) ?? 0;
    const before = await waited();
    const request = {
      method: "POST",
      code: "201",
      resource: "events.events.k8s.io",
      verb: "create" as const,
    };
    restClientMetrics({ rateLimiter: false })({ ...request, durationMs: 5, rateLimiterWaitMs: 4000 });
    expect(await waited()).toBeCloseTo(before);
    restClientMetrics()({ ...request, durationMs: 5, rateLimiterWaitMs: 250 });
    expect(await waited()).toBeCloseTo(before + 0.25);
  });
});
