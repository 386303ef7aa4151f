/**
 * The Release spec as the controller acts on it: the squad's delivery defaults merged in, then
 * validated by zod and by what only the controller can check (Gateway API served, every
 * analysis measurable), or the reason it cannot be acted on. No I/O: the reconciler passes in
 * what it read, and measurability is checked by a dry run against a provider that does none.
 */
import type { AnalysisMetric } from "../../api/analysis.js";
import { releaseSpec, type ReleaseSpec } from "../../api/release.js";
import { stagesOf } from "../../api/release-stages.js";
import { parseDuration } from "../../api/common.js";
import type { SquadSpec } from "../../api/squad.js";
import {
  AnalysisSpecError,
  measure,
  type MeasureContext,
  type MetricProvider,
} from "../../analysis/index.js";
import { zodMessage } from "../../api/zod-message.js";
import {
  refusedAddressesMessage,
  refusedPrometheusAddresses,
  type PrometheusAllowlist,
} from "../../analysis/allowlist.js";
import { isRecord } from "../../runtime/is-record.js";

const DEFAULT_ANALYSIS_INTERVAL = "30s";

/** What measuring needs besides the status: the metrics by name and the defaults. */
export interface AnalysisSetup {
  metrics: readonly AnalysisMetric[];
  defaultAddress?: string;
  defaultInterval: string;
}

/** Why a Release cannot be acted on: the `Stalled` condition's reason and message. */
export interface SpecProblem {
  reason: "InvalidSpec" | "GatewayAPIUnavailable" | "PrometheusAddressNotAllowed";
  message: string;
}

/** A spec the controller can act on, with what measuring it needs. */
export interface CheckedSpec {
  spec: ReleaseSpec;
  setup: AnalysisSetup;
}

/**
 * The spec with the squad's defaults, validated: by zod, then what only the controller can
 * check (Gateway API present, every Prometheus address allowed, analysis measurable). Or why
 * the Release cannot be acted on. `gatewayAPI`: whether HTTPRoutes are watched (the CRD was
 * installed at start-up); `allowlist`: the Prometheus addresses the platform allows, besides the
 * squad's own.
 */
export async function checkSpec(
  raw: unknown,
  squad: SquadSpec | undefined,
  options: {
    gatewayAPI: boolean;
    allowlist: PrometheusAllowlist;
    target: { namespace: string; release: string };
  },
): Promise<SpecProblem | CheckedSpec> {
  const parsed = releaseSpec.safeParse(withSquadDefaults(raw ?? {}, squad));
  if (!parsed.success) return { reason: "InvalidSpec", message: zodMessage(parsed.error) };
  const spec = parsed.data;

  if (spec.strategy.canary?.trafficRouting?.gatewayAPI && !options.gatewayAPI) {
    return {
      reason: "GatewayAPIUnavailable",
      message:
        "spec.strategy.canary.trafficRouting.gatewayAPI is set, but the HTTPRoute CRD (gateway.networking.k8s.io) was not installed when the operator started: install Gateway API and restart the operator",
    };
  }
  const setup: AnalysisSetup = {
    metrics: spec.analysis?.metrics ?? [],
    defaultInterval: analysisIntervalOf(spec, squad),
    defaultAddress: squad?.delivery?.prometheus?.address,
  };
  const specError =
    (await analysisSpecError(spec, setup, options.target)) ?? postPromotionWindowError(spec, setup);
  if (specError) return { reason: "InvalidSpec", message: specError };
  // Before anything can measure (the dry run above asks no one): a Release naming an address
  // the platform did not allow is never acted on, so no request ever reaches that address.
  const refused = refusedPrometheusAddresses(spec.analysis?.metrics ?? [], squad, options.allowlist);
  if (refused.length > 0) {
    return { reason: "PrometheusAddressNotAllowed", message: refusedAddressesMessage(refused) };
  }
  return { spec, setup };
}

/**
 * The Squad's delivery metrics merged into a Release spec before it is validated: they are added
 * to `analysis.metrics` (a Release's own metric of the same name wins). The interval is not
 * merged but resolved after validation (`analysisIntervalOf`), and the Prometheus address is the
 * measurement's fallback (`MeasureContext.defaultAddress`).
 */
export function withSquadDefaults(spec: unknown, squad: SquadSpec | undefined): unknown {
  const delivery = squad?.delivery;
  if (!delivery || !isRecord(spec)) return spec;
  const analysis = isRecord(spec["analysis"]) ? spec["analysis"] : undefined;
  const own = Array.isArray(analysis?.["metrics"]) ? (analysis["metrics"] as unknown[]) : [];
  const names = new Set(own.map((m) => (isRecord(m) ? m["name"] : undefined)));
  const extra = (delivery.metrics ?? []).filter((m) => !names.has(m.name));
  if (extra.length === 0) return spec;
  return { ...spec, analysis: { ...analysis, metrics: [...own, ...extra] } };
}

/**
 * The default time between measurements: the Release's `analysis.interval`, else the squad's
 * `delivery.analysisInterval`, else 30s. The CRD defaults no interval, so an unset one reaches
 * the controller unset and the squad's default can apply.
 */
export function analysisIntervalOf(spec: ReleaseSpec, squad: SquadSpec | undefined): string {
  return spec.analysis?.interval ?? squad?.delivery?.analysisInterval ?? DEFAULT_ANALYSIS_INTERVAL;
}

/** Metrics named by `names`, in spec order; all of them when `names` is absent. */
export function metricsNamed(
  metrics: readonly AnalysisMetric[],
  names: readonly string[] | undefined,
): AnalysisMetric[] {
  return names === undefined ? [...metrics] : metrics.filter((m) => names.includes(m.name));
}

const DRY_RUN_PROVIDER: MetricProvider = {
  query: () => Promise.resolve({ kind: "error", reason: "dry run" }),
};
const NEVER_ABORTED = new AbortController().signal;

/**
 * Spec errors that only show when measuring: an analysis naming a metric that does not exist
 * (judging it on nothing would pass it), a query template that does not render, a metric with
 * no Prometheus address. Found by a dry run of `measure` against a provider that does no I/O,
 * so the rules stay in one place; only metrics some analysis of the spec uses are checked.
 */
export async function analysisSpecError(
  spec: ReleaseSpec,
  setup: AnalysisSetup,
  target: { namespace: string; release: string },
): Promise<string | undefined> {
  const known = new Set(setup.metrics.map((m) => m.name));
  const used = new Set<string>();
  const lists: { field: string; names?: string[] }[] = [];
  stagesOf(spec).forEach((stage, i) => {
    if (stage.kind !== "analysis") return;
    const field = spec.strategy.blueGreen ? "analysis" : `strategy.canary.steps[${i}].analysis.metrics`;
    lists.push({ field, ...(stage.metrics ? { names: stage.metrics } : {}) });
  });
  const background = spec.strategy.canary?.backgroundAnalysis;
  if (background) {
    lists.push({
      field: "strategy.canary.backgroundAnalysis.metrics",
      ...(background.metrics ? { names: background.metrics } : {}),
    });
  }
  const pp = spec.strategy.canary?.postPromotion ?? spec.strategy.blueGreen?.postPromotion;
  if (pp) {
    const strategy = spec.strategy.canary ? "canary" : "blueGreen";
    lists.push({ field: `strategy.${strategy}.postPromotion.analysis`, names: pp.analysis });
  }
  for (const { field, names } of lists) {
    for (const name of names ?? known) {
      if (!known.has(name)) {
        return `spec.${field}: ${name} is not defined in spec.analysis.metrics or the squad's delivery.metrics`;
      }
      used.add(name);
    }
  }
  const ref = { revision: "dry-run", version: "dry-run" };
  for (const metric of setup.metrics.filter((m) => used.has(m.name))) {
    try {
      await measure(metric, {
        ...measureDefaults(setup),
        ...target,
        providerFor: () => DRY_RUN_PROVIDER,
        canary: ref,
        stable: ref,
        signal: NEVER_ABORTED,
        now: 0,
      });
    } catch (err) {
      if (err instanceof AnalysisSpecError) return `spec.analysis.metrics: ${err.message}`;
      throw err;
    }
  }
  return undefined;
}

/**
 * A post-promotion window too short for a metric it names to reach `minSamples` measurements
 * (`minSamples` × its interval): every window would end `Unverified`, a Warning after each
 * promotion that proves nothing, so it is refused before the first rollout instead.
 */
export function postPromotionWindowError(spec: ReleaseSpec, setup: AnalysisSetup): string | undefined {
  const strategy = spec.strategy.canary ? "canary" : "blueGreen";
  const pp = spec.strategy.canary?.postPromotion ?? spec.strategy.blueGreen?.postPromotion;
  if (!pp) return undefined;
  const windowMs = parseDuration(pp.duration);
  for (const m of metricsNamed(setup.metrics, pp.analysis)) {
    const interval = m.interval ?? setup.defaultInterval;
    const samples = m.minSamples ?? 1;
    if (windowMs < samples * parseDuration(interval)) {
      return `spec.strategy.${strategy}.postPromotion.duration: ${pp.duration} is too short for ${m.name} to be verified (minSamples ${samples} × interval ${interval}): every window would end Unverified`;
    }
  }
  return undefined;
}

export function measureDefaults(
  setup: AnalysisSetup,
): Pick<MeasureContext, "defaultAddress" | "defaultInterval"> {
  return { defaultInterval: setup.defaultInterval, defaultAddress: setup.defaultAddress };
}
