import { describe, expect, it } from 'vitest';
import { completeWords } from './complete-words.js';
import { buildProgram } from './program.js';

const complete = (...words: string[]) => completeWords(buildProgram(), words);

describe('completion of the word being typed', () => {
  it('offers verbs, then sub-verbs, by prefix, never the hidden one', () => {
    const verbs = complete('');
    expect('words' in verbs && verbs.words).toEqual(
      expect.arrayContaining(['containers', 'images', 'stats', 'completion', 'tasks']),
    );
    expect('words' in verbs && verbs.words).not.toContain('__complete');
    expect(complete('co')).toMatchObject({ words: ['containers', 'content', 'completion'] });
    expect(complete('containers', 'r')).toMatchObject({ words: ['rm'] });
    expect(complete('c', '')).toMatchObject({ words: expect.arrayContaining(['ls', 'rm']) });
  });

  it("offers the verb's own flags, and none after --", () => {
    expect(complete('containers', 'ls', '--')).toMatchObject({
      words: ['--quiet', '--format', '--json', '--help'],
    });
    expect(complete('-')).toMatchObject({
      words: expect.arrayContaining(['--address', '-a', '--namespace', '-n']),
    });
    expect(complete('stats', '--no')).toMatchObject({ words: ['--no-stream'] });
    expect(complete('run', 'img', 'id', '--', '-')).toMatchObject({ words: [] });
  });

  it('asks the daemon for names where a verb takes them', () => {
    expect(complete('containers', 'rm', 'a', '')).toMatchObject({
      kind: 'containers',
      current: '',
    });
    expect(complete('c', 'info', 'we')).toMatchObject({ kind: 'containers', current: 'we' });
    expect(complete('run', '')).toMatchObject({ kind: 'images' });
    expect(complete('images', 'tag', 'src', '')).toMatchObject({ words: [] });
    expect(complete('stats', '--no-stream', '')).toMatchObject({ kind: 'containers' });
    expect(complete('tasks', 'kill', '-s', 'KILL', '')).toMatchObject({ kind: 'tasks' });
    expect(complete('containers', 'ls', '')).toMatchObject({ words: [] });
  });

  it("completes option values, after a space or an '='", () => {
    expect(complete('-n', '')).toMatchObject({ kind: 'namespaces', prefix: '' });
    expect(complete('--namespace=k8')).toMatchObject({
      kind: 'namespaces',
      prefix: '--namespace=',
      current: 'k8',
    });
    expect(complete('images', 'ls', '--format', '')).toMatchObject({ words: ['table', 'json'] });
    expect(complete('images', 'ls', '--format=j')).toMatchObject({ words: ['--format=json'] });
    expect(complete('-a', '')).toMatchObject({ words: [] });
  });

  it('remembers the daemon, namespace and snapshotter given on the line', () => {
    const c = complete(
      '-a',
      '/tmp/b.sock',
      '--namespace=k8s.io',
      'snapshots',
      '--snapshotter',
      'native',
      'rm',
      '',
    );
    expect(c).toMatchObject({
      kind: 'snapshots',
      line: { address: '/tmp/b.sock', namespace: 'k8s.io', snapshotter: 'native' },
    });
  });
});
