/**
 * Forwards one buffered HTTP request to an upstream emulator and buffers its answer: what the chaos
 * proxies need to decide, before or after the real call, whether to hand back a fault instead.
 */
import { type IncomingMessage, request } from 'node:http';

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
