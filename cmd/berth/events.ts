import type { Command } from 'commander';
import { eventToJSON } from '../../core/events/types.js';
import { fromTimestamp } from '../../core/protobuf/timestamp.js';
import { withClient } from './context.js';

export function registerEvents(program: Command) {
  program
    .command('events [filters...]')
    .alias('event')
    .description('print events as they happen (filters like topic=="/tasks/exit")')
    .option('--json', 'one JSON object per line')
    .action(
      withClient(async (client, filters: string[], flags: { json?: boolean }) => {
        const abort = new AbortController();
        process.once('SIGINT', () => abort.abort());
        process.once('SIGTERM', () => abort.abort());
        for await (const env of client.events.subscribe(filters, abort.signal)) {
          const ts = fromTimestamp(env.timestamp)?.toISOString() ?? '';
          const body = eventToJSON(env.event) ?? { typeUrl: env.event?.typeUrl };
          if (flags.json) {
            process.stdout.write(
              JSON.stringify({
                timestamp: ts,
                namespace: env.namespace,
                topic: env.topic,
                event: body,
              }) + '\n',
            );
          } else {
            process.stdout.write(`${ts} ${env.namespace} ${env.topic} ${JSON.stringify(body)}\n`);
          }
        }
      }),
    );
}
