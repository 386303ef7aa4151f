/** Release: a versioned workload rolled out progressively. */
import { z } from "zod";
import { analysisInterval, analysisMetrics, metricName } from "./analysis.js";
import { conditions, dnsLabel, duration, lastAction, opaqueObject, parseDuration } from "./common.js";

/**
 * The longest Release name: the operator names Services `<release>-stable`, `<release>-canary`
 * and `<release>-preview`, and a Service name is a DNS-1035 label of at most 63 characters, so
 * 63 - "-preview".length. (Deployments are `<release>-<revision>`, a DNS subdomain, and the name
 * is a label value on every object, at most 63: both hold below this.)
 */
export const MAX_RELEASE_NAME_LENGTH = 63 - "-preview".length;

/**
 * Release names refused at admission rather than on the first Service the operator creates.
 * A Service name is also a DNS-1035 label (starts with a letter, no dots), which a Release name,
 * a DNS subdomain, need not be; that only matters when the Release asks for Services.
 */
export const RELEASE_NAME_RULES = [
  {
    rule: `self.metadata.name.size() <= ${MAX_RELEASE_NAME_LENGTH}`,
    fieldPath: ".metadata.name",
    message: `a Release name must be at most ${MAX_RELEASE_NAME_LENGTH} characters: the operator names its Services <release>-stable, <release>-canary and <release>-preview, which Kubernetes limits to 63`,
  },
  {
    rule: "!has(self.spec.service) || self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",
    fieldPath: ".metadata.name",
    message:
      "a Release with spec.service needs a name that is a DNS-1035 label (a lower-case letter first, then letters, digits and '-', no dots): its Services are named after it",
  },
];

const metricNames = z
  .array(metricName)
  .max(20)
  .optional()
  .describe("Names of metrics from spec.analysis.metrics (or the squad's defaults); absent means all.");

export const canaryStep = z
  .object({
    setWeight: z
      .number()
      .int()
      .min(0)
      .max(100)
      .optional()
      .describe("Send this percentage of traffic to the canary."),
    pause: z
      .object({
        duration: duration.optional().describe("How long to wait; absent waits until a promote action."),
      })
      .optional()
      .describe("Wait before the next step."),
    analysis: z
      .object({ metrics: metricNames })
      .optional()
      .describe("Measure the listed metrics until each has enough samples, then continue or roll back."),
  })
  .refine(
    (s) => [s.setWeight, s.pause, s.analysis].filter((x) => x !== undefined).length === 1,
    "a step needs exactly one of setWeight, pause or analysis",
  )
  .meta({
    description: "One step of a canary rollout.",
    "x-kubernetes-validations": [
      {
        rule: "(has(self.setWeight) ? 1 : 0) + (has(self.pause) ? 1 : 0) + (has(self.analysis) ? 1 : 0) == 1",
        message: "a step needs exactly one of setWeight, pause or analysis",
      },
    ],
  });
export type CanaryStep = z.infer<typeof canaryStep>;

const weightsOf = (steps: CanaryStep[]) =>
  steps.flatMap((s) => (s.setWeight === undefined ? [] : [s.setWeight]));

/**
 * Verification after promotion (argoproj/argo-rollouts#1978): the promoted revision keeps being
 * measured for `duration` under full traffic while the revision it replaced is kept running, so
 * a regression that only shows at full load is reverted in one write rather than found by a
 * person. Shared by both strategies.
 */
/**
 * The longest post-promotion window. It exists for a regression that only shows at full load, at
 * peak hour or an hour later: a day covers a whole daily traffic cycle. Longer, "100000h" say, the
 * previous revision would be kept (at full size by default) for years and every later window
 * superseded before it ends: pods paid for, nothing verified.
 */
export const POST_PROMOTION_MAX = { text: "24h", ms: 86_400_000 } as const;
const postPromotionMessage = `must be at most ${POST_PROMOTION_MAX.text}`;

const postPromotionDuration = duration
  .max(32)
  .refine((text) => parseDuration(text) <= POST_PROMOTION_MAX.ms, postPromotionMessage)
  .meta({
    "x-kubernetes-validations": [
      { rule: `duration(self) <= duration('${POST_PROMOTION_MAX.text}')`, message: postPromotionMessage },
    ],
  });

export const postPromotion = z
  .object({
    duration: postPromotionDuration.describe(
      `How long after promotion the new revision is measured and the previous one kept (e.g. 10m; at most ${POST_PROMOTION_MAX.text}).`,
    ),
    analysis: z
      .array(metricName)
      .min(1)
      .max(20)
      .describe(
        "Names of metrics from spec.analysis.metrics (or the squad's defaults) measured on the promoted revision during the window; one failing reverts.",
      ),
    previousReplicasPercent: z
      .number()
      .int()
      .min(1)
      .max(100)
      .default(100)
      .describe(
        "Share of spec.replicas the previous revision keeps during the window: 100 keeps it warm for an instant switch back; less saves pods, and a revert scales it back up while the reverted revision keeps serving beside it until it is ready.",
      ),
  })
  .describe(
    "Verify the promoted revision under full traffic for a while, keeping the previous revision to revert to.",
  );
export type PostPromotion = z.infer<typeof postPromotion>;

export const canaryStrategy = z
  .object({
    steps: z
      .array(canaryStep)
      .min(1)
      .max(50)
      .refine((steps) => weightsOf(steps).every((w, i, all) => i === 0 || w >= (all[i - 1] ?? 0)), {
        message: "setWeight values must not decrease",
      })
      .meta({
        description: "Steps run in order; after the last one the canary is promoted.",
        "x-kubernetes-validations": [
          {
            rule: "self.filter(s, has(s.setWeight)).map(s, s.setWeight).isSorted()",
            message: "setWeight values must not decrease",
          },
        ],
      }),
    trafficRouting: z
      .object({
        gatewayAPI: z
          .object({
            httpRoute: dnsLabel.describe(
              "Name of an HTTPRoute in the Release's namespace whose backendRefs to weight.",
            ),
          })
          .describe("Split traffic with Gateway API HTTPRoute backendRef weights."),
      })
      .optional()
      .describe("How traffic is split. Absent: by replica ratio behind the <release> Service."),
    backgroundAnalysis: z
      .object({ metrics: metricNames })
      .optional()
      .describe("Metrics measured throughout the rollout, from the first step to promotion."),
    postPromotion: postPromotion.optional(),
  })
  .describe("Canary: shift traffic step by step to the new revision.");

export const blueGreenStrategy = z
  .object({
    autoPromotionSeconds: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe(
        "Promote this long after the preview is ready and analysis passed; absent waits for promote.",
      ),
    previewReplicas: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe("Replicas of the preview revision (default: replicas)."),
    scaleDownDelaySeconds: z
      .number()
      .int()
      .min(0)
      .default(30)
      .describe("Keep the old revision this long after the switch, so rollback is a selector switch back."),
    postPromotion: postPromotion.optional(),
  })
  .describe("Blue-green: run the new revision beside the old behind a preview Service, then switch.");

export const servicePort = z
  .object({
    name: dnsLabel.describe("Port name."),
    port: z.number().int().min(1).max(65535).describe("Service port."),
    targetPort: z
      .union([z.number().int().min(1).max(65535), z.string()])
      .optional()
      .meta({
        "x-kubernetes-int-or-string": true,
        description: "Container port number or name (default: port).",
      }),
    protocol: z.enum(["TCP", "UDP", "SCTP"]).default("TCP").describe("Protocol."),
  })
  .describe("A port of the Release's Services.");

/**
 * Where the change being released came from: set by CI or a GitOps tool with the template it
 * changes (docs/delivery-metrics.md). Only `committedAt` is computed with (change lead time
 * starts there); `id` and `url` are carried into the history for people to follow.
 */
export const releaseChange = z
  .object({
    id: z
      .string()
      .min(1)
      .max(128)
      .optional()
      .describe("What identifies the change, e.g. a commit SHA or a merge request number."),
    committedAt: z
      .string()
      .optional()
      .describe("When the change was committed (RFC 3339): change lead time is measured from here.")
      .meta({ format: "date-time" }),
    url: z
      .string()
      .max(2048)
      .regex(/^https?:\/\/\S+$/, "must be an http(s) URL")
      .optional()
      .describe("Where to read the change, e.g. its commit or pull request page (http or https)."),
  })
  .describe(
    "The change this template carries, for delivery metrics. Without committedAt, change lead time is measured from the rollout start and says so.",
  );
export type ReleaseChange = z.infer<typeof releaseChange>;

export const releaseSpec = z
  .object({
    version: z
      .string()
      .min(1)
      .max(128)
      .describe("Version being released (free text, e.g. 1.4.2); shown in status and history."),
    replicas: z
      .number()
      .int()
      .min(0)
      .default(1)
      .describe(
        "Pods that carry all the traffic: the stable revision's size, from which a canary's share is sized (scale subresource: what an HPA or kubectl scale sets).",
      ),
    template: opaqueObject("Pod template (a PodTemplateSpec) of the workload. Changing it starts a rollout."),
    change: releaseChange.optional(),
    service: z
      .object({
        ports: z
          .array(servicePort)
          .min(1)
          .max(20)
          .meta({
            description:
              "Ports exposed by the Services <release>, <release>-stable and <release>-canary/-preview.",
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
          }),
      })
      .optional()
      .describe("Services to create; absent creates none."),
    strategy: z
      .object({ canary: canaryStrategy.optional(), blueGreen: blueGreenStrategy.optional() })
      .refine(
        (s) => (s.canary === undefined) !== (s.blueGreen === undefined),
        "set exactly one of canary or blueGreen",
      )
      .meta({
        description: "How a new revision is rolled out.",
        "x-kubernetes-validations": [
          {
            rule: "has(self.canary) != has(self.blueGreen)",
            message: "set exactly one of canary or blueGreen",
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
      .describe("Metrics that judge the new revision."),
    rollback: z
      .object({
        onFailure: z
          .enum(["Rollback", "Pause"])
          .default("Rollback")
          .describe("Rollback: traffic back to stable at once; Pause: hold and wait for a person."),
        scaleDownDelaySeconds: z
          .number()
          .int()
          .min(0)
          .default(30)
          .describe("Delay before the replaced stable revision is scaled down after promotion."),
      })
      .optional()
      .describe("What to do when the new revision fails."),
    rollbackWindow: z
      .object({
        revisions: z
          .number()
          .int()
          .min(1)
          .max(10)
          .default(2)
          .describe(
            "How many of the most recent previous revisions `kubectl crescendo undo` returns to without asking.",
          ),
      })
      .optional()
      .describe(
        "The undo window: an undo to a revision within it needs no confirmation; an older one kept in history asks for it (--yes skips it).",
      ),
    progressDeadlineSeconds: z
      .number()
      .int()
      .min(10)
      .default(600)
      .describe(
        "How long a stage that waits for pods to become ready (setWeight, the blue-green preview, the final scale-up) may take, counted from when the stage started, before the rollout fails. Pauses and analyses are not bounded by it; a deliberate pause stops the clock, and resuming after a problem hold starts it over.",
      ),
    paused: z
      .boolean()
      .default(false)
      .describe(
        "Pause the rollout where it is (declarative pause); a revision recorded while paused starts its rollout (step 0, canary pods, traffic) only once this is false.",
      ),
  })
  .describe("Desired state of the Release.");
export type ReleaseSpec = z.infer<typeof releaseSpec>;

export const RELEASE_PHASES = [
  "Progressing",
  "Paused",
  "Healthy",
  "Degraded",
  "RolledBack",
  "Reverted",
] as const;
export type ReleasePhase = (typeof RELEASE_PHASES)[number];

/**
 * Why a rollout is held. Persisted because a hold outlives the event that caused it (an action,
 * a failed step) and each reason is released differently: `promote` for a pause step, `resume`
 * for a manual pause, clearing `spec.paused` for the declarative one.
 */
export const PAUSE_REASONS = [
  "Paused",
  "ManualPause",
  "PauseStep",
  "AwaitingPromotion",
  "InconclusiveAnalysis",
  "AnalysisFailed",
  "AnalysisDeadlineExceeded",
  "ProgressDeadlineExceeded",
] as const;
export type PauseReason = (typeof PAUSE_REASONS)[number];

export const measurement = z
  .object({
    at: z.string().describe("When the measurement was taken (RFC 3339).").meta({ format: "date-time" }),
    phase: z.enum(["Successful", "Failed", "Inconclusive"]).describe("The judgement."),
    value: z.string().optional().describe("Canary value (as text, so NaN and Inf survive)."),
    stableValue: z.string().optional().describe("Stable value for compareToStable metrics."),
    message: z.string().optional().describe("Why it was judged so."),
  })
  .describe("One measurement of a metric.");
export type Measurement = z.infer<typeof measurement>;

/** An analysis' time no operator measured, added to its deadline (`analysis/unattended.ts`). */
export const unattendedSeconds = z
  .number()
  .int()
  .min(0)
  .optional()
  .describe(
    "Time no operator measured this analysis (a measurement taken more than its interval and a slack late, as after an operator restart or a leader change), added to its deadline.",
  );

export const metricResult = z
  .object({
    name: z.string().describe("Metric name."),
    successful: z.number().int().describe("Successful measurements in this analysis."),
    failed: z.number().int().describe("Failed measurements in this analysis."),
    inconclusive: z.number().int().describe("Inconclusive measurements in this analysis."),
    consecutiveInconclusive: z.number().int().describe("Inconclusive measurements in a row."),
    measurements: z.array(measurement).max(10).describe("The last 10 measurements."),
  })
  .describe("Running totals for one metric.");
export type MetricResult = z.infer<typeof metricResult>;

/**
 * How one on-call notification's delivery stands: the fields every notification entry has,
 * whatever rolled back (a Release, a toggle's ramp), read by the shared at-least-once delivery.
 */
export const notificationDelivery = {
  attempts: z.number().int().min(0).describe("Delivery attempts so far."),
  nextAttemptAt: z
    .string()
    .optional()
    .describe("When the next attempt is due; absent once delivered or given up.")
    .meta({ format: "date-time" }),
  deliveredAt: z
    .string()
    .optional()
    .describe("When the webhook accepted it (2xx).")
    .meta({ format: "date-time" }),
  failedAt: z
    .string()
    .optional()
    .describe("When delivery was given up (a permanent error, or retries for longer than the bound).")
    .meta({ format: "date-time" }),
  lastError: z.string().max(1024).optional().describe("Why the last attempt failed."),
};

export const pendingNotification = z
  .object({
    id: z
      .string()
      .describe(
        "The rollback's id, sent as the payload's rollbackId and the Idempotency-Key header, so a receiver can drop a repeated delivery.",
      ),
    revision: z.string().describe("The revision rolled back."),
    version: z.string().optional().describe("spec.version of the revision rolled back, for the payload."),
    reason: z
      .string()
      .optional()
      .describe("Why it rolled back (AnalysisFailed, ProgressDeadlineExceeded or Aborted), for the payload."),
    message: z.string().max(1024).optional().describe("The rollback's message, for the payload."),
    metric: z.string().optional().describe("The metric whose analysis failed, if one decided the rollback."),
    at: z.string().describe("When the rollback happened (status.abortedAt).").meta({ format: "date-time" }),
    ...notificationDelivery,
  })
  .describe("One rollback notification and how its delivery stands.");
export type PendingNotification = z.infer<typeof pendingNotification>;

export const HISTORY_OUTCOMES = ["Promoted", "RolledBack", "Superseded", "Degraded"] as const;

export const historyEntry = z
  .object({
    revision: z.string().describe("Revision hash."),
    version: z.string().describe("spec.version of the revision."),
    startedAt: z.string().describe("Rollout start (RFC 3339).").meta({ format: "date-time" }),
    finishedAt: z.string().optional().describe("Rollout end (RFC 3339).").meta({ format: "date-time" }),
    outcome: z
      .enum(HISTORY_OUTCOMES)
      .describe(
        "How the rollout ended: Promoted, RolledBack or Superseded; Degraded records a period the stable revision was not available (startedAt to finishedAt).",
      ),
    reason: z.string().optional().describe("Why it ended so."),
    change: releaseChange
      .optional()
      .describe("spec.change of the revision, as it was when the rollout ended."),
    failureStartedAt: z
      .string()
      .optional()
      .describe(
        "The first failing measurement of a rolled-back rollout, or for an incident's undo the alert's start (RFC 3339).",
      )
      .meta({ format: "date-time" }),
    replacedRevision: z
      .string()
      .optional()
      .describe(
        "The stable revision a promotion replaced: its ControllerRevision is kept while this entry is, so undo can return to it.",
      ),
    actionId: z
      .string()
      .max(64)
      .optional()
      .describe(
        "For an undo (reason Undone): the crescendo.dev/action-id that asked for it. An incident's (incident-<id>) links the revert to the incident, whose resolution ends the change's recovery time.",
      ),
  })
  .describe("One finished rollout, or one period the stable revision was Degraded.");
export type HistoryEntry = z.infer<typeof historyEntry>;

export const releaseStatus = z
  .object({
    observedGeneration: z.number().int().optional().describe("The generation last reconciled."),
    conditions: conditions.optional(),
    phase: z
      .enum(RELEASE_PHASES)
      .optional()
      .describe(
        "Progressing, Paused, Healthy, Degraded, RolledBack, or Reverted (post-promotion verification failed and switched back to the previous revision).",
      ),
    message: z.string().optional().describe("Why the Release is in this phase."),
    stableRevision: z.string().optional().describe("Revision serving production traffic."),
    stableVersion: z.string().optional().describe("spec.version of the stable revision."),
    canaryRevision: z.string().optional().describe("Revision being rolled out (canary or preview)."),
    canaryVersion: z.string().optional().describe("spec.version of the canary revision."),
    currentStepIndex: z.number().int().optional().describe("Index of the current canary step."),
    canaryWeight: z
      .number()
      .int()
      .min(0)
      .max(100)
      .optional()
      .describe("Traffic percentage actually reaching the canary."),
    desiredWeight: z
      .number()
      .int()
      .min(0)
      .max(100)
      .optional()
      .describe("Traffic percentage the current step asks for."),
    rolloutStartedAt: z
      .string()
      .optional()
      .describe("Start of the current rollout.")
      .meta({ format: "date-time" }),
    stepStartedAt: z.string().optional().describe("Start of the current step.").meta({ format: "date-time" }),
    pausedAt: z.string().optional().describe("When the rollout paused.").meta({ format: "date-time" }),
    pauseReason: z
      .enum(PAUSE_REASONS)
      .optional()
      .describe(
        "Why the rollout is held: Paused (spec.paused), ManualPause (pause action), PauseStep or AwaitingPromotion (waits for promote), InconclusiveAnalysis, AnalysisDeadlineExceeded (an analysis undecided by its deadline), AnalysisFailed or ProgressDeadlineExceeded (with rollback.onFailure Pause).",
      ),
    abortedAt: z
      .string()
      .optional()
      .describe("When the rollout was rolled back.")
      .meta({ format: "date-time" }),
    degradedSince: z
      .string()
      .optional()
      .describe(
        "Since when the stable revision has been unavailable (Degraded), until traffic is on an available revision again.",
      )
      .meta({ format: "date-time" }),
    scaleDown: z
      .array(
        z.object({
          revision: z.string().describe("Revision to scale down."),
          version: z.string().optional().describe("spec.version of that revision, kept for a switch back."),
          at: z.string().describe("When to scale it down.").meta({ format: "date-time" }),
          replicas: z
            .number()
            .int()
            .min(0)
            .optional()
            .describe("Pods it keeps meanwhile; absent: spec.replicas (warm at full size)."),
        }),
      )
      .max(10)
      .optional()
      .describe("Old revisions kept briefly after promotion or rollback, and when they go."),
    analysis: z
      .object({
        startedAt: z.string().describe("When this analysis began.").meta({ format: "date-time" }),
        step: z
          .number()
          .int()
          .optional()
          .describe(
            "Index of the step it belongs to (a canary analysis step, or the blue-green analysis stage).",
          ),
        metrics: z.array(metricResult).max(40).describe("Per-metric results."),
        unattendedSeconds,
      })
      .optional()
      .describe("The analysis of the current (or last) analysis step."),
    backgroundAnalysis: z
      .object({
        startedAt: z.string().describe("When this analysis began.").meta({ format: "date-time" }),
        metrics: z.array(metricResult).max(40).describe("Per-metric results."),
      })
      .optional()
      .describe(
        "The background analysis (strategy.canary.backgroundAnalysis) of the current (or last) rollout.",
      ),
    override: z
      .object({
        revision: z.string().describe("The revision the undo returned to (now stable)."),
        version: z
          .string()
          .optional()
          .describe("spec.version of that revision, as its ControllerRevision keeps it."),
        specRevision: z
          .string()
          .describe(
            "The revision of spec.template when undone: a spec.template of any other revision ends the override.",
          ),
        at: z.string().describe("When the undo took effect.").meta({ format: "date-time" }),
        actionId: z.string().describe("The crescendo.dev/action-id of the undo."),
      })
      .optional()
      .describe(
        "Set while the Release runs a revision returned to by `kubectl crescendo undo` rather than spec.template, which stays as GitOps wrote it; a new spec.template ends it.",
      ),
    postPromotion: z
      .object({
        revision: z.string().describe("The promoted revision being verified."),
        previousRevision: z.string().describe("The revision it replaced, kept to revert to."),
        previousVersion: z.string().optional().describe("spec.version of the previous revision."),
        startedAt: z
          .string()
          .describe("When the window began (the promotion).")
          .meta({ format: "date-time" }),
        until: z.string().describe("When the window ends.").meta({ format: "date-time" }),
        metrics: z.array(metricResult).max(40).describe("Per-metric results."),
        result: z
          .enum(["Verifying", "Verified", "Unverified", "Reverted"])
          .describe(
            "Verifying while the window runs; Verified (passed), Unverified (the window ended without a conclusive pass: kept, with a Warning) or Reverted.",
          ),
        message: z.string().optional().describe("Why it ended so, naming the metric."),
      })
      .optional()
      .describe(
        "Post-promotion verification (strategy.*.postPromotion) of the last promotion: kept after it ends, until the next rollout.",
      ),
    replicas: z
      .number()
      .int()
      .optional()
      .describe(
        "Pods of every live revision, the pods status.selector matches (scale subresource: what an HPA counts).",
      ),
    readyReplicas: z.number().int().optional().describe("Ready pods across revisions."),
    selector: z
      .string()
      .optional()
      .describe("Label selector of every live revision's pods (scale subresource: what an HPA measures)."),
    lastAction: lastAction.optional(),
    history: z
      .array(historyEntry)
      .max(20)
      .optional()
      .describe("The last 20 rollouts (and Degraded periods), newest first."),
    notifications: z
      .array(pendingNotification)
      .max(10)
      .optional()
      .describe(
        "On-call notifications of rollbacks, newest first: pending until delivered or given up. Recorded in the rollback's own status write, so a restarted or new leader finishes the delivery.",
      ),
  })
  .describe("Observed state of the Release.");
export type ReleaseStatus = z.infer<typeof releaseStatus>;
