/**
 * A FeatureToggle's rollout: a fixed percentage, or a guarded ramp (`steps`) judged by the same
 * analysis engine as Releases. The steps are a Release's canary steps (`setWeight`, `pause`,
 * `analysis`), so a squad writes one shape for both; `setWeight` is the variant's share of
 * targeting keys. What must survive an operator restart lives in `status.rollout`.
 */
import { z } from "zod";
import { analysisInterval, analysisMetrics } from "./analysis.js";
import { canaryStep, metricResult, notificationDelivery, unattendedSeconds } from "./release.js";

const variantRef = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[A-Za-z0-9_.-]+$/, "letters, digits, '_', '.', '-'");

/** Query template variables a toggle's analysis may use (the escaping is the Releases'). */
export const TOGGLE_TEMPLATE_VARIABLES = ["namespace", "toggle", "flag", "variant", "interval"] as const;

export const toggleRolloutSpec = z
  .object({
    variant: variantRef.describe("Variant given to the percentage of users."),
    percentage: z
      .number()
      .int()
      .min(0)
      .max(100)
      .optional()
      .describe("Share of targeting keys that get the variant (sticky). Set this or steps."),
    steps: z
      .array(canaryStep)
      .min(1)
      .max(50)
      .refine(
        (steps) =>
          steps
            .flatMap((s) => (s.setWeight === undefined ? [] : [s.setWeight]))
            .every((w, i, all) => i === 0 || w >= (all[i - 1] ?? 0)),
        { message: "setWeight values must not decrease" },
      )
      .optional()
      .meta({
        description:
          "A guarded ramp: setWeight is the variant's share of targeting keys, pause waits, analysis judges the variant's users against the default variant's. After the last step the variant is served to 100%; a failed analysis returns everyone to defaultVariant. Set this or percentage.",
        "x-kubernetes-validations": [
          {
            rule: "self.filter(s, has(s.setWeight)).map(s, s.setWeight).isSorted()",
            message: "setWeight values must not decrease",
          },
        ],
      }),
    analysis: z
      .object({
        interval: analysisInterval
          .optional()
          .describe(
            "Default time between measurements (1s to 1h); absent takes the squad's delivery.analysisInterval, else 30s.",
          ),
        metrics: analysisMetrics.default([]),
      })
      .optional()
      .describe(
        "Metrics that judge the variant during analysis steps. Query templates may use {{namespace}} {{toggle}} {{flag}} {{variant}} {{interval}}; compareToStable runs the query for the rollout variant and for the default variant.",
      ),
  })
  .refine((r) => (r.percentage === undefined) !== (r.steps === undefined), {
    message: "set exactly one of percentage or steps",
  })
  .meta({
    description: "Percentage rollout (flagd fractional), applied after rules: fixed, or a guarded ramp.",
    "x-kubernetes-validations": [
      { rule: "has(self.percentage) != has(self.steps)", message: "set exactly one of percentage or steps" },
    ],
  });
export type ToggleRolloutSpec = z.infer<typeof toggleRolloutSpec>;

export const RAMP_PHASES = ["Progressing", "Paused", "Completed", "RolledBack"] as const;
export type RampPhase = (typeof RAMP_PHASES)[number];

/** Why a ramp is held; each is released as on a Release (promote for a pause step, resume for the rest). */
export const RAMP_PAUSE_REASONS = [
  "ManualPause",
  "PauseStep",
  "InconclusiveAnalysis",
  "AnalysisDeadlineExceeded",
] as const;
export type RampPauseReason = (typeof RAMP_PAUSE_REASONS)[number];

const time = (description: string) =>
  z.string().optional().describe(description).meta({ format: "date-time" });

export const toggleRolloutStatus = z
  .object({
    id: z
      .string()
      .describe(
        "Identifies the ramp: a hash of variant, defaultVariant and steps. Changing any of them starts a new ramp from step 0.",
      ),
    variant: z.string().describe("The variant being ramped."),
    phase: z.enum(RAMP_PHASES).describe("Progressing, Paused, Completed or RolledBack."),
    percentage: z
      .number()
      .int()
      .min(0)
      .max(100)
      .describe("Share of targeting keys served the variant now (0 once rolled back, 100 once completed)."),
    currentStepIndex: z
      .number()
      .int()
      .min(0)
      .describe("Index of the current step (steps.length once completed)."),
    startedAt: z.string().describe("When the ramp started.").meta({ format: "date-time" }),
    stepStartedAt: time("When the current step started."),
    pauseReason: z.enum(RAMP_PAUSE_REASONS).optional().describe("Why the ramp is held."),
    pausedAt: time("When the ramp was held."),
    completedAt: time("When the variant reached 100%."),
    rolledBackAt: time("When everyone was returned to the default variant."),
    failedMetric: z.string().optional().describe("The metric whose analysis failed."),
    message: z.string().max(2048).optional().describe("Why the ramp is where it is."),
    analysis: z
      .object({
        startedAt: z.string().describe("When this analysis began.").meta({ format: "date-time" }),
        step: z.number().int().describe("Index of the analysis step."),
        metrics: z.array(metricResult).max(40).describe("Per-metric results."),
        unattendedSeconds,
      })
      .optional()
      .describe("The analysis of the current (or last) analysis step."),
  })
  .describe("The guarded ramp of spec.rollout.steps.");
export type ToggleRolloutStatus = z.infer<typeof toggleRolloutStatus>;

/** Why a ramp rolled back, for its on-call notification. */
export const RAMP_ROLLBACK_REASONS = ["AnalysisFailed", "Aborted"] as const;
export type RampRollbackReason = (typeof RAMP_ROLLBACK_REASONS)[number];

/** What a toggle's on-call notification is about. */
export const TOGGLE_NOTIFICATION_EVENTS = ["RampRolledBack", "Killed"] as const;
export type ToggleNotificationEvent = (typeof TOGGLE_NOTIFICATION_EVENTS)[number];

export const toggleNotification = z
  .object({
    id: z
      .string()
      .describe(
        "The notification's id, sent in the payload (rollbackId for a ramp's rollback, notificationId for a kill) and as the Idempotency-Key header, so a receiver can drop a repeated delivery.",
      ),
    event: z
      .enum(TOGGLE_NOTIFICATION_EVENTS)
      .optional()
      .describe(
        "RampRolledBack (the guarded ramp rolled back; absent in entries recorded before kills were notified) or Killed (a kill action killed the toggle).",
      ),
    variant: z.string().optional().describe("RampRolledBack: the variant whose ramp rolled back."),
    reason: z.enum(RAMP_ROLLBACK_REASONS).optional().describe("RampRolledBack: AnalysisFailed or Aborted."),
    message: z.string().max(1024).describe("What happened, for the payload."),
    metric: z.string().optional().describe("The metric whose analysis failed, if one decided the rollback."),
    actionId: z.string().optional().describe("Killed: the crescendo.dev/action-id of the kill action."),
    incident: z
      .string()
      .optional()
      .describe("Killed: the incident whose KillToggles action it was (Squad status.incidents id)."),
    note: z
      .string()
      .max(1024)
      .optional()
      .describe(
        "Killed: why, as the kill's requester wrote it (the crescendo.dev/action-reason annotation).",
      ),
    at: z
      .string()
      .describe(
        "When it happened: status.rollout.rolledBackAt for a ramp's rollback, status.killedAt for a kill.",
      )
      .meta({ format: "date-time" }),
    ...notificationDelivery,
  })
  .describe("One on-call notification of a ramp's rollback or of a kill, and how its delivery stands.");
export type ToggleNotification = z.infer<typeof toggleNotification>;
