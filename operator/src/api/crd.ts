/**
 * Turns a kind's zod schemas into a CustomResourceDefinition. Kubernetes only accepts
 * structural schemas, so the JSON Schema zod emits is rewritten: no `$ref`, no typed
 * `anyOf`/`oneOf` branches, no `additionalProperties` beside `properties`, a type on every node.
 */
import { z } from "zod";
import type { KindDefinition } from "./kinds.js";

type Schema = Record<string, unknown>;

/** Keywords a CRD schema cannot carry, or that zod adds for its own use. */
const DROPPED = ["$schema", "$id", "id", "propertyNames", "$defs", "definitions"];

/** Rewrites one JSON Schema node (recursively) into the structural form the apiserver accepts. */
export function toStructural(node: Schema): Schema {
  const out: Schema = {};
  for (const [key, value] of Object.entries(node)) {
    if (DROPPED.includes(key)) continue;
    out[key] = value;
  }
  if (out["x-kubernetes-preserve-unknown-fields"] === true) {
    // A pass-through object: keep only what describes it; its contents are not pruned.
    const kept: Schema = { "x-kubernetes-preserve-unknown-fields": true };
    for (const k of ["description", "x-kubernetes-validations", "nullable"]) if (k in out) kept[k] = out[k];
    if (out.type === "object" || out.type === undefined) kept.type = "object";
    return kept;
  }
  if (out["x-kubernetes-int-or-string"] === true) {
    const kept: Schema = {
      "x-kubernetes-int-or-string": true,
      anyOf: [{ type: "integer" }, { type: "string" }],
    };
    if ("description" in out) kept.description = out.description;
    // Applies to the string form only (JSON Schema patterns ignore numbers), e.g. quantities.
    if ("pattern" in out) kept.pattern = out.pattern;
    return kept;
  }
  // A date-time string: zod adds a long pattern; the format is what Kubernetes understands.
  if (out.format === "date-time") delete out.pattern;
  const anyOf = (out.anyOf ?? out.oneOf) as Schema[] | undefined;
  if (anyOf) {
    // A union of value types (e.g. variant values): accept any value, validated by CEL and zod.
    delete out.anyOf;
    delete out.oneOf;
    const kept: Schema = { "x-kubernetes-preserve-unknown-fields": true };
    if (out.description !== undefined) kept.description = out.description;
    // Kept so the apiserver stores a null for zod to refuse by name instead of pruning it.
    if (out.nullable === true) kept.nullable = true;
    return kept;
  }
  if (out.properties) {
    const props: Schema = {};
    for (const [k, v] of Object.entries(out.properties as Record<string, Schema>)) props[k] = toStructural(v);
    out.properties = props;
    delete out.additionalProperties;
    out.type = "object";
  } else if (out.additionalProperties !== undefined) {
    const ap = out.additionalProperties;
    if (ap === false || ap === true || (typeof ap === "object" && Object.keys(ap as Schema).length === 0)) {
      delete out.additionalProperties;
      out["x-kubernetes-preserve-unknown-fields"] = true;
    } else {
      out.additionalProperties = toStructural(ap as Schema);
    }
    out.type = "object";
  }
  if (out.items) out.items = toStructural(out.items as Schema);
  if (Array.isArray(out.required) && out.required.length === 0) delete out.required;
  return out;
}

function jsonSchemaOf(schema: z.ZodType): Schema {
  const raw = z.toJSONSchema(schema, {
    target: "openapi-3.0",
    io: "input",
    unrepresentable: "any",
  }) as Schema;
  return toStructural(raw);
}

/** Builds the CRD object for one kind. Deterministic, so the committed YAML can be checked. */
export function crdFor(kind: KindDefinition): Record<string, unknown> {
  const { resource } = kind;
  const subresources: Schema = { status: {} };
  if (kind.scale) subresources.scale = kind.scale;
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: {
      name: `${resource.plural}.${resource.group}`,
      labels: { "app.kubernetes.io/name": "crescendo", "app.kubernetes.io/part-of": "crescendo" },
    },
    spec: {
      group: resource.group,
      names: {
        kind: resource.kind,
        listKind: `${resource.kind}List`,
        plural: resource.plural,
        singular: kind.singular,
        shortNames: kind.shortNames,
        categories: ["crescendo"],
      },
      scope: resource.namespaced ? "Namespaced" : "Cluster",
      versions: [
        {
          name: resource.version,
          served: true,
          storage: true,
          subresources,
          additionalPrinterColumns: kind.printerColumns,
          schema: {
            openAPIV3Schema: {
              type: "object",
              description: kind.description,
              required: ["spec"],
              ...(kind.validations ? { "x-kubernetes-validations": kind.validations } : {}),
              properties: {
                apiVersion: { type: "string", description: "APIVersion of the object." },
                kind: { type: "string", description: "Kind of the object." },
                metadata: kind.validations
                  ? {
                      type: "object",
                      properties: {
                        name: {
                          type: "string",
                          description: "Name of the object; see the rules at the root.",
                        },
                      },
                    }
                  : { type: "object" },
                spec: jsonSchemaOf(kind.spec),
                status: jsonSchemaOf(kind.status),
              },
            },
          },
        },
      ],
    },
  };
}
