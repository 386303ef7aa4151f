/**
 * flagd-core refuses a flag that breaks its JSON schema with "invalid flagd flag configuration: "
 * followed by ajv's error objects as indented JSON: dozens of lines per mistake, most of them the
 * alternatives of an `anyOf` that did not match either. Shown as it is, a toggle's status message
 * would be a kilobyte of JSON cut off mid-object. This turns it into one line a person reads: each
 * distinct problem once, named by its path within the flag.
 */

const PREFIX = "invalid flagd flag configuration: ";

interface SchemaError {
  instancePath?: unknown;
  keyword?: unknown;
  message?: unknown;
  params?: { additionalProperty?: unknown; allowedValues?: unknown };
}

/** `key` as a JSON Pointer segment (RFC 6901): `~` and `/` escaped. */
function pointerSegment(key: string): string {
  return key.replace(/~/g, "~0").replace(/\//g, "~1");
}

/** `/flags/<key>/targeting/if/0` → `targeting.if.0`; the flag itself → `the flag`. */
function fieldOf(instancePath: string, key: string): string {
  const flag = `/flags/${pointerSegment(key)}`;
  const inFlag = instancePath.startsWith(flag) ? instancePath.slice(flag.length) : instancePath;
  const segments = inFlag
    .split("/")
    .filter((s) => s !== "")
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
  return segments.length === 0 ? "the flag" : segments.join(".");
}

function describe(error: SchemaError): string {
  const extra = error.params?.additionalProperty;
  if (error.keyword === "additionalProperties" && typeof extra === "string") return `unknown key "${extra}"`;
  const allowed = error.params?.allowedValues;
  const message = typeof error.message === "string" ? error.message : "is invalid";
  return Array.isArray(allowed) ? `${message}: ${allowed.map((v) => JSON.stringify(v)).join(", ")}` : message;
}

/**
 * flagd-core's schema refusal of flag `key` as one readable line, e.g.
 * `flagd's schema: targeting: unknown key "no_such_operator"`; any other message is returned as
 * it is. Only the deepest errors are kept: the ones above them are the `anyOf`/`oneOf`
 * alternatives that failed because of them. Type errors at one path are merged (`must be string
 * or object`).
 */
export function readableSchemaErrors(message: string, key: string): string {
  if (!message.startsWith(PREFIX)) return message;
  let parsed: unknown;
  try {
    parsed = JSON.parse(message.slice(PREFIX.length));
  } catch {
    return message;
  }
  if (!Array.isArray(parsed)) return message;
  const errors = (parsed as unknown[])
    .filter((e): e is SchemaError => typeof e === "object" && e !== null)
    .map((e) => ({ ...e, field: fieldOf(typeof e.instancePath === "string" ? e.instancePath : "", key) }));
  const depth = (field: string) => (field === "the flag" ? 0 : field.split(".").length);
  const deepest = Math.max(...errors.map((e) => depth(e.field)));
  const atDepth = errors.filter((e) => depth(e.field) === deepest);
  const specific = atDepth.filter((e) => e.keyword !== "anyOf" && e.keyword !== "oneOf");
  const kept = specific.length > 0 ? specific : atDepth;
  if (kept.length === 0) return message;

  const byField = new Map<string, { types: string[]; others: string[] }>();
  for (const e of kept) {
    const entry = byField.get(e.field) ?? { types: [], others: [] };
    byField.set(e.field, entry);
    const type =
      e.keyword === "type" && typeof e.message === "string" ? /^must be (\S+)$/.exec(e.message) : null;
    const list = type ? entry.types : entry.others;
    const text = type ? (type[1] as string) : describe(e);
    if (!list.includes(text)) list.push(text);
  }
  const problems = [...byField].map(([field, { types, others }]) => {
    const all = [...(types.length > 0 ? [`must be ${types.join(" or ")}`] : []), ...others];
    return `${field}: ${all.join(", ")}`;
  });
  return `flagd's schema: ${problems.join("; ")}`;
}
