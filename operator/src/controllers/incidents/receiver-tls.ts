/**
 * The receiver's TLS credentials from files: the serving certificate and key (a mounted
 * kubernetes.io/tls Secret, `tls.crt` and `tls.key`) and, for mTLS, the client CA. Read at start
 * (an unreadable or mismatched pair stops the operator, naming the flag), then re-read when a
 * file changes, as the token file is: cert-manager renews the Secret, the kubelet swaps the
 * mounted files, and the next connection is served with the new pair, without a restart.
 *
 * A change that does not load (a key that does not match its certificate, a half-written file,
 * a CA that is not PEM) keeps the last good credentials: an error is logged and counted
 * (`crescendo_incident_receiver_tls_reload_errors_total`), never a crash and never a receiver
 * without TLS. Files are checked at most once a second, when a connection arrives; a failed
 * set of files is tried again only once one of them changes again, so it logs once, not per
 * connection.
 */
import { X509Certificate } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { createSecureContext, type SecureContextOptions } from "node:tls";
import type { Logger } from "pino";
import { receiverTlsReloadErrors } from "./receiver-metrics.js";

/** TLS 1.0 and 1.1 are refused: both are deprecated (RFC 8996), Alertmanager speaks 1.2 and 1.3. */
export const RECEIVER_MIN_TLS_VERSION = "TLSv1.2";

export interface ReceiverTlsFiles {
  certFile: string;
  keyFile: string;
  /** With it, clients must present a certificate this CA signed (mTLS). */
  clientCaFile?: string;
}

export interface ReceiverTlsCredentials {
  /** The options of the newest credentials that loaded, for `https.createServer`. */
  readonly current: SecureContextOptions;
  /** Re-reads the files if one changed (at most once a second); true when the credentials changed. */
  refresh(): boolean;
}

const FLAGS: Record<keyof ReceiverTlsFiles, string> = {
  certFile: "--incident-tls-cert-file",
  keyFile: "--incident-tls-key-file",
  clientCaFile: "--incident-client-ca-file",
};

function paths(files: ReceiverTlsFiles): [keyof ReceiverTlsFiles, string][] {
  return (Object.entries(files) as [keyof ReceiverTlsFiles, string | undefined][]).filter(
    (e): e is [keyof ReceiverTlsFiles, string] => typeof e[1] === "string" && e[1] !== "",
  );
}

/** The files' modification times, to tell a change (the kubelet's swap changes every one). */
function signature(files: ReceiverTlsFiles): string {
  return paths(files)
    .map(([, path]) => String(statSync(path).mtimeMs))
    .join(",");
}

/** Reads and checks the files: throws, naming the file and its flag, unless the pair loads. */
function load(files: ReceiverTlsFiles): SecureContextOptions {
  const read = (key: keyof ReceiverTlsFiles, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new Error(
        `${FLAGS[key]} ${path} cannot be read: ${code === "ENOENT" ? "no such file" : (err as Error).message}`,
      );
    }
  };
  const options: SecureContextOptions = {
    cert: read("certFile", files.certFile),
    key: read("keyFile", files.keyFile),
    ...(files.clientCaFile ? { ca: read("clientCaFile", files.clientCaFile) } : {}),
    minVersion: RECEIVER_MIN_TLS_VERSION,
  };
  try {
    // A CA file without a certificate would load as no CA at all: every client refused, silently.
    if (options.ca) new X509Certificate(options.ca as Buffer);
    // What the server would do with them: a key not matching its certificate, or no PEM, throws.
    createSecureContext(options);
  } catch (err) {
    throw new Error(
      `the receiver's TLS files do not load (${paths(files)
        .map(([k, p]) => `${FLAGS[k]} ${p}`)
        .join(", ")}): ${(err as Error).message}`,
    );
  }
  return options;
}

export function receiverTlsCredentials(
  files: ReceiverTlsFiles,
  logger: Pick<Logger, "info" | "error">,
  clock: { now(): number } = Date,
): ReceiverTlsCredentials {
  let current = load(files); // first: a missing file is named with its flag
  let seen = signature(files);
  let checkedAt = clock.now();
  return {
    get current() {
      return current;
    },
    refresh() {
      if (clock.now() - checkedAt < 1000) return false;
      checkedAt = clock.now();
      let now: string;
      try {
        now = signature(files);
      } catch {
        return false; // mid-swap, or gone: keep what we have, look again next time
      }
      if (now === seen) return false;
      // Remembered before loading: a set that fails is not tried (nor logged) again until it changes.
      seen = now;
      try {
        current = load(files);
      } catch (err) {
        receiverTlsReloadErrors.inc();
        logger.error(
          { err: (err as Error).message },
          "incident receiver: changed TLS files do not load; serving the last good ones",
        );
        return false;
      }
      logger.info("incident receiver: TLS files changed; new connections use them");
      return true;
    },
  };
}
