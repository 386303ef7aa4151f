/**
 * The manager-wide periodic resync (controller-runtime's `SyncPeriod`): every primary object of
 * every controller is reconciled again about every 10 hours, whether or not anything changed.
 * It is the safety net under watches and requeues: an event lost to a bug, a requeue lost to a
 * restart, a figure that depends on the clock. Each period is jittered to [0.9, 1.1) of the
 * configured one, as controller-runtime does, so replicas and restarts do not fall in step.
 */
import type { Logger } from "../observability/logger.js";
import type { Clock } from "./types.js";

/** controller-runtime's default SyncPeriod. */
export const DEFAULT_SYNC_PERIOD_MS = 10 * 60 * 60 * 1000;

/** Something whose primary objects can all be queued again. */
export interface Resyncable {
  readonly name: string;
  /** Queues every primary object it has cached; returns how many. */
  resync?(): number;
}

/** The next wait: `periodMs` scaled by a factor in [0.9, 1.1) drawn from `random` ([0, 1)). */
export function jitteredPeriod(periodMs: number, random: () => number): number {
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.round(periodMs * (0.9 + r / 5));
}

export interface ResyncOptions {
  /** 0 turns resync off. */
  periodMs: number;
  controllers: readonly Resyncable[];
  clock: Clock;
  random?: () => number;
  logger: Logger;
  /** Aborted when the controllers stop (shutdown or lost leadership). */
  stop: AbortSignal;
}

/** Resyncs every controller once per jittered period until `stop`; resolves then. */
export async function runResync(o: ResyncOptions): Promise<void> {
  if (!(o.periodMs > 0)) return;
  const random = o.random ?? Math.random;
  for (;;) {
    await o.clock.sleep(jitteredPeriod(o.periodMs, random), o.stop);
    if (o.stop.aborted) return;
    for (const controller of o.controllers) {
      const queued = controller.resync?.() ?? 0;
      o.logger.info({ controller: controller.name, queued }, "periodic resync");
    }
  }
}
