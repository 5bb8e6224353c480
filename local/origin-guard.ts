/**
 * Every local server answers its own origin only. The emulators were written for browser SDKs and let
 * any web origin in: kinesalite, dynalite and dynoxide answer `Access-Control-Allow-Origin: *`, and
 * MailDev echoes whatever Origin comes with `Access-Control-Allow-Credentials: true`. Any page open in a
 * browser on this machine could then read and write the local data and read the alert mails. So a
 * request is refused with 403 when
 *  - its Host is not the address it came in on (127.0.0.1 or localhost, and its port): DNS rebinding,
 *    where a page's own host name is made to resolve to 127.0.0.1, so the browser sees no cross-origin;
 *  - its Origin is another origin: a cross-origin fetch, a form post, a CORS preflight, a WebSocket;
 *  - Sec-Fetch-Site says another site sent it and it is not a top-level navigation (an <img> or
 *    <script> tag, which carry no Origin);
 * and every CORS header is stripped from the answers, so none of them grants anything to anyone.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { forwardRequest } from './http-forward.ts';
import { listen } from './net.ts';

const LOOPBACK_NAMES = ['127.0.0.1', 'localhost'];

/** Why `req` does not come from this server's own origin, or undefined when it does. */
export function foreignRequest(req: IncomingMessage): string | undefined {
  const port = req.socket.localPort;
  const own = LOOPBACK_NAMES.flatMap((name) => [`${name}:${port}`, ...(port === 80 ? [name] : [])]);
  const host = req.headers.host?.toLowerCase();
  if (!host || !own.includes(host)) return `Host ${host ?? '(none)'} is not this server`;
  const origin = req.headers.origin?.toLowerCase();
  if (origin !== undefined && !own.some((address) => origin === `http://${address}`))
    return `Origin ${origin} is not this server`;
  const site = req.headers['sec-fetch-site'];
  if ((site === 'cross-site' || site === 'same-site') && req.headers['sec-fetch-mode'] !== 'navigate')
    return `a ${site} request`;
  return undefined;
}

type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;
type UpgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

/**
 * Puts the checks in front of whatever `server` already does. Call it once the server has all its
 * listeners (MailDev adds its WebSocket one when it starts).
 */
export function acceptOwnOriginOnly(server: Server): void {
  const onRequest = server.listeners('request') as RequestListener[];
  server.removeAllListeners('request');
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const refusal = foreignRequest(req);
    if (refusal) {
      res.writeHead(403, { 'content-type': 'text/plain', connection: 'close' });
      res.end(`forbidden: ${refusal}; local servers answer their own origin only\n`);
      return;
    }
    stripCorsHeaders(res);
    for (const listener of onRequest) listener.call(server, req, res);
  });
  const onUpgrade = server.listeners('upgrade') as UpgradeListener[];
  if (onUpgrade.length === 0) return;
  server.removeAllListeners('upgrade');
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (foreignRequest(req)) {
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    for (const listener of onUpgrade) listener.call(server, req, socket, head);
  });
}

const isCors = (name: string) => name.toLowerCase().startsWith('access-control-');

/** Every response goes through writeHead (Node calls it implicitly too), so the headers are cut there. */
function stripCorsHeaders(res: ServerResponse): void {
  const writeHead = res.writeHead;
  res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
    for (const name of this.getHeaderNames()) if (isCors(name)) this.removeHeader(name);
    const last = args.at(-1);
    if (Array.isArray(last)) {
      // The flat form: [name, value, name, value, ...].
      const kept: unknown[] = [];
      for (let i = 0; i < last.length; i += 2) if (!isCors(String(last[i]))) kept.push(last[i], last[i + 1]);
      args[args.length - 1] = kept;
    } else if (last && typeof last === 'object') {
      args[args.length - 1] = Object.fromEntries(Object.entries(last).filter(([name]) => !isCors(name)));
    }
    return writeHead.apply(this, args as Parameters<ServerResponse['writeHead']>);
  } as ServerResponse['writeHead'];
}

export interface GuardedFront {
  port: number;
  /** Stops listening and drops open connections, as a crashed server would. */
  close(): Promise<void>;
}

/**
 * The checks in front of a server we cannot change (dynoxide, a binary): a server on `port` that
 * refuses foreign requests and forwards the rest to `upstream`, which then listens on a port nobody
 * is told about.
 */
export async function startGuardedFront(options: {
  host: string;
  port: number;
  upstream: URL;
}): Promise<GuardedFront> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      forwardRequest(options.upstream, req, Buffer.concat(chunks)).then(
        (answer) => {
          res.writeHead(answer.status, answer.headers);
          res.end(answer.body);
        },
        // The upstream is down (or restarting): the client sees the connection drop, as it would
        // talking to the upstream itself, and its SDK retries.
        () => res.destroy(),
      );
    });
  });
  acceptOwnOriginOnly(server);
  // Idle connections stay open, as the upstream keeps them: Node's default 5 s close races clients
  // that reuse a connection just as it is closed.
  server.keepAliveTimeout = 0;
  const port = await listen(server, options.port, options.host);
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
