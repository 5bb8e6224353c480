import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { describe, expect, it } from 'vitest';
import { alertChecks, loadGroundTruth, type SentAlert, scoreAlerts } from '../../analytics/verify.ts';
import { coloursFor } from '../../cli/colours.ts';
import { renderAlertScore } from '../../cli/commands/verify.ts';
import { createSyntheticGenerator } from '../../core/synthetic.ts';

const truth = createSyntheticGenerator({ events: 30_000, seed: 1 }).truth;
const bot = (kind: string, n = 0) => truth.bots.filter((b) => b.kind === kind)[n]!.user_id;

describe('alert score', () => {
  // Two incidents of one scraper (4 emails), one slow crawler, nothing for the rest, and one incident
  // of a heavy shopper: a false alert, though the generator planned that user.
  const sent: SentAlert[] = [
    { user_id: bot('scraper'), incident_id: 'a' },
    { user_id: bot('scraper'), incident_id: 'a' },
    { user_id: bot('scraper'), incident_id: 'b' },
    { user_id: bot('scraper'), incident_id: 'b' },
    { user_id: bot('slow_crawler'), incident_id: 'c' },
    { user_id: truth.heavyShoppers[0]!.user_id, incident_id: 'd' },
  ];

  it('counts emails, incidents, bots alerted per kind and incidents of users who are not bots', () => {
    expect(scoreAlerts(sent, truth)).toEqual({
      emails: 6,
      incidents: 4,
      byKind: {
        scraper: { injected: 2, alerted: 1 },
        window_shopper: { injected: 2, alerted: 0 },
        session_hopper: { injected: 2, alerted: 0 },
        purchase_burst: { injected: 2, alerted: 0 },
        slow_crawler: { injected: 1, alerted: 1 },
        slow_card_tester: { injected: 1, alerted: 0 },
        cart_stuffer: { injected: 1, alerted: 0 },
        slow_session_cycler: { injected: 1, alerted: 0 },
      },
      falseAlerts: 1,
    });
  });

  it('counts emails and incidents alone without ground truth', () => {
    expect(scoreAlerts(sent)).toEqual({ emails: 6, incidents: 4, byKind: null, falseAlerts: null });
  });

  it('fails a check for each kind with a bot left unalerted, and one for the false alert', () => {
    const checks = alertChecks(scoreAlerts(sent, truth), sent, truth);
    expect(checks.filter((c) => !c.ok).map((c) => c.name)).toEqual([
      'injected bots alerted: scraper',
      'injected bots alerted: window_shopper',
      'injected bots alerted: session_hopper',
      'injected bots alerted: purchase_burst',
      'injected bots alerted: slow_card_tester',
      'injected bots alerted: cart_stuffer',
      'injected bots alerted: slow_session_cycler',
      'false alerts (incidents of normal users)',
    ]);
    expect(checks.at(-1)?.detail).toBe(`e.g. user ${truth.heavyShoppers[0]!.user_id}`);
  });

  it('prints a table of kinds', () => {
    const lines = renderAlertScore(
      scoreAlerts(sent, truth),
      coloursFor({ isTTY: true }, { FORCE_COLOR: '1' }),
    ).map(stripVTControlCharacters);
    expect(lines[0]).toBe('6 alert emails for 4 incidents · false alerts 1');
    expect(lines[1]).toBe('bot kind             injected  alerted');
    expect(lines[2]).toBe('scraper                     2        1');
    expect(lines.length).toBe(2 + 8);
  });
});

describe('ground-truth file', () => {
  it('reads the current format, and names the format of any other instead of failing inside the score', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'clickstream-truth-'));
    try {
      const current = join(directory, 'current.truth.json');
      await writeFile(current, JSON.stringify(truth));
      expect((await loadGroundTruth(current)).bots).toHaveLength(truth.bots.length);

      const older = join(directory, 'older.truth.json');
      await writeFile(older, JSON.stringify({ format: 'clickstream-synthetic-truth/1', bots: [] }));
      await expect(loadGroundTruth(older)).rejects.toMatchObject({
        name: 'ClickstreamError',
        message: `${older} is format clickstream-synthetic-truth/1; verify reads clickstream-synthetic-truth/2`,
      });

      const csv = join(directory, 'events.csv');
      await writeFile(csv, 'event_time,event_type\n');
      await expect(loadGroundTruth(csv)).rejects.toThrow(`${csv} is no ground-truth file`);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});
