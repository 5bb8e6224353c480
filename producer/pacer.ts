/**
 * `--speed X`: replays the original gaps between events divided by X, measured from the first event
 * (so a late start or a slow stretch does not shift the rest). `max` sends as fast as the stream takes.
 */
export type Speed = number | 'max';

export class Pacer {
  private originEventMs: number | undefined;
  private originWallMs = 0;

  constructor(
    readonly speed: Speed,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (speed !== 'max' && !(speed > 0 && Number.isFinite(speed)))
      throw new RangeError(`speed must be > 0, got ${speed}`);
  }

  /** Milliseconds to wait before the event at `eventMs` is due; 0 when it is due (or speed is max). */
  delayFor(eventMs: number): number {
    if (this.speed === 'max') return 0;
    if (this.originEventMs === undefined) {
      this.originEventMs = eventMs;
      this.originWallMs = this.now();
      return 0;
    }
    const due = this.originWallMs + (eventMs - this.originEventMs) / this.speed;
    return Math.max(0, due - this.now());
  }
}

export function parseSpeed(text: string | number | undefined): Speed {
  if (text === undefined || text === 'max') return 'max';
  const value = typeof text === 'number' ? text : Number(text);
  if (!(value > 0 && Number.isFinite(value)))
    throw new RangeError(`--speed must be a positive number or "max", got ${text}`);
  return value;
}
