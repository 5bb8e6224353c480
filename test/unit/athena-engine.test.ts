import {
  AthenaClient,
  type ColumnInfo,
  GetQueryExecutionCommand,
  type GetQueryExecutionCommandOutput,
  GetQueryResultsCommand,
  type Row,
  StartQueryExecutionCommand,
  StopQueryExecutionCommand,
} from '@aws-sdk/client-athena';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { athenaCostUsd, openAthenaEngine, QueryError } from '../../analytics/athena-engine.ts';

const athenaMock = mockClient(AthenaClient);
const ID = 'qe-123';

function engine() {
  return openAthenaEngine({
    athena: new AthenaClient({ region: 'us-east-1' }),
    workgroup: 'clickstream-wg',
    database: 'clickstream_db',
    outputLocation: 's3://results/athena/',
    polling: { initialMs: 1, maxMs: 4 },
  });
}

function execution(state: string, extra: Record<string, unknown> = {}): GetQueryExecutionCommandOutput {
  return {
    $metadata: {},
    QueryExecution: {
      QueryExecutionId: ID,
      StatementType: 'DML',
      Status: { State: state as 'SUCCEEDED' },
      ...extra,
    },
  };
}

const row = (...values: Array<string | undefined>): Row => ({
  Data: values.map((v) => (v === undefined ? {} : { VarCharValue: v })),
});

const COLUMNS: ColumnInfo[] = [
  { Name: 'dt', Label: 'dt', Type: 'date' },
  { Name: 'user_id', Label: 'user_id', Type: 'bigint' },
  { Name: 'category_id', Label: 'category_id', Type: 'bigint' },
  { Name: 'visitors', Label: 'visitors', Type: 'integer' },
  { Name: 'share', Label: 'share', Type: 'double' },
  { Name: 'brand', Label: 'brand', Type: 'varchar' },
  { Name: 'is_bot', Label: 'is_bot', Type: 'boolean' },
  { Name: 'first_seen', Label: 'first_seen', Type: 'timestamp(3)' },
  { Name: 'revenue', Label: 'revenue', Type: 'decimal(10,2)' },
  { Name: 'tags', Label: 'tags', Type: 'array(varchar)' },
];
const HEADER = row(...COLUMNS.map((c) => c.Name));

beforeEach(() => {
  athenaMock.reset();
  athenaMock.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: ID });
});
afterEach(() => athenaMock.reset());

describe('openAthenaEngine', () => {
  it('starts the query in the workgroup and database, polls until SUCCEEDED, and pages through all results', async () => {
    athenaMock
      .on(GetQueryExecutionCommand)
      .resolvesOnce(execution('QUEUED'))
      .resolvesOnce(execution('RUNNING'))
      .resolvesOnce(execution('RUNNING'))
      .resolves(execution('SUCCEEDED', { Statistics: { DataScannedInBytes: 123_456_789 } }));
    const page = (rows: Row[], next?: string) => ({
      ResultSet: { ResultSetMetadata: { ColumnInfo: COLUMNS }, Rows: rows },
      ...(next ? { NextToken: next } : {}),
    });
    athenaMock
      .on(GetQueryResultsCommand, { QueryExecutionId: ID })
      .resolves(
        page(
          [
            HEADER,
            row(
              '2019-10-01',
              '1',
              '2',
              '3',
              '0.5',
              'apple',
              'true',
              '2019-10-01 00:00:00.000',
              '12.50',
              '[a]',
            ),
          ],
          'p2',
        ),
      );
    athenaMock
      .on(GetQueryResultsCommand, { QueryExecutionId: ID, NextToken: 'p2' })
      .resolves(
        page(
          [
            row(
              '2019-10-02',
              '9007199254740993',
              '2053013555631882655',
              '4',
              '1.25',
              'o\'neil, "x"',
              'false',
              undefined,
              undefined,
              undefined,
            ),
          ],
          'p3',
        ),
      );
    athenaMock
      .on(GetQueryResultsCommand, { QueryExecutionId: ID, NextToken: 'p3' })
      // A data row that happens to look like a header after the first page must be kept.
      .resolves(page([row('dt', '5', '6', '7', '2', undefined, 'true', undefined, undefined, undefined)]));

    const result = await engine().query('SELECT 1');

    const start = athenaMock.commandCalls(StartQueryExecutionCommand)[0]?.args[0].input;
    expect(start).toMatchObject({
      QueryString: 'SELECT 1',
      WorkGroup: 'clickstream-wg',
      QueryExecutionContext: { Database: 'clickstream_db' },
      ResultConfiguration: { OutputLocation: 's3://results/athena/' },
    });
    expect(start?.ExecutionParameters).toBeUndefined();
    expect(athenaMock.commandCalls(GetQueryExecutionCommand)).toHaveLength(4);
    expect(athenaMock.commandCalls(GetQueryResultsCommand).map((c) => c.args[0].input.NextToken)).toEqual([
      undefined,
      'p2',
      'p3',
    ]);

    expect(result.engine).toBe('athena');
    expect(result.bytesScanned).toBe(123_456_789);
    expect(result.columns.map((c) => c.type)).toEqual([
      'date',
      'bigint',
      'bigint',
      'integer',
      'double',
      'varchar',
      'boolean',
      'timestamp',
      'double',
      'other',
    ]);
    expect(result.rows).toHaveLength(3);
    expect(result.rows[0]).toEqual({
      dt: '2019-10-01',
      user_id: 1,
      category_id: 2,
      visitors: 3,
      share: 0.5,
      brand: 'apple',
      is_bot: true,
      first_seen: '2019-10-01 00:00:00.000',
      revenue: 12.5,
      tags: '[a]',
    });
    // Ids above 2^53 stay exact strings; a missing VarCharValue is NULL.
    expect(result.rows[1]).toMatchObject({
      user_id: '9007199254740993',
      category_id: '2053013555631882655',
      is_bot: false,
      first_seen: null,
      brand: 'o\'neil, "x"',
    });
    expect(result.rows[2]).toMatchObject({ dt: 'dt', visitors: 7, brand: null });
  });

  it('keeps the first row of SHOW/DESCRIBE results, which have no header', async () => {
    athenaMock
      .on(GetQueryExecutionCommand)
      .resolves({ QueryExecution: { StatementType: 'UTILITY', Status: { State: 'SUCCEEDED' } } });
    athenaMock.on(GetQueryResultsCommand).resolves({
      ResultSet: {
        ResultSetMetadata: { ColumnInfo: [{ Name: 'tab_name', Type: 'string' }] },
        Rows: [row('events'), row('user_activity')],
      },
    });
    const result = await engine().query('SHOW TABLES');
    expect(result.rows).toEqual([{ tab_name: 'events' }, { tab_name: 'user_activity' }]);
  });

  it('sends parameters as Athena ExecutionParameters, strings quoted as SQL literals', async () => {
    athenaMock.on(GetQueryExecutionCommand).resolves(execution('SUCCEEDED'));
    athenaMock
      .on(GetQueryResultsCommand)
      .resolves({ ResultSet: { ResultSetMetadata: { ColumnInfo: [] }, Rows: [] } });
    await engine().query('SELECT * FROM user_activity WHERE user_id = ? AND note = ?', {
      parameters: [512_475_445, "it's"],
    });
    expect(athenaMock.commandCalls(StartQueryExecutionCommand)[0]?.args[0].input.ExecutionParameters).toEqual(
      ['512475445', "'it''s'"],
    );
  });

  it('raises a QueryError carrying the StateChangeReason when the query FAILED', async () => {
    athenaMock
      .on(GetQueryExecutionCommand)
      .resolvesOnce(execution('RUNNING'))
      .resolves(
        execution('FAILED', {
          Status: {
            State: 'FAILED',
            StateChangeReason:
              "TABLE_NOT_FOUND: line 1:15: Table 'awsdatacatalog.clickstream_db.nope' does not exist",
            AthenaError: { ErrorCategory: 2 },
          },
        }),
      );
    const error = await engine()
      .query('SELECT * FROM nope')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QueryError);
    expect((error as QueryError).reason).toBe('failed');
    expect((error as QueryError).queryExecutionId).toBe(ID);
    expect((error as QueryError).message).toContain(
      "TABLE_NOT_FOUND: line 1:15: Table 'awsdatacatalog.clickstream_db.nope' does not exist",
    );
    expect((error as QueryError).hint).toMatch(/SQL/);
    expect(athenaMock.commandCalls(GetQueryResultsCommand)).toHaveLength(0);
  });

  it('raises a cancelled QueryError when someone else cancelled the query', async () => {
    athenaMock.on(GetQueryExecutionCommand).resolves(
      execution('CANCELLED', {
        Status: { State: 'CANCELLED', StateChangeReason: 'Query cancelled by user' },
      }),
    );
    const error = await engine()
      .query('SELECT 1')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QueryError);
    expect((error as QueryError).reason).toBe('cancelled');
    expect((error as QueryError).message).toContain('Query cancelled by user');
  });

  it('stops the query in Athena when the signal aborts while it runs (Ctrl-C)', async () => {
    const controller = new AbortController();
    let polls = 0;
    athenaMock.on(GetQueryExecutionCommand).callsFake(() => {
      polls++;
      if (polls === 3) controller.abort();
      return execution('RUNNING');
    });
    athenaMock.on(StopQueryExecutionCommand).resolves({});

    const error = await engine()
      .query('SELECT 1', { signal: controller.signal })
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(QueryError);
    expect((error as QueryError).reason).toBe('cancelled');
    expect(athenaMock.commandCalls(StopQueryExecutionCommand).map((c) => c.args[0].input)).toEqual([
      { QueryExecutionId: ID },
    ]);
    expect(polls).toBe(3);
    expect(athenaMock.commandCalls(GetQueryResultsCommand)).toHaveLength(0);
  });

  it('aborts a long backoff sleep at once instead of waiting it out', async () => {
    const controller = new AbortController();
    athenaMock.on(GetQueryExecutionCommand).callsFake(() => {
      setTimeout(() => controller.abort(), 5);
      return execution('RUNNING');
    });
    athenaMock.on(StopQueryExecutionCommand).resolves({});
    const slow = openAthenaEngine({
      athena: new AthenaClient({ region: 'us-east-1' }),
      workgroup: 'wg',
      database: 'db',
      polling: { initialMs: 60_000, maxMs: 60_000 },
    });
    const error = await slow.query('SELECT 1', { signal: controller.signal }).catch((e: unknown) => e);
    expect((error as QueryError).reason).toBe('cancelled');
    expect(athenaMock.commandCalls(StopQueryExecutionCommand)).toHaveLength(1);
  });

  it('does not start a query when the signal is already aborted', async () => {
    const error = await engine()
      .query('SELECT 1', { signal: AbortSignal.abort() })
      .catch((e: unknown) => e);
    expect((error as QueryError).reason).toBe('cancelled');
    expect(athenaMock.commandCalls(StartQueryExecutionCommand)).toHaveLength(0);
  });
});

describe('athenaCostUsd', () => {
  it('bills USD 5 per TB scanned with a 10 MB minimum, rounded up to the MB', () => {
    const MB = 1024 ** 2;
    const TB = 1024 ** 4;
    expect(athenaCostUsd(0)).toBeCloseTo((10 * MB * 5) / TB, 12);
    expect(athenaCostUsd(1)).toBe(athenaCostUsd(10 * MB));
    expect(athenaCostUsd(10 * MB + 1)).toBeCloseTo((11 * MB * 5) / TB, 12);
    expect(athenaCostUsd(TB)).toBeCloseTo(5, 9);
    expect(athenaCostUsd(2.5 * TB)).toBeCloseTo(12.5, 9);
  });
});
