/**
 * The DORA keys as a table: one row per key, its 7- and 30-day figures as the Squad status
 * states them (or as computed for a tribe from its squads' records), and the DORA performance
 * level of the 30-day figure. Each figure says where it comes from. Pure.
 */
import type { DeliveryWindow } from "../../api/delivery.js";
import {
  changeFailRateBand,
  changeLeadTimeBand,
  deploymentFrequencyBand,
  recoveryTimeBand,
  type Band,
} from "../../delivery/bands.js";
import { formatDuration, plural, table, type Cell, type Palette } from "./style.js";

export interface Windows {
  last7d?: DeliveryWindow | undefined;
  last30d?: DeliveryWindow | undefined;
}

/** The table, or a line saying there is nothing yet. */
export function deliveryTable(w: Windows, p: Palette): string[] {
  if (!w.last7d && !w.last30d) return [`  ${p.dim("not reported yet")}`];
  const month = w.last30d;
  const level = (band: Band | undefined): Cell =>
    band === undefined
      ? ""
      : { text: band, style: band === "Low" ? p.bad : band === "Elite" ? p.ok : (t) => t };
  return table([
    ["KEY", "7 DAYS", "30 DAYS", "LEVEL (30 DAYS)"].map((h) => ({ text: h, style: p.dim })),
    [
      "Deployment frequency",
      frequency(w.last7d, 7),
      frequency(month, 30),
      level(month ? deploymentFrequencyBand(month.deployments / 30) : undefined),
    ],
    [
      "Change lead time",
      leadTime(w.last7d),
      leadTime(month),
      level(
        month?.changeLeadTimeSeconds === undefined
          ? undefined
          : changeLeadTimeBand(month.changeLeadTimeSeconds),
      ),
    ],
    [
      "Change failure rate",
      failRate(w.last7d),
      failRate(month),
      level(month?.changeFailRate === undefined ? undefined : changeFailRateBand(ratio(month))),
    ],
    [
      "Failed deployment recovery time",
      recovery(w.last7d),
      recovery(month),
      level(
        month?.failedDeploymentRecoveryTimeSeconds === undefined
          ? undefined
          : recoveryTimeBand(month.failedDeploymentRecoveryTimeSeconds),
      ),
    ],
  ]);
}

/** A line for failures not restored yet, when there are any. */
export function openFailuresLine(w: Windows, p: Palette): string[] {
  const open = w.last30d?.openFailures ?? 0;
  return open > 0 ? [`  ${p.bad(`${plural(open, "failed change")} not restored yet`)}`] : [];
}

function frequency(w: DeliveryWindow | undefined, days: number): string {
  if (!w) return "";
  return `${w.deployments} (${(w.deployments / days).toFixed(2)}/day)`;
}

function leadTime(w: DeliveryWindow | undefined): string {
  if (!w) return "";
  if (w.changeLeadTimeSeconds === undefined) return "no deployment";
  const from =
    w.leadTimeFrom === "Commit"
      ? "from commit"
      : w.leadTimeFrom === "RolloutStart"
        ? "from rollout start"
        : "from commit or rollout start";
  return `${formatDuration(w.changeLeadTimeSeconds * 1000)} median, ${from}`;
}

function failRate(w: DeliveryWindow | undefined): string {
  if (!w) return "";
  if (w.changeFailRate === undefined) return "no change";
  return `${w.changeFailRate} (${w.failedChanges} of ${plural(w.changes, "change")})`;
}

function recovery(w: DeliveryWindow | undefined): string {
  if (!w) return "";
  if (w.failedDeploymentRecoveryTimeSeconds === undefined) return "no recovery";
  return `${formatDuration(w.failedDeploymentRecoveryTimeSeconds * 1000)} median (${w.recoveries} restored)`;
}

function ratio(w: DeliveryWindow): number {
  return w.changes === 0 ? 0 : w.failedChanges / w.changes;
}
