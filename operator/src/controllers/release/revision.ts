/**
 * The revision of a Release: a short, stable name for its pod template. Deployments are named
 * `<release>-<revision>`, so a revision must be the same for the same template on every
 * reconcile, in every operator replica and across operator versions, and must differ when the
 * template does. Promotion then never restarts pods: the canary Deployment simply becomes the
 * stable one, because its name and template never change.
 */
import { createHash } from "node:crypto";
import { isRecord } from "../../runtime/is-record.js";

/** Length of a revision: short enough for `<release>-<revision>` names, long enough to not collide. */
export const REVISION_LENGTH = 10;

/**
 * Kubernetes' own "safe encode" alphabet (the one behind `pod-template-hash`): no vowels, so a
 * hash never spells a word, and no `0`, `1` or `3`, which read like letters. Every character is
 * valid in a DNS label and in a label value.
 */
const ALPHABET = "bcdfghjklmnpqrstvwxz2456789";

/**
 * The revision of a pod template: 10 characters of its SHA-256 over canonical JSON (object keys
 * sorted at every depth, array order kept, `undefined` dropped as JSON does). Key order in the
 * manifest, which YAML tools and GitOps engines do not preserve, therefore never starts a
 * rollout; any change of value does. With 27 symbols per character the hash carries ~47 bits.
 */
export function revisionOf(template: unknown): string {
  const digest = createHash("sha256").update(canonicalJson(template)).digest();
  let out = "";
  for (let i = 0; i < REVISION_LENGTH; i++) out += ALPHABET[(digest[i] ?? 0) % ALPHABET.length];
  return out;
}

/** JSON with object keys sorted recursively, so equal values always serialise identically. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (isRecord(v) ? sortKeys(v) : v)) ?? "null";
}

function sortKeys(obj: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.keys(obj)
      .sort()
      .map((k) => [k, obj[k]]),
  );
}
