/**
 * The DORA performance levels of the 2024 Accelerate State of DevOps Report (dora.dev), per key,
 * as thresholds a figure is compared with. The report describes clusters of teams by what is
 * typical of each; the thresholds below are its boundaries where it states them, and where it
 * does not (change fail rate, whose medium cluster is at 10 % and high cluster at 20 %), the
 * documented choice of docs/delivery-metrics.md. The chart's dashboard uses the same numbers.
 */
export type Band = "Elite" | "High" | "Medium" | "Low";

const HOUR = 3600;
const DAY = 24 * HOUR;

/** Deployments per day: elite on demand (at least daily), high at least weekly, medium at least monthly. */
export function deploymentFrequencyBand(perDay: number): Band {
  if (perDay >= 1) return "Elite";
  if (perDay >= 1 / 7) return "High";
  if (perDay >= 1 / 30) return "Medium";
  return "Low";
}

/** Change lead time in seconds: under a day, a week, a month. */
export function changeLeadTimeBand(seconds: number): Band {
  if (seconds < DAY) return "Elite";
  if (seconds <= 7 * DAY) return "High";
  if (seconds <= 30 * DAY) return "Medium";
  return "Low";
}

/** Change fail rate, 0 to 1: at most 5 %, 20 %, under 40 %. */
export function changeFailRateBand(ratio: number): Band {
  if (ratio <= 0.05) return "Elite";
  if (ratio <= 0.2) return "High";
  if (ratio < 0.4) return "Medium";
  return "Low";
}

/** Failed deployment recovery time in seconds: under an hour, a day, a week. */
export function recoveryTimeBand(seconds: number): Band {
  if (seconds < HOUR) return "Elite";
  if (seconds < DAY) return "High";
  if (seconds < 7 * DAY) return "Medium";
  return "Low";
}
