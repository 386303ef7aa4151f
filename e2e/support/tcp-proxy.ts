/**
 * A loopback TCP proxy to stand in for an apiserver that is not up yet: nothing listens on its
 * port until `tcpProxy` is called, then every connection is forwarded, bytes as they are (TLS
 * included, end to end), to the real address.
 */
import { connect, createServer, type Server, type Socket } from "node:net";

/** Listens on 127.0.0.1:`port` and forwards each connection to `target`; `close` stops it. */
export async function tcpProxy(
  port: number,
  target: { host: string; port: number },
): Promise<{ close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  return {
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
