import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { crdFor } from "./crd.js";
import { renderCrdFiles } from "./crd-files.js";
import { KINDS } from "./kinds.js";

type Node = Record<string, unknown>;
const root = join(import.meta.dirname, "../../..");

/** Walks a schema, calling visit with the node and its JSON path. */
function walk(node: Node, path: string, visit: (node: Node, path: string) => void): void {
  visit(node, path);
  for (const [k, child] of Object.entries((node.properties as Record<string, Node>) ?? {}))
    walk(child, `${path}.${k}`, visit);
  if (node.items) walk(node.items as Node, `${path}[]`, visit);
  if (node.additionalProperties && typeof node.additionalProperties === "object")
    walk(node.additionalProperties as Node, `${path}{}`, visit);
}

function schemaOf(kind: (typeof KINDS)[number]): Node {
  const crd = crdFor(kind) as { spec: { versions: { schema: { openAPIV3Schema: Node } }[] } };
  return crd.spec.versions[0]!.schema.openAPIV3Schema;
}

describe("generated CRDs", () => {
  it("match the committed files (run `npm run generate` after changing operator/src/api)", () => {
    for (const [path, text] of renderCrdFiles()) {
      expect(readFileSync(join(root, path), "utf8"), path).toBe(text);
    }
  });

  for (const kind of KINDS) {
    describe(kind.resource.kind, () => {
      const problems: string[] = [];
      walk(schemaOf(kind), "", (node, path) => {
        if (JSON.stringify(node).includes('"$ref"')) problems.push(`${path}: $ref`);
        const special =
          node["x-kubernetes-preserve-unknown-fields"] === true ||
          node["x-kubernetes-int-or-string"] === true;
        if (!node.type && !special) problems.push(`${path}: no type`);
        if (node.oneOf) problems.push(`${path}: oneOf`);
        if (node.anyOf && node["x-kubernetes-int-or-string"] !== true) problems.push(`${path}: typed anyOf`);
        if (node.properties && node.additionalProperties !== undefined)
          problems.push(`${path}: additionalProperties beside properties`);
        if (
          path.split(".").length > 2 &&
          path !== ".metadata" &&
          !node.description &&
          !path.endsWith("[]") &&
          !path.endsWith("{}")
        )
          problems.push(`${path}: no description`);
      });

      it("is structural and every field is described", () => {
        expect(problems).toEqual([]);
      });

      it("is in category crescendo with its short name", () => {
        const crd = crdFor(kind) as { spec: { names: { categories: string[]; shortNames: string[] } } };
        expect(crd.spec.names.categories).toContain("crescendo");
        expect(crd.spec.names.shortNames.length).toBe(1);
      });
    });
  }

  it("refuses at admission a Release name its Services could not carry", () => {
    const release = parse(readFileSync(join(root, "crds/releases.crescendo.dev.yaml"), "utf8"));
    const schema = release.spec.versions[0].schema.openAPIV3Schema;
    expect(schema["x-kubernetes-validations"]).toEqual([
      expect.objectContaining({ rule: "self.metadata.name.size() <= 55", fieldPath: ".metadata.name" }),
      expect.objectContaining({ rule: expect.stringContaining("has(self.spec.service)") }),
    ]);
    // 55 + "-preview" is the longest Service name, within Kubernetes' 63.
    expect(55 + "-preview".length).toBe(63);
  });

  it("shows READY and its reason in `kubectl get ft`", () => {
    const ft = parse(readFileSync(join(root, "crds/featuretoggles.crescendo.dev.yaml"), "utf8"));
    const columns = ft.spec.versions[0].additionalPrinterColumns.map((c: { name: string }) => c.name);
    expect(columns).toEqual(expect.arrayContaining(["Ready", "Reason"]));
  });

  it("gives Release a scale subresource an HPA can target", () => {
    const release = parse(readFileSync(join(root, "crds/releases.crescendo.dev.yaml"), "utf8"));
    expect(release.spec.versions[0].subresources.scale).toEqual({
      specReplicasPath: ".spec.replicas",
      statusReplicasPath: ".status.replicas",
      labelSelectorPath: ".status.selector",
    });
  });
});
