/**
 * The Release controller's wiring: the informers it reads, the index and watch maps that bring a
 * Release to reconcile (`watches.ts`), the measurement and on-call notification runners that outlive
 * a reconcile, and the reconciler (`reconciler.ts`) that does the work.
 */
import { PrometheusAllowlist } from "../../analysis/allowlist.js";
import { FeatureToggleResource, ReleaseResource, SquadResource } from "../../api/kinds.js";
import { createPrometheusProvider, type MetricProvider } from "../../analysis/index.js";
import type { Logger } from "../../observability/logger.js";
import type { KubeClient } from "../../runtime/client.js";
import { RefusalReporter } from "../../runtime/refusals.js";
import { controllerFor, type ControllerHost, type QueueingController } from "../../runtime/controller.js";
import type { EventRecorder } from "../../runtime/events.js";
import {
  CustomResourceDefinitionResource,
  ControllerRevisionResource,
  DeploymentResource,
  HTTPRouteResource,
  NamespaceResource,
  ServiceResource,
} from "../../runtime/resources.js";
import type { Clock, ObjectKey } from "../../runtime/types.js";
import { MeasurementRunner } from "./measurements.js";
import { releaseMetrics } from "./metrics.js";
import { NotificationRunner } from "./notification-runner.js";
import { OncallWebhook } from "./notify.js";
import { ReleaseReconciler, type RawRelease, type RawSquad } from "./reconciler.js";
import { releaseOfUnowned } from "./serving-finalizer.js";
import type { HTTPRoute } from "./traffic/http-route.js";
import {
  httpRouteKeysOf,
  RELEASES_BY_HTTP_ROUTE,
  releasesOfNamespace,
  releasesOfRoute,
  releasesOfSquad,
} from "./watches.js";

export interface ReleaseControllerOptions {
  client: Pick<KubeClient, "apply" | "delete" | "mergePatch" | "get" | "list">;
  recorder: Pick<EventRecorder, "record">;
  logger: Logger;
  /** Concurrent reconciles of different Releases (default 4). */
  workers?: number;
  /** Defaults to the manager's clock. */
  clock?: Clock;
  /**
   * The Prometheus addresses Releases may name besides their squad's `delivery` ones. Absent:
   * only the squad's — never "anything", since whoever edits a Release picks the address the
   * operator then fetches from inside the cluster.
   */
  allowlist?: PrometheusAllowlist;
  /** The metric provider for a Prometheus address; defaults to one Prometheus client per address. */
  providerFor?: (address: string) => MetricProvider;
  /**
   * Watch HTTPRoutes: only when the Gateway API CRDs are installed (see `gatewayApiInstalled`),
   * since an informer for a kind the apiserver does not serve never syncs.
   */
  gatewayAPI?: boolean;
  /** Replaces the on-call webhook's one-attempt I/O (tests). */
  webhook?: Pick<OncallWebhook, "send">;
}

/** The Release controller as registered, with what its owner must do at shutdown. */
export interface ReleaseController extends QueueingController {
  /**
   * Ends what outlives a reconcile once the manager has stopped: on-call notification attempts
   * in flight are aborted, so nothing keeps the process past its grace period. Nothing is lost:
   * each is still pending in status, and the next leader sends it.
   */
  close(): void;
}

/**
 * Registers the Release controller: it reconciles Releases, owns their Deployments, Services and
 * ControllerRevisions (each revision's pod template, `controller-revisions.ts`),
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
  const revisions = manager.informer(ControllerRevisionResource);
  const services = manager.informer(ServiceResource);
  const namespaces = manager.informer(NamespaceResource);
  const squads = manager.informer<RawSquad>(SquadResource);
  // Only read when a rollback is notified: the message names the toggles it kills.
  const toggles = manager.informer(FeatureToggleResource);
  const routes = options.gatewayAPI ? manager.informer<HTTPRoute>(HTTPRouteResource) : undefined;

  releases.addIndex(RELEASES_BY_HTTP_ROUTE, httpRouteKeysOf);

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
  let recordAttempts: (key: ObjectKey) => Promise<void> = async () => undefined;
  const notifications = new NotificationRunner({
    clock,
    logger: options.logger,
    // Recorded at once, not behind the queue (a delivery not recorded is sent again by the next
    // leader); the reconcile then goes on from the recorded status, or records it if this could not.
    onSettled: (key) =>
      void recordAttempts(key)
        .catch((err: unknown) => options.logger.error({ err, key }, "recording a notification attempt threw"))
        .finally(() => enqueue(key)),
  });
  const webhook = options.webhook ?? new OncallWebhook({ client: options.client });
  const reconciler = new ReleaseReconciler({
    client: options.client,
    recorder: options.recorder,
    logger: options.logger.child({ controller: "release" }),
    clock,
    runner,
    providerFor: options.providerFor ?? cachedPrometheusProviders(),
    allowlist: options.allowlist ?? PrometheusAllowlist.of([]),
    notifications,
    webhook,
    releases,
    deployments,
    revisions,
    services,
    namespaces,
    squads,
    toggles,
    routes,
  });
  recordAttempts = (key) => reconciler.recordAttempts(key);

  let builder = controllerFor(manager, ReleaseResource)
    .owns(DeploymentResource)
    // An orphaned Deployment (its Release deleted with --cascade=orphan) names its Release only
    // by label: mapped so its serving finalizer goes even when no ownerReference event announced it.
    .watches(DeploymentResource, releaseOfUnowned)
    .owns(ControllerRevisionResource)
    .owns(ServiceResource);
  if (routes) builder = builder.watches<HTTPRoute>(HTTPRouteResource, releasesOfRoute(releases));
  const controller = builder
    .watches<RawSquad>(SquadResource, releasesOfSquad(squads, namespaces, releases))
    .watches(NamespaceResource, releasesOfNamespace(releases))
    .workers(options.workers ?? 4)
    .reportRefusals(
      new RefusalReporter({
        client: options.client,
        recorder: options.recorder,
        resource: ReleaseResource,
        now: () => clock.now(),
      }),
    )
    .complete((key, ctx) => reconciler.reconcile(key, ctx));
  enqueue = (key) => controller.enqueue(key);
  return Object.assign(controller, { close: () => notifications.close() });
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
export function cachedPrometheusProviders(): (address: string) => MetricProvider {
  const providers = new Map<string, MetricProvider>();
  return (address) => {
    let provider = providers.get(address);
    if (!provider) providers.set(address, (provider = createPrometheusProvider({ address })));
    return provider;
  };
}
