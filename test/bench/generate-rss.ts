/**
 * Generator throughput and memory, not a test: runs the synthetic generator into a null sink (the
 * same Buffer conversion as the command, nothing written) and reports rows/s and peak RSS, so peak
 * RSS can be compared across --events to show memory does not grow with them.
 *
 *   /usr/bin/time -v npx tsx test/bench/generate-rss.ts --events 1000000 --seed 7 [--hash]
 *
 * --hash adds the sha256 of the bytes (costs throughput; use it to check that runs are identical).
 */
import { createHash } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createSyntheticGenerator } from '../../core/synthetic.ts';

export interface GenerateBenchResult {
  rows: number;
  ms: number;
  bytes: number;
  sha256?: string;
}

export async function benchGenerate(
  events: number,
  options: { seed?: number; bots?: number; hash?: boolean } = {},
): Promise<GenerateBenchResult> {
  // Small runs need fewer bots (12 need about 20k events at the default rate).
  const generator = createSyntheticGenerator({
    events,
    seed: options.seed ?? 1,
    ...(options.bots === undefined ? {} : { bots: options.bots }),
  });
  const hash = options.hash ? createHash('sha256') : undefined;
  const started = performance.now();
  for (const chunk of generator.chunks()) {
    const buffer = Buffer.from(chunk, 'latin1');
    hash?.update(buffer);
  }
  const ms = performance.now() - started;
  return {
    rows: generator.stats.events,
    ms: Math.round(ms),
    bytes: generator.stats.bytes,
    ...(hash ? { sha256: hash.digest('hex') } : {}),
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      events: { type: 'string', default: '1000000' },
      seed: { type: 'string', default: '1' },
      bots: { type: 'string' },
      hash: { type: 'boolean', default: false },
    },
  });
  const result = await benchGenerate(Number(values.events), {
    seed: Number(values.seed),
    hash: values.hash,
    ...(values.bots === undefined ? {} : { bots: Number(values.bots) }),
  });
  const maxRssMiB = process.resourceUsage().maxRSS / 1024;
  console.log(
    JSON.stringify({
      ...result,
      rowsPerSecond: Math.round(result.rows / (result.ms / 1000)),
      maxRssMiB: Math.round(maxRssMiB),
    }),
  );
}
