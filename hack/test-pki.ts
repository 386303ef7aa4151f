/**
 * Certificates for tests of TLS endpoints, made with the openssl CLI as hack/cluster/up makes the
 * local control plane's: an EC P-256 CA, and leaf certificates it signs for a server or a client.
 * Each PKI lives in a directory the test owns (and removes).
 */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

export interface IssuedCertificate {
  cert: string;
  key: string;
}

export interface TestPki {
  /** The CA's certificate (PEM file). */
  caCert: string;
  /** Signs a leaf: `serverAuth` or `clientAuth`, subject CN, optional SANs (`DNS:x,IP:127.0.0.1`). */
  issue(
    name: string,
    o: { cn: string; usage: "serverAuth" | "clientAuth"; san?: string; days?: number },
  ): IssuedCertificate;
}

function openssl(args: string[]): void {
  execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
}

/** A new CA named `name` in `dir` (files `<name>-ca.crt`, `<name>-ca.key`). */
export function createTestPki(dir: string, name = "test"): TestPki {
  const caKey = join(dir, `${name}-ca.key`);
  const caCert = join(dir, `${name}-ca.crt`);
  openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", caKey]);
  openssl([
    ...["req", "-x509", "-new", "-key", caKey, "-sha256", "-days", "2", "-subj", `/CN=${name}-ca`],
    ...["-addext", "basicConstraints=critical,CA:TRUE"],
    ...["-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"],
    ...["-out", caCert],
  ]);
  return {
    caCert,
    issue(leaf, o) {
      const key = join(dir, `${leaf}.key`);
      const csr = join(dir, `${leaf}.csr`);
      const cert = join(dir, `${leaf}.crt`);
      const ext = join(dir, `${leaf}.ext`);
      writeFileSync(
        ext,
        [
          "basicConstraints=critical,CA:FALSE",
          "keyUsage=critical,digitalSignature,keyEncipherment",
          `extendedKeyUsage=${o.usage}`,
          ...(o.san ? [`subjectAltName=${o.san}`] : []),
        ].join("\n"),
      );
      openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key]);
      openssl(["req", "-new", "-key", key, "-subj", `/CN=${o.cn}`, "-out", csr]);
      openssl([
        ...["x509", "-req", "-in", csr, "-CA", caCert, "-CAkey", caKey, "-CAcreateserial"],
        ...["-days", String(o.days ?? 2), "-sha256", "-extfile", ext, "-out", cert],
      ]);
      return { cert, key };
    },
  };
}
