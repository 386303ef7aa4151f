/**
 * The Argo CD health checks in charts/crescendo/argocd/ (Lua, one per kind), run with Debian's
 * `lua5.1` (Argo CD's gopher-lua implements Lua 5.1) against every state the controllers
 * report (hack/kstatus/samples.ts). Each run builds a small Lua harness that reproduces Argo CD's
 * sandbox: `obj` is a global holding the object (converted from JSON to a Lua table literal
 * here, since lua5.1 has no JSON library), only the base and table libraries are reachable (no
 * `string`, `math`, `io`; string methods do not resolve either), and the script's returned table
 * must carry a valid health status. Skipped with a message when lua5.1 is not installed
 * (`apt-get install lua5.1`; .ci/run installs it).
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { samples, type ArgoHealth, type Sample } from "./kstatus/samples.js";

const ROOT = join(import.meta.dirname, "..");
const SCRIPTS: Record<Sample["kind"], string> = {
  Release: join(ROOT, "charts/crescendo/argocd/health-release.lua"),
  Squad: join(ROOT, "charts/crescendo/argocd/health-squad.lua"),
  FeatureToggle: join(ROOT, "charts/crescendo/argocd/health-featuretoggle.lua"),
};
const VALID: readonly string[] = ["Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"];

const LUA = "lua5.1";
const haveLua = spawnSync(LUA, ["-v"], { encoding: "utf8" }).status === 0;

/**
 * A Lua string literal in plain ASCII: printable characters as they are, every other byte (quotes,
 * backslashes, control characters, each byte of a UTF-8 sequence) as a three-digit escape.
 */
function luaString(s: string): string {
  let out = '"';
  for (const byte of Buffer.from(s, "utf8")) {
    if (byte === 0x22 || byte === 0x5c || byte < 0x20 || byte >= 0x7f) {
      out += `\\${String(byte).padStart(3, "0")}`;
    } else {
      out += String.fromCharCode(byte);
    }
  }
  return out + '"';
}

/**
 * A JSON value as a Lua table constructor, the way Argo CD hands objects to Lua: objects become
 * tables keyed by string, arrays become sequences from 1, null becomes nil.
 */
function toLua(value: unknown): string {
  if (value === null || value === undefined) return "nil";
  if (typeof value === "string") return luaString(value);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new Error(`cannot express ${value} in Lua`);
    return String(value);
  }
  if (typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return `{${value.map(toLua).join(", ")}}`;
  if (typeof value === "object") {
    const fields = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `[${luaString(k)}] = ${toLua(v)}`);
    return `{${fields.join(", ")}}`;
  }
  throw new Error(`cannot express a ${typeof value} in Lua`);
}

/**
 * The harness: Argo CD's sandbox around the health script. The script is loaded as a chunk whose
 * environment holds only what Argo CD opens (base functions, `table`, a safe `os`), with string
 * methods disabled, then its result is printed as `status`, a newline and the message.
 */
function harness(scriptPath: string, obj: unknown): string {
  return `
local chunk, err = loadfile(${luaString(scriptPath)})
if chunk == nil then io.stderr:write(err) os.exit(3) end
local out, exit = io.write, os.exit
local env = { table = table, os = { time = os.time, date = os.date, clock = os.clock, difftime = os.difftime } }
for _, name in ipairs({ "assert", "error", "getmetatable", "ipairs", "next", "pairs", "pcall", "rawequal",
  "rawget", "rawset", "select", "setmetatable", "tonumber", "tostring", "type", "unpack", "xpcall" }) do
  env[name] = _G[name]
end
env.obj = ${toLua(obj)}
getmetatable("").__index = nil
setfenv(chunk, env)
local ok, hs = pcall(chunk)
if not ok then io.stderr:write(tostring(hs)) exit(4) end
if type(hs) ~= "table" then io.stderr:write("health script returned " .. type(hs)) exit(5) end
if type(hs.status) ~= "string" then io.stderr:write("hs.status is " .. type(hs.status)) exit(6) end
if hs.message ~= nil and type(hs.message) ~= "string" then io.stderr:write("hs.message is " .. type(hs.message)) exit(7) end
out(hs.status, "\\n", hs.message or "")
`;
}

function runHealth(kind: Sample["kind"], obj: unknown): { status: string; message: string } {
  const result = spawnSync(LUA, ["-"], { input: harness(SCRIPTS[kind], obj), encoding: "utf8" });
  if (result.status !== 0) {
    throw new Error(`lua5.1 exited ${result.status}: ${result.stderr}`);
  }
  const newline = result.stdout.indexOf("\n");
  return { status: result.stdout.slice(0, newline), message: result.stdout.slice(newline + 1) };
}

describe("toLua", () => {
  it("writes objects, arrays, strings with quotes, newlines and UTF-8, numbers and booleans", () => {
    expect(toLua({ a: [1, "x"], b: true, c: null })).toBe('{["a"] = {1, "x"}, ["b"] = true, ["c"] = nil}');
    expect(toLua('say "hi"\n\\')).toBe('"say \\034hi\\034\\010\\092"');
  });

  it.runIf(haveLua)("round-trips through lua5.1", () => {
    const value = { s: 'quote " backslash \\ newline \n tab \t digit after escape \u00001 é ✓', n: 2.5 };
    const out = spawnSync(LUA, ["-"], {
      input: `local v = ${toLua(value)} io.write(v.s, "|", tostring(v.n))`,
      encoding: "utf8",
    });
    expect(out.stdout).toBe(`${value.s}|2.5`);
  });
});

if (!haveLua) {
  console.warn("[argocd-health.test] lua5.1 not found: apt-get install lua5.1 (.ci/run installs it)");
  it.skip("Argo CD health checks: lua5.1 not found, apt-get install lua5.1", () => {});
} else {
  describe.each(["Release", "Squad", "FeatureToggle"] as const)("Argo CD health of a %s", (kind) => {
    const cases = samples.filter((s) => s.kind === kind);

    it.each(cases.map((s) => [s.name, s] as const))("%s", (_name, sample) => {
      const health = runHealth(kind, sample.object);
      expect(VALID).toContain(health.status);
      expect(health.status).toBe(sample.argo.status);
      if (sample.argo.message !== undefined) expect(health.message).toMatch(matcher(sample.argo.message));
      expect(health.message.length, "a message people can act on").toBeGreaterThan(0);
    });

    it("covers every health status the mapping promises for this kind", () => {
      const promised: Record<Sample["kind"], ArgoHealth[]> = {
        Release: ["Healthy", "Progressing", "Suspended", "Degraded"],
        Squad: ["Healthy", "Progressing", "Degraded"],
        FeatureToggle: ["Healthy", "Progressing", "Suspended", "Degraded"],
      };
      expect(new Set(cases.map((s) => s.argo.status))).toEqual(new Set(promised[kind]));
    });

    it("treats a status without conditions, phase or observedGeneration as still progressing", () => {
      expect(runHealth(kind, { metadata: { name: "x", generation: 1 }, status: {} }).status).toBe(
        "Progressing",
      );
      expect(
        runHealth(kind, { metadata: { name: "x", generation: 1 }, status: { observedGeneration: 1 } }).status,
      ).toBe("Progressing");
    });
  });

  describe("Argo CD's sandbox", () => {
    it("has no string library and no string methods, so a script using them fails here too", () => {
      const result = spawnSync(LUA, ["-"], {
        input: harness("/dev/stdin", {}).replace(
          /loadfile\([^)]*\)/,
          'loadstring("hs = {} hs.status = (\\"x\\"):upper() return hs")',
        ),
        encoding: "utf8",
      });
      expect(result.status).toBe(4);
    });
  });
}

function matcher(expected: string | RegExp): RegExp {
  return typeof expected === "string"
    ? new RegExp(`^${expected.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`)
    : expected;
}
