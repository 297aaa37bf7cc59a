// berthd's directories are private whatever state they are found in: a root,
// state or plugin directory that exists with a looser mode (made by hand, or
// by an older install) is tightened at start-up, and the daemon says so.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startDaemon, type TestDaemon } from './helpers/daemon.js';

const isRoot = process.getuid?.() === 0;
const modeOf = (p: string) => fs.statSync(p).mode & 0o7777;

describe.skipIf(!isRoot)('daemon directories', () => {
  let d: TestDaemon | undefined;
  afterAll(async () => {
    await d?.dispose();
  });

  it('tightens existing root, state and plugin directories', async () => {
    d = await startDaemon();
    const pluginDir = path.join(d.state, 'io.berth.runtime.v2.task');
    expect(fs.existsSync(pluginDir)).toBe(true);
    await d.stop();
    for (const dir of [d.root, d.state, pluginDir]) fs.chmodSync(dir, 0o755);
    const logged = d.logs().length;
    await d.restart();
    expect(modeOf(d.root)).toBe(0o711);
    expect(modeOf(d.state)).toBe(0o711);
    expect(modeOf(pluginDir)).toBe(0o700);
    expect(d.logs().slice(logged)).toMatch(/too open; tightened/);
  });
});
