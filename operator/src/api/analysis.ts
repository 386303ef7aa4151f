/**
 * The analysis metric shape, shared by Release specs and by the Squad's delivery defaults so
 * a squad can define its standard health checks once.
 */
import { z } from "zod";
import { duration, parseDuration } from "./common.js";
import {
  PROMETHEUS_ADDRESS_MAX_LENGTH,
  prometheusAddressProblem,
  prometheusAddressValidation,
} from "./prometheus-address.js";

/** The shortest and longest analysis interval, as durations and in milliseconds. */
export const ANALYSIS_INTERVAL_BOUNDS = { min: "1s", max: "1h", minMs: 1000, maxMs: 3_600_000 } as const;
const intervalMessage = `must be between ${ANALYSIS_INTERVAL_BOUNDS.min} and ${ANALYSIS_INTERVAL_BOUNDS.max}`;

/**
 * Time between measurements, bounded: "0s" would take every sample in the same second (so
 * minSamples would mean nothing) and "100000h" would leave a rollout Progressing for ever.
 * The apiserver refuses both (CEL `duration()` reads the same Go durations); zod mirrors it.
 */
export const analysisInterval = duration
  .max(32)
  .refine((text) => {
    const ms = parseDuration(text);
    return ms >= ANALYSIS_INTERVAL_BOUNDS.minMs && ms <= ANALYSIS_INTERVAL_BOUNDS.maxMs;
  }, intervalMessage)
  .meta({
    "x-kubernetes-validations": [
      {
        rule: `duration(self) >= duration('${ANALYSIS_INTERVAL_BOUNDS.min}') && duration(self) <= duration('${ANALYSIS_INTERVAL_BOUNDS.max}')`,
        message: intervalMessage,
      },
    ],
  });

/**
 * A Prometheus base URL: http(s), no userinfo, query or fragment (`prometheus-address.ts` says
 * why). Refused at admission by the CEL rule and again by zod, each naming the field.
 */
export const prometheusAddress = z
  .string()
  .max(PROMETHEUS_ADDRESS_MAX_LENGTH)
  .superRefine((text, ctx) => {
    const problem = prometheusAddressProblem(text);
    if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
  })
  .meta({ "x-kubernetes-validations": [prometheusAddressValidation] });

export const metricName = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "must be a DNS-1123 label");

export const prometheusQuery = z
  .object({
    address: prometheusAddress
      .optional()
      .describe(
        "Prometheus base URL, e.g. http://prometheus.monitoring:9090. Defaults to the squad's delivery.prometheus.address.",
      ),
    query: z
      .string()
      .min(1)
      .describe(
        "PromQL instant query returning one number. Template variables {{namespace}} {{release}} {{revision}} {{stableRevision}} {{canaryRevision}} {{version}} {{interval}} are substituted, escaped for PromQL string literals.",
      ),
  })
  .describe("A Prometheus instant query.");

export const thresholdRange = z
  .object({
    min: z.number().optional().describe("The value must be at least this."),
    max: z.number().optional().describe("The value must be at most this."),
  })
  .refine((r) => r.min !== undefined || r.max !== undefined, "thresholdRange needs min or max")
  .meta({
    description: "Passes when min <= value <= max.",
    "x-kubernetes-validations": [
      { rule: "has(self.min) || has(self.max)", message: "thresholdRange needs min or max" },
    ],
  });

export const compareToStable = z
  .object({
    maxIncrease: z
      .number()
      .min(0)
      .optional()
      .describe("Fails when canary value minus stable value exceeds this (absolute, in the query's unit)."),
    maxRatio: z
      .number()
      .min(0)
      .optional()
      .describe("Fails when canary value divided by stable value exceeds this (e.g. 1.2 = 20% worse)."),
  })
  .refine(
    (c) => c.maxIncrease !== undefined || c.maxRatio !== undefined,
    "compareToStable needs maxIncrease or maxRatio",
  )
  .meta({
    description:
      "Judges the canary against the live stable revision: the query runs for both revisions ({{revision}} is each in turn).",
    "x-kubernetes-validations": [
      {
        rule: "has(self.maxIncrease) || has(self.maxRatio)",
        message: "compareToStable needs maxIncrease or maxRatio",
      },
    ],
  });

export const analysisMetric = z
  .object({
    name: metricName.describe("Name of the metric, unique within the Release."),
    prometheus: prometheusQuery,
    interval: analysisInterval
      .optional()
      .describe("How often to measure (1s to 1h); defaults to analysis.interval."),
    thresholdRange: thresholdRange.optional(),
    compareToStable: compareToStable.optional(),
    failureLimit: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe("Failed measurements tolerated; one more fails the analysis."),
    inconclusiveLimit: z
      .number()
      .int()
      .min(0)
      .default(3)
      .describe(
        "Consecutive inconclusive measurements tolerated; one more pauses the Release (InconclusiveAnalysis).",
      ),
    onNoData: z
      .enum(["Inconclusive", "Fail", "Pass"])
      .default("Inconclusive")
      .describe("How an empty result, NaN or a missing series is judged."),
    minSamples: z
      .number()
      .int()
      .min(1)
      .optional()
      .describe("Successful measurements needed before an analysis step may pass (default 1)."),
  })
  .refine((m) => (m.thresholdRange === undefined) !== (m.compareToStable === undefined), {
    message: "a metric needs exactly one of thresholdRange or compareToStable",
  })
  .meta({
    description: "A metric judged during analysis.",
    "x-kubernetes-validations": [
      {
        rule: "has(self.thresholdRange) != has(self.compareToStable)",
        message: "a metric needs exactly one of thresholdRange or compareToStable",
      },
    ],
  });
export type AnalysisMetric = z.infer<typeof analysisMetric>;

export const analysisMetrics = z
  .array(analysisMetric)
  .max(20)
  .meta({
    description: "Metrics to judge.",
    "x-kubernetes-list-type": "map",
    "x-kubernetes-list-map-keys": ["name"],
  });
