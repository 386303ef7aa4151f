/**
 * What the apiserver refused, reported where users look. A controller derives objects from a
 * spec (a Squad's ResourceQuota, a Release's Deployment); when the apiserver refuses one for
 * good (422 Invalid, 400, 403, 409 AlreadyExists from someone else's object), retrying the same
 * write cannot help, and the owner's status must say so: `Stalled=True` with the apiserver's own
 * words naming the field, as a Deployment reports `ReplicaFailure`. Kstatus-aware tools (Flux,
 * Argo CD, `kubectl wait --for=condition=Stalled`) stop waiting on it.
 *
 * The classification and the conditions are pure; `RefusalReporter` is the thin I/O that writes
 * them, records one Warning Event per distinct message, and counts. The runtime controller calls
 * it for every controller, so no controller writes its own version.
 */
import { ApiError, type KubeClient } from "./client.js";
import { readyConditions, findCondition, type Condition } from "./conditions.js";
import type { EventInput } from "./events.js";
import { exponentialDelay } from "./backoff.js";
import type { KubeObject, Resource } from "./types.js";

/** The condition reasons a refusal produces; the sharper ones say what the apiserver objected to. */
export type RefusalReason = "ChildRejected" | "ChildForbidden" | "ChildAlreadyExists";

export const REFUSAL_REASONS: readonly RefusalReason[] = [
  "ChildRejected",
  "ChildForbidden",
  "ChildAlreadyExists",
];

export interface Refusal {
  reason: RefusalReason;
  /** HTTP status of the refusal (400, 403, 409, 422). */
  status: number;
  /** Kind of the refused object, as the apiserver named it (`ResourceQuota`), when it did. */
  kind?: string;
  /** The message shown to users: what was refused and the apiserver's words. */
  message: string;
}

/** Longest message kept; the apiserver's own Status messages are shorter in practice. */
const MAX_MESSAGE = 1024;

/**
 * The refusal in an error thrown by a reconcile, or undefined for anything retrying can fix:
 * a 409 Conflict (the cache is behind), 404, 429, 5xx, a network error. Pure.
 */
export function refusalOf(err: unknown): Refusal | undefined {
  if (!(err instanceof ApiError)) return undefined;
  const reason = reasonOf(err);
  if (!reason) return undefined;
  const kind = kindOf(err.details);
  const message = truncate(`${err.status} ${err.reason}: ${err.message}`, MAX_MESSAGE);
  return { reason, status: err.status, ...(kind ? { kind } : {}), message };
}

/**
 * What the apiserver says when a server-side apply carries a value its Go type cannot hold (a
 * quantity of "lots"): a 500, though retrying can never succeed. kube-apiserver's fieldmanager
 * wraps the conversion error in exactly these words.
 */
const UNCONVERTIBLE = /^failed to convert new object .*unable to convert unstructured object/s;

function reasonOf(err: ApiError): RefusalReason | undefined {
  if (err.status === 422 || err.status === 400) return "ChildRejected";
  if (err.status === 500 && UNCONVERTIBLE.test(err.message)) return "ChildRejected";
  if (err.status === 403) return "ChildForbidden";
  if (err.status === 409 && err.reason === "AlreadyExists") return "ChildAlreadyExists";
  return undefined;
}

function kindOf(details: unknown): string | undefined {
  const kind = (details as { kind?: unknown } | null | undefined)?.kind;
  return typeof kind === "string" && kind !== "" ? kind : undefined;
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/**
 * The owner's conditions with the kstatus trio set to Stalled by this refusal (Ready=False,
 * Reconciling=False), for the generation it was refused at. Other conditions are kept. Pure;
 * unchanged input gives an equal array, so a repeat writes nothing.
 */
export function stalledConditions(
  conditions: readonly Condition[] | undefined,
  refusal: Refusal,
  generation: number | undefined,
  now: number,
): Condition[] {
  return readyConditions(
    conditions,
    { state: "Stalled", reason: refusal.reason, message: refusal.message },
    { now, ...(generation === undefined ? {} : { observedGeneration: generation }) },
  );
}

/** True when the owner already shows this very refusal: nothing to write, no new Event. */
export function alreadyReported(conditions: readonly Condition[] | undefined, refusal: Refusal): boolean {
  const stalled = findCondition(conditions, "Stalled");
  return (
    stalled?.status === "True" && stalled.reason === refusal.reason && stalled.message === refusal.message
  );
}

/** First retry of a refused write after 1 s, doubling to 5 min: a person must fix the spec. */
const REFUSAL_BASE_DELAY_MS = 1_000;
export const REFUSAL_MAX_DELAY_MS = 5 * 60_000;

/** The delay before retrying after the `attempt`-th refusal in a row (0-based). Pure. */
export function refusalRetryDelay(attempt: number): number {
  return exponentialDelay(attempt, REFUSAL_BASE_DELAY_MS, REFUSAL_MAX_DELAY_MS);
}

export interface RefusalReporterOptions {
  client: Pick<KubeClient, "mergePatch">;
  recorder: { record(regarding: KubeObject, input: EventInput): Promise<void> };
  /** The owner's kind: its status subresource gets the conditions. */
  resource: Resource;
  now: () => number;
  /** Counts each reported refusal (a new message or a repeat). */
  onRefusal?: (refusal: Refusal) => void;
}

/**
 * Writes a refusal onto the owner's status and records a Warning Event when the message is new.
 * The status is the memory: after a restart, a refusal already shown is not announced again.
 */
export class RefusalReporter {
  constructor(private readonly opts: RefusalReporterOptions) {}

  /**
   * Resolves once the status write is done, with whether the refusal was new (written and
   * announced) or already shown. Throws if the write failed; the caller logs it and retries.
   */
  async report(owner: KubeObject & { status?: unknown }, refusal: Refusal): Promise<"new" | "repeat"> {
    this.opts.onRefusal?.(refusal);
    const conditions = (owner.status as { conditions?: Condition[] } | undefined)?.conditions;
    if (alreadyReported(conditions, refusal)) return "repeat";
    const next = stalledConditions(conditions, refusal, owner.metadata.generation, this.opts.now());
    await this.opts.client.mergePatch(
      this.opts.resource,
      owner.metadata.name ?? "",
      owner.metadata.namespace,
      { status: { conditions: next } },
      { subresource: "status" },
    );
    void this.opts.recorder.record(owner, {
      type: "Warning",
      reason: refusal.reason,
      note: refusal.message,
      action: "Reconcile",
    });
    return "new";
  }
}
