/**
 * The check that a committed on-call payload schema (docs/schemas/*.schema.json) is the one its
 * zod schema generates, and lists every field a payload has as required. Shared by the tests of
 * each payload; `UPDATE_SCHEMAS=1` rewrites the file instead. Not a test file itself.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as prettier from "prettier";
import { expect } from "vitest";
import { z } from "zod";

/** `name`: the file under docs/schemas; `payload`: an example with every field. */
export async function expectSchemaFile(name: string, schema: z.ZodType, payload: object): Promise<void> {
  const file = join(import.meta.dirname, "../../../../docs/schemas", name);
  const generated = z.toJSONSchema(schema);
  if (process.env["UPDATE_SCHEMAS"] === "1") {
    const options = await prettier.resolveConfig(file);
    writeFileSync(file, await prettier.format(JSON.stringify(generated), { ...options, parser: "json" }));
  }
  const committed = JSON.parse(readFileSync(file, "utf8")) as { properties: object; required: string[] };
  expect(committed, `${name} is stale: regenerate it with UPDATE_SCHEMAS=1`).toEqual(generated);
  expect(Object.keys(committed.properties).sort()).toEqual(Object.keys(payload).sort());
  expect([...committed.required].sort()).toEqual(Object.keys(payload).sort());
}
