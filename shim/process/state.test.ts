import { describe, expect, it } from 'vitest';
import { BerthError } from '../../core/errors/catalogue.js';
import { Status } from '../../api/gen/containerd/types/task/task.js';
import { ProcessState, toProtoStatus } from './state.js';

function failedPrecondition(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BerthError);
    expect((err as BerthError).code).toBe('FailedPrecondition');
    return;
  }
  throw new Error('expected FailedPrecondition');
}

describe('ProcessState', () => {
  it('follows created → running → paused → running → stopped → deleted', () => {
    const s = new ProcessState(() => 'task t');
    expect(s.current).toBe('created');
    s.transition('running');
    s.transition('pausing');
    s.transition('paused');
    s.transition('running');
    s.transition('stopped');
    s.transition('deleted');
    expect(toProtoStatus(s.current)).toBe(Status.STOPPED);
  });

  it('refuses invalid transitions and operations with FailedPrecondition', () => {
    const s = new ProcessState(() => 'task t');
    failedPrecondition(() => s.transition('paused'));
    s.transition('running');
    failedPrecondition(() => s.require('start', 'created'));
    failedPrecondition(() => s.require('delete', 'created', 'stopped'));
    s.transition('stopped');
    failedPrecondition(() => s.transition('running'));
    expect(() => s.require('delete', 'created', 'stopped')).not.toThrow();
  });

  it('maps every state to the Task API status', () => {
    expect(toProtoStatus('created')).toBe(Status.CREATED);
    expect(toProtoStatus('running')).toBe(Status.RUNNING);
    expect(toProtoStatus('pausing')).toBe(Status.PAUSING);
    expect(toProtoStatus('paused')).toBe(Status.PAUSED);
    expect(toProtoStatus('stopped')).toBe(Status.STOPPED);
  });
});
