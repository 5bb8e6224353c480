/**
 * Totals over a horizon of several minutes, built exactly from a user's merged per-window totals.
 *
 * A horizon of H minutes, evaluated at one of the user's windows E, covers the user's windows whose
 * start lies in (E.start - H min, E.start]: with 60 s windows, E and the H - 1 windows before it. Counts
 * and revenue are sums; distinct sessions and products are the size of the union of the windows' id
 * sets (one session spanning ten windows is one session, not ten). A horizon is evaluated only at
 * windows in which the user was active, as the `bot_suspects` query does (it joins each window with the
 * windows before it); a horizon ending in a quiet minute holds a subset of the one ending at the last
 * active minute before it.
 *
 * Pure code: no AWS SDK, no process.env.
 */
import type { UserWindowTotal } from './aggregate.ts';
import { toIsoSeconds } from './event.ts';
import { type MergedWindow, toUserWindowTotal } from './window.ts';

/** One merged (user, window) with the id sets the distinct counts of a horizon are unions of. */
export interface WindowActivity {
  total: UserWindowTotal;
  sessions: ReadonlySet<string>;
  products: ReadonlySet<string>;
}

/** The merged activity of one horizon; `window_start` is the evaluated window's start. */
export interface HorizonTotal extends UserWindowTotal {
  horizon_minutes: number;
  /** Start of the earliest window the horizon covers (not necessarily an active one). */
  horizon_start: string;
  /** Active windows inside the horizon. */
  windows: number;
}

const MINUTE_MS = 60_000;

/** The first window start a horizon evaluated at `windowStartMs` covers. */
export function horizonStartMs(windowStartMs: number, horizonMinutes: number, windowSeconds: number): number {
  // Windows start on multiples of their length, so the first start after E - H is this one.
  const span = Math.max(horizonMinutes * MINUTE_MS, windowSeconds * 1000);
  return windowStartMs - span + windowSeconds * 1000;
}

/** Sums `windows[from..to]` (inclusive, one user, ascending by start) into a horizon total. */
export function sumWindows(
  windows: readonly WindowActivity[],
  from: number,
  to: number,
  horizonMinutes: number,
): HorizonTotal {
  const end = windows[to]!.total;
  const sessions = new Set<string>();
  const products = new Set<string>();
  const sum: HorizonTotal = {
    user_id: end.user_id,
    window_start: end.window_start,
    window_seconds: end.window_seconds,
    view_count: 0,
    cart_count: 0,
    remove_from_cart_count: 0,
    purchase_count: 0,
    total_count: 0,
    distinct_sessions: 0,
    distinct_products: 0,
    revenue: 0,
    first_event_time: end.first_event_time,
    last_event_time: end.last_event_time,
    contributions: 0,
    horizon_minutes: horizonMinutes,
    horizon_start: toIsoSeconds(
      horizonStartMs(Date.parse(end.window_start), horizonMinutes, end.window_seconds),
    ),
    windows: to - from + 1,
  };
  let cents = 0;
  for (let i = from; i <= to; i++) {
    const window = windows[i]!;
    const total = window.total;
    sum.view_count += total.view_count;
    sum.cart_count += total.cart_count;
    sum.remove_from_cart_count += total.remove_from_cart_count;
    sum.purchase_count += total.purchase_count;
    sum.total_count += total.total_count;
    sum.contributions += total.contributions;
    // Cents, so the sum does not depend on the order of float additions.
    cents += Math.round(total.revenue * 100);
    if (total.first_event_time < sum.first_event_time) sum.first_event_time = total.first_event_time;
    if (total.last_event_time > sum.last_event_time) sum.last_event_time = total.last_event_time;
    for (const id of window.sessions) sessions.add(id);
    for (const id of window.products) products.add(id);
  }
  sum.revenue = cents / 100;
  sum.distinct_sessions = sessions.size;
  sum.distinct_products = products.size;
  return sum;
}

/**
 * The horizon total at each of `windows[at]` for one horizon. `windows` are one user's, ascending by
 * start, without duplicates.
 */
export function horizonTotalsAt(
  windows: readonly WindowActivity[],
  indexes: Iterable<number>,
  horizonMinutes: number,
): Map<number, HorizonTotal> {
  const totals = new Map<number, HorizonTotal>();
  for (const at of indexes) {
    const end = windows[at]!.total;
    const first = toIsoSeconds(
      horizonStartMs(Date.parse(end.window_start), horizonMinutes, end.window_seconds),
    );
    let from = at;
    while (from > 0 && windows[from - 1]!.total.window_start >= first) from--;
    totals.set(at, sumWindows(windows, from, at, horizonMinutes));
  }
  return totals;
}

/**
 * Which of a user's windows hold a horizon that a change to the windows starting at `changed` alters:
 * window E is affected when some changed window W has W ≤ E < W + H.
 */
export function affectedIndexes(
  windows: readonly WindowActivity[],
  changed: ReadonlySet<string>,
  horizonMinutes: number,
): number[] {
  const affected: number[] = [];
  const changedMs = [...changed].map((start) => Date.parse(start)).sort((a, b) => a - b);
  for (const [index, window] of windows.entries()) {
    const total = window.total;
    const startMs = Date.parse(total.window_start);
    const firstMs = horizonStartMs(startMs, horizonMinutes, total.window_seconds);
    if (changedMs.some((ms) => ms >= firstMs && ms <= startMs)) affected.push(index);
  }
  return affected;
}

/** Merged windows (with their id sets, as core/window.ts merges them) grouped per user, ascending by start. */
export function activityByUser(merged: Iterable<MergedWindow>): Map<string, WindowActivity[]> {
  const byUser = new Map<string, WindowActivity[]>();
  for (const window of merged) {
    const total = toUserWindowTotal(window);
    const activity: WindowActivity = { total, sessions: window.sessions, products: window.products };
    const list = byUser.get(total.user_id);
    if (list) list.push(activity);
    else byUser.set(total.user_id, [activity]);
  }
  for (const list of byUser.values())
    list.sort((a, b) => (a.total.window_start < b.total.window_start ? -1 : 1));
  return byUser;
}
