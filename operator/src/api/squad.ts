/** Squad: a team, cluster-scoped; becomes namespaces, RBAC, quotas and isolation. */
import { DEBT_KINDS } from "./featuretoggle.js";

/** The on-call message formats: Crescendo's JSON, or rendered for a chat tool's incoming webhook. */
export const ONCALL_FORMATS = ["json", "slack", "teams"] as const;
export type OncallFormat = (typeof ONCALL_FORMATS)[number];
import { z } from "zod";
import { analysisInterval, analysisMetrics, prometheusAddress } from "./analysis.js";
import { changeRecord, deliveryTotals, deliveryWindow } from "./delivery.js";
import { conditions, dnsLabel, resourceList, secretKeyRef } from "./common.js";
import { incidentNotifications, incidentRecords, incidentResponse } from "./incident.js";

export const squadMember = z
  .object({
    kind: z.enum(["User", "Group", "ServiceAccount"]).describe("Kind of subject."),
    name: z.string().min(1).describe("Name of the user, group or service account."),
    namespace: dnsLabel.optional().describe("Namespace of a ServiceAccount (required for that kind)."),
    role: z
      .enum(["lead", "member", "viewer"])
      .default("member")
      .describe("lead gets admin, member gets edit, viewer gets view in every squad namespace."),
    chapter: z.string().optional().describe("The chapter (craft guild) the member belongs to, e.g. backend."),
  })
  .refine(
    (m) => m.kind !== "ServiceAccount" || m.namespace !== undefined,
    "a ServiceAccount member needs a namespace",
  )
  .meta({
    description: "A member of the squad and the access they get.",
    "x-kubernetes-validations": [
      {
        rule: "self.kind != 'ServiceAccount' || has(self.namespace)",
        message: "a ServiceAccount member needs a namespace",
      },
    ],
  });
export type SquadMember = z.infer<typeof squadMember>;

/** A squad or a tribe whose apps may read another squad's flags (`toggles.readableBy`). */
export const flagReader = z
  .object({
    squad: dnsLabel.optional().describe("A Squad's name: apps in its namespaces."),
    tribe: dnsLabel.optional().describe("A tribe: apps in the namespaces of every squad of the tribe."),
  })
  .refine((r) => (r.squad === undefined) !== (r.tribe === undefined), "set exactly one of squad or tribe")
  .meta({
    description: "A squad or a tribe allowed to read the flags.",
    "x-kubernetes-validations": [
      { rule: "has(self.squad) != has(self.tribe)", message: "set exactly one of squad or tribe" },
    ],
  });
export type FlagReader = z.infer<typeof flagReader>;

/** Kubernetes' own namespaces: a Squad owning one would make its lead admin there. */
const notSystemNamespace = dnsLabel
  .refine(
    (n) => n !== "default" && !n.startsWith("kube-"),
    "a Squad may not own a system namespace (kube-*, default)",
  )
  .meta({
    "x-kubernetes-validations": [
      {
        rule: "self != 'default' && !self.startsWith('kube-')",
        message: "a Squad may not own a system namespace (kube-*, default)",
      },
    ],
  });

export const squadNamespace = z
  .object({
    name: notSystemNamespace.describe("Name of the namespace."),
    labels: z.record(z.string(), z.string()).optional().describe("Extra labels for the namespace."),
    adopt: z
      .boolean()
      .default(false)
      .describe("Adopt the namespace if it already exists without an owner. Never adopts another squad's."),
  })
  .describe("A namespace owned by the squad.");

export const squadSpec = z
  .object({
    tribe: dnsLabel.optional().describe("The tribe the squad belongs to; labels every object it owns."),
    mission: z.string().max(1024).optional().describe("What the squad is for, in a sentence."),
    members: z.array(squadMember).max(200).default([]).describe("People and robots with access."),
    namespaces: z
      .array(squadNamespace)
      .max(32)
      .default([])
      .meta({
        description: "Namespaces the squad owns. Empty means one namespace named after the squad.",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["name"],
      }),
    quota: z
      .object({ hard: resourceList.describe("ResourceQuota hard limits, e.g. requests.cpu: 4.") })
      .optional()
      .describe("A ResourceQuota applied to every squad namespace."),
    limits: z
      .object({
        default: resourceList.optional().describe("Default container limits."),
        defaultRequest: resourceList.optional().describe("Default container requests."),
        max: resourceList.optional().describe("Maximum per container."),
        min: resourceList.optional().describe("Minimum per container."),
      })
      .optional()
      .describe("A LimitRange (type Container) applied to every squad namespace."),
    networkIsolation: z
      .enum(["None", "Squad", "Tribe"])
      .default("None")
      .describe(
        "Squad: pods accept traffic only from the squad's namespaces; Tribe: from any namespace of the tribe; None: no NetworkPolicy.",
      ),
    allowIngressFrom: z
      .array(dnsLabel)
      .max(20)
      .optional()
      .describe(
        "Namespaces that may still reach the squad's pods under isolation, e.g. monitoring (for Prometheus scrapes) or ingress-nginx.",
      ),
    delivery: z
      .object({
        prometheus: z
          .object({
            address: prometheusAddress.describe(
              "Prometheus base URL used by the squad's Releases; allowed for them whatever the operator's allowlist says.",
            ),
          })
          .optional()
          .describe("Default Prometheus for analysis."),
        analysisInterval: analysisInterval
          .optional()
          .describe("Default analysis interval for the squad's Releases (1s to 1h)."),
        metrics: analysisMetrics.optional().describe("Default metrics added to every Release's analysis."),
      })
      .optional()
      .describe("Defaults for the squad's Releases."),
    oncall: z
      .object({
        webhookSecretRef: secretKeyRef.describe(
          "Secret key holding the URL that on-call notifications are POSTed to.",
        ),
        channel: z
          .string()
          .optional()
          .describe("Channel name included in notifications, e.g. #payments-oncall."),
        format: z
          .enum(ONCALL_FORMATS)
          .default("json")
          .describe(
            "How the message is rendered: json (Crescendo's own payload), slack (Block Kit, for a Slack incoming webhook) or teams (an Adaptive Card, for a Teams Workflows webhook).",
          ),
      })
      .optional()
      .describe("Where on-call notifications go: rollbacks, reverts and incidents (docs/notifications.md)."),
    toggles: z
      .object({
        maxActive: z
          .number()
          .int()
          .min(0)
          .optional()
          .describe("Most FeatureToggles the squad may have active."),
        lifetimeDays: z
          .object({
            release: z
              .number()
              .int()
              .min(1)
              .optional()
              .describe("Days before a release toggle is stale (default 40)."),
            experiment: z
              .number()
              .int()
              .min(1)
              .optional()
              .describe("Days before an experiment is stale (default 40)."),
            ops: z
              .number()
              .int()
              .min(1)
              .optional()
              .describe("Days before an ops toggle is stale (default 7)."),
            permission: z
              .number()
              .int()
              .min(1)
              .optional()
              .describe("Days before a permission toggle is stale (default never)."),
          })
          .optional()
          .describe("Default lifetime by toggle type."),
        readableBy: z
          .array(flagReader)
          .max(50)
          .optional()
          .describe(
            "Who else may read the flags of the squad's namespaces over OFREP: apps (ServiceAccount tokens) in the namespaces of these squads or tribes. Without it, an app reads only its own namespace's flags; list the squad itself to share between its own namespaces.",
          ),
      })
      .optional()
      .describe("FeatureToggle policy for the squad."),
    incidentResponse: incidentResponse.optional(),
    namespaceDeletionPolicy: z
      .enum(["Retain", "Delete"])
      .default("Retain")
      .describe(
        "What happens to the squad's namespaces when the Squad is deleted. Retain never deletes data.",
      ),
  })
  .refine((spec) => spec.networkIsolation !== "Tribe" || spec.tribe !== undefined, {
    message: "networkIsolation Tribe needs spec.tribe",
    path: ["networkIsolation"],
  })
  .meta({
    description: "Desired state of the Squad.",
    "x-kubernetes-validations": [
      {
        rule: "self.networkIsolation != 'Tribe' || has(self.tribe)",
        message: "networkIsolation Tribe needs spec.tribe",
      },
    ],
  });
export type SquadSpec = z.infer<typeof squadSpec>;

/** Entries of Squad status.toggleDebt: a short list to act on, not an inventory. */
export const MAX_SQUAD_TOGGLE_DEBT = 20;

export const squadStatus = z
  .object({
    observedGeneration: z.number().int().optional().describe("The generation last reconciled."),
    conditions: conditions.optional(),
    namespaceCount: z.number().int().optional().describe("Number of namespaces the squad owns."),
    namespaces: z
      .array(
        z.object({
          name: z.string().describe("Namespace name."),
          ready: z.boolean().describe("True when the namespace and its policy objects are in place."),
          message: z.string().optional().describe("Why the namespace is not ready."),
        }),
      )
      .optional()
      .describe("Per-namespace readiness."),
    releases: z
      .object({
        total: z.number().int().describe("Releases in the squad's namespaces."),
        progressing: z.number().int().describe("Releases rolling out."),
        paused: z.number().int().describe("Paused Releases."),
        healthy: z.number().int().describe("Healthy Releases."),
        degraded: z.number().int().describe("Degraded Releases."),
        rolledBack: z.number().int().describe("Rolled back Releases, and those reverted after promotion."),
      })
      .optional()
      .describe("Releases by phase."),
    toggles: z
      .object({
        total: z.number().int().describe("FeatureToggles in the squad's namespaces."),
        active: z.number().int().describe("Toggles currently enabled."),
        stale: z.number().int().describe("Toggles past their lifetime."),
        killed: z.number().int().describe("Toggles killed by a rollback."),
      })
      .optional()
      .describe("FeatureToggles by state."),
    toggleDebt: z
      .array(
        z.object({
          namespace: z.string().describe("The toggle's namespace."),
          name: z.string().describe("The FeatureToggle's name."),
          debt: z.array(z.enum(DEBT_KINDS)).describe("Stale, Unused, FullyRolledOut, OverActiveLimit."),
          since: z.string().describe("When its oldest debt began.").meta({ format: "date-time" }),
          callers: z
            .array(z.string())
            .optional()
            .describe("Callers that evaluated it in the last 24 h: they must change code first."),
        }),
      )
      .max(MAX_SQUAD_TOGGLE_DEBT)
      .optional()
      .describe("Toggles that can go, oldest debt first (at most 20; kubectl crescendo toggles lists all)."),
    delivery: z
      .object({
        deploymentsLast7d: z
          .number()
          .int()
          .describe("Deployment frequency: changes that reached full production traffic in the last 7 days."),
        changeFailureRate: z
          .string()
          .describe(
            "Change fail rate of the last 30 days: failed changes / changes, as a percentage (0% with no change).",
          ),
        last7d: deliveryWindow.optional().describe("The four keys over the last 7 days."),
        last30d: deliveryWindow.optional().describe("The four keys over the last 30 days."),
        truncatedBefore: z
          .string()
          .optional()
          .describe(
            "Set when the change record hit its size bound: the figures cover changes after this time only.",
          )
          .meta({ format: "date-time" }),
        changes: z
          .array(changeRecord)
          .max(2000)
          .optional()
          .describe("Every change of the last 30 days and its outcome, newest first (pruned by age)."),
        totals: deliveryTotals.optional(),
      })
      .optional()
      .describe(
        "The squad's delivery metrics (DORA keys), from its Releases' history, kept after a Release is gone (docs/delivery-metrics.md).",
      ),
    incidents: incidentRecords.optional(),
    notifications: incidentNotifications.optional(),
  })
  .describe("Observed state of the Squad.");
export type SquadStatus = z.infer<typeof squadStatus>;
