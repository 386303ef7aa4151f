/**
 * The process's evaluation insight (`flags/insight.ts`): one counter shared by the OFREP server
 * (which records), the flag documents (which drop the counts of flags no longer served) and the
 * FeatureToggle reconciler (which summarises them into status), and its metric.
 *
 * `crescendo_featuretoggle_variant_evaluations_total{namespace,flag,variant}` is read from the
 * counter when Prometheus scrapes (a `collect` hook), so evaluations touch no prom-client code.
 * Its cardinality is bounded by the toggles people created: flags come from served documents
 * (and go with them), variants are capped per flag, and there is no caller label.
 */
import { Counter } from "prom-client";
import { EvaluationInsight } from "../../flags/insight.js";
import { registry } from "../../observability/metrics.js";

/** One instance per process, like the registry it reports to. */
export const evaluationInsight = new EvaluationInsight();

const NAME = "crescendo_featuretoggle_variant_evaluations_total";

if (!registry.getSingleMetric(NAME)) {
  new Counter({
    name: NAME,
    help: "Flag evaluations served over OFREP by this replica since it started, by namespace, flag key and variant.",
    labelNames: ["namespace", "flag", "variant"] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const { namespace, flag, variant, count } of evaluationInsight.totals())
        this.inc({ namespace, flag, variant }, count);
    },
  });
}
