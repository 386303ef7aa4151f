/**
 * `metav1.Condition` bookkeeping. Conditions are what kstatus, Flux, Argo CD and
 * `kubectl wait` read, so they follow the apimachinery rules exactly: one entry per type, and
 * `lastTransitionTime` moves only when `status` does. Functions return new arrays so a status
 * can be compared with the observed one before anything is written.
 */

export type ConditionStatus = "True" | "False" | "Unknown";

/** `metav1.Condition`; structurally the same as the `condition` schema in `api/common.ts`. */
export interface Condition {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

/** A condition as a reconciler states it; the time is filled in by `setCondition`. */
export type ConditionInput = Omit<Condition, "lastTransitionTime">;

/**
 * RFC 3339 at second precision, the way `metav1.Time` serialises, so a condition written by the
 * operator looks like one written by any Go controller.
 */
export function conditionTime(now: Date | number): string {
  return new Date(now).toISOString().replace(/\.\d+Z$/, "Z");
}

/** The condition of this type, if present. */
export function findCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

/** True only when the condition exists with status `True`; absent or Unknown count as not true. */
export function isTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return findCondition(conditions, type)?.status === "True";
}

/**
 * Sets one condition and returns a new array, keeping the others in place. As in apimachinery's
 * `meta.SetStatusCondition`, `lastTransitionTime` is kept when the status is unchanged, so an
 * unchanged reconcile produces an identical array and therefore writes nothing.
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  input: ConditionInput,
  now: Date | number,
): Condition[] {
  const existing = findCondition(conditions, input.type);
  const lastTransitionTime =
    existing && existing.status === input.status ? existing.lastTransitionTime : conditionTime(now);
  const next: Condition = {
    type: input.type,
    status: input.status,
    reason: input.reason,
    message: input.message,
    lastTransitionTime,
    ...(input.observedGeneration === undefined ? {} : { observedGeneration: input.observedGeneration }),
  };
  const list = conditions ?? [];
  return existing ? list.map((c) => (c.type === input.type ? next : c)) : [...list, next];
}

/** Removes a condition type; returns a new array. */
export function removeCondition(conditions: readonly Condition[] | undefined, type: string): Condition[] {
  return (conditions ?? []).filter((c) => c.type !== type);
}

/**
 * Where an object stands, in kstatus terms. `Ready`: the desired state is reached.
 * `Reconciling`: work is in progress and will finish on its own (a rollout step, a namespace
 * being created). `Stalled`: progress needs a human (invalid spec, conflict, failed rollout).
 */
export type KStatus =
  | { state: "Ready"; reason?: string; message?: string }
  | { state: "Reconciling"; reason: string; message: string }
  | { state: "Stalled"; reason: string; message: string };

/**
 * Writes the kstatus trio consistently: exactly one of Ready/Reconciling/Stalled is True, the
 * other two are False (not removed, since every kind always shows all three). While
 * reconciling, Ready is `Unknown`, as Flux reports it; when stalled, Ready is `False`.
 */
export function readyConditions(
  conditions: readonly Condition[] | undefined,
  status: KStatus,
  options: { observedGeneration?: number; now: Date | number },
): Condition[] {
  const { observedGeneration, now } = options;
  const reason = status.reason ?? (status.state === "Ready" ? "Succeeded" : status.state);
  const message = status.message ?? (status.state === "Ready" ? "Reconciled" : "");
  const ready: ConditionStatus =
    status.state === "Ready" ? "True" : status.state === "Reconciling" ? "Unknown" : "False";
  const entries: ConditionInput[] = [
    { type: "Ready", status: ready, reason, message, observedGeneration },
    {
      type: "Reconciling",
      status: status.state === "Reconciling" ? "True" : "False",
      reason: status.state === "Reconciling" ? reason : status.state === "Ready" ? "Succeeded" : "Stalled",
      message: status.state === "Reconciling" ? message : "",
      observedGeneration,
    },
    {
      type: "Stalled",
      status: status.state === "Stalled" ? "True" : "False",
      reason: status.state === "Stalled" ? reason : status.state === "Ready" ? "Succeeded" : "Progressing",
      message: status.state === "Stalled" ? message : "",
      observedGeneration,
    },
  ];
  return entries.reduce<Condition[]>((acc, entry) => setCondition(acc, entry, now), [...(conditions ?? [])]);
}
