/**
 * The FeatureToggle controller's wiring: the informers it reads, the watches that map their
 * events to namespace keys (`watches.ts`), and the reconciler (`reconciler.ts`). Every decision
 * lives in `plan.ts`, `documents.ts` and `flags/`; nothing here does I/O of its own.
 *
 * Keys are namespaces, not toggles (why: `reconciler.ts`). The primary watch is therefore the
 * Namespace (a namespace's `crescendo.dev/squad` label also decides its squad's toggle policy);
 * toggles, the ConfigMap, guard Releases, Squads and the OpenFeature Operator's CRD map to
 * namespace keys. The flag documents (`documents.ts`) are built before this controller, since
 * OFREP serves them on every replica while only the leader reconciles.
 */
import { insightConfigMapName, namespacesReported, ReplicaInsight } from "./insight-replicas.js";
import { FeatureToggleResource, ReleaseResource, SquadResource } from "../../api/kinds.js";
import { RefusalReporter } from "../../runtime/refusals.js";
import { PrometheusAllowlist } from "../../analysis/allowlist.js";
import type { MetricProvider } from "../../analysis/index.js";
import { cachedPrometheusProviders } from "../release/controller.js";
import { MeasurementRunner } from "../release/measurements.js";
import { NotificationRunner } from "../release/notification-runner.js";
import { OncallWebhook } from "../release/notify.js";
import type { KubeClient } from "../../runtime/client.js";
import { controllerFor, type Controller, type ControllerHost } from "../../runtime/controller.js";
import {
  ConfigMapResource,
  CustomResourceDefinitionResource,
  NamespaceResource,
} from "../../runtime/resources.js";
import type { FlagDocuments } from "./documents.js";
import type { RawRelease, RawSquad, RawToggle } from "./plan.js";
import { FeatureToggleReconciler, type InsightReports, type ReconcilerIO } from "./reconciler.js";
import type { EvaluationInsight } from "../../flags/insight.js";
import type { DebtPolicy } from "./debt.js";
import {
  GUARD_RELEASE_INDEX,
  guardPhaseChanged,
  guardReleaseIndex,
  namespaceOfFlagsObject,
  namespaceOfGuardRelease,
  namespacesOfSquad,
  namespacesOfToggle,
  namespacesOnCrdChange,
  squadPolicyChanged,
  toggleChanged,
} from "./watches.js";

export interface FeatureToggleControllerOptions extends Omit<ReconcilerIO, "client"> {
  /** The API; `get` reads the squad's on-call Secret when a ramp's rollback is notified. */
  client: Pick<KubeClient, "apply" | "delete" | "mergePatch" | "get">;
  /** Sends on-call messages (tests); default the Releases' `OncallWebhook`. */
  webhook?: Pick<OncallWebhook, "sendMessage">;
  /** The namespaces' compiled flags (`flagDocumentsFrom` on the same host). */
  flags: FlagDocuments;
  /** Concurrent reconciles of different namespaces (default 2). */
  workers?: number;
  /** This replica's evaluation counts (the OFREP server records into it); none: no insight. */
  insight?: EvaluationInsight;
  /** Evaluations are not counted (`--toggle-insight=false`): status says so instead of `Unused`. */
  insightOff?: boolean;
  /**
   * This replica, when several serve OFREP: the other replicas' published counts
   * (`insight-replicas.ts`) are merged into status with this one's. Absent: this one's only.
   */
  replica?: { identity: string; namespace: string };
  /** When toggles become Unused and FullyRolledOut (default 14 days each). */
  debt?: DebtPolicy;
  /** The Prometheus addresses ramps may ask besides their squad's own (as for Releases); default none. */
  allowlist?: PrometheusAllowlist;
  /** Prometheus clients by address (tests); default one client per address. */
  providerFor?: (address: string) => MetricProvider;
}

/**
 * Insight from this replica's counts only. With several replicas serving OFREP, each would
 * publish its reports and the leader merge them here (docs/featuretoggle.md, "Several replicas").
 */
function localInsight(counter: EvaluationInsight): InsightReports {
  return {
    reports: (namespace, key) => [counter.report(namespace, key)],
    taken: (namespace, key) => counter.taken(namespace, key),
  };
}

/**
 * Registers the FeatureToggle controller. Watches: Namespaces (the keys), FeatureToggles, the `crescendo-flags` ConfigMaps (an
 * edited or deleted one is put back), Releases that guard a toggle, Squads (their toggle policy)
 * and the OpenFeature Operator's FeatureFlag CRD (installed or removed at any time).
 */
export function registerFeatureToggleController(
  manager: ControllerHost,
  options: FeatureToggleControllerOptions,
): Controller & { close(): void } {
  const toggles = manager.informer<RawToggle>(FeatureToggleResource);
  const releases = manager.informer<RawRelease>(ReleaseResource);
  const namespaces = manager.informer(NamespaceResource);
  const squads = manager.informer<RawSquad>(SquadResource);
  const configMaps = manager.informer(ConfigMapResource);
  // Only FEATURE_FLAG_CRD is read: the operator's cache selects it by name (`cache.ts`).
  const crds = manager.informer(CustomResourceDefinitionResource);
  toggles.addIndex(GUARD_RELEASE_INDEX, guardReleaseIndex);
  const { flags, workers, insight: counter, debt, replica, allowlist, providerFor, webhook, ...io } = options;
  // The controller exists only once built, and the runner is needed to build it.
  let enqueue: (namespace: string) => void = () => undefined;
  const runner = new MeasurementRunner({
    clock: manager.clock,
    logger: io.logger,
    // Ramp measurements are keyed by toggle (namespace/name); reconciles are by namespace.
    onSettled: (key) => enqueue(key.slice(0, key.indexOf("/"))),
  });
  // A ramp's rollback and a kill are notified as a Release's rollback is: attempts keyed by
  // toggle (namespace/name), each outcome recorded at once, then the namespace reconciled (which
  // records it if this could not).
  let recordAttempts: (key: string) => Promise<void> = async () => undefined;
  const notifications = new NotificationRunner({
    clock: manager.clock,
    logger: io.logger,
    onSettled: (key) =>
      void recordAttempts(key)
        .catch((err: unknown) => io.logger.error({ err, key }, "recording a notification attempt threw"))
        .finally(() => enqueue(key.slice(0, key.indexOf("/")))),
  });
  const reconciler = new FeatureToggleReconciler({
    ...io,
    clock: manager.clock,
    flags,
    ...(counter
      ? { insight: replica ? new ReplicaInsight(counter, configMaps, replica) : localInsight(counter) }
      : {}),
    ...(debt ? { debt } : {}),
    ramps: {
      runner,
      providerFor: providerFor ?? cachedPrometheusProviders(),
      allowlist: allowlist ?? PrometheusAllowlist.of([]),
    },
    oncall: { runner: notifications, webhook: webhook ?? new OncallWebhook({ client: io.client }) },
    toggles,
    releases,
    namespaces,
    squads,
    configMaps,
    crds,
  });
  recordAttempts = (key) => reconciler.recordAttempts(key);
  const controller = controllerFor(manager, NamespaceResource, { name: "featuretoggle" })
    .watches<RawToggle>(FeatureToggleResource, namespacesOfToggle(namespaces), { predicate: toggleChanged })
    .watches(ConfigMapResource, (cm) => [
      ...namespaceOfFlagsObject(cm),
      // Another replica published counts: the namespaces it served are summarised again.
      ...(replica && cm.metadata.name !== insightConfigMapName(replica.identity)
        ? namespacesReported(cm)
        : []),
    ])
    .watches<RawRelease>(ReleaseResource, namespaceOfGuardRelease(toggles), {
      predicate: guardPhaseChanged,
    })
    .watches<RawSquad>(SquadResource, namespacesOfSquad(namespaces), { predicate: squadPolicyChanged })
    .watches(CustomResourceDefinitionResource, namespacesOnCrdChange(toggles))
    .workers(workers ?? 2)
    // A refused ConfigMap or FeatureFlag serves every toggle of the namespace: each is told.
    .reportRefusals(
      new RefusalReporter({
        client: io.client,
        recorder: io.recorder,
        resource: FeatureToggleResource,
        now: () => manager.clock.now(),
      }),
      (namespace) => toggles.list(namespace),
    )
    .complete((key, ctx) => reconciler.reconcile(key, ctx));
  enqueue = (namespace) => controller.enqueue(namespace);
  // A toggle evaluated for the first time since its summary was written: its namespace is
  // reconciled so the summary follows within a minute (the plan holds writes to one a minute).
  if (counter) counter.onFresh = (namespace) => controller.enqueue(namespace);
  // Shutdown drops on-call attempts in flight: each is still pending in status for the next leader.
  return Object.assign(controller, { close: () => notifications.close() });
}
