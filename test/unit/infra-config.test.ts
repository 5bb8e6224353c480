/** Context → typed config, validated at the edge; and the stream-mode switch in the template. */
import type { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { DEFAULT_INCIDENT_SETTINGS } from '../../core/incident.ts';
import { DEFAULT_ALERT_RULES } from '../../core/rules.ts';
import { ConfigError, DEFAULT_CONFIG, parseConfig } from '../../infra/config.ts';
import { unvalidatedTemplate } from '../support/infra-context.ts';

describe('parseConfig', () => {
  it('defaults: provisioned shards, 24 h, 60 s windows, no emails, default rules', () => {
    expect(parseConfig({})).toEqual(DEFAULT_CONFIG);
    expect(DEFAULT_CONFIG.alertEmail).toBeUndefined();
  });

  it('sizes the user-activity stream for the partials a --speed max replay makes (README, Capacity)', () => {
    // 2,400 partials/s per full events shard over 1,000 records/s per user-activity shard.
    expect(DEFAULT_CONFIG.eventsShards).toBe(2);
    expect(DEFAULT_CONFIG.userActivityShards).toBe(5);
    expect(parseConfig({ eventsShards: '4' }).userActivityShards).toBe(10);
    expect(parseConfig({ eventsShards: '1' }).userActivityShards).toBe(3);
    expect(parseConfig({ eventsShards: '4', userActivityShards: '2' }).userActivityShards).toBe(2);
  });

  it('reserves no Lambda concurrency unless asked: a new account cannot spare any', () => {
    expect(parseConfig({}).reserveConcurrency).toBe(false);
    expect(parseConfig({ reserveConcurrency: 'true' }).reserveConcurrency).toBe(true);
  });

  it('reads `-c key=value` strings as typed values', () => {
    const c = parseConfig({
      alertEmail: 'ops@example.com',
      streamMode: 'on-demand',
      eventsShards: '4',
      streamRetentionHours: '48',
      windowSeconds: '300',
      reserveConcurrency: 'false',
    });
    expect(c).toMatchObject({
      alertEmail: 'ops@example.com',
      streamMode: 'on-demand',
      eventsShards: 4,
      streamRetentionHours: 48,
      windowSeconds: 300,
      tumblingWindowSeconds: 300,
      reserveConcurrency: false,
    });
  });

  it('caps the default tumbling window at the AWS limit of 900 s', () => {
    expect(parseConfig({ windowSeconds: 3600 }).tumblingWindowSeconds).toBe(900);
    expect(() => parseConfig({ tumblingWindowSeconds: 901 })).toThrow(ConfigError);
  });

  it.each([
    ['eventsShards', '0'],
    ['eventsShards', 'two'],
    ['streamMode', 'serverless'],
    ['streamRetentionHours', '12'],
    ['athenaBytesScannedCutoff', '1000'],
    ['logRetentionDays', '42'],
    ['alertEmail', 'not-an-email'],
    ['reserveConcurrency', 'yes'],
  ])('rejects %s=%s', (key, value) => {
    expect(() => parseConfig({ [key]: value })).toThrow(ConfigError);
  });

  it('validates alert rules and incident settings with core/rules.ts and passes them on as JSON', () => {
    const rules = JSON.stringify(DEFAULT_ALERT_RULES.slice(0, 1));
    expect(JSON.parse(parseConfig({ alertRules: rules }).alertRulesJson!)).toEqual({
      rules: DEFAULT_ALERT_RULES.slice(0, 1),
      incidents: DEFAULT_INCIDENT_SETTINGS,
    });
    const grouped = JSON.stringify({ incidents: { quietMinutes: 90, followUpMinutes: 15 } });
    expect(JSON.parse(parseConfig({ alertRules: grouped }).alertRulesJson!)).toEqual({
      rules: DEFAULT_ALERT_RULES,
      incidents: { ...DEFAULT_INCIDENT_SETTINGS, quietMinutes: 90, followUpMinutes: 15 },
    });
    expect(() => parseConfig({ alertRules: '[{"id": 1}]' })).toThrow(ConfigError);
    expect(() => parseConfig({ alertRules: '{not json' })).toThrow(ConfigError);
    expect(() => parseConfig({ alertRules: '{"incidents":{"quietMinutes":0}}' })).toThrow(
      /\[incidents\.quietMinutes\] Too small/,
    );
    expect(() => parseConfig({ alertRules: '{"incident":{}}' })).toThrow(/unknown key\(s\) "incident"/);
  });
});

const templateFor = unvalidatedTemplate;

const reservations = (template: Template) =>
  Object.values(template.findResources('AWS::Lambda::Function'))
    .map((f) => f.Properties.ReservedConcurrentExecutions)
    .sort();

describe('reserved concurrency', () => {
  it('is absent from the default template, so the first deploy works on any account', () => {
    const template = templateFor({}, 'Defaults');
    expect(reservations(template)).toEqual([undefined, undefined]);
    // The default streams: 2 events shards and the 5 user-activity shards their partials need.
    const shards = Object.values(template.findResources('AWS::Kinesis::Stream')).map(
      (stream) => stream.Properties.ShardCount,
    );
    expect(shards.sort()).toEqual([2, 5]);
  });

  it("with -c reserveConcurrency=true, reserves one execution per shard of each consumer's stream", () => {
    const config = parseConfig({ reserveConcurrency: 'true' });
    expect(reservations(templateFor({ reserveConcurrency: 'true' }, 'Reserved'))).toEqual(
      [config.eventsShards, config.userActivityShards].sort(),
    );
  });
});

describe('on-demand streams', () => {
  it('switches both streams to ON_DEMAND, drops shard counts and reserved concurrency', () => {
    // Asked for explicitly: on-demand streams change their shard count, so nothing is reserved anyway.
    const template = templateFor(
      {
        streamMode: 'on-demand',
        reserveConcurrency: 'true',
        alertRules: JSON.stringify(DEFAULT_ALERT_RULES),
      },
      'OnDemand',
    );
    const streams = Object.values(template.findResources('AWS::Kinesis::Stream'));
    expect(streams).toHaveLength(2);
    for (const s of streams) {
      expect(s.Properties.StreamModeDetails).toEqual({ StreamMode: 'ON_DEMAND' });
      expect(s.Properties.ShardCount).toBeUndefined();
    }
    const functions = Object.values(template.findResources('AWS::Lambda::Function'));
    for (const f of functions) expect(f.Properties.ReservedConcurrentExecutions).toBeUndefined();
    const alerter = functions.find((f) => f.Properties.Environment.Variables.CLICKSTREAM_ALERT_RULES);
    expect(JSON.parse(alerter!.Properties.Environment.Variables.CLICKSTREAM_ALERT_RULES)).toEqual({
      rules: DEFAULT_ALERT_RULES,
      incidents: DEFAULT_INCIDENT_SETTINGS,
    });
    // No alarm email: alarms exist but notify nobody, and there is no alarm topic.
    expect(Object.keys(template.findResources('AWS::SNS::Topic'))).toHaveLength(1);
  });
});
