import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ClickstreamError } from '../../cli/command.ts';
import { nameEnvVar, resolveSettings, targetFromSettings } from '../../cli/config.ts';
import { DEFAULT_RESOURCE_NAMES } from '../../core/resources.ts';
import { tempDirs } from '../support/cli-support.ts';

const tempDir = tempDirs('clickstream-config-');

function dirWithConfig(config?: object): string {
  const dir = tempDir();
  if (config) writeFileSync(join(dir, 'clickstream.config.json'), JSON.stringify(config));
  return dir;
}

describe('config precedence: flags > env > config file > defaults', () => {
  it('uses defaults with nothing set', () => {
    const settings = resolveSettings({}, {}, dirWithConfig());
    expect(settings.mode).toBe('aws');
    expect(settings.region).toBeUndefined();
    expect(settings.names).toEqual(DEFAULT_RESOURCE_NAMES);
  });

  it('config file overrides defaults', () => {
    const dir = dirWithConfig({ mode: 'local', region: 'eu-west-1', names: { eventsStream: 'from-file' } });
    const settings = resolveSettings({}, {}, dir);
    expect(settings).toMatchObject({ mode: 'local', region: 'eu-west-1' });
    expect(settings.names.eventsStream).toBe('from-file');
    expect(settings.names.rawBucket).toBe(DEFAULT_RESOURCE_NAMES.rawBucket);
  });

  it('env overrides the config file, and CLICKSTREAM_REGION wins over AWS_REGION', () => {
    const dir = dirWithConfig({ mode: 'local', region: 'eu-west-1', names: { eventsStream: 'from-file' } });
    const settings = resolveSettings(
      {},
      {
        CLICKSTREAM_MODE: 'aws',
        CLICKSTREAM_REGION: 'us-west-2',
        AWS_REGION: 'ap-south-1',
        CLICKSTREAM_EVENTS_STREAM: 'from-env',
      },
      dir,
    );
    expect(settings).toMatchObject({ mode: 'aws', region: 'us-west-2' });
    expect(settings.names.eventsStream).toBe('from-env');
  });

  it('flags override env', () => {
    const settings = resolveSettings(
      { local: true, region: 'sa-east-1' },
      { CLICKSTREAM_MODE: 'aws', AWS_REGION: 'ap-south-1' },
      dirWithConfig(),
    );
    expect(settings).toMatchObject({ mode: 'local', region: 'sa-east-1' });
  });

  it('maps every resource name to a CLICKSTREAM_* variable', () => {
    expect(nameEnvVar('eventsStream')).toBe('CLICKSTREAM_EVENTS_STREAM');
    expect(nameEnvVar('athenaResultsBucket')).toBe('CLICKSTREAM_ATHENA_RESULTS_BUCKET');
  });
});

describe('validation at the edge', () => {
  it('rejects unknown config keys with the allowed ones in the hint', () => {
    const dir = dirWithConfig({ mode: 'local', stream: 'oops' });
    expect(() => resolveSettings({}, {}, dir)).toThrow(ClickstreamError);
    try {
      resolveSettings({}, {}, dir);
    } catch (error) {
      expect((error as ClickstreamError).hint).toContain('allowed keys');
    }
  });

  it('rejects a bad mode in env', () => {
    expect(() => resolveSettings({}, { CLICKSTREAM_MODE: 'cloud' }, dirWithConfig())).toThrow(
      /CLICKSTREAM_MODE/,
    );
  });

  it('fails clearly when --config names a missing file', () => {
    expect(() => resolveSettings({ config: 'nope.json' }, {}, dirWithConfig())).toThrow(
      /config file not found/,
    );
  });

  it('local mode without a running stack says how to start one', () => {
    const settings = resolveSettings({ local: true }, {}, dirWithConfig());
    expect(() => targetFromSettings(settings)).toThrow(/no local stack is running/);
  });
});
