/**
 * `node --import tsx hack/bench/ofrep-serve.ts [--port P] [--sets 1,100,1000] [--no-insight]`
 *
 * The operator's OFREP server alone, without a control plane: bench:ofrep's flag sets compiled
 * as the controller compiles them, served by the same handler with the same authorizer (the
 * static token from $OFREP_TOKEN, `--ofrep-auth=token`), the same evaluation metrics and the
 * same evaluation insight as `main.ts` wires them. For what a cluster would only blur:
 * - a CPU profile under load: `node --cpu-prof --import tsx hack/bench/ofrep-serve.ts`, loaded
 *   with wrk and hack/bench/ofrep/wrk.lua, stopped with SIGTERM (the profile is written on exit);
 * - the cost of evaluation insight: `--no-insight` serves without counting, so the same load
 *   with and without it gives its price (issue #18).
 * Prints `listening <port>` once serving. A tool for measuring, not a test.
 */
import { parseArgs } from "node:util";
import { featureToggleSpec } from "../../operator/src/api/featuretoggle.js";
import type { FeatureToggle } from "../../operator/src/api/kinds.js";
import { evaluationInsight } from "../../operator/src/controllers/featuretoggle/insight.js";
import { evaluationMetrics } from "../../operator/src/controllers/featuretoggle/metrics.js";
import { compileDocument } from "../../operator/src/flags/compile.js";
import { documentEtag } from "../../operator/src/flags/document.js";
import type { PublishedDocument } from "../../operator/src/flags/evaluate.js";
import { createOfrepAuthorizer } from "../../operator/src/flags/ofrep-auth.js";
import { createOfrepServer } from "../../operator/src/flags/ofrep.js";
import { flagSet, toggleSpec } from "./ofrep-flags.js";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "0" },
    sets: { type: "string", default: "1,100,1000" },
    "no-insight": { type: "boolean", default: false },
  },
});

/** One namespace's document, compiled from the toggles bench:ofrep creates. */
function publish(flags: number): [string, PublishedDocument] {
  const set = flagSet(flags);
  const entries = set.keys.map((key, i) => ({
    toggle: {
      apiVersion: "crescendo.dev/v1alpha1",
      kind: "FeatureToggle",
      metadata: {
        name: key,
        namespace: set.namespace,
        creationTimestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
      },
      spec: featureToggleSpec.parse(toggleSpec(set, i)),
    } as FeatureToggle,
    killed: false,
  }));
  const doc = compileDocument(set.namespace, entries).document;
  return [set.namespace, { doc, etag: documentEtag(doc) }];
}

const documents = new Map(values.sets.split(",").map((n) => publish(Number(n))));
const token = process.env.OFREP_TOKEN;
if (!token) throw new Error("set OFREP_TOKEN: the server requires a bearer token, as bench:ofrep runs it");

const server = createOfrepServer({
  source: { document: (namespace) => documents.get(namespace) },
  port: Number(values.port),
  host: "127.0.0.1",
  authorize: createOfrepAuthorizer({
    mode: "token",
    staticToken: () => token,
    staticTokenNamespaces: "*",
    squadOwning: () => undefined,
  }),
  metrics: evaluationMetrics,
  ...(values["no-insight"]
    ? {}
    : {
        onEvaluated: (namespace: string, key: string, variant: string, caller: string | undefined) =>
          evaluationInsight.record(namespace, key, variant, caller),
      }),
});
const address = await server.listen();
console.log(`listening ${address.port}`);
for (const signal of ["SIGTERM", "SIGINT"] as const)
  process.once(signal, () => void server.close().then(() => process.exit(0)));
