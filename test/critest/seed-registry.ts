// `node dist/test/critest/seed-registry.js LOCAL HOSTS_DIR`: pushes every
// critest stand-in image to the registry at LOCAL (`127.0.0.1:PORT`) and writes
// the hosts.toml files that point their registries at it into HOSTS_DIR.

import { pushStandIns, writeMirrorHosts } from './local-registry.js';

async function main(): Promise<void> {
  const [local, hostsDir] = process.argv.slice(2);
  if (!local || !hostsDir) throw new Error('usage: seed-registry.js 127.0.0.1:PORT HOSTS_DIR');
  await pushStandIns(local, (line) => process.stdout.write(`  ${line}\n`));
  await writeMirrorHosts(hostsDir, local);
}

main().catch((err: unknown) => {
  process.stderr.write(`seed-registry: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
