/**
 * Synthetic Kaggle-shaped CSV plus a ground-truth file of the injected bots, to a local file or streamed
 * into S3 (`clickstream generate`, cli/commands/generate.ts). The generation itself lives in
 * core/synthetic.ts.
 */

import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { createS3Client } from '../adapters/clients.ts';
import type { Progress, RunContext } from '../adapters/run-context.ts';
import { clientOptions } from '../adapters/target.ts';
import { ClickstreamError } from '../core/errors.ts';
import { type EventType, toIsoSeconds } from '../core/event.ts';
import { numberFlag } from '../core/flags.ts';
import { parseS3Url } from '../core/resources.ts';
import {
  BOT_KINDS,
  type BotKind,
  resolveSyntheticConfig,
  SyntheticConfigError,
  SyntheticGenerator,
} from '../core/synthetic.ts';

export interface GenerateOptions {
  events?: string | number;
  users?: string | number;
  bots?: string | number;
  heavyShoppers?: string | number;
  seed?: string | number;
  start?: string;
  rate?: string | number;
  days?: string | number;
  /** A file path or s3://bucket/key. */
  out?: string;
  /** A file path or s3://bucket/key; default `<out>.truth.json`. */
  truth?: string;
}

export interface GenerateSummary {
  out: string;
  truth: string;
  events: number;
  users: number;
  bots: { total: number; byKind: Record<BotKind, number> };
  /** Heavy but human shoppers (in the truth file, not bots). */
  heavyShoppers: number;
  byType: Record<EventType, number>;
  bytes: number;
  firstEventTime: string | null;
  lastEventTime: string | null;
  durationMs: number;
  rowsPerSecond: number;
  /** Present when Ctrl-C stopped the run early: the output holds `events` rows, fewer than asked for. */
  interrupted?: true;
}

/** Large multipart parts: fewer requests, and the upload still streams in bounded memory (parts × queue). */
const S3_PART_BYTES = 16 * 1024 * 1024;
const S3_QUEUE = 2;

export async function generate(options: GenerateOptions, context: RunContext): Promise<GenerateSummary> {
  const out = options.out;
  if (!out)
    throw new ClickstreamError(
      '--out is required',
      'e.g. --out events.csv or --out s3://bucket/2019-Oct.csv',
    );
  const generator = createGenerator(options);
  const truth = options.truth ?? `${out}.truth.json`;
  const started = performance.now();
  const progress = context.progress('generate', { total: generator.config.events, unit: 'events' });
  const body = Readable.from(csvBuffers(generator, context.signal, progress));

  const outUrl = parseS3Url(out);
  const truthUrl = parseS3Url(truth);
  let s3: S3Client | undefined;
  try {
    if (outUrl || truthUrl) s3 = createS3Client(clientOptions(await context.target(), 's3'));
    if (outUrl && s3) {
      const upload = new Upload({
        client: s3,
        params: { Bucket: outUrl.bucket, Key: outUrl.key, Body: body, ContentType: 'text/csv' },
        partSize: S3_PART_BYTES,
        queueSize: S3_QUEUE,
      });
      await upload.done();
    } else {
      await mkdir(dirname(out), { recursive: true });
      await pipeline(body, createWriteStream(out));
    }
    const truthText = `${JSON.stringify(generator.truth, null, 2)}\n`;
    if (truthUrl && s3) {
      await s3.send(
        new PutObjectCommand({
          Bucket: truthUrl.bucket,
          Key: truthUrl.key,
          Body: truthText,
          ContentType: 'application/json',
        }),
      );
    } else {
      await mkdir(dirname(truth), { recursive: true });
      await writeFile(truth, truthText);
    }
  } finally {
    progress.stop();
    s3?.destroy();
  }

  const durationMs = Math.round(performance.now() - started);
  const stats = generator.stats;
  const byKind = Object.fromEntries(BOT_KINDS.map(({ kind }) => [kind, 0])) as Record<BotKind, number>;
  for (const bot of generator.truth.bots) byKind[bot.kind]++;
  return {
    out,
    truth,
    events: stats.events,
    users: generator.config.users,
    bots: { total: generator.truth.bots.length, byKind },
    heavyShoppers: generator.truth.heavyShoppers.length,
    byType: { ...stats.byType },
    bytes: stats.bytes,
    // Second precision, as the rows carry them.
    firstEventTime: stats.firstEventMs === undefined ? null : toIsoSeconds(stats.firstEventMs),
    lastEventTime: stats.lastEventMs === undefined ? null : toIsoSeconds(stats.lastEventMs),
    durationMs,
    rowsPerSecond: Math.round(stats.events / Math.max(0.001, durationMs / 1000)),
    ...(stats.events < generator.config.events ? { interrupted: true as const } : {}),
  };
}

/** The CSV as Buffers; stops between chunks on Ctrl-C so what was written stays whole rows. */
function* csvBuffers(
  generator: SyntheticGenerator,
  signal: AbortSignal,
  progress: Progress,
): Generator<Buffer> {
  for (const chunk of generator.chunks()) {
    // The text is ASCII, and latin1 is the cheapest exact encoding of it.
    yield Buffer.from(chunk, 'latin1');
    progress.update(generator.stats.events);
    if (signal.aborted) return;
  }
}

function createGenerator(options: GenerateOptions): SyntheticGenerator {
  try {
    const config = resolveSyntheticConfig({
      events: numberFlag(options.events, '--events'),
      users: numberFlag(options.users, '--users'),
      bots: numberFlag(options.bots, '--bots'),
      heavyShoppers: numberFlag(options.heavyShoppers, '--heavy-shoppers'),
      seed: numberFlag(options.seed, '--seed'),
      rate: numberFlag(options.rate, '--rate'),
      days: numberFlag(options.days, '--days'),
      ...(options.start === undefined ? {} : { start: options.start }),
    });
    return new SyntheticGenerator(config);
  } catch (error) {
    if (error instanceof SyntheticConfigError) {
      throw new ClickstreamError(`generate: ${error.message}`, error.hint, { cause: error });
    }
    throw error;
  }
}
