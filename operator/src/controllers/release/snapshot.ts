/**
 * One snapshot per reconcile: the Release, what the informers observed of its
 * Deployments and HTTPRoute, the analysis verdicts, the pending manual action and the time,
 * gathered once and then handed to the pure `step` and `planObjects`. Nothing in the decision
 * code reads a store or a clock, so every decision is reproducible in a unit test.
 */
import type { AnalysisMetric } from "../../api/analysis.js";
import { ANNOTATIONS } from "../../api/common.js";
import type { Release } from "../../api/kinds.js";
import type { ReleaseSpec, ReleaseStatus } from "../../api/release.js";
import { stagesOf } from "../../api/release-stages.js";
import { verdict } from "../../analysis/index.js";
import type { ObservedDeployment, ObservedRevision } from "./observed.js";
import { metricsNamed } from "./spec.js";
import type { HTTPRoute } from "./traffic/http-route.js";

/**
 * What the analysis module concluded about one analysis (the shape of its `verdict`). The
 * state machine consumes only this, never measurements, so the two evolve independently.
 */
export interface AnalysisVerdict {
  phase: "Running" | "Successful" | "Failed" | "Inconclusive";
  /** The metric that decided a Failed or Inconclusive verdict. */
  metric?: string;
  /** Names the metric, its values and the threshold; quoted in events and notifications. */
  message: string;
}

/** A manual action from the `crescendo.dev/action` annotation that has not been acted on yet. */
export interface PendingAction {
  id: string;
  /** Free text as annotated; unknown actions are recorded as ignored, never guessed at. */
  action: string;
  /** `crescendo.dev/undo-revision`, read with action `undo`: the revision to return to. */
  revision?: string;
  /** `crescendo.dev/failure-started-at`, read with action `undo`: when the failure it answers began. */
  failureStartedAt?: string;
}

export interface ReleaseSnapshot {
  /** The Release, its spec already parsed (and defaulted) by `releaseSpec.parse`. */
  release: Release;
  /** Observed Deployments of this Release, by revision. */
  deployments: Readonly<Record<string, ObservedDeployment>>;
  /**
   * Observed ControllerRevisions of this Release, by revision. Absent when the controller does
   * not read them: then none are planned (only an observed set tells which exist).
   */
  revisions?: Readonly<Record<string, ObservedRevision>>;
  /** The HTTPRoute named by `trafficRouting.gatewayAPI.httpRoute`, when it exists. */
  route?: HTTPRoute;
  /**
   * Verdicts of the analyses recorded in `release.status`: `step` judges `status.analysis`,
   * `background` judges `status.backgroundAnalysis`, `postPromotion` judges
   * `status.postPromotion`. Absent means not measured yet (Running).
   */
  analysis: { step?: AnalysisVerdict; background?: AnalysisVerdict; postPromotion?: AnalysisVerdict };
  /** Milliseconds since the epoch: the one clock reading of this reconcile. */
  now: number;
  /**
   * The default time between measurements as the controller resolved it (the Release's
   * `analysis.interval`, else the squad's, else 30s), in ms. Absent, an analysis deadline
   * assumes the longest interval the CRD allows.
   */
  analysisIntervalMs?: number;
  /**
   * When this process began reconciling Releases (as leader), in ms. A step analysis not
   * measured since before then went unmeasured for want of an operator, and that time does not
   * count toward its deadline (`analysis-deadline.ts`). Absent: no such time is assumed.
   */
  leaderSince?: number;
  /**
   * The Release's namespace is being deleted: nothing is recreated in it, and Deployments the
   * serving finalizer keeps are let go.
   */
  namespaceTerminating?: boolean;
  /** The annotation action, only when its id differs from `status.lastAction.id`. */
  action?: PendingAction;
  /** The owning squad, for the `crescendo.dev/squad` and `crescendo.dev/tribe` labels. */
  squad?: {
    name: string;
    tribe?: string;
    /** Whether the squad has an on-call webhook: a rollback then records a pending notification. */
    oncall?: boolean;
  };
}

/**
 * The action annotated on the Release, if it has not been acted on. Both annotations are
 * needed: the id is what makes "act once" possible, so an action without an id is not an action.
 */
export function pendingAction(release: Release): PendingAction | undefined {
  const action = release.metadata.annotations?.[ANNOTATIONS.action]?.trim();
  const id = release.metadata.annotations?.[ANNOTATIONS.actionId]?.trim();
  if (!action || !id || id === release.status?.lastAction?.id) return undefined;
  const revision = release.metadata.annotations?.[ANNOTATIONS.undoRevision]?.trim();
  const started = release.metadata.annotations?.[ANNOTATIONS.failureStartedAt]?.trim();
  const failureStartedAt =
    action === "undo" && started && !Number.isNaN(Date.parse(started))
      ? new Date(Date.parse(started)).toISOString()
      : undefined;
  return {
    id,
    action,
    ...(action === "undo" && revision ? { revision } : {}),
    ...(failureStartedAt ? { failureStartedAt } : {}),
  };
}

/**
 * The analysis verdicts `step` consumes: of `status.analysis` over the metrics of the step it
 * belongs to, of `status.backgroundAnalysis` over the background metrics, and of
 * `status.postPromotion` over the post-promotion metrics.
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
    out.step = verdict(metricsNamed(metrics, names), status.analysis.metrics);
  }
  const background = spec.strategy.canary?.backgroundAnalysis;
  if (background && status.backgroundAnalysis) {
    out.background = verdict(metricsNamed(metrics, background.metrics), status.backgroundAnalysis.metrics);
  }
  const pp = spec.strategy.canary?.postPromotion ?? spec.strategy.blueGreen?.postPromotion;
  if (pp && status.postPromotion) {
    out.postPromotion = verdict(metricsNamed(metrics, pp.analysis), status.postPromotion.metrics);
  }
  return out;
}

/** The observed Deployment of a revision, if the revision is set and observed. */
export function deploymentOf(
  snapshot: ReleaseSnapshot,
  revision: string | undefined,
): ObservedDeployment | undefined {
  return revision === undefined ? undefined : snapshot.deployments[revision];
}
