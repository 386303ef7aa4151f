/**
 * What the on-call path needs of a Squad whose spec as a whole is refused (InvalidSpec): its
 * `oncall`, `tribe` and `namespaces`, each taken where it parses on its own. An incident of such a
 * squad is recorded Notify-only ("notify only until it is fixed"), so its message must still go
 * out: a typo in an incident rule must not silence the page it falls back to.
 */
import type { Squad } from "../../api/kinds.js";
import { squadSpec } from "../../api/squad.js";
import { asRecord } from "../../runtime/is-record.js";
import type { KubeObject } from "../../runtime/types.js";

/** The Squad as the on-call path reads it; undefined when its `oncall` itself does not parse. */
export function oncallView(raw: KubeObject & { spec?: unknown }): Squad | undefined {
  const spec = asRecord(raw.spec);
  const oncall = squadSpec.shape.oncall.safeParse(spec["oncall"]);
  if (!oncall.success || !oncall.data) return undefined;
  const tribe = squadSpec.shape.tribe.safeParse(spec["tribe"]);
  const namespaces = squadSpec.shape.namespaces.safeParse(spec["namespaces"]);
  // Without readable namespaces a Secret reference with no namespace of its own reads the
  // Squad's name, as it does for a Squad that lists none.
  const parsed = squadSpec.safeParse({
    oncall: oncall.data,
    ...(tribe.success && tribe.data !== undefined ? { tribe: tribe.data } : {}),
    ...(namespaces.success ? { namespaces: namespaces.data } : {}),
  });
  return parsed.success ? ({ ...raw, spec: parsed.data } as Squad) : undefined;
}
