/**
 * `npm run bench:incident -- --changes N [--paths post-promotion,alert]`
 *
 * From a regression to its remedy, measured. On a private control plane with a real Prometheus
 * scraping the metrics simulator every second, a real Alertmanager, and the compiled operator:
 * squad A's N Releases and squad B's N Releases (same names, another namespace) are rolled out
 * as version 0, then 1, then 2, healthy while they roll out. Then, one every `--gap-ms`, the promoted
 * revision of each of squad A's Releases starts answering 50 % errors: a regression that shows
 * only after promotion. Squad B's never does.
 *
 * One alert rule watches every Release's error share as its users see it (a rate over the
 * revisions its Service sends traffic to: the benchmark moves the simulated traffic to whatever
 * revision the `<release>` Service selects, as kube-proxy would), labelled `namespace`,
 * `crescendo_release` and `squad`; Alertmanager groups by those and notifies the benchmark's own
 * receiver (and, on the alert-driven path, the operator's, at the same flush).
 *
 * Two paths, one after the other, each with its own operator and Alertmanager:
 *   post-promotion  strategy.canary.postPromotion measures the promoted revision; a failing
 *                   measurement reverts it (phase Reverted). The alert fires beside it, acted on
 *                   by nobody: the figures say how the analysis compares with it.
 *   alert           no postPromotion: the Squads' spec.incidentResponse says Revert, and the
 *                   operator's Alertmanager receiver (--incident-port, bearer token) acts on the
 *                   alert. Runs only when the operator has a receiver (takes --incident-port);
 *                   otherwise recorded as skipped.
 *
 * Per bad change, on the benchmark's clock (hack/bench/incident-summary.ts defines each figure):
 * the verdict, the alert's startsAt and webhook arrival, the action (the `<release>` Service on
 * the previous revision), capacity restored (the previous revision's replicas all ready), and the
 * resolved webhook. A wrong revert is any Release whose Service leaves its promoted revision
 * other than a bad change going back to its previous revision: squad B's, or one of squad A's
 * before its own regression.
 *
 * Writes bench/results/incident.json. A benchmark prints figures; it asserts nothing.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { join } from "node:path";
import { ReleaseResource, SquadResource } from "../../operator/src/api/kinds.js";
import type { ReleaseStatus } from "../../operator/src/api/release.js";
import { revisionOf } from "../../operator/src/controllers/release/revision.js";
import { createReflector } from "../../operator/src/runtime/reflector.js";
import {
  DeploymentResource,
  NamespaceResource,
  ServiceResource,
} from "../../operator/src/runtime/resources.js";
import { Store } from "../../operator/src/runtime/store.js";
import type { KubeObject, Resource } from "../../operator/src/runtime/types.js";
import { AlertReceiver, type ReceivedNotification } from "../../e2e/support/alert-receiver.js";
import { loadAlertRules, routeAlertsTo, startAlertmanager } from "../alerting.js";
import { freePort } from "../local-env.js";
import { choices, int, parseFlags } from "./args.js";
import { ROOT, startCluster, type Cluster } from "./cluster.js";
import { describePath, summarizePath, type IncidentRun, type PathResult } from "./incident-summary.js";
import { startMetricsEnv, type MetricsEnv } from "./metrics-env.js";
import { buildOperator, imageNodeOptions, Operator } from "./operator.js";
import { errorRateQuery, MAX_ERROR_RATE, podTemplate } from "./rollback-subject.js";
import { Cleanups, elapsed, onInterrupt, round, sleep, until } from "./run.js";
import { pool } from "./workload.js";

const USAGE = `Usage: npm run bench:incident -- [flags]
  --changes N           bad changes per path (squad A), as many healthy ones in squad B (default 5)
  --paths LIST          post-promotion,alert (default both; alert needs the operator's receiver)
  --gap-ms G            time between two changes going bad (default 3300: not a whole number of
                        seconds, so the changes fall at different phases of the 1 s scrape and
                        evaluation)
  --interval-seconds I  analysis interval of the post-promotion path, 1-5 (default 2)
  --group-wait D        Alertmanager group_wait (default 1s; Alertmanager's own default is 30s)
  --alert-for D         the alert rule's "for" (default 0s)
  --previous-percent P  post-promotion: share of replicas the previous revision keeps (default 50)
  --results PATH        JSON results file (default bench/results/incident.json)
  --tsx                 run the operator from source through tsx instead of compiled`;

const PATH_NAMES = ["post-promotion", "alert"] as const;
type PathName = (typeof PATH_NAMES)[number];

interface Options {
  changes: number;
  paths: PathName[];
  gapMs: number;
  intervalSeconds: number;
  groupWait: string;
  alertFor: string;
  previousPercent: number;
  results: string;
  tsx: boolean;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseFlags(argv, USAGE, {
    changes: { type: "string", default: "5" },
    paths: { type: "string", default: "post-promotion,alert" },
    "gap-ms": { type: "string", default: "3300" },
    "interval-seconds": { type: "string", default: "2" },
    "group-wait": { type: "string", default: "1s" },
    "alert-for": { type: "string", default: "0s" },
    "previous-percent": { type: "string", default: "50" },
    results: { type: "string", default: join(ROOT, "bench/results/incident.json") },
    tsx: { type: "boolean", default: false },
  });
  const durationFlag = (name: string, text: string): string => {
    if (!/^\d+(ms|s|m)$/.test(text)) throw new Error(`--${name} must be a duration like 1s, got "${text}"`);
    return text;
  };
  return {
    changes: int("changes", values.changes, 1, 50),
    paths: choices("paths", values.paths, PATH_NAMES),
    gapMs: int("gap-ms", values["gap-ms"], 0),
    intervalSeconds: int("interval-seconds", values["interval-seconds"], 1, 5),
    groupWait: durationFlag("group-wait", values["group-wait"]),
    alertFor: durationFlag("alert-for", values["alert-for"]),
    previousPercent: int("previous-percent", values["previous-percent"], 1, 100),
    results: values.results,
    tsx: values.tsx,
  };
}

const REPLICAS = 2;
const RPS = 50;
const BAD_ERROR_RATE = 0.5;
/** The rule's and the analysis' rate window: 5 scrapes. */
const RATE_WINDOW = "5s";
const ALERT = "CrescendoBenchErrorRate";
const RELEASE_LABEL = "crescendo.dev/release";
const REVISION_LABEL = "crescendo.dev/revision";

const releaseName = (i: number): string => `svc-${i}`;
const template = (i: number, version: string) => podTemplate(releaseName(i), version);

/**
 * Every Release's error share over the revisions it serves, per namespace and Release, with the
 * labels the operator's receiver maps (namespace, crescendo_release, squad: a Squad owns the
 * namespace named after it).
 */
function alertExpr(): string {
  const sel = `namespace=~"inc-.*"`;
  const share =
    `sum by (namespace, release) (rate(http_requests_total{${sel},code="500"}[${RATE_WINDOW}]))` +
    ` / sum by (namespace, release) (rate(http_requests_total{${sel}}[${RATE_WINDOW}])) > ${MAX_ERROR_RATE}`;
  return `label_replace(label_replace(${share}, "crescendo_release", "$1", "release", "(.*)"), "squad", "$1", "namespace", "(.*)")`;
}

/** The Release of version `version` on `path`: a 50 % canary step and one analysis, then promotion. */
function releaseBody(
  o: Options,
  path: PathName,
  namespace: string,
  i: number,
  version: string,
  prometheusUrl: string,
) {
  const windowMinutes = Math.ceil((o.changes * o.gapMs + 240_000) / 60_000);
  return {
    apiVersion: "crescendo.dev/v1alpha1",
    kind: "Release",
    metadata: { name: releaseName(i), namespace },
    spec: {
      version: `${version}.0.0`,
      replicas: REPLICAS,
      template: template(i, version),
      service: { ports: [{ name: "http", port: 80, targetPort: "http" }] },
      strategy: {
        canary: {
          steps: [{ setWeight: 50 }, { analysis: {} }],
          ...(path === "post-promotion"
            ? {
                postPromotion: {
                  duration: `${windowMinutes}m`,
                  analysis: ["error-rate"],
                  previousReplicasPercent: o.previousPercent,
                },
              }
            : {}),
        },
      },
      // The alert path: the previous revision goes at once, as it has long gone when a
      // regression shows an hour after promotion, so a revert has to bring it back.
      ...(path === "alert" ? { rollback: { scaleDownDelaySeconds: 0 } } : {}),
      analysis: {
        interval: `${o.intervalSeconds}s`,
        metrics: [
          {
            name: "error-rate",
            prometheus: {
              address: prometheusUrl,
              query: errorRateQuery("{{namespace}}", "{{release}}", "{{revision}}"),
            },
            thresholdRange: { max: MAX_ERROR_RATE },
            failureLimit: 0,
            minSamples: 2,
          },
        ],
      },
    },
  };
}

type Release = KubeObject & { status?: ReleaseStatus };
type Service = KubeObject & { spec?: { selector?: Record<string, string> } };
type Deployment = KubeObject & { spec?: { replicas?: number }; status?: { readyReplicas?: number } };

/** Reflectors over what the benchmark times, with a callback on every change. */
class Watch {
  private readonly ctl = new AbortController();
  readonly stores = new Map<string, Store<KubeObject>>();

  constructor(cluster: Cluster, resources: Resource[]) {
    for (const resource of resources) {
      const store = new Store<KubeObject>();
      this.stores.set(resource.kind, store);
      void createReflector({ client: cluster.client, resource, store }).run(this.ctl.signal);
    }
  }

  synced = (): boolean => [...this.stores.values()].every((s) => s.hasSynced());
  get = <T extends KubeObject>(kind: string, key: string): T | undefined =>
    this.stores.get(kind)?.get(key) as T | undefined;
  onChange(fn: () => void): () => void {
    const offs = [...this.stores.values()].map((s) => s.subscribe(fn));
    return () => offs.forEach((off) => off());
  }
  stop(): void {
    this.ctl.abort();
  }
}

/** Whether this build's operator serves an Alertmanager receiver: it takes --incident-port. */
const receiverBuilt = (): boolean =>
  readFileSync(join(ROOT, "operator/src/config.ts"), "utf8").includes('"incident-port"');

interface PathRun {
  result: PathResult;
  settings: Record<string, unknown>;
}

async function runPath(
  path: PathName,
  o: Options,
  cluster: Cluster,
  metrics: MetricsEnv,
  entry: string | undefined,
): Promise<PathRun> {
  const tag = `[${path}]`;
  const log = (m: string): void => console.log(`${tag} ${m}`);
  const short = path === "post-promotion" ? "pp" : "am";
  const bad = `inc-${short}-a`;
  const bystander = `inc-${short}-b`;
  const indices = Array.from({ length: o.changes }, (_, i) => i);
  const releases = [bad, bystander].flatMap((ns) =>
    indices.map((i) => ({ ns, i, key: `${ns}/${releaseName(i)}` })),
  );
  const revisions = (i: number) => ({
    r0: revisionOf(template(i, "0")),
    r1: revisionOf(template(i, "1")),
    r2: revisionOf(template(i, "2")),
  });
  const cleanups = new Cleanups();
  const opts = { fieldManager: "crescendo-bench", force: true };
  try {
    // Receivers: the benchmark's own, and on the alert path the operator's beside it.
    const benchToken = randomBytes(24).toString("hex");
    const receiver = new AlertReceiver(benchToken);
    const benchUrl = await receiver.start();
    cleanups.push(() => receiver.stop());
    const operatorToken = randomBytes(24).toString("hex");
    const incidentPort = await freePort();
    const operatorWebhook = `http://127.0.0.1:${incidentPort}/alertmanager`;

    const logFile = join(ROOT, ".tmp/bench-logs", `incident-${path}-${Date.now()}.log`);
    log(`starting the operator (log: ${logFile})`);
    const operator = await Operator.start({
      kubeconfig: cluster.kubeconfig,
      args: [
        "--allowed-prometheus-addresses",
        metrics.prometheusUrl,
        ...(path === "alert" ? ["--incident-port", String(incidentPort)] : []),
      ],
      env: path === "alert" ? { INCIDENT_TOKEN: operatorToken } : {},
      logFile,
      entry,
      nodeOptions: imageNodeOptions(),
    });
    cleanups.push(() => operator.stop());
    await operator.waitReady(120_000);
    const alive = () => operator.alive;

    const alertmanager = await startAlertmanager({
      webhookUrl: path === "alert" ? operatorWebhook : benchUrl,
      token: path === "alert" ? operatorToken : benchToken,
      alsoNotify: path === "alert" ? [{ url: benchUrl, token: benchToken }] : [],
      groupBy: ["alertname", "namespace", "crescendo_release"],
      groupWait: o.groupWait,
      groupInterval: "1s",
      log,
    });
    cleanups.push(() => alertmanager.stop());
    cleanups.push(
      await routeAlertsTo({ url: metrics.prometheusUrl, dir: metrics.prometheusDir }, alertmanager, path),
    );

    // Squads own the namespaces named after them; on the alert path they revert on alerts.
    for (const squad of [bad, bystander]) {
      await cluster.client.apply(
        {
          apiVersion: "crescendo.dev/v1alpha1",
          kind: "Squad",
          metadata: { name: squad },
          spec:
            path === "alert"
              ? {
                  incidentResponse: {
                    correlationWindow: "30m",
                    actions: [{ match: { labels: {} }, do: "Revert" }],
                  },
                }
              : {},
        },
        SquadResource,
        opts,
      );
    }
    for (const ns of [bad, bystander])
      await until(
        `namespace ${ns}`,
        async () => (await cluster.client.get(NamespaceResource, ns)) !== undefined,
        () => "",
        60_000,
        alive,
      );

    const watch = new Watch(cluster, [ReleaseResource, ServiceResource, DeploymentResource]);
    cleanups.push(async () => watch.stop());
    await until("watches synced", watch.synced, () => "", 60_000);

    // The simulated traffic follows the `<release>` Service: a revision it selects serves RPS
    // requests a second, one it does not serves none (all of them while no Service exists yet).
    const series = (ns: string, i: number, revision: string) => ({
      namespace: ns,
      release: releaseName(i),
      revision,
    });
    const behaviour = new Map<string, { errorRate: number; rps: number }>();
    const setSeries = (
      ns: string,
      i: number,
      revision: string,
      change: Partial<{ errorRate: number; rps: number }>,
    ) => {
      const key = `${ns}/${i}/${revision}`;
      const prev = behaviour.get(key) ?? { errorRate: 0, rps: RPS };
      const next = { ...prev, ...change };
      if (prev.rps === next.rps && prev.errorRate === next.errorRate && behaviour.has(key)) return;
      behaviour.set(key, next);
      metrics.simulator.set(series(ns, i, revision), { ...next, latencySeconds: 0.02 });
    };
    const selected = (ns: string, i: number, suffix = ""): string | undefined =>
      watch.get<Service>("Service", `${ns}/${releaseName(i)}${suffix}`)?.spec?.selector?.[REVISION_LABEL];
    const route = (): void => {
      for (const { ns, i } of releases) {
        const service = watch.get<Service>("Service", `${ns}/${releaseName(i)}`);
        const sel = service?.spec?.selector;
        for (const rev of Object.values(revisions(i))) {
          const serves =
            !sel || sel[RELEASE_LABEL] === undefined || !sel[REVISION_LABEL] || sel[REVISION_LABEL] === rev;
          setSeries(ns, i, rev, { rps: serves ? RPS : 0 });
        }
      }
    };
    for (const { ns, i } of releases)
      for (const rev of Object.values(revisions(i))) setSeries(ns, i, rev, {});
    const offRoute = watch.onChange(route);
    cleanups.push(async () => offRoute());

    const status = (key: string) => watch.get<Release>("Release", key)?.status;
    const count = (pred: (key: string, i: number) => boolean) =>
      releases.filter((r) => pred(r.key, r.i)).length;
    const total = releases.length;

    const stableAt = (key: string, rev: string) => {
      const s = status(key);
      return s?.phase === "Healthy" && s.stableRevision === rev;
    };
    // Version 0 is the first deployment, version 1 a rollout: the revision a revert returns to
    // is one in status.history, as in a Release with a past, and the recorded run stays
    // comparable. (A Release's first revision is kept for undo too now, as the revision its
    // replacement's history entry names; it was not when the run was recorded.)
    for (const version of ["0", "1"] as const) {
      log(`rolling out version ${version} of ${total} Releases`);
      await pool(releases, 8, async ({ ns, i }) => {
        await cluster.client.apply(
          releaseBody(o, path, ns, i, version, metrics.prometheusUrl),
          ReleaseResource,
          opts,
        );
      });
      const rev = (i: number) => (version === "0" ? revisions(i).r0 : revisions(i).r1);
      await until(
        `${total} Releases Healthy at version ${version}`,
        () => count((k, i) => stableAt(k, rev(i))) === total,
        () => `${count((k, i) => stableAt(k, rev(i)))}/${total}`,
        300_000,
        alive,
      );
    }
    log(`rolling out version 2 (healthy while it rolls out)`);
    await pool(releases, 8, async ({ ns, i }) => {
      await cluster.client.apply(
        releaseBody(o, path, ns, i, "2", metrics.prometheusUrl),
        ReleaseResource,
        opts,
      );
    });
    const promoted = (key: string, i: number): boolean => {
      const s = status(key);
      const onR2 =
        s?.stableRevision === revisions(i).r2 && selected(key.split("/")[0]!, i) === revisions(i).r2;
      if (path === "post-promotion") return onR2 && s?.postPromotion?.result === "Verifying";
      const prev = watch.get<Deployment>("Deployment", `${key}-${revisions(i).r1}`);
      return onR2 && s?.phase === "Healthy" && (prev === undefined || prev.spec?.replicas === 0);
    };
    await until(
      `${total} Releases promoted to version 2`,
      () => count(promoted) === total,
      () => `${count(promoted)}/${total}`,
      300_000,
      alive,
    );

    // From here on, any Service leaving version 2 is timed (a bad change) or counted (wrong).
    const runs = new Map<number, IncidentRun>();
    const wrong = new Set<string>();
    const check = (): void => {
      const now = Date.now();
      for (const { ns, i, key } of releases) {
        const { r1, r2 } = revisions(i);
        const sel = selected(ns, i);
        const stable = selected(ns, i, "-stable");
        const run = ns === bad ? runs.get(i) : undefined;
        for (const s of [sel, stable])
          if (s !== undefined && s !== r2 && (run === undefined || s !== r1)) wrong.add(key);
        if (!run) continue;
        if (path === "post-promotion" && run.verdictAt === undefined && status(key)?.phase === "Reverted")
          run.verdictAt = now;
        // The revert's first write: a Service of the Release back on the previous revision.
        if (run.actedAt === undefined && (sel === r1 || stable === r1)) run.actedAt = now;
        const prev = watch.get<Deployment>("Deployment", `${ns}/${releaseName(i)}-${r1}`);
        if (
          run.restoredAt === undefined &&
          sel === r1 &&
          prev?.spec?.replicas === REPLICAS &&
          (prev.status?.readyReplicas ?? 0) >= REPLICAS
        )
          run.restoredAt = now;
      }
    };
    const notified = (n: ReceivedNotification): void => {
      for (const alert of n.payload.alerts) {
        if (alert.labels.namespace !== bad) continue;
        const i = Number(/^svc-(\d+)$/.exec(alert.labels.crescendo_release ?? "")?.[1]);
        const run = runs.get(i);
        if (!run) continue;
        if (alert.status === "firing" && run.alertReceivedAt === undefined) {
          run.alertReceivedAt = n.at;
          run.alertStartsAt = Date.parse(alert.startsAt);
          if (path === "alert") run.verdictAt = n.at;
        }
        if (
          alert.status === "resolved" &&
          run.alertReceivedAt !== undefined &&
          run.resolvedReceivedAt === undefined
        )
          run.resolvedReceivedAt = n.at;
      }
    };
    receiver.onNotification = (n) => {
      notified(n);
      check();
    };
    const offCheck = watch.onChange(check);
    cleanups.push(async () => offCheck());

    log(`making squad ${bad}'s ${o.changes} promoted revisions bad, one every ${o.gapMs} ms`);
    const started = Date.now();
    for (const i of indices) {
      runs.set(i, { namespace: bad, release: releaseName(i), raisedAt: Date.now() });
      setSeries(bad, i, revisions(i).r2, { errorRate: BAD_ERROR_RATE });
      if (o.gapMs > 0) await sleep(o.gapMs);
    }
    const all = [...runs.values()];
    try {
      await until(
        "every bad change reverted and restored",
        () => (check(), all.every((r) => r.restoredAt !== undefined)),
        () =>
          `alerted ${all.filter((r) => r.alertReceivedAt).length}, acted ${all.filter((r) => r.actedAt).length}, ` +
          `restored ${all.filter((r) => r.restoredAt).length} of ${all.length}; wrong ${wrong.size}`,
        120_000 + o.changes * 10_000,
        alive,
      );
      // Traffic is off the bad revisions: the rate window empties and Alertmanager resolves.
      await until(
        "every alert resolved",
        () => all.every((r) => r.alertReceivedAt === undefined || r.resolvedReceivedAt !== undefined),
        () =>
          `resolved ${all.filter((r) => r.resolvedReceivedAt).length} of ${all.filter((r) => r.alertReceivedAt).length}`,
        60_000,
        alive,
      );
    } catch (err) {
      log(`! ${String(err)}`);
    }
    log(`done in ${elapsed(started)}`);
    check();
    const verdict = path === "post-promotion" ? "phase Reverted seen" : "Alertmanager's POST arrived";
    const result = summarizePath(all, wrong.size, verdict);
    if (wrong.size > 0) log(`wrong reverts: ${[...wrong].join(", ")}`);
    for (const line of describePath(path, result)) console.log(line);
    return {
      result,
      settings: {
        operatorCpuSeconds: round(operator.cpuSeconds(), 2),
        unauthorizedAtBenchReceiver: receiver.unauthorized,
        ...(path === "post-promotion"
          ? { analysisIntervalSeconds: o.intervalSeconds, previousReplicasPercent: o.previousPercent }
          : { incidentResponse: { correlationWindow: "30m", actions: [{ do: "Revert" }] } }),
      },
    };
  } finally {
    await cleanups.run();
    for (const squad of [bad, bystander])
      await cluster.client.delete(SquadResource, squad).catch(() => undefined);
    for (const ns of [bad, bystander])
      await cluster.client.delete(NamespaceResource, ns).catch(() => undefined);
  }
}

function machine() {
  return { nproc: cpus().length, memoryGB: round(totalmem() / 1024 ** 3), node: process.version };
}

const load = (): number[] => loadavg().map((x) => round(x, 2));

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  const cleanups = new Cleanups();
  const { interrupted } = onInterrupt(cleanups);
  const loadAtStart = load();
  try {
    let entry: string | undefined;
    if (!o.tsx) {
      console.log("compiling the operator (tsconfig.build.json) into .tmp/bench-build-incident");
      entry = await buildOperator(join(ROOT, ".tmp/bench-build-incident"));
    }
    const log = (m: string): void => console.log(`[setup] ${m}`);
    const cluster = await startCluster(4 * o.changes * REPLICAS * 2 + 40, log);
    cleanups.push(cluster.stop);
    const metrics = await startMetricsEnv(log);
    cleanups.push(metrics.stop);
    await loadAlertRules(
      { url: metrics.prometheusUrl, dir: metrics.prometheusDir },
      "crescendo-bench-incident",
      [
        {
          alert: ALERT,
          expr: alertExpr(),
          for: o.alertFor,
          labels: { severity: "page" },
          annotations: {
            summary: "{{ $labels.namespace }}/{{ $labels.release }} answers more than 5 % errors",
          },
        },
      ],
    );

    const paths: Record<string, (PathResult & { settings?: Record<string, unknown> }) | { skipped: string }> =
      {};
    for (const path of o.paths) {
      if (interrupted()) break;
      if (path === "alert" && !receiverBuilt()) {
        const skipped = "this build's operator has no Alertmanager receiver (no --incident-port)";
        console.log(`[alert] skipped: ${skipped}`);
        paths[path] = { skipped };
        continue;
      }
      const { result, settings } = await runPath(path, o, cluster, metrics, entry);
      paths[path] = { ...result, settings };
    }
    const result = {
      paths,
      changesPerPath: o.changes,
      gapMs: o.gapMs,
      alerting: {
        rule: {
          expr: alertExpr(),
          for: o.alertFor,
          evaluationInterval: "1s",
          scrapeInterval: "1s",
          rateWindow: RATE_WINDOW,
        },
        alertmanager: {
          groupBy: ["alertname", "namespace", "crescendo_release"],
          groupWait: o.groupWait,
          groupInterval: "1s",
        },
        prometheusResendDelay: "1s",
      },
      replicasPerRelease: REPLICAS,
      loadAverage: { start: loadAtStart, end: load() },
      machine: machine(),
      at: new Date().toISOString(),
    };
    mkdirSync(join(o.results, ".."), { recursive: true });
    writeFileSync(o.results, JSON.stringify(result, null, 2) + "\n");
    console.log(
      `\nload average at start ${loadAtStart.join(" ")}, at end ${result.loadAverage.end.join(" ")}`,
    );
    console.log(`results: ${o.results}`);
  } finally {
    await cleanups.run();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
