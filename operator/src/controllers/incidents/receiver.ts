/**
 * The Alertmanager webhook receiver: `POST /alertmanager` on a listener of its own
 * (`--incident-port`), never on the OFREP or health ports. Its own port because it is the one
 * endpoint that changes the cluster (it reverts Releases and kills toggles): a NetworkPolicy or
 * Service can then admit only Alertmanager to it, while apps keep reaching OFREP.
 *
 * Optionally over TLS (`tls`: 1.2 at least, the pair re-read when its files change,
 * receiver-tls.ts) and with client certificates (mTLS): with a client CA, a client without a
 * certificate that CA signed fails the TLS handshake and never reaches a handler.
 *
 * Each request, cheapest check first, so an unauthenticated caller costs a header compare:
 * 1. `POST /alertmanager` only (404, 405);
 * 2. its credentials, as receiver-auth.ts decides: `Authorization: Bearer <token>`, compared in
 *    constant time with the token file's, and/or the client certificate's name (401, with
 *    nothing read or changed, counted, its warning rate-limited by refusal-log.ts; Alertmanager does not retry a 4xx, so a misconfigured receiver
 *    shows up as failed notifications, `alertmanager_notifications_failed_total`);
 * 3. this replica leads (else 503 + Retry-After: Alertmanager retries a 5xx, and the retry may
 *    reach the leader; only the leader writes, as for every controller);
 * 4. the body: at most `maxBodyBytes` (413), JSON (400), an Alertmanager message version 4 (400);
 * 5. one notification handled at a time, at most `maxQueued` waiting (503), each within
 *    `handleTimeoutMs` (503: the work is idempotent, a retry repeats nothing already done).
 * 200 once the incident is recorded and its actions written.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createTlsServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import type { Logger } from "pino";
import { expectedTokenDigest, matchesDigest } from "../../flags/ofrep-protocol.js";
import { parseWebhookMessage, type WebhookMessage } from "../../incidents/alertmanager.js";
import { BodyTooLarge, readBody } from "../../runtime/http-body.js";
import { authorizeReceiverRequest, certificateNames, type ReceiverAuthPolicy } from "./receiver-auth.js";
import type { ReceiverTlsCredentials } from "./receiver-tls.js";
import { createRefusalLog } from "./refusal-log.js";

export const RECEIVER_PATH = "/alertmanager";

export interface ReceiverLimits {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  maxHeaderBytes: number;
  /** Alertmanager's message for 200 alerts with many labels stays well under this. */
  maxBodyBytes: number;
  /** Notifications waiting behind the one being handled. */
  maxQueued: number;
  /** How long one notification may take before Alertmanager is told to retry. */
  handleTimeoutMs: number;
  maxConnections: number;
}

export const DEFAULT_RECEIVER_LIMITS: ReceiverLimits = {
  headersTimeoutMs: 5_000,
  requestTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  maxHeaderBytes: 16 * 1024,
  maxBodyBytes: 1024 * 1024,
  maxQueued: 32,
  handleTimeoutMs: 8_000,
  maxConnections: 64,
};

export interface ReceiverOptions {
  port: number;
  host?: string;
  /**
   * The bearer token Alertmanager sends, read per request so a rotated Secret needs no restart.
   * Absent: no token is asked for (then a client CA must be set: `tls.clientCert`).
   */
  token?: () => string | undefined;
  /** Serve HTTPS with these credentials; `clientCert`: require a certificate the client CA signed. */
  tls?: {
    credentials: ReceiverTlsCredentials;
    clientCert: boolean;
    /** With `clientCert`: the names (subject CN or DNS SAN) a certificate must carry one of; empty: any. */
    clientNames: readonly string[];
  };
  isLeader: () => boolean;
  /** Records the incident and writes its actions; resolves with what to answer. */
  handle: (message: WebhookMessage) => Promise<unknown>;
  logger: Pick<Logger, "info" | "warn" | "error">;
  limits?: Partial<ReceiverLimits>;
}

export interface Receiver {
  readonly handler: (req: IncomingMessage, res: ServerResponse) => void;
  listen(): Promise<AddressInfo>;
  close(): Promise<void>;
}

class TimedOut extends Error {}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res
    .writeHead(status, {
      "Content-Type": "application/json",
      "Content-Length": String(Buffer.byteLength(text)),
      ...headers,
    })
    .end(text);
}

/** The bearer token of the request, if any (Alertmanager's `authorization: {type: Bearer}`). */
function bearer(req: IncomingMessage): string | undefined {
  const match = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? "");
  return match ? (match[1] as string).trim() : undefined;
}

export function createReceiver(options: ReceiverOptions): Receiver {
  const limits = { ...DEFAULT_RECEIVER_LIMITS, ...options.limits };
  const token = options.token;
  const expected = token ? expectedTokenDigest(token) : () => undefined;
  const policy: ReceiverAuthPolicy = {
    token: token !== undefined,
    clientCert: options.tls?.clientCert === true,
    clientNames: options.tls?.clientNames ?? [],
  };
  const { logger } = options;
  // Rate-limited: anyone who reaches the port can send 401s (refusal-log.ts).
  const refused = createRefusalLog({ logger, reason: "Unauthenticated" });
  // One at a time: two notifications of one squad must not race on its status.
  let chain: Promise<unknown> = Promise.resolve();
  let queued = 0;

  const run = (message: WebhookMessage): Promise<unknown> => {
    queued++;
    const work = chain.then(() => options.handle(message));
    chain = work.catch(() => undefined).finally(() => queued--);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TimedOut()), limits.handleTimeoutMs);
    });
    return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
  };

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    void (async () => {
      const path = (req.url ?? "").split("?")[0];
      if (path !== RECEIVER_PATH) return send(res, 404, { error: `not found; POST ${RECEIVER_PATH}` });
      if (req.method !== "POST") return send(res, 405, { error: "POST only" }, { Allow: "POST" });
      const digest = policy.token ? expected() : undefined;
      const socket = req.socket as Partial<TLSSocket>;
      const peer = policy.clientCert ? socket.getPeerCertificate?.() : undefined;
      const auth = authorizeReceiverRequest(policy, {
        tokenMatches: digest !== undefined && matchesDigest(bearer(req), digest),
        ...(peer && Object.keys(peer).length > 0
          ? { clientCert: { verified: socket.authorized === true, names: certificateNames(peer) } }
          : {}),
      });
      if (!auth.ok) {
        refused({
          remote: req.socket.remoteAddress,
          why: auth.why,
          ...(peer?.subject ? { clientCertificate: certificateNames(peer).slice(0, 8) } : {}),
        });
        return send(
          res,
          401,
          { error: auth.why },
          {
            ...(policy.token ? { "WWW-Authenticate": 'Bearer realm="crescendo-incidents"' } : {}),
            Connection: "close",
          },
        );
      }
      if (!options.isLeader()) {
        return send(
          res,
          503,
          { error: "not the leader; retry" },
          { "Retry-After": "1", Connection: "close" },
        );
      }
      if (queued >= limits.maxQueued) {
        return send(res, 503, { error: "busy; retry" }, { "Retry-After": "1", Connection: "close" });
      }
      let text: string;
      try {
        text = await readBody(req, limits.maxBodyBytes);
      } catch (err) {
        if (err instanceof BodyTooLarge) {
          return send(
            res,
            413,
            { error: `body exceeds ${limits.maxBodyBytes} bytes` },
            { Connection: "close" },
          );
        }
        throw err;
      }
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        return send(res, 400, { error: "body is not JSON" });
      }
      const parsed = parseWebhookMessage(body);
      if (!parsed.ok) return send(res, 400, { error: parsed.why });
      try {
        return send(res, 200, await run(parsed.message));
      } catch (err) {
        if (err instanceof TimedOut) {
          logger.warn(
            { groupKey: parsed.message.groupKey.slice(0, 256) },
            "incident receiver: handling timed out",
          );
          return send(res, 503, { error: "timed out; retry" }, { "Retry-After": "1" });
        }
        logger.error(
          { err, groupKey: parsed.message.groupKey.slice(0, 256) },
          "incident receiver: handling failed",
        );
        return send(res, 500, { error: "handling failed; retry" });
      }
    })().catch((err: unknown) => {
      logger.error({ err }, "incident receiver: request failed");
      if (!res.headersSent) send(res, 500, { error: "request failed" });
    });
  };

  let server: Server | undefined;
  return {
    handler,
    listen() {
      const http = {
        headersTimeout: limits.headersTimeoutMs,
        requestTimeout: limits.requestTimeoutMs,
        keepAliveTimeout: limits.keepAliveTimeoutMs,
        connectionsCheckingInterval: 1_000,
        maxHeaderSize: limits.maxHeaderBytes,
      };
      const tls = options.tls;
      let s: Server;
      if (tls) {
        const https = createTlsServer(
          {
            ...http,
            ...tls.credentials.current,
            // A client without a certificate the CA signed fails the handshake: no request at all.
            requestCert: tls.clientCert,
            rejectUnauthorized: tls.clientCert,
          },
          handler,
        );
        // Before the TLS listener sees the connection: renewed files serve this very handshake.
        https.prependListener("connection", () => {
          if (tls.credentials.refresh()) https.setSecureContext(tls.credentials.current);
        });
        // Rate-limited like a 401: anyone who reaches the port can fail a handshake.
        const handshakeRefused = createRefusalLog({ logger, reason: "TLSHandshake" });
        https.on("tlsClientError", (err: NodeJS.ErrnoException, socket: TLSSocket) => {
          handshakeRefused({ remote: socket.remoteAddress, code: err.code, err: err.message });
        });
        s = https;
      } else {
        s = createServer(http, handler);
      }
      s.maxConnections = limits.maxConnections;
      server = s;
      return new Promise<AddressInfo>((resolve, reject) => {
        s.once("error", reject);
        s.listen(options.port, options.host, () => {
          s.off("error", reject);
          resolve(s.address() as AddressInfo);
        });
      });
    },
    close() {
      const s = server;
      server = undefined;
      if (!s) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        s.close((err) => (err ? reject(err) : resolve()));
        s.closeIdleConnections();
      });
    },
  };
}
