/**
 * The receiver's I/O: reads the informer caches, asks `plan.ts` what to do, writes the actions'
 * annotations, then each Squad's `status.incidents` with the on-call messages they call for
 * (`notices.ts`), then the Events. Thin on purpose: every decision is the planners'.
 *
 * Order matters for a leader that stops half-way: the annotations first (idempotent, keyed by
 * the incident's action id), the record after. A retry (Alertmanager's, or the next leader's)
 * then finds either the record (nothing more to do) or the action id on the target (asked
 * already: recorded, not refused).
 */
import type { Logger } from "pino";
import { ANNOTATIONS, parseDuration } from "../../api/common.js";
import type { IncidentNotification, IncidentRecord } from "../../api/incident.js";
import { FeatureToggleResource, ReleaseResource, SquadResource } from "../../api/kinds.js";
import { checkIncidentResponse } from "../../api/squad-spec-parts.js";
import { squadOwning } from "../../flags/ofrep-access.js";
import { isConflict, type KubeClient } from "../../runtime/client.js";
import type { EventRecorder } from "../../runtime/events.js";
import { asRecord } from "../../runtime/is-record.js";
import type { KubeObject, ReadStore } from "../../runtime/types.js";
import type { WebhookMessage } from "../../incidents/alertmanager.js";
import { releaseChanges, toggleChanges } from "../../incidents/changes.js";
import {
  DEFAULT_CORRELATION_WINDOW_MS,
  type AlertMapping,
  type Change,
  type ResponsePolicy,
} from "../../incidents/correlate.js";
import { planIncident, type IncidentEvent, type IncidentPlan } from "../../incidents/plan.js";
import { incidentNotices } from "./notices.js";

export interface ResponderDeps {
  client: Pick<KubeClient, "mergePatch" | "get">;
  recorder: Pick<EventRecorder, "record">;
  logger: Pick<Logger, "info" | "warn">;
  squads: ReadStore;
  namespaces: ReadStore;
  releases: ReadStore;
  toggles: ReadStore;
  mapping?: AlertMapping;
  clock?: { now(): number };
}

/** What the receiver answers Alertmanager: per squad, what was recorded and written. */
export interface ResponseSummary {
  incidents: { squad: string; id: string; actions: string[] }[];
  unscoped: { alert: string; why: string }[];
}

/**
 * The squad's `spec.incidentResponse` as correlation reads it, judged exactly as the Squad
 * controller judges it for its `IncidentResponseValid` condition (`squad-spec-parts.ts`): none
 * when absent; when refused, no rule at all (Notify only), marked so the record says why.
 */
export function policyOf(squad: KubeObject | undefined): ResponsePolicy | undefined {
  const check = checkIncidentResponse(squad ?? {});
  if (check.state === "Absent") return undefined;
  if (check.state === "Invalid") {
    return {
      correlationWindowMs: DEFAULT_CORRELATION_WINDOW_MS,
      actions: [],
      invalid: check.message.slice(0, 256),
    };
  }
  return {
    correlationWindowMs: parseDuration(check.policy.correlationWindow),
    actions: check.policy.actions.map((a) => ({ match: { labels: a.match.labels }, do: a.do })),
  };
}

const incidentsOf = (squad: KubeObject | undefined): IncidentRecord[] =>
  (asRecord(squad?.["status"])["incidents"] as IncidentRecord[] | undefined) ?? [];
const notificationsOf = (squad: KubeObject | undefined) =>
  asRecord(squad?.["status"])["notifications"] as IncidentNotification[] | undefined;
/** Whether the squad has an on-call webhook to tell (the Release controller's test). */
const hasOncall = (squad: KubeObject | undefined): boolean =>
  asRecord(asRecord(squad?.["spec"])["oncall"])["webhookSecretRef"] !== undefined;

/** The action ids an object carries: its pending annotation's and its last acted-on one's. */
function actionIds(o: KubeObject): string[] {
  const pending = o.metadata.annotations?.[ANNOTATIONS.actionId];
  const last = asRecord(asRecord(o["status"])["lastAction"])["id"];
  return [pending, last].filter((id): id is string => typeof id === "string");
}

export function createResponder(deps: ResponderDeps): (message: WebhookMessage) => Promise<ResponseSummary> {
  const clock = deps.clock ?? Date;
  /**
   * The squad owning a namespace, as OFREP decides it: the Squad its label names, if that
   * Squad's spec lists it. A label alone (anyone who may label a namespace) gives nothing away.
   * Memoised per notification: changes are many, namespaces few.
   */
  const owners = (): ((namespace: string) => string | undefined) => {
    const memo = new Map<string, string | undefined>();
    return (namespace) => {
      if (!memo.has(namespace)) {
        const labels = deps.namespaces.get(namespace)?.metadata.labels;
        memo.set(namespace, squadOwning(namespace, labels, (n) => deps.squads.get(n)?.["spec"])?.name);
      }
      return memo.get(namespace);
    };
  };

  const changes = (squadOf: (namespace: string) => string | undefined): Change[] => {
    const out: Change[] = [];
    for (const r of deps.releases.list()) {
      const squad = squadOf(r.metadata.namespace ?? "");
      if (squad) out.push(...releaseChanges(r as Parameters<typeof releaseChanges>[0], squad));
    }
    for (const t of deps.toggles.list()) {
      const squad = squadOf(t.metadata.namespace ?? "");
      if (squad) out.push(...toggleChanges(t as Parameters<typeof toggleChanges>[0], squad));
    }
    return out;
  };

  const plan = (message: WebhookMessage, fresh: ReadonlyMap<string, KubeObject>): IncidentPlan => {
    const squadOf = owners();
    const squadObject = (name: string) => fresh.get(name) ?? deps.squads.get(name);
    return planIncident({
      message,
      now: clock.now(),
      squadOf,
      squad: (name) => {
        const s = squadObject(name);
        if (!s) return undefined;
        const policy = policyOf(s);
        return { ...(policy ? { policy } : {}), incidents: incidentsOf(s) };
      },
      changes: changes(squadOf),
      release: (ns, name) => {
        const r = deps.releases.get(`${ns}/${name}`);
        if (!r) return undefined;
        const status = asRecord(r["status"]);
        return {
          stableRevision: status["stableRevision"] as string | undefined,
          phase: status["phase"] as string | undefined,
          actionIds: actionIds(r),
        };
      },
      toggle: (ns, name) => {
        const t = deps.toggles.get(`${ns}/${name}`);
        if (!t) return undefined;
        const status = asRecord(t["status"]);
        return {
          killed: status["killedAt"] !== undefined || status["effectiveState"] === "KilledByRollback",
          actionIds: actionIds(t),
        };
      },
      ...(deps.mapping ? { mapping: deps.mapping } : {}),
    });
  };

  return async (message) => {
    // Squads re-read after a conflict: the cache may lag our own last write.
    const fresh = new Map<string, KubeObject>();
    for (let attempt = 0; ; attempt++) {
      const result = plan(message, fresh);
      for (const s of result.squads) {
        for (const w of s.writes) {
          await deps.client.mergePatch(
            w.kind === "Release" ? ReleaseResource : FeatureToggleResource,
            w.name,
            w.namespace,
            {
              metadata: {
                annotations: {
                  [ANNOTATIONS.action]: w.action,
                  [ANNOTATIONS.actionId]: w.actionId,
                  // Why, for the kill's on-call message; an earlier action's reason must not stay.
                  [ANNOTATIONS.actionReason]: w.reason ?? null,
                  // Back to the revision the change replaced; never one a person once asked for.
                  ...(w.action === "undo"
                    ? {
                        [ANNOTATIONS.undoRevision]: w.revision ?? null,
                        [ANNOTATIONS.failureStartedAt]: w.failureStartedAt ?? null,
                      }
                    : {}),
                },
              },
            },
          );
        }
      }
      const conflicted: string[] = [];
      for (const s of result.squads) {
        if (!s.changed) continue;
        const squad = fresh.get(s.squad) ?? deps.squads.get(s.squad);
        const resourceVersion = squad?.metadata.resourceVersion;
        // The on-call messages go in the write that records the incident: none is lost.
        const notifications = incidentNotices({
          squad: s.squad,
          oncall: hasOncall(squad),
          before: incidentsOf(squad),
          after: s.incidents,
          notifications: notificationsOf(squad),
          now: new Date(clock.now()).toISOString(),
        });
        try {
          await deps.client.mergePatch(
            SquadResource,
            s.squad,
            undefined,
            {
              ...(resourceVersion ? { metadata: { resourceVersion } } : {}),
              status: { incidents: s.incidents, ...(notifications ? { notifications } : {}) },
            },
            { subresource: "status" },
          );
        } catch (err) {
          if (!isConflict(err) || attempt >= 4) throw err;
          conflicted.push(s.squad);
        }
      }
      if (conflicted.length > 0) {
        for (const name of conflicted) {
          const got = await deps.client.get(SquadResource, name);
          if (got) fresh.set(name, got);
        }
        continue;
      }
      for (const s of result.squads) for (const e of s.events) void record(deps, e);
      for (const u of result.unscoped) {
        deps.logger.info({ alert: u.alert, why: u.why }, "incident receiver: alert given to no squad");
      }
      if (result.squads.length > 0) {
        deps.logger.info(
          { incidents: result.squads.map((s) => ({ squad: s.squad, writes: s.writes.length })) },
          "incident recorded",
        );
      }
      return {
        incidents: result.squads.map((s) => ({
          squad: s.squad,
          id: s.id,
          actions: s.writes.map((w) => `${w.action} ${w.kind} ${w.namespace}/${w.name}`),
        })),
        unscoped: result.unscoped,
      };
    }
  };
}

function record(deps: ResponderDeps, e: IncidentEvent): Promise<void> {
  const regarding =
    e.on.kind === "Squad"
      ? deps.squads.get(e.on.name)
      : (e.on.kind === "Release" ? deps.releases : deps.toggles).get(`${e.on.namespace}/${e.on.name}`);
  if (!regarding) return Promise.resolve();
  return deps.recorder.record(regarding, {
    type: e.type,
    reason: e.reason,
    note: e.note,
    action: "Incident",
  });
}
