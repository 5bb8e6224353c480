/**
 * Where the CSV comes from: a local file or an S3 object, read as a stream (never the whole object in
 * memory), gunzipped on the fly for `.gz`, optionally from a byte offset so a resumed run skips what a
 * checkpoint says is done.
 */
import { createReadStream, statSync } from 'node:fs';
import { basename } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { parseS3Url } from '../core/resources.ts';
import { fatalAwsError, ProducerError } from './errors.ts';

export interface SourceRef {
  /** What the user gave: a path or `s3://bucket/key`. */
  location: string;
  s3?: { bucket: string; key: string };
  gzip: boolean;
  /** The file name without `.csv`/`.gz`, to name the rejects and failed-records files. */
  stem: string;
}

export interface OpenedSource {
  /** Decompressed CSV bytes from `startByte` on. */
  stream: Readable;
  /** Size of what is read from storage (compressed size for gzip), when known: drives progress and ETA. */
  storedBytes?: number;
  /** Bytes read from storage so far (compressed for gzip). */
  storedBytesRead(): number;
}

export function describeSource(location: string): SourceRef {
  const s3 = parseS3Url(location);
  if (location.startsWith('s3://') && (!s3 || s3.key === '')) {
    throw new ProducerError(`not an S3 object URL: ${location}`, 'use s3://bucket/path/to/file.csv');
  }
  const name = basename(s3 ? s3.key : location);
  const gzip = /\.gz$/i.test(name);
  const stem = name.replace(/\.gz$/i, '').replace(/\.csv$/i, '') || 'source';
  return { location, gzip, stem, ...(s3 ? { s3 } : {}) };
}

/**
 * Opens the source. `startByte` is an offset in the decompressed CSV: plain objects are read from
 * there with a Range request (or file offset); gzip cannot seek, so its prefix is decompressed and
 * dropped without being parsed.
 */
export async function openSource(
  ref: SourceRef,
  options: { s3?: S3Client; startByte?: number; signal?: AbortSignal } = {},
): Promise<OpenedSource> {
  const startByte = options.startByte ?? 0;
  const seek = ref.gzip ? 0 : startByte;
  let raw: Readable;
  let storedBytes: number | undefined;
  if (ref.s3) {
    if (!options.s3) throw new ProducerError('an S3 source needs an S3 client', 'pass s3 to replayToStream');
    const { bucket, key } = ref.s3;
    try {
      const object = await options.s3.send(
        new GetObjectCommand({ Bucket: bucket, Key: key, ...(seek > 0 ? { Range: `bytes=${seek}-` } : {}) }),
        options.signal ? { abortSignal: options.signal } : {},
      );
      raw = object.Body as Readable;
      storedBytes = object.ContentLength !== undefined ? object.ContentLength + seek : undefined;
    } catch (error) {
      // A checkpoint saved after the last row but before it was marked complete points at the very end.
      if (seek > 0 && error instanceof Error && error.name === 'InvalidRange') {
        raw = Readable.from([]);
      } else {
        throw s3SourceError(error, ref.location);
      }
    }
  } else {
    try {
      storedBytes = statSync(ref.location).size;
    } catch (error) {
      throw new ProducerError(
        `cannot read ${ref.location}: ${(error as Error).message}`,
        'check the --source path',
        {
          cause: error,
        },
      );
    }
    raw = createReadStream(ref.location, { start: seek, highWaterMark: 256 * 1024 });
  }
  let storedRead = seek;
  raw.on('data', (chunk: Buffer) => {
    storedRead += chunk.length;
  });
  let stream: Readable = raw;
  if (ref.gzip) {
    const gunzip = createGunzip({ chunkSize: 256 * 1024 });
    raw.on('error', (error) => gunzip.destroy(error));
    stream = raw.pipe(gunzip);
    if (startByte > 0) {
      const skipper = skipBytes(startByte);
      gunzip.on('error', (error) => skipper.destroy(error));
      stream = gunzip.pipe(skipper);
    }
  }
  return { stream, ...(storedBytes !== undefined ? { storedBytes } : {}), storedBytesRead: () => storedRead };
}

function skipBytes(count: number): Transform {
  let remaining = count;
  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      if (remaining >= chunk.length) {
        remaining -= chunk.length;
        callback();
        return;
      }
      const rest = remaining > 0 ? chunk.subarray(remaining) : chunk;
      remaining = 0;
      callback(null, rest);
    },
  });
}

function s3SourceError(error: unknown, location: string): Error {
  return fatalAwsError(error, location) ?? (error instanceof Error ? error : new Error(String(error)));
}
