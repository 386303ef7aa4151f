/**
 * Checks flags with flagd-core itself rather than a copy of its rules: strict parsing validates
 * against the flagd JSON schemas flagd-core bundles, and building the flag compiles its targeting
 * with the same JsonLogic engine that will evaluate it. One bad flag makes a flagd provider
 * reject the whole file, so every flag is checked before it joins a namespace's document.
 */
import { MemoryStorage } from "@openfeature/flagd-core";
import type { Logger } from "@openfeature/core";
import type { FlagdFlag } from "./document.js";

/** flagd-core logs schema and targeting problems; validation reports them instead. */
export const silentLogger: Logger = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };

/**
 * Parses the text strictly, as flagd-core's `parse(config, true, logger)` does (that function is
 * not exported; `MemoryStorage.setConfigurations(text, true)` is its public entry point), and
 * returns the storage. Throws flagd-core's ParseError with the schema violations.
 */
export function parseStrict(text: string): MemoryStorage {
  const storage = new MemoryStorage(silentLogger);
  storage.setConfigurations(text, true);
  return storage;
}

/**
 * Why flagd would refuse this flag, or undefined when it is valid. Besides the schema, this
 * catches targeting that passes the schema but does not compile: flagd-core accepts such a flag
 * and then answers every evaluation with PARSE_ERROR, which is worse than refusing it up front.
 */
export function flagProblem(key: string, flag: FlagdFlag): string | undefined {
  try {
    const storage = parseStrict(JSON.stringify({ flags: { [key]: flag } }));
    const result = storage.getFlag(key)?.evaluate({}, silentLogger);
    if (result?.errorCode === "PARSE_ERROR") return result.errorMessage;
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}
