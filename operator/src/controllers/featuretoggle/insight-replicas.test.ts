import { describe, expect, it } from "vitest";
import { EvaluationInsight, HOUR_MS, summarise, WINDOW_MS, type FlagReport } from "../../flags/insight.js";
import { Store } from "../../runtime/store.js";
import type { KubeObject } from "../../runtime/types.js";
import {
  abandoned,
  INSIGHT_REPLICA_LABEL,
  insightConfigMap,
  insightConfigMapName,
  namespacesReported,
  publish,
  PUBLISHED_AT_ANNOTATION,
  readInsightConfigMap,
  ReplicaInsight,
} from "./insight-replicas.js";

const NOW = Date.UTC(2026, 11, 3, 10, 30);
const OPERATOR_NS = "crescendo-system";

/** A replica's counter that served `n` evaluations of `namespace/key` with `variant` at NOW. */
function counter(
  evaluations: [namespace: string, key: string, variant: string, n: number, caller?: string][],
) {
  const insight = new EvaluationInsight(() => NOW);
  for (const [namespace, key, variant, n, caller] of evaluations)
    for (let i = 0; i < n; i++) insight.record(namespace, key, variant, caller);
  return insight;
}

function store(...objects: KubeObject[]): Store<KubeObject> {
  const s = new Store<KubeObject>();
  for (const o of objects) s.upsert(o);
  return s;
}

const published = (identity: string, insight: EvaluationInsight, rv = "1", at = NOW): KubeObject => {
  const cm = insightConfigMap(identity, OPERATOR_NS, insight.reportAll(), at);
  return { ...cm, metadata: { ...cm.metadata, resourceVersion: rv } };
};

describe("insightConfigMapName", () => {
  it("makes a valid object name of any identity", () => {
    expect(insightConfigMapName("crescendo-7d9f-abcde")).toBe("crescendo-insight-crescendo-7d9f-abcde");
    expect(insightConfigMapName("Host_Name-123")).toBe("crescendo-insight-host-name-123");
    expect(insightConfigMapName("x".repeat(400))).toHaveLength(253);
  });
});

describe("insightConfigMap / readInsightConfigMap", () => {
  it("round-trips every flag's report, labelled as a replica's, managed by crescendo", () => {
    const local = counter([
      ["shop", "dark-mode", "on", 3, "system:serviceaccount:shop:web"],
      ["pay", "new-checkout", "off", 2],
    ]);
    const cm = published("pod-a", local);
    expect(cm.metadata).toMatchObject({
      name: "crescendo-insight-pod-a",
      namespace: OPERATOR_NS,
      labels: { "app.kubernetes.io/managed-by": "crescendo", [INSIGHT_REPLICA_LABEL]: "pod-a" },
      annotations: { [PUBLISHED_AT_ANNOTATION]: String(NOW) },
    });
    const read = readInsightConfigMap(cm);
    expect(read?.get("shop/dark-mode")).toEqual(local.report("shop", "dark-mode"));
    expect(read?.get("pay/new-checkout")).toEqual(local.report("pay", "new-checkout"));
    expect(namespacesReported(cm).sort()).toEqual(["pay", "shop"]);
  });

  it("keeps the most recently evaluated flags when the reports would not fit, and says so", () => {
    const reports = new Map<string, FlagReport>();
    for (let i = 0; i < 20_000; i++) {
      const callers = Object.fromEntries(
        Array.from({ length: 5 }, (_, c) => [`system:serviceaccount:ns:app-${c}`, NOW]),
      );
      reports.set(`ns/flag-${i}`, {
        lastEvaluatedAt: NOW - i,
        hours: { [NOW / HOUR_MS]: { on: i } },
        callers,
      });
    }
    const cm = insightConfigMap("pod-a", OPERATOR_NS, reports, NOW);
    const data = (cm["data"] as Record<string, string>)["reports.json"]!;
    expect(data.length).toBeLessThanOrEqual(900_000);
    const read = readInsightConfigMap(cm)!;
    const truncated = Number(cm.metadata.annotations?.["crescendo.dev/insight-truncated"]);
    expect(read.size + truncated).toBe(20_000);
    expect(read.has("ns/flag-0")).toBe(true); // the newest stays
    expect(read.has("ns/flag-19999")).toBe(false); // the oldest goes
  });

  it("reads nothing from a ConfigMap that is not a replica's or holds garbage", () => {
    const base = published("pod-a", counter([["shop", "f", "on", 1]]));
    expect(readInsightConfigMap({ ...base, metadata: { ...base.metadata, labels: {} } })).toBeUndefined();
    expect(readInsightConfigMap({ ...base, data: { "reports.json": "{not json" } })).toBeUndefined();
    expect(readInsightConfigMap({ ...base, data: { "reports.json": "[1,2]" } })).toBeUndefined();
    const mixed = readInsightConfigMap({
      ...base,
      data: {
        "reports.json": JSON.stringify({
          "shop/ok": { lastEvaluatedAt: NOW, hours: {}, callers: {} },
          "shop/bad-hours": { lastEvaluatedAt: NOW, hours: { "1": { on: "many" } }, callers: {} },
          "shop/no-time": { hours: {}, callers: {} },
        }),
      },
    });
    expect([...(mixed?.keys() ?? [])]).toEqual(["shop/ok"]);
  });
});

describe("ReplicaInsight", () => {
  it("merges its own counter with every other replica's published counts", () => {
    const self = { identity: "pod-a", namespace: OPERATOR_NS };
    const a = counter([["shop", "dark-mode", "on", 2, "system:serviceaccount:shop:web"]]);
    const b = counter([["shop", "dark-mode", "off", 5, "system:serviceaccount:shop:worker"]]);
    const c = counter([["shop", "dark-mode", "on", 1]]);
    const configMaps = store(
      published("pod-a", counter([["shop", "dark-mode", "on", 1000]])), // its own, stale: the counter wins
      published("pod-b", b),
      published("pod-c", c),
      { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "crescendo-flags", namespace: OPERATOR_NS } },
    );
    const insight = new ReplicaInsight(a, configMaps, self);
    const summary = summarise(insight.reports("shop", "dark-mode"), NOW);
    expect(summary.byVariant).toEqual({ on: 3, off: 5 });
    expect(summary.callers).toEqual(["system:serviceaccount:shop:web", "system:serviceaccount:shop:worker"]);
    expect(summarise(insight.reports("shop", "unknown"), NOW).byVariant).toEqual({});
  });

  it("follows a replica's new version and forgets one whose ConfigMap is gone", () => {
    const configMaps = store(published("pod-b", counter([["shop", "f", "on", 1]]), "1"));
    const insight = new ReplicaInsight(new EvaluationInsight(() => NOW), configMaps, {
      identity: "pod-a",
      namespace: OPERATOR_NS,
    });
    expect(summarise(insight.reports("shop", "f"), NOW).byVariant).toEqual({ on: 1 });
    configMaps.upsert(published("pod-b", counter([["shop", "f", "on", 4]]), "2"));
    expect(summarise(insight.reports("shop", "f"), NOW).byVariant).toEqual({ on: 4 });
    configMaps.delete(published("pod-b", counter([]), "3"));
    expect(summarise(insight.reports("shop", "f"), NOW).byVariant).toEqual({});
  });
});

describe("publish", () => {
  function client() {
    const calls: { verb: string; name: string }[] = [];
    return {
      calls,
      apply: async <T extends KubeObject>(obj: T) => {
        calls.push({ verb: "apply", name: obj.metadata.name ?? "" });
        return obj;
      },
      delete: async (_res: unknown, name: string) => {
        calls.push({ verb: "delete", name });
        return true;
      },
    };
  }
  const self = { identity: "pod-a", namespace: OPERATOR_NS };

  it("writes this replica's counts, and nothing while they have not changed", async () => {
    const local = counter([["shop", "f", "on", 2]]);
    const c = client();
    await publish(c, store(), local, self, NOW);
    expect(c.calls).toEqual([{ verb: "apply", name: "crescendo-insight-pod-a" }]);
    const again = client();
    await publish(again, store(published("pod-a", local, "1", NOW)), local, self, NOW + 60_000);
    expect(again.calls).toEqual([]);
    local.record("shop", "f", "on");
    await publish(
      again,
      store(published("pod-a", counter([["shop", "f", "on", 2]]), "1", NOW)),
      local,
      self,
      NOW,
    );
    expect(again.calls).toEqual([{ verb: "apply", name: "crescendo-insight-pod-a" }]);
  });

  it("refreshes an unchanged publication after half a day, so it is not taken for a gone replica", async () => {
    const local = counter([["shop", "f", "on", 2]]);
    const c = client();
    await publish(c, store(published("pod-a", local, "1", NOW)), local, self, NOW + WINDOW_MS / 2 + 1);
    expect(c.calls).toEqual([{ verb: "apply", name: "crescendo-insight-pod-a" }]);
  });

  it("writes nothing when it never served an evaluation", async () => {
    const c = client();
    await publish(c, store(), new EvaluationInsight(() => NOW), self, NOW);
    expect(c.calls).toEqual([]);
  });

  it("deletes the ConfigMaps of replicas silent for over 25 hours, never a live one or its own", async () => {
    const old = NOW - WINDOW_MS - 2 * HOUR_MS;
    const c = client();
    await publish(
      c,
      store(
        published("pod-gone", counter([["shop", "f", "on", 1]]), "1", old),
        published("pod-live", counter([["shop", "f", "on", 1]]), "1", NOW - HOUR_MS),
      ),
      new EvaluationInsight(() => NOW),
      self,
      NOW,
    );
    expect(c.calls).toEqual([{ verb: "delete", name: "crescendo-insight-pod-gone" }]);
    expect(abandoned(published("x", counter([]), "1", NOW - WINDOW_MS), NOW)).toBe(false);
  });
});
