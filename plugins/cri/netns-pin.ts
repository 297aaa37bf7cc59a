// Entry point of the short-lived child that creates a network namespace: it
// unshares its own network namespace and bind-mounts it onto the file given as
// argv[2], then exits. The daemon's namespaces are never touched.
import { CLONE, MS, mount, unshare } from '../../native/index.js';

const target = process.argv[2];
if (!target) {
  process.stderr.write('usage: netns-pin <file>\n');
  process.exit(2);
}
try {
  unshare(CLONE.NEWNET);
  // thread-self: the namespace belongs to the thread that unshared it.
  mount('/proc/thread-self/ns/net', target, null, MS.BIND, null);
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(1);
}
