/**
 * One reconcile of a namespace's toggles, and only I/O: read the compiled flags and the
 * informers, ask `plan.ts` what each toggle's status is, write the ConfigMap, the FeatureFlag
 * (when the OpenFeature Operator's CRD is served) and the statuses, record Events and metrics.
 *
 * Keys are NAMESPACES, not toggles. The flag document is per namespace, and so are the
 * ConfigMap, the FeatureFlag, key conflicts and the oldest-first claim on a key: a toggle's
 * status depends on its neighbours. One reconcile per namespace compiles the document once,
 * writes it once and plans every toggle's status from the same snapshot, so N toggles cost one
 * compile instead of N (and a toggle's change cannot leave a neighbour's status stale).
 */
import { API_VERSION, LABELS, MANAGED_BY, parseDuration } from "../../api/common.js";
import type { SquadSpec } from "../../api/squad.js";
import { squadSpecParts } from "../../api/squad-spec-parts.js";
import type { ToggleNotification, ToggleRolloutStatus } from "../../api/toggle-rollout.js";
import type { PrometheusAllowlist } from "../../analysis/allowlist.js";
import type { MetricProvider } from "../../analysis/index.js";
import type { MeasurementRunner } from "../release/measurements.js";
import { due, foldAttempts, nextAttemptInMs, type SettledAttempt } from "../release/delivery.js";
import type { NotificationRunner } from "../release/notification-runner.js";
import type { OncallWebhook } from "../release/notify.js";
import { toggleMessageOf, toggleNoticeSubject } from "./toggle-oncall.js";
import { reportDeliveries } from "../release/delivery-report.js";
import type { Squad } from "../../api/kinds.js";
import { checkRamp, measureRamp, type RampSetup, type RampTarget } from "./ramp-analysis.js";
import {
  foldRampMeasurements,
  liveRampAnalysis,
  rampAnalysisToken,
  rampSchedule,
  recordRampUnattended,
} from "./ramp-measurements.js";
import type { FeatureToggleStatus } from "../../api/featuretoggle.js";
import { FeatureToggleResource, type FeatureToggle } from "../../api/kinds.js";
import { toggleKey } from "../../flags/compile.js";
import { contentHash } from "../../flags/document.js";
import { summarise, type FlagReport } from "../../flags/insight.js";
import type { Logger } from "../../observability/logger.js";
import { applyIfChanged } from "../../runtime/apply.js";
import { isNotFound, type KubeClient } from "../../runtime/client.js";
import { findCondition } from "../../runtime/conditions.js";
import type { EventInput, EventRecorder } from "../../runtime/events.js";
import { trackOwnWrites, type OwnWrites } from "../../runtime/own-writes.js";
import { ConfigMapResource, FEATURE_FLAG_CRD, FeatureFlagResource } from "../../runtime/resources.js";
import type {
  KubeObject,
  ObjectKey,
  ReadStore,
  ReconcileContext,
  ReconcileResult,
} from "../../runtime/types.js";
import { DEFAULT_DEBT_POLICY, type DebtPolicy } from "./debt.js";
import { guardReleaseOf, type FlagDocuments, type NamespaceFlags } from "./documents.js";
import { toggleMetrics } from "./metrics.js";
import {
  FLAGS_OBJECT_NAME,
  invalidSpecStatus,
  planFeatureFlag,
  planFlagConfigMap,
  planToggleStatus,
  rankActiveToggles,
  squadTogglePolicy,
  toggleAction,
  type FlagsObjectOptions,
  type GuardRelease,
  type RawRelease,
  type RawSquad,
  type RawToggle,
  type SquadTogglePolicy,
  type ToggleEvent,
  type ToggleRampInput,
} from "./plan.js";
import { featureFlagCrdServed, squadNamespaces } from "./watches.js";
import { stillDue } from "../release/still-due.js";

/** What the reconciler writes with: the API, the Event recorder and the log. */
export interface ReconcilerIO {
  /** `get` reads a toggle before each notification attempt (`stillDue`), never from the cache. */
  client: Pick<KubeClient, "apply" | "delete" | "mergePatch" | "get">;
  recorder: Pick<EventRecorder, "record">;
  logger: Logger;
}

const EVENT_ACTIONS: Record<ToggleEvent["reason"], string> = {
  ToggleKilled: "Kill",
  ToggleRearmed: "Rearm",
  ToggleStale: "Reconcile",
  RolloutStarted: "Ramp",
  RolloutStep: "Ramp",
  RolloutPaused: "Ramp",
  RolloutCompleted: "Ramp",
  RolloutRolledBack: "Rollback",
  ActionAccepted: "Act",
  ActionIgnored: "Act",
};

export interface ReconcilerDeps extends ReconcilerIO {
  clock: { now(): number };
  flags: Pick<FlagDocuments, "flags">;
  /** The store the flags are compiled from; its events end what is remembered of status writes. */
  toggles: ReadStore<RawToggle>;
  releases: ReadStore<RawRelease>;
  namespaces: ReadStore;
  squads: ReadStore<RawSquad>;
  configMaps: ReadStore;
  crds: ReadStore;
  /** Evaluation counts to summarise into status. */
  insight?: InsightReports;
  /** Evaluations are not counted at all (`--toggle-insight=false`): no insight, `Unused` Unknown. */
  insightOff?: boolean;
  /** When toggles become Unused and FullyRolledOut (default 14 days each). */
  debt?: DebtPolicy;
  /** Measuring guarded ramps (`spec.rollout.steps`); without it, ramps are held where they are. */
  ramps?: RampDeps;
  /** Telling the squad's on-call of a ramp's rollback; without it, entries stay pending in status. */
  oncall?: OncallDeps;
}

/** What notifying takes: the Releases' runner and webhook, so delivery is the same for both. */
export interface OncallDeps {
  runner: Pick<NotificationRunner, "start" | "busy" | "pending" | "ack" | "cancel">;
  webhook: Pick<OncallWebhook, "sendMessage">;
}

/** What measuring ramps takes: the Releases' runner and providers, and the platform's allowlist. */
export interface RampDeps {
  runner: MeasurementRunner;
  providerFor: (address: string) => MetricProvider;
  allowlist: PrometheusAllowlist;
}

/**
 * Where a flag's evaluation counts come from: one report per replica serving OFREP. Today that
 * is this process's own counter (see docs/featuretoggle.md, "Several replicas"); the merge
 * (`summarise`) already takes any number of reports.
 */
export interface InsightReports {
  reports(namespace: string, key: string): (FlagReport | undefined)[];
  /** The summary was taken into status: the next evaluation may ask for a reconcile again. */
  taken(namespace: string, key: string): void;
}

/** One reconcile of a namespace: observe (stores), plan (pure), act (API), report (status, Events, metrics). */
export class FeatureToggleReconciler {
  /** Namespace → hash of the FeatureFlag last applied there (no informer: the CRD may not exist). */
  private readonly featureFlags = new Map<string, string>();
  /** Namespace → the content its ConfigMap was last found to hold, at which resourceVersion. */
  private readonly configMapsVerified = new Map<string, string>();
  private crdServed: boolean | undefined;
  private signal: AbortSignal | undefined;
  /**
   * Our status writes per toggle, until the informer shows them. A namespace is reconciled
   * again as soon as the first of its toggles' writes comes back, before the others have: read
   * from the cache, each of those would be compared with its old status and patched with an old
   * resourceVersion (a 409 per toggle, and the namespace retried until the cache caught up).
   */
  private readonly written: OwnWrites<RawToggle>;

  constructor(private readonly deps: ReconcilerDeps) {
    this.written = trackOwnWrites(deps.toggles);
  }

  /** Namespace → the toggles with a ramp seen in its last reconcile (their measurements are ours). */
  private readonly rampKeys = new Map<string, Set<string>>();
  /**
   * When this process first reconciled: it reconciles only while it leads, so this is (just
   * after) when it became leader. Before it, an unmeasured ramp analysis had no operator.
   */
  private leaderSince: number | undefined;
  /** Namespace → the toggles seen in its last reconcile (their notification attempts are ours). */
  private readonly noticeKeys = new Map<string, Set<string>>();

  async reconcile(namespace: ObjectKey, ctx?: Pick<ReconcileContext, "signal">): Promise<ReconcileResult> {
    this.signal = ctx?.signal;
    const now = this.deps.clock.now();
    this.leaderSince ??= now;
    const flags = this.deps.flags.flags(namespace);
    const crdServed = this.observeCrd();
    if (flags.toggles.length === 0) {
      this.forgetRamps(namespace, new Set());
      this.forgetNotices(namespace, new Set());
      await this.cleanup(namespace, crdServed);
      return {};
    }
    const ns = this.deps.namespaces.get(namespace);
    // A terminating namespace refuses new objects; its toggles are on their way out too.
    if (ns?.metadata.deletionTimestamp) return {};

    const objectOptions = flagsObjectOptions(ns);
    await this.applyConfigMap(namespace, flags, objectOptions);
    if (crdServed) await this.applyFeatureFlag(namespace, flags, objectOptions);
    const rawSquad = objectOptions.squad ? this.deps.squads.get(objectOptions.squad) : undefined;
    const policy = squadTogglePolicy(rawSquad);
    return this.report(flags, policy, now, rawSquad);
  }

  /**
   * Writes every toggle's status (and its Events) and sets its metrics. Every toggle gets its
   * turn; the first failure is rethrown after, so the namespace is retried (a 409 at once).
   */
  private async report(
    flags: NamespaceFlags,
    policy: SquadTogglePolicy | undefined,
    now: number,
    rawSquad?: RawSquad,
  ): Promise<ReconcileResult> {
    const { namespace } = flags;
    const ranks = policy?.maxActive === undefined ? undefined : this.squadRanks(namespace);
    const conflicts = new Map(flags.compiled.conflicts.map((c) => [c.toggle, c]));
    const invalidFlags = new Map(flags.compiled.invalid.map((i) => [i.toggle, i]));
    let requeueAfterMs: number | undefined;
    let failure: unknown;
    const attempt = (write: Promise<void>) => write.catch((err: unknown) => void (failure ??= err));
    const squad = lazySquadSpec(rawSquad);
    const ramped = new Set<string>();
    const seen = new Set<string>();

    for (const { toggle: cached } of flags.entries) {
      // Attempts settled since the last write are folded in, so this write records them.
      const observed = this.written.view(cached);
      const notices = this.foldNotices(observed);
      const toggle = notices.toggle;
      seen.add(notices.key);
      const name = toggle.metadata.name ?? "";
      const guard = toggle.spec.guard;
      const key = toggleKey(toggle);
      const insight = this.deps.insight;
      const ramp = this.rampInput(toggle, key, squad);
      if (ramp) ramped.add(ramp.key);
      const plan = planToggleStatus({
        toggle,
        guardRelease: guard ? this.guardRelease(namespace, guard.release) : undefined,
        squadToggles: policy,
        activeRank: ranks?.get(`${namespace}/${name}`),
        now,
        action: toggleAction(toggle),
        conflict: conflicts.get(name),
        invalid: invalidFlags.get(name),
        debt: this.deps.debt ?? DEFAULT_DEBT_POLICY,
        ...(insight && !this.deps.insightOff
          ? { insight: summarise(insight.reports(namespace, key), now) }
          : {}),
        ...(this.deps.insightOff ? { insightOff: true } : {}),
        ...(ramp ? { ramp: ramp.input } : {}),
      });
      if (plan.insightTaken) insight?.taken(namespace, key);
      toggleMetrics.set(namespace, name, plan.status.effectiveState ?? "Enabled", plan.status.stale === true);
      if (plan.requeueAfterMs !== undefined)
        requeueAfterMs = Math.min(requeueAfterMs ?? Infinity, plan.requeueAfterMs);
      let wrote = true;
      await attempt(
        // Patched against what the apiserver holds, so the folded outcomes are part of the write.
        this.writeStatus(observed, plan.status, plan.events).catch((err: unknown) => {
          wrote = false;
          throw err;
        }),
      );
      if (ramp && wrote) {
        const wait = this.measureRamp(ramp, plan.status.rollout);
        if (wait !== undefined) requeueAfterMs = Math.min(requeueAfterMs ?? Infinity, Math.max(wait, 250));
      }
      if (wrote) {
        const wait = this.notify(notices, plan.status, { flag: key, rawSquad, squad });
        if (wait !== undefined) requeueAfterMs = Math.min(requeueAfterMs ?? Infinity, Math.max(wait, 250));
      }
    }
    this.forgetRamps(namespace, ramped);
    this.forgetNotices(namespace, seen);
    for (const { toggle: cached, message } of flags.invalid) {
      const toggle = this.written.view(cached);
      toggleMetrics.set(namespace, toggle.metadata.name ?? "", "Invalid", toggle.status?.stale === true);
      await attempt(this.writeInvalid(toggle, message, now));
    }
    toggleMetrics.retain(
      namespace,
      flags.toggles.map((t) => t.metadata.name ?? ""),
    );
    if (failure !== undefined) throw failure;
    return requeueAfterMs === undefined ? {} : { requeueAfterMs };
  }

  /**
   * Applies the namespace's ConfigMap unless it was already found to hold this content at its
   * current resourceVersion. Comparing means hashing the whole document (tens of KB for a
   * hundred flags), and a namespace is reconciled for every phase change of every guard Release
   * in it; the document's etag, the labels and the owners say as much, for a few bytes.
   */
  private async applyConfigMap(
    namespace: string,
    flags: NamespaceFlags,
    objectOptions: FlagsObjectOptions,
  ): Promise<void> {
    const observed = this.deps.configMaps.get(`${namespace}/${FLAGS_OBJECT_NAME}`);
    const content = contentHash(
      [
        flags.published?.etag,
        JSON.stringify(objectOptions),
        ...owners(flags).map((t) => `${t.metadata.uid ?? ""}/${t.metadata.name ?? ""}`),
      ].join("\n"),
    );
    const verified = observed ? `${content}@${observed.metadata.resourceVersion ?? ""}` : undefined;
    if (verified !== undefined && this.configMapsVerified.get(namespace) === verified) return;
    this.configMapsVerified.delete(namespace);
    const configMap = planFlagConfigMap(namespace, flags.compiled.document, owners(flags), objectOptions);
    const wrote = await applyIfChanged(this.deps.client, configMap, ConfigMapResource, observed);
    // After a write the cache has yet to show it: the next reconcile compares once more.
    if (!wrote && verified !== undefined) this.configMapsVerified.set(namespace, verified);
  }

  /**
   * A namespace with no toggles left: its ConfigMap and FeatureFlag go (their owner references
   * would let the garbage collector do it too, but only once it gets to them).
   */
  private async cleanup(namespace: string, crdServed: boolean): Promise<void> {
    toggleMetrics.retain(namespace, []);
    this.configMapsVerified.delete(namespace);
    const configMap = this.deps.configMaps.get(`${namespace}/${FLAGS_OBJECT_NAME}`);
    if (configMap && configMap.metadata.labels?.[LABELS.managedBy] === MANAGED_BY) {
      await this.deps.client.delete(ConfigMapResource, FLAGS_OBJECT_NAME, namespace);
    }
    if (crdServed && this.featureFlags.has(namespace)) {
      await this.deps.client.delete(FeatureFlagResource, FLAGS_OBJECT_NAME, namespace);
    }
    this.featureFlags.delete(namespace);
  }

  /**
   * A toggle's ramp inputs: its setup checked (allowlist, metrics, templates) and its status with
   * the measurements settled since the last write folded in. Undefined without a ramp.
   */
  private rampInput(
    toggle: FeatureToggle,
    flag: string,
    squad: () => SquadSpec | undefined,
  ): RampWork | undefined {
    const deps = this.deps.ramps;
    if (toggle.spec.rollout?.steps === undefined || !deps) return undefined;
    const namespace = toggle.metadata.namespace ?? "";
    const name = toggle.metadata.name ?? "";
    const key = `${namespace}/${name}`;
    const target: RampTarget = {
      namespace,
      toggle: name,
      flag,
      variant: toggle.spec.rollout.variant,
      defaultVariant: toggle.spec.defaultVariant,
    };
    const checked = checkRamp(toggle.spec, squad(), deps.allowlist, target);
    if ("reason" in checked) {
      deps.runner.cancel(key);
      return { key, target, spec: toggle.spec, input: { problem: checked } };
    }
    // The time before late measurements that no operator measured is recorded first: it moves
    // the analysis deadline (ramp-deadline.ts), and each gap runs from the measurement before it.
    const held = deps.runner.pending(key);
    const attended = recordRampUnattended(toggle.status?.rollout, held, {
      spec: toggle.spec,
      metrics: checked.metrics,
      defaultIntervalMs: parseDuration(checked.defaultInterval),
    });
    const folded = foldRampMeasurements(attended, held);
    return {
      key,
      target,
      spec: toggle.spec,
      setup: checked,
      settled: [...folded.recorded, ...folded.stale].map((s) => s.id),
      input: {
        setup: checked,
        ...(folded.rollout ? { previous: folded.rollout } : {}),
        ...(this.leaderSince === undefined ? {} : { leaderSince: this.leaderSince }),
      },
    };
  }

  /**
   * After the ramp's status is written: forget the results it records, cancel measurements of
   * analyses no longer live, start those due. Returns the wait until the next is due.
   */
  private measureRamp(work: RampWork, rollout: ToggleRolloutStatus | undefined): number | undefined {
    const deps = this.deps.ramps;
    if (!deps || !work.setup) return undefined;
    const { runner } = deps;
    const { key, setup, target } = work;
    runner.ack(key, work.settled ?? []);
    const token = liveRampAnalysis(rollout) ? rampAnalysisToken(rollout) : undefined;
    runner.cancel(key, (_kind, analysis) => analysis === token);
    const now = this.deps.clock.now();
    const schedule = rampSchedule({
      spec: work.spec,
      rollout,
      metrics: setup.metrics,
      defaultIntervalMs: parseDuration(setup.defaultInterval),
      now,
      busy: (metric) =>
        runner.isRunning(key, "step", metric) || runner.pending(key).some((p) => p.metric === metric),
    });
    if (schedule.token === undefined) return schedule.nextDueInMs;
    for (const metric of schedule.due) {
      runner.start(
        {
          key,
          kind: "step",
          metric: metric.name,
          analysis: schedule.token,
          run: (signal) =>
            measureRamp(metric, setup, target, {
              providerFor: deps.providerFor,
              signal,
              now: this.deps.clock.now(),
            }),
        },
        this.signal,
      );
    }
    return schedule.nextDueInMs;
  }

  /** The toggle with the notification attempts settled since its last write folded into its status. */
  private foldNotices(toggle: FeatureToggle): Notices {
    const key = `${toggle.metadata.namespace ?? ""}/${toggle.metadata.name ?? ""}`;
    const runner = this.deps.oncall?.runner;
    const attempts = runner ? [...runner.pending(key)] : [];
    if (attempts.length === 0 || !toggle.status) return { key, toggle, attempts, delivered: [], gaveUp: [] };
    const folded = foldAttempts(toggle.status, attempts);
    return { key, toggle: { ...toggle, status: folded.status }, attempts, ...folded };
  }

  /**
   * After the toggle's status is written: forget the outcomes it records (log and count them, an
   * Event for each given up), start the attempts due, and return the wait until the next is due.
   * Attempts start only from a written status, so a crash leaves each entry pending for the next
   * leader, never lost: the Releases' rule.
   */
  private notify(
    notices: Notices,
    status: FeatureToggleStatus,
    about: { flag: string; rawSquad: RawSquad | undefined; squad: () => SquadSpec | undefined },
  ): number | undefined {
    const oncall = this.deps.oncall;
    if (!oncall) return undefined;
    const { key: id, toggle } = notices;
    oncall.runner.ack(
      id,
      notices.attempts.map((a) => a.id),
    );
    this.reportNotices(toggle, notices);
    const now = this.deps.clock.now();
    const pending = due(status, now).filter((n) => !oncall.runner.busy(id, n.id));
    if (pending.length > 0) {
      const labels = this.deps.namespaces.get(toggle.metadata.namespace ?? "")?.metadata.labels ?? {};
      const spec = about.squad();
      const squad: Squad | undefined =
        about.rawSquad && spec ? { ...about.rawSquad, spec, metadata: about.rawSquad.metadata } : undefined;
      const name = labels[LABELS.squad];
      const facts = {
        toggle: {
          name: toggle.metadata.name ?? "",
          namespace: toggle.metadata.namespace ?? "",
          flag: about.flag,
          defaultVariant: toggle.spec.defaultVariant,
        },
        ...(name ? { squad: { name, tribe: labels[LABELS.tribe], channel: spec?.oncall?.channel } } : {}),
      };
      for (const n of pending) {
        const message = toggleMessageOf(n, facts);
        oncall.runner.start({
          key: id,
          id: n.id,
          attemptsBefore: n.attempts,
          // A reconcile that began before the previous attempt's outcome was written still sees
          // the entry pending, and the runner no longer holds that outcome: read first.
          send: async (signal) => {
            if (!(await stillDue(this.deps.client, FeatureToggleResource, toggle, n.id, n.attempts))) {
              return undefined;
            }
            return oncall.webhook.sendMessage(squad, message, signal);
          },
        });
      }
    }
    return nextAttemptInMs(status, now, (n) => oncall.runner.busy(id, n));
  }

  /**
   * Records the outcomes of settled notification attempts of toggle `key` (namespace/name) in its
   * status now, as the Releases do (`ReleaseReconciler.recordAttempts`): a delivery recorded only
   * by the namespace's next reconcile waits behind every namespace queued before it, and a
   * process stopped meanwhile leaves the entry pending for the next leader to send again. One
   * write on the freshest view; a conflict or any other failure leaves the outcomes held for that
   * reconcile, which folds them in (`foldNotices`). Whichever write records an outcome reports it.
   */
  async recordAttempts(key: string): Promise<void> {
    const runner = this.deps.oncall?.runner;
    const held = runner ? [...runner.pending(key)] : [];
    const toggle = this.written.get(key);
    if (!runner || held.length === 0 || !toggle?.status || toggle.metadata.deletionTimestamp) return;
    const folded = foldAttempts(toggle.status, held);
    try {
      const wrote = await this.patchStatus(toggle, folded.status);
      runner.ack(
        key,
        held.map((a) => a.id),
      );
      if (wrote) this.reportNotices(toggle, folded);
    } catch (err) {
      this.deps.logger.debug(
        { err, namespace: toggle.metadata.namespace, name: toggle.metadata.name },
        "could not record on-call notification attempts yet; the next reconcile will",
      );
    }
  }

  /** Logs and counts the outcomes a status write recorded, with an Event for each given up. */
  private reportNotices(
    toggle: KubeObject,
    outcomes: { delivered: readonly ToggleNotification[]; gaveUp: readonly ToggleNotification[] },
  ): void {
    reportDeliveries(
      outcomes,
      {
        log: this.deps.logger.child({ namespace: toggle.metadata.namespace, name: toggle.metadata.name }),
        record: (event) => this.record(toggle, event),
      },
      {
        kind: (n) => (n.event === "Killed" ? "kill" : "rollback"),
        about: toggleNoticeSubject,
      },
    );
  }

  /** Drops the notification attempts of toggles no longer in the namespace. */
  private forgetNotices(namespace: string, seen: ReadonlySet<string>): void {
    const runner = this.deps.oncall?.runner;
    for (const key of this.noticeKeys.get(namespace) ?? []) if (!seen.has(key)) runner?.cancel(key);
    if (seen.size > 0) this.noticeKeys.set(namespace, new Set(seen));
    else this.noticeKeys.delete(namespace);
  }

  /** Cancels the measurements of toggles in the namespace that no longer have a ramp. */
  private forgetRamps(namespace: string, seen: ReadonlySet<string>): void {
    const runner = this.deps.ramps?.runner;
    for (const key of this.rampKeys.get(namespace) ?? []) if (!seen.has(key)) runner?.cancel(key);
    if (seen.size > 0) this.rampKeys.set(namespace, new Set(seen));
    else this.rampKeys.delete(namespace);
  }

  /** Whether to write FeatureFlags; a change is logged once, and a removed CRD forgets what was written. */
  private observeCrd(): boolean {
    const crd = this.deps.crds.get(FEATURE_FLAG_CRD);
    const served = featureFlagCrdServed(crd);
    if (served !== this.crdServed) {
      this.deps.logger.info(
        { crd: FEATURE_FLAG_CRD, served },
        served
          ? "OpenFeature Operator CRD found; writing a FeatureFlag per namespace"
          : "OpenFeature Operator CRD not installed; flags go to ConfigMaps and OFREP only",
      );
      this.crdServed = served;
    }
    if (!served) this.featureFlags.clear();
    return served;
  }

  /**
   * Applies the FeatureFlag unless this process already applied the same one. There is no
   * informer to compare with (the CRD can come and go), so the comparison is with what was last
   * written; after a restart each namespace's FeatureFlag is applied once more. A 404 means the
   * CRD went away since it was seen, which is not an error.
   */
  private async applyFeatureFlag(
    namespace: string,
    flags: NamespaceFlags,
    options: FlagsObjectOptions,
  ): Promise<void> {
    const desired = planFeatureFlag(namespace, flags.compiled.document, owners(flags), options);
    const uid = this.deps.crds.get(FEATURE_FLAG_CRD)?.metadata.uid ?? "";
    const hash = contentHash(`${uid}\n${JSON.stringify(desired)}`);
    if (this.featureFlags.get(namespace) === hash) return;
    try {
      await applyIfChanged(this.deps.client, desired, FeatureFlagResource);
      this.featureFlags.set(namespace, hash);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      this.deps.logger.debug({ namespace, err }, "FeatureFlag kind not served (CRD removed?); skipped");
    }
  }

  /** Ranks of the active toggles of the squad that owns this namespace, across all its namespaces. */
  private squadRanks(namespace: string): Map<string, number> {
    const namespaces = squadNamespaces(this.deps.namespaces, namespace);
    return rankActiveToggles(namespaces.flatMap((ns) => this.deps.flags.flags(ns).valid));
  }

  private guardRelease(namespace: string, name: string): GuardRelease | undefined {
    return guardReleaseOf(this.deps.releases.get(`${namespace}/${name}`));
  }

  /** Status only when it changed; its Events only once it is written (a 409 retries both). */
  private async writeStatus(
    toggle: FeatureToggle,
    status: FeatureToggleStatus,
    events: readonly ToggleEvent[],
  ): Promise<void> {
    const written = await this.patchStatus(toggle, status);
    if (!written) return;
    for (const event of events) this.record(toggle, { ...event, action: EVENT_ACTIONS[event.reason] });
  }

  private async writeInvalid(toggle: RawToggle, message: string, now: number): Promise<void> {
    const status = invalidSpecStatus(toggle, message, now);
    const before = findCondition(toggle.status?.conditions, "Stalled");
    const written = await this.patchStatus(toggle, status);
    if (!written || (before?.status === "True" && before.reason === "InvalidSpec")) return;
    this.record(toggle, { type: "Warning", reason: "InvalidSpec", note: message, action: "Reconcile" });
  }

  /** A toggle deleted since the snapshot has no status to write: its deletion brings a reconcile of its own. */
  private async patchStatus(toggle: KubeObject, status: FeatureToggleStatus): Promise<boolean> {
    try {
      return await this.written.patchStatus(this.deps.client, toggle, FeatureToggleResource, status);
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  private record(toggle: KubeObject, event: EventInput): void {
    const regarding = { ...toggle, apiVersion: API_VERSION, kind: FeatureToggleResource.kind };
    void this.deps.recorder.record(regarding, event);
  }
}

/** One toggle's ramp in a reconcile: who is measured, with what, and the results its write records. */
interface RampWork {
  key: string;
  target: RampTarget;
  spec: FeatureToggle["spec"];
  setup?: RampSetup;
  /** Held results folded into `input.previous` (or stale): forgotten once the status is written. */
  settled?: number[];
  input: ToggleRampInput;
}

/** A toggle's notification attempts in a reconcile: those folded into its status, and what they did. */
interface Notices {
  /** `namespace/name`: the runner's key. */
  key: string;
  toggle: FeatureToggle;
  attempts: SettledAttempt[];
  delivered: ToggleNotification[];
  gaveUp: ToggleNotification[];
}

/** The squad's spec, parsed on first use: only namespaces with a ramp need it. */
function lazySquadSpec(raw: RawSquad | undefined): () => SquadSpec | undefined {
  let parsed: { spec: SquadSpec | undefined } | undefined;
  return () => {
    if (!parsed) {
      // A refused incident policy alone does not take the squad's toggle policy with it.
      const result = raw ? squadSpecParts(raw) : undefined;
      parsed = { spec: result?.ok ? result.spec : undefined };
    }
    return parsed.spec;
  };
}

/**
 * Every toggle in the namespace, invalid ones included, owns the flags objects: the garbage
 * collector removes them only once the last toggle is gone. Owner references read only metadata.
 */
function owners(flags: NamespaceFlags): FeatureToggle[] {
  return flags.toggles as FeatureToggle[];
}

/** Labels for the ConfigMap and FeatureFlag: the squad and tribe the Namespace is labelled with. */
function flagsObjectOptions(ns: KubeObject | undefined): FlagsObjectOptions {
  const labels = ns?.metadata.labels ?? {};
  const squad = labels[LABELS.squad];
  const tribe = labels[LABELS.tribe];
  return { ...(squad ? { squad } : {}), ...(tribe ? { tribe } : {}) };
}
