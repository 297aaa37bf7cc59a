// The critest exceptions: the skip expression matches exactly the excepted
// specs, docs/cri.md lists each of them, and a ginkgo report is counted right.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/daemon.js';
import { EXCEPTIONS, skipRegex, summarize } from './exceptions.js';

describe('critest exceptions', () => {
  it('skips exactly the excepted specs, by their full text', () => {
    const re = new RegExp(skipRegex());
    for (const e of EXCEPTIONS) expect(re.test(e.spec)).toBe(true);
    // Neighbours of the excepted specs still run.
    for (const other of [
      '[k8s.io] Image Manager public image with tag should be pulled and removed [Conformance]',
      '[k8s.io] Security Context bucket runtime should support ReadonlyPaths',
    ])
      expect(re.test(other)).toBe(false);
  });

  it('are each documented in docs/cri.md', () => {
    const doc = readFileSync(path.join(repoRoot, 'docs/cri.md'), 'utf8');
    const section = doc.slice(doc.indexOf('## critest'));
    expect(section.startsWith('## critest')).toBe(true);
    for (const e of EXCEPTIONS) expect(section).toContain(e.spec);
  });

  it('counts passed, failed, skipped and filtered specs of a ginkgo report', () => {
    const spec = (leaf: string, State: string, Message?: string, LeafNodeType = 'It') => ({
      ContainerHierarchyTexts: ['[k8s.io] Suite', 'context'],
      LeafNodeText: leaf,
      LeafNodeType,
      State,
      ...(Message === undefined
        ? {}
        : { Failure: { Message, Location: { FileName: 'pkg/validate/x.go', LineNumber: 7 } } }),
    });
    const s = summarize([
      {
        SpecReports: [
          spec('', 'passed', undefined, 'BeforeSuite'),
          spec('a', 'passed'),
          spec('b', 'failed', 'boom\nmore'),
          spec('c', 'skipped', 'AppArmor is disabled on this host'),
          spec('d', 'skipped'),
          spec('e', 'timedout', 'slow'),
        ],
      },
    ]);
    expect(s.passed).toEqual(['[k8s.io] Suite context a']);
    expect(s.failed).toEqual([
      {
        spec: '[k8s.io] Suite context b',
        message: 'failed: boom\nmore',
        location: 'pkg/validate/x.go:7',
      },
      {
        spec: '[k8s.io] Suite context e',
        message: 'timedout: slow',
        location: 'pkg/validate/x.go:7',
      },
    ]);
    expect(s.skipped).toEqual([
      { spec: '[k8s.io] Suite context c', message: 'AppArmor is disabled on this host' },
    ]);
    expect(s.excluded).toEqual(['[k8s.io] Suite context d']);
  });
});
