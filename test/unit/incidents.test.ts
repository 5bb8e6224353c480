import { describe, expect, it } from 'vitest';
import type { UserWindowTotal } from '../../core/aggregate.ts';
import { buildIncidentMessage, subjectTime, toSnsSubject } from '../../core/alert-message.ts';
import { type HorizonTotal, sumWindows } from '../../core/horizon.ts';
import {
  addWindow,
  applyMatches,
  closeDue,
  closeIncident,
  countWindows,
  DEFAULT_INCIDENT_SETTINGS,
  type Incident,
  incidentSpan,
} from '../../core/incident.ts';
import { type AlertRule, DEFAULT_ALERT_RULES, type HorizonMatch } from '../../core/rules.ts';

const USER = '512345678';
const settings = {
  ...DEFAULT_INCIDENT_SETTINGS,
  quietMinutes: 30,
  followUpMinutes: 30,
  closeGraceSeconds: 60,
};
const rule = (id: string) => DEFAULT_ALERT_RULES.find((r) => r.id === id) as AlertRule;
const minute = (m: number) => `${new Date(Date.UTC(2019, 9, 1, 10, m)).toISOString().slice(0, 19)}Z`;

function total(m: number, overrides: Partial<UserWindowTotal> = {}): HorizonTotal {
  const window: UserWindowTotal = {
    user_id: USER,
    window_start: minute(m),
    window_seconds: 60,
    view_count: 40,
    cart_count: 0,
    remove_from_cart_count: 0,
    purchase_count: 0,
    total_count: 40,
    distinct_sessions: 1,
    distinct_products: 40,
    revenue: 0,
    first_event_time: minute(m),
    last_event_time: minute(m),
    contributions: 2,
    ...overrides,
  };
  return sumWindows([{ total: window, sessions: new Set(['s']), products: new Set() }], 0, 0, 1);
}

function breach(id: string, m: number, value = 100): HorizonMatch {
  return { rule: rule(id), value, total: total(m) };
}

function run(matches: HorizonMatch[], current?: Incident) {
  return applyMatches(current, matches, settings);
}

describe('incidents', () => {
  it('open at the first broken rule, with every rule broken in that window, under one id', () => {
    const { incident, steps } = run([breach('views-without-cart', 0), breach('events-per-window', 0)]);
    expect(steps.map((s) => s.step)).toEqual(['open']);
    expect(incident).toMatchObject({
      id: '512345678-20191001T1000Z',
      status: 'open',
      severity: 'high',
      mailed: { rules: ['views-without-cart', 'events-per-window'], severity: 'high', followUps: 0 },
    });
  });

  it('change nothing when the same breaches come again (a retried batch)', () => {
    const first = run([breach('views-without-cart', 0), breach('views-without-cart', 1)]);
    const again = run([breach('views-without-cart', 1), breach('views-without-cart', 0)], first.incident);
    expect(again.steps).toEqual([]);
    expect(again.incident).toEqual(first.incident);
    expect(countWindows(first.incident!.breachRuns, 60)).toBe(2);
  });

  it('follow up on another rule only once the interval has passed since the last email, then not again', () => {
    const opened = run([breach('views-without-cart', 0)]).incident;
    // A new rule 10 minutes in: not yet (it waits); at minute 30 the next breach carries it.
    const early = run([breach('views-without-cart-hour', 10, 700)], opened);
    expect(early.steps).toEqual([]);
    const later = run([breach('views-without-cart-hour', 30, 900)], early.incident);
    expect(later.steps.map((s) => s.step)).toEqual(['follow-up-1']);
    const step = later.steps[0]!;
    expect(step.step !== 'open' && step.step !== 'close' && step.newRules).toEqual([
      'views-without-cart-hour',
    ]);
    // Same rules, an hour later: nothing new to tell.
    expect(run([breach('views-without-cart-hour', 90, 950)], later.incident).steps).toEqual([]);
  });

  it('follow up when the severity rises, at most once per interval', () => {
    const opened = run([breach('sessions-per-window', 0)]).incident; // medium
    const rise = run([breach('purchase-burst', 31)], opened); // high
    expect(rise.steps.map((s) => s.step)).toEqual(['follow-up-1']);
    expect(rise.incident?.severity).toBe('high');
    const again = run([breach('purchases-10-min', 40)], rise.incident); // another rule, 9 min later
    expect(again.steps).toEqual([]);
    expect(run([breach('purchases-10-min', 61)], again.incident).steps.map((s) => s.step)).toEqual([
      'follow-up-2',
    ]);
  });

  it('close once the watermark is the quiet time past the last breach and the grace has passed, or at the end', () => {
    const { incident } = run([breach('views-without-cart', 0), breach('views-without-cart', 5)]);
    const quietFrom = Date.parse(minute(6)) + 30 * 60_000;
    const changedAt = 1_000_000;
    expect(closeDue(incident!, quietFrom - 1, changedAt, changedAt + 60_000, settings, false)).toBe(false);
    expect(closeDue(incident!, quietFrom, changedAt, changedAt + 59_999, settings, false)).toBe(false);
    expect(closeDue(incident!, quietFrom, changedAt, changedAt + 60_000, settings, false)).toBe(true);
    expect(closeDue(incident!, 0, changedAt, changedAt, settings, true)).toBe(true);
    const closed = closeIncident(incident!, 'quiet', minute(36));
    expect(closeDue(closed, Number.POSITIVE_INFINITY, 0, changedAt, settings, true)).toBe(false);
  });

  it('after closing: a late breach inside the span opens nothing, one after the quiet time opens a new incident', () => {
    const { incident } = run([breach('views-without-cart', 0), breach('views-without-cart', 5)]);
    const closed = closeIncident(incident!, 'quiet', minute(40));
    const late = run([breach('views-without-cart', 20), breach('views-without-cart-hour', 2)], closed);
    expect(late).toMatchObject({ steps: [], late: 2 });
    expect(late.incident).toEqual(closed);
    const next = run([breach('views-without-cart', 37)], closed);
    expect(next.steps.map((s) => s.step)).toEqual(['open']);
    expect(next.incident?.id).toBe('512345678-20191001T1037Z');
  });

  it('keep broken windows as runs: exact counts, small state', () => {
    let runs = addWindow([], minute(0), 60);
    for (const m of [1, 2, 5, 3, 4, 9, 2]) runs = addWindow(runs, minute(m), 60);
    expect(runs).toEqual([
      [minute(0), minute(5)],
      [minute(9), minute(9)],
    ]);
    expect(countWindows(runs, 60)).toBe(7);
  });
});

describe('incident emails', () => {
  const context = { glueDatabase: 'clickdb', athenaWorkgroup: 'wg' };
  const opening = run([breach('events-per-window', 1, 480), breach('views-without-cart', 1, 480)]);

  it('open: a short ASCII subject naming the user, the figure and the horizon; attributes for filter policies', () => {
    const message = buildIncidentMessage(
      { incident: opening.incident!, step: opening.steps[0]!, settings },
      context,
    );
    expect(message.subject).toBe('Bot incident opened: user 512345678 - 480 events in 1 min (high)');
    expect(message.attributes).toEqual({
      incident_id: '512345678-20191001T1001Z',
      step: 'open',
      rule: 'events-per-window',
      severity: 'high',
      user_id: USER,
    });
    expect(message.body).toContain('Incident: 512345678-20191001T1001Z (open)');
    expect(message.body).toContain('Window:   2019-10-01T10:01:00Z to 2019-10-01T10:02:00Z (event time)');
    expect(message.body).toContain('events-per-window (high): More events in one minute');
    expect(message.body).toContain('total_count = 480 over 1 min');
    expect(message.body).toContain('threshold 60 (fires above it)');
    expect(message.body).toContain('at most one per 30 min of event time');
    expect(message.body).toContain('clickstream query user_activity_for_user --param user_id=512345678');
  });

  it('close: duration, windows, rules with peaks, totals by type and the Athena query over the span', () => {
    const grown = run([breach('views-without-cart-hour', 40, 900)], opening.incident).incident!;
    const closed = closeIncident(grown, 'quiet', minute(90));
    const message = buildIncidentMessage(
      {
        incident: closed,
        step: { step: 'close', reason: 'quiet' },
        settings,
        totals: total(1, { view_count: 1300, total_count: 1310, cart_count: 10 }),
      },
      context,
    );
    expect(message.subject).toBe('Bot incident closed: user 512345678 - 40 min, 3 rules, 2 windows');
    expect(message.attributes).toMatchObject({ step: 'close', severity: 'high', rule: 'events-per-window' });
    expect(message.body).toContain('broke no rule for 30 min of event time');
    expect(message.body).toContain('Duration: 2019-10-01T10:01:00Z to 2019-10-01T10:41:00Z (40 min');
    expect(message.body).toContain('Windows:  2 windows broke a rule');
    expect(message.body).toContain('views-without-cart-hour (medium)');
    expect(message.body).toContain('peak 900 at 2019-10-01T10:40:00Z, threshold 600');
    expect(message.body).toContain('  view              1300');
    expect(incidentSpan(closed)).toEqual({ from: '2019-10-01T09:02:00Z', to: minute(40) });
    expect(message.body).toContain(
      "AND window_start BETWEEN TIMESTAMP '2019-10-01 09:02:00' AND TIMESTAMP '2019-10-01 10:40:00'",
    );
    // Distinct event ids over the partials: a re-sent event counts once in Athena as in the email.
    expect(message.body).toContain('cardinality(array_distinct(flatten(array_agg(view_ids)))) AS views');
  });

  it('keeps subjects within the SNS limit (< 100 chars, no control or non-ASCII characters)', () => {
    const subject = toSnsSubject(`Bot incident opened: user ${'9'.repeat(200)} — ok\n`);
    expect(subject.length).toBe(99);
    expect(subject).toMatch(/^[\x20-\x7e]+$/);
    expect(subjectTime('2019-10-01T00:00:30Z')).toBe('2019-10-01 00:00:30 UTC');
  });
});
