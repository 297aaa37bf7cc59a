import { describe, expect, it } from 'vitest';
import { TemplateError, parseTemplate, show } from './template.js';

const item = {
  ID: 'web',
  Pids: 3,
  Ratio: 0.5,
  Empty: null,
  Runtime: { Name: 'io.containerd.runc.v2', Options: undefined },
  Labels: { tier: 'front', 'app.kubernetes.io/name': 'web' },
  Names: ['a', 'b'],
  Big: 12345678901234567890n,
};
const render = (src: string, data: unknown = item) => parseTemplate(src).render(data);

describe('format templates', () => {
  it('prints fields, nested fields and the whole item', () => {
    expect(render('{{.ID}} has {{.Pids}} pids')).toBe('web has 3 pids');
    expect(render('{{ .Runtime.Name }}')).toBe('io.containerd.runc.v2');
    expect(render('{{.}}', 'plain')).toBe('plain');
    expect(JSON.parse(render('{{json .}}'))).toMatchObject({
      ID: 'web',
      Big: '12345678901234567890',
    });
  });

  it('prints labels as sorted k=v pairs, lists comma-joined, null and absent keys as nothing', () => {
    expect(render('{{.Labels}}')).toBe('app.kubernetes.io/name=web,tier=front');
    expect(render('{{.Names}}')).toBe('a,b');
    expect(render('[{{.Empty}}][{{.Runtime.Options}}][{{.Labels.missing}}]')).toBe('[][][]');
    expect(render('{{.Big}}')).toBe('12345678901234567890');
  });

  it('has json, join, index, upper, lower and truncate', () => {
    expect(render('{{json .Labels}}')).toBe('{"tier":"front","app.kubernetes.io/name":"web"}');
    expect(render('{{join .Names " | "}}')).toBe('a | b');
    expect(render('{{index .Labels "app.kubernetes.io/name"}}')).toBe('web');
    expect(render('{{upper .ID}}-{{lower "ABC"}}')).toBe('WEB-abc');
    expect(render('{{truncate .Runtime.Name 8}}')).toBe('io.conta');
  });

  it('turns a literal \\t and \\n into a tab and a newline', () => {
    expect(render('{{.ID}}\\t{{.Pids}}\\n')).toBe('web\t3\n');
  });

  it('refuses what it does not support when parsed', () => {
    for (const [src, msg] of [
      ['{{.ID', /unclosed action/],
      ['{{}}', /empty action/],
      ['{{exec "rm"}}', /unknown function "exec"; functions: json, join/],
      ['{{.ID | upper}}', /pipelines are not supported/],
      ['{{json}}', /json takes 1 argument/],
      ['{{index .Labels "x}}', /unterminated string/],
      ['{{.A-B}}', /unexpected ".A-B"/],
      ['{{ID}}', /unknown function "ID"/],
    ] as const) {
      expect(() => parseTemplate(src), src).toThrow(msg);
      expect(() => parseTemplate(src)).toThrow(TemplateError);
    }
  });

  it('names the fields when a top-level field does not exist', () => {
    const t = parseTemplate('{{.Id}}');
    expect(() => t.render({ ID: 'x', Pids: 1 })).toThrow(/no field "Id"; fields: ID, Pids/);
    expect(() => render('{{.ID.Name}}')).toThrow(/cannot read \.Name of a string/);
    expect(() => render('{{join .ID ","}}')).toThrow(/join needs a list/);
  });

  it('shows other objects as JSON', () => {
    expect(show({ a: 1 })).toBe('{"a":1}');
    expect(show(true)).toBe('true');
    expect(show(undefined)).toBe('');
  });
});
