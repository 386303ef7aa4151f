/**
 * End to end with real OpenFeature clients: the OFREP provider against the operator's endpoint,
 * and the flagd provider in file mode reading the same compiled document, must agree.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FlagdProvider } from "@openfeature/flagd-provider";
import { OFREPProvider } from "@openfeature/ofrep-provider";
import { OpenFeature, type Client, type EvaluationContext, type JsonValue } from "@openfeature/server-sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { featureToggleSpec } from "../api/featuretoggle.js";
import type { FeatureToggle } from "../api/kinds.js";
import { compileDocument } from "./compile.js";
import { documentEtag, serializeDocument } from "./document.js";
import { createOfrepServer, type OfrepServer } from "./ofrep.js";
import { createOfrepAuthorizer } from "./ofrep-auth.js";

function toggle(name: string, spec: Record<string, unknown>): FeatureToggle {
  return {
    metadata: { name, namespace: "team-a", creationTimestamp: "2024-01-01T00:00:00Z" },
    spec: featureToggleSpec.parse(spec),
  };
}

const toggles = [
  toggle("new-banner", {
    variants: { on: true, off: false },
    defaultVariant: "off",
    rules: [{ attribute: "email", operator: "endsWith", values: ["@acme.com"], variant: "on" }],
    rollout: { variant: "on", percentage: 30 },
  }),
  toggle("theme", {
    variants: { light: "light", dark: "dark", blue: "blue" },
    defaultVariant: "light",
    rules: [
      { attribute: "country", operator: "in", values: ["de", "at"], variant: "dark" },
      { attribute: "appVersion", operator: "semverGte", values: ["2.0"], variant: "blue" },
    ],
  }),
  toggle("max-items", {
    variants: { ten: 10, fifty: 50, pi: 3.14 },
    defaultVariant: "ten",
    rules: [
      { attribute: "tier", operator: "in", values: ["gold"], variant: "fifty" },
      { attribute: "email", operator: "startsWith", values: ["pi@", "tau@"], variant: "pi" },
    ],
  }),
  toggle("layout", {
    variants: { grid: { columns: 3, dense: false }, list: { columns: 1, dense: true } },
    defaultVariant: "grid",
    rules: [{ attribute: "country", operator: "notIn", values: ["de", "fr", "us"], variant: "list" }],
  }),
  toggle("dark-launch", {
    state: "Disabled",
    variants: { on: true, off: false },
    defaultVariant: "off",
    rules: [{ attribute: "email", operator: "endsWith", values: ["@acme.com"], variant: "on" }],
  }),
  toggle("killed-one", {
    variants: { on: true, off: false },
    defaultVariant: "off",
    rollout: { variant: "on", percentage: 100 },
  }),
  toggle("raw-split", {
    variants: { a: "A", b: "B", c: "C" },
    defaultVariant: "a",
    targeting: {
      fractional: [{ cat: [{ var: "$flagd.flagKey" }, { var: "email" }] }, ["a", 20], ["b", 30], ["c", 50]],
    },
  }),
];

const { document, invalid } = compileDocument(
  "team-a",
  toggles.map((t) => ({ toggle: t, killed: t.metadata.name === "killed-one" })),
);

const contexts: EvaluationContext[] = [
  {},
  { targetingKey: "anon" },
  { targetingKey: "u-1", email: "ann@acme.com", country: "de" },
  { targetingKey: "u-2", email: "bob@example.org", country: "fr", appVersion: "2.1.0" },
  { targetingKey: "u-3", country: "jp", appVersion: "v1.9", tier: "gold" },
  { targetingKey: "u-4", email: "pi@x.io", country: "us", appVersion: "2" },
  ...Array.from({ length: 40 }, (_, i) => ({ targetingKey: `user-${i}`, email: `user-${i}@example.org` })),
];

let server: OfrepServer;
let baseUrl: string;
let dir: string;
let ofrep: Client;
let flagd: Client;

beforeAll(async () => {
  expect(invalid).toEqual([]);
  const published = { doc: document, etag: documentEtag(document) };
  server = createOfrepServer({
    source: { document: (ns) => (ns === "team-a" ? published : undefined) },
    port: 0,
    host: "127.0.0.1",
    authorize: createOfrepAuthorizer({ mode: "none", squadOwning: () => undefined }),
  });
  const { port } = await server.listen();
  baseUrl = `http://127.0.0.1:${port}`;
  dir = await mkdtemp(join(tmpdir(), "crescendo-flags-"));
  const file = join(dir, "flags.flagd.json");
  await writeFile(file, serializeDocument(document));
  await OpenFeature.setProviderAndWait(
    "ofrep",
    new OFREPProvider({ baseUrl: `${baseUrl}/namespaces/team-a` }),
  );
  await OpenFeature.setProviderAndWait(
    "flagd",
    new FlagdProvider({ resolverType: "in-process", offlineFlagSourcePath: file }),
  );
  ofrep = OpenFeature.getClient("ofrep");
  flagd = OpenFeature.getClient("flagd");
});

afterAll(async () => {
  await OpenFeature.close();
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

type Kind = "boolean" | "string" | "number" | "object";
const FLAGS: [string, Kind, JsonValue][] = [
  ["new-banner", "boolean", true],
  ["theme", "string", "code-default"],
  ["max-items", "number", -1],
  ["layout", "object", {}],
  ["dark-launch", "boolean", true],
  ["killed-one", "boolean", true],
  ["raw-split", "string", "code-default"],
];

function details(client: Client, key: string, kind: Kind, fallback: JsonValue, ctx: EvaluationContext) {
  switch (kind) {
    case "boolean":
      return client.getBooleanDetails(key, fallback as boolean, ctx);
    case "string":
      return client.getStringDetails(key, fallback as string, ctx);
    case "number":
      return client.getNumberDetails(key, fallback as number, ctx);
    case "object":
      return client.getObjectDetails(key, fallback, ctx);
  }
}

describe("OFREP and flagd file mode agree", () => {
  it.each(FLAGS)("%s (%s): same value, variant and reason for every context", async (key, kind, fallback) => {
    for (const ctx of contexts) {
      const [viaOfrep, viaFile] = await Promise.all([
        details(ofrep, key, kind, fallback, ctx),
        details(flagd, key, kind, fallback, ctx),
      ]);
      expect(viaOfrep.errorCode, `${key} ${JSON.stringify(ctx)}: ${viaOfrep.errorMessage}`).toBeUndefined();
      expect({ value: viaOfrep.value, variant: viaOfrep.variant, reason: viaOfrep.reason }).toEqual({
        value: viaFile.value,
        variant: viaFile.variant,
        reason: viaFile.reason,
      });
      expect(viaOfrep.flagMetadata).toEqual(viaFile.flagMetadata);
    }
  });
});

describe("OFREP through the OpenFeature SDK", () => {
  it("boolean: targeting match, rollout split, default", async () => {
    expect(
      await ofrep.getBooleanDetails("new-banner", false, { targetingKey: "x", email: "a@acme.com" }),
    ).toMatchObject({
      value: true,
      variant: "on",
      reason: "TARGETING_MATCH",
    });
    const split = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        ofrep.getBooleanValue("new-banner", false, { targetingKey: `k-${i}` }),
      ),
    );
    const share = split.filter(Boolean).length / split.length;
    expect(share).toBeGreaterThan(0.2);
    expect(share).toBeLessThan(0.4);
    expect(await ofrep.getBooleanDetails("new-banner", true, {})).toMatchObject({
      value: false,
      reason: "DEFAULT",
    });
  });
  it("string, number and object flags", async () => {
    expect(await ofrep.getStringValue("theme", "x", { country: "at" })).toBe("dark");
    expect(await ofrep.getStringValue("theme", "x", { appVersion: "2.0.0" })).toBe("blue");
    expect(await ofrep.getNumberValue("max-items", 0, { tier: "gold" })).toBe(50);
    expect(await ofrep.getNumberValue("max-items", 0, { email: "tau@x" })).toBe(3.14);
    expect(await ofrep.getObjectValue("layout", {}, { country: "jp" })).toEqual({ columns: 1, dense: true });
  });
  it("disabled and killed toggles serve their default variant, with the reason in metadata", async () => {
    expect(await ofrep.getBooleanDetails("dark-launch", true, { email: "a@acme.com" })).toMatchObject({
      value: false,
      variant: "off",
      reason: "STATIC",
      flagMetadata: { flagSetId: "team-a", crescendoEffectiveState: "Disabled" },
    });
    expect(await ofrep.getBooleanDetails("killed-one", true, { targetingKey: "u" })).toMatchObject({
      value: false,
      flagMetadata: { crescendoEffectiveState: "KilledByRollback" },
    });
  });
  it("unknown flag: the code default with FLAG_NOT_FOUND, like the flagd provider", async () => {
    const [viaOfrep, viaFile] = await Promise.all([
      ofrep.getBooleanDetails("no-such-flag", true, {}),
      flagd.getBooleanDetails("no-such-flag", true, {}),
    ]);
    expect(viaOfrep).toMatchObject({ value: true, reason: "ERROR", errorCode: "FLAG_NOT_FOUND" });
    expect(viaFile).toMatchObject({ value: true, reason: "ERROR", errorCode: "FLAG_NOT_FOUND" });
  });
  it("wrong type asked: the code default with TYPE_MISMATCH on both", async () => {
    const [viaOfrep, viaFile] = await Promise.all([
      ofrep.getStringDetails("new-banner", "fallback", {}),
      flagd.getStringDetails("new-banner", "fallback", {}),
    ]);
    expect(viaOfrep).toMatchObject({ value: "fallback", errorCode: "TYPE_MISMATCH" });
    expect(viaFile).toMatchObject({ value: "fallback", errorCode: "TYPE_MISMATCH" });
  });
  it("another namespace's base URL sees none of these flags", async () => {
    await OpenFeature.setProviderAndWait(
      "team-b",
      new OFREPProvider({ baseUrl: `${baseUrl}/namespaces/team-b` }),
    );
    const client = OpenFeature.getClient("team-b");
    expect(await client.getBooleanDetails("new-banner", true, {})).toMatchObject({
      value: true,
      errorCode: "FLAG_NOT_FOUND",
    });
  });
});
