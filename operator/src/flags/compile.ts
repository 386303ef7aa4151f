/**
 * FeatureToggles → one flagd document per namespace. Pure: the same toggles always give the same
 * document, byte for byte once serialised, so the controller can compare before it writes.
 *
 * Disabled and killed toggles are compiled as ENABLED flags without targeting, not as flagd
 * DISABLED flags. Crescendo promises that a disabled toggle serves its default variant to
 * everyone, and flagd's DISABLED does not: flagd-core 4 answers with the caller's code default
 * (reason DISABLED, no variant) and leaves the flag out of bulk evaluation, and flagd's Go
 * evaluator has answered FLAG_DISABLED / FLAG_NOT_FOUND in some versions. A flag without
 * targeting is served the same way everywhere: the default variant, reason STATIC. The
 * metadata `crescendoEffectiveState` tells apps and dashboards why.
 */
import type { EffectiveState } from "../api/featuretoggle.js";
import type { FeatureToggle } from "../api/kinds.js";
import { FLAGD_SCHEMA, type FlagdDocument, type FlagdFlag } from "./document.js";
import { compileTargeting } from "./targeting.js";
import { flagProblem } from "./validate.js";

/** Flag metadata key carrying the toggle's effective state when it is not plainly Enabled. */
export const EFFECTIVE_STATE_METADATA = "crescendoEffectiveState";
/** Flag metadata key set on a toggle served with its default variant because its targeting is invalid. */
export const INVALID_METADATA = "crescendoInvalid";

/** A toggle and whether a rollback of its guard Release has killed it (decided by the status plan). */
export interface ToggleEntry {
  toggle: FeatureToggle;
  killed: boolean;
  /**
   * The share of a guarded ramp (`spec.rollout.steps`) served now, as its status records it;
   * absent for a fixed `percentage`. A ramp that has not started serves 0.
   */
  share?: number;
}

/** A toggle left out because an older toggle in the namespace already serves the same key. */
export interface KeyConflict {
  /** The toggle that lost. */
  toggle: string;
  key: string;
  /** The toggle whose flag is served under the key. */
  winner: string;
}

/** A toggle whose flag flagd would refuse; it is served with its default variant, or left out. */
export interface InvalidToggle {
  toggle: string;
  key: string;
  reason: string;
  served: "default-variant" | "omitted";
}

export interface CompiledDocument {
  document: FlagdDocument;
  conflicts: KeyConflict[];
  invalid: InvalidToggle[];
}

/** The compiled flag, and the reason when its targeting could not be compiled (the flag then serves the default). */
export interface CompiledFlag {
  flag: FlagdFlag;
  problem?: string;
}

/** The flag key apps evaluate: `spec.key`, or the object's name. */
export function toggleKey(toggle: FeatureToggle): string {
  return toggle.spec.key ?? toggle.metadata.name ?? "";
}

/** What apps get: KilledByRollback when killed, else the spec's state (Enabled when unset, as the CRD defaults it). */
export function effectiveState(toggle: FeatureToggle, killed: boolean): EffectiveState {
  if (killed) return "KilledByRollback";
  return toggle.spec.state === "Disabled" ? "Disabled" : "Enabled";
}

function defaultOnly(toggle: FeatureToggle, metadata?: FlagdFlag["metadata"]): FlagdFlag {
  return {
    state: "ENABLED",
    variants: { ...toggle.spec.variants },
    defaultVariant: toggle.spec.defaultVariant,
    ...(metadata ? { metadata } : {}),
  };
}

/**
 * One toggle as a flagd flag. Enabled toggles carry their targeting; Disabled and killed ones
 * serve the default variant to everyone (see the module comment for why that is not flagd's
 * DISABLED state). When the rules cannot be compiled (a semver operand that is not a version),
 * the flag serves the default variant and `problem` says why, so the caller can report it.
 */
export function compileFlag(
  toggle: FeatureToggle,
  options: { killed: boolean; share?: number },
): CompiledFlag {
  const state = effectiveState(toggle, options.killed);
  if (state !== "Enabled") return { flag: defaultOnly(toggle, { [EFFECTIVE_STATE_METADATA]: state }) };
  const targeting = compileTargeting(toggle.spec, options.share);
  if (!targeting.ok)
    return { flag: defaultOnly(toggle, { [INVALID_METADATA]: true }), problem: targeting.error };
  const flag = defaultOnly(toggle);
  return { flag: targeting.targeting ? { ...flag, targeting: targeting.targeting } : flag };
}

const timestampOf = (toggle: FeatureToggle): number => {
  const parsed = Date.parse(toggle.metadata.creationTimestamp ?? "");
  return Number.isNaN(parsed) ? Number.POSITIVE_INFINITY : parsed;
};

/** Oldest first, then by name: the order in which toggles claim keys, so the winner never flips. */
export function byAge(a: FeatureToggle, b: FeatureToggle): number {
  const ta = timestampOf(a);
  const tb = timestampOf(b);
  if (ta !== tb) return ta < tb ? -1 : 1;
  const na = a.metadata.name ?? "";
  const nb = b.metadata.name ?? "";
  return na < nb ? -1 : na > nb ? 1 : 0;
}

/** Keeps reasons readable in a condition message; flagd-core's schema errors are verbose JSON. */
function shorten(text: string, max = 1000): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/**
 * The namespace's document. Keys are claimed oldest toggle first (creationTimestamp, then name),
 * so a newer toggle reusing a key never takes it over; the losers are returned as conflicts for
 * the controller to report on their status. Every flag is checked with flagd-core before it is
 * added (one invalid flag would make flagd providers reject the whole file); a flag that fails is
 * replaced by its default-variant form, or left out if even that fails, and returned as invalid.
 */
export function compileDocument(namespace: string, entries: readonly ToggleEntry[]): CompiledDocument {
  // A Map, not an object literal: a key such as "__proto__" is valid and must stay a plain key.
  const flags = new Map<string, FlagdFlag>();
  const owners = new Map<string, string>();
  const conflicts: KeyConflict[] = [];
  const invalid: InvalidToggle[] = [];
  const ordered = [...entries].sort((a, b) => byAge(a.toggle, b.toggle));
  for (const { toggle, killed, share } of ordered) {
    const key = toggleKey(toggle);
    const name = toggle.metadata.name ?? "";
    const winner = owners.get(key);
    if (winner !== undefined) {
      conflicts.push({ toggle: name, key, winner });
      continue;
    }
    owners.set(key, name);
    const compiled = compileFlag(toggle, { killed, ...(share === undefined ? {} : { share }) });
    const problem = compiled.problem ?? flagProblem(key, compiled.flag);
    if (problem === undefined) {
      flags.set(key, compiled.flag);
      continue;
    }
    const fallback = defaultOnly(toggle, { [INVALID_METADATA]: true });
    const served = flagProblem(key, fallback) === undefined ? "default-variant" : "omitted";
    if (served === "default-variant") flags.set(key, fallback);
    invalid.push({ toggle: name, key, reason: shorten(problem), served });
  }
  const document = {
    $schema: FLAGD_SCHEMA,
    metadata: { flagSetId: namespace },
    flags: Object.fromEntries(flags),
  };
  return { document, conflicts, invalid };
}
