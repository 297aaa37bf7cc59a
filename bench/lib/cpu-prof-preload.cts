// Preloaded (NODE_OPTIONS=--require) into berthd and, through the environment
// they inherit, into its shims: profiles the whole process with V8's sampling
// profiler and writes a .cpuprofile into $BERTH_BENCH_CPU_PROF_DIR at exit.
// Node 20 refuses --cpu-prof in NODE_OPTIONS; this does what it does.

import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import path from 'node:path';

const dir = process.env.BERTH_BENCH_CPU_PROF_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.start');
  process.on('exit', () => {
    // An in-process session answers synchronously, so this completes before exit.
    session.post('Profiler.stop', (err, res) => {
      if (err) return;
      const file = path.join(dir, `CPU.${process.pid}.${Date.now()}.cpuprofile`);
      writeFileSync(file, JSON.stringify(res.profile));
    });
  });
}
