/**
 * The Release controller's wiring: what it watches, and the thin reconcile that gathers one
 * snapshot, asks the pure state machine (`step`) and plan (`planObjects`) what to do, and does
 * it, in this order: objects (Services, the HTTPRoute, Deployments — so on a rollback traffic is
 * on stable before anything else is written), deletions, status (once), then what follows from
 * a written status: Events, metrics, the on-call notification, new measurements.
 *
 * Measurements never block a reconcile (STYLE §8): due ones are started in the
 * `MeasurementRunner`, which reconciles the Release again when one settles; that reconcile folds
 * the result into status before judging. Everything needed to resume is in status.
 */
import type { AnalysisMetric } from "../../api/analysis.js";
import { LABELS, parseDuration } from "../../api/common.js";
import { ReleaseResource, SquadResource, type Release, type Squad } from "../../api/kinds.js";
import { releaseSpec, type ReleaseSpec, type ReleaseStatus } from "../../api/release.js";
import { squadSpec, type SquadSpec } from "../../api/squad.js";
import { stagesOf } from "../../api/release-stages.js";
import {
  AnalysisSpecError,
  createPrometheusProvider,
  dueMetrics,
  measure,
  nextDueInMs,
  verdict,
  type MeasureContext,
  type MetricProvider,
} from "../../analysis/index.js";
import type { Logger } from "../../observability/logger.js";
import { applyIfChanged } from "../../runtime/apply.js";
import type { KubeClient } from "../../runtime/client.js";
import { readyConditions } from "../../runtime/conditions.js";
import { controllerFor, type ControllerHost, type QueueingController } from "../../runtime/controller.js";
import type { EventRecorder } from "../../runtime/events.js";
import { trackOwnWrites, type OwnWrites } from "../../runtime/own-writes.js";
import {
  CustomResourceDefinitionResource,
  DeploymentResource,
  HTTPRouteResource,
  NamespaceResource,
  ServiceResource,
} from "../../runtime/resources.js";
import {
  objectKey,
  splitKey,
  type Clock,
  type KubeObject,
  type ObjectKey,
  type ReadStore,
  type ReconcileContext,
  type ReconcileResult,
  type Resource,
  type StoreEvent,
} from "../../runtime/types.js";
import { zodMessage } from "../squad/status.js";
import {
  analysisToken,
  foldMeasurements,
  MeasurementRunner,
  type AnalysisKind,
  type SettledMeasurement,
} from "./measurements.js";
import { releaseMetrics } from "./metrics.js";
import { isNewRollback, OncallNotifier, rollbackNotificationOf } from "./notify.js";
import { deploymentName, planObjects, type ReleasePlan } from "./plan.js";
import { liveAnalysis, step, type StepResult } from "./rollout.js";
import { deploymentsByRevision } from "./observed.js";
import { pendingAction, type ReleaseSnapshot } from "./snapshot.js";
import type { HTTPRoute } from "./traffic/http-route.js";

/** A Release as the informer holds it: the spec is not validated yet. */
type RawRelease = KubeObject & { spec?: unknown; status?: ReleaseStatus };
/** A Squad as the informer holds it. */
type RawSquad = KubeObject & { spec?: unknown };

const DEFAULT_ANALYSIS_INTERVAL = "30s";

export interface ReleaseControllerOptions {
  client: Pick<KubeClient, "apply" | "delete" | "mergePatch" | "get">;
  recorder: Pick<EventRecorder, "record">;
  logger: Logger;
  /** Concurrent reconciles of different Releases (default 4). */
  workers?: number;
  /** Defaults to the manager's clock. */
  clock?: Clock;
  /** The metric provider for a Prometheus address; defaults to one Prometheus client per address. */
  providerFor?: (address: string) => MetricProvider;
  /**
   * Watch HTTPRoutes: only when the Gateway API CRDs are installed (see `gatewayApiInstalled`),
   * since an informer for a kind the apiserver does not serve never syncs.
   */
  gatewayAPI?: boolean;
  /** Replaces the on-call notifier (tests). */
  notifier?: Pick<OncallNotifier, "notify"> & Partial<Pick<OncallNotifier, "close">>;
}

/** The Release controller as registered, with what its owner must do at shutdown. */
export interface ReleaseController extends QueueingController {
  /**
   * Ends what outlives a reconcile once the manager has stopped: on-call notifications still
   * retrying are dropped (and logged), so nothing keeps the process past its grace period.
   */
  close(): void;
}

/**
 * Registers the Release controller: it reconciles Releases, owns their Deployments and Services,
 * and watches the HTTPRoutes Releases name (when Gateway API is installed), the Squads whose
 * delivery defaults and labels they take, and Namespaces (whose squad label says which Squad).
 */
export function registerReleaseController(
  manager: ControllerHost,
  options: ReleaseControllerOptions,
): ReleaseController {
  const clock = options.clock ?? manager.clock;
  const releases = manager.informer<RawRelease>(ReleaseResource);
  const deployments = manager.informer(DeploymentResource);
  const services = manager.informer(ServiceResource);
  const namespaces = manager.informer(NamespaceResource);
  const squads = manager.informer<RawSquad>(SquadResource);
  const routes = options.gatewayAPI ? manager.informer<HTTPRoute>(HTTPRouteResource) : undefined;

  const routeIndex = new RouteIndex();
  for (const release of releases.list()) routeIndex.set(release);
  releases.subscribe((event) => routeIndex.apply(event));

  // The controller exists only once built, and the runner is needed to build it.
  let enqueue: (key: ObjectKey) => void = () => undefined;
  const runner = new MeasurementRunner({
    clock,
    logger: options.logger,
    onSettled: (key, m) => {
      releaseMetrics.measured(m.phase);
      enqueue(key);
    },
  });
  const notifier =
    options.notifier ??
    new OncallNotifier({ client: options.client, recorder: options.recorder, logger: options.logger });
  const reconciler = new ReleaseReconciler({
    client: options.client,
    recorder: options.recorder,
    logger: options.logger.child({ controller: "release" }),
    clock,
    runner,
    providerFor: options.providerFor ?? cachedPrometheusProviders(),
    notifier,
    releases,
    deployments,
    services,
    namespaces,
    squads,
    routes,
  });

  let builder = controllerFor(manager, ReleaseResource).owns(DeploymentResource).owns(ServiceResource);
  if (routes)
    builder = builder.watches<HTTPRoute>(HTTPRouteResource, (route) => routeIndex.releasesOf(route));
  const controller = builder
    .watches<RawSquad>(SquadResource, releasesOfSquad(squads, namespaces, releases))
    .watches(NamespaceResource, (ns) => releases.list(ns.metadata.name ?? "").map(objectKey))
    .workers(options.workers ?? 4)
    .complete((key, ctx) => reconciler.reconcile(key, ctx));
  enqueue = (key) => controller.enqueue(key);
  return Object.assign(controller, { close: () => notifier.close?.() });
}

/**
 * Whether the apiserver serves Gateway API HTTPRoutes. Asked once at start-up: installing Gateway
 * API later takes an operator restart before Releases can use `trafficRouting.gatewayAPI`.
 */
export async function gatewayApiInstalled(client: Pick<KubeClient, "get">): Promise<boolean> {
  const crd = await client.get(CustomResourceDefinitionResource, "httproutes.gateway.networking.k8s.io");
  return crd !== undefined;
}

/** One Prometheus client per address, made on first use. */
function cachedPrometheusProviders(): (address: string) => MetricProvider {
  const providers = new Map<string, MetricProvider>();
  return (address) => {
    let provider = providers.get(address);
    if (!provider) providers.set(address, (provider = createPrometheusProvider({ address })));
    return provider;
  };
}

/**
 * A Squad concerns the Releases in the namespaces labelled as its own, but only when its spec
 * changed (delivery defaults, tribe) or it came or went: its status changes whenever one of its
 * Releases does, and mapping those would reconcile every Release of the squad each time.
 */
export function releasesOfSquad(
  squads: ReadStore<RawSquad>,
  namespaces: ReadStore,
  releases: ReadStore<RawRelease>,
): (squad: RawSquad) => ObjectKey[] {
  const seen = new Map<string, string>();
  return (squad) => {
    const name = squad.metadata.name ?? "";
    const current = squads.get(name);
    if (!current) seen.delete(name);
    else {
      const fingerprint = `${current.metadata.uid ?? ""}/${current.metadata.generation ?? ""}`;
      if (seen.get(name) === fingerprint) return [];
      seen.set(name, fingerprint);
    }
    return namespaces
      .byLabel(LABELS.squad, name)
      .flatMap((ns) => releases.list(ns.metadata.name ?? "").map(objectKey));
  };
}

/** `namespace/httpRoute` → the Releases whose spec names that HTTPRoute. Never throws. */
export class RouteIndex {
  private readonly byRelease = new Map<ObjectKey, string>();
  private readonly byRoute = new Map<string, Set<ObjectKey>>();

  apply(event: StoreEvent<RawRelease>): void {
    if (event.type === "resync") {
      const present = new Set(event.objects.map(objectKey));
      for (const key of [...this.byRelease.keys()]) if (!present.has(key)) this.remove(key);
      for (const release of event.objects) this.set(release);
    } else if (event.type === "delete") {
      this.remove(objectKey(event.object));
    } else {
      this.set(event.object);
    }
  }

  set(release: RawRelease): void {
    const key = objectKey(release);
    this.remove(key);
    const route = httpRouteOf(release.spec);
    if (!route) return;
    const routeKey = `${release.metadata.namespace ?? ""}/${route}`;
    this.byRelease.set(key, routeKey);
    let set = this.byRoute.get(routeKey);
    if (!set) this.byRoute.set(routeKey, (set = new Set()));
    set.add(key);
  }

  remove(key: ObjectKey): void {
    const routeKey = this.byRelease.get(key);
    if (routeKey === undefined) return;
    const set = this.byRoute.get(routeKey);
    set?.delete(key);
    if (set?.size === 0) this.byRoute.delete(routeKey);
    this.byRelease.delete(key);
  }

  releasesOf(route: KubeObject): ObjectKey[] {
    return [...(this.byRoute.get(objectKey(route)) ?? [])].sort();
  }
}

/** `spec.strategy.canary.trafficRouting.gatewayAPI.httpRoute` of an unvalidated spec. */
function httpRouteOf(spec: unknown): string | undefined {
  const route = path(spec, ["strategy", "canary", "trafficRouting", "gatewayAPI", "httpRoute"]);
  return typeof route === "string" && route !== "" ? route : undefined;
}

/**
 * The Squad's delivery metrics merged into a Release spec before it is validated: they are added
 * to `analysis.metrics` (a Release's own metric of the same name wins). The interval is not
 * merged but resolved after validation (`analysisIntervalOf`), and the Prometheus address is the
 * measurement's fallback (`MeasureContext.defaultAddress`).
 */
export function withSquadDefaults(spec: unknown, squad: SquadSpec | undefined): unknown {
  const delivery = squad?.delivery;
  if (!delivery || !isRecord(spec)) return spec;
  const analysis = isRecord(spec["analysis"]) ? spec["analysis"] : undefined;
  const own = Array.isArray(analysis?.["metrics"]) ? (analysis["metrics"] as unknown[]) : [];
  const names = new Set(own.map((m) => (isRecord(m) ? m["name"] : undefined)));
  const extra = (delivery.metrics ?? []).filter((m) => !names.has(m.name));
  if (extra.length === 0) return spec;
  return { ...spec, analysis: { ...analysis, metrics: [...own, ...extra] } };
}

/**
 * The default time between measurements: the Release's `analysis.interval`, else the squad's
 * `delivery.analysisInterval`, else 30s. The CRD defaults no interval, so an unset one reaches
 * the controller unset and the squad's default can apply.
 */
export function analysisIntervalOf(spec: ReleaseSpec, squad: SquadSpec | undefined): string {
  return spec.analysis?.interval ?? squad?.delivery?.analysisInterval ?? DEFAULT_ANALYSIS_INTERVAL;
}

/** What measuring needs besides the status: the metrics by name and the defaults. */
interface AnalysisSetup {
  metrics: readonly AnalysisMetric[];
  defaultAddress?: string;
  defaultInterval: string;
}

/** Metrics named by `names`, in spec order; all of them when `names` is absent. */
function select(metrics: readonly AnalysisMetric[], names: readonly string[] | undefined): AnalysisMetric[] {
  return names === undefined ? [...metrics] : metrics.filter((m) => names.includes(m.name));
}

/**
 * The analysis verdicts `step` consumes: of `status.analysis` over the metrics of the step it
 * belongs to, and of `status.backgroundAnalysis` over the background metrics.
 */
export function verdictsOf(
  spec: ReleaseSpec,
  status: ReleaseStatus,
  metrics: readonly AnalysisMetric[],
): ReleaseSnapshot["analysis"] {
  const out: ReleaseSnapshot["analysis"] = {};
  if (status.analysis) {
    const stage = stagesOf(spec)[status.analysis.step ?? -1];
    const names = stage?.kind === "analysis" ? stage.metrics : undefined;
    out.step = verdict(select(metrics, names), status.analysis.metrics);
  }
  const background = spec.strategy.canary?.backgroundAnalysis;
  if (background && status.backgroundAnalysis) {
    out.background = verdict(select(metrics, background.metrics), status.backgroundAnalysis.metrics);
  }
  return out;
}

const DRY_RUN_PROVIDER: MetricProvider = {
  query: () => Promise.resolve({ kind: "error", reason: "dry run" }),
};
const NEVER_ABORTED = new AbortController().signal;

/**
 * Spec errors that only show when measuring: an analysis naming a metric that does not exist
 * (judging it on nothing would pass it), a query template that does not render, a metric with
 * no Prometheus address. Found by a dry run of `measure` against a provider that does no I/O,
 * so the rules stay in one place; only metrics some analysis of the spec uses are checked.
 */
export async function analysisSpecError(
  spec: ReleaseSpec,
  setup: AnalysisSetup,
  target: { namespace: string; release: string },
): Promise<string | undefined> {
  const known = new Set(setup.metrics.map((m) => m.name));
  const used = new Set<string>();
  const lists: { field: string; names?: string[] }[] = [];
  stagesOf(spec).forEach((stage, i) => {
    if (stage.kind !== "analysis") return;
    const field = spec.strategy.blueGreen ? "analysis" : `strategy.canary.steps[${i}].analysis.metrics`;
    lists.push({ field, ...(stage.metrics ? { names: stage.metrics } : {}) });
  });
  const background = spec.strategy.canary?.backgroundAnalysis;
  if (background) {
    lists.push({
      field: "strategy.canary.backgroundAnalysis.metrics",
      ...(background.metrics ? { names: background.metrics } : {}),
    });
  }
  for (const { field, names } of lists) {
    for (const name of names ?? known) {
      if (!known.has(name)) {
        return `spec.${field}: ${name} is not defined in spec.analysis.metrics or the squad's delivery.metrics`;
      }
      used.add(name);
    }
  }
  const ref = { revision: "dry-run", version: "dry-run" };
  for (const metric of setup.metrics.filter((m) => used.has(m.name))) {
    try {
      await measure(metric, {
        ...measureDefaults(setup),
        ...target,
        providerFor: () => DRY_RUN_PROVIDER,
        canary: ref,
        stable: ref,
        signal: NEVER_ABORTED,
        now: 0,
      });
    } catch (err) {
      if (err instanceof AnalysisSpecError) return `spec.analysis.metrics: ${err.message}`;
      throw err;
    }
  }
  return undefined;
}

function measureDefaults(setup: AnalysisSetup): Pick<MeasureContext, "defaultAddress" | "defaultInterval"> {
  return { defaultInterval: setup.defaultInterval, defaultAddress: setup.defaultAddress };
}

export interface ReconcilerDeps {
  client: Pick<KubeClient, "apply" | "delete" | "mergePatch" | "get">;
  recorder: Pick<EventRecorder, "record">;
  logger: Logger;
  clock: Pick<Clock, "now">;
  runner: MeasurementRunner;
  providerFor: (address: string) => MetricProvider;
  notifier: Pick<OncallNotifier, "notify">;
  releases: ReadStore<RawRelease>;
  deployments: ReadStore;
  services: ReadStore;
  namespaces: ReadStore;
  squads: ReadStore<RawSquad>;
  /** Present when Gateway API is installed. */
  routes?: ReadStore<HTTPRoute>;
}

/** The Squad a Release belongs to, through its Namespace's `crescendo.dev/squad` label. */
interface SquadContext {
  name: string;
  tribe?: string;
  /** The parsed Squad, when it exists and is valid. */
  squad?: Squad;
}

/** One reconcile: observe (stores), decide (pure), act (API), report (Events, metrics, on-call). */
export class ReleaseReconciler {
  /**
   * Our status writes per Release, until the informer shows them: a reconcile that runs before
   * the watch event arrives reads its own write instead of a stale status (which could otherwise
   * re-apply a canary it has just rolled back, or measure a metric twice).
   */
  private readonly written: OwnWrites<RawRelease>;

  constructor(private readonly deps: ReconcilerDeps) {
    this.written = trackOwnWrites(deps.releases);
  }

  async reconcile(key: ObjectKey, ctx: ReconcileContext): Promise<ReconcileResult> {
    const raw = this.written.get(key);
    if (!raw || raw.metadata.deletionTimestamp) return this.gone(key);
    const valid = await this.validate(raw);
    if ("reason" in valid) return this.stalled(key, raw, valid.reason, valid.message);
    const { spec, setup, squad, target } = valid;

    // Observe: one snapshot, with the measurements that settled since the last reconcile.
    const folded = foldMeasurements(raw.status ?? {}, this.deps.runner.pending(key));
    const release: Release = { ...raw, spec, status: folded.status };
    const owned = await this.ownedDeployments(raw, folded.status);
    const snapshot: ReleaseSnapshot = {
      release,
      deployments: deploymentsByRevision(owned.all),
      route: this.routeOf(raw, spec),
      analysis: verdictsOf(spec, folded.status, setup.metrics),
      now: this.deps.clock.now(),
      action: pendingAction(release),
      squad: squad && { name: squad.name, tribe: squad.tribe },
    };

    // Decide.
    const result = step(snapshot);
    const plan = planObjects(snapshot, result.status);

    // Act: objects first (traffic before anything else), then status, once.
    await this.applyPlan(raw, plan, owned.uncached);
    const appliedAt = this.deps.clock.now();
    const wrote = await this.writeStatus(raw, result.status);
    this.deps.runner.ack(
      key,
      [...folded.recorded, ...folded.stale].map((s) => s.id),
    );

    if (wrote) this.report(raw, squad, result, { snapshot, recorded: folded.recorded, appliedAt });
    releaseMetrics.observe(target.namespace, target.release, result.status);

    const nextDue = this.startMeasurements(key, spec, result.status, setup, target, ctx.signal);
    const requeue = [result.requeueAfterMs, nextDue].filter((ms): ms is number => ms !== undefined && ms > 0);
    return requeue.length > 0 ? { requeueAfterMs: Math.min(...requeue) } : {};
  }

  /** The Release is gone (or going): owned objects go by garbage collection, only memory is left. */
  private gone(key: ObjectKey): ReconcileResult {
    this.deps.runner.cancel(key);
    this.written.forget(key);
    const { namespace, name } = splitKey(key);
    releaseMetrics.forget(namespace ?? "", name);
    return {};
  }

  /**
   * The spec with the squad's defaults, validated: by zod, then what only the controller can
   * check (Gateway API present, analysis measurable). Or why the Release cannot be acted on.
   */
  private async validate(raw: RawRelease): Promise<
    | { reason: string; message: string }
    | {
        spec: ReleaseSpec;
        setup: AnalysisSetup;
        squad: SquadContext | undefined;
        target: { namespace: string; release: string };
      }
  > {
    const squad = this.squadOf(raw);
    const parsed = releaseSpec.safeParse(withSquadDefaults(raw.spec ?? {}, squad?.squad?.spec));
    if (!parsed.success) return { reason: "InvalidSpec", message: zodMessage(parsed.error) };
    const spec = parsed.data;
    if (spec.strategy.canary?.trafficRouting?.gatewayAPI && !this.deps.routes) {
      return {
        reason: "GatewayAPIUnavailable",
        message:
          "spec.strategy.canary.trafficRouting.gatewayAPI is set, but the HTTPRoute CRD (gateway.networking.k8s.io) was not installed when the operator started: install Gateway API and restart the operator",
      };
    }
    const setup: AnalysisSetup = {
      metrics: spec.analysis?.metrics ?? [],
      defaultInterval: analysisIntervalOf(spec, squad?.squad?.spec),
      defaultAddress: squad?.squad?.spec.delivery?.prometheus?.address,
    };
    const target = { namespace: raw.metadata.namespace ?? "", release: raw.metadata.name ?? "" };
    const specError = await analysisSpecError(spec, setup, target);
    if (specError) return { reason: "InvalidSpec", message: specError };
    return { spec, setup, squad, target };
  }

  private squadOf(raw: RawRelease): SquadContext | undefined {
    const labels = this.deps.namespaces.get(raw.metadata.namespace ?? "")?.metadata.labels;
    const name = labels?.[LABELS.squad];
    if (!name) return undefined;
    const rawSquad = this.deps.squads.get(name);
    const parsed = rawSquad ? squadSpec.safeParse(rawSquad.spec ?? {}) : undefined;
    const squad: Squad | undefined =
      rawSquad && parsed?.success ? { ...rawSquad, spec: parsed.data } : undefined;
    const tribe = squad?.spec.tribe ?? labels[LABELS.tribe];
    return { name, tribe, squad };
  }

  /**
   * Deployments this Release controls (not merely references): those in the cache, and, read
   * from the API, those of revisions its status names that the cache lacks (`uncached`). The
   * cache holds only Deployments labelled `app.kubernetes.io/managed-by=crescendo` (`cache.ts`):
   * one whose label was removed is still this Release's, and seeing it lets the plan relabel it
   * (back into the cache) rather than take a live revision for gone, which for any revision but
   * the current one could not be recreated. A GET is made only while such a revision is missing.
   */
  private async ownedDeployments(
    raw: RawRelease,
    status: ReleaseStatus,
  ): Promise<{ all: KubeObject[]; uncached: KubeObject[] }> {
    const uid = raw.metadata.uid ?? "";
    const cached = this.deps.deployments.byOwner(uid).filter((d) => controlledBy(d, uid));
    const present = new Set(cached.map((d) => d.metadata.name));
    const named = [
      status.stableRevision,
      status.canaryRevision,
      ...(status.scaleDown ?? []).map((e) => e.revision),
    ];
    const uncached: KubeObject[] = [];
    for (const revision of new Set(named)) {
      const name = revision && deploymentName(raw.metadata.name ?? "", revision);
      if (!name || present.has(name)) continue;
      const dep = await this.deps.client.get(DeploymentResource, name, raw.metadata.namespace);
      if (dep && controlledBy(dep, uid)) uncached.push(dep);
    }
    return { all: [...cached, ...uncached], uncached };
  }

  private routeOf(raw: RawRelease, spec: ReleaseSpec): HTTPRoute | undefined {
    const name = spec.strategy.canary?.trafficRouting?.gatewayAPI?.httpRoute;
    return name ? this.deps.routes?.get(`${raw.metadata.namespace ?? ""}/${name}`) : undefined;
  }

  /**
   * Server-side applies what changed, in plan order; deletes only what this Release controls.
   * `uncached`: Deployments read from the API because the cache lacks them; they count as observed.
   */
  private async applyPlan(
    raw: RawRelease,
    plan: ReleasePlan,
    uncached: readonly KubeObject[],
  ): Promise<void> {
    const namespace = raw.metadata.namespace ?? "";
    const observedAs = (store: ReadStore | undefined, kind: string | undefined, name: string) =>
      store?.get(`${namespace}/${name}`) ??
      (kind === "Deployment" ? uncached.find((d) => d.metadata.name === name) : undefined);
    if (plan.missing.length > 0) {
      this.deps.logger.warn(
        { namespace, name: raw.metadata.name, revisions: plan.missing },
        "the Deployment of a live revision is gone and its pod template is known nowhere else; not recreating it",
      );
    }
    for (const desired of plan.objects) {
      const { res, store } = this.resourceOf(desired.kind);
      const observed = observedAs(store, desired.kind, desired.metadata.name ?? "");
      await applyIfChanged(this.deps.client, desired, res, observed);
    }
    for (const stale of plan.deletions) {
      const { res, store } = this.resourceOf(stale.kind);
      const observed = observedAs(store, stale.kind, stale.name);
      if (!observed || !controlledBy(observed, raw.metadata.uid ?? "")) continue;
      await this.deps.client.delete(res, stale.name, namespace);
    }
  }

  private resourceOf(kind: string | undefined): { res: Resource; store?: ReadStore } {
    switch (kind) {
      case "Deployment":
        return { res: DeploymentResource, store: this.deps.deployments };
      case "Service":
        return { res: ServiceResource, store: this.deps.services };
      case "HTTPRoute":
        return { res: HTTPRouteResource, store: this.deps.routes };
      default:
        throw new Error(`release plan produced an object of unknown kind ${kind ?? ""}`);
    }
  }

  /**
   * Patches status when it changed, carrying the observed resourceVersion (a status computed
   * from a stale snapshot fails with 409 and is recomputed), and remembers the write.
   */
  private writeStatus(raw: RawRelease, status: ReleaseStatus): Promise<boolean> {
    return this.written.patchStatus(this.deps.client, raw, ReleaseResource, status);
  }

  /**
   * Reports a spec the controller cannot act on: `Stalled=True` with the reason and message,
   * nothing applied, nothing measured, no requeue. The next spec edit (a new generation) brings
   * the next reconcile; an unchanged spec writes nothing more.
   */
  private async stalled(
    key: ObjectKey,
    raw: RawRelease,
    reason: string,
    message: string,
  ): Promise<ReconcileResult> {
    this.deps.runner.cancel(key);
    const generation = raw.metadata.generation;
    const status: ReleaseStatus = {
      ...raw.status,
      observedGeneration: generation,
      conditions: readyConditions(
        raw.status?.conditions,
        { state: "Stalled", reason, message },
        { observedGeneration: generation, now: this.deps.clock.now() },
      ),
    };
    if (await this.writeStatus(raw, status)) {
      const before = raw.status?.conditions?.find((c) => c.type === "Stalled");
      if (before?.status !== "True" || before.reason !== reason || before.message !== message) {
        void this.deps.recorder.record(raw, { type: "Warning", reason, note: message, action: "Reconcile" });
      }
      this.deps.logger.warn(
        { namespace: raw.metadata.namespace, name: raw.metadata.name, reason, message },
        "release stalled",
      );
    }
    releaseMetrics.observe(raw.metadata.namespace ?? "", raw.metadata.name ?? "", status);
    return {};
  }

  /** What follows a written status: its Events, the counters, and on a rollback the on-call. */
  private report(
    raw: RawRelease,
    squad: SquadContext | undefined,
    result: StepResult,
    info: { snapshot: ReleaseSnapshot; recorded: readonly SettledMeasurement[]; appliedAt: number },
  ): void {
    for (const event of result.events) {
      void this.deps.recorder.record(raw, { ...event, action: actionOf(event.reason) });
    }
    if (result.promoted) releaseMetrics.promoted();
    // One report per rollback, from the reconcile whose status write recorded it; never again
    // for a RolledBack Release reconciled later, whatever memory this process has (or lost).
    const rolledBack = result.rolledBack;
    if (!rolledBack || !isNewRollback(raw.status, result.status)) return;
    const failed = rolledBack.reason === "AnalysisFailed" ? failedVerdict(info.snapshot) : undefined;
    const decidedAt =
      (failed && decidingMeasurementTime(info.snapshot.release.status ?? {}, failed, info.recorded)) ??
      info.snapshot.now;
    const seconds = (info.appliedAt - decidedAt) / 1000;
    releaseMetrics.rolledBack(rolledBack.reason, seconds);
    this.deps.logger.info(
      {
        namespace: raw.metadata.namespace,
        name: raw.metadata.name,
        reason: rolledBack.reason,
        revision: rolledBack.revision,
        timeToRollbackSeconds: seconds,
      },
      "rolled back",
    );
    const payload = rollbackNotificationOf({
      release: { name: raw.metadata.name ?? "", namespace: raw.metadata.namespace ?? "" },
      squad: squad && { name: squad.name, tribe: squad.tribe, channel: squad.squad?.spec.oncall?.channel },
      rollback: rolledBack,
      metric: failed?.metric,
      at: result.status.abortedAt ?? new Date(info.snapshot.now).toISOString(),
    });
    void this.deps.notifier.notify(raw, squad?.squad, payload);
  }

  /**
   * Keeps only the measurements of the analyses still live under the written status, starts
   * those that are due and not already running or waiting to be recorded, and returns when the
   * next of the others is due.
   */
  private startMeasurements(
    key: ObjectKey,
    spec: ReleaseSpec,
    status: ReleaseStatus,
    setup: AnalysisSetup,
    target: { namespace: string; release: string },
    signal: AbortSignal,
  ): number | undefined {
    const { runner, clock } = this.deps;
    const live = liveAnalysis(spec, status);
    const tokens: Record<AnalysisKind, string | undefined> = {
      step: live.step ? analysisToken(status, "step") : undefined,
      background: live.background ? analysisToken(status, "background") : undefined,
    };
    runner.cancel(key, (kind, token) => tokens[kind] === token);
    const intervalMs = parseDuration(setup.defaultInterval);
    const now = clock.now();
    const canary = { revision: status.canaryRevision ?? "", version: status.canaryVersion ?? "" };
    const stable = { revision: status.stableRevision ?? "", version: status.stableVersion ?? "" };
    let next: number | undefined;
    for (const kind of ["step", "background"] as const) {
      const token = tokens[kind];
      const which = live[kind];
      if (token === undefined || which === undefined) continue;
      const results = (kind === "step" ? status.analysis?.metrics : status.backgroundAnalysis?.metrics) ?? [];
      const idle = select(setup.metrics, which.metrics).filter(
        (m) =>
          !runner.isRunning(key, kind, m.name) &&
          !runner.pending(key).some((p) => p.metric === m.name && p.kind === kind),
      );
      const due = new Set(dueMetrics(idle, results, intervalMs, now));
      for (const metric of idle.filter((m) => due.has(m.name))) {
        runner.start(
          {
            key,
            kind,
            metric: metric.name,
            analysis: token,
            run: (abort) =>
              measure(metric, {
                ...measureDefaults(setup),
                ...target,
                providerFor: this.deps.providerFor,
                canary,
                stable,
                signal: abort,
                now: clock.now(),
              }),
          },
          signal,
        );
      }
      const wait = nextDueInMs(
        idle.filter((m) => !due.has(m.name)),
        results,
        intervalMs,
        now,
      );
      if (wait !== undefined) next = next === undefined ? wait : Math.min(next, wait);
    }
    return next;
  }
}

/** The Failed verdict that decided a rollback, step analysis first. */
function failedVerdict(snapshot: ReleaseSnapshot): { kind: AnalysisKind; metric?: string } | undefined {
  if (snapshot.analysis.step?.phase === "Failed")
    return { kind: "step", metric: snapshot.analysis.step.metric };
  if (snapshot.analysis.background?.phase === "Failed") {
    return { kind: "background", metric: snapshot.analysis.background.metric };
  }
  return undefined;
}

/**
 * When the measurement that decided a rollback was taken: the last Failed measurement of the
 * failing metric. Its `at` has second precision, so when it was taken by this process during
 * this reconcile's fold, the exact start time is used instead.
 */
function decidingMeasurementTime(
  status: ReleaseStatus,
  failed: { kind: AnalysisKind; metric?: string },
  recorded: readonly SettledMeasurement[],
): number | undefined {
  const analysis = failed.kind === "step" ? status.analysis : status.backgroundAnalysis;
  const result = analysis?.metrics.find((r) => r.name === failed.metric);
  const last = result?.measurements.findLast((m) => m.phase === "Failed");
  if (!last) return undefined;
  const exact = recorded.find((s) => s.kind === failed.kind && s.measurement === last);
  if (exact) return exact.takenAt;
  const at = Date.parse(last.at);
  return Number.isNaN(at) ? undefined : at;
}

/** The Event `action` (what the controller did) for a step event's reason. */
function actionOf(reason: string): string {
  switch (reason) {
    case "RolledBack":
      return "Rollback";
    case "Promoted":
    case "PromotedFull":
    case "SwitchedBack":
      return "Promote";
    case "ActionAccepted":
    case "ActionIgnored":
      return "Action";
    default:
      return "Rollout";
  }
}

function controlledBy(obj: KubeObject, uid: string): boolean {
  return (obj.metadata.ownerReferences ?? []).some(
    (r) => r.controller === true && r.uid === uid && uid !== "",
  );
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function path(v: unknown, keys: readonly string[]): unknown {
  let cur = v;
  for (const k of keys) cur = isRecord(cur) ? cur[k] : undefined;
  return cur;
}
