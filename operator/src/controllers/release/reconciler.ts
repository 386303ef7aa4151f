/**
 * One reconcile of a Release, and only its I/O: observe (the stores, a GET for an owned
 * Deployment the cache lacks), ask the pure parts what to do (`checkSpec`, `step`,
 * `planObjects`, `measurementSchedule`, `rollbackReport`), and do it, in this order: objects
 * (new ControllerRevisions, so a template is kept before anything runs it; Services, the
 * HTTPRoute, Deployments — so on a rollback traffic is on stable before anything else is
 * written), deletions, status (once), then what follows from a written status: Events,
 * metrics, on-call notification attempts, new measurements.
 *
 * Measurements never block a reconcile: due ones are started in the
 * `MeasurementRunner`, which reconciles the Release again when one settles; that reconcile folds
 * the result into status before judging. On-call notifications go the same way: a rollback's
 * status write records one as pending (`delivery.ts`), due attempts run in the
 * `NotificationRunner`, and the next reconcile records each outcome. Everything needed to
 * resume is in status, so a restarted or new leader finishes what another began.
 */
import type { PrometheusAllowlist } from "../../analysis/allowlist.js";
import { toggleGuardRelease } from "../../api/raw-spec.js";
import { LABELS, parseDuration } from "../../api/common.js";
import { ReleaseResource, type Release, type Squad } from "../../api/kinds.js";
import type { ReleaseSpec, ReleaseStatus } from "../../api/release.js";
import { squadSpecParts } from "../../api/squad-spec-parts.js";
import { measure, type MetricProvider } from "../../analysis/index.js";
import type { Logger } from "../../observability/logger.js";
import { applyIfChanged } from "../../runtime/apply.js";
import type { KubeClient } from "../../runtime/client.js";
import { readyConditions } from "../../runtime/conditions.js";
import type { EventInput, EventRecorder } from "../../runtime/events.js";
import { trackOwnWrites, type OwnWrites } from "../../runtime/own-writes.js";
import { isConflict, isNotFound } from "../../runtime/client.js";
import { asRecord } from "../../runtime/is-record.js";
import {
  ControllerRevisionResource,
  DeploymentResource,
  HTTPRouteResource,
  ReplicaSetResource,
  ServiceResource,
} from "../../runtime/resources.js";
import {
  splitKey,
  type Clock,
  type KubeObject,
  type ObjectKey,
  type ReadStore,
  type ReconcileContext,
  type ReconcileResult,
  type Resource,
} from "../../runtime/types.js";
import { recordUnattended } from "./analysis-deadline.js";
import { controllerRevisionName } from "./controller-revisions.js";
import { due, foldAttempts, nextAttemptInMs, payloadOf } from "./delivery.js";
import { stillDue } from "./still-due.js";
import { foldMeasurements, type MeasurementRunner, type SettledMeasurement } from "./measurements.js";
import { releaseMetrics } from "./metrics.js";
import type { NotificationRunner } from "./notification-runner.js";
import { reportDeliveries } from "./delivery-report.js";
import type { OncallWebhook } from "./notify.js";
import { deploymentsByRevision, revisionsByRevision } from "./observed.js";
import { deploymentName, planObjects, type ReleasePlan } from "./plan.js";
import { actionOf, rollbackReport } from "./report.js";
import {
  abandonedDeployments,
  orphaning,
  withoutServingFinalizer,
  type HandOver,
} from "./serving-finalizer.js";
import { step, type StepResult } from "./rollout.js";
import { liveTokens, measurementSchedule } from "./schedule.js";
import { pendingAction, verdictsOf, type ReleaseSnapshot } from "./snapshot.js";
import {
  checkSpec,
  measureDefaults,
  type AnalysisSetup,
  type CheckedSpec,
  type SpecProblem,
} from "./spec.js";
import type { HTTPRoute } from "./traffic/http-route.js";

/** A Release as the informer holds it: the spec is not validated yet. */
export type RawRelease = KubeObject & { spec?: unknown; status?: ReleaseStatus };
/** A Squad as the informer holds it. */
export type RawSquad = KubeObject & { spec?: unknown };

/**
 * Status writes recording settled notification attempts, each after a 409 against a fresh read,
 * before leaving them to the next reconcile.
 */
const RECORD_ATTEMPTS_TRIES = 3;

/** The Release a measurement is of, for its query templates. */
type Target = { namespace: string; release: string };

export interface ReconcilerDeps {
  client: Pick<KubeClient, "apply" | "delete" | "mergePatch" | "get" | "list">;
  recorder: Pick<EventRecorder, "record">;
  logger: Logger;
  clock: Pick<Clock, "now">;
  runner: MeasurementRunner;
  providerFor: (address: string) => MetricProvider;
  /** The Prometheus addresses the platform allows besides each squad's own (`allowlist.ts`). */
  allowlist: PrometheusAllowlist;
  /** Runs on-call notification attempts beside the reconciles. */
  notifications: Pick<NotificationRunner, "start" | "busy" | "pending" | "ack" | "cancel">;
  /** One attempt's I/O. */
  webhook: Pick<OncallWebhook, "send">;
  releases: ReadStore<RawRelease>;
  deployments: ReadStore;
  /** The Releases' ControllerRevisions: every kept revision's pod template. */
  revisions: ReadStore;
  services: ReadStore;
  namespaces: ReadStore;
  squads: ReadStore<RawSquad>;
  /** FeatureToggles: a rollback's message names those the Release guards (its rollback kills them). */
  toggles?: ReadStore;
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
  /**
   * When this process first reconciled a Release: it runs reconciles only while it leads, so
   * this is (just after) when it became leader. Before it, an unmeasured analysis had no operator.
   */
  private leaderSince: number | undefined;

  constructor(private readonly deps: ReconcilerDeps) {
    this.written = trackOwnWrites(deps.releases);
  }

  async reconcile(key: ObjectKey, ctx: ReconcileContext): Promise<ReconcileResult> {
    const raw = this.written.get(key);
    if (!raw || raw.metadata.deletionTimestamp) return this.gone(key);
    const valid = await this.validate(raw);
    if ("reason" in valid) return this.stalled(key, raw, valid.reason, valid.message);
    const { spec, setup, squad, target } = valid;

    // Observe: one snapshot, with the measurements that settled since the last reconcile, and
    // the time before them that no operator measured (it does not count toward the deadline).
    this.leaderSince ??= this.deps.clock.now();
    const held = this.deps.runner.pending(key);
    const intervalMs = parseDuration(setup.defaultInterval);
    const attended = recordUnattended(spec, raw.status ?? {}, held, setup.metrics, intervalMs);
    const folded = foldMeasurements(attended, held);
    const attempts = [...this.deps.notifications.pending(key)];
    const notified = foldAttempts(folded.status, attempts);
    const release: Release = { ...raw, spec, status: notified.status };
    const owned = await this.ownedDeployments(raw, folded.status);
    const snapshot: ReleaseSnapshot = {
      release,
      deployments: deploymentsByRevision(owned.all),
      revisions: revisionsByRevision(await this.ownedRevisions(raw, folded.status)),
      route: this.routeOf(raw, spec),
      analysis: verdictsOf(spec, folded.status, setup.metrics),
      now: this.deps.clock.now(),
      // The squad's default interval is resolved here, so the analysis deadline is computed from it.
      analysisIntervalMs: intervalMs,
      leaderSince: this.leaderSince,
      action: pendingAction(release),
      namespaceTerminating: this.namespaceTerminating(raw.metadata.namespace ?? ""),
      squad: squad && {
        name: squad.name,
        tribe: squad.tribe,
        oncall: squad.squad?.spec.oncall?.webhookSecretRef !== undefined,
      },
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
    this.deps.notifications.ack(
      key,
      attempts.map((a) => a.id),
    );

    if (wrote) {
      this.report(raw, result, { snapshot, recorded: folded.recorded, appliedAt });
      this.reportDeliveries(raw, notified);
    }
    releaseMetrics.observe(target.namespace, target.release, result.status, squad?.name);
    const notifyIn = this.startNotifications(key, raw, squad, result.status);

    const canary = result.status.canaryRevision
      ? snapshot.deployments[result.status.canaryRevision]
      : undefined;
    const canaryServing = (canary?.readyReplicas ?? 0) > 0;
    const nextDue = this.startMeasurements(
      key,
      spec,
      result.status,
      setup,
      target,
      canaryServing,
      ctx.signal,
    );
    const requeue = [result.requeueAfterMs, nextDue, notifyIn].filter(
      (ms): ms is number => ms !== undefined && ms > 0,
    );
    return requeue.length > 0 ? { requeueAfterMs: Math.min(...requeue) } : {};
  }

  /**
   * The Release is gone (or going): owned objects go by garbage collection, once the serving
   * finalizer lets its Deployments go; only memory is left.
   */
  private async gone(key: ObjectKey): Promise<ReconcileResult> {
    this.deps.runner.cancel(key);
    this.deps.notifications.cancel(key);
    const { namespace, name } = splitKey(key);
    await this.releaseAbandoned({ namespace: namespace ?? "", name });
    this.written.forget(key);
    releaseMetrics.forget(namespace ?? "", name);
    return {};
  }

  /** Whether the namespace is being deleted: nothing is recreated there. */
  private namespaceTerminating(namespace: string): boolean {
    const ns = this.deps.namespaces.get(namespace);
    return (
      ns?.metadata.deletionTimestamp !== undefined || asRecord(ns?.["status"])["phase"] === "Terminating"
    );
  }

  /**
   * Lets go of the Deployments of `release` that no live Release serves (of a Release deleted,
   * orphaned by its deletion, or of an earlier one of the same name): they keep the serving
   * finalizer otherwise, and deleting them would wait forever.
   */
  private async releaseAbandoned(release: { namespace: string; name: string; uid?: string }): Promise<void> {
    for (const d of abandonedDeployments(this.deps.deployments.list(release.namespace), release)) {
      await this.releaseFinalizer(d);
      this.deps.logger.info(
        { namespace: release.namespace, release: release.name, deployment: d.metadata.name },
        "no live Release serves this Deployment: removing its serving finalizer",
      );
    }
  }

  /**
   * Removes `crescendo.dev/serving` from a Deployment: a JSON merge patch of the whole list,
   * carrying the observed resourceVersion, so a concurrent change of the list fails with 409
   * rather than dropping another's finalizer. Gone already is done; a conflict is left to the
   * reconcile its change brings (the cache may also still show a finalizer already removed).
   */
  private async releaseFinalizer(d: KubeObject): Promise<void> {
    const { name, namespace, resourceVersion, finalizers } = d.metadata;
    const metadata = { finalizers: withoutServingFinalizer(finalizers), resourceVersion };
    try {
      await this.deps.client.mergePatch(DeploymentResource, name ?? "", namespace, { metadata });
    } catch (err) {
      if (!isNotFound(err) && !isConflict(err)) throw err;
    }
  }

  /**
   * Hands a deleted Deployment of a live revision over to its recreation: its ReplicaSets are
   * orphaned first (each patch carries the ReplicaSet's resourceVersion), so the garbage
   * collector leaves them and their pods when the Deployment goes; then the finalizer is
   * removed. The next reconcile finds the revision's Deployment gone and recreates it, and the
   * Deployment controller adopts the ReplicaSet whose template matches: no pod restarts.
   */
  private async handOver(namespace: string, h: HandOver, observed: KubeObject): Promise<void> {
    const { items } = await this.deps.client.list(ReplicaSetResource, {
      namespace,
      labelSelector: `${LABELS.revision}=${h.revision}`,
    });
    for (const { replicaSet, ownerReferences } of orphaning(items, h.uid)) {
      const metadata = {
        ownerReferences: ownerReferences.length > 0 ? ownerReferences : null,
        resourceVersion: replicaSet.metadata.resourceVersion,
      };
      await this.deps.client.mergePatch(ReplicaSetResource, replicaSet.metadata.name ?? "", namespace, {
        metadata,
      });
    }
    this.deps.logger.info(
      { namespace, deployment: h.name, revision: h.revision, replicaSets: items.length },
      "a live revision's Deployment was deleted: its ReplicaSets orphaned, to be adopted by its recreation",
    );
    await this.releaseFinalizer(observed);
  }

  /** The spec checked (`checkSpec`) with the squad's defaults, or why it cannot be acted on. */
  private async validate(
    raw: RawRelease,
  ): Promise<SpecProblem | (CheckedSpec & { squad: SquadContext | undefined; target: Target })> {
    const squad = this.squadOf(raw);
    const target = { namespace: raw.metadata.namespace ?? "", release: raw.metadata.name ?? "" };
    const checked = await checkSpec(raw.spec, squad?.squad?.spec, {
      gatewayAPI: this.deps.routes !== undefined,
      allowlist: this.deps.allowlist,
      target,
    });
    return "reason" in checked ? checked : { ...checked, squad, target };
  }

  private squadOf(raw: RawRelease): SquadContext | undefined {
    const labels = this.deps.namespaces.get(raw.metadata.namespace ?? "")?.metadata.labels;
    const name = labels?.[LABELS.squad];
    if (!name) return undefined;
    const rawSquad = this.deps.squads.get(name);
    // A Squad whose incident policy alone is refused still gives its defaults and on-call.
    const parsed = rawSquad ? squadSpecParts(rawSquad) : undefined;
    const squad: Squad | undefined = rawSquad && parsed?.ok ? { ...rawSquad, spec: parsed.spec } : undefined;
    // The namespace's label, which the Squad controller sets only for a tribe the platform
    // declares: a Squad naming an undeclared tribe must not label its workloads with it.
    const tribe = labels[LABELS.tribe];
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

  /**
   * ControllerRevisions this Release controls: those in the cache, and, read from the API, those
   * of live revisions the cache lacks. As for Deployments, one whose managed-by label was removed
   * is still this Release's: seeing it lets the plan relabel it with its own immutable `data`,
   * where planning it anew would write a template the apiserver refuses as a change of `data`.
   * A GET is made only while a live revision has none in the cache (just created, not yet seen).
   */
  private async ownedRevisions(raw: RawRelease, status: ReleaseStatus): Promise<KubeObject[]> {
    const uid = raw.metadata.uid ?? "";
    const cached = this.deps.revisions.byOwner(uid).filter((r) => controlledBy(r, uid));
    const present = new Set(cached.map((r) => r.metadata.name));
    const live = [
      status.stableRevision,
      status.canaryRevision,
      ...(status.scaleDown ?? []).map((e) => e.revision),
    ];
    const uncached: KubeObject[] = [];
    for (const revision of new Set(live)) {
      const name = revision && controllerRevisionName(raw.metadata.name ?? "", revision);
      if (!name || present.has(name)) continue;
      const rev = await this.deps.client.get(ControllerRevisionResource, name, raw.metadata.namespace);
      if (rev && controlledBy(rev, uid)) uncached.push(rev);
    }
    return [...cached, ...uncached];
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
    // Deployments someone deleted first: what serves is handed over before anything else moves.
    const deployment = (name: string) => observedAs(this.deps.deployments, "Deployment", name);
    for (const h of plan.serving.handOver) {
      const observed = deployment(h.name);
      if (observed) await this.handOver(namespace, h, observed);
    }
    for (const name of plan.serving.release) {
      const observed = deployment(name);
      if (observed) await this.releaseFinalizer(observed);
    }
    await this.releaseAbandoned({ namespace, name: raw.metadata.name ?? "", uid: raw.metadata.uid });
    if (plan.missing.length > 0) {
      this.deps.logger.warn(
        { namespace, name: raw.metadata.name, revisions: plan.missing },
        "the Deployment of a live revision is gone and no ControllerRevision keeps its pod template; not recreating it",
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
      // Not wanted: the serving finalizer goes first, or the deletion would wait on it.
      if (stale.finalizer) await this.releaseFinalizer(observed);
      await this.deps.client.delete(res, stale.name, namespace);
    }
  }

  private resourceOf(kind: string | undefined): { res: Resource; store?: ReadStore } {
    switch (kind) {
      case "Deployment":
        return { res: DeploymentResource, store: this.deps.deployments };
      case "ControllerRevision":
        return { res: ControllerRevisionResource, store: this.deps.revisions };
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
    releaseMetrics.observe(
      raw.metadata.namespace ?? "",
      raw.metadata.name ?? "",
      status,
      this.squadOf(raw)?.name,
    );
    return {};
  }

  /** What follows a written status: its Events and the counters; a rollback is also logged. */
  private report(
    raw: RawRelease,
    result: StepResult,
    info: { snapshot: ReleaseSnapshot; recorded: readonly SettledMeasurement[]; appliedAt: number },
  ): void {
    for (const event of result.events) {
      void this.deps.recorder.record(raw, { ...event, action: actionOf(event.reason) });
    }
    if (result.promoted) releaseMetrics.promoted();
    const rollback = rollbackReport({
      before: raw.status,
      result,
      ...info,
    });
    if (!rollback) return;
    releaseMetrics.rolledBack(rollback.reason, rollback.seconds);
    this.deps.logger.info(
      {
        namespace: raw.metadata.namespace,
        name: raw.metadata.name,
        reason: rollback.reason,
        revision: rollback.revision,
        timeToRollbackSeconds: rollback.seconds,
      },
      "rolled back",
    );
  }

  /** The attempts this reconcile's status write recorded: delivered ones logged, abandoned ones said. */
  private reportDeliveries(raw: RawRelease, notified: ReturnType<typeof foldAttempts<ReleaseStatus>>): void {
    const log = this.deps.logger.child({ namespace: raw.metadata.namespace, name: raw.metadata.name });
    const record = (event: EventInput) => void this.deps.recorder.record(raw, event);
    reportDeliveries(
      notified,
      { log, record },
      {
        kind: "rollback",
        about: (n) => `the rollback of ${n.version ?? n.revision}`,
      },
    );
  }

  /**
   * Records the outcomes of settled notification attempts in status now, ahead of the queue. A
   * delivery recorded only by the next reconcile waits behind every key queued before it (after
   * a start or a failover, a pass over every Release): a process killed meanwhile leaves the
   * entry pending, and the next leader sends it again. A 409 means status moved (a reconcile
   * wrote, the user annotated): the outcomes are folded into a fresh read and written again.
   * What this does not write (the apiserver unreachable) stays held for the next reconcile.
   * Whichever write records an outcome reports it (metric, log, Event), so each is said once.
   */
  async recordAttempts(key: ObjectKey): Promise<void> {
    const held = [...this.deps.notifications.pending(key)];
    if (held.length === 0) return;
    const { namespace, name } = splitKey(key);
    let current = this.written.get(key);
    for (let tries = 0; current && !current.metadata.deletionTimestamp; tries++) {
      const notified = foldAttempts(current.status ?? {}, held);
      try {
        const wrote = await this.writeStatus(current, notified.status);
        this.deps.notifications.ack(
          key,
          held.map((a) => a.id),
        );
        if (wrote) this.reportDeliveries(current, notified);
        return;
      } catch (err) {
        if (!isConflict(err) || tries + 1 >= RECORD_ATTEMPTS_TRIES) {
          this.deps.logger.debug(
            { err, namespace, name },
            "could not record on-call notification attempts yet; the next reconcile will",
          );
          return;
        }
        current = await this.deps.client
          .get<RawRelease>(ReleaseResource, name, namespace)
          .catch(() => undefined);
      }
    }
  }

  /**
   * Starts the attempts `status` (as written) says are due and none is making, and returns when
   * the next of the others is due. Attempts start only from a written status: the entry they
   * deliver is on record, so a crash now leaves it pending for the next leader, never lost.
   * Status may still be older than the apiserver's when nothing was written (a cache behind a
   * watch that reconnects, a new leader's, a write dropped after a 409): each attempt reads the
   * Release first and sends only if its entry is still pending at the same attempt count, so a
   * delivery another process recorded is never sent again from a stale cache.
   */
  private startNotifications(
    key: ObjectKey,
    raw: RawRelease,
    squad: SquadContext | undefined,
    status: ReleaseStatus,
  ): number | undefined {
    const { notifications, webhook, clock } = this.deps;
    const now = clock.now();
    const facts = {
      release: { name: raw.metadata.name ?? "", namespace: raw.metadata.namespace ?? "" },
      squad: squad && { name: squad.name, tribe: squad.tribe, channel: squad.squad?.spec.oncall?.channel },
      killedToggles: this.guardedToggles(raw),
    };
    for (const n of due(status, now)) {
      if (notifications.busy(key, n.id)) continue;
      const payload = payloadOf(n, facts, status);
      notifications.start({
        key,
        id: n.id,
        attemptsBefore: n.attempts,
        send: async (signal) => {
          if (!(await stillDue(this.deps.client, ReleaseResource, raw, n.id, n.attempts))) return undefined;
          return webhook.send(squad?.squad, payload, signal);
        },
      });
    }
    return nextAttemptInMs(status, now, (id) => notifications.busy(key, id));
  }

  /**
   * The FeatureToggles that name this Release as their guard, by name: its rollback kills each
   * (`featuretoggle/plan.ts` decideKill), and its message says so for them (docs/notifications.md).
   * Read when the message is sent, as the squad is: the toggles are killed by then or moments after.
   */
  private guardedToggles(raw: RawRelease): string[] {
    const { namespace, name } = raw.metadata;
    return (this.deps.toggles?.list(namespace) ?? [])
      .filter((t) => toggleGuardRelease(t) === name)
      .map((t) => t.metadata.name ?? "")
      .sort();
  }

  /**
   * Keeps only the measurements of the analyses still live under the written status, starts
   * those the schedule says are due, and returns when the next of the others is due.
   */
  private startMeasurements(
    key: ObjectKey,
    spec: ReleaseSpec,
    status: ReleaseStatus,
    setup: AnalysisSetup,
    target: Target,
    canaryServing: boolean,
    signal: AbortSignal,
  ): number | undefined {
    const { runner, clock } = this.deps;
    const tokens = liveTokens(spec, status);
    runner.cancel(key, (kind, token) => tokens[kind] === token);
    const schedule = measurementSchedule({
      spec,
      status,
      setup,
      now: clock.now(),
      canaryServing,
      busy: (kind, metric) =>
        runner.isRunning(key, kind, metric) ||
        runner.pending(key).some((p) => p.metric === metric && p.kind === kind),
    });
    const revisions = measuredRevisions(status);
    for (const { kind, analysis, metric } of schedule.due) {
      const { canary, stable } = revisions[kind === "postPromotion" ? "postPromotion" : "rollout"];
      runner.start(
        {
          key,
          kind,
          metric: metric.name,
          analysis,
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
    return schedule.nextDueInMs;
  }
}

/**
 * Which revision a measurement is of (`{{revision}}`) and which it is compared with: during a
 * rollout the canary against the stable revision; after promotion, the promoted revision (now
 * stable) against the previous one it may be reverted to.
 */
function measuredRevisions(status: ReleaseStatus) {
  const ref = (revision: string | undefined, version: string | undefined) => ({
    revision: revision ?? "",
    version: version ?? "",
  });
  const stable = ref(status.stableRevision, status.stableVersion);
  const pp = status.postPromotion;
  return {
    rollout: { canary: ref(status.canaryRevision, status.canaryVersion), stable },
    postPromotion: { canary: stable, stable: ref(pp?.previousRevision, pp?.previousVersion) },
  };
}

function controlledBy(obj: KubeObject, uid: string): boolean {
  return (obj.metadata.ownerReferences ?? []).some(
    (r) => r.controller === true && r.uid === uid && uid !== "",
  );
}
