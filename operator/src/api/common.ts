/**
 * Shapes shared by every Crescendo kind. The zod schemas in this folder are the single source
 * of truth for the CRDs: `hack/generate-crds.ts` turns them into OpenAPI, the controllers parse
 * specs with them, and the TypeScript types are inferred from them.
 */
import { z } from "zod";

export const GROUP = "crescendo.dev";
export const VERSION = "v1alpha1";
export const API_VERSION = `${GROUP}/${VERSION}`;

/** Labels and annotations the operator sets or reads. */
export const LABELS = {
  managedBy: "app.kubernetes.io/managed-by",
  name: "app.kubernetes.io/name",
  version: "app.kubernetes.io/version",
  squad: "crescendo.dev/squad",
  tribe: "crescendo.dev/tribe",
  release: "crescendo.dev/release",
  revision: "crescendo.dev/revision",
  track: "crescendo.dev/track",
  backstageId: "backstage.io/kubernetes-id",
  /**
   * On a squad namespace under network isolation: `Squad` or `Tribe`, the scope the chart's
   * admission policy holds members' own NetworkPolicies to.
   */
  networkIsolation: "crescendo.dev/network-isolation",
} as const;

export const ANNOTATIONS = {
  /** On an isolated squad namespace: the Squad's `allowIngressFrom`, comma-separated. */
  allowIngressFrom: "crescendo.dev/allow-ingress-from",
  action: "crescendo.dev/action",
  actionId: "crescendo.dev/action-id",
  /** With action `undo`: the revision to return to (absent: the most recent previous one). */
  undoRevision: "crescendo.dev/undo-revision",
  /** With action `undo`: when the failure it answers began (an incident's alert start), for delivery metrics. */
  failureStartedAt: "crescendo.dev/failure-started-at",
  /**
   * With an action: why it was asked for, in the requester's words (the incident receiver names
   * the incident and its alert; `kubectl crescendo kill --reason`). A kill's on-call message says it.
   */
  actionReason: "crescendo.dev/action-reason",
} as const;

export const MANAGED_BY = "crescendo";
export const FIELD_MANAGER = "crescendo";

/**
 * The label selector of every object the operator creates (`app.kubernetes.io/managed-by=crescendo`):
 * the informers of the kinds it creates cache only these (`operator/src/cache.ts`).
 */
export const MANAGED_BY_SELECTOR = `${LABELS.managedBy}=${MANAGED_BY}`;

/** DNS-1123 label: namespace names, squad names, revision-bearing object names. */
export const dnsLabel = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "must be a DNS-1123 label (lower case, digits, '-')");

/**
 * A Go-style duration ("30s", "5m", "1h30m", "500ms"). Kept as text in the spec so manifests
 * read like Argo Rollouts and Flagger ones; parsed by `parseDuration`.
 */
export const duration = z
  .string()
  .regex(/^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$/, "must be a duration such as 30s, 5m or 1h30m");

/** A day in milliseconds: toggle lifetimes and delivery-metric windows are counted in days. */
export const DAY_MS = 86_400_000;

/** Converts a validated `duration` to milliseconds. */
export function parseDuration(text: string): number {
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  for (const [, amount, unit] of text.matchAll(/([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/g)) {
    total += Number(amount) * (units[unit as string] ?? 0);
  }
  return total;
}

/**
 * apimachinery's quantity syntax, as controller-gen writes it into CRDs: checked at admission, so
 * `requests.cpu: lots` is refused by `kubectl apply` with the field's path. Left to the derived
 * ResourceQuota, the apiserver's server-side apply answers it with a 500 naming no field.
 */
export const QUANTITY_PATTERN =
  "^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$";

/** Kubernetes quantity or count, written as `4`, `500m` or `2Gi`. */
export const quantity = z
  .union([
    z
      .string()
      .regex(new RegExp(QUANTITY_PATTERN), { message: "must be a Kubernetes quantity, e.g. 4, 500m or 2Gi" }),
    z.number().int(),
  ])
  .meta({
    "x-kubernetes-int-or-string": true,
    pattern: QUANTITY_PATTERN,
    description: "A Kubernetes quantity, e.g. 4, 500m or 2Gi.",
  });

/** A map of resource name to quantity, as in ResourceQuota `hard` or LimitRange `default`. */
export const resourceList = z.record(z.string(), quantity);

/**
 * An object passed through to Kubernetes untouched (a PodTemplateSpec, raw JsonLogic). Its
 * contents are validated by the apiserver when the operator creates objects from it.
 */
export function opaqueObject(description: string) {
  return z
    .record(z.string(), z.unknown())
    .meta({ description, "x-kubernetes-preserve-unknown-fields": true });
}

/** `metav1.Condition`, the shape kstatus, Flux and Argo CD read. */
export const condition = z
  .object({
    type: z.string().describe("Type of condition in CamelCase, e.g. Ready, Reconciling, Stalled."),
    status: z.enum(["True", "False", "Unknown"]).describe("Status of the condition."),
    reason: z.string().describe("Machine-readable CamelCase reason for the last transition."),
    message: z.string().describe("Human-readable details of the last transition."),
    lastTransitionTime: z
      .string()
      .describe("Last time the condition changed status (RFC 3339).")
      .meta({ format: "date-time" }),
    observedGeneration: z
      .number()
      .int()
      .optional()
      .describe("The .metadata.generation the condition was set from."),
  })
  .describe("A condition in the metav1.Condition format.");
export type Condition = z.infer<typeof condition>;

export const conditions = z
  .array(condition)
  .max(32)
  .meta({
    description: "Conditions: Ready, Reconciling and Stalled on every kind, plus kind-specific ones.",
    "x-kubernetes-list-type": "map",
    "x-kubernetes-list-map-keys": ["type"],
  });

/** The manual actions accepted through `crescendo.dev/action`. */
export const ACTIONS = [
  "promote",
  "promote-full",
  "abort",
  "retry",
  "pause",
  "resume",
  "rearm",
  "kill",
  "undo",
] as const;
export type Action = (typeof ACTIONS)[number];

/** Records the last annotation action the controller acted on, so each id acts once. */
export const lastAction = z
  .object({
    id: z.string().describe("The crescendo.dev/action-id that was acted on."),
    action: z.string().describe("The action that was requested."),
    acceptedAt: z
      .string()
      .describe("When the controller acted on it (RFC 3339).")
      .meta({ format: "date-time" }),
    result: z.string().optional().describe("What the controller did, or why it ignored the action."),
  })
  .describe("The last manual action taken through the crescendo.dev/action annotation.");
export type LastAction = z.infer<typeof lastAction>;

/** Reference to a key in a Secret. */
export const secretKeyRef = z
  .object({
    name: dnsLabel.describe("Name of the Secret."),
    namespace: dnsLabel
      .optional()
      .describe("Namespace of the Secret; defaults to the squad's first namespace."),
    key: z.string().default("url").describe("Key in the Secret's data."),
  })
  .describe("A key of a Secret.");

/** Every object's metadata as the CRD declares it (the apiserver validates it itself). */
export const objectMeta = z.record(z.string(), z.unknown()).meta({ type: "object" });
