import { describe, expect, it } from 'vitest';
import { escapeHelp, escapeLabelValue, formatFamilies, formatValue } from './exposition.js';

describe('Prometheus text exposition', () => {
  it('escapes label values and help text as the format requires', () => {
    expect(escapeLabelValue('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd');
    expect(escapeHelp('x\\y\nz "q"')).toBe('x\\\\y\\nz "q"');
  });

  it('writes special values as Go parses them', () => {
    expect([NaN, Infinity, -Infinity, 1.5, 3, 1e21].map(formatValue)).toEqual([
      'NaN',
      '+Inf',
      '-Inf',
      '1.5',
      '3',
      '1e+21',
    ]);
  });

  it('writes HELP and TYPE once per family and leaves out empty families', () => {
    const text = formatFamilies([
      { name: 'empty', help: 'none', type: 'gauge', samples: [] },
      {
        name: 'berth_tasks',
        help: 'Tasks.',
        type: 'gauge',
        samples: [
          {
            labels: [
              ['namespace', 'k8s.io'],
              ['status', 'running'],
            ],
            value: 2,
          },
          {
            labels: [
              ['namespace', 'odd"ns'],
              ['status', 'stopped'],
            ],
            value: 1,
          },
        ],
      },
      { name: 'up', help: 'Up.', type: 'gauge', samples: [{ labels: [], value: 1 }] },
    ]);
    expect(text).toBe(
      [
        '# HELP berth_tasks Tasks.',
        '# TYPE berth_tasks gauge',
        'berth_tasks{namespace="k8s.io",status="running"} 2',
        'berth_tasks{namespace="odd\\"ns",status="stopped"} 1',
        '# HELP up Up.',
        '# TYPE up gauge',
        'up 1',
        '',
      ].join('\n'),
    );
    expect(formatFamilies([])).toBe('');
  });
});
