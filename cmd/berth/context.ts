import type { Command } from 'commander';
import { Client } from '../../client/client.js';

export interface GlobalFlags {
  address: string;
  namespace: string;
  timeout?: string;
}

/** Builds the client from the global flags of the root command. */
export function clientFrom(cmd: Command): Client {
  let root = cmd;
  while (root.parent) root = root.parent;
  const g = root.opts<GlobalFlags>();
  return new Client({
    address: g.address,
    namespace: g.namespace,
    timeoutMs: g.timeout ? Number(g.timeout) * 1000 : undefined,
  });
}

/** Runs an action with a client, closing it afterwards. */
export function withClient<A extends unknown[]>(
  fn: (client: Client, ...args: A) => Promise<void>,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    const cmd = args[args.length - 1] as Command;
    const client = clientFrom(cmd);
    try {
      await fn(client, ...args);
    } finally {
      client.close();
    }
  };
}
