import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One raw request, headers exactly as given (fetch would not let us set Host or Origin). */
function send(url: string, method: string, headers: Record<string, string>): Promise<Answer> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const outgoing = request(
      { host: target.hostname, port: target.port, path: target.pathname, method, headers, agent: false },
      (response) => {
        let body = '';
        response.setEncoding('utf8').on('data', (chunk: string) => {
          body += chunk;
        });
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body }),
        );
      },
    );
    outgoing.on('error', reject);
    outgoing.end(method === 'POST' ? '{}' : undefined);
  });
}

/** The guard's own refusal, told apart from an emulator's 403 (kinesalite answers one to any unsigned call). */
const refused = (answer: Answer) => answer.status === 403 && answer.body.startsWith('forbidden:');
const corsHeaders = (answer: Answer) =>
  Object.keys(answer.headers).filter((h) => h.startsWith('access-control-'));

describe('local servers answer their own origin only', () => {
  let stack: LocalStack;
  let servers: Array<[string, string]>;

  beforeAll(async () => {
    stack = await startLocalStack({ ports: 'ephemeral' });
    servers = [
      ['kinesis', stack.endpoints.kinesis],
      ['dynamodb', stack.endpoints.dynamodb],
      ['s3', stack.endpoints.s3],
      ['sns', stack.endpoints.sns],
      ['mail web', (stack.mailUrl ?? '').replace(/\/$/, '')],
    ];
  });
  afterAll(() => stack?.stop());

  it('refuses a CORS preflight and a request from another origin, with no CORS header', async () => {
    for (const [service, endpoint] of servers) {
      const preflight = await send(`${endpoint}/`, 'OPTIONS', {
        Origin: 'http://evil.example',
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'x-amz-target,content-type,authorization',
      });
      expect([service, refused(preflight), corsHeaders(preflight)]).toEqual([service, true, []]);
      const post = await send(`${endpoint}/`, 'POST', {
        Origin: 'http://evil.example',
        'Content-Type': 'application/x-amz-json-1.1',
      });
      expect([service, refused(post), corsHeaders(post)]).toEqual([service, true, []]);
    }
  });

  it('refuses a request for another host name (DNS rebinding)', async () => {
    for (const [service, endpoint] of servers) {
      const answer = await send(`${endpoint}/`, 'GET', { Host: `evil.example:${new URL(endpoint).port}` });
      expect([service, refused(answer)]).toEqual([service, true]);
    }
  });

  it('refuses what another site embeds, yet lets a person navigate to the mail page', async () => {
    const mailWeb = stack.mailUrl ?? '';
    const embedded = await send(`${mailWeb}api/email`, 'GET', {
      'Sec-Fetch-Site': 'cross-site',
      'Sec-Fetch-Mode': 'no-cors',
    });
    expect(refused(embedded)).toBe(true);
    const navigated = await send(mailWeb, 'GET', {
      Accept: 'text/html',
      'Sec-Fetch-Site': 'cross-site',
      'Sec-Fetch-Mode': 'navigate',
    });
    expect(navigated.status).toBe(200);
  });

  it('answers its own origin, without granting any other origin anything', async () => {
    for (const [service, endpoint] of servers) {
      const own = await send(`${endpoint}/`, 'GET', { Origin: endpoint });
      expect([service, refused(own), corsHeaders(own)]).toEqual([service, false, []]);
    }
    const mail = await send(`${stack.mailUrl}api/email`, 'GET', {});
    expect(mail.status).toBe(200);
    expect(corsHeaders(mail)).toEqual([]);
  });

  it("refuses MailDev's WebSocket to another origin", async () => {
    const upgrade = (origin: string) =>
      new Promise<number>((resolve, reject) => {
        const url = new URL('socket.io/?EIO=4&transport=websocket', stack.mailUrl);
        const outgoing = request({
          host: url.hostname,
          port: url.port,
          path: `${url.pathname}${url.search}`,
          agent: false,
          headers: {
            Connection: 'Upgrade',
            Upgrade: 'websocket',
            Origin: origin,
            'Sec-WebSocket-Version': '13',
            'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
          },
        });
        outgoing.on('upgrade', (_response, socket) => {
          socket.destroy();
          resolve(101);
        });
        outgoing.on('response', (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        });
        outgoing.on('error', reject);
        outgoing.end();
      });
    expect(await upgrade('http://evil.example')).toBe(403);
    expect(await upgrade(new URL(stack.mailUrl ?? '').origin)).toBe(101);
  });
});
