/**
 * Producer benchmarks (docs/performance.md). Each function measures once and returns its figures; `npm run bench`
 * calls them and writes BENCHMARKS.md. Run one directly: `npx tsx test/bench/producer.ts cpu|rss|kinesis`.
 */
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type KinesisClient,
  PutRecordCommand,
  PutRecordsCommand,
  type PutRecordsCommandInput,
} from '@aws-sdk/client-kinesis';
import { parse } from 'csv-parse';
import pLimit from 'p-limit';
import { createKinesisClient } from '../../adapters/clients.ts';
import { AggregateBuilder, DEFAULT_AGGREGATE_BYTES } from '../../core/kpl.ts';
import { replayToStream } from '../../producer/replay.ts';
import { readRowChunks } from '../../producer/rows.ts';
import { createStream, csv, validRows } from '../support/producer-support.ts';

const REPO = join(import.meta.dirname, '..', '..');

/** Writes a Kaggle-shaped CSV of about `megabytes` by repeating a generated chunk. */
export async function generateCsv(path: string, megabytes: number): Promise<number> {
  const chunkRows = validRows(20_000, (i) => ({ userId: String(500_000_000 + ((i * 7919) % 100_003)) }));
  const header = csv([]);
  const body = `${chunkRows.join('\n')}\n`;
  const out = createWriteStream(path);
  out.write(header);
  let written = header.length;
  let rows = 0;
  while (written < megabytes * 1_000_000) {
    if (!out.write(body)) await once(out, 'drain');
    written += body.length;
    rows += chunkRows.length;
  }
  out.end();
  await once(out, 'finish');
  return rows;
}

async function bareCsvParse(path: string): Promise<number> {
  let rows = 0;
  for await (const _record of createReadStream(path, { highWaterMark: 256 * 1024 }).pipe(parse())) rows++;
  return rows - 1;
}

async function producerCpuPath(path: string, aggregate: boolean): Promise<number> {
  // Dry run: csv-parse → parseRow → JSON → encoded records (KPL aggregates by default) in PutRecords
  // batches, then a null sink.
  const summary = await replayToStream({
    streamName: 'null',
    source: path,
    dryRun: true,
    aggregate,
    rejects: join(tmpdir(), 'bench.rejects.csv'),
    failedOut: join(tmpdir(), 'bench.failed.jsonl'),
  });
  return summary.sent;
}

/** The producer's reader alone: csv-parse with the options the producer needs, rows in chunks. */
async function producerReader(path: string): Promise<number> {
  let rows = 0;
  for await (const chunk of readRowChunks(createReadStream(path, { highWaterMark: 256 * 1024 })))
    rows += chunk.rows.length;
  return rows;
}

export interface CpuPathFigures {
  rows: number;
  megabytes: number;
  bareRowsPerSecond: number;
  /** The default producer (KPL-aggregated records). */
  producerRowsPerSecond: number;
  /** The producer with --no-aggregate. */
  plainProducerRowsPerSecond: number;
  /** Its reader alone (csv-parse with the producer's options), to show where the gap to bare is. */
  readerRowsPerSecond: number;
  /** producer / bare; target ≥ 0.85. */
  ratio: number;
}

/** (a) The CPU path against bare csv-parse on the same file: alternated rounds, best of each. */
export async function benchCpuPath(
  options: { megabytes?: number; rounds?: number } = {},
): Promise<CpuPathFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-producer-'));
  try {
    const path = join(dir, 'events.csv');
    const rows = await generateCsv(path, options.megabytes ?? 100);
    const best = { bare: 0, producer: 0, plain: 0, reader: 0 };
    const measure = async (name: keyof typeof best, run: () => Promise<number>) => {
      const started = performance.now();
      if ((await run()) !== rows) throw new Error(`${name} lost rows`);
      best[name] = Math.max(best[name], rows / ((performance.now() - started) / 1000));
    };
    for (let round = 0; round < (options.rounds ?? 3); round++) {
      await measure('bare', () => bareCsvParse(path));
      await measure('producer', () => producerCpuPath(path, true));
      await measure('plain', () => producerCpuPath(path, false));
      await measure('reader', () => producerReader(path));
    }
    return {
      rows,
      megabytes: Math.round(statSync(path).size / 1e6),
      bareRowsPerSecond: Math.round(best.bare),
      producerRowsPerSecond: Math.round(best.producer),
      plainProducerRowsPerSecond: Math.round(best.plain),
      readerRowsPerSecond: Math.round(best.reader),
      ratio: Math.round((best.producer / best.bare) * 1000) / 1000,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface RssFigure {
  megabytes: number;
  rows: number;
  peakRssMb: number;
  seconds: number;
}

/** (b) Peak RSS of a dry-run replay per input size, each in its own process. */
export async function benchPeakRss(options: { sizesMb?: number[] } = {}): Promise<RssFigure[]> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-rss-'));
  const figures: RssFigure[] = [];
  try {
    for (const megabytes of options.sizesMb ?? [10, 100, 1_000, 2_000]) {
      const path = join(dir, `events-${megabytes}.csv`);
      await generateCsv(path, megabytes);
      const script = `
        const { replayToStream } = await import(${JSON.stringify(join(REPO, 'producer', 'replay.ts'))});
        const started = performance.now();
        const s = await replayToStream({ streamName: 'null', source: ${JSON.stringify(path)}, dryRun: true,
          rejects: ${JSON.stringify(join(dir, 'r.csv'))}, failedOut: ${JSON.stringify(join(dir, 'f.jsonl'))} });
        console.log(JSON.stringify({ rows: s.sent, maxRssKb: process.resourceUsage().maxRSS, seconds: (performance.now() - started) / 1000 }));`;
      const output = execFileSync(
        process.execPath,
        ['--import', 'tsx', '--input-type=module', '-e', script],
        {
          cwd: REPO,
          env: { ...process.env, AWS_SDK_JS_SUPPRESS_NODE_VERSION_WARNING: '1' },
          encoding: 'utf8',
          maxBuffer: 1 << 20,
        },
      );
      const result = JSON.parse(output.trim().split('\n').pop() ?? '{}') as {
        rows: number;
        maxRssKb: number;
        seconds: number;
      };
      figures.push({
        megabytes: Math.round(statSync(path).size / 1e6),
        rows: result.rows,
        peakRssMb: Math.round(result.maxRssKb / 1024),
        seconds: Math.round(result.seconds * 10) / 10,
      });
      rmSync(path, { force: true });
    }
    return figures;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface KinesisFigures {
  shards: number;
  /** Tight loop of 500-record PutRecords (one event a record) at the best concurrency tried. */
  ceilingRecordsPerSecond: number;
  ceilingConcurrency: number;
  /** Tight loop of PutRecords of ready-made KPL aggregates (1 MiB a call, as the producer sends), in events/s. */
  aggregatedCeilingEventsPerSecond: number;
  aggregatedCeilingConcurrency: number;
  /** The default producer (KPL-aggregated): events/s and the Kinesis records it took. */
  producerEventsPerSecond: number;
  producerRecords: number;
  /** The producer with --no-aggregate: one record per event. */
  plainProducerRecordsPerSecond: number;
  naiveRecordsPerSecond: number;
  /** plain producer / ceiling, like for like (records/s); target ≥ 0.9. */
  plainShareOfCeiling: number;
  /** producer / aggregated ceiling (events/s); target ≥ 0.9. */
  producerShareOfAggregatedCeiling: number;
  /** producer / naive (events/s); target ≥ 50. */
  producerOverNaive: number;
}

const BENCH_EVENT_JSON = (i: number) =>
  `{"event_time":"2019-10-01T00:00:00Z","event_type":"view","product_id":"${1_000_000 + i}","category_id":"2053013555631882655","category_code":"electronics.smartphone","brand":"apple","price":489.07,"user_id":"520088904","user_session":"4d3b30da-a5e4-49df-b1a8-ba5943f1dd33","replayed_at":"2024-01-01T00:00:00.000Z"}`;

/** Best rate over the concurrencies tried, each a tight loop of `calls` identical PutRecords calls. */
async function tightLoopCeiling(
  kinesis: KinesisClient,
  shards: number,
  name: string,
  records: PutRecordsCommandInput['Records'],
  calls: number,
  unitsPerCall: number,
): Promise<{ perSecond: number; concurrency: number }> {
  let best = { perSecond: 0, concurrency: 1 };
  for (const concurrency of [1, 2, 4, 8]) {
    const stream = `${name}-${concurrency}`;
    await createStream(kinesis, stream, shards);
    const limit = pLimit(concurrency);
    const started = performance.now();
    await Promise.all(
      Array.from({ length: calls }, () =>
        limit(() => kinesis.send(new PutRecordsCommand({ StreamName: stream, Records: records }))),
      ),
    );
    const perSecond = (calls * unitsPerCall) / ((performance.now() - started) / 1000);
    if (perSecond > best.perSecond) best = { perSecond, concurrency };
  }
  return best;
}

/**
 * (c) Against kinesalite in its own process: its ceiling for one-event records and for KPL aggregates,
 * the producer in both modes, and one PutRecord per event. Each producer run alternates with its
 * ceiling twice, best of each, so a burst of load on the shared machine does not decide a ratio.
 */
export async function benchKinesalite(
  options: { shards?: number; events?: number; aggregatedEvents?: number; naiveEvents?: number } = {},
): Promise<KinesisFigures> {
  const shards = options.shards ?? 4;
  const events = options.events ?? 60_000;
  const aggregatedEvents = options.aggregatedEvents ?? 5 * events;
  const server = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import kinesalite from 'kinesalite';
       const server = kinesalite({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 1000 });
       server.listen(0, '127.0.0.1', () => console.log(server.address().port));`,
    ],
    { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const [portLine] = (await once(server.stdout, 'data')) as [Buffer];
  const endpoint = `http://127.0.0.1:${portLine.toString().trim()}`;
  const kinesis = createKinesisClient({ endpoint, maxAttempts: 1 });
  const dir = mkdtempSync(join(tmpdir(), 'bench-kinesis-'));
  let streams = 0;
  try {
    const categoryKey = (i: number) => String(2_053_013_555_631_882_655n + BigInt(i % 300));
    const plainRecords = Array.from({ length: 500 }, (_, i) => ({
      Data: Buffer.from(BENCH_EVENT_JSON(i)),
      PartitionKey: categoryKey(i),
    }));
    // Aggregates as the producer builds them: up to 50 KiB, then as many as fit a 1 MiB call.
    const aggregates: NonNullable<PutRecordsCommandInput['Records']> = [];
    let eventsPerAggregatedCall = 0;
    const builder = new AggregateBuilder();
    for (let i = 0; aggregates.length < 20; i++) {
      const json = BENCH_EVENT_JSON(i);
      const bytes = Buffer.byteLength(json);
      if (
        builder.count > 0 &&
        builder.size + builder.sizeOf(categoryKey(i), bytes) > DEFAULT_AGGREGATE_BYTES
      ) {
        eventsPerAggregatedCall += builder.count;
        // Spread over the shards by partition key, as the producer's per-shard aggregates are.
        aggregates.push({ Data: builder.build(), PartitionKey: categoryKey(i) });
      }
      builder.add(categoryKey(i), json, bytes);
    }

    const path = join(dir, 'events.csv');
    const aggregatedPath = join(dir, 'events-aggregated.csv');
    const categories = (i: number) => ({ categoryId: categoryKey(i) });
    writeFileSync(path, csv(validRows(events, categories)));
    writeFileSync(aggregatedPath, csv(validRows(aggregatedEvents, categories)));
    const replay = async (source: string, aggregate: boolean) => {
      const stream = `producer-${++streams}`;
      await createStream(kinesis, stream, shards);
      const summary = await replayToStream({
        kinesis,
        streamName: stream,
        source,
        aggregate,
        rejects: join(dir, 'r.csv'),
        failedOut: join(dir, 'f.jsonl'),
      });
      const expected = aggregate ? aggregatedEvents : events;
      if (summary.sent !== expected) throw new Error(`producer sent ${summary.sent} of ${expected}`);
      return { perSecond: (summary.sent * 1000) / summary.durationMs, records: summary.records };
    };

    let ceiling = { perSecond: 0, concurrency: 1 };
    let aggregatedCeiling = { perSecond: 0, concurrency: 1 };
    let plainProducer = 0;
    let producer = { perSecond: 0, records: 0 };
    for (let round = 0; round < 2; round++) {
      const c = await tightLoopCeiling(
        kinesis,
        shards,
        `ceiling${round}`,
        plainRecords,
        Math.ceil(events / 500 / 2),
        500,
      );
      if (c.perSecond > ceiling.perSecond) ceiling = c;
      plainProducer = Math.max(plainProducer, (await replay(path, false)).perSecond);
      const a = await tightLoopCeiling(
        kinesis,
        shards,
        `aggregated${round}`,
        aggregates,
        Math.ceil(aggregatedEvents / eventsPerAggregatedCall / 2),
        eventsPerAggregatedCall,
      );
      if (a.perSecond > aggregatedCeiling.perSecond) aggregatedCeiling = a;
      const p = await replay(aggregatedPath, true);
      if (p.perSecond > producer.perSecond) producer = p;
    }

    await createStream(kinesis, 'naive', shards);
    const naiveEvents = options.naiveEvents ?? 1_000;
    const started = performance.now();
    for (let i = 0; i < naiveEvents; i++) {
      const entry = plainRecords[i % plainRecords.length] as (typeof plainRecords)[number];
      await kinesis.send(
        new PutRecordCommand({ StreamName: 'naive', Data: entry.Data, PartitionKey: entry.PartitionKey }),
      );
    }
    const naive = naiveEvents / ((performance.now() - started) / 1000);
    const ratio = (a: number, b: number, digits = 1000) => Math.round((a / b) * digits) / digits;
    return {
      shards,
      ceilingRecordsPerSecond: Math.round(ceiling.perSecond),
      ceilingConcurrency: ceiling.concurrency,
      aggregatedCeilingEventsPerSecond: Math.round(aggregatedCeiling.perSecond),
      aggregatedCeilingConcurrency: aggregatedCeiling.concurrency,
      producerEventsPerSecond: Math.round(producer.perSecond),
      producerRecords: producer.records,
      plainProducerRecordsPerSecond: Math.round(plainProducer),
      naiveRecordsPerSecond: Math.round(naive),
      plainShareOfCeiling: ratio(plainProducer, ceiling.perSecond),
      producerShareOfAggregatedCeiling: ratio(producer.perSecond, aggregatedCeiling.perSecond),
      producerOverNaive: ratio(producer.perSecond, naive, 10),
    };
  } finally {
    kinesis.destroy();
    server.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const which = process.argv[2] ?? 'cpu';
  const run = { cpu: () => benchCpuPath(), rss: () => benchPeakRss(), kinesis: () => benchKinesalite() }[
    which
  ];
  if (!run) throw new Error(`unknown bench ${which}: cpu | rss | kinesis`);
  console.log(JSON.stringify(await run(), null, 2));
}
