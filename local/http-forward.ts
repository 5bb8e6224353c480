/**
 * Forwards one buffered HTTP request to an upstream emulator and buffers its answer: what the chaos
 * proxies and the Kinesis shard limits need to decide, before or after the real call, whether to hand
 * back something else instead.
 */
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';

export interface ForwardedResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export function forwardRequest(
  upstream: URL,
  req: Pick<IncomingMessage, 'headers' | 'method' | 'url'>,
  body: Buffer,
): Promise<ForwardedResponse> {
  return new Promise((resolve, reject) => {
    const headers = { ...req.headers, host: upstream.host, 'content-length': String(body.length) };
    const outgoing = request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 500,
            headers: Object.fromEntries(
              Object.entries(response.headers).flatMap(([k, v]) => (typeof v === 'string' ? [[k, v]] : [])),
            ),
            body: Buffer.concat(chunks),
          }),
        );
        response.on('error', reject);
      },
    );
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

/** Writes a buffered answer (forwarded, or made up by a proxy) to the caller. */
export function sendAnswer(res: ServerResponse, answer: ForwardedResponse): void {
  res.writeHead(answer.status, answer.headers);
  res.end(answer.body);
}

/**
 * An HTTP server for a proxy that decides on whole requests: it reads each body, asks `answer` what
 * to reply, and replies with `onError(error)` when deciding failed.
 */
export function createBufferingServer(
  answer: (req: IncomingMessage, body: Buffer) => Promise<ForwardedResponse>,
  onError: (error: unknown) => ForwardedResponse,
): Server {
  return createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      answer(req, Buffer.concat(chunks)).then(
        (reply) => sendAnswer(res, reply),
        (error: unknown) => {
          if (res.headersSent) res.destroy();
          else sendAnswer(res, onError(error));
        },
      );
    });
  });
}
