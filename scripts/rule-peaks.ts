/**
 * The highest value each alert metric reaches over each horizon in a Kaggle-shaped CSV, and which
 * user reaches it: where the default thresholds in core/rules.ts come from. Users listed in a
 * generator ground-truth file (--truth) are left out, so the figures are those of normal traffic.
 *
 *   npx tsx scripts/rule-peaks.ts FILE.csv [--truth FILE.truth.json] [--top N]
 */
import { createReadStream, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type ClickEvent, parseRow } from '../core/event.ts';
import { activityByUser } from '../core/horizon.ts';
import { ALERT_METRICS, allHorizonTotals, metricValue } from '../core/rules.ts';
import type { SyntheticTruth } from '../core/synthetic.ts';
import { aggregateEvents } from '../core/window.ts';
import { readRowChunks } from '../producer/rows.ts';

const HORIZONS = [1, 10, 60];

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { truth: { type: 'string' }, top: { type: 'string', default: '1' } },
});
const file = positionals[0];
if (!file) {
  console.error('usage: npx tsx scripts/rule-peaks.ts FILE.csv [--truth FILE.truth.json] [--top N]');
  process.exit(2);
}
const bots = new Set<string>(
  values.truth
    ? (JSON.parse(readFileSync(values.truth, 'utf8')) as SyntheticTruth).bots.map((bot) => bot.user_id)
    : [],
);
const events: ClickEvent[] = [];
for await (const chunk of readRowChunks(createReadStream(file))) {
  for (const [i, row] of chunk.rows.entries()) {
    if (chunk.rejected?.has(i)) continue;
    const parsed = parseRow(row);
    if (parsed.ok && !bots.has(parsed.event.user_id)) events.push(parsed.event);
  }
}
const users = activityByUser(aggregateEvents(events).values());
const top = Number(values.top);
console.log(`${file}: ${events.length} events of ${users.size} users (${bots.size} bots left out)`);
for (const horizon of HORIZONS) {
  for (const metric of ALERT_METRICS) {
    const best: Array<{ value: number; user: string; at: string }> = [];
    for (const [user, windows] of users) {
      let peak = { value: 0, user, at: '' };
      for (const total of allHorizonTotals(windows, horizon)) {
        const value = metricValue(metric, total);
        if (value > peak.value) peak = { value, user, at: total.window_start };
      }
      best.push(peak);
    }
    best.sort((a, b) => b.value - a.value);
    const shown = best
      .slice(0, top)
      .map((p) => `${p.value} (user ${p.user} at ${p.at})`)
      .join(', ');
    console.log(`  ${String(horizon).padStart(2)} min  ${metric.padEnd(31)} ${shown}`);
  }
}
