/** Listening on loopback (local/net.ts): the one listen() every local server goes through. */
import { createServer as createHttpServer } from 'node:http';
import { createServer as createNetServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalMailError, startSmtpSink } from '../../local/mail.ts';
import { listen } from '../../local/net.ts';

const HOST = '127.0.0.1';
const opened: Server[] = [];

afterEach(async () => {
  await Promise.all(opened.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

/** A server holding a free port, so a second listen on that port fails. */
async function holder(): Promise<number> {
  const server = createNetServer();
  opened.push(server);
  return listen(server, 0, HOST);
}

describe('listen', () => {
  it('resolves with the port the OS gave, and the server is then listening there', async () => {
    const server = createHttpServer();
    opened.push(server);
    const port = await listen(server, 0, HOST);
    expect(port).toBeGreaterThan(0);
    expect(server.address()).toMatchObject({ address: HOST, port });
    // Once listening, the error listener it added is gone again.
    expect(server.listenerCount('error')).toBe(0);
  });

  it('rejects with the error of a taken port, its code kept', async () => {
    const port = await holder();
    const second = createNetServer();
    await expect(listen(second, port, HOST)).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });

  it('serves smtp-server too: the SMTP sink names itself and the port when it cannot listen', async () => {
    const port = await holder();
    const failure = startSmtpSink({ host: HOST, port });
    await expect(failure).rejects.toBeInstanceOf(LocalMailError);
    await expect(failure).rejects.toThrow(`SMTP sink could not listen on ${HOST}:${port}`);
    const sink = await startSmtpSink({ host: HOST });
    try {
      expect(sink.port).toBeGreaterThan(0);
    } finally {
      await sink.close();
    }
  });
});
