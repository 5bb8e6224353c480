/**
 * The worker side of local/consumer-thread.ts: starts one consumer (runner and handler) in this thread
 * and answers the pipeline's few requests (idle, drain, end of stream, stop). The IAM guard and the
 * chaos hooks are made here from plain data, since functions do not cross a thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { type Logger, silentLogger } from '../consumers/logger.ts';
import { pipelineChaos } from './chaos.ts';
import { type LocalConsumer, startLocalConsumer } from './consumer.ts';
import {
  type ConsumerSnapshot,
  type ConsumerWorkerData,
  type FromWorker,
  STATS_EVERY_MS,
  serializeError,
  type ToWorker,
} from './consumer-thread.ts';
import { createLocalIam } from './iam/guard.ts';
import { localIamModel } from './template.ts';

const port = parentPort;
if (!port) throw new Error('local/consumer-worker.ts runs as a worker thread (local/consumer-thread.ts)');
const data = workerData as ConsumerWorkerData;
const send = (message: FromWorker) => port.postMessage(message);

const logger: Logger = data.logs ? forwardingLogger() : silentLogger;
const iam = data.iam
  ? createLocalIam(localIamModel(data.iam.template, data.iam.names), {
      onDenied: (functionLogicalId, decision) => send({ type: 'denied', functionLogicalId, decision }),
    })
  : undefined;
const chaos = data.chaos ? pipelineChaos(data.chaos) : undefined;
const hooks = chaos?.hooks[data.spec.kind];

let consumer: LocalConsumer;
try {
  consumer = await startLocalConsumer(data.spec, {
    logger,
    ...(iam ? { iam } : {}),
    ...(hooks ? { hooks } : {}),
  });
} catch (error) {
  send({ type: 'failed', error: serializeError(error) });
  port.close();
  throw error;
}

const snapshot = (): ConsumerSnapshot => ({
  stats: consumer.runner.stats(),
  dynamodbCalls: consumer.dynamodbCalls(),
  ...(chaos?.faults ? { faults: { thrown: chaos.faults.thrown, timedOut: chaos.faults.timedOut } } : {}),
  ...(iam ? { iam: { checked: iam.tally.checked } } : {}),
});
send({
  type: 'ready',
  settings: consumer.runner.settings,
  ...(consumer.windowSeconds ? { windowSeconds: consumer.windowSeconds } : {}),
  snapshot: snapshot(),
});

// Sent while it changes, so the pipeline's synchronous stats() follow the run.
let lastSent = '';
const ticker = setInterval(() => {
  const current = snapshot();
  const text = JSON.stringify(current);
  if (text === lastSent) return;
  lastSent = text;
  send({ type: 'snapshot', snapshot: current });
}, STATS_EVERY_MS);

port.on('message', async ({ id, operation }: ToWorker) => {
  let error: ReturnType<typeof serializeError> | undefined;
  try {
    if (operation === 'idle') await consumer.runner.idle();
    else if (operation === 'drain') await consumer.runner.drain();
    else if (operation === 'endOfStream') await consumer.endOfStream();
    else {
      clearInterval(ticker);
      await consumer.stop();
    }
  } catch (caught) {
    error = serializeError(caught);
  }
  send({ type: 'reply', id, ...(error ? { error } : {}), snapshot: snapshot() });
});

/** Log lines go to the pipeline's logger in the thread that started this one. */
function forwardingLogger(): Logger {
  const at =
    (level: keyof Logger) =>
    (message: string, ...fields: Record<string, unknown>[]) => {
      let cloneable = fields;
      try {
        structuredClone(fields);
      } catch {
        // A field that cannot cross a thread (a function, a socket) crosses as its JSON.
        cloneable = fields.map((field) => JSON.parse(JSON.stringify(field)));
      }
      send({ type: 'log', level, message, fields: cloneable });
    };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
