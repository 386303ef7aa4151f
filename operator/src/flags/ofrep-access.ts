/**
 * Who may read which namespace's flags over OFREP: pure decisions, the I/O (headers, TokenReview,
 * informer caches) is in `ofrep-auth.ts`.
 *
 * A namespace's flags are read by the apps of that namespace. Another namespace's apps read them
 * only when the Squad owning the flags' namespace lists the caller's squad or tribe in
 * `spec.toggles.readableBy`. Which squad a namespace belongs to is what a Squad's own spec says
 * (a namespace labelled `crescendo.dev/squad: x` counts only if Squad x lists it), so a label put
 * on a namespace by hand grants nothing. Squads are cluster-scoped and written by the platform
 * team, so squad members cannot widen who reads their flags, or claim to be someone else.
 */
import { LABELS } from "../api/common.js";
import type { FlagReader } from "../api/squad.js";
import { squadSpecParts } from "../api/squad-spec-parts.js";

/** Who is asking, once authenticated. */
export type OfrepCaller =
  /** A verified ServiceAccount token. */
  | { kind: "serviceAccount"; namespace: string; name: string }
  /** A verified token of a user or another kind of identity: it has no namespace. */
  | { kind: "user"; username: string }
  /** The static shared token (`--ofrep-token-file`), scoped to a list of namespaces or `*`. */
  | { kind: "staticToken"; namespaces: readonly string[] | "*" }
  /** `--ofrep-auth=none`: anyone who can reach the port. */
  | { kind: "anonymous" };

/** The squad owning a namespace, as its Squad says. */
export interface SquadScope {
  name: string;
  tribe?: string;
  readableBy: readonly FlagReader[];
}

/** Looks up the squad owning a namespace; `undefined` for a namespace no Squad owns. */
export type SquadOwning = (namespace: string) => SquadScope | undefined;

export type AccessDecision = { allowed: true } | { allowed: false; details: string };

/**
 * Whether `caller` may read the flags of `namespace`. A refusal's details say what the caller
 * may read, never who else may (nor whether the namespace exists or has a squad).
 */
export function mayRead(caller: OfrepCaller, namespace: string, squadOwning: SquadOwning): AccessDecision {
  switch (caller.kind) {
    case "anonymous":
      return { allowed: true };
    case "staticToken":
      return caller.namespaces === "*" || caller.namespaces.includes(namespace)
        ? { allowed: true }
        : { allowed: false, details: `this token is not valid for namespace ${namespace}` };
    case "user":
      return {
        allowed: false,
        details: "only a ServiceAccount token (or the static token) reads flags: a user has no namespace",
      };
    case "serviceAccount": {
      if (caller.namespace === namespace) return { allowed: true };
      const refusal: AccessDecision = {
        allowed: false,
        details: `ServiceAccount ${caller.namespace}/${caller.name} may read the flags of namespace ${caller.namespace}, and of squads sharing theirs with its squad or tribe (spec.toggles.readableBy); not those of ${namespace}`,
      };
      const owner = squadOwning(namespace);
      const own = squadOwning(caller.namespace);
      if (!owner || !own) return refusal;
      const shared = owner.readableBy.some(
        (reader) =>
          (reader.squad !== undefined && reader.squad === own.name) ||
          (reader.tribe !== undefined && reader.tribe === own.tribe),
      );
      return shared ? { allowed: true } : refusal;
    }
  }
}

/**
 * The squad owning `namespace`: the Squad its `crescendo.dev/squad` label names, if that Squad's
 * spec lists the namespace (or, listing none, is named after it). A Squad whose spec does not
 * parse owns nothing here: it is `Stalled` and fixing it restores access. Its incident policy
 * plays no part: a refused one stalls nothing, and takes no app's flag access away. A tribe the platform
 * does not declare (`declaredTribes`, when not empty) is no tribe: naming one shares nothing.
 */
export function squadOwning(
  namespace: string,
  namespaceLabels: Record<string, string> | undefined,
  squadSpecOf: (name: string) => unknown,
  declaredTribes: readonly string[] = [],
): SquadScope | undefined {
  const name = namespaceLabels?.[LABELS.squad];
  if (!name) return undefined;
  const raw = squadSpecOf(name);
  if (raw === undefined) return undefined;
  const parsed = squadSpecParts({ spec: raw });
  if (!parsed.ok) return undefined;
  const spec = parsed.spec;
  const owned = spec.namespaces.length === 0 ? [name] : spec.namespaces.map((n) => n.name);
  if (!owned.includes(namespace)) return undefined;
  const tribeDeclared =
    spec.tribe !== undefined && (declaredTribes.length === 0 || declaredTribes.includes(spec.tribe));
  return {
    name,
    ...(tribeDeclared ? { tribe: spec.tribe } : {}),
    readableBy: spec.toggles?.readableBy ?? [],
  };
}
