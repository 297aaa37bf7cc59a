import { describe, expect, it } from 'vitest';
import { parseNetDevCounters } from './net-dev.js';

describe('net/dev counters', () => {
  it('reads bytes, packets, errors and drops of both directions, without loopback', () => {
    const text = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0
  eth0:    2048      10    1    3    0     0          0         0     4096      20    2    4    0     0       0          0
 short: 1 2 3
`;
    expect(parseNetDevCounters(text)).toEqual([
      {
        name: 'eth0',
        rxBytes: 2048,
        rxPackets: 10,
        rxErrors: 1,
        rxDropped: 3,
        txBytes: 4096,
        txPackets: 20,
        txErrors: 2,
        txDropped: 4,
      },
    ]);
    expect(parseNetDevCounters('')).toEqual([]);
  });
});
