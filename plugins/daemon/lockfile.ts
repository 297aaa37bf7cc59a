import { open, readFile, rm } from 'node:fs/promises';
import { errFailedPrecondition } from '../../core/errors/catalogue.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function commandOf(pid: number): Promise<string> {
  try {
    return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

/**
 * One daemon per root: a lock file holding the owner's PID. A file left behind
 * by a killed daemon is taken over when its PID is gone or no longer a berthd.
 */
export async function acquireLock(file: string): Promise<{ release(): Promise<void> }> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(file, 'wx', 0o600);
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      return {
        release: async () => {
          const owner = Number((await readFile(file, 'utf8').catch(() => '')).trim());
          if (owner === process.pid) await rm(file, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const pid = Number((await readFile(file, 'utf8').catch(() => '')).trim());
    if (pid > 0 && pid !== process.pid && alive(pid) && (await commandOf(pid)).includes('berthd')) {
      throw errFailedPrecondition(
        `another berthd (pid ${pid}) is already running with this root (lock ${file})`,
      );
    }
    await rm(file, { force: true });
  }
  throw errFailedPrecondition(`cannot take the lock ${file}`);
}
