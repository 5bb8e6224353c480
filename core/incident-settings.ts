/**
 * How bot incidents are grouped in time (core/incident.ts applies them): the defaults and the schema of
 * the `incidents` object of a rules file.
 *
 * Pure code: no AWS SDK, no process.env.
 */
import { z } from 'zod';

export interface IncidentSettings {
  /** Event-time minutes without a broken rule after which an incident closes. */
  quietMinutes: number;
  /** Event-time minutes at least between two emails of an incident that report a change. */
  followUpMinutes: number;
  /**
   * Wall-clock seconds with no new breach for the incident before the watermark may close it: a shard
   * of the events stream that lags behind the others can still deliver partials of earlier windows.
   */
  closeGraceSeconds: number;
}

export const DEFAULT_INCIDENT_SETTINGS: IncidentSettings = {
  // Half an hour without a broken rule: longer than any bot here pauses between bursts, and a
  // 60-minute rule keeps breaking for up to an hour after its bot stops anyway.
  quietMinutes: 30,
  followUpMinutes: 30,
  // Three local tumbling windows (30 s) plus batching, or well over two in AWS (60 s).
  closeGraceSeconds: 180,
};

/** The `incidents` object of a rules file; absent fields take the defaults. */
export const incidentSettingsSchema = z
  .object({
    quietMinutes: z.number().int().min(1).max(1440).optional(),
    followUpMinutes: z.number().int().min(1).max(1440).optional(),
    closeGraceSeconds: z.number().int().min(0).max(3600).optional(),
  })
  .strict()
  .transform((given) => ({ ...DEFAULT_INCIDENT_SETTINGS, ...given }) as IncidentSettings);
