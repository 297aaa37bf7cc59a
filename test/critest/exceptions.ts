// The critest specs scripts/critest.sh skips, each with its reason (also listed
// in docs/cri.md), and the summary of a run from ginkgo's JSON report.
//
//   node dist/test/critest/exceptions.js --skip-regex        the -ginkgo.skip value
//   node dist/test/critest/exceptions.js --summarize REPORT  counts; exit 1 on a failed spec

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface Exception {
  /** The spec's full text, as ginkgo matches it: without labels such as `[Serial]`. */
  spec: string;
  reason: string;
}

/** Specs that need the upstream images themselves: nothing built here can stand in for them. */
export const EXCEPTIONS: Exception[] = [
  {
    spec: '[k8s.io] Security Context bucket runtime should support MaskedPaths',
    reason:
      "masks /bin/ls and expects `sh -c ls` to fail exec'ing it; the upstream busybox shell looks ls up in PATH, but Debian's static busybox, which the stand-ins are built from, runs its own ls applet without exec, so no masked path can show",
  },
  {
    spec: '[k8s.io] Image Manager public image with digest should be pulled and removed [Conformance]',
    reason:
      'pulls gcr.io/k8s-staging-cri-tools/test-image-digest@sha256:9700f9a2…: a reference pinned to the upstream image digest, which no locally built stand-in can have',
  },
];

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** One regular expression matching exactly the excepted specs. */
export function skipRegex(exceptions: Exception[] = EXCEPTIONS): string {
  return exceptions.map((e) => escapeRegex(e.spec)).join('|');
}

/** What ginkgo's JSON report holds of each spec (`--ginkgo.json-report`). */
interface SpecReport {
  ContainerHierarchyTexts?: string[] | null;
  LeafNodeText: string;
  LeafNodeType: string;
  State: string;
  Failure?: { Message?: string; Location?: { FileName?: string; LineNumber?: number } };
}

export interface Summary {
  passed: string[];
  failed: { spec: string; message: string; location: string }[];
  /** Skipped while running (the spec called Skip), with the reason it gave. */
  skipped: { spec: string; message: string }[];
  /** Not run: filtered out by -ginkgo.skip (the exceptions, and the benchmarks). */
  excluded: string[];
}

/** Counts the It specs of one or more suites; setup nodes are counted only when they fail. */
export function summarize(reports: { SpecReports?: SpecReport[] | null }[]): Summary {
  const s: Summary = { passed: [], failed: [], skipped: [], excluded: [] };
  for (const suite of reports) {
    for (const r of suite.SpecReports ?? []) {
      const spec = [...(r.ContainerHierarchyTexts ?? []), r.LeafNodeText].join(' ').trim();
      const message = r.Failure?.Message ?? '';
      if (r.State === 'passed') {
        if (r.LeafNodeType === 'It') s.passed.push(spec);
      } else if (r.State === 'skipped') {
        if (message) s.skipped.push({ spec, message });
        else if (r.LeafNodeType === 'It') s.excluded.push(spec);
      } else if (r.State !== 'pending') {
        const at = r.Failure?.Location;
        s.failed.push({
          spec: spec || r.LeafNodeType,
          message: `${r.State}: ${message}`,
          location: at?.FileName ? `${at.FileName}:${at.LineNumber ?? 0}` : '',
        });
      }
    }
  }
  return s;
}

function main(argv: string[]): number {
  if (argv[0] === '--skip-regex') {
    process.stdout.write(`${skipRegex()}\n`);
    return 0;
  }
  if (argv[0] === '--summarize' && argv[1]) {
    let report: unknown;
    try {
      report = JSON.parse(readFileSync(argv[1], 'utf8'));
    } catch (err) {
      process.stderr.write(`critest: no report (${(err as Error).message})\n`);
      return 1;
    }
    const s = summarize(report as Parameters<typeof summarize>[0]);
    const line = (t: string) => process.stdout.write(`${t}\n`);
    const firstLine = (m: string) => m.trim().split('\n')[0];
    const indent = (m: string, max: number) =>
      m
        .trim()
        .split('\n')
        .slice(0, max)
        .map((l) => `    ${l}`)
        .join('\n');
    for (const f of s.failed)
      line(`FAILED: ${f.spec}\n    at ${f.location}\n${indent(f.message, 8)}`);
    const byReason = new Map<string, number>();
    for (const k of s.skipped) {
      const reason = firstLine(k.message);
      byReason.set(reason, (byReason.get(reason) ?? 0) + 1);
    }
    for (const [reason, n] of byReason) line(`skipped by critest (${n}): ${reason}`);
    for (const e of EXCEPTIONS) line(`not run, exception: ${e.spec}\n    ${e.reason}`);
    line(
      `critest: ${s.passed.length} passed, ${s.failed.length} failed, ${s.skipped.length} skipped, ` +
        `${s.excluded.length} not run (${EXCEPTIONS.length} exceptions, the rest benchmarks)`,
    );
    return s.failed.length > 0 ? 1 : 0;
  }
  process.stderr.write('usage: exceptions.js --skip-regex | --summarize REPORT.json\n');
  return 2;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.exit(main(process.argv.slice(2)));
