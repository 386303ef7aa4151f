/**
 * The DORA keys over a window ending now, from a Squad's ledger, and when the figures next
 * change with no new fact (a record leaving a window). Pure.
 *
 * - Deployment frequency: changes that first reached full production traffic in the window.
 * - Change lead time: the median over those deployments, from the commit when CI said it
 *   (`spec.change.committedAt`), else from the rollout start (and `leadTimeFrom` says so).
 * - Change fail rate: of the changes decided in the window (deployed, or rolled back before),
 *   the share that failed, each once, whenever the failure was found.
 * - Failed deployment recovery time: the median, over failures restored in the window, of the
 *   failure's start to traffic on an available revision again.
 */
import type { ChangeRecord, DeliveryWindow } from "../api/delivery.js";
import { DAY_MS } from "../api/common.js";
import { ms } from "./changes.js";
import { decidedAt, isOpen, recoverySeconds } from "./ledger.js";

/** The windows the Squad status reports, in days. */
export const WINDOWS_DAYS = [7, 30] as const;

export function deliveryWindow(records: readonly ChangeRecord[], now: number, days: number): DeliveryWindow {
  const from = now - days * DAY_MS;
  const inWindow = (t: string | undefined) => t !== undefined && ms(t) > from && ms(t) <= now;
  const deployed = records.filter((r) => inWindow(r.deployedAt));
  const decided = records.filter((r) => inWindow(decidedAt(r)));
  const failed = decided.filter((r) => r.failure !== undefined);
  const restored = records.filter((r) => inWindow(r.restoredAt) && recoverySeconds(r) !== undefined);
  const leads = deployed.filter((r) => r.leadTimeSeconds !== undefined);
  const lead = median(leads.map((r) => r.leadTimeSeconds ?? 0));
  const recovery = median(restored.map((r) => recoverySeconds(r) ?? 0));
  const froms = new Set(leads.map((r) => r.leadTimeFrom));
  return {
    deployments: deployed.length,
    changes: decided.length,
    failedChanges: failed.length,
    ...(decided.length > 0 ? { changeFailRate: percentage(failed.length / decided.length) } : {}),
    ...(lead === undefined ? {} : { changeLeadTimeSeconds: lead }),
    ...(froms.size === 0
      ? {}
      : { leadTimeFrom: froms.size > 1 ? "Mixed" : (leads[0]?.leadTimeFrom ?? "RolloutStart") }),
    ...(recovery === undefined ? {} : { failedDeploymentRecoveryTimeSeconds: recovery }),
    recoveries: restored.length,
    openFailures: records.filter(isOpen).length,
  };
}

/**
 * Milliseconds from `now` to the next instant a record leaves a window (its time plus the
 * window), so a quiet squad's figures age on time; undefined when nothing will.
 */
export function nextWindowBoundaryMs(records: readonly ChangeRecord[], now: number): number | undefined {
  let next = Infinity;
  for (const r of records) {
    for (const t of [r.deployedAt, decidedAt(r), r.restoredAt]) {
      if (t === undefined) continue;
      for (const days of WINDOWS_DAYS) {
        const leaves = ms(t) + days * DAY_MS;
        if (leaves > now && leaves < next) next = leaves;
      }
    }
  }
  // One millisecond past the edge, so the record is out of the window when the reconcile runs.
  return next === Infinity ? undefined : next - now + 1;
}

/** A ratio as a percentage with at most one decimal: 0.125 → "12.5%", 0.5 → "50%". */
export function percentage(ratio: number): string {
  return `${Math.round(ratio * 1000) / 10}%`;
}

/** Median in whole seconds (the mean of the middle two for an even count). */
function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const upper = sorted[mid] ?? 0;
  return Math.round(sorted.length % 2 === 1 ? upper : ((sorted[mid - 1] ?? 0) + upper) / 2);
}
