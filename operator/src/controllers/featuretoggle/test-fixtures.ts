/**
 * Objects and fakes the FeatureToggle tests share: toggles, Releases, Namespaces and the
 * FeatureFlag CRD as the informers hold them, stores filled with them, and a client that
 * records its calls. Not a test file itself; excluded from the build.
 */
import type { FeatureToggleStatus } from "../../api/featuretoggle.js";
import { createLogger } from "../../observability/logger.js";
import { ApiError, type KubeClient } from "../../runtime/client.js";
import { FEATURE_FLAG_CRD } from "../../runtime/resources.js";
import { Store } from "../../runtime/store.js";
import { applyMergePatch } from "../../runtime/test-fixtures.js";
import type { KubeObject, Resource } from "../../runtime/types.js";
import type { RawRelease, RawToggle } from "./plan.js";

export const logger = createLogger({ level: "silent" });
export const CREATED = "2024-01-01T00:00:00Z";
export const NOW = Date.parse("2024-01-02T00:00:00Z");

export function toggle(
  name: string,
  spec: Record<string, unknown> = {},
  extra: { namespace?: string; status?: FeatureToggleStatus; meta?: Partial<KubeObject["metadata"]> } = {},
): RawToggle {
  return {
    apiVersion: "crescendo.dev/v1alpha1",
    kind: "FeatureToggle",
    metadata: {
      name,
      namespace: extra.namespace ?? "shop",
      uid: `uid-${name}`,
      generation: 1,
      resourceVersion: "1",
      creationTimestamp: CREATED,
      ...extra.meta,
    },
    spec: { variants: { on: true, off: false }, defaultVariant: "off", ...spec },
    ...(extra.status ? { status: extra.status } : {}),
  };
}

export function release(name: string, phase: string, namespace = "shop", rv = "1"): RawRelease {
  return {
    metadata: { name, namespace, resourceVersion: rv },
    status: { phase: phase as NonNullable<RawRelease["status"]>["phase"], canaryRevision: "abc123" },
  };
}

export function store<T extends KubeObject>(objects: T[] = []): Store<T> {
  const s = new Store<T>();
  s.replace(objects, "1");
  return s;
}

export const namespace = (name: string, labels: Record<string, string> = {}): KubeObject => ({
  metadata: { name, labels, resourceVersion: "1" },
});

export const establishedCrd = (served = true): KubeObject => ({
  metadata: { name: FEATURE_FLAG_CRD, uid: "crd-1" },
  spec: { versions: [{ name: "v1beta1", served }] },
  status: { conditions: [{ type: "Established", status: "True" }] },
});

export interface Call {
  verb: "apply" | "delete" | "mergePatch";
  kind: string;
  name: string;
  namespace?: string;
  body?: unknown;
  subresource?: string;
}

export function fakeClient(
  options: {
    statusConflict?: string;
    statusGone?: string;
    featureFlag404?: boolean;
    /** Answer status patches as the apiserver does: a new resourceVersion and the status. */
    statusVersions?: boolean;
  } = {},
) {
  const calls: Call[] = [];
  let version = 0;
  /** Each toggle's status as its writes left it, by namespace/name. */
  const statuses = new Map<string, unknown>();
  const client: Pick<KubeClient, "apply" | "delete" | "mergePatch" | "get"> = {
    // Toggles are read before each on-call attempt (`stillDue`): answered as the apiserver
    // would, with the status their writes made (the fixtures' uid). Nothing else is read: the
    // tests give the controller a webhook of their own, so not the on-call Secret.
    get: async <T extends KubeObject>(res: Resource, name: string, ns?: string) => {
      if (res.kind !== "FeatureToggle") return undefined;
      const key = `${ns ?? ""}/${name}`;
      if (!statuses.has(key)) return undefined;
      return {
        metadata: { name, namespace: ns, uid: `uid-${name}` },
        status: statuses.get(key),
      } as unknown as T;
    },
    apply: async <T extends KubeObject>(obj: KubeObject, res: Resource) => {
      calls.push({
        verb: "apply",
        kind: res.kind,
        name: obj.metadata.name ?? "",
        namespace: obj.metadata.namespace,
        body: obj,
      });
      if (options.featureFlag404 && res.kind === "FeatureFlag")
        throw new ApiError(404, "NotFound", "no kind", undefined, undefined, "PATCH");
      return obj as T;
    },
    delete: async (res: Resource, name: string, ns?: string) => {
      calls.push({ verb: "delete", kind: res.kind, name, namespace: ns });
      return true;
    },
    mergePatch: async <T extends KubeObject>(
      res: Resource,
      name: string,
      ns: string | undefined,
      patch: unknown,
      opts?: { subresource?: string },
    ) => {
      calls.push({ verb: "mergePatch", kind: res.kind, name, namespace: ns, body: patch, ...opts });
      const wroteStatus = opts?.subresource === "status" && res.kind === "FeatureToggle";
      const key = `${ns ?? ""}/${name}`;
      if (options.statusConflict === name)
        throw new ApiError(409, "Conflict", "conflict", undefined, undefined, "PATCH");
      if (options.statusGone === name)
        throw new ApiError(404, "NotFound", "not found", undefined, undefined, "PATCH");
      if (wroteStatus)
        statuses.set(key, applyMergePatch(statuses.get(key), (patch as { status: unknown }).status));
      if (options.statusVersions && opts?.subresource === "status") {
        const { status } = patch as { status: unknown };
        return { metadata: { name, resourceVersion: `w${++version}` }, status } as unknown as T;
      }
      return { metadata: { name } } as T;
    },
  };
  return { client, calls };
}
