/**
 * The operator's one Prometheus registry and the runtime's metrics. Names and labels follow
 * controller-runtime and client-go, so the dashboards and alerts people already run against Go
 * operators work unchanged. Controllers add their `crescendo_*` metrics to the same `registry`.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { RequestInfo } from "../runtime/client.js";
import { WATCH_ENDS, type WatchEnd } from "../runtime/reflector.js";
import type { Resource } from "../runtime/types.js";
import type { WorkQueueMetrics } from "../runtime/workqueue.js";

/** The registry `/metrics` serves. Register domain metrics with `registers: [registry]`. */
export const registry = new Registry();
collectDefaultMetrics({ register: registry });

/** controller-runtime's reconcile-time buckets: fine below 1 s, coarse up to a minute. */
const reconcileBuckets = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.25, 1.5,
  1.75, 2, 2.5, 3, 3.5, 4, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
];
/** client-go's workqueue buckets: 10 ns up to 1000 s, by powers of ten. */
const queueBuckets = Array.from({ length: 12 }, (_, i) => Number((1e-8 * 10 ** i).toPrecision(1)));
/** client-go's request-latency buckets. */
const requestBuckets = [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60];

export const reconcileTotal = new Counter({
  name: "controller_runtime_reconcile_total",
  help: "Total number of reconciliations per controller, by result.",
  labelNames: ["controller", "result"] as const,
  registers: [registry],
});

export const reconcileErrorsTotal = new Counter({
  name: "controller_runtime_reconcile_errors_total",
  help: "Total number of reconciliation errors per controller.",
  labelNames: ["controller"] as const,
  registers: [registry],
});

export const terminalReconcileErrorsTotal = new Counter({
  name: "controller_runtime_terminal_reconcile_errors_total",
  help: "Total number of terminal reconciliation errors per controller (never retried).",
  labelNames: ["controller"] as const,
  registers: [registry],
});

export const reconcileTimeSeconds = new Histogram({
  name: "controller_runtime_reconcile_time_seconds",
  help: "Length of time per reconciliation per controller.",
  labelNames: ["controller"] as const,
  buckets: reconcileBuckets,
  registers: [registry],
});

/**
 * Writes the apiserver refused for good (see runtime/refusals.ts), by controller, condition
 * reason and the refused object's kind. Each retry of a still-refused write counts, so a rate
 * above zero means something is stalled right now.
 */
export const childRejectedTotal = new Counter({
  name: "crescendo_child_rejected_total",
  help: "Writes of derived objects refused by the apiserver (422, 400, 403, 409 AlreadyExists), by controller, reason and kind.",
  labelNames: ["controller", "reason", "kind"] as const,
  registers: [registry],
});

export const activeWorkers = new Gauge({
  name: "controller_runtime_active_workers",
  help: "Number of currently used workers per controller.",
  labelNames: ["controller"] as const,
  registers: [registry],
});

export const maxConcurrentReconciles = new Gauge({
  name: "controller_runtime_max_concurrent_reconciles",
  help: "Maximum number of concurrent reconciles per controller.",
  labelNames: ["controller"] as const,
  registers: [registry],
});

const workqueueDepth = new Gauge({
  name: "workqueue_depth",
  help: "Current depth of workqueue.",
  labelNames: ["name"] as const,
  registers: [registry],
});

const workqueueAdds = new Counter({
  name: "workqueue_adds_total",
  help: "Total number of adds handled by workqueue.",
  labelNames: ["name"] as const,
  registers: [registry],
});

const workqueueRetries = new Counter({
  name: "workqueue_retries_total",
  help: "Total number of retries handled by workqueue.",
  labelNames: ["name"] as const,
  registers: [registry],
});

const workqueueQueueDuration = new Histogram({
  name: "workqueue_queue_duration_seconds",
  help: "How long in seconds an item stays in workqueue before being requested.",
  labelNames: ["name"] as const,
  buckets: queueBuckets,
  registers: [registry],
});

const workqueueWorkDuration = new Histogram({
  name: "workqueue_work_duration_seconds",
  help: "How long in seconds processing an item from workqueue takes.",
  labelNames: ["name"] as const,
  buckets: queueBuckets,
  registers: [registry],
});

const restClientRequests = new Counter({
  name: "rest_client_requests_total",
  help: "Number of HTTP requests, partitioned by status code and method.",
  labelNames: ["code", "method"] as const,
  registers: [registry],
});

/**
 * Requests by Kubernetes verb and resource (`plural.group`, with `/subresource`), which
 * client-go's metric lacks: it is what tells a steady state that only watches from one that
 * polls or rewrites. Bounded: verbs are fixed and resources are the kinds the operator uses.
 */
const crescendoRestClientRequests = new Counter({
  name: "crescendo_rest_client_requests_total",
  help: "Number of Kubernetes API requests, partitioned by verb, resource (plural.group[/subresource]) and status code.",
  labelNames: ["verb", "resource", "code"] as const,
  registers: [registry],
});

const restClientRequestDuration = new Histogram({
  name: "rest_client_request_duration_seconds",
  help: "Request latency in seconds, broken down by verb.",
  labelNames: ["verb"] as const,
  buckets: requestBuckets,
  registers: [registry],
});

/**
 * client-go's throttling metric: how long requests waited for the client-side rate limiter
 * (--kube-api-qps/--kube-api-burst). Waits here, with an idle apiserver, mean the limit is
 * what bounds the operator.
 */
const restClientRateLimiterDuration = new Histogram({
  name: "rest_client_rate_limiter_duration_seconds",
  help: "Client side rate limiter latency in seconds, broken down by verb.",
  labelNames: ["verb"] as const,
  buckets: requestBuckets,
  registers: [registry],
});

/**
 * Every end of an informer's watch, each followed by a new watch (or a relist after `gone`):
 * `expired` at the timeout the watch asked for (`--watch-timeout`) is the normal rhythm; a rate
 * of `failed` or `gone` means the apiserver or the way to it is in trouble.
 */
const watchRestarts = new Counter({
  name: "crescendo_watch_restarts_total",
  help: "Informer watches that ended and were started again, by resource (plural.group) and reason (expired, closed, gone, failed).",
  labelNames: ["resource", "reason"] as const,
  registers: [registry],
});

/** The reflector's `onWatchEnd` for one kind, its series created at 0 (see initControllerMetrics). */
export function watchMetrics(res: Resource): (end: WatchEnd) => void {
  const resource = res.group ? `${res.plural}.${res.group}` : res.plural;
  for (const reason of WATCH_ENDS) watchRestarts.inc({ resource, reason }, 0);
  return (reason) => watchRestarts.inc({ resource, reason });
}

/** 1 while this process holds the Lease named by `name`, else 0. */
export const leaderElectionMasterStatus = new Gauge({
  name: "leader_election_master_status",
  help: "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master.",
  labelNames: ["name"] as const,
  registers: [registry],
});

/** Every `result` a reconcile is counted under (controller-runtime's names). */
export const RECONCILE_RESULTS = ["success", "error", "requeue", "requeue_after"] as const;

/**
 * A controller's series, created before its first reconcile, as controller-runtime does: every
 * counter label value at 0, so `rate()` and `increase()` see the first error after a start
 * (a series born at 1 has no earlier sample to compare with), and dashboards show a controller
 * that has done nothing yet as 0, not as no data.
 */
export function initControllerMetrics(controller: string, workers: number): void {
  for (const result of RECONCILE_RESULTS) reconcileTotal.inc({ controller, result }, 0);
  reconcileErrorsTotal.inc({ controller }, 0);
  terminalReconcileErrorsTotal.inc({ controller }, 0);
  maxConcurrentReconciles.set({ controller }, workers);
  activeWorkers.set({ controller }, 0);
}

/**
 * The hook a `WorkQueue` reports through, bound to the queue's name. The queue stays free of
 * prom-client, and every controller's queue shows up under the same metric names.
 */
export function workQueueMetrics(name: string): WorkQueueMetrics {
  // At 0 from the start, like the reconcile counters (see initControllerMetrics).
  workqueueAdds.inc({ name }, 0);
  workqueueRetries.inc({ name }, 0);
  workqueueDepth.set({ name }, 0);
  return {
    onAdd: () => workqueueAdds.inc({ name }),
    onDepth: (depth) => workqueueDepth.set({ name }, depth),
    onRetry: () => workqueueRetries.inc({ name }),
    onQueueLatency: (seconds) => workqueueQueueDuration.observe({ name }, seconds),
    onWorkDuration: (seconds) => workqueueWorkDuration.observe({ name }, seconds),
  };
}

/**
 * The kube client's `onRequest` hook. It records client-go's request metrics; requests that got
 * no response are counted with code `<error>`, as client-go does, so outages show up.
 * `rateLimiter: false` leaves a client's waits out of the rate-limiter histogram: the Events
 * client's backlog during a large rollout (seconds, by design) would otherwise hide whether the
 * reconcilers' writes ever wait, which is what the histogram is read for.
 */
export function restClientMetrics(options: { rateLimiter?: boolean } = {}): (info: RequestInfo) => void {
  const rateLimiter = options.rateLimiter ?? true;
  return (info) => {
    const code = info.code || "<error>";
    restClientRequests.inc({ code, method: info.method });
    crescendoRestClientRequests.inc({ verb: info.verb, resource: info.resource, code });
    restClientRequestDuration.observe({ verb: info.verb }, info.durationMs / 1000);
    if (rateLimiter && info.verb !== "watch") {
      restClientRateLimiterDuration.observe({ verb: info.verb }, (info.rateLimiterWaitMs ?? 0) / 1000);
    }
  };
}
