import { describe, expect, it } from "vitest";
import { FeatureToggleResource, ReleaseResource, SquadResource } from "./api/kinds.js";
import { MANAGED_KINDS, OPERATOR_CACHE } from "./cache.js";
import { registerFeatureToggleController } from "./controllers/featuretoggle/controller.js";
import { flagDocumentsFrom } from "./controllers/featuretoggle/documents.js";
import { registerReleaseController } from "./controllers/release/controller.js";
import { registerSquadController } from "./controllers/squad/controller.js";
import { createLogger } from "./observability/logger.js";
import type { KubeClient } from "./runtime/client.js";
import type { ControllerHost } from "./runtime/controller.js";
import { informerKey } from "./runtime/manager.js";
import {
  ConfigMapResource,
  ControllerRevisionResource,
  CustomResourceDefinitionResource,
  DeploymentResource,
  FEATURE_FLAG_CRD,
  HTTPRouteResource,
  LimitRangeResource,
  NamespaceResource,
  NetworkPolicyResource,
  ResourceQuotaResource,
  RoleBindingResource,
  ServiceResource,
} from "./runtime/resources.js";
import { Store } from "./runtime/store.js";
import { systemClock, type KubeObject, type ReadStore, type Resource } from "./runtime/types.js";

const logger = createLogger({ level: "silent" });

describe("OPERATOR_CACHE", () => {
  it("caches the kinds the operator creates by its managed-by label, and one CRD by name", () => {
    const table = Object.fromEntries(
      (OPERATOR_CACHE.byResource ?? []).map(({ resource, ...selector }) => [resource.kind, selector]),
    );
    const managed = { labelSelector: "app.kubernetes.io/managed-by=crescendo" };
    expect(table).toEqual({
      Deployment: managed,
      ControllerRevision: managed,
      Service: managed,
      ConfigMap: managed,
      RoleBinding: managed,
      NetworkPolicy: managed,
      ResourceQuota: managed,
      LimitRange: managed,
      CustomResourceDefinition: { fieldSelector: "metadata.name=featureflags.core.openfeature.dev" },
    });
    expect(FEATURE_FLAG_CRD).toBe("featureflags.core.openfeature.dev");
    expect(MANAGED_KINDS).toEqual([
      DeploymentResource,
      ControllerRevisionResource,
      ServiceResource,
      ConfigMapResource,
      RoleBindingResource,
      NetworkPolicyResource,
      ResourceQuotaResource,
      LimitRangeResource,
    ]);
  });

  it("decides for every informer the controllers open: selected, or cached whole on purpose", () => {
    const opened = new Map<string, Resource>();
    const host: ControllerHost = {
      clock: systemClock,
      logger,
      informer: <T extends KubeObject>(res: Resource) => {
        opened.set(informerKey(res), res);
        return new Store<KubeObject>() as unknown as ReadStore<T>;
      },
      add: () => undefined,
    };
    const client = {} as KubeClient;
    const recorder = { record: async () => undefined };
    registerSquadController(host, { client, recorder, logger });
    registerReleaseController(host, { client, recorder, logger, gatewayAPI: true });
    registerFeatureToggleController(host, { client, recorder, logger, flags: flagDocumentsFrom(host) });

    const selected = new Set((OPERATOR_CACHE.byResource ?? []).map((s) => informerKey(s.resource)));
    // Users create and own these; the operator reads objects of them it did not make.
    const whole = [
      NamespaceResource,
      HTTPRouteResource,
      SquadResource,
      ReleaseResource,
      FeatureToggleResource,
    ];
    const undecided = [...opened.keys()].filter(
      (key) => !selected.has(key) && !whole.some((r) => informerKey(r) === key),
    );
    expect(undecided).toEqual([]);
    // And no selector is declared for a kind nobody watches.
    expect([...selected].filter((key) => !opened.has(key))).toEqual([]);
    expect(opened.has(informerKey(CustomResourceDefinitionResource))).toBe(true);
  });
});
