/**
 * DynamoDB (dynoxide on its SQLite file) is killed with SIGKILL while merges are flowing, and started
 * again on the same port and file. Kinesis is not restarted: kinesalite keeps streams in leveldown,
 * whose native addon is not built here, so it has no persistence to come back with.
 */
import { expect, it } from 'vitest';
import { dynoxideBinary } from '../../local/dynamodb-emulator.ts';
import { expectExactlyOnce, replayOnce, runScenario } from './scenario.ts';

it.skipIf(!dynoxideBinary())(
  'emulator-restart: a DynamoDB killed mid-replay comes back with its tables, and nothing is lost or doubled',
  async () => {
    let restartedMidReplay = false;
    await runScenario(
      {
        profile: 'emulator-restart',
        // Short arrival windows and a paced replay, so partials are merged while the replay runs.
        context: { tumblingWindowSeconds: '1' },
        replay: (context) => replayOnce(context, { speed: 40 }),
        during: async ({ stack, pipeline }, replayDone) => {
          let done = false;
          void replayDone.then(() => {
            done = true;
          });
          for (let i = 0; i < 1_200 && !done && pipeline.aggregator.stats().finalInvocations < 4; i++) {
            await new Promise((resolve) => setTimeout(resolve, 25));
          }
          if (done) return;
          await stack.chaos?.dynamoEmulator?.restart({ downMs: 300 });
          restartedMidReplay = !done;
        },
      },
      (result) => {
        expect(restartedMidReplay).toBe(true);
        expect(result.context.stack.chaos?.dynamoEmulator?.restarts).toBe(1);
        expectExactlyOnce(result);
      },
    );
  },
);
