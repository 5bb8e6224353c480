import {
  AthenaClient,
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  StartQueryExecutionCommand,
} from '@aws-sdk/client-athena';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import type { QueryResult } from '../../analytics/engine.ts';
import { formatBytes, formatResult, renderCsv, renderJson, renderTable } from '../../analytics/format.ts';
import { query } from '../../analytics/query.ts';
import { coloursFor } from '../../cli/colours.ts';
import { type AwsTarget, ClickstreamError, type CommandContext } from '../../cli/command.ts';
import { queryCommand } from '../../cli/commands/query.ts';
import { DEFAULT_RESOURCE_NAMES } from '../../core/resources.ts';

const ESC = '\u001b[';

const result: QueryResult = {
  engine: 'local',
  durationMs: 3,
  columns: [
    { name: 'brand', type: 'varchar' },
    { name: 'category_id', type: 'bigint' },
    { name: 'views', type: 'bigint' },
    { name: 'conversion', type: 'double' },
    { name: 'is_bot', type: 'boolean' },
  ],
  rows: [
    {
      brand: 'samsung',
      category_id: '2053013555631882655',
      views: 1200,
      conversion: 0.0412345678,
      is_bot: false,
    },
    { brand: 'say "hi", world', category_id: 7, views: 3, conversion: 1, is_bot: true },
    { brand: 'two\nlines', category_id: 8, views: 0, conversion: null, is_bot: null },
    { brand: null, category_id: 9, views: 10, conversion: 0.5, is_bot: false },
  ],
};

describe('renderCsv', () => {
  it('writes a header and quotes fields with commas, quotes and newlines (RFC 4180), NULL as empty', () => {
    expect(renderCsv(result).split('\n')).toEqual([
      'brand,category_id,views,conversion,is_bot',
      'samsung,2053013555631882655,1200,0.0412345678,false',
      '"say ""hi"", world",7,3,1,true',
      '"two',
      'lines",8,0,,',
      ',9,10,0.5,false',
    ]);
  });
});

describe('renderJson', () => {
  it('is an array of row objects keyed by column, with big ids as exact strings and NULL as null', () => {
    const parsed = JSON.parse(renderJson(result));
    expect(parsed).toHaveLength(4);
    expect(parsed[0]).toEqual({
      brand: 'samsung',
      category_id: '2053013555631882655',
      views: 1200,
      conversion: 0.0412345678,
      is_bot: false,
    });
    expect(parsed[3]).toEqual({ brand: null, category_id: 9, views: 10, conversion: 0.5, is_bot: false });
  });
});

describe('renderTable', () => {
  it('shows every column and value, rounds long decimals, says NULL and counts rows, without ANSI codes by default', () => {
    const text = renderTable(result);
    expect(text).not.toContain(ESC);
    const lines = text.split('\n');
    expect(lines.find((l) => l.includes('brand'))).toMatch(/brand.*category_id.*views.*conversion.*is_bot/);
    expect(text).toContain('2053013555631882655');
    expect(text).toContain('0.0412');
    expect(text).not.toContain('0.0412345678');
    expect(text).toContain('NULL');
    expect(lines.at(-1)).toBe('4 rows');
    // Numbers are right-aligned so magnitudes line up.
    const viewsCells = lines.filter((l) => /samsung|say "hi"/.test(l)).map((l) => l.split('│')[3]);
    expect(viewsCells).toHaveLength(2);
    expect(viewsCells[0]).toMatch(/^ +1200 $/);
    expect(viewsCells[1]).toMatch(/^ +3 $/);
    expect(viewsCells[0]?.length).toBe(viewsCells[1]?.length);
  });

  it('cuts long results at maxRows and says how many were left out', () => {
    const text = renderTable(result, { maxRows: 2 });
    expect(text).toContain('samsung');
    expect(text).not.toContain('two');
    expect(text).toContain('2 more rows');
  });

  it('colours the header only when asked', () => {
    expect(renderTable(result, { color: true })).toContain(ESC);
  });
});

describe('formatResult', () => {
  it('dispatches on the format name', () => {
    expect(formatResult(result, 'csv')).toBe(renderCsv(result));
    expect(formatResult(result, 'json')).toBe(renderJson(result));
    expect(formatResult(result, 'table')).toBe(renderTable(result));
  });
});

describe('formatBytes', () => {
  it('uses binary units', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.50 KB');
    expect(formatBytes(10 * 1024 ** 2)).toBe('10.0 MB');
    expect(formatBytes(3 * 1024 ** 4)).toBe('3.00 TB');
  });
});

// ---------------------------------------------------------------------------------------------------
// The command, against a mocked Athena: names, parameters, engine choice and the summary people script on.

const athenaMock = mockClient(AthenaClient);

function fakeContext(target: AwsTarget) {
  const lines: string[] = [];
  const context: CommandContext = {
    json: false,
    interactive: false,
    colours: coloursFor({ isTTY: false }),
    signal: new AbortController().signal,
    info: (m) => lines.push(m),
    warn: (m) => lines.push(`warning: ${m}`),
    debug: () => undefined,
    progress: () => ({ update: () => undefined, setTotal: () => undefined, stop: () => undefined }),
    target: async () => target,
  };
  return { context, lines };
}

const AWS: AwsTarget = {
  mode: 'aws',
  region: 'eu-west-1',
  names: { ...DEFAULT_RESOURCE_NAMES, athenaWorkgroup: 'wg-prod', glueDatabase: 'db_prod' },
};
const LOCAL: AwsTarget = {
  mode: 'local',
  names: DEFAULT_RESOURCE_NAMES,
  endpoints: {
    kinesis: 'http://127.0.0.1:1',
    dynamodb: 'http://127.0.0.1:1',
    s3: 'http://127.0.0.1:1',
    sns: 'http://127.0.0.1:1',
  },
};

function mockAthenaSelect() {
  athenaMock.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'q1' });
  athenaMock.on(GetQueryExecutionCommand).resolves({
    QueryExecution: {
      StatementType: 'DML',
      Status: { State: 'SUCCEEDED' },
      Statistics: { DataScannedInBytes: 3 * 1024 ** 3 },
    },
  });
  athenaMock.on(GetQueryResultsCommand).resolves({
    ResultSet: {
      ResultSetMetadata: {
        ColumnInfo: [
          { Name: 'dt', Type: 'date' },
          { Name: 'visitors', Type: 'bigint' },
        ],
      },
      Rows: [
        { Data: [{ VarCharValue: 'dt' }, { VarCharValue: 'visitors' }] },
        { Data: [{ VarCharValue: '2019-10-01' }, { VarCharValue: '42' }] },
      ],
    },
  });
}

describe('clickstream query', () => {
  beforeEach(() => athenaMock.reset());

  it('--list names every query with its description and parameters', async () => {
    const summary = await query({ args: [], list: true }, fakeContext(AWS).context);
    if (!('queries' in summary)) throw new Error('expected a list');
    const names = summary.queries.map((q) => q.name);
    expect(names).toEqual(
      expect.arrayContaining(['unique_visitors_per_day', 'bot_suspects', 'user_activity_for_user']),
    );
    expect(
      summary.queries.find((q) => q.name === 'user_activity_for_user')?.parameters.map((p) => p.name),
    ).toEqual(['user_id']);
    expect(summary.queries.every((q) => q.description.length > 0)).toBe(true);
  });

  it('rejects an unknown name with a hint that lists the names, before touching AWS', async () => {
    const error = await query({ args: ['visitors'] }, fakeContext(AWS).context).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClickstreamError);
    expect((error as ClickstreamError).hint).toContain('unique_visitors_per_day');
    expect(athenaMock.calls()).toHaveLength(0);
  });

  it('rejects a missing or unknown parameter with the usage', async () => {
    const missing = await query({ args: ['user_activity_for_user'] }, fakeContext(AWS).context).catch(
      (e: unknown) => e,
    );
    expect((missing as ClickstreamError).message).toContain('--param user_id=');
    const unknown = await query(
      { args: ['user_activity_for_user'], param: ['user_id=1', 'userid=2'] },
      fakeContext(AWS).context,
    ).catch((e: unknown) => e);
    expect((unknown as ClickstreamError).message).toContain('userid');
    expect((unknown as ClickstreamError).hint).toContain('user_id');
    const bad = await query(
      { args: ['user_activity_for_user'], param: ['user_id'] },
      fakeContext(AWS).context,
    ).catch((e: unknown) => e);
    expect((bad as ClickstreamError).message).toContain('bad --param');
  });

  it('runs on Athena in the target workgroup by default in AWS mode and reports rows, bytes and cost', async () => {
    mockAthenaSelect();
    const { context, lines } = fakeContext(AWS);
    const summary = await query({ args: ['unique_visitors_per_day'], format: 'json' }, context);
    if ('queries' in summary) throw new Error('expected a query summary');
    const start = athenaMock.commandCalls(StartQueryExecutionCommand)[0]?.args[0].input;
    expect(start?.WorkGroup).toBe('wg-prod');
    expect(start?.QueryExecutionContext?.Database).toBe('db_prod');
    expect(summary).toMatchObject({
      query: 'unique_visitors_per_day',
      engine: 'athena',
      rowCount: 1,
      rows: [{ dt: '2019-10-01', visitors: 42 }],
      columns: [
        { name: 'dt', type: 'date' },
        { name: 'visitors', type: 'bigint' },
      ],
      bytesScanned: 3 * 1024 ** 3,
    });
    expect(summary.costUsd).toBeCloseTo((3 / 1024) * 5, 9);
    expect(lines.join('\n')).toMatch(/3\.00 GB scanned · ≈ \$0\.015/);
    expect(queryCommand.render?.(summary, coloursFor({ isTTY: false }))).toBe(renderJson(summary));
  });

  it('runs ad-hoc --sql as given', async () => {
    mockAthenaSelect();
    const summary = await query(
      { args: [], sql: 'SELECT dt, visitors FROM x', format: 'csv' },
      fakeContext(AWS).context,
    );
    expect(athenaMock.commandCalls(StartQueryExecutionCommand)[0]?.args[0].input.QueryString).toBe(
      'SELECT dt, visitors FROM x',
    );
    expect(queryCommand.render?.(summary, coloursFor({ isTTY: false }))).toBe('dt,visitors\n2019-10-01,42');
  });

  it('refuses Athena against the local stack, and bad --engine/--format values', async () => {
    const athena = await query(
      { args: ['bot_suspects'], engine: 'athena' },
      fakeContext(LOCAL).context,
    ).catch((e: unknown) => e);
    expect((athena as ClickstreamError).hint).toContain('--engine local');
    const engine = await query({ args: ['bot_suspects'], engine: 'presto' }, fakeContext(AWS).context).catch(
      (e: unknown) => e,
    );
    expect((engine as ClickstreamError).message).toContain('--engine must be one of athena, local');
    const format = await query({ args: ['bot_suspects'], format: 'xml' }, fakeContext(AWS).context).catch(
      (e: unknown) => e,
    );
    expect((format as ClickstreamError).message).toContain('--format must be one of table, csv, json');
  });
});
