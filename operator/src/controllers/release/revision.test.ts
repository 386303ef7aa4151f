import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalJson, REVISION_LENGTH, revisionOf } from "./revision.js";

const template = {
  metadata: { labels: { app: "web", tier: "front" } },
  spec: { containers: [{ name: "web", image: "web:1", ports: [{ containerPort: 8080 }] }] },
};

describe("revisionOf", () => {
  it("is 10 characters, DNS-safe and lower case", () => {
    const rev = revisionOf(template);
    expect(rev).toHaveLength(REVISION_LENGTH);
    expect(rev).toMatch(/^[a-z0-9]{10}$/);
  });

  it("does not depend on key order, at any depth", () => {
    const reordered = {
      spec: { containers: [{ ports: [{ containerPort: 8080 }], image: "web:1", name: "web" }] },
      metadata: { labels: { tier: "front", app: "web" } },
    };
    expect(revisionOf(reordered)).toBe(revisionOf(template));
  });

  it("changes with any value, and with array order", () => {
    const image = structuredClone(template);
    image.spec.containers[0]!.image = "web:2";
    expect(revisionOf(image)).not.toBe(revisionOf(template));
    const label = structuredClone(template);
    label.metadata.labels.tier = "back";
    expect(revisionOf(label)).not.toBe(revisionOf(template));
    expect(revisionOf({ a: [1, 2] })).not.toBe(revisionOf({ a: [2, 1] }));
  });

  it("is pinned: the same template gives the same revision in every operator version", () => {
    // Changing the encoding would rename every Deployment and restart every workload.
    expect(revisionOf(template)).toBe("s4vwdlbxpt");
  });

  it("never contains a vowel, so it never spells a word", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        expect(revisionOf(v)).toMatch(/^[b-df-hj-np-tv-z2456789]{10}$/);
      }),
    );
  });

  it("is stable under any key permutation (property)", () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (obj) => {
        const reversed = Object.fromEntries(Object.entries(obj).reverse());
        expect(revisionOf(reversed)).toBe(revisionOf(obj));
      }),
    );
  });
});

describe("canonicalJson", () => {
  it("sorts keys recursively and drops undefined like JSON does", () => {
    expect(canonicalJson({ b: 1, a: { d: undefined, c: [{ z: 1, y: 2 }] } })).toBe(
      '{"a":{"c":[{"y":2,"z":1}]},"b":1}',
    );
  });
});
