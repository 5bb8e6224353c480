// The emulators ship no types; these declare the small surface we use.
declare module 'kinesalite' {
  import type { Server } from 'node:http';
  export default function kinesalite(options?: {
    path?: string;
    createStreamMs?: number;
    deleteStreamMs?: number;
    updateStreamMs?: number;
    shardLimit?: number;
  }): Server;
}
declare module 'dynalite' {
  import type { Server } from 'node:http';
  export default function dynalite(options?: {
    path?: string;
    createTableMs?: number;
    deleteTableMs?: number;
    updateTableMs?: number;
  }): Server;
}
declare module 's3rver' {
  import type { Server } from 'node:http';
  import type { AddressInfo } from 'node:net';
  export default class S3rver {
    constructor(options: {
      address?: string;
      port?: number;
      directory: string;
      silent?: boolean;
      vhostBuckets?: boolean;
      allowMismatchedSignatures?: boolean;
    });
    httpServer: Server & { address(): AddressInfo };
    run(): Promise<AddressInfo>;
    /** Creates and returns the HTTP server, listening; with a callback, errors come as 'error' events on it. */
    listen(port: number, host: string, callback: () => void): Server & { address(): AddressInfo };
    close(): Promise<void>;
  }
}
