/**
 * What `bench:incident` reports for one path (post-promotion analysis, alert-driven), from the
 * instants each run recorded on the benchmark's own clock (Prometheus and Alertmanager run on the
 * same machine, so their `startsAt` is on that clock too). Pure, so the definitions are tested.
 *
 * Two instants stand for "the alert", and both are reported because Alertmanager's group_wait
 * sits between them:
 *   - startsAt: when Prometheus first evaluated the rule true (the alert's `startsAt`);
 *   - webhook:  when Alertmanager's POST arrived (a receiver of the benchmark's own beside the
 *               operator's, in the same Alertmanager receiver, notified at the same flush).
 * `alertToActionMs` and `alertToRestoredMs` count from the webhook: what the operator can act
 * on. `fromAlertStart` counts the same from startsAt: what on-call would see end to end.
 */
import { spread, type Spread as Measured } from "./run.js";

/** min/p50/p95/max, or null when nothing was measured (rather than a misleading 0). */
export type Spread = Measured | null;
const spreadOf = (xs: number[]): Spread => (xs.length === 0 ? null : spread(xs));

/** One bad change and what happened to it (ms since the epoch; absent: not seen in time). */
export interface IncidentRun {
  namespace: string;
  release: string;
  /** The error rate of the promoted revision was raised. */
  raisedAt: number;
  /** The operator's verdict became visible: phase Reverted (post-promotion) / the alert webhook (alert-driven). */
  verdictAt?: number;
  /** The alert's startsAt (Prometheus). */
  alertStartsAt?: number;
  /** Alertmanager's first firing POST for it arrived. */
  alertReceivedAt?: number;
  /** The revert's first write seen: a Service of the Release (`<release>` or `-stable`) selects the previous revision. */
  actedAt?: number;
  /** Every user's traffic on the previous revision (the `<release>` Service) with all its replicas ready. */
  restoredAt?: number;
  /** Alertmanager's resolved POST arrived. */
  resolvedReceivedAt?: number;
}

export interface PathResult {
  /** Bad changes promoted and measured. */
  runs: number;
  detection: {
    /** Runs whose verdict was seen. */
    detected: number;
    /** What the verdict is on this path. */
    verdict: string;
    /** Error rate raised → the verdict. */
    raisedToVerdictMs: Spread;
    /** Error rate raised → the alert's startsAt (Prometheus: scrape, rate window, evaluation). */
    raisedToAlertStartMs: Spread;
    /** Error rate raised → Alertmanager's POST (adds Prometheus' send and group_wait). */
    raisedToAlertWebhookMs: Spread;
    /** Runs whose alert fired at all (post-promotion analysis may revert before it does). */
    alertsFired: number;
  };
  /** Alert webhook arrived → the revert's first write (negative: acted before the alert). */
  alertToActionMs: Spread;
  /** Alert webhook arrived → all traffic on the previous revision, at full size. */
  alertToRestoredMs: Spread;
  /** The same two, counted from the alert's startsAt. */
  fromAlertStart: { alertToActionMs: Spread; alertToRestoredMs: Spread };
  /** Alert webhook → Alertmanager's resolved POST (dominated by the rule's rate window). */
  alertToResolvedMs: Spread;
  /** Releases reverted that were not the bad change the alert named (another squad's, or out of scope). */
  wrongReverts: number;
  /** Bad changes not reverted before the deadline. */
  missed: number;
}

const between = (runs: IncidentRun[], from: keyof IncidentRun, to: keyof IncidentRun): number[] =>
  runs.flatMap((r) => {
    const a = r[from];
    const b = r[to];
    return typeof a === "number" && typeof b === "number" ? [b - a] : [];
  });

export function summarizePath(runs: IncidentRun[], wrongReverts: number, verdict: string): PathResult {
  return {
    runs: runs.length,
    detection: {
      detected: runs.filter((r) => r.verdictAt !== undefined).length,
      verdict,
      raisedToVerdictMs: spreadOf(between(runs, "raisedAt", "verdictAt")),
      raisedToAlertStartMs: spreadOf(between(runs, "raisedAt", "alertStartsAt")),
      raisedToAlertWebhookMs: spreadOf(between(runs, "raisedAt", "alertReceivedAt")),
      alertsFired: runs.filter((r) => r.alertStartsAt !== undefined).length,
    },
    alertToActionMs: spreadOf(between(runs, "alertReceivedAt", "actedAt")),
    alertToRestoredMs: spreadOf(between(runs, "alertReceivedAt", "restoredAt")),
    fromAlertStart: {
      alertToActionMs: spreadOf(between(runs, "alertStartsAt", "actedAt")),
      alertToRestoredMs: spreadOf(between(runs, "alertStartsAt", "restoredAt")),
    },
    alertToResolvedMs: spreadOf(between(runs, "alertReceivedAt", "resolvedReceivedAt")),
    wrongReverts,
    missed: runs.filter((r) => r.actedAt === undefined).length,
  };
}

const fmt = (s: Spread): string => (s === null ? "–" : `min ${s.min} p50 ${s.p50} p95 ${s.p95} max ${s.max}`);

/** The lines printed for a path. */
export function describePath(name: string, r: PathResult): string[] {
  return [
    `${name}: ${r.runs} runs, ${r.detection.detected} detected (${r.detection.verdict}), ${r.missed} missed, ` +
      `${r.wrongReverts} wrong reverts, ${r.detection.alertsFired} alerts fired`,
    `  raised → verdict ms ${fmt(r.detection.raisedToVerdictMs)}`,
    `  raised → alert startsAt ms ${fmt(r.detection.raisedToAlertStartMs)}; → webhook ms ${fmt(r.detection.raisedToAlertWebhookMs)}`,
    `  alert webhook → action ms ${fmt(r.alertToActionMs)}; → restored ms ${fmt(r.alertToRestoredMs)}`,
    `  alert startsAt → action ms ${fmt(r.fromAlertStart.alertToActionMs)}; → restored ms ${fmt(r.fromAlertStart.alertToRestoredMs)}`,
    `  alert webhook → resolved webhook ms ${fmt(r.alertToResolvedMs)}`,
  ];
}
