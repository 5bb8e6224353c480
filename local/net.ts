/** Loopback ports for the local servers: finding free ones, checking one, listening on one. */
import { type AddressInfo, createServer } from 'node:net';

/** A port the OS says is free on `host` now (for servers that cannot report the port they bound). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * True when something already listens on `host:port`. Checked by binding, not by connecting, so the
 * answer never depends on what a foreign server says (or does not say) to a connection.
 */
export function portTaken(host: string, port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') resolve(true);
      else reject(error);
    });
    server.listen(port, host, () => server.close(() => resolve(false)));
  });
}

/** True when `error`, or any error in its `cause` chain, is "address already in use". */
export function isAddressInUse(error: unknown): boolean {
  for (let current = error; current instanceof Error; current = current.cause)
    if ((current as NodeJS.ErrnoException).code === 'EADDRINUSE') return true;
  return false;
}

/**
 * A server that listens the way node's do: http and net servers, and smtp-server's SMTPServer (which
 * emits its errors itself and returns the net.Server it listens with).
 */
export interface Listenable {
  once(event: 'error', listener: (error: Error) => void): unknown;
  off(event: 'error', listener: (error: Error) => void): unknown;
  listen(port: number, host: string, onListening: () => void): { address(): string | AddressInfo | null };
}

/** Listens on `host:port` (0: any free port) and resolves with the port; a failure keeps its `code`. */
export function listen(server: Listenable, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    server.once('error', onError);
    const listening = server.listen(port, host, () => {
      server.off('error', onError);
      const address = listening.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
}
