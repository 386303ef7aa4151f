/**
 * A Squad's `status.delivery` from its previous value and its Releases as observed now: the
 * ledger folded forward, the 7- and 30-day figures, and the two summary fields `kubectl get`
 * and older dashboards read. Pure; the Squad's status computation calls it.
 */
import type { FeatureToggle, Release } from "../api/kinds.js";
import type { SquadStatus } from "../api/squad.js";
import { deliveryWindow, nextWindowBoundaryMs, percentage } from "./figures.js";
import { nextResolutionDeadlineMs, type IncidentResolution } from "./incident-recovery.js";
import { foldLedger, type Ledger } from "./ledger.js";
import { toggleRampHistory } from "./toggle-changes.js";

export type DeliveryStatus = NonNullable<SquadStatus["delivery"]>;

export function squadDelivery(
  previous: DeliveryStatus | undefined,
  releases: readonly Release[],
  now: number,
  revertWindowMs?: number,
  /** FeatureToggles: a guarded ramp is a change too (`toggle-changes.ts`). */
  toggles: readonly Pick<FeatureToggle, "metadata" | "status">[] = [],
  /** The Squad's incidents: their resolution restores the changes they reverted. */
  incidents: readonly IncidentResolution[] = [],
): DeliveryStatus {
  const ledger = foldLedger(
    ledgerOf(previous),
    [
      ...releases.map((r) => ({
        release: `${r.metadata.namespace ?? ""}/${r.metadata.name ?? ""}`,
        status: r.status,
      })),
      ...toggles.flatMap((t) => toggleRampHistory(t) ?? []),
    ],
    now,
    revertWindowMs,
    incidents,
  );
  const last7d = deliveryWindow(ledger.records, now, 7);
  const last30d = deliveryWindow(ledger.records, now, 30);
  return {
    deploymentsLast7d: last7d.deployments,
    changeFailureRate: last30d.changeFailRate ?? percentage(0),
    last7d,
    last30d,
    ...(ledger.truncatedBefore === undefined ? {} : { truncatedBefore: ledger.truncatedBefore }),
    changes: ledger.records,
    totals: ledger.totals,
  };
}

/** The ledger a previous status holds; none before the first fold. */
function ledgerOf(previous: DeliveryStatus | undefined): Ledger | undefined {
  if (!previous?.totals) return undefined;
  return {
    records: previous.changes ?? [],
    totals: previous.totals,
    ...(previous.truncatedBefore === undefined ? {} : { truncatedBefore: previous.truncatedBefore }),
  };
}

/**
 * Milliseconds until the figures change with nothing new happening (a change leaving a window,
 * or one an incident reverted giving up waiting for its resolution), at most `MAX_WAIT_MS`:
 * timers cannot wait 30 days, and a daily look costs nothing.
 */
export function deliveryRequeueMs(delivery: DeliveryStatus | undefined, now: number): number | undefined {
  const changes = delivery?.changes ?? [];
  const next = [nextWindowBoundaryMs(changes, now), nextResolutionDeadlineMs(changes, now)].filter(
    (ms): ms is number => ms !== undefined,
  );
  return next.length === 0 ? undefined : Math.min(...next, MAX_WAIT_MS);
}

export const MAX_WAIT_MS = 12 * 3_600_000;
