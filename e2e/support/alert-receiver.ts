/**
 * A loopback webhook receiver standing where a real one (the operator's, a chat tool) would be,
 * to see exactly what Alertmanager sends: each notification with its arrival time and the
 * Authorization header it carried. A request without the expected bearer token gets 401 and is
 * counted, not recorded, as a real authenticated receiver would treat it.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** One alert of Alertmanager's webhook payload (version "4"). */
export interface WebhookAlert {
  status: "firing" | "resolved";
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** RFC 3339; when the alert started firing (Prometheus's activeAt, as Prometheus sent it). */
  startsAt: string;
  /** RFC 3339; "0001-01-01T00:00:00Z" while firing. */
  endsAt: string;
  generatorURL: string;
  fingerprint: string;
}

/** Alertmanager's webhook_config payload, version "4" (one alert group per POST). */
export interface WebhookPayload {
  version: string;
  groupKey: string;
  truncatedAlerts: number;
  status: "firing" | "resolved";
  receiver: string;
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  commonAnnotations: Record<string, string>;
  externalURL: string;
  alerts: WebhookAlert[];
}

export interface ReceivedNotification {
  /** When the request's body had fully arrived (ms since the epoch). */
  at: number;
  path: string;
  payload: WebhookPayload;
}

export class AlertReceiver {
  readonly received: ReceivedNotification[] = [];
  /** Requests refused for a missing or wrong bearer token. */
  unauthorized = 0;
  /** Told of each accepted notification as it arrives (a benchmark times it). */
  onNotification?: (n: ReceivedNotification) => void;
  private server?: Server;

  constructor(private readonly token: string) {}

  /** Serves on a free 127.0.0.1 port; returns the webhook URL (path /alerts). */
  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      let body = "";
      req.on("data", (chunk: Buffer) => (body += chunk.toString()));
      req.on("end", () => {
        const at = Date.now();
        if (req.method !== "POST") return void res.writeHead(405).end();
        if (req.headers.authorization !== `Bearer ${this.token}`) {
          this.unauthorized++;
          return void res.writeHead(401).end();
        }
        try {
          const n = { at, path: req.url ?? "", payload: JSON.parse(body) as WebhookPayload };
          this.received.push(n);
          res.writeHead(200).end();
          this.onNotification?.(n);
        } catch {
          res.writeHead(400).end();
        }
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/alerts`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
