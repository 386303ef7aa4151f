/**
 * What the operator's informers cache, declared once (controller-runtime's `cache.Options.ByObject`).
 * Without selectors every informer holds its whole kind across the cluster: every app's
 * Deployments, Services and ConfigMaps, and every CustomResourceDefinition (large objects), which
 * in a real cluster is most of the operator's memory although it reads only what it created.
 *
 * Selected, by `app.kubernetes.io/managed-by=crescendo`: the kinds the controllers create and read
 * back only as their own (each plan sets the label; the plans' tests check it). Squads: RoleBindings,
 * ResourceQuotas, LimitRanges, NetworkPolicies, read by ownerReference. Releases: Deployments,
 * ControllerRevisions and Services, by ownerReference or by planned name. FeatureToggles: the
 * `crescendo-flags` ConfigMaps, by name. Selected by name: the one CustomResourceDefinition the
 * FeatureToggle controller looks at.
 *
 * Cached whole: Namespaces (users create and label them; a Squad adopts or refuses them by what they
 * carry), HTTPRoutes (the user's; a Release only patches their weights) and Crescendo's own kinds.
 *
 * An owned object whose label someone removes leaves the cache: the watch reports it deleted (the
 * apiserver sends DELETED when an object stops matching a selector), the owner is reconciled through
 * the ownerReference (or the ConfigMap's name), finds nothing observed, and server-side applies the
 * object again with its label, so it comes back as it was; nothing crashes and nothing is orphaned.
 * A Release reads a revision's Deployment it cannot find in the cache from the API before deciding,
 * since a revision other than the current one cannot be rendered from the spec, and likewise its
 * ControllerRevision, whose `data` is immutable: it is relabelled with that data, never rewritten.
 * What is lost while the label is off: an object that stops being wanted in that window is not
 * deleted by the operator, only by the garbage collector when its owner goes.
 */
import { MANAGED_BY_SELECTOR } from "./api/common.js";
import type { CacheOptions } from "./runtime/manager.js";
import {
  ConfigMapResource,
  ControllerRevisionResource,
  CustomResourceDefinitionResource,
  FEATURE_FLAG_CRD,
  DeploymentResource,
  LimitRangeResource,
  NetworkPolicyResource,
  ResourceQuotaResource,
  RoleBindingResource,
  ServiceResource,
} from "./runtime/resources.js";

/** The kinds cached only where the operator set `app.kubernetes.io/managed-by=crescendo`. */
export const MANAGED_KINDS = [
  DeploymentResource,
  ControllerRevisionResource,
  ServiceResource,
  ConfigMapResource,
  RoleBindingResource,
  NetworkPolicyResource,
  ResourceQuotaResource,
  LimitRangeResource,
] as const;

/** The manager's `cache` option: every informer the operator starts, selected as above. */
export const OPERATOR_CACHE: CacheOptions = {
  byResource: [
    ...MANAGED_KINDS.map((resource) => ({ resource, labelSelector: MANAGED_BY_SELECTOR })),
    { resource: CustomResourceDefinitionResource, fieldSelector: `metadata.name=${FEATURE_FLAG_CRD}` },
  ],
};
