/**
 * Stream capacity, not a test: how many partials the window aggregator puts on the user-activity stream
 * per event it reads, and how many bytes each side carries, measured by doing on a CSV what the deployed
 * pipeline does. Events go to the events-stream shard their category_id hashes to (evenly split hash
 * ranges, as CreateStream makes them), are packed into 50 KiB KPL aggregates as the producer packs them,
 * and are folded per shard with the aggregator's own fold, which flushes when the tumbling window closes
 * (arrival time: event time / speed) or when the state reaches its early-flush size.
 *
 *   npx tsx test/bench/capacity.ts FILE.csv [--shards 2] [--speed 60|max] [--json]
 *
 * `--shards` is the events stream's shard count (CDK context `eventsShards`; default as deployed).
 *
 * `--speed max` never closes a window by time: a replay as fast as the shards take it covers hours of
 * event time per tumbling window, so only the state size ends a flush. The README's Capacity section
 * turns these ratios into shard counts.
 */
import { createReadStream } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { eventId, parseRow } from '../../core/event.ts';
import { AggregateBuilder, DEFAULT_AGGREGATE_BYTES } from '../../core/kpl.ts';
import { emptyWindowState, foldEvent, takePartials, type WindowState } from '../../core/window.ts';
import { DEFAULT_CONFIG } from '../../infra/config.ts';
import { eventRecordJson } from '../../producer/batcher.ts';
import { readRowChunks } from '../../producer/rows.ts';
import { ShardMap } from '../../producer/shards.ts';

export interface CapacityOptions {
  eventsShards: number;
  /** Event-time seconds replayed per wall-clock second; `max` = only the state size ends a flush. */
  speed: number | 'max';
  tumblingWindowSeconds: number;
  windowSeconds: number;
}

export interface ShardCapacity {
  events: number;
  /** Bytes of the KPL aggregates that carry them (what the shard's 1 MiB/s write limit counts). */
  aggregateBytes: number;
  aggregates: number;
  partials: number;
  /** Bytes of the partials as put on the user-activity stream (JSON, partition key user_id). */
  partialBytes: number;
  flushes: number;
  /** Most partials one flush put at once. */
  largestFlush: number;
}

export interface CapacityResult extends CapacityOptions {
  rows: number;
  rejected: number;
  eventTimeSeconds: number;
  shards: ShardCapacity[];
}

const REPLAYED_AT = '2019-10-01T00:00:00.000Z';

/** Evenly split hash-key ranges, as Kinesis creates a provisioned stream of `count` shards. */
export function evenShardMap(count: number): ShardMap {
  const space = 2n ** 128n;
  return new ShardMap(
    Array.from({ length: count }, (_, i) => ({
      shardId: `shardId-${String(i).padStart(12, '0')}`,
      startingHashKey: (space * BigInt(i)) / BigInt(count),
    })),
  );
}

export async function measureCapacity(file: string, options: CapacityOptions): Promise<CapacityResult> {
  const map = evenShardMap(options.eventsShards);
  const shards = Array.from({ length: map.count }, () => ({
    stats: {
      events: 0,
      aggregateBytes: 0,
      aggregates: 0,
      partials: 0,
      partialBytes: 0,
      flushes: 0,
      largestFlush: 0,
    },
    state: emptyWindowState(options.windowSeconds),
    window: Number.NaN,
    builder: new AggregateBuilder(),
  }));
  type Shard = (typeof shards)[number];
  const flush = (shard: Shard, id: number) => {
    const partials = takePartials(shard.state, `shard-${id}`);
    shard.state = emptyWindowState(options.windowSeconds) as WindowState;
    if (partials.length === 0) return;
    shard.stats.flushes++;
    shard.stats.partials += partials.length;
    shard.stats.largestFlush = Math.max(shard.stats.largestFlush, partials.length);
    for (const partial of partials) {
      shard.stats.partialBytes +=
        Buffer.byteLength(JSON.stringify(partial)) + Buffer.byteLength(partial.user_id);
    }
  };
  const closeAggregate = (shard: Shard) => {
    if (shard.builder.count === 0) return;
    shard.stats.aggregates++;
    shard.stats.aggregateBytes += shard.builder.size;
    shard.builder = new AggregateBuilder();
  };
  const windowMs =
    options.speed === 'max' ? Number.POSITIVE_INFINITY : options.speed * options.tumblingWindowSeconds * 1000;
  let rows = 0;
  let rejected = 0;
  let firstMs = Number.NaN;
  let lastMs = Number.NaN;
  let position = 0;
  for await (const chunk of readRowChunks(createReadStream(file))) {
    for (const fields of chunk.rows) {
      rows++;
      const parsed = parseRow(fields);
      if (!parsed.ok) {
        rejected++;
        continue;
      }
      if (Number.isNaN(firstMs)) firstMs = parsed.eventMs;
      lastMs = parsed.eventMs;
      const key = parsed.event.category_id;
      const id = map.shardOf(key);
      const shard = shards[id] as Shard;
      const json = eventRecordJson(parsed.event, eventId('capacity', rows), REPLAYED_AT);
      const bytes = Buffer.byteLength(json);
      if (
        shard.builder.count > 0 &&
        shard.builder.size + shard.builder.sizeOf(key, bytes) > DEFAULT_AGGREGATE_BYTES
      )
        closeAggregate(shard);
      shard.builder.add(key, json, bytes);
      shard.stats.events++;
      // Lambda closes a shard's tumbling window by arrival time; at a replay speed, arrival follows event time.
      const window = Math.floor((parsed.eventMs - firstMs) / windowMs);
      if (window !== shard.window) {
        flush(shard, id);
        shard.window = window;
      }
      if (foldEvent(shard.state, parsed.event, parsed.eventMs, String(position++))) flush(shard, id);
    }
  }
  shards.forEach((shard, id) => {
    closeAggregate(shard);
    flush(shard, id);
  });
  return {
    ...options,
    rows,
    rejected,
    eventTimeSeconds: (lastMs - firstMs) / 1000,
    shards: shards.map((shard) => shard.stats),
  };
}

function summarize(result: CapacityResult): string {
  const sum = (pick: (shard: ShardCapacity) => number) => result.shards.reduce((n, s) => n + pick(s), 0);
  const events = sum((s) => s.events);
  const partials = sum((s) => s.partials);
  const hot = Math.max(...result.shards.map((s) => s.events));
  return [
    `${result.rows} rows, ${result.rejected} rejected, ${(result.eventTimeSeconds / 60).toFixed(1)} min of event time`,
    `${result.eventsShards} events shards, speed ${result.speed}, tumbling window ${result.tumblingWindowSeconds} s`,
    `events on the hottest shard: ${((hot / events) * 100).toFixed(1)}%`,
    `bytes per event in KPL aggregates: ${(sum((s) => s.aggregateBytes) / events).toFixed(1)}`,
    `partials per event: ${(partials / events).toFixed(3)} (${partials} partials in ${sum((s) => s.flushes)} flushes, largest ${Math.max(...result.shards.map((s) => s.largestFlush))})`,
    `bytes per partial on the user-activity stream: ${(sum((s) => s.partialBytes) / partials).toFixed(1)}`,
  ].join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      shards: { type: 'string', default: String(DEFAULT_CONFIG.eventsShards) },
      speed: { type: 'string', default: 'max' },
      json: { type: 'boolean', default: false },
    },
  });
  const file = positionals[0];
  if (!file) {
    console.error('usage: npx tsx test/bench/capacity.ts FILE.csv [--shards N] [--speed X|max] [--json]');
    process.exit(2);
  }
  const result = await measureCapacity(file, {
    eventsShards: Number(values.shards),
    speed: values.speed === 'max' ? 'max' : Number(values.speed),
    tumblingWindowSeconds: DEFAULT_CONFIG.tumblingWindowSeconds,
    windowSeconds: DEFAULT_CONFIG.windowSeconds,
  });
  console.log(values.json ? JSON.stringify(result) : summarize(result));
}
