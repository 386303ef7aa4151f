/**
 * The Squad controller's wiring: what it watches, and the thin reconcile that reads one
 * snapshot from the informers, asks `planSquad` and `squadStatus` what to do, and does it.
 * Every decision lives in the pure modules beside this one; what is here is I/O and ordering.
 */
import { LABELS } from "../../api/common.js";
import { squadNamespaceDeletionPolicy, squadNamespaceNames } from "../../api/raw-spec.js";
import {
  FeatureToggleResource,
  ReleaseResource,
  SquadResource,
  type FeatureToggle,
  type Release,
  type Squad,
} from "../../api/kinds.js";
import type { SquadStatus } from "../../api/squad.js";
import { squadSpecParts, type IncidentPolicyCheck } from "../../api/squad-spec-parts.js";
import { deliveryRequeueMs } from "../../delivery/squad-delivery.js";
import type { Logger } from "../../observability/logger.js";
import { applyIfChanged } from "../../runtime/apply.js";
import { limitRangeHasStrays, quotaStrayPatch, strayQuotaKeys } from "./strays.js";
import type { KubeClient } from "../../runtime/client.js";
import { controllerFor, type Controller, type ControllerHost } from "../../runtime/controller.js";
import type { EventRecorder } from "../../runtime/events.js";
import { withFinalizer } from "../../runtime/finalizer.js";
import { trackOwnWrites, type OwnWrites } from "../../runtime/own-writes.js";
import { RefusalReporter, refusalOf } from "../../runtime/refusals.js";
import { NamespaceResource } from "../../runtime/resources.js";
import {
  objectKey,
  type KubeObject,
  type ObjectKey,
  type ReadStore,
  type ReconcileResult,
  type StoreEvent,
} from "../../runtime/types.js";
import {
  namespaceClaim,
  OWNED_RESOURCES,
  planSquad,
  releasePatch,
  resourceOf,
  type Namespace,
  type PlanResult,
  type SecretReader,
  tribeAllowed,
} from "./plan.js";
import { squadMetrics } from "./metrics.js";
import { oncallView } from "./oncall-view.js";
import { incidentPolicyConditions, incidentPolicyEvents } from "./incident-policy-condition.js";
import { IncidentNotices } from "./incident-notices.js";
import { NotificationRunner } from "../release/notification-runner.js";
import type { OncallWebhook } from "../release/notify.js";
import { invalidSpecStatus, squadStatus, squadToggleDebt, transitionEvents } from "./status.js";

/** Held on every Squad so that policy `Delete` can remove its namespaces before the Squad goes. */
export const SQUAD_FINALIZER = "crescendo.dev/squad";

/** While a Delete-policy cleanup waits for namespaces to finish terminating. */
const CLEANUP_POLL_MS = 5_000;

export interface SquadControllerOptions {
  client: Pick<KubeClient, "apply" | "create" | "delete" | "mergePatch">;
  recorder: Pick<EventRecorder, "record">;
  logger: Logger;
  /** Concurrent reconciles of different Squads (default 2). */
  workers?: number;
  /** How the on-call webhook Secret is made readable (`plan.ts`, `SecretReader`). */
  secretReader?: SecretReader;
  /** The tribes a Squad may name (`--tribes`); empty or absent: any. */
  declaredTribes?: readonly string[];
  /** The revert window of the delivery figures (`--revert-window`); absent: 24 h. */
  revertWindowMs?: number;
  /**
   * Delivers the on-call messages of the squad's incidents (`incident-notices.ts`): the
   * Releases' webhook, and a client to read the Squad before each attempt. Absent: none sent.
   */
  oncall?: { webhook: Pick<OncallWebhook, "sendMessage">; client: Pick<KubeClient, "get"> };
}

/** A Squad as the informer holds it: the spec is not validated yet. */
type RawSquad = KubeObject & { spec?: unknown; status?: SquadStatus };

/**
 * How long a Squad's summary waits for more of its Releases and toggles to change before it is
 * rewritten. A squad rolling out a hundred services otherwise rewrote its status twice per
 * Release (a seventh of a large rollout's requests); two seconds of lag in a summary costs
 * nobody anything. The Squad's own spec and its owned objects are never delayed.
 */
export const SUMMARY_BATCH_MS = 2000;

/**
 * Registers the Squad controller. It owns the RoleBindings, ResourceQuotas, LimitRanges and
 * NetworkPolicies it creates (through ownerReferences), and watches Namespaces (by ownership
 * label, and by declaration, so a squad waiting on someone else's namespace hears when it is
 * freed) and the Releases and FeatureToggles its status summarises.
 */
export function registerSquadController(
  manager: ControllerHost,
  options: SquadControllerOptions,
): Controller & { close(): void } {
  const squads = manager.informer<RawSquad>(SquadResource);
  const namespaces = manager.informer<Namespace>(NamespaceResource);
  const releases = manager.informer<Release>(ReleaseResource);
  const toggles = manager.informer<FeatureToggle>(FeatureToggleResource);
  const owned = OWNED_RESOURCES.map((res) => ({ res, store: manager.informer(res) }));

  squads.addIndex(DECLARED_NAMESPACE_INDEX, declaredNames);

  // The controller exists only once built; an attempt's outcome brings a reconcile that records it.
  let enqueue: (key: ObjectKey) => void = () => undefined;
  const runner = new NotificationRunner({
    clock: manager.clock,
    logger: options.logger,
    onSettled: (key) => enqueue(key),
  });
  const notices =
    options.oncall &&
    new IncidentNotices({
      ...options.oncall,
      runner,
      recorder: options.recorder,
      logger: options.logger,
      clock: manager.clock,
    });
  const reconciler = new SquadReconciler({
    ...options,
    ...(notices ? { notices } : {}),
    clock: manager.clock,
    squads,
    namespaces,
    releases,
    toggles,
    owned,
  });
  let builder = controllerFor(manager, SquadResource);
  for (const { res } of owned) builder = builder.owns(res);
  const controller = builder
    .watches<Namespace>(NamespaceResource, squadsOfNamespace(squads))
    .watches<RawSquad>(SquadResource, squadsWaitingOn(squads, namespaces), { predicate: squadDeleted })
    .watches<Release>(ReleaseResource, squadOfNamespacedObject(namespaces), {
      predicate: releaseSummaryChanged,
      batchMs: SUMMARY_BATCH_MS,
    })
    .watches<FeatureToggle>(FeatureToggleResource, squadOfNamespacedObject(namespaces), {
      predicate: toggleSummaryChanged,
      batchMs: SUMMARY_BATCH_MS,
    })
    .workers(options.workers ?? 2)
    .reportRefusals(
      new RefusalReporter({
        client: options.client,
        recorder: options.recorder,
        resource: SquadResource,
        now: () => manager.clock.now(),
      }),
    )
    .complete((key) => reconciler.reconcile(key));
  enqueue = (key) => controller.enqueue(key);
  // Shutdown drops attempts in flight: each is still pending in status for the next leader.
  return Object.assign(controller, { close: () => runner.close() });
}

/**
 * A Namespace concerns the squad its label names and every squad that declares it: a squad
 * stalled on a namespace someone else owns hears when it is freed. Reads the Squad store's
 * `DECLARED_NAMESPACE_INDEX`.
 */
export function squadsOfNamespace(squads: ReadStore<RawSquad>): (ns: Namespace) => ObjectKey[] {
  return (ns) => {
    const owner = ns.metadata.labels?.[LABELS.squad];
    const declaring = squads
      .byIndex(DECLARED_NAMESPACE_INDEX, ns.metadata.name ?? "")
      .map((squad) => squad.metadata.name ?? "")
      .sort();
    return [...new Set([...(owner ? [owner] : []), ...declaring])];
  };
}

/**
 * A deleted Squad concerns every other squad that declares one of its namespaces: each was
 * stalled on "namespace x belongs to squad y", which now reads "…which no longer exists". The
 * namespaces themselves may not change at all (the default policy retains them), so without this
 * watch the waiting squad's message stayed stale until something else touched it.
 */
export function squadsWaitingOn(
  squads: ReadStore<RawSquad>,
  namespaces: ReadStore<Namespace>,
): (squad: RawSquad) => ObjectKey[] {
  return (squad) => {
    const name = squad.metadata.name ?? "";
    const waiting = namespaces
      .byLabel(LABELS.squad, name)
      .flatMap((ns) => squads.byIndex(DECLARED_NAMESPACE_INDEX, ns.metadata.name ?? ""))
      .map((other) => other.metadata.name ?? "")
      .filter((other) => other !== name);
    return [...new Set(waiting)].sort();
  };
}

export function squadDeleted(event: StoreEvent<RawSquad>): boolean {
  return event.type === "delete";
}

/** A Release or FeatureToggle concerns the squad that owns its namespace (by the Namespace's label). */
export function squadOfNamespacedObject(namespaces: ReadStore<Namespace>): (obj: KubeObject) => ObjectKey[] {
  return (obj) => {
    const owner = namespaces.get(obj.metadata.namespace ?? "")?.metadata.labels?.[LABELS.squad];
    return owner ? [owner] : [];
  };
}

/**
 * Whether a Release event can change the Squad's summary: it counts Releases by phase and
 * reads the rollout history (for the DORA keys), so a phase change, a new history entry, or a
 * Release appearing or going. Weight steps and measurements, most of a rollout's writes, cannot.
 * The history is capped, so a new entry is seen by its newest entry as well as by the length.
 */
export function releaseSummaryChanged(event: StoreEvent<Release>): boolean {
  if (event.type !== "upsert" || !event.previous) return true;
  const before = event.previous.status;
  const after = event.object.status;
  return (
    before?.phase !== after?.phase ||
    before?.history?.length !== after?.history?.length ||
    !sameEntry(before?.history?.[0], after?.history?.[0])
  );
}

type HistoryEntry = NonNullable<NonNullable<Release["status"]>["history"]>[number];

function sameEntry(a: HistoryEntry | undefined, b: HistoryEntry | undefined): boolean {
  return (
    a?.revision === b?.revision &&
    a?.startedAt === b?.startedAt &&
    a?.finishedAt === b?.finishedAt &&
    a?.outcome === b?.outcome
  );
}

/**
 * Whether a FeatureToggle event can change the Squad's summary, which counts toggles by what
 * apps get (`effectiveState`) and by staleness, and its delivery metrics, which count a guarded
 * ramp's end: one of those moved, or a toggle came or went.
 */
export function toggleSummaryChanged(event: StoreEvent<FeatureToggle>): boolean {
  if (event.type !== "upsert" || !event.previous) return true;
  const before = event.previous.status;
  const after = event.object.status;
  return (
    before?.effectiveState !== after?.effectiveState ||
    before?.stale !== after?.stale ||
    // A guarded ramp that ends is a change for the delivery metrics.
    before?.rollout?.phase !== after?.rollout?.phase ||
    JSON.stringify(squadToggleDebt([event.previous])) !== JSON.stringify(squadToggleDebt([event.object]))
  );
}

/** The Squad store's index of declared namespaces: a Squad is filed under each name it declares. */
export const DECLARED_NAMESPACE_INDEX = "squad/declared-namespace";

/**
 * `spec.namespaces[].name`, or the squad's own name when none are listed. Read from the raw
 * spec, leniently, since an invalid Squad still declares what it declares (and is indexed so).
 */
export function declaredNames(squad: RawSquad): string[] {
  const names = squadNamespaceNames(squad);
  return names.length > 0 ? names : [squad.metadata.name ?? ""];
}

export interface ReconcilerDeps extends SquadControllerOptions {
  clock: { now(): number };
  squads: ReadStore<RawSquad>;
  namespaces: ReadStore<Namespace>;
  releases: ReadStore<Release>;
  toggles: ReadStore<FeatureToggle>;
  owned: { res: (typeof OWNED_RESOURCES)[number]; store: ReadStore }[];
  notices?: Pick<IncidentNotices, "deliver" | "cancel">;
}

/** One reconcile: observe (stores), plan (pure), act (API), report (status, Events, metrics). */
export class SquadReconciler {
  /**
   * A reconcile that runs before the watch event of our own status write arrives reads that
   * write instead of the cached Squad, so it neither patches with a resourceVersion the server
   * has moved past (a 409 and a retry) nor compares with a status that is no longer there.
   */
  private readonly written: OwnWrites<RawSquad>;

  constructor(private readonly deps: ReconcilerDeps) {
    this.written = trackOwnWrites(deps.squads);
  }

  async reconcile(key: ObjectKey): Promise<ReconcileResult> {
    const raw = this.written.get(key);
    if (!raw) {
      squadMetrics.forget(key);
      this.deps.notices?.cancel(key);
      return {};
    }
    // The incident policy is judged apart: refused alone, it does not stall the rest of the squad.
    const parts = squadSpecParts(raw);
    if (!parts.ok) return this.invalid(raw, parts.message, parts.incidentResponse);
    const squad: Squad = { ...raw, spec: parts.spec };
    return withFinalizer(this.deps.client, SquadResource, raw, SQUAD_FINALIZER, {
      apply: () => this.apply(squad, raw, parts.incidentResponse),
      cleanup: () => this.cleanup(squad),
    });
  }

  /**
   * An invalid spec is reported once (the status write is compared first) and not retried: the
   * next spec edit is a new generation and brings a new reconcile. Only pending on-call messages
   * bring it back, until they are delivered or given up. A Squad being deleted is still cleaned
   * up, reading only the deletion policy from its spec. Its incident policy is still judged on
   * its own (`IncidentResponseValid`), so fixing the rest shows no stale verdict on it.
   */
  private async invalid(
    raw: RawSquad,
    message: string,
    policy: IncidentPolicyCheck,
  ): Promise<ReconcileResult> {
    if (raw.metadata.deletionTimestamp) {
      const policy = squadNamespaceDeletionPolicy(raw);
      return withFinalizer(this.deps.client, SquadResource, raw, SQUAD_FINALIZER, {
        apply: () => Promise.resolve({}),
        cleanup: () => this.deleteNamespaces(raw, policy === "Delete"),
      });
    }
    // Its incidents are still recorded (Notify only, until the spec is fixed): page on-call for them.
    const view = oncallView(raw);
    const noticed = view ? await this.deliverNotices(raw, view) : { raw };
    const now = this.deps.clock.now();
    const status = invalidSpecStatus({ squad: noticed.raw, message, now });
    await this.writeStatus(noticed.raw, withIncidentPolicy(status, policy, raw, now));
    return noticed.nextInMs === undefined ? {} : { requeueAfterMs: Math.max(250, noticed.nextInMs) };
  }

  private async apply(
    squad: Squad,
    observed: RawSquad,
    policy: IncidentPolicyCheck,
  ): Promise<ReconcileResult> {
    const { namespaces, squads } = this.deps;
    // First, so nothing the rest may stall on keeps an incident from on-call.
    const noticed = await this.deliverNotices(observed, squad);
    const raw = noticed.raw;
    const name = squad.metadata.name ?? "";
    const uid = squad.metadata.uid ?? "";
    const observedNamespaces = new Map(declaredNames(squad).map((n) => [n, namespaces.get(n)] as const));
    const ownedObjects = this.deps.owned.flatMap(({ store }) => store.byOwner(uid));
    const plan = planSquad({
      squad,
      observedNamespaces,
      owned: [...ownedObjects, ...namespaces.byLabel(LABELS.squad, name)],
      squadExists: (other) => squads.get(other) !== undefined,
      ...(this.deps.secretReader ? { secretReader: this.deps.secretReader } : {}),
      ...(this.deps.declaredTribes ? { declaredTribes: this.deps.declaredTribes } : {}),
    });

    await this.act(raw, plan, observedNamespaces);

    const now = this.deps.clock.now();
    const planned = squadStatus({
      squad: raw,
      plan,
      observed: {
        namespaces: observedNamespaces,
        objects: ownedObjects,
        releases: plan.namespaces.flatMap((ns) => this.deps.releases.list(ns)),
        toggles: plan.namespaces.flatMap((ns) => this.deps.toggles.list(ns)),
      },
      now,
      ...(this.deps.revertWindowMs === undefined ? {} : { revertWindowMs: this.deps.revertWindowMs }),
    });
    const status = withIncidentPolicy(planned, policy, raw, now);
    await this.writeStatus(raw, status);
    // Only a tribe the platform declares labels the squad's delivery series.
    const tribe = squad.spec.tribe !== undefined && tribeAllowed(squad.spec.tribe, this.deps.declaredTribes);
    squadMetrics.set(name, status, tribe ? squad.spec.tribe : undefined);
    // A quiet squad's figures still age: look again when a change leaves the 7- or 30-day window.
    // A notification due at once was started above: look again no sooner than its attempt can end.
    const notify = noticed.nextInMs === undefined ? undefined : Math.max(250, noticed.nextInMs);
    const requeues = [deliveryRequeueMs(status.delivery, now), notify].filter(
      (ms): ms is number => ms !== undefined,
    );
    return requeues.length === 0 ? {} : { requeueAfterMs: Math.min(...requeues) };
  }

  /** The incident notification path (`incident-notices.ts`); the Squad as it stands after it. */
  private deliverNotices(raw: RawSquad, squad: Squad): Promise<{ raw: RawSquad; nextInMs?: number }> {
    const notices = this.deps.notices;
    if (!notices) return Promise.resolve({ raw });
    return notices.deliver(raw, squad, async (current, status) => {
      await this.written.patchStatus(this.deps.client, current, SquadResource, status);
      return this.written.get(objectKey(current)) ?? current;
    });
  }

  /**
   * Writes in dependency order: each namespace before what goes in it, then deletions and
   * releases. A namespace that does not exist is first created bare with the squad label (a
   * create fails if another squad claimed the name meanwhile; a forced apply would not).
   *
   * An object the apiserver refuses for good (a quota of "-5") does not stop the others: the
   * isolation NetworkPolicy and the RoleBindings must not wait on a typo in the quota. The
   * first refusal is thrown once everything else was written, and the runtime reports it as
   * Stalled. A refused namespace is the exception: nothing can go into it.
   */
  private async act(
    raw: RawSquad,
    plan: PlanResult,
    observedNamespaces: ReadonlyMap<string, Namespace | undefined>,
  ) {
    const { client, recorder } = this.deps;
    const name = raw.metadata.name ?? "";
    const toCreate = new Set(plan.decisions.filter((d) => d.action === "Create").map((d) => d.name));
    let refused: unknown;
    for (const desired of plan.objects) {
      const res = resourceOf(desired);
      if (!res) throw new Error(`squad plan produced an object of unknown kind ${desired.kind ?? ""}`);
      const objectName = desired.metadata.name ?? "";
      if (desired.kind === "Namespace" && toCreate.has(objectName)) {
        await client.create(namespaceClaim(objectName, name), NamespaceResource);
        void recorder.record(raw, {
          type: "Normal",
          reason: "NamespaceCreated",
          note: `created namespace ${objectName}`,
          action: "Create",
        });
      }
      const observed =
        desired.kind === "Namespace"
          ? observedNamespaces.get(objectName)
          : this.deps.owned
              .find((o) => o.res === res)
              ?.store.get(`${desired.metadata.namespace ?? ""}/${objectName}`);
      try {
        // A LimitRange with hand-added items or resources is applied whole again (its list is
        // atomic); a quota's hand-added keys are deleted, since apply leaves others' fields.
        const strays = limitRangeHasStrays(desired, observed);
        await applyIfChanged(client, desired, res, strays ? undefined : observed);
        const patch = quotaStrayPatch(desired, observed);
        if (patch) await client.mergePatch(res, objectName, desired.metadata.namespace, patch);
        if (strays || patch) {
          const what = patch ? `keys ${strayQuotaKeys(patch).join(", ")}` : "items or resources";
          void recorder.record(raw, {
            type: "Warning",
            reason: "ManualChangeReverted",
            note: `removed ${what} added by hand to ${desired.kind ?? ""} ${desired.metadata.namespace ?? ""}/${objectName}: the Squad's spec decides it`,
            action: "Update",
          });
        }
      } catch (err) {
        if (desired.kind === "Namespace" || !refusalOf(err)) throw err;
        refused ??= err;
      }
    }
    for (const stale of plan.deletions) {
      const res = resourceOf(stale);
      if (res) await client.delete(res, stale.metadata.name ?? "", stale.metadata.namespace);
    }
    for (const ns of plan.released) {
      await client.mergePatch(NamespaceResource, ns.metadata.name ?? "", undefined, releasePatch(ns));
      void recorder.record(raw, {
        type: "Normal",
        reason: "NamespaceReleased",
        note: `namespace ${ns.metadata.name ?? ""} is no longer declared; released, not deleted`,
        action: "Release",
      });
    }
    if (refused !== undefined) throw refused;
  }

  /**
   * Retain (the default) leaves every namespace and its contents as they are, labels included,
   * so a Squad recreated under the same name takes them back; the RoleBindings, quota, limits
   * and NetworkPolicy go with the Squad through ownerReference garbage collection. Delete
   * removes the namespaces labelled as this squad's and holds the finalizer until they are gone.
   */
  private cleanup(squad: Squad): Promise<ReconcileResult> {
    return this.deleteNamespaces(squad, squad.spec.namespaceDeletionPolicy === "Delete");
  }

  private async deleteNamespaces(squad: KubeObject, remove: boolean): Promise<ReconcileResult> {
    const name = squad.metadata.name ?? "";
    squadMetrics.forget(name);
    if (!remove) return {};
    const remaining = this.deps.namespaces.byLabel(LABELS.squad, name);
    for (const ns of remaining.filter((n) => !n.metadata.deletionTimestamp)) {
      const nsName = ns.metadata.name ?? "";
      await this.deps.client.delete(NamespaceResource, nsName);
      void this.deps.recorder.record(squad, {
        type: "Normal",
        reason: "NamespaceDeleted",
        note: `deleting namespace ${nsName} (namespaceDeletionPolicy Delete)`,
        action: "Delete",
      });
    }
    return remaining.length > 0 ? { requeueAfterMs: CLEANUP_POLL_MS } : {};
  }

  /**
   * Status only when it changed, carrying the observed resourceVersion (a status computed from
   * a stale snapshot fails with 409 and is recomputed); the write is remembered until the store
   * shows it. An Event only when a condition moved.
   */
  private async writeStatus(raw: RawSquad, status: SquadStatus): Promise<void> {
    const written = await this.written.patchStatus(this.deps.client, raw, SquadResource, status);
    if (!written) return;
    const before = raw.status?.conditions;
    const events = [
      ...transitionEvents(before, status.conditions),
      ...incidentPolicyEvents(before, status.conditions),
    ];
    for (const event of events) {
      void this.deps.recorder.record(raw, { ...event, action: "Reconcile" });
    }
  }
}

/** The status with the `IncidentResponseValid` condition set from the policy's own check. */
function withIncidentPolicy(
  status: SquadStatus,
  policy: IncidentPolicyCheck,
  squad: KubeObject,
  now: number,
): SquadStatus {
  const conditions = incidentPolicyConditions(status.conditions, policy, {
    observedGeneration: squad.metadata.generation,
    now,
  });
  return { ...status, conditions };
}
