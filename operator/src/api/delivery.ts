/**
 * The delivery record a Squad keeps (docs/delivery-metrics.md): one entry per change of its
 * Releases over the last 30 days, the DORA keys over 7 and 30 days computed from it, and the
 * cumulative totals its Prometheus counters and histograms are exported from. The record lives
 * in the Squad's status, so it outlives the Releases whose history it was read from.
 */
import { z } from "zod";

const dateTime = (description: string) => z.string().describe(description).meta({ format: "date-time" });

export const FAILURE_KINDS = [
  "RolledBack",
  "AbortedAfterPromotion",
  "SwitchedBack",
  "Reverted",
  "Degraded",
] as const;
export type FailureKind = (typeof FAILURE_KINDS)[number];

export const LEAD_TIME_FROM = ["Commit", "RolloutStart"] as const;
export type LeadTimeFrom = (typeof LEAD_TIME_FROM)[number];

export const FAILURE_START_FROM = ["Measurement", "Degraded", "Alert", "Traffic"] as const;
export type FailureStartFrom = (typeof FAILURE_START_FROM)[number];

export const RESTORED_FROM = ["IncidentResolved", "Revert"] as const;
export type RestoredFrom = (typeof RESTORED_FROM)[number];

export const changeRecord = z
  .object({
    release: z.string().describe("namespace/name of the Release."),
    revision: z.string().describe("Revision (pod template hash) the change introduced."),
    version: z.string().describe("spec.version of the revision."),
    changeId: z.string().optional().describe("spec.change.id, when CI set it."),
    startedAt: dateTime("Start of the change's first rollout."),
    deployedAt: z
      .string()
      .optional()
      .describe("When the change first reached full production traffic (promotion).")
      .meta({ format: "date-time" }),
    leadTimeSeconds: z.number().int().optional().describe("Change lead time: leadTimeFrom to deployedAt."),
    leadTimeFrom: z
      .enum(LEAD_TIME_FROM)
      .optional()
      .describe("Commit (spec.change.committedAt) or RolloutStart (no commit time was given)."),
    failure: z
      .enum(FAILURE_KINDS)
      .optional()
      .describe(
        "How the change failed, once: RolledBack (during its rollout), AbortedAfterPromotion, SwitchedBack or Reverted (a later rollout, or post-promotion verification, returned to the previous revision), Degraded.",
      ),
    failedAt: z
      .string()
      .optional()
      .describe("When the change was found failed.")
      .meta({ format: "date-time" }),
    failureStartedAt: z
      .string()
      .optional()
      .describe("When the failure started, per failureStartFrom.")
      .meta({ format: "date-time" }),
    failureStartFrom: z
      .enum(FAILURE_START_FROM)
      .optional()
      .describe(
        "Measurement (first failing measurement), Degraded (start of Degraded), Alert (the start of the alert whose incident reverted it), or Traffic (no earlier evidence: since the revision took production traffic).",
      ),
    restoredAt: z
      .string()
      .optional()
      .describe(
        "When traffic was on an available, previous or fixed revision again; for a change an incident reverted, per restoredFrom.",
      )
      .meta({ format: "date-time" }),
    revertActionId: z
      .string()
      .max(64)
      .optional()
      .describe(
        "For a change an incident reverted: the undo's crescendo.dev/action-id (incident-<id>), as the incident's actions[].actionId records it. The change is restored when that incident resolves.",
      ),
    revertedAt: z
      .string()
      .optional()
      .describe(
        "For a change an incident reverted: when the revert took effect. It equals failedAt unless the change had failed before (Degraded when the undo ran); restoredFrom Revert restores here.",
      )
      .meta({ format: "date-time" }),
    restoredFrom: z
      .enum(RESTORED_FROM)
      .optional()
      .describe(
        "For a change an incident reverted: IncidentResolved (restoredAt is the incident's resolvedAt), or Revert (restoredAt is the revert: the alert resolved before the revert took effect, its resolution was only inferred from the alert firing again, or no resolution was seen within 24 hours of the revert).",
      ),
  })
  .describe("One change of one Release and its outcome.");
export type ChangeRecord = z.infer<typeof changeRecord>;

export const histogramTotals = z
  .object({
    count: z.number().int().describe("Observations."),
    sumSeconds: z.number().describe("Sum of the observations, in seconds."),
    buckets: z
      .array(z.number().int())
      .max(32)
      .describe("Cumulative observations at or below each of the exported bucket bounds, in order."),
  })
  .describe("A cumulative histogram, exported as Prometheus _bucket, _sum and _count series.");
export type HistogramTotals = z.infer<typeof histogramTotals>;

export const deliveryTotals = z
  .object({
    since: dateTime("When counting started."),
    changes: z.number().int().describe("Changes decided (deployed or rolled back)."),
    failedChanges: z.number().int().describe("Changes that failed, each once."),
    deployments: z.number().int().describe("Changes that reached full production traffic."),
    leadTimeFromCommit: histogramTotals.describe("Change lead time of changes with spec.change.committedAt."),
    leadTimeFromRolloutStart: histogramTotals.describe("Change lead time of changes without a commit time."),
    recovery: histogramTotals.describe("Failed deployment recovery times."),
  })
  .describe(
    "Cumulative totals since counting started: the operator exports them as counters and histograms, so they survive restarts and failovers unchanged.",
  );
export type DeliveryTotals = z.infer<typeof deliveryTotals>;

export const deliveryWindow = z
  .object({
    deployments: z
      .number()
      .int()
      .describe("Deployment frequency: changes that reached full production traffic."),
    changes: z.number().int().describe("Changes decided in the window (deployed, or rolled back before)."),
    failedChanges: z.number().int().describe("Of those, the changes that failed."),
    changeFailRate: z
      .string()
      .optional()
      .describe("failedChanges / changes, as a percentage; absent with no change."),
    changeLeadTimeSeconds: z
      .number()
      .int()
      .optional()
      .describe("Median change lead time of the deployments."),
    leadTimeFrom: z
      .enum(["Commit", "RolloutStart", "Mixed"])
      .optional()
      .describe("Where the lead times start: Commit, RolloutStart (no spec.change.committedAt), or Mixed."),
    failedDeploymentRecoveryTimeSeconds: z
      .number()
      .int()
      .optional()
      .describe("Median failure start to service restored, of the recoveries in the window."),
    recoveries: z.number().int().describe("Failed changes restored in the window."),
    openFailures: z.number().int().describe("Failed changes not restored yet."),
  })
  .describe("The DORA keys over one window ending now.");
export type DeliveryWindow = z.infer<typeof deliveryWindow>;
