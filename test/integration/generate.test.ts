import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CreateBucketCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../adapters/clients.ts';
import { coloursFor } from '../../cli/colours.ts';
import { type AwsTarget, ClickstreamError, type CommandContext } from '../../cli/command.ts';
import { CSV_HEADER_LINE, type EventType, parseRow, toIsoSeconds } from '../../core/event.ts';
import { DEFAULT_RESOURCE_NAMES } from '../../core/resources.ts';
import {
  BOT_KINDS,
  type BotTruth,
  createSyntheticGenerator,
  NORMAL_USER_BOUNDS,
  type SyntheticTruth,
} from '../../core/synthetic.ts';
import { freePort } from '../../local/stack.ts';
import { generate } from '../../producer/generate.ts';
import { BIN } from '../support/cli-support.ts';

const REAL_SAMPLE = resolve(__dirname, '../../../shared/data/kaggle-2019-oct-nov-heads.csv');

interface Row {
  ms: number;
  type: EventType;
  userId: string;
  session: string;
  fields: string[];
}

function testContext(target?: AwsTarget): CommandContext & { targetCalls: number } {
  const context = {
    targetCalls: 0,
    json: true,
    interactive: false,
    info: () => undefined,
    warn: () => undefined,
    debug: () => undefined,
    progress: () => ({ update: () => undefined, setTotal: () => undefined, stop: () => undefined }),
    signal: new AbortController().signal,
    colours: coloursFor({ isTTY: false }),
    target: async () => {
      context.targetCalls++;
      if (!target) throw new Error('generate to a file must not resolve an AWS target');
      return target;
    },
  };
  return context;
}

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function parseCsv(text: string): { header: string; rows: Row[]; rejects: number } {
  const lines = text.split('\n');
  expect(lines.pop()).toBe('');
  const [header = '', ...body] = lines;
  let rejects = 0;
  const rows: Row[] = [];
  for (const line of body) {
    const fields = line.split(',');
    const parsed = parseRow(fields, Buffer.byteLength(line));
    if (!parsed.ok) {
      rejects++;
      continue;
    }
    rows.push({
      ms: parsed.eventMs,
      type: parsed.event.event_type,
      userId: parsed.event.user_id,
      session: parsed.event.user_session ?? '',
      fields,
    });
  }
  return { header, rows, rejects };
}

/** The most of a metric one user reaches in any sliding 60 s window [t, t + 60 s). */
function maxPerSlidingMinute(rows: Row[], metric: (window: Row[]) => number): number {
  let max = 0;
  let start = 0;
  for (let end = 0; end < rows.length; end++) {
    while (rows[end]!.ms - rows[start]!.ms >= 60_000) start++;
    max = Math.max(max, metric(rows.slice(start, end + 1)));
  }
  return max;
}

function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = groups.get(k);
    if (group) group.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}

const EVENTS = 50_000;
let dir: string;
let csvText: string;
let truth: SyntheticTruth;
let parsed: ReturnType<typeof parseCsv>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'clickstream-generate-'));
  const context = testContext();
  const summary = await generate({ events: String(EVENTS), seed: '11', out: join(dir, 'a.csv') }, context);
  expect(context.targetCalls).toBe(0);
  expect(summary.events).toBe(EVENTS);
  csvText = await readFile(join(dir, 'a.csv'), 'latin1');
  truth = JSON.parse(await readFile(join(dir, 'a.csv.truth.json'), 'utf8')) as SyntheticTruth;
  parsed = parseCsv(csvText);
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('generate to a file', () => {
  it('gives the same bytes for the same seed and different bytes for another seed', async () => {
    const again = await generate({ events: EVENTS, seed: 11, out: join(dir, 'b.csv') }, testContext());
    const other = await generate({ events: EVENTS, seed: 12, out: join(dir, 'c.csv') }, testContext());
    expect(sha256(await readFile(join(dir, 'b.csv')))).toBe(sha256(Buffer.from(csvText, 'latin1')));
    expect(sha256(await readFile(join(dir, 'c.csv')))).not.toBe(sha256(Buffer.from(csvText, 'latin1')));
    expect(again.bytes).toBe(Buffer.byteLength(csvText));
    expect(other.events).toBe(EVENTS);
  });

  it('writes the exact Kaggle header and rows that all pass the event parser', () => {
    expect(parsed.header).toBe(CSV_HEADER_LINE);
    expect(parsed.header).toBe(
      'event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session',
    );
    expect(parsed.rejects).toBe(0);
    expect(parsed.rows.length).toBe(EVENTS);
    expect(csvText).not.toContain('"');
  });

  it.skipIf(!existsSync(REAL_SAMPLE))(
    'uses the same header and field formats as the real Kaggle file',
    () => {
      const [realHeader = '', realRow = ''] = readFileSync(REAL_SAMPLE, 'utf8').split('\n', 2);
      expect(parsed.header).toBe(realHeader.trim());
      const real = realRow.trim().split(',');
      const generated = parsed.rows[0]!.fields;
      const formats = [
        /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/,
        /^\d{19}$/,
        /^\d{9}$/,
        /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
      ];
      for (const [index, format] of [0, 3, 7, 8].map((column, i) => [column, formats[i]!] as const)) {
        expect(real[index], `real column ${index}`).toMatch(format);
        expect(generated[index], `generated column ${index}`).toMatch(format);
      }
      expect(parsed.rows.every((row) => /^\d+\.\d\d$/.test(row.fields[6]!))).toBe(true);
    },
  );

  it('keeps event_time in non-decreasing order, with times like 2019-10-01 00:00:00 UTC', () => {
    let previous = Number.NEGATIVE_INFINITY;
    let decreasing = 0;
    for (const row of parsed.rows) {
      if (row.ms < previous) decreasing++;
      previous = row.ms;
    }
    expect(decreasing).toBe(0);
    expect(parsed.rows[0]!.fields[0]).toBe('2019-10-01 00:00:00 UTC');
  });

  it('has a view → cart → purchase funnel in realistic shares, and the summary counts match the rows', async () => {
    const counts = { view: 0, cart: 0, remove_from_cart: 0, purchase: 0 };
    for (const row of parsed.rows) counts[row.type]++;
    const share = (n: number) => n / parsed.rows.length;
    expect(share(counts.view)).toBeGreaterThanOrEqual(0.9);
    expect(share(counts.view)).toBeLessThanOrEqual(0.97);
    expect(share(counts.cart)).toBeGreaterThanOrEqual(0.02);
    expect(share(counts.cart)).toBeLessThanOrEqual(0.06);
    expect(share(counts.purchase)).toBeGreaterThanOrEqual(0.01);
    expect(share(counts.purchase)).toBeLessThanOrEqual(0.02);
    expect(counts.remove_from_cart).toBeGreaterThan(0);
    expect(share(counts.remove_from_cart)).toBeLessThan(counts.cart / parsed.rows.length);

    const summary = await generate({ events: EVENTS, seed: 11, out: join(dir, 'd.csv') }, testContext());
    expect(summary.byType).toEqual(counts);
    expect(summary.firstEventTime).toBe(toIsoSeconds(parsed.rows[0]!.ms));
    expect(summary.lastEventTime).toBe(toIsoSeconds(parsed.rows.at(-1)!.ms));
    expect(summary.bots).toEqual({
      total: 12,
      byKind: {
        scraper: 2,
        window_shopper: 2,
        session_hopper: 2,
        purchase_burst: 2,
        slow_crawler: 1,
        slow_card_tester: 1,
        cart_stuffer: 1,
        slow_session_cycler: 1,
      },
    });
    expect(summary.heavyShoppers).toBe(4);
  });

  it('has empty category_code and brand in the real shares, and 19-digit category ids above 2^53', () => {
    const rows = parsed.rows;
    const noCode = rows.filter((row) => row.fields[4] === '').length / rows.length;
    const noBrand = rows.filter((row) => row.fields[5] === '').length / rows.length;
    const smartphone = rows.filter((row) => row.fields[4] === 'electronics.smartphone').length / rows.length;
    expect(noCode).toBeGreaterThanOrEqual(0.28);
    expect(noCode).toBeLessThanOrEqual(0.38);
    expect(noBrand).toBeGreaterThanOrEqual(0.1);
    expect(noBrand).toBeLessThanOrEqual(0.18);
    expect(smartphone).toBeGreaterThanOrEqual(0.2);
    expect(smartphone).toBeLessThanOrEqual(0.3);
    const badIds = rows.filter(
      (row) => !/^\d{19}$/.test(row.fields[3]!) || BigInt(row.fields[3]!) <= 2n ** 53n,
    );
    expect(badIds.length).toBe(0);
  });

  it('keeps each product at one price, brand and category', () => {
    const byProduct = new Map<string, string>();
    let conflicts = 0;
    for (const row of parsed.rows) {
      const attributes = row.fields.slice(3, 7).join(',');
      const seen = byProduct.get(row.fields[2]!);
      if (seen !== undefined && seen !== attributes) conflicts++;
      byProduct.set(row.fields[2]!, attributes);
    }
    expect(conflicts).toBe(0);
    expect(byProduct.size).toBeGreaterThan(1000);
  });

  it('injects every bot in the truth file, each above its kind level over every horizon inside its span', () => {
    expect(truth.bots.length).toBe(12);
    const byUser = groupBy(parsed.rows, (row) => row.userId);
    const levels = new Map(BOT_KINDS.map((kind) => [kind.kind, kind]));
    for (const bot of truth.bots) {
      const rows = byUser.get(bot.user_id) ?? [];
      expect(rows.length, bot.kind).toBe(bot.events);
      const inWindows = (ms: number) =>
        bot.windows.some((w) => ms >= Date.parse(w.start) && ms < Date.parse(w.end));
      expect(rows.filter((row) => !inWindows(row.ms)).length, bot.kind).toBe(0);
      const kind = levels.get(bot.kind)!;
      const horizonMs = kind.horizonMinutes * 60_000;
      for (const window of bot.windows) {
        const last = Date.parse(window.end) - horizonMs;
        expect(last, `${bot.kind} spans a horizon`).toBeGreaterThanOrEqual(Date.parse(window.start));
        for (let from = Date.parse(window.start); from <= last; from += 60_000) {
          const inHorizon = rows.filter((row) => row.ms >= from && row.ms < from + horizonMs);
          expect(
            metricValue(kind.signal, inHorizon),
            `${bot.kind} ${bot.user_id} from ${new Date(from).toISOString()}`,
          ).toBeGreaterThanOrEqual(kind.level);
        }
      }
      if (kind.neverBuys)
        expect(rows.filter((row) => row.type === 'cart' || row.type === 'purchase').length).toBe(0);
      expect(new Set(rows.map((row) => row.session)).size).toBe(bot.sessions);
    }
  });

  it('spans the days asked for, with quiet nights, busy evenings and busier weekends', () => {
    const first = parsed.rows[0]!.ms;
    const last = parsed.rows.at(-1)!.ms;
    const days = (last - first) / 86_400_000;
    expect(days).toBeGreaterThan(6.5);
    expect(days).toBeLessThan(7.5);
    const bots = new Set([...truth.bots, ...truth.heavyShoppers].map((actor) => actor.user_id));
    const normal = parsed.rows.filter((row) => !bots.has(row.userId) && row.ms < first + 7 * 86_400_000);
    const byHour = new Array<number>(24).fill(0);
    const byWeekday = new Array<number>(7).fill(0);
    for (const row of normal) {
      const date = new Date(row.ms);
      byHour[date.getUTCHours()]!++;
      byWeekday[(date.getUTCDay() + 6) % 7]!++;
    }
    // Measured with seed 11: 02-04 UTC hold 0.15 of 16-18 UTC; Saturday and Sunday 1.32× Tuesday and
    // Wednesday.
    const night = byHour[2]! + byHour[3]!;
    const evening = byHour[16]! + byHour[17]!;
    expect(night * 4).toBeLessThan(evening);
    const weekday = (byWeekday[1]! + byWeekday[2]!) / 2;
    const weekend = (byWeekday[5]! + byWeekday[6]!) / 2;
    expect(weekend).toBeGreaterThan(weekday * 1.1);
  });

  it('adds heavy human shoppers: over an hour of steady browsing, carts and a few purchases', () => {
    expect(truth.heavyShoppers.length).toBe(4);
    const byUser = groupBy(parsed.rows, (row) => row.userId);
    for (const shopper of truth.heavyShoppers) {
      const rows = byUser.get(shopper.user_id) ?? [];
      expect(rows.length).toBe(shopper.events);
      expect(rows.length).toBeGreaterThan(300);
      expect(shopper.byType.cart).toBeGreaterThan(0);
      expect(shopper.byType.purchase).toBeLessThanOrEqual(3);
      expect(shopper.sessions).toBe(1);
    }
  });

  it('keeps bot activity inside the generated span, and bot ids apart from each other', () => {
    const first = parsed.rows[0]!.ms;
    const last = parsed.rows.at(-1)!.ms;
    const actors = [...truth.bots, ...truth.heavyShoppers];
    for (const actor of actors) {
      expect(Date.parse(actor.windows[0]!.start)).toBeGreaterThanOrEqual(first);
      expect(Date.parse(actor.windows.at(-1)!.end)).toBeLessThanOrEqual(last + 60_000);
    }
    expect(new Set(actors.map((actor) => actor.user_id)).size).toBe(actors.length);
  });

  it('keeps every normal user within the exported bounds in every 60 s window', () => {
    const bots = new Set(truth.bots.map((bot: BotTruth) => bot.user_id));
    const normal = groupBy(
      parsed.rows.filter((row) => !bots.has(row.userId)),
      (row) => row.userId,
    );
    expect(normal.size).toBeGreaterThan(500);
    let events = 0;
    let views = 0;
    let sessions = 0;
    let purchases = 0;
    for (const rows of normal.values()) {
      events = Math.max(
        events,
        maxPerSlidingMinute(rows, (w) => w.length),
      );
      views = Math.max(
        views,
        maxPerSlidingMinute(rows, (w) => w.filter((row) => row.type === 'view').length),
      );
      sessions = Math.max(
        sessions,
        maxPerSlidingMinute(rows, (w) => new Set(w.map((row) => row.session)).size),
      );
      purchases = Math.max(
        purchases,
        maxPerSlidingMinute(rows, (w) => w.filter((row) => row.type === 'purchase').length),
      );
    }
    expect(events).toBeLessThanOrEqual(NORMAL_USER_BOUNDS.maxEvents);
    expect(views).toBeLessThanOrEqual(NORMAL_USER_BOUNDS.maxViews);
    expect(sessions).toBeLessThanOrEqual(NORMAL_USER_BOUNDS.maxSessions);
    expect(purchases).toBeLessThanOrEqual(NORMAL_USER_BOUNDS.maxPurchases);
    // Every one-minute bot kind's level is above what any normal user reaches in a minute.
    const normalMax: Partial<Record<string, number>> = {
      total_count: events,
      views_without_cart_or_purchase: views,
      distinct_sessions: sessions,
      purchase_count: purchases,
    };
    for (const kind of BOT_KINDS.filter((k) => k.horizonMinutes === 1))
      expect(kind.level, kind.kind).toBeGreaterThan(normalMax[kind.signal]!);
  });

  it('rejects options it cannot honour with a clear error and writes nothing', async () => {
    const tooFew = generate({ events: '5000', out: join(dir, 'small.csv') }, testContext());
    await expect(tooFew).rejects.toBeInstanceOf(ClickstreamError);
    await expect(tooFew).rejects.toThrow(/too few for 12 bots/);
    await expect(generate({ events: 'many', out: join(dir, 'x.csv') }, testContext())).rejects.toThrow(
      '--events must be a number, got "many"',
    );
    await expect(generate({ events: '1.5', out: join(dir, 'x.csv') }, testContext())).rejects.toThrow(
      /whole number/,
    );
    await expect(generate({ start: 'yesterday', out: join(dir, 'x.csv') }, testContext())).rejects.toThrow(
      /ISO-8601/,
    );
    await expect(generate({}, testContext())).rejects.toThrow('--out is required');
    expect(existsSync(join(dir, 'small.csv'))).toBe(false);
    expect(existsSync(join(dir, 'x.csv'))).toBe(false);
  });

  it('generates small runs without bots, exactly as many events as asked', async () => {
    const summary = await generate(
      { events: '1000', bots: '0', users: '30', out: join(dir, 'tiny.csv') },
      testContext(),
    );
    const tiny = parseCsv(await readFile(join(dir, 'tiny.csv'), 'latin1'));
    expect(tiny.rows.length).toBe(1000);
    expect(tiny.rejects).toBe(0);
    expect(summary.events).toBe(1000);
    expect(summary.bots.total).toBe(0);
    expect(new Set(tiny.rows.map((row) => row.userId)).size).toBeLessThanOrEqual(30);
  });

  it('on Ctrl-C prints the partial run and exits 130, as a shell reports a command SIGINT ended', async () => {
    const out = join(dir, 'interrupted.csv');
    const child = spawn(
      process.execPath,
      [BIN, 'generate', '--events', '50000000', '--out', out, '--json', '--progress', 'none'],
      { env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const exited = once(child, 'exit');
    const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    try {
      // Writing: the header and some rows are out.
      while (!existsSync(out) || statSync(out).size < 1_000_000) {
        if (child.exitCode !== null) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      child.kill('SIGINT');
      const [code] = await exited;
      expect(stderr).toContain('stopping…');
      expect(code).toBe(130);
      const summary = JSON.parse(stdout) as { interrupted: boolean; events: number };
      expect(summary.interrupted).toBe(true);
      expect(parseCsv(await readFile(out, 'latin1')).rows.length).toBe(summary.events);
    } finally {
      clearTimeout(killer);
    }
  }, 90_000);

  it('stops between chunks on abort and reports a partial run of whole rows', async () => {
    const abort = new AbortController();
    const context = { ...testContext(), signal: abort.signal };
    abort.abort();
    const summary = await generate({ events: EVENTS, out: join(dir, 'aborted.csv') }, context);
    expect(summary.interrupted).toBe(true);
    expect(summary.events).toBeLessThan(EVENTS);
    const partial = parseCsv(await readFile(join(dir, 'aborted.csv'), 'latin1'));
    expect(partial.rejects).toBe(0);
    expect(partial.rows.length).toBe(summary.events);
  });
});

describe('the core generator', () => {
  it('streams in chunks of about the asked size', () => {
    const generator = createSyntheticGenerator({ events: 20_000, bots: 0 });
    const sizes = [...generator.chunks(64 * 1024)].map((chunk) => chunk.length);
    expect(sizes.length).toBeGreaterThan(10);
    expect(sizes.slice(0, -1).every((size) => size >= 64 * 1024 && size < 64 * 1024 + 400)).toBe(true);
    expect(generator.stats.events).toBe(20_000);
  });
});

describe('generate to S3', () => {
  let server: S3rver | undefined;
  let s3Dir: string;
  let target: AwsTarget;

  beforeAll(async () => {
    s3Dir = await mkdtemp(join(tmpdir(), 'clickstream-generate-s3-'));
    const port = await freePort();
    server = new S3rver({ address: '127.0.0.1', port, directory: s3Dir, silent: true, vhostBuckets: false });
    await server.run();
    const endpoint = `http://127.0.0.1:${port}`;
    target = {
      mode: 'local',
      endpoints: {
        s3: endpoint,
        kinesis: 'http://127.0.0.1:1',
        dynamodb: 'http://127.0.0.1:1',
        sns: 'http://127.0.0.1:1',
      },
      names: DEFAULT_RESOURCE_NAMES,
    };
    const s3 = createS3Client({ endpoint });
    await s3.send(new CreateBucketCommand({ Bucket: 'raw' }));
    s3.destroy();
  });

  afterAll(async () => {
    await server?.close();
    if (s3Dir) await rm(s3Dir, { recursive: true, force: true });
  });

  it('streams the same bytes into S3 as to a file, in several parts, with the truth next to it', async () => {
    // Over the 16 MiB part size, so the upload goes multipart.
    const events = 150_000;
    const context = testContext(target);
    const summary = await generate({ events, seed: 5, out: 's3://raw/synthetic/2019-Oct.csv' }, context);
    expect(context.targetCalls).toBe(1);
    const local = await generate({ events, seed: 5, out: join(dir, 's3-twin.csv') }, testContext());
    const s3 = createS3Client({ endpoint: target.endpoints!.s3 });
    try {
      const object = await s3.send(new GetObjectCommand({ Bucket: 'raw', Key: 'synthetic/2019-Oct.csv' }));
      const bytes = Buffer.from(await object.Body!.transformToByteArray());
      const fileBytes = await readFile(join(dir, 's3-twin.csv'));
      expect(bytes.length).toBe(fileBytes.length);
      expect(bytes.length).toBeGreaterThan(16 * 1024 * 1024);
      expect(sha256(bytes)).toBe(sha256(fileBytes));
      expect(summary.bytes).toBe(local.bytes);
      const truthObject = await s3.send(
        new GetObjectCommand({ Bucket: 'raw', Key: 'synthetic/2019-Oct.csv.truth.json' }),
      );
      const s3Truth = JSON.parse(await truthObject.Body!.transformToString()) as SyntheticTruth;
      expect(s3Truth.bots.map((bot) => bot.user_id)).toEqual(
        (JSON.parse(await readFile(join(dir, 's3-twin.csv.truth.json'), 'utf8')) as SyntheticTruth).bots.map(
          (bot) => bot.user_id,
        ),
      );
    } finally {
      s3.destroy();
    }
  });
});

/** An alert metric (core/rules.ts) over some rows, counted straight from them. */
function metricValue(signal: (typeof BOT_KINDS)[number]['signal'], rows: Row[]): number {
  const count = (type: EventType) => rows.filter((row) => row.type === type).length;
  switch (signal) {
    case 'total_count':
      return rows.length;
    case 'views_without_cart_or_purchase':
      return count('cart') + count('purchase') === 0 ? count('view') : 0;
    case 'carts_without_purchase':
      return count('purchase') === 0 ? count('cart') : 0;
    case 'distinct_sessions':
      return new Set(rows.map((row) => row.session)).size;
    case 'purchase_count':
      return count('purchase');
  }
}
