import { describe, expect, it } from 'vitest';
import { signalByName } from './signals.js';

describe('signalByName', () => {
  it.each([
    ['SIGTERM', 15],
    ['term', 15],
    ['KILL', 9],
    ['9', 9],
    ['SIGWINCH', 28],
    ['SIGRTMIN', 34],
    ['SIGRTMIN+3', 37],
    ['RTMAX-1', 63],
  ])('%s → %d', (name, n) => expect(signalByName(name)).toBe(n));

  it.each(['SIGNOPE', '0', '65', 'SIGRTMIN+31', ''])('%j is no signal', (name) =>
    expect(signalByName(name)).toBeUndefined(),
  );
});
