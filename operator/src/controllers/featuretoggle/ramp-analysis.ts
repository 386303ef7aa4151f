/**
 * Measuring a toggle's ramp with the Releases' analysis engine: the metrics of
 * `spec.rollout.analysis`, checked as a Release's are and in the same order (every metric an
 * analysis step names defined, every query renderable, then the platform's Prometheus allowlist), and measured with the
 * toggle's own template variables. `compareToStable` compares the users on the rollout variant
 * with the users on the default variant: the query runs once with `{{variant}}` bound to each.
 */
import type { AnalysisMetric } from "../../api/analysis.js";
import type { FeatureToggleSpec } from "../../api/featuretoggle.js";
import type { SquadSpec } from "../../api/squad.js";
import { TOGGLE_TEMPLATE_VARIABLES } from "../../api/toggle-rollout.js";
import {
  refusedAddressesMessage,
  refusedPrometheusAddresses,
  type PrometheusAllowlist,
} from "../../analysis/allowlist.js";
import {
  AnalysisSpecError,
  measureSubjects,
  QueryTemplateError,
  renderSubjects,
  type MeasureIO,
  type QuerySubjects,
} from "../../analysis/index.js";
import type { Measurement } from "../../api/release.js";
import { rampStages } from "./ramp.js";

const DEFAULT_ANALYSIS_INTERVAL = "30s";

/** What measuring a ramp needs besides its status. */
export interface RampSetup {
  metrics: readonly AnalysisMetric[];
  defaultInterval: string;
  defaultAddress?: string;
}

/** Why a ramp cannot be acted on: the Stalled condition's reason and message. */
export interface RampProblem {
  reason: "InvalidSpec" | "PrometheusAddressNotAllowed";
  message: string;
}

/** Who is measured: the toggle, its flag key and the two variants compared. */
export interface RampTarget {
  namespace: string;
  toggle: string;
  flag: string;
  variant: string;
  defaultVariant: string;
}

/**
 * The ramp's analysis setup, or why it cannot run. The squad's `delivery` gives the default
 * Prometheus address and interval (its addresses are allowed, as for its Releases); its default
 * metrics are not added, since they are written for Releases' `{{revision}}`.
 */
export function checkRamp(
  spec: Pick<FeatureToggleSpec, "rollout" | "defaultVariant">,
  squad: SquadSpec | undefined,
  allowlist: PrometheusAllowlist,
  target: RampTarget,
): RampProblem | RampSetup {
  const metrics = spec.rollout?.analysis?.metrics ?? [];
  const known = new Set(metrics.map((m) => m.name));
  const used = new Set<string>();
  for (const [index, stage] of rampStages(spec).entries()) {
    if (stage.kind !== "analysis") continue;
    for (const name of stage.metrics ?? known) {
      if (!known.has(name)) {
        return {
          reason: "InvalidSpec",
          message: `spec.rollout.steps[${index}].analysis.metrics: ${name} is not defined in spec.rollout.analysis.metrics`,
        };
      }
      used.add(name);
    }
  }
  const setup: RampSetup = {
    metrics,
    defaultInterval:
      spec.rollout?.analysis?.interval ?? squad?.delivery?.analysisInterval ?? DEFAULT_ANALYSIS_INTERVAL,
    ...(squad?.delivery?.prometheus ? { defaultAddress: squad.delivery.prometheus.address } : {}),
  };
  for (const metric of metrics.filter((m) => used.has(m.name))) {
    const problem = dryRun(metric, setup, target);
    if (problem) return { reason: "InvalidSpec", message: `spec.rollout.analysis.metrics: ${problem}` };
  }
  // As for Releases, the spec's own errors come first (the checks above ask no one), so a squad
  // fixing its toggle is told what to fix before whether the platform allows the address. And
  // before anything measures: an address the platform did not allow is never asked.
  const refused = refusedPrometheusAddresses(metrics, squad, allowlist).map((r) => ({
    ...r,
    field: r.field.replace(/^spec\.analysis\./, "spec.rollout.analysis."),
  }));
  if (refused.length > 0)
    return { reason: "PrometheusAddressNotAllowed", message: refusedAddressesMessage(refused) };
  return setup;
}

/** Measures `metric` once for the ramp: the rollout variant's users, and for compareToStable the default variant's. */
export function measureRamp(
  metric: AnalysisMetric,
  setup: RampSetup,
  target: RampTarget,
  io: Omit<MeasureIO, "defaultAddress">,
): Promise<Measurement> {
  const defaults = setup.defaultAddress ? { defaultAddress: setup.defaultAddress } : {};
  return measureSubjects(metric, { ...io, ...defaults }, subjects(metric, setup, target));
}

function subjects(metric: AnalysisMetric, setup: RampSetup, target: RampTarget): QuerySubjects {
  const vars = (variant: string) => ({
    namespace: target.namespace,
    toggle: target.toggle,
    flag: target.flag,
    variant,
    interval: metric.interval ?? setup.defaultInterval,
  });
  return {
    canary: vars(target.variant),
    stable: vars(target.defaultVariant),
    known: TOGGLE_TEMPLATE_VARIABLES,
    compared: ["variant"],
    comparedHint: "{{variant}}",
    comparedWhat: "the rollout variant's users and the default variant's",
  };
}

/** Spec errors that only show when measuring, found by the code that renders the queries. */
function dryRun(metric: AnalysisMetric, setup: RampSetup, target: RampTarget): string | undefined {
  try {
    renderSubjects(metric, subjects(metric, setup, target), setup.defaultAddress);
    return undefined;
  } catch (err) {
    if (err instanceof AnalysisSpecError || err instanceof QueryTemplateError) return err.message;
    throw err;
  }
}
