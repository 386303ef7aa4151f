/**
 * `status.scaleDown`: replaced revisions kept at full size for the scale-down delay after a
 * promotion, so that switching back to one (by changing the template back, or `abort`) is a
 * selector switch with no pods to start. The plan deletes a revision once its time has come.
 */
import type { ReleaseSpec, ReleaseStatus } from "../../api/release.js";
import { iso, time, type Ctx } from "./state.js";

/** `status.scaleDown` holds at most this many revisions (the schema's bound). */
export const SCALE_DOWN_LIMIT = 10;

/** `spec.rollback.scaleDownDelaySeconds` when the block is absent. */
export const DEFAULT_SCALE_DOWN_DELAY_SECONDS = 30;

/** A replaced revision and when its Deployment goes. */
export type ScaleDownEntry = NonNullable<ReleaseStatus["scaleDown"]>[number];

/** The scale-down delay of the strategy: blue-green has its own, canary uses `rollback`'s. */
export function scaleDownDelayMs(spec: ReleaseSpec): number {
  const seconds = spec.strategy.blueGreen
    ? spec.strategy.blueGreen.scaleDownDelaySeconds
    : (spec.rollback?.scaleDownDelaySeconds ?? DEFAULT_SCALE_DOWN_DELAY_SECONDS);
  return seconds * 1000;
}

/** The stable revision about to be replaced, parked for the scale-down delay. */
export function previousStable(ctx: Ctx, s: ReleaseStatus): ScaleDownEntry | undefined {
  if (!s.stableRevision) return undefined;
  return {
    revision: s.stableRevision,
    version: s.stableVersion,
    at: iso(ctx.now + scaleDownDelayMs(ctx.spec)),
  };
}

/** Parked revisions still due to run (their time has not come). */
export function liveScaleDown(ctx: Ctx, s: ReleaseStatus): ScaleDownEntry[] {
  return (s.scaleDown ?? []).filter((e) => time(e.at, ctx.now) > ctx.now);
}

/** Adds a parked revision, newest first, within the schema's bound. */
export function park(
  list: ScaleDownEntry[] | undefined,
  entry: ScaleDownEntry | undefined,
): ScaleDownEntry[] | undefined {
  if (!entry) return list;
  return [entry, ...(without(list, entry.revision) ?? [])].slice(0, SCALE_DOWN_LIMIT);
}

/** The list without `revision`. */
export function without(list: ScaleDownEntry[] | undefined, revision: string): ScaleDownEntry[] | undefined {
  return list?.filter((e) => e.revision !== revision);
}
