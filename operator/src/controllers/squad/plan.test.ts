import { describe, expect, it } from "vitest";
import type { Squad } from "../../api/kinds.js";
import { squadSpec } from "../../api/squad.js";
import type { KubeObject } from "../../runtime/types.js";
import {
  CLUSTER_ROLES,
  namespaceClaim,
  objectIdentity,
  OBJECT_NAMES,
  OWNED_RESOURCES,
  planSquad,
  releasePatch,
  resourceOf,
  type Namespace,
  type PlanInput,
} from "./plan.js";

const UID = "uid-payments";

/**
 * Parses like the controller, but lets Tribe isolation without a tribe through: objects stored
 * before that rule existed still reach the plan, which must stay safe for them.
 */
function parseLenient(spec: unknown) {
  const raw = spec as { networkIsolation?: string };
  const parsed = squadSpec.parse({
    ...raw,
    networkIsolation: raw.networkIsolation === "Tribe" ? "None" : raw.networkIsolation,
  });
  return raw.networkIsolation === "Tribe" ? { ...parsed, networkIsolation: "Tribe" as const } : parsed;
}

function squad(spec: unknown, name = "payments", uid = UID): Squad {
  return {
    apiVersion: "crescendo.dev/v1alpha1",
    kind: "Squad",
    metadata: { name, uid, generation: 1 },
    spec: parseLenient(spec),
  };
}

function ns(
  name: string,
  labels?: Record<string, string>,
  extra: Partial<Namespace["metadata"]> = {},
): Namespace {
  return {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name, resourceVersion: "7", ...(labels ? { labels } : {}), ...extra },
    status: { phase: extra.deletionTimestamp ? "Terminating" : "Active" },
  };
}

function plan(input: Partial<PlanInput> & { squad: Squad }) {
  return planSquad({ observedNamespaces: new Map(), ...input });
}

const find = (objects: KubeObject[], kind: string, name: string, namespace?: string) =>
  objects.find(
    (o) =>
      o.kind === kind &&
      o.metadata.name === name &&
      (namespace === undefined || o.metadata.namespace === namespace),
  );
const kinds = (objects: KubeObject[]) =>
  objects.map((o) => `${o.kind ?? ""}/${o.metadata.namespace ?? ""}/${o.metadata.name ?? ""}`);

const ownerRef = {
  apiVersion: "crescendo.dev/v1alpha1",
  kind: "Squad",
  name: "payments",
  uid: UID,
  controller: true,
  blockOwnerDeletion: true,
};

const squadLabels = {
  "app.kubernetes.io/managed-by": "crescendo",
  "crescendo.dev/squad": "payments",
  "backstage.io/kubernetes-id": "payments",
};

describe("planSquad: namespaces", () => {
  it("defaults to one namespace named after the squad, labelled and without ownerReferences", () => {
    const out = plan({ squad: squad({}) });
    expect(out.namespaces).toEqual(["payments"]);
    expect(out.decisions).toEqual([{ name: "payments", action: "Create" }]);
    expect(out.conflicts).toEqual([]);
    expect(out.objects).toEqual([
      { apiVersion: "v1", kind: "Namespace", metadata: { name: "payments", labels: squadLabels } },
    ]);
  });

  it("labels the tribe when set and adds the namespace's extra labels", () => {
    const out = plan({
      squad: squad({ tribe: "money", namespaces: [{ name: "pay-prod", labels: { env: "prod" } }] }),
    });
    expect(find(out.objects, "Namespace", "pay-prod")?.metadata.labels).toEqual({
      env: "prod",
      ...squadLabels,
      "crescendo.dev/tribe": "money",
    });
  });

  it("keeps spec order for several namespaces and plans each fully", () => {
    const out = plan({
      squad: squad({
        namespaces: [{ name: "pay-prod" }, { name: "pay-dev" }],
        members: [{ kind: "User", name: "ana", role: "lead" }],
      }),
    });
    expect(out.namespaces).toEqual(["pay-prod", "pay-dev"]);
    expect(kinds(out.objects)).toEqual([
      "Namespace//pay-prod",
      "RoleBinding/pay-prod/crescendo-lead",
      "Namespace//pay-dev",
      "RoleBinding/pay-dev/crescendo-lead",
    ]);
  });

  it("reports extra labels that try to set the operator's labels; the operator's win", () => {
    const out = plan({
      squad: squad({
        namespaces: [
          { name: "pay", labels: { "crescendo.dev/squad": "other", "crescendo.dev/tribe": "x", team: "a" } },
        ],
      }),
    });
    expect(find(out.objects, "Namespace", "pay")?.metadata.labels).toEqual({ team: "a", ...squadLabels });
    expect(out.conflicts).toEqual([
      {
        namespace: "pay",
        reason: "InvalidSpec",
        message: 'namespace "pay" sets labels the operator manages: crescendo.dev/squad, crescendo.dev/tribe',
      },
    ]);
  });

  it("counts a repeated namespace once and says so", () => {
    const out = plan({ squad: squad({ namespaces: [{ name: "a" }, { name: "a", adopt: true }] }) });
    expect(out.namespaces).toEqual(["a"]);
    expect(out.conflicts).toEqual([
      {
        namespace: "a",
        reason: "InvalidSpec",
        message: 'namespace "a" is listed more than once; the first entry is used',
      },
    ]);
  });

  type Case = {
    name: string;
    observed: Namespace | undefined;
    adopt: boolean;
    action: string;
    planned: boolean;
    conflict?: RegExp;
  };
  const cases: Case[] = [
    { name: "absent → create", observed: undefined, adopt: false, action: "Create", planned: true },
    { name: "absent with adopt → create", observed: undefined, adopt: true, action: "Create", planned: true },
    {
      name: "ours → owned",
      observed: ns("pay", { "crescendo.dev/squad": "payments" }),
      adopt: false,
      action: "Owned",
      planned: true,
    },
    {
      name: "ours with adopt → owned",
      observed: ns("pay", { "crescendo.dev/squad": "payments" }),
      adopt: true,
      action: "Owned",
      planned: true,
    },
    {
      name: "unlabelled without adopt → conflict",
      observed: ns("pay", { team: "x" }),
      adopt: false,
      action: "Conflict",
      planned: false,
      conflict: /^namespace "pay" already exists and belongs to no squad; set adopt: true/,
    },
    {
      name: "unlabelled with adopt → adopt",
      observed: ns("pay"),
      adopt: true,
      action: "Adopt",
      planned: true,
    },
    {
      name: "another squad's → conflict",
      observed: ns("pay", { "crescendo.dev/squad": "billing" }),
      adopt: false,
      action: "Conflict",
      planned: false,
      conflict: /^namespace "pay" belongs to squad "billing"$/,
    },
    {
      name: "another squad's, even with adopt → conflict",
      observed: ns("pay", { "crescendo.dev/squad": "billing" }),
      adopt: true,
      action: "Conflict",
      planned: false,
      conflict: /^namespace "pay" belongs to squad "billing"$/,
    },
    {
      name: "ours, terminating → wait",
      observed: ns(
        "pay",
        { "crescendo.dev/squad": "payments" },
        { deletionTimestamp: "2024-01-01T00:00:00Z" },
      ),
      adopt: false,
      action: "Terminating",
      planned: false,
    },
    {
      name: "unlabelled terminating with adopt → wait",
      observed: ns("pay", undefined, { deletionTimestamp: "2024-01-01T00:00:00Z" }),
      adopt: true,
      action: "Terminating",
      planned: false,
    },
    {
      name: "another squad's terminating → conflict",
      observed: ns(
        "pay",
        { "crescendo.dev/squad": "billing" },
        { deletionTimestamp: "2024-01-01T00:00:00Z" },
      ),
      adopt: false,
      action: "Conflict",
      planned: false,
      conflict: /belongs to squad "billing"/,
    },
  ];

  it.each(cases)("ownership: $name", ({ observed, adopt, action, planned, conflict }) => {
    const out = plan({
      squad: squad({
        namespaces: [{ name: "pay", adopt }],
        members: [{ kind: "User", name: "ana" }],
        quota: { hard: { pods: 10 } },
        limits: { default: { cpu: "1" } },
        networkIsolation: "Squad",
      }),
      observedNamespaces: new Map([["pay", observed]]),
    });
    expect(out.decisions.map((d) => d.action)).toEqual([action]);
    if (planned) {
      expect(kinds(out.objects)).toEqual([
        "Namespace//pay",
        "RoleBinding/pay/crescendo-member",
        "ResourceQuota/pay/crescendo-quota",
        "LimitRange/pay/crescendo-limits",
        "NetworkPolicy/pay/crescendo-isolation",
      ]);
    } else {
      // Nothing is written into a namespace that is not ours or cannot take objects.
      expect(out.objects).toEqual([]);
    }
    if (conflict) {
      expect(out.conflicts).toHaveLength(1);
      expect(out.conflicts[0]).toMatchObject({ namespace: "pay", reason: "NamespaceConflict" });
      expect(out.conflicts[0]?.message).toMatch(conflict);
      expect(out.namespaces).toEqual([]);
    } else {
      expect(out.conflicts).toEqual([]);
      expect(out.namespaces).toEqual(["pay"]);
    }
  });

  it("says how to free a namespace whose owning squad no longer exists", () => {
    const out = plan({
      squad: squad({ namespaces: [{ name: "pay" }] }),
      observedNamespaces: new Map([["pay", ns("pay", { "crescendo.dev/squad": "gone" })]]),
      squadExists: (n) => n === "payments",
    });
    expect(out.conflicts[0]?.message).toBe(
      'namespace "pay" belongs to squad "gone", which no longer exists; remove its crescendo.dev/squad label to free it',
    );
  });

  it("plans the other namespaces when one conflicts", () => {
    const out = plan({
      squad: squad({ namespaces: [{ name: "taken" }, { name: "free" }] }),
      observedNamespaces: new Map([["taken", ns("taken", { "crescendo.dev/squad": "billing" })]]),
    });
    expect(kinds(out.objects)).toEqual(["Namespace//free"]);
    expect(out.namespaces).toEqual(["free"]);
    expect(out.decisions).toEqual([
      { name: "taken", action: "Conflict", message: 'namespace "taken" belongs to squad "billing"' },
      { name: "free", action: "Create" },
    ]);
  });
});

describe("planSquad: squad names", () => {
  it("refuses a default namespace from a name that is not a DNS label", () => {
    const out = plan({ squad: squad({}, "pay.ments") });
    expect(out.objects).toEqual([]);
    expect(out.conflicts).toEqual([
      {
        reason: "InvalidSpec",
        message: 'squad name "pay.ments" is not a valid namespace name; list spec.namespaces explicitly',
      },
    ]);
  });

  it("accepts a dotted name when namespaces are listed", () => {
    const out = plan({ squad: squad({ namespaces: [{ name: "pay" }] }, "pay.ments") });
    expect(out.conflicts).toEqual([]);
    expect(find(out.objects, "Namespace", "pay")?.metadata.labels?.["crescendo.dev/squad"]).toBe("pay.ments");
  });

  it("refuses a name too long for a label value", () => {
    const out = plan({ squad: squad({ namespaces: [{ name: "pay" }] }, "a".repeat(64)) });
    expect(out.objects).toEqual([]);
    expect(out.conflicts[0]?.reason).toBe("InvalidSpec");
    expect(out.conflicts[0]?.message).toMatch(/not a valid label value/);
  });

  it("requires a uid, since ownerReferences need one", () => {
    expect(() => plan({ squad: squad({}, "payments", "") })).toThrow(/no uid/);
  });
});

describe("planSquad: RoleBindings", () => {
  const roles = [
    { role: "lead", binding: OBJECT_NAMES.lead, clusterRole: CLUSTER_ROLES.lead },
    { role: "member", binding: OBJECT_NAMES.member, clusterRole: CLUSTER_ROLES.member },
    { role: "viewer", binding: OBJECT_NAMES.viewer, clusterRole: CLUSTER_ROLES.viewer },
  ] as const;

  it("maps lead → admin, member → edit, viewer → view", () => {
    expect(roles.map((r) => [r.binding, r.clusterRole])).toEqual([
      ["crescendo-lead", "admin"],
      ["crescendo-member", "edit"],
      ["crescendo-viewer", "view"],
    ]);
  });

  it.each(roles)("binds only $role when only $role has members", ({ role, binding, clusterRole }) => {
    const out = plan({ squad: squad({ members: [{ kind: "Group", name: "devs", role }] }) });
    const bindings = out.objects.filter((o) => o.kind === "RoleBinding");
    expect(bindings).toEqual([
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: { name: binding, namespace: "payments", labels: squadLabels, ownerReferences: [ownerRef] },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: clusterRole },
        subjects: [{ kind: "Group", name: "devs", apiGroup: "rbac.authorization.k8s.io" }],
      },
    ]);
  });

  it("binds no role without members", () => {
    const out = plan({ squad: squad({ members: [] }) });
    expect(out.objects.filter((o) => o.kind === "RoleBinding")).toEqual([]);
  });

  it("writes each subject kind as RBAC expects, in spec order, each once; role defaults to member", () => {
    const out = plan({
      squad: squad({
        members: [
          { kind: "User", name: "ana" },
          { kind: "ServiceAccount", name: "ci", namespace: "tools" },
          { kind: "Group", name: "sre", role: "member" },
          { kind: "User", name: "ana", chapter: "backend" },
          { kind: "ServiceAccount", name: "ci", namespace: "other" },
          { kind: "User", name: "bo", role: "lead" },
          { kind: "User", name: "cy", role: "viewer" },
        ],
      }),
    });
    expect(find(out.objects, "RoleBinding", "crescendo-member")?.["subjects"]).toEqual([
      { kind: "User", name: "ana", apiGroup: "rbac.authorization.k8s.io" },
      { kind: "ServiceAccount", name: "ci", namespace: "tools" },
      { kind: "Group", name: "sre", apiGroup: "rbac.authorization.k8s.io" },
      { kind: "ServiceAccount", name: "ci", namespace: "other" },
    ]);
    expect(find(out.objects, "RoleBinding", "crescendo-lead")?.["subjects"]).toEqual([
      { kind: "User", name: "bo", apiGroup: "rbac.authorization.k8s.io" },
    ]);
    expect(find(out.objects, "RoleBinding", "crescendo-viewer")?.["subjects"]).toEqual([
      { kind: "User", name: "cy", apiGroup: "rbac.authorization.k8s.io" },
    ]);
    expect(kinds(out.objects.filter((o) => o.kind === "RoleBinding"))).toEqual([
      "RoleBinding/payments/crescendo-lead",
      "RoleBinding/payments/crescendo-member",
      "RoleBinding/payments/crescendo-viewer",
    ]);
  });
});

describe("planSquad: system namespaces", () => {
  it.each(["kube-system", "kube-public", "default", "crescendo-system"])("refuses to own %s", (name) => {
    // Stored before the CRD refused it, or the operator's namespace, which the CRD cannot know.
    const stored = squad({ namespaces: [{ name: "pay" }, { name: "placeholder", adopt: true }] });
    stored.spec.namespaces[1]!.name = name;
    const result = plan({ squad: stored, secretReader: { operatorNamespace: "crescendo-system" } });
    expect(result.conflicts).toEqual([
      {
        namespace: name,
        reason: "InvalidSpec",
        message: `namespace "${name}" is a system namespace (kube-*, default, the operator's own); a Squad may not own it`,
      },
    ]);
    expect(result.objects.filter((o) => o.metadata.namespace === name || o.metadata.name === name)).toEqual(
      [],
    );
    expect(result.namespaces).toEqual(["pay"]);
  });

  it("refuses a Squad named after one, whose default namespace it would be", () => {
    const result = plan({ squad: squad({}, "kube-public") });
    expect(result.conflicts[0]).toMatchObject({ namespace: "kube-public", reason: "InvalidSpec" });
    expect(result.objects).toEqual([]);
  });

  it("the CRD and zod refuse kube-* and default in spec.namespaces", () => {
    for (const name of ["kube-system", "default"]) {
      const parsed = squadSpec.safeParse({ namespaces: [{ name }] });
      expect(parsed.success).toBe(false);
      expect(parsed.error?.issues[0]?.message).toBe(
        "a Squad may not own a system namespace (kube-*, default)",
      );
    }
    expect(squadSpec.safeParse({ namespaces: [{ name: "kubernetes-dashboard" }] }).success).toBe(true);
  });
});

describe("planSquad: the on-call webhook Secret", () => {
  const reader = {
    clusterRole: "crescendo-secret-reader",
    serviceAccount: { name: "crescendo", namespace: "crescendo-system" },
    operatorNamespace: "crescendo-system",
  };
  const oncall = (ref: Record<string, string>) => ({
    namespaces: [{ name: "pay" }, { name: "pay-jobs" }],
    oncall: { webhookSecretRef: { name: "pager", ...ref } },
  });

  it("binds the secret reader to the operator in the squad namespace holding the Secret", () => {
    const result = plan({ squad: squad(oncall({ namespace: "pay-jobs" })), secretReader: reader });
    expect(result.conflicts).toEqual([]);
    const bindings = result.objects.filter((o) => o.metadata.name === OBJECT_NAMES.secretReader);
    expect(bindings).toEqual([
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: {
          name: "crescendo-oncall-secret-reader",
          namespace: "pay-jobs",
          labels: squadLabels,
          ownerReferences: [ownerRef],
        },
        roleRef: {
          apiGroup: "rbac.authorization.k8s.io",
          kind: "ClusterRole",
          name: "crescendo-secret-reader",
        },
        subjects: [{ kind: "ServiceAccount", name: "crescendo", namespace: "crescendo-system" }],
      },
    ]);
  });

  it("defaults to the squad's first namespace", () => {
    const result = plan({ squad: squad(oncall({})), secretReader: reader });
    expect(find(result.objects, "RoleBinding", OBJECT_NAMES.secretReader, "pay")).toBeDefined();
  });

  it("binds nothing for a Secret in the operator's namespace: the chart covers it", () => {
    const result = plan({ squad: squad(oncall({ namespace: "crescendo-system" })), secretReader: reader });
    expect(result.conflicts).toEqual([]);
    expect(result.objects.some((o) => o.metadata.name === OBJECT_NAMES.secretReader)).toBe(false);
  });

  it("refuses a Secret in a namespace the squad does not own, and binds nothing there", () => {
    const result = plan({ squad: squad(oncall({ namespace: "kube-system" })), secretReader: reader });
    expect(result.conflicts).toEqual([
      {
        reason: "InvalidSpec",
        message:
          "spec.oncall.webhookSecretRef.namespace: kube-system is not a namespace of the squad or the operator's namespace crescendo-system; the operator reads the webhook Secret only there",
      },
    ]);
    expect(result.objects.some((o) => o.metadata.name === OBJECT_NAMES.secretReader)).toBe(false);
  });

  it("binds nothing without a configured reader (a local run), but still refuses foreign namespaces", () => {
    expect(
      plan({ squad: squad(oncall({})) }).objects.some((o) => o.metadata.name === OBJECT_NAMES.secretReader),
    ).toBe(false);
    expect(plan({ squad: squad(oncall({ namespace: "elsewhere" })) }).conflicts).toHaveLength(1);
  });

  it("deletes the binding when the Secret moves", () => {
    const before = plan({ squad: squad(oncall({ namespace: "pay" })), secretReader: reader });
    const stale = find(before.objects, "RoleBinding", OBJECT_NAMES.secretReader, "pay")!;
    const after = plan({
      squad: squad(oncall({ namespace: "pay-jobs" })),
      secretReader: reader,
      owned: [stale],
    });
    expect(after.deletions).toEqual([stale]);
  });
});

describe("planSquad: quota and limits", () => {
  it.each([
    { quota: undefined, limits: undefined, expected: [] },
    { quota: { hard: { pods: 10 } }, limits: undefined, expected: ["ResourceQuota"] },
    { quota: undefined, limits: { max: { cpu: "2" } }, expected: ["LimitRange"] },
    {
      quota: { hard: { pods: 10 } },
      limits: { max: { cpu: "2" } },
      expected: ["ResourceQuota", "LimitRange"],
    },
  ])("quota $quota, limits $limits → $expected", ({ quota, limits, expected }) => {
    const out = plan({ squad: squad({ quota, limits }) });
    expect(out.objects.filter((o) => o.kind !== "Namespace").map((o) => o.kind)).toEqual(expected);
  });

  it("writes the quota's hard limits with sorted keys", () => {
    const out = plan({
      squad: squad({ quota: { hard: { "requests.memory": "8Gi", pods: 20, "requests.cpu": "4" } } }),
    });
    const quota = find(out.objects, "ResourceQuota", "crescendo-quota", "payments");
    expect(quota).toEqual({
      apiVersion: "v1",
      kind: "ResourceQuota",
      metadata: {
        name: "crescendo-quota",
        namespace: "payments",
        labels: squadLabels,
        ownerReferences: [ownerRef],
      },
      spec: { hard: { pods: 20, "requests.cpu": "4", "requests.memory": "8Gi" } },
    });
    expect(Object.keys((quota?.["spec"] as { hard: object }).hard)).toEqual([
      "pods",
      "requests.cpu",
      "requests.memory",
    ]);
  });

  it("writes one Container LimitRange item with only the lists given", () => {
    const out = plan({
      squad: squad({ limits: { default: { memory: "512Mi", cpu: "500m" }, min: { cpu: "10m" } } }),
    });
    expect(find(out.objects, "LimitRange", "crescendo-limits")).toEqual({
      apiVersion: "v1",
      kind: "LimitRange",
      metadata: {
        name: "crescendo-limits",
        namespace: "payments",
        labels: squadLabels,
        ownerReferences: [ownerRef],
      },
      spec: {
        limits: [{ type: "Container", default: { cpu: "500m", memory: "512Mi" }, min: { cpu: "10m" } }],
      },
    });
  });

  it("writes a bare Container item for empty limits", () => {
    const out = plan({ squad: squad({ limits: {} }) });
    expect(find(out.objects, "LimitRange", "crescendo-limits")?.["spec"]).toEqual({
      limits: [{ type: "Container" }],
    });
  });
});

describe("planSquad: network isolation", () => {
  const policy = (matchLabels: Record<string, string>) => ({
    podSelector: {},
    policyTypes: ["Ingress"],
    ingress: [{ from: [{ namespaceSelector: { matchLabels } }] }],
  });

  it.each([
    { isolation: "None", tribe: undefined, spec: undefined, conflict: false },
    { isolation: "None", tribe: "money", spec: undefined, conflict: false },
    {
      isolation: "Squad",
      tribe: undefined,
      spec: policy({ "crescendo.dev/squad": "payments" }),
      conflict: false,
    },
    {
      isolation: "Squad",
      tribe: "money",
      spec: policy({ "crescendo.dev/squad": "payments" }),
      conflict: false,
    },
    { isolation: "Tribe", tribe: "money", spec: policy({ "crescendo.dev/tribe": "money" }), conflict: false },
    // Tribe without a tribe: never more open than asked, and the spec is reported.
    {
      isolation: "Tribe",
      tribe: undefined,
      spec: policy({ "crescendo.dev/squad": "payments" }),
      conflict: true,
    },
  ])("$isolation (tribe $tribe)", ({ isolation, tribe, spec, conflict }) => {
    const out = plan({ squad: squad({ networkIsolation: isolation, tribe }) });
    const np = find(out.objects, "NetworkPolicy", "crescendo-isolation", "payments");
    expect(np?.["spec"]).toEqual(spec);
    if (np) expect(np.metadata.ownerReferences).toEqual([ownerRef]);
    expect(out.conflicts).toEqual(
      conflict
        ? [
            {
              reason: "InvalidSpec",
              message:
                "networkIsolation Tribe needs spec.tribe; isolating the squad's own namespaces until it is set",
            },
          ]
        : [],
    );
  });
});

describe("planSquad: what the isolation admission policy reads on the namespace", () => {
  const nsOf = (spec: Record<string, unknown>) =>
    find(plan({ squad: squad(spec) }).objects, "Namespace", "payments", undefined)?.metadata;

  it.each([
    { isolation: "None", tribe: "money", label: undefined },
    { isolation: "Squad", tribe: "money", label: "Squad" },
    { isolation: "Tribe", tribe: "money", label: "Tribe" },
    // Tribe without a tribe isolates to the squad, and says so.
    { isolation: "Tribe", tribe: undefined, label: "Squad" },
  ])("$isolation (tribe $tribe): crescendo.dev/network-isolation $label", ({ isolation, tribe, label }) => {
    expect(nsOf({ networkIsolation: isolation, tribe })?.labels?.["crescendo.dev/network-isolation"]).toBe(
      label,
    );
  });

  it("lists allowIngressFrom in an annotation, sorted, only under isolation", () => {
    const allowed = { allowIngressFrom: ["monitoring", "ingress-nginx"] };
    expect(nsOf({ networkIsolation: "Squad", ...allowed })?.annotations).toEqual({
      "crescendo.dev/allow-ingress-from": "ingress-nginx,monitoring",
    });
    expect(nsOf({ networkIsolation: "None", ...allowed })?.annotations).toBeUndefined();
    expect(nsOf({ networkIsolation: "Squad" })?.annotations).toBeUndefined();
  });

  it("refuses the label in spec.namespaces[].labels: only the operator sets the scope", () => {
    const out = plan({
      squad: squad({
        networkIsolation: "None",
        namespaces: [{ name: "payments", labels: { "crescendo.dev/network-isolation": "Squad" } }],
      }),
    });
    expect(out.conflicts).toEqual([
      expect.objectContaining({
        reason: "InvalidSpec",
        message: expect.stringContaining("network-isolation"),
      }),
    ]);
  });
});

describe("planSquad: allowIngressFrom", () => {
  it("admits the named namespaces besides the squad's own", () => {
    const out = plan({ squad: squad({ networkIsolation: "Squad", allowIngressFrom: ["monitoring"] }) });
    const np = find(out.objects, "NetworkPolicy", "crescendo-isolation", "payments");
    expect((np?.["spec"] as { ingress: unknown[] }).ingress).toEqual([
      {
        from: [
          { namespaceSelector: { matchLabels: { "crescendo.dev/squad": "payments" } } },
          { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } },
        ],
      },
    ]);
  });
});

describe("planSquad: ownership metadata", () => {
  it("sets the controller ownerReference and labels on every namespaced object, none on Namespaces", () => {
    const out = plan({
      squad: squad({
        tribe: "money",
        namespaces: [{ name: "a" }, { name: "b" }],
        members: [
          { kind: "User", name: "x", role: "lead" },
          { kind: "User", name: "y", role: "member" },
          { kind: "User", name: "z", role: "viewer" },
        ],
        quota: { hard: { pods: 1 } },
        limits: { max: { cpu: "1" } },
        networkIsolation: "Tribe",
      }),
    });
    expect(out.objects).toHaveLength(2 * 7);
    for (const obj of out.objects) {
      expect(obj.apiVersion).toBeTruthy();
      expect(resourceOf(obj)?.kind).toBe(obj.kind);
      expect(obj.metadata.labels).toMatchObject({ ...squadLabels, "crescendo.dev/tribe": "money" });
      if (obj.kind === "Namespace") {
        expect(obj.metadata.ownerReferences).toBeUndefined();
        expect(obj.metadata.namespace).toBeUndefined();
      } else {
        expect(obj.metadata.ownerReferences).toEqual([{ ...ownerRef }]);
        expect(["a", "b"]).toContain(obj.metadata.namespace);
      }
    }
  });

  it("is deterministic", () => {
    const input = {
      squad: squad({
        members: [{ kind: "User", name: "x" }],
        quota: { hard: { b: 1, a: 2 } },
        networkIsolation: "Squad",
      }),
    };
    expect(JSON.stringify(plan(input))).toBe(JSON.stringify(plan(input)));
  });
});

describe("planSquad: deletions and releases", () => {
  const owned = (
    kind: string,
    name: string,
    namespace: string,
    extra: Partial<KubeObject["metadata"]> = {},
  ): KubeObject => ({
    apiVersion: kind === "RoleBinding" ? "rbac.authorization.k8s.io/v1" : "v1",
    kind,
    metadata: { name, namespace, labels: squadLabels, ownerReferences: [ownerRef], ...extra },
  });

  it("deletes owned objects that are no longer desired and keeps desired ones", () => {
    const out = plan({
      squad: squad({ members: [{ kind: "User", name: "ana", role: "lead" }], networkIsolation: "None" }),
      observedNamespaces: new Map([["payments", ns("payments", { "crescendo.dev/squad": "payments" })]]),
      owned: [
        owned("RoleBinding", "crescendo-lead", "payments"),
        owned("RoleBinding", "crescendo-viewer", "payments"),
        owned("NetworkPolicy", "crescendo-isolation", "payments"),
        owned("ResourceQuota", "crescendo-quota", "payments"),
        owned("LimitRange", "crescendo-limits", "payments"),
      ],
    });
    expect(kinds(out.deletions)).toEqual([
      "RoleBinding/payments/crescendo-viewer",
      "NetworkPolicy/payments/crescendo-isolation",
      "ResourceQuota/payments/crescendo-quota",
      "LimitRange/payments/crescendo-limits",
    ]);
  });

  it("deletes what it owns in a namespace that is now another squad's or no longer declared", () => {
    const out = plan({
      squad: squad({ namespaces: [{ name: "taken" }] }),
      observedNamespaces: new Map([["taken", ns("taken", { "crescendo.dev/squad": "billing" })]]),
      owned: [
        owned("RoleBinding", "crescendo-lead", "taken"),
        owned("RoleBinding", "crescendo-lead", "dropped"),
      ],
    });
    expect(kinds(out.deletions)).toEqual([
      "RoleBinding/taken/crescendo-lead",
      "RoleBinding/dropped/crescendo-lead",
    ]);
  });

  it.each([
    {
      why: "another squad's uid (a namesake that was recreated)",
      meta: { ownerReferences: [{ ...ownerRef, uid: "old" }] },
    },
    {
      why: "a non-controller ownerReference",
      meta: { ownerReferences: [{ ...ownerRef, controller: false }] },
    },
    { why: "no ownerReference, only the label", meta: { ownerReferences: [] } },
    { why: "already being deleted", meta: { deletionTimestamp: "2024-01-01T00:00:00Z" } },
  ])("never deletes an object with $why", ({ meta }) => {
    const out = plan({
      squad: squad({}),
      owned: [owned("RoleBinding", "crescendo-lead", "payments", meta)],
    });
    expect(out.deletions).toEqual([]);
  });

  it("never deletes kinds it does not create, even when it owns them", () => {
    const out = plan({
      squad: squad({}),
      owned: [owned("ConfigMap", "x", "payments"), owned("Secret", "y", "payments")],
    });
    expect(out.deletions).toEqual([]);
  });

  it("leaves objects in a terminating namespace to go with it", () => {
    const out = plan({
      squad: squad({}),
      observedNamespaces: new Map([
        [
          "payments",
          ns(
            "payments",
            { "crescendo.dev/squad": "payments" },
            { deletionTimestamp: "2024-01-01T00:00:00Z" },
          ),
        ],
      ]),
      owned: [owned("RoleBinding", "crescendo-lead", "payments")],
    });
    expect(out.deletions).toEqual([]);
  });

  it("releases namespaces labelled as its own that the spec no longer declares", () => {
    const dropped = ns("old", { ...squadLabels, env: "prod" });
    const out = plan({
      squad: squad({ namespaces: [{ name: "new" }] }),
      owned: [
        dropped,
        ns("new", squadLabels),
        ns("other-squads", { "crescendo.dev/squad": "billing" }),
        ns("going", squadLabels, { deletionTimestamp: "2024-01-01T00:00:00Z" }),
      ],
    });
    expect(out.released).toEqual([dropped]);
    expect(out.deletions).toEqual([]);
  });

  it("never deletes a Namespace", () => {
    const out = plan({ squad: squad({ namespaces: [{ name: "new" }] }), owned: [ns("old", squadLabels)] });
    expect(out.deletions).toEqual([]);
  });
});

describe("releasePatch", () => {
  it("removes only the operator's labels and hash, guarded by the resourceVersion", () => {
    const observed = ns(
      "old",
      { ...squadLabels, "crescendo.dev/tribe": "money", env: "prod" },
      {
        annotations: { "crescendo.dev/applied-hash": "abc", note: "keep" },
      },
    );
    expect(releasePatch(observed)).toEqual({
      metadata: {
        resourceVersion: "7",
        labels: {
          "app.kubernetes.io/managed-by": null,
          "crescendo.dev/squad": null,
          "crescendo.dev/tribe": null,
          "backstage.io/kubernetes-id": null,
        },
        annotations: { "crescendo.dev/applied-hash": null },
      },
    });
  });

  it("also removes the isolation scope and the allowed-ingress note", () => {
    const observed = ns(
      "old",
      { ...squadLabels, "crescendo.dev/network-isolation": "Squad" },
      { annotations: { "crescendo.dev/allow-ingress-from": "monitoring" } },
    );
    expect(releasePatch(observed).metadata).toMatchObject({
      labels: { "crescendo.dev/network-isolation": null },
      annotations: { "crescendo.dev/allow-ingress-from": null },
    });
  });

  it("only nulls labels that are present", () => {
    expect(releasePatch(ns("old", { "crescendo.dev/squad": "payments" }))).toEqual({
      metadata: { resourceVersion: "7", labels: { "crescendo.dev/squad": null } },
    });
  });
});

describe("helpers", () => {
  it("claims a namespace with the squad label only", () => {
    expect(namespaceClaim("pay", "payments")).toEqual({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: "pay", labels: { "crescendo.dev/squad": "payments" } },
    });
  });

  it("knows the Resource of every kind it plans and nothing else", () => {
    expect(OWNED_RESOURCES.map((r) => r.kind)).toEqual([
      "RoleBinding",
      "ResourceQuota",
      "LimitRange",
      "NetworkPolicy",
    ]);
    expect(resourceOf({ kind: "Namespace", metadata: {} })?.plural).toBe("namespaces");
    expect(resourceOf({ kind: "Deployment", metadata: {} })).toBeUndefined();
    expect(resourceOf({ metadata: {} })).toBeUndefined();
  });

  it("identifies objects by kind, namespace and name", () => {
    expect(objectIdentity({ kind: "RoleBinding", metadata: { name: "a", namespace: "b" } })).toBe(
      objectIdentity({
        apiVersion: "x",
        kind: "RoleBinding",
        metadata: { name: "a", namespace: "b", uid: "u" },
      }),
    );
    expect(objectIdentity({ kind: "RoleBinding", metadata: { name: "a", namespace: "b" } })).not.toBe(
      objectIdentity({ kind: "RoleBinding", metadata: { name: "a", namespace: "c" } }),
    );
  });
});

describe("planSquad: chapters", () => {
  const members = [
    { kind: "User", name: "ana", role: "lead", chapter: "backend" },
    { kind: "User", name: "bo", chapter: "frontend" },
    { kind: "User", name: "cy", chapter: "backend" },
    { kind: "User", name: "di", chapter: "Data Science" },
    { kind: "Group", name: "sre", role: "viewer" },
  ];

  it("labels each RoleBinding with the chapters of the members it binds", () => {
    const out = plan({ squad: squad({ members }) });
    const labels = (name: string) => find(out.objects, "RoleBinding", name)?.metadata.labels;
    expect(labels("crescendo-lead")).toEqual({ ...squadLabels, "chapter.crescendo.dev/backend": "true" });
    expect(labels("crescendo-member")).toEqual({
      ...squadLabels,
      "chapter.crescendo.dev/backend": "true",
      "chapter.crescendo.dev/frontend": "true",
    });
    expect(labels("crescendo-viewer")).toEqual(squadLabels);
  });

  it("labels the namespaces with every chapter working in the squad; a chapter no label can name is left out", () => {
    const out = plan({ squad: squad({ members }) });
    expect(find(out.objects, "Namespace", "payments")?.metadata.labels).toEqual({
      ...squadLabels,
      "chapter.crescendo.dev/backend": "true",
      "chapter.crescendo.dev/frontend": "true",
    });
    expect(out.conflicts).toEqual([]);
  });

  it("keeps chapter labels to itself: the spec may not set them on a namespace", () => {
    const out = plan({
      squad: squad({ namespaces: [{ name: "pay", labels: { "chapter.crescendo.dev/qa": "true" } }] }),
    });
    expect(find(out.objects, "Namespace", "pay")?.metadata.labels).toEqual(squadLabels);
    expect(out.conflicts[0]?.message).toBe(
      'namespace "pay" sets labels the operator manages: chapter.crescendo.dev/qa',
    );
  });

  it("releases a namespace with its chapter labels", () => {
    const observed = ns("old", {
      "crescendo.dev/squad": "payments",
      "chapter.crescendo.dev/backend": "true",
      team: "x",
    });
    expect(releasePatch(observed).metadata["labels"]).toEqual({
      "crescendo.dev/squad": null,
      "chapter.crescendo.dev/backend": null,
    });
  });
});

describe("planSquad: declared tribes", () => {
  const tribeLabels = { ...squadLabels, "crescendo.dev/tribe": "money" };

  it("any tribe is allowed when the platform declares none", () => {
    for (const declaredTribes of [undefined, []]) {
      const out = plan({ squad: squad({ tribe: "money" }), declaredTribes });
      expect(out.conflicts).toEqual([]);
      expect(find(out.objects, "Namespace", "payments")?.metadata.labels).toEqual(tribeLabels);
    }
  });

  it("a declared tribe labels the squad's objects and selects Tribe isolation", () => {
    const out = plan({
      squad: squad({ tribe: "money", networkIsolation: "Tribe", members: [{ kind: "Group", name: "devs" }] }),
      declaredTribes: ["money", "growth"],
    });
    expect(out.conflicts).toEqual([]);
    expect(find(out.objects, "RoleBinding", "crescendo-member")?.metadata.labels).toEqual(tribeLabels);
    expect(find(out.objects, "NetworkPolicy", "crescendo-isolation")?.["spec"]).toMatchObject({
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { "crescendo.dev/tribe": "money" } } }] }],
    });
  });

  it("a tribe the platform does not declare is refused, naming the field; the squad joins no tribe", () => {
    const out = plan({
      squad: squad({ tribe: "money", networkIsolation: "Tribe", members: [{ kind: "Group", name: "devs" }] }),
      declaredTribes: ["growth", "core"],
    });
    expect(out.conflicts).toEqual([
      {
        reason: "InvalidSpec",
        message:
          'spec.tribe: tribe "money" is not one the platform declares (core, growth); the squad is in no tribe until spec.tribe names one of them',
      },
    ]);
    // No object carries the tribe label, so no tribe's isolation admits the squad's namespaces...
    expect(out.objects.filter((o) => o.metadata.labels?.["crescendo.dev/tribe"] !== undefined)).toEqual([]);
    // ...and its own isolation is the squad's, never more open than asked.
    expect(find(out.objects, "NetworkPolicy", "crescendo-isolation")?.["spec"]).toMatchObject({
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { "crescendo.dev/squad": "payments" } } }] }],
    });
    // Everything else is still in place: the squad's members keep their access.
    expect(kinds(out.objects)).toEqual([
      "Namespace//payments",
      "RoleBinding/payments/crescendo-member",
      "NetworkPolicy/payments/crescendo-isolation",
    ]);
  });

  it("a squad without a tribe needs no declaration", () => {
    expect(plan({ squad: squad({}), declaredTribes: ["money"] }).conflicts).toEqual([]);
  });
});
