/**
 * Evaluation insight across replicas. Every replica serves OFREP and counts only what it served
 * (`flags/insight.ts`); the leader writes the summaries into status. So that the summary is right
 * however traffic is spread, each replica publishes its counts, about once a minute, as a
 * ConfigMap of its own in the operator's namespace (`crescendo-insight-<identity>`), and the
 * leader merges its own counter with every other replica's ConfigMap (`summarise` adds disjoint
 * counts). ConfigMaps rather than calls between pods: nothing to discover, no port to open, and
 * the counts survive the leader's restart.
 *
 * The building and reading of those ConfigMaps is pure and here; `publish` is the one write.
 */
import { WINDOW_MS, type EvaluationInsight, type FlagReport } from "../../flags/insight.js";
import { LABELS, MANAGED_BY } from "../../api/common.js";
import { applyIfChanged } from "../../runtime/apply.js";
import type { KubeClient } from "../../runtime/client.js";
import { isRecord } from "../../runtime/is-record.js";
import { ConfigMapResource } from "../../runtime/resources.js";
import type { KubeObject, ReadStore } from "../../runtime/types.js";
import type { Logger } from "../../observability/logger.js";
import type { InsightReports } from "./reconciler.js";

/** Marks a replica's insight ConfigMap; its value is the replica's identity. */
export const INSIGHT_REPLICA_LABEL = "crescendo.dev/insight-replica";
/** When the replica last published, epoch ms: replicas gone for a day are removed. */
export const PUBLISHED_AT_ANNOTATION = "crescendo.dev/insight-published-at";
const DATA_KEY = "reports.json";
/** Below the 1 MiB object limit, with room for metadata: past it the least recent flags go. */
const MAX_BYTES = 900_000;

/** `crescendo-insight-<identity>`, made a valid object name. */
export function insightConfigMapName(identity: string): string {
  const safe = identity
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, "-")
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, "");
  return `crescendo-insight-${safe}`.slice(0, 253).replace(/[^a-z0-9]+$/, "");
}

/**
 * The ConfigMap a replica publishes: its reports by `namespace/key`, the most recently evaluated
 * first when they must be cut to fit (`truncated` says how many were left out).
 */
export function insightConfigMap(
  identity: string,
  namespace: string,
  reports: ReadonlyMap<string, FlagReport>,
  now: number,
): KubeObject {
  const entries = [...reports].sort((a, b) => b[1].lastEvaluatedAt - a[1].lastEvaluatedAt);
  // Each member's size as JSON.stringify writes it ("key":value plus a comma, in ASCII: keys and
  // callers are names and identities), so the cut is made once, without re-serialising.
  let size = 2;
  let count = 0;
  for (const [key, report] of entries) {
    size += JSON.stringify(key).length + 1 + JSON.stringify(report).length + 1;
    if (size > MAX_BYTES) break;
    count++;
  }
  const kept = entries.slice(0, count);
  const json = JSON.stringify(Object.fromEntries(kept));
  const truncated = entries.length - kept.length;
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: {
      name: insightConfigMapName(identity),
      namespace,
      labels: { [LABELS.managedBy]: MANAGED_BY, [INSIGHT_REPLICA_LABEL]: labelValue(identity) },
      annotations: {
        [PUBLISHED_AT_ANNOTATION]: String(now),
        ...(truncated > 0 ? { "crescendo.dev/insight-truncated": String(truncated) } : {}),
      },
    },
    data: { [DATA_KEY]: json },
  };
}

/**
 * A replica's reports as published, or undefined for a ConfigMap that is not one (or holds
 * something unreadable: a bad ConfigMap costs its counts, never the leader's reconcile).
 */
export function readInsightConfigMap(cm: KubeObject): Map<string, FlagReport> | undefined {
  if (cm.metadata.labels?.[INSIGHT_REPLICA_LABEL] === undefined) return undefined;
  const data = cm["data"];
  const text = isRecord(data) ? data[DATA_KEY] : undefined;
  if (typeof text !== "string") return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isRecord(parsed)) return undefined;
  const out = new Map<string, FlagReport>();
  for (const [key, value] of Object.entries(parsed)) {
    if (isFlagReport(value)) out.set(key, value);
  }
  return out;
}

/** Whether a replica's ConfigMap was last published more than a day and an hour before `now`. */
export function abandoned(cm: KubeObject, now: number): boolean {
  const at = Number(cm.metadata.annotations?.[PUBLISHED_AT_ANNOTATION]);
  return Number.isFinite(at) && at < now - WINDOW_MS - 3_600_000;
}

/** Every flag of `namespace` some other replica reported: the leader reconciles those namespaces. */
export function namespacesReported(cm: KubeObject): string[] {
  const reports = readInsightConfigMap(cm);
  if (!reports) return [];
  return [...new Set([...reports.keys()].map((k) => k.slice(0, k.indexOf("/"))).filter(Boolean))];
}

/**
 * The reports the reconciler merges for one flag: this replica's own counter, plus every other
 * replica's latest ConfigMap from the cache (parsed once per resourceVersion).
 */
export class ReplicaInsight implements InsightReports {
  private readonly parsed = new Map<string, { rv: string; reports: Map<string, FlagReport> }>();

  constructor(
    private readonly local: EvaluationInsight,
    private readonly configMaps: ReadStore,
    private readonly self: { identity: string; namespace: string },
  ) {}

  reports(namespace: string, key: string): (FlagReport | undefined)[] {
    const flag = `${namespace}/${key}`;
    const out: (FlagReport | undefined)[] = [this.local.report(namespace, key)];
    const own = insightConfigMapName(this.self.identity);
    const seen = new Set<string>();
    for (const cm of this.configMaps.list(this.self.namespace)) {
      const name = cm.metadata.name ?? "";
      if (name === own || cm.metadata.labels?.[INSIGHT_REPLICA_LABEL] === undefined) continue;
      seen.add(name);
      out.push(this.reportsOf(name, cm)?.get(flag));
    }
    for (const name of [...this.parsed.keys()]) if (!seen.has(name)) this.parsed.delete(name);
    return out;
  }

  taken(namespace: string, key: string): void {
    this.local.taken(namespace, key);
  }

  private reportsOf(name: string, cm: KubeObject): Map<string, FlagReport> | undefined {
    const rv = cm.metadata.resourceVersion ?? "";
    const cached = this.parsed.get(name);
    if (cached && cached.rv === rv) return cached.reports;
    const reports = readInsightConfigMap(cm);
    if (reports) this.parsed.set(name, { rv, reports });
    return reports;
  }
}

/**
 * Publishes this replica's counts (a write only when they changed) and removes the ConfigMaps of
 * replicas silent for over a day, whose counts have all left the 24 h window.
 */
export async function publish(
  client: Pick<KubeClient, "apply" | "delete">,
  configMaps: ReadStore,
  local: EvaluationInsight,
  self: { identity: string; namespace: string },
  now: number,
): Promise<void> {
  const reports = local.reportAll();
  const name = insightConfigMapName(self.identity);
  const observed = configMaps.get(`${self.namespace}/${name}`);
  if (reports.size > 0 || observed) {
    const desired = insightConfigMap(self.identity, self.namespace, reports, now);
    // Unchanged counts need no write (only the timestamp would differ), unless the timestamp is
    // half a day old: others must not take a quiet replica for a gone one.
    const publishedAt = Number(observed?.metadata.annotations?.[PUBLISHED_AT_ANNOTATION]);
    const fresh = Number.isFinite(publishedAt) && publishedAt > now - WINDOW_MS / 2;
    if (!(observed && fresh && sameData(observed, desired))) {
      await applyIfChanged(client, desired, ConfigMapResource);
    }
  }
  for (const cm of configMaps.list(self.namespace)) {
    if (cm.metadata.labels?.[INSIGHT_REPLICA_LABEL] === undefined || cm.metadata.name === name) continue;
    if (abandoned(cm, now)) await client.delete(ConfigMapResource, cm.metadata.name ?? "", self.namespace);
  }
}

function sameData(a: KubeObject, b: KubeObject): boolean {
  const da = a["data"];
  const db = b["data"];
  return isRecord(da) && isRecord(db) && da[DATA_KEY] === db[DATA_KEY];
}

function labelValue(identity: string): string {
  const v = identity.replace(/[^A-Za-z0-9._-]+/g, "-").slice(0, 63);
  return v.replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, "") || "replica";
}

function isFlagReport(value: unknown): value is FlagReport {
  if (!isRecord(value) || typeof value["lastEvaluatedAt"] !== "number") return false;
  const hours = value["hours"];
  const callers = value["callers"];
  if (!isRecord(hours) || !isRecord(callers)) return false;
  for (const variants of Object.values(hours)) {
    if (!isRecord(variants) || Object.values(variants).some((n) => typeof n !== "number")) return false;
  }
  return Object.values(callers).every((t) => typeof t === "number");
}

/**
 * Publishes every `intervalMs` (jittered by 10 %, so replicas started together do not write
 * together) until stopped; a failed write is logged and retried at the next tick. Runs on every
 * replica, leader or not: each serves OFREP.
 */
export function startPublishing(o: {
  client: Pick<KubeClient, "apply" | "delete">;
  configMaps: ReadStore;
  local: EvaluationInsight;
  self: { identity: string; namespace: string };
  intervalMs: number;
  logger: Logger;
}): () => void {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const tick = async (): Promise<void> => {
    try {
      await publish(o.client, o.configMaps, o.local, o.self, Date.now());
    } catch (err) {
      o.logger.warn({ err }, "could not publish this replica's evaluation counts; retrying");
    }
    if (!stopped) schedule();
  };
  const schedule = (): void => {
    timer = setTimeout(() => void tick(), o.intervalMs * (1 + 0.1 * Math.random()));
    timer.unref();
  };
  if (o.intervalMs > 0) schedule();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
