// The runc command-line driver. Every call is a short-lived child process
// (reaped by libuv, never by our Reaper). Commands whose stdio belongs to the
// container (create, exec) report their errors through `--log <bundle>/log.json`,
// so a failure message comes from there when stderr was not ours to read.

import { spawn, type StdioOptions } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { BerthError, type ErrorCode, errNotFound } from '../core/errors/catalogue.js';
import { activeSpan, traceEnv } from '../core/tracing/active-span.js';

export interface RuncOptions {
  /** Binary name or path (options.binary_name); "runc" by default. */
  binary?: string;
  /** State root (`--root`). */
  root: string;
  /** runc's own log (`--log`, JSON format). */
  log?: string;
  systemdCgroup?: boolean;
}

export interface CreateOptions {
  bundle: string;
  pidFile: string;
  consoleSocket?: string;
  noPivot?: boolean;
  noNewKeyring?: boolean;
  /** stdio for runc, which it hands to the container's init. */
  stdio: StdioOptions;
}

export interface ExecOptions {
  processFile: string;
  pidFile: string;
  consoleSocket?: string;
  stdio: StdioOptions;
}

/** `runc checkpoint` flags, from containerd.runc.v1.CheckpointOptions. */
export interface CheckpointOptions {
  /** Where CRIU writes the images. */
  imagePath: string;
  /** Where CRIU writes its logs (dump.log) and statistics; runc's default is the image path. */
  workPath?: string;
  /** Keep the container running after the dump instead of stopping it. */
  leaveRunning: boolean;
  tcpEstablished?: boolean;
  extUnixSockets?: boolean;
  /** The container has a terminal (CRIU must treat its session as a shell job). */
  shellJob?: boolean;
  fileLocks?: boolean;
  emptyNamespaces?: string[];
  /** CRIU's cgroup mode: soft, full, strict or ignore. */
  cgroupsMode?: string;
}

export function checkpointArgs(id: string, o: CheckpointOptions): string[] {
  const args = ['checkpoint', '--image-path', o.imagePath];
  if (o.workPath) args.push('--work-path', o.workPath);
  if (o.leaveRunning) args.push('--leave-running');
  if (o.tcpEstablished) args.push('--tcp-established');
  if (o.extUnixSockets) args.push('--ext-unix-sk');
  if (o.shellJob) args.push('--shell-job');
  if (o.fileLocks) args.push('--file-locks');
  for (const ns of o.emptyNamespaces ?? []) args.push('--empty-ns', ns);
  if (o.cgroupsMode) args.push('--manage-cgroups-mode', o.cgroupsMode);
  args.push(id);
  return args;
}

export interface RuncState {
  id: string;
  pid: number;
  status: string;
  bundle: string;
}

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export class RuncError extends BerthError {
  constructor(
    readonly command: string,
    readonly detail: string,
    code: ErrorCode = 'Unknown',
  ) {
    // runc's own log lines already read "runc create failed: …".
    super(
      code,
      detail.startsWith(`runc ${command} failed`) ? detail : `runc ${command} failed: ${detail}`,
    );
    this.name = 'RuncError';
  }
}

/**
 * runc's failures by what they say, for create, start and exec: a caller can
 * tell a spec it must fix (InvalidArgument) from something missing on the host
 * (NotFound) or a conflict, instead of one opaque Unknown. First match wins;
 * the message stays runc's own.
 */
const RUNC_FAILURES: [RegExp, ErrorCode][] = [
  [/container with given ID already exists/i, 'AlreadyExists'],
  [/invalid rootfs|rootfs \S* (?:does not exist|not found)/i, 'NotFound'],
  [/exec: .*(?:executable file not found|no such file or directory)/i, 'NotFound'],
  [/error mounting .*no such file or directory/i, 'NotFound'],
  [
    /invalid character|cannot unmarshal|unexpected end of JSON|args must not be empty|namespace .* does not exist|invalid (?:mount|spec|argument|configuration|cgroup|capability)|unknown capability|is not supported/i,
    'InvalidArgument',
  ],
  [/operation not permitted|permission denied/i, 'PermissionDenied'],
];

export function runcFailureCode(detail: string): ErrorCode {
  return RUNC_FAILURES.find(([re]) => re.test(detail))?.[1] ?? 'Unknown';
}

export class Runc {
  readonly binary: string;

  constructor(readonly opts: RuncOptions) {
    this.binary = opts.binary || 'runc';
  }

  private globalArgs(): string[] {
    const args = ['--root', this.opts.root];
    if (this.opts.log) args.push('--log', this.opts.log, '--log-format', 'json');
    if (this.opts.systemdCgroup) args.push('--systemd-cgroup');
    return args;
  }

  private run(
    args: string[],
    opts: { stdio?: StdioOptions; input?: string; cwd?: string } = {},
  ): Promise<RunResult> {
    const own = opts.stdio === undefined;
    // Under a traced Task call, the invocation gets a span of its own, handed
    // to runc as TRACEPARENT (OpenTelemetry's carrier for processes). runc
    // 1.1 ignores it; the span still times the command.
    const span = activeSpan()?.child(`runc ${args[0]}`);
    const child = spawn(this.binary, [...this.globalArgs(), ...args], {
      stdio: own ? ['pipe', 'pipe', 'pipe'] : opts.stdio,
      cwd: opts.cwd,
      env: span ? { ...process.env, ...traceEnv(span) } : undefined,
    });
    let stdout = '';
    let stderr = '';
    if (own) {
      child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.stdin!.on('error', () => {});
      child.stdin!.end(opts.input ?? '');
    }
    const done = new Promise<RunResult>((resolve, reject) => {
      child.once('error', (err) => reject(new RuncError(args[0]!, err.message)));
      // 'close' waits for our stdout/stderr pipes to drain; with foreign stdio there are none.
      child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    });
    if (span) {
      done.then(
        (r) => (r.code === 0 ? span : span.fail(new Error(exitText(r)))).end(),
        (err) => span.fail(err).end(),
      );
    }
    return done;
  }

  private check(command: string, r: RunResult): RunResult {
    if (r.code === 0) return r;
    throw classify(command, exitText(r));
  }

  async create(id: string, o: CreateOptions): Promise<void> {
    const args = ['create', '--bundle', o.bundle, '--pid-file', o.pidFile];
    if (o.consoleSocket) args.push('--console-socket', o.consoleSocket);
    if (o.noPivot) args.push('--no-pivot');
    if (o.noNewKeyring) args.push('--no-new-keyring');
    args.push(id);
    const logSize = await this.logSize();
    const r = await this.run(args, { stdio: o.stdio, cwd: o.bundle });
    if (r.code !== 0) throw classify('create', (await this.logErrorSince(logSize)) || exitText(r));
  }

  async start(id: string): Promise<void> {
    this.check('start', await this.run(['start', id]));
  }

  async exec(id: string, o: ExecOptions): Promise<void> {
    const args = ['exec', '--detach', '--pid-file', o.pidFile, '--process', o.processFile];
    if (o.consoleSocket) args.push('--console-socket', o.consoleSocket);
    args.push(id);
    const logSize = await this.logSize();
    const r = await this.run(args, { stdio: o.stdio });
    if (r.code !== 0) throw classify('exec', (await this.logErrorSince(logSize)) || exitText(r));
  }

  async kill(id: string, signal: number, all = false): Promise<void> {
    const args = ['kill'];
    if (all) args.push('--all');
    args.push(id, String(signal));
    this.check('kill', await this.run(args));
  }

  async delete(id: string, force = false): Promise<void> {
    const args = ['delete'];
    if (force) args.push('--force');
    args.push(id);
    this.check('delete', await this.run(args));
  }

  async pause(id: string): Promise<void> {
    this.check('pause', await this.run(['pause', id]));
  }

  async resume(id: string): Promise<void> {
    this.check('resume', await this.run(['resume', id]));
  }

  async ps(id: string): Promise<number[]> {
    const r = this.check('ps', await this.run(['ps', '--format', 'json', id]));
    const pids = JSON.parse(r.stdout.trim() || '[]') as number[] | null;
    return pids ?? [];
  }

  async state(id: string): Promise<RuncState> {
    const r = this.check('state', await this.run(['state', id]));
    return JSON.parse(r.stdout) as RuncState;
  }

  /** `runc update --resources -` with an OCI LinuxResources object. */
  async update(id: string, resources: unknown): Promise<void> {
    const r = await this.run(['update', '--resources', '-', id], {
      input: JSON.stringify(resources),
    });
    this.check('update', r);
  }

  /** Dumps the container with CRIU; its own log is dump.log in the work path. */
  async checkpoint(id: string, o: CheckpointOptions): Promise<void> {
    const logSize = await this.logSize();
    const r = await this.run(checkpointArgs(id, o));
    if (r.code !== 0) {
      throw classify('checkpoint', (await this.logErrorSince(logSize)) || exitText(r));
    }
  }

  private async logSize(): Promise<number> {
    if (!this.opts.log) return 0;
    try {
      return (await readFile(this.opts.log)).length;
    } catch {
      return 0;
    }
  }

  /** The last error logged after byte offset `from` (errors of earlier commands do not count). */
  private async logErrorSince(from: number): Promise<string> {
    if (!this.opts.log) return '';
    let text: string;
    try {
      text = (await readFile(this.opts.log)).subarray(from).toString('utf8');
    } catch {
      return '';
    }
    let msg = '';
    for (const line of text.split('\n')) {
      try {
        const entry = JSON.parse(line) as { level?: string; msg?: string };
        if (entry.level === 'error' && entry.msg) msg = entry.msg;
      } catch {
        /* partial or empty line */
      }
    }
    return msg;
  }
}

function exitText(r: RunResult): string {
  return r.stderr.trim() || (r.signal ? `killed by ${r.signal}` : `exit status ${r.code}`);
}

// runc's messages for the states containerd cares about, mapped so callers get
// NotFound rather than an opaque failure (containerd tolerates NotFound on
// kill and delete of a finished task).
function classify(command: string, detail: string): BerthError {
  if (/container does not exist|container .* does not exist/i.test(detail)) {
    return errNotFound(`runc ${command}: ${detail}`);
  }
  if (command === 'kill' && /not running|process already finished/i.test(detail)) {
    return errNotFound(`process already finished: ${detail}`);
  }
  return new RuncError(command, detail, runcFailureCode(detail));
}
