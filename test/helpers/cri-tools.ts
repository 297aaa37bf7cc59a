// Stock crictl and critest (cri-tools) for tests, from the cache
// scripts/go-tools.sh fills: ${BERTH_TOOLS_CACHE:-$HOME/.cache/berth/tools}/cri-tools-current/.
// A missing cache is filled by running that script. In CI (CI=true) the tools
// must be there; elsewhere tests may skip, saying why, only when Go is absent.

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from './daemon.js';

export interface CriTools {
  crictl: string;
  critest: string;
}

export function criToolsDir(): string {
  const cache = process.env.BERTH_TOOLS_CACHE || path.join(os.homedir(), '.cache/berth/tools');
  return path.join(cache, 'cri-tools-current');
}

function goAvailable(): boolean {
  try {
    execFileSync('go', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * The tools, installed first when missing; or the reason they are not
 * available (only when Go is absent outside CI). Anything else throws.
 */
export function criTools(): CriTools | { missing: string } {
  const dir = criToolsDir();
  const tools = { crictl: path.join(dir, 'crictl'), critest: path.join(dir, 'critest') };
  const present = () => existsSync(tools.crictl) && existsSync(tools.critest);
  if (present()) return tools;
  if (process.env.CI === 'true') {
    throw new Error(`crictl and critest are not in ${dir}: scripts/setup.sh installs them`);
  }
  if (!goAvailable()) {
    return { missing: 'Go is not installed, so stock crictl and critest cannot be built' };
  }
  execFileSync('bash', [path.join(repoRoot, 'scripts/go-tools.sh')], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (!present()) throw new Error(`scripts/go-tools.sh did not install the tools in ${dir}`);
  return tools;
}
