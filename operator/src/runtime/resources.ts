/**
 * The built-in kinds the operator reads or writes, as `Resource` values. Crescendo's own kinds
 * are declared next to their schemas in `api/`. A Resource is all the runtime needs to build a
 * URL, start an informer or match an ownerReference, so each kind is named once, here.
 */
import type { Resource } from "./types.js";

export const NamespaceResource: Resource = {
  group: "",
  version: "v1",
  kind: "Namespace",
  plural: "namespaces",
  namespaced: false,
};

export const ConfigMapResource: Resource = {
  group: "",
  version: "v1",
  kind: "ConfigMap",
  plural: "configmaps",
  namespaced: true,
};

export const SecretResource: Resource = {
  group: "",
  version: "v1",
  kind: "Secret",
  plural: "secrets",
  namespaced: true,
};

export const ServiceResource: Resource = {
  group: "",
  version: "v1",
  kind: "Service",
  plural: "services",
  namespaced: true,
};

export const ResourceQuotaResource: Resource = {
  group: "",
  version: "v1",
  kind: "ResourceQuota",
  plural: "resourcequotas",
  namespaced: true,
};

export const LimitRangeResource: Resource = {
  group: "",
  version: "v1",
  kind: "LimitRange",
  plural: "limitranges",
  namespaced: true,
};

/** apps/v1 ControllerRevision: an immutable snapshot of a pod template, as StatefulSets keep theirs. */
export const ControllerRevisionResource: Resource = {
  group: "apps",
  version: "v1",
  kind: "ControllerRevision",
  plural: "controllerrevisions",
  namespaced: true,
};

export const DeploymentResource: Resource = {
  group: "apps",
  version: "v1",
  kind: "Deployment",
  plural: "deployments",
  namespaced: true,
};

/** Read and patched only to hand a deleted Deployment's ReplicaSets over to its recreation. */
export const ReplicaSetResource: Resource = {
  group: "apps",
  version: "v1",
  kind: "ReplicaSet",
  plural: "replicasets",
  namespaced: true,
};

export const RoleBindingResource: Resource = {
  group: "rbac.authorization.k8s.io",
  version: "v1",
  kind: "RoleBinding",
  plural: "rolebindings",
  namespaced: true,
};

export const NetworkPolicyResource: Resource = {
  group: "networking.k8s.io",
  version: "v1",
  kind: "NetworkPolicy",
  plural: "networkpolicies",
  namespaced: true,
};

export const LeaseResource: Resource = {
  group: "coordination.k8s.io",
  version: "v1",
  kind: "Lease",
  plural: "leases",
  namespaced: true,
};

/** The structured `events.k8s.io/v1` Event, not the legacy core/v1 one. */
export const EventResource: Resource = {
  group: "events.k8s.io",
  version: "v1",
  kind: "Event",
  plural: "events",
  namespaced: true,
};

export const HTTPRouteResource: Resource = {
  group: "gateway.networking.k8s.io",
  version: "v1",
  kind: "HTTPRoute",
  plural: "httproutes",
  namespaced: true,
};

export const CustomResourceDefinitionResource: Resource = {
  group: "apiextensions.k8s.io",
  version: "v1",
  kind: "CustomResourceDefinition",
  plural: "customresourcedefinitions",
  namespaced: false,
};

/**
 * The OpenFeature Operator's FeatureFlag kind. Not built in, and not Crescendo's: it is written
 * only when its CRD is installed and served (the ConfigMap is the contract apps rely on).
 */
export const FeatureFlagResource: Resource = {
  group: "core.openfeature.dev",
  version: "v1beta1",
  kind: "FeatureFlag",
  plural: "featureflags",
  namespaced: true,
};

/** The name of the FeatureFlag CRD (`<plural>.<group>`); the operator caches only this CRD. */
export const FEATURE_FLAG_CRD = `${FeatureFlagResource.plural}.${FeatureFlagResource.group}`;

/**
 * The API group of an `apiVersion` string. Owner matching compares groups, not versions, so an
 * ownerReference written with an older version of a kind still maps to its owner.
 */
export function groupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf("/");
  return slash < 0 ? "" : apiVersion.slice(0, slash);
}

/** Verifies a bearer token (OFREP's ServiceAccount tokens): create-only, answered in `status`. */
export const TokenReviewResource: Resource = {
  group: "authentication.k8s.io",
  version: "v1",
  kind: "TokenReview",
  plural: "tokenreviews",
  namespaced: false,
};
