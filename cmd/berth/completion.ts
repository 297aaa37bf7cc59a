// `berth completion bash|zsh` prints a completion script; the hidden
// `berth __complete WORDS…` answers it. Names of containers, images and the
// like come from the daemon, asked with a short deadline; without a daemon
// only verbs and flags complete.

import { Argument, type Command } from 'commander';
import { Client } from '../../client/client.js';
import { type GlobalFlags } from './context.js';
import { type Kind, type LineOptions, completeWords } from './complete-words.js';
import { COMPLETION_SCRIPTS, type Shell } from './completion-scripts.js';

/** A shell waits for the answer: a daemon that is slower than this offers nothing. */
const COMPLETION_TIMEOUT_MS = 3_000;

async function listNames(client: Client, kind: Kind, snapshotter?: string): Promise<string[]> {
  switch (kind) {
    case 'containers':
      return (await client.containers.list()).map((c) => c.id);
    case 'tasks':
      return (await client.tasks.list()).map((t) => t.id);
    case 'images':
      return (await client.images.list()).map((i) => i.name);
    case 'namespaces':
      return (await client.namespaces.list()).map((n) => n.name);
    case 'snapshots':
      return (await client.snapshots(snapshotter).list()).map((s) => s.name);
    case 'leases':
      return (await client.leases.list()).map((l) => l.id);
    case 'content':
      return (await client.content.list()).map((c) => c.digest);
  }
}

/** The daemon's names of a kind, or none when it cannot be asked. */
async function daemonNames(global: GlobalFlags, line: LineOptions, kind: Kind): Promise<string[]> {
  const client = new Client({
    address: line.address ?? global.address,
    namespace: line.namespace ?? global.namespace,
    timeoutMs: COMPLETION_TIMEOUT_MS,
  });
  try {
    return (await listNames(client, kind, line.snapshotter)).sort();
  } catch {
    return [];
  } finally {
    client.close();
  }
}

export function registerCompletion(program: Command) {
  program
    .command('completion')
    .description('print a shell completion script (source <(berth completion bash))')
    .addArgument(new Argument('<shell>', 'the shell').choices(Object.keys(COMPLETION_SCRIPTS)))
    .action((shell: Shell) => {
      process.stdout.write(COMPLETION_SCRIPTS[shell]);
    });

  // Every word after the verb is the command line being completed, flags included.
  program
    .command('__complete [words...]', { hidden: true })
    .helpOption(false)
    .allowUnknownOption()
    .passThroughOptions()
    .action(async (words: string[]) => {
      const c = completeWords(program, words.length > 0 ? words : ['']);
      const found =
        'kind' in c
          ? (await daemonNames(program.opts<GlobalFlags>(), c.line, c.kind))
              .filter((n) => n.startsWith(c.current))
              .map((n) => c.prefix + n)
          : c.words;
      if (found.length > 0) process.stdout.write(found.join('\n') + '\n');
    });
}
