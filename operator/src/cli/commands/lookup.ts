/**
 * Finding the named object, and when it is not there, saying so in kubectl's words and
 * guessing what the user meant: a name that exists as another Crescendo kind gets a hint with
 * the command for that kind.
 */
import { FeatureToggleResource, ReleaseResource, SquadResource } from "../../api/kinds.js";
import type { KubeObject, Resource } from "../../runtime/types.js";
import { CliError, explain } from "../errors.js";
import type { CommandEnv } from "./command.js";

/** A Crescendo kind as the plugin names it to people. */
export interface Kind {
  resource: Resource;
  /** Lower case, as in `kubectl get <noun>`. */
  noun: string;
}

export const RELEASE: Kind = { resource: ReleaseResource, noun: "release" };
export const FEATURE_TOGGLE: Kind = { resource: FeatureToggleResource, noun: "featuretoggle" };
export const SQUAD: Kind = { resource: SquadResource, noun: "squad" };
const ALL: readonly Kind[] = [RELEASE, FEATURE_TOGGLE, SQUAD];

/** Reads the object, or throws the not-found message (with a hint) or the explained API error. */
export async function fetchNamed<T extends KubeObject>(
  env: CommandEnv,
  kind: Kind,
  name: string,
): Promise<T> {
  const namespace = kind.resource.namespaced ? env.namespace : undefined;
  let obj: T | undefined;
  try {
    obj = await env.conn.client.get<T>(kind.resource, name, namespace);
  } catch (err) {
    throw explain(err, { verb: "get", resource: kind.resource, namespace, server: env.conn.server });
  }
  if (!obj) throw await notFound(env, kind, name);
  return obj;
}

/** `release "x" not found in namespace "y"`, plus a hint when the name is another kind. */
export async function notFound(env: CommandEnv, kind: Kind, name: string): Promise<CliError> {
  const where = kind.resource.namespaced ? ` in namespace "${env.namespace}"` : "";
  const message = `${kind.noun} "${name}" not found${where}`;
  const other = await otherKind(env, kind, name);
  return new CliError(other ? `${message}\nhint: ${hint(env, kind, other, name)}` : message);
}

/** The first other Crescendo kind that has an object of this name; lookup errors mean "no". */
async function otherKind(env: CommandEnv, wanted: Kind, name: string): Promise<Kind | undefined> {
  for (const kind of ALL) {
    if (kind === wanted) continue;
    try {
      const found = await env.conn.client.get(
        kind.resource,
        name,
        kind.resource.namespaced ? env.namespace : undefined,
      );
      if (found) return kind;
    } catch {
      // Only a hint: no permission to look is the same as nothing found.
    }
  }
  return undefined;
}

function hint(env: CommandEnv, wanted: Kind, found: Kind, name: string): string {
  const ns = found.resource.namespaced ? ` -n ${env.namespace}` : "";
  const is = `"${name}" is a ${found.resource.kind}, not a ${wanted.resource.kind}`;
  if (found === RELEASE) {
    return `${is}: promote, abort, retry, pause and resume act on Releases; see it with "kubectl crescendo status ${name}${ns}"`;
  }
  if (found === FEATURE_TOGGLE) {
    return `${is}: the action for a FeatureToggle is rearm ("kubectl crescendo rearm ${name}${ns}")`;
  }
  return `${is}: see it with "kubectl crescendo squad ${name}"`;
}
