/**
 * The Squad controller's notification path: delivers the on-call messages of the squad's
 * incidents, recorded pending in Squad `status.notifications` by the receiver
 * (`controllers/incidents/notices.ts`), as a Release's rollback is delivered: the Releases'
 * runner, webhook and rules (`release/notification-runner.ts`, `notify.ts`, `delivery.ts`).
 *
 * Each reconcile of the squad, before anything else (a Squad whose quota the apiserver refuses
 * still pages its on-call): the outcomes of attempts settled since are folded into
 * `status.notifications` and written (that write alone; a 409 leaves them held for the retry);
 * then the attempts due are started from the status on record. Each attempt first reads the
 * Squad from the API and sends only if its entry is still pending at the same attempt count, so
 * a message another process delivered is never sent again from a lagging cache.
 */
import type { Squad } from "../../api/kinds.js";
import { SquadResource } from "../../api/kinds.js";
import type { IncidentNotification } from "../../api/incident.js";
import type { SquadStatus } from "../../api/squad.js";
import type { Logger } from "../../observability/logger.js";
import type { KubeClient } from "../../runtime/client.js";
import type { EventRecorder } from "../../runtime/events.js";
import type { KubeObject, ObjectKey } from "../../runtime/types.js";
import { incidentNoticeId } from "../incidents/notices.js";
import { incidentOncallMessage, incidentPayloadOf } from "../incidents/notice-payload.js";
import { due, foldAttempts, nextAttemptInMs } from "../release/delivery.js";
import { stillDue } from "../release/still-due.js";
import { reportDeliveries } from "../release/delivery-report.js";
import type { NotificationRunner } from "../release/notification-runner.js";
import type { OncallWebhook } from "../release/notify.js";

type RawSquad = KubeObject & { spec?: unknown; status?: SquadStatus };

export interface IncidentNoticeDeps {
  runner: Pick<NotificationRunner, "start" | "busy" | "pending" | "ack" | "cancel">;
  webhook: Pick<OncallWebhook, "sendMessage">;
  /** Reads the Squad before an attempt (and the webhook's Secret, through `webhook`). */
  client: Pick<KubeClient, "get">;
  recorder: Pick<EventRecorder, "record">;
  logger: Logger;
  clock: { now(): number };
}

export class IncidentNotices {
  constructor(private readonly deps: IncidentNoticeDeps) {}

  /**
   * Records settled outcomes with `write` (a status write returning the Squad as written), then
   * starts the attempts due. Returns the Squad as it now stands and when the next attempt is due.
   */
  async deliver(
    raw: RawSquad,
    squad: Squad,
    write: (raw: RawSquad, status: SquadStatus) => Promise<RawSquad>,
  ): Promise<{ raw: RawSquad; nextInMs: number | undefined }> {
    const { runner } = this.deps;
    const key: ObjectKey = raw.metadata.name ?? "";
    let current = raw;
    const held = [...runner.pending(key)];
    if (held.length > 0) {
      const folded = foldAttempts(raw.status ?? {}, held);
      if (folded.status !== raw.status) current = await write(raw, folded.status);
      runner.ack(
        key,
        held.map((a) => a.id),
      );
      reportDeliveries(
        folded,
        {
          log: this.deps.logger.child({ squad: key }),
          record: (event) => void this.deps.recorder.record(current, event),
        },
        {
          kind: "incident",
          about: (n: IncidentNotification) => `incident ${n.incident} (${n.event.toLowerCase()})`,
        },
      );
    }
    return { raw: current, nextInMs: this.start(current, squad) };
  }

  /** The Squad is gone: its attempts in flight are aborted and their outcomes dropped. */
  cancel(key: ObjectKey): void {
    this.deps.runner.cancel(key);
  }

  private start(raw: RawSquad, squad: Squad): number | undefined {
    const { runner, webhook, clock } = this.deps;
    const status = raw.status ?? {};
    const key = raw.metadata.name ?? "";
    const now = clock.now();
    const facts = { name: key, tribe: squad.spec.tribe, channel: squad.spec.oncall?.channel };
    for (const n of due(status, now)) {
      if (runner.busy(key, n.id)) continue;
      const record = status.incidents?.find(
        (r) => r.id === n.incident && incidentNoticeId(key, r, n.event) === n.id,
      );
      const message = incidentOncallMessage(incidentPayloadOf(n, record, facts));
      runner.start({
        key,
        id: n.id,
        attemptsBefore: n.attempts,
        send: async (signal) => {
          if (!(await stillDue(this.deps.client, SquadResource, raw, n.id, n.attempts))) return undefined;
          return webhook.sendMessage(squad, message, signal);
        },
      });
    }
    return nextAttemptInMs(status, now, (id) => runner.busy(key, id));
  }
}
