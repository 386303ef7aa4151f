/**
 * `npm run bench:apply [-- MODULE]`
 *
 * Bytes allocated and time per call of compare-before-write (`runtime/apply.ts`) when nothing
 * changed, the path every reconcile of every object takes. Garbage there is what made the
 * operator's heap (and RSS) grow far beyond its live data during a large rollout. Objects are
 * realistic: a Deployment as the apiserver stores it (defaults, managedFields, status), a
 * ConfigMap holding a 50 KB flag document, a Squad status listing 100 Releases.
 *
 * Bytes are heapUsed deltas over batches of calls started right after a full GC; the young
 * generation is made large enough that no scavenge runs inside a batch. MODULE (default: the
 * repository's apply.ts) lets an older copy be measured the same way. A benchmark prints
 * figures; it asserts nothing and is not part of CI.
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { SquadResource } from "../../operator/src/api/kinds.js";
import type * as ApplyModule from "../../operator/src/runtime/apply.js";
import { isRecord } from "../../operator/src/runtime/is-record.js";
import { ConfigMapResource, DeploymentResource } from "../../operator/src/runtime/resources.js";
import type { KubeObject } from "../../operator/src/runtime/types.js";
import { parseFlags } from "./args.js";

type Apply = typeof ApplyModule;

const CALLS = 10_000;
const BATCH = 10;

const USAGE = `Usage: npm run bench:apply [-- MODULE]
  MODULE   the compare-before-write module to measure (default operator/src/runtime/apply.ts),
           e.g. an older copy of it`;

const { positionals } = parseFlags(process.argv.slice(2), USAGE, {}, true);
const modulePath = resolve(positionals[0] ?? "operator/src/runtime/apply.ts");
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  console.error("Run with node --expose-gc --min-semi-space-size=64 --max-semi-space-size=64 --import tsx");
  process.exit(2);
}

const apply = (await import(pathToFileURL(modulePath).href)) as Apply;

const labels = {
  "app.kubernetes.io/name": "checkout",
  "app.kubernetes.io/managed-by": "crescendo",
  "crescendo.dev/release": "checkout",
};

const deployment: KubeObject = {
  metadata: {
    name: "checkout-canary",
    namespace: "team-a",
    labels,
    ownerReferences: [
      {
        apiVersion: "crescendo.dev/v1alpha1",
        kind: "Release",
        name: "checkout",
        uid: "u1",
        controller: true,
      },
    ],
  },
  spec: {
    replicas: 3,
    selector: { matchLabels: labels },
    template: {
      metadata: { labels, annotations: { "crescendo.dev/revision": "7f3a9c" } },
      spec: {
        containers: [
          {
            name: "app",
            image: "registry.example.com/checkout:1.42.0",
            ports: [{ name: "http", containerPort: 8080 }],
            env: Array.from({ length: 8 }, (_, i) => ({ name: `ENV_${i}`, value: `value-${i}` })),
            resources: { requests: { cpu: "250m", memory: "256Mi" }, limits: { cpu: "1", memory: "512Mi" } },
            readinessProbe: { httpGet: { path: "/ready", port: "http" }, periodSeconds: 5 },
          },
        ],
      },
    },
  },
};

const flagDocument = JSON.stringify(
  Object.fromEntries(
    Array.from({ length: 400 }, (_, i) => [
      `flag-${i}`,
      { state: "ENABLED", variants: { on: true, off: false }, defaultVariant: i % 2 ? "on" : "off" },
    ]),
  ),
).padEnd(50_000, " ");
const configMap: KubeObject = {
  metadata: { name: "flags", namespace: "team-a", labels },
  data: { flags: flagDocument },
};

/** What the operator sends, as the apply client receives it. */
async function sent(desired: KubeObject, res: typeof ConfigMapResource): Promise<KubeObject> {
  let body: KubeObject | undefined;
  const client = { apply: async <T extends KubeObject>(obj: T) => ((body = obj), obj) };
  await apply.applyIfChanged(client, desired, res);
  return body!;
}

/** `base` with `extra` laid over it: objects merged by key, arrays by index. */
function merged(base: unknown, extra: unknown): unknown {
  if (Array.isArray(base) && Array.isArray(extra)) return base.map((b, i) => merged(b, extra[i]));
  if (isRecord(base) && isRecord(extra)) {
    const out = { ...base };
    for (const [key, value] of Object.entries(extra)) out[key] = merged(base[key], value);
    return out;
  }
  return extra === undefined ? base : extra;
}

/** As the informer sees `obj` once the apiserver stored it: with `added`, decoded from JSON. */
function stored(obj: KubeObject, added: object = {}): KubeObject {
  const server = {
    metadata: {
      uid: "u2",
      resourceVersion: "12345",
      generation: 4,
      creationTimestamp: "2024-01-01T00:00:00Z",
      managedFields: [
        { manager: "crescendo", operation: "Apply", fieldsType: "FieldsV1", fieldsV1: { "f:spec": {} } },
      ],
    },
  };
  return JSON.parse(JSON.stringify(merged(merged(obj, server), added))) as KubeObject;
}

const sentDeployment = await sent(deployment, DeploymentResource);
const observedDeployment = stored(sentDeployment, {
  spec: {
    revisionHistoryLimit: 10,
    progressDeadlineSeconds: 600,
    template: {
      spec: {
        restartPolicy: "Always",
        dnsPolicy: "ClusterFirst",
        securityContext: {},
        containers: [{ imagePullPolicy: "IfNotPresent", terminationMessagePath: "/dev/termination-log" }],
      },
    },
  },
  status: { observedGeneration: 4, replicas: 3, readyReplicas: 3, conditions: [{ type: "Available" }] },
});
const sentConfigMap = await sent(configMap, ConfigMapResource);
const observedConfigMap = stored(sentConfigMap);

const releases = Array.from({ length: 100 }, (_, i) => ({
  name: `release-${i}`,
  phase: "Healthy",
  revision: `rev-${i}`,
  message: `release-${i} is healthy at revision rev-${i}`,
  lastTransitionTime: "2024-01-01T00:00:00Z",
}));
const squad = stored({
  metadata: { name: "team-a", namespace: "team-a" },
  status: { observedGeneration: 3, conditions: [{ type: "Ready", status: "True" }], releases },
});
/** What a reconciler computes: a fresh object, keys in another order, an undefined member. */
const squadStatus = {
  releases: releases.map((r) => ({ ...r, stableRevision: undefined })),
  conditions: [{ status: "True", type: "Ready" }],
  observedGeneration: 3,
};

if (
  !apply.containsDesired(sentDeployment, observedDeployment) ||
  !apply.containsDesired(sentConfigMap, observedConfigMap)
) {
  throw new Error("the observed objects must contain the desired ones");
}

const noWrites = {
  apply: () => Promise.reject(new Error("unexpected apply")),
  mergePatch: () => Promise.reject(new Error("unexpected status patch")),
};

const cases: [string, () => unknown][] = [
  ["containsDesired Deployment", () => apply.containsDesired(sentDeployment, observedDeployment)],
  ["containsDesired ConfigMap 50 KB", () => apply.containsDesired(sentConfigMap, observedConfigMap)],
  [
    "applyIfChanged Deployment",
    () => apply.applyIfChanged(noWrites, deployment, DeploymentResource, observedDeployment),
  ],
  [
    "applyIfChanged ConfigMap 50 KB",
    () => apply.applyIfChanged(noWrites, configMap, ConfigMapResource, observedConfigMap),
  ],
  [
    "applyStatusIfChanged 100 Releases",
    () => apply.applyStatusIfChanged(noWrites, squad, SquadResource, squadStatus),
  ],
];

async function bytesPerCall(fn: () => unknown): Promise<number> {
  let total = 0;
  for (let done = 0; done < CALLS; done += BATCH) {
    gc!();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < BATCH; i++) await fn();
    const delta = process.memoryUsage().heapUsed - before;
    if (delta < 0) throw new Error("a GC ran inside a batch: run with a larger --min-semi-space-size");
    total += delta;
  }
  return total / CALLS;
}

async function microsPerCall(fn: () => unknown): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < CALLS; i++) await fn();
  return ((performance.now() - start) * 1000) / CALLS;
}

const baseline = await bytesPerCall(() => undefined);
console.log(`${modulePath}: ${CALLS} calls each, nothing changed`);
for (const [name, fn] of cases) {
  for (let i = 0; i < 5_000; i++) await fn(); // optimised code, not the interpreter, is measured
  const bytes = Math.max(0, (await bytesPerCall(fn)) - baseline);
  const micros = await microsPerCall(fn);
  console.log(
    `${name.padEnd(36)}${bytes.toFixed(0).padStart(9)} B/call${micros.toFixed(1).padStart(9)} µs/call`,
  );
}
