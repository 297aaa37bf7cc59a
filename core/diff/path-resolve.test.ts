import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBerthError } from '../errors/catalogue.js';
import { RootResolver, cleanComponents, resolveInRoot } from './path-resolve.js';

describe('cleanComponents', () => {
  it('drops empty and dot parts and clamps .. at the root', () => {
    expect(cleanComponents('./a//b/./c/')).toEqual(['a', 'b', 'c']);
    expect(cleanComponents('../../escape')).toEqual(['escape']);
    expect(cleanComponents('/abs/path')).toEqual(['abs', 'path']);
    expect(cleanComponents('a/../../b/../c')).toEqual(['c']);
    expect(cleanComponents('./')).toEqual([]);
    expect(cleanComponents('...')).toEqual(['...']);
  });

  it('rejects NUL bytes', () => {
    expect(() => cleanComponents('a\0b')).toThrow(/NUL/);
  });
});

describe('resolveInRoot', () => {
  let tmp: string;
  let root: string;
  let outside: string;

  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-resolve-'));
    root = path.join(tmp, 'root');
    outside = path.join(tmp, 'outside');
    fs.mkdirSync(root);
    fs.mkdirSync(outside);
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('keeps plain and missing components as named', () => {
    fs.mkdirSync(path.join(root, 'a'));
    expect(resolveInRoot(root, ['a', 'missing', 'deeper'])).toBe(
      path.join(root, 'a/missing/deeper'),
    );
    expect(resolveInRoot(root, [])).toBe(root);
  });

  it('re-roots an absolute symlink inside the root', () => {
    fs.symlinkSync(outside, path.join(root, 'etc'));
    expect(resolveInRoot(root, ['etc', 'passwd'])).toBe(path.join(root, outside, 'passwd'));
  });

  it('clamps a relative symlink that climbs above the root', () => {
    fs.symlinkSync('../../../../outside', path.join(root, 'up'));
    expect(resolveInRoot(root, ['up', 'x'])).toBe(path.join(root, 'outside', 'x'));
  });

  it('follows chains and symlinks inside symlink targets, staying inside', () => {
    fs.mkdirSync(path.join(root, 'real'));
    fs.symlinkSync('real', path.join(root, 'one'));
    fs.symlinkSync('/one/../..', path.join(root, 'two'));
    fs.symlinkSync('two/' + path.relative('/', outside), path.join(root, 'three'));
    expect(resolveInRoot(root, ['one', 'f'])).toBe(path.join(root, 'real', 'f'));
    // /one/../.. from the root is the root itself, so three -> <root>/<tmp>/outside
    expect(resolveInRoot(root, ['three', 'f'])).toBe(path.join(root, outside, 'f'));
  });

  it('does not follow the last component unless asked', () => {
    fs.symlinkSync(outside, path.join(root, 'l'));
    expect(resolveInRoot(root, ['l'])).toBe(path.join(root, 'l'));
    expect(resolveInRoot(root, ['l'], true)).toBe(path.join(root, outside));
  });

  it('rejects symlink loops and non-directory parents with InvalidArgument', () => {
    fs.symlinkSync('b', path.join(root, 'a'));
    fs.symlinkSync('a', path.join(root, 'b'));
    fs.writeFileSync(path.join(root, 'file'), '');
    const loop = (() => {
      try {
        resolveInRoot(root, ['a', 'x']);
      } catch (err) {
        return err;
      }
    })();
    expect(isBerthError(loop, 'InvalidArgument')).toBe(true);
    expect(() => resolveInRoot(root, ['file', 'x'])).toThrow(/not a directory/);
  });

  it('RootResolver caches parents until invalidated', () => {
    fs.mkdirSync(path.join(root, 'd'));
    const r = new RootResolver(root);
    expect(r.entryPath(['d', 'f'])).toBe(path.join(root, 'd', 'f'));
    fs.rmdirSync(path.join(root, 'd'));
    fs.symlinkSync(outside, path.join(root, 'd'));
    r.invalidate();
    expect(r.entryPath(['d', 'f'])).toBe(path.join(root, outside, 'f'));
  });
});
