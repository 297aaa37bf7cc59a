// A CNI runtime: loads the first network configuration in conf_dir and runs
// its plugin chain (ADD in order, DEL in reverse) as the CNI spec describes,
// feeding each plugin the previous one's result.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { errFailedPrecondition, errInternal } from '../../core/errors/catalogue.js';
import { traceStep } from '../../core/tracing/active-span.js';
import { cloexecFrom } from '../../native/index.js';

export interface CniNetworkList {
  cniVersion: string;
  name: string;
  plugins: Record<string, unknown>[];
  /** The file it came from. */
  file: string;
}

export interface CniPodArgs {
  containerId: string;
  netnsPath: string;
  ifName: string;
  podName: string;
  podNamespace: string;
  podUid: string;
  portMappings: { hostPort: number; containerPort: number; protocol: string; hostIP: string }[];
}

export interface CniResult {
  cniVersion?: string;
  interfaces?: { name: string; mac?: string; sandbox?: string }[];
  ips?: { address: string; gateway?: string; interface?: number }[];
  routes?: unknown[];
  dns?: unknown;
}

const CONF_EXTENSIONS = ['.conflist', '.conf', '.json'];
const PLUGIN_TIMEOUT_MS = 60_000;

/** The first network configuration in `dir` by file name, or undefined when there is none. */
export async function loadNetworkList(dir: string): Promise<CniNetworkList | undefined> {
  let names: string[];
  try {
    names = (await fs.readdir(dir)).filter((n) => CONF_EXTENSIONS.includes(path.extname(n)));
  } catch {
    return undefined;
  }
  for (const n of names.sort()) {
    const file = path.join(dir, n);
    let doc: Record<string, unknown>;
    try {
      doc = JSON.parse(await fs.readFile(file, 'utf8')) as Record<string, unknown>;
    } catch {
      continue; // unreadable or not JSON: the next file, as libcni does
    }
    if (path.extname(n) === '.conflist') {
      if (!Array.isArray(doc.plugins) || doc.plugins.length === 0) continue;
      return {
        cniVersion: String(doc.cniVersion ?? '0.4.0'),
        name: String(doc.name ?? ''),
        plugins: doc.plugins as Record<string, unknown>[],
        file,
      };
    }
    if (typeof doc.type !== 'string') continue;
    return {
      cniVersion: String(doc.cniVersion ?? '0.4.0'),
      name: String(doc.name ?? ''),
      plugins: [doc],
      file,
    };
  }
  return undefined;
}

export class CniRuntime {
  constructor(
    private readonly binDirs: string[],
    private readonly confDir: string,
  ) {}

  /** Why pod networking is not ready, or undefined when it is. */
  async notReadyReason(): Promise<string | undefined> {
    const list = await loadNetworkList(this.confDir);
    if (!list) return `no network config found in ${this.confDir}`;
    for (const p of [...list.plugins, { type: 'loopback' }]) {
      if (!this.findPlugin(String(p.type))) {
        return `CNI plugin ${String(p.type)} not found in ${this.binDirs.join(', ')}`;
      }
    }
    return undefined;
  }

  private findPlugin(type: string): string | undefined {
    if (!type || type.includes('/')) return undefined;
    for (const d of this.binDirs) {
      const p = path.join(d, type);
      if (existsSync(p)) return p;
    }
    return undefined;
  }

  private async networkList(): Promise<CniNetworkList> {
    const list = await loadNetworkList(this.confDir);
    if (!list)
      throw errFailedPrecondition(
        `cni config not initialized: no network config in ${this.confDir}`,
      );
    return list;
  }

  /** ADD through the whole chain; on failure the chain is deleted again before throwing. */
  setup(args: CniPodArgs): Promise<{ result: CniResult; network: string }> {
    return traceStep('cni setup', () => this.setupChain(args));
  }

  private async setupChain(args: CniPodArgs): Promise<{ result: CniResult; network: string }> {
    const list = await this.networkList();
    await this.loopbackUp(args);
    let prev: CniResult | undefined;
    try {
      for (const p of list.plugins)
        prev = (await this.invoke('ADD', list, p, args, prev)) as CniResult;
    } catch (err) {
      await this.teardownList(list, args, prev).catch(() => {});
      throw err;
    }
    return { result: prev ?? {}, network: list.name };
  }

  /**
   * Brings up `lo` in the pod's namespace with the loopback plugin, as
   * containerd does apart from the configured network: containers of a pod
   * talk to each other over localhost. Nothing to undo; lo goes with the netns.
   */
  private async loopbackUp(args: CniPodArgs): Promise<void> {
    const list: CniNetworkList = {
      cniVersion: '0.4.0',
      name: 'cni-loopback',
      plugins: [{ type: 'loopback' }],
      file: '(built-in loopback network)',
    };
    await this.invoke('ADD', list, list.plugins[0]!, { ...args, ifName: 'lo' }, undefined);
  }

  /** DEL through the chain in reverse; every plugin runs even when one fails. */
  async teardown(args: CniPodArgs, prev: CniResult | undefined): Promise<void> {
    const list = await loadNetworkList(this.confDir);
    if (!list) return; // nothing configured any more: nothing we can call
    await traceStep('cni teardown', () => this.teardownList(list, args, prev));
  }

  private async teardownList(
    list: CniNetworkList,
    args: CniPodArgs,
    prev: CniResult | undefined,
  ): Promise<void> {
    const errors: string[] = [];
    for (const p of [...list.plugins].reverse()) {
      try {
        await this.invoke('DEL', list, p, args, prev);
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
    if (errors.length > 0) throw errInternal(`CNI DEL: ${errors.join('; ')}`);
  }

  private async invoke(
    command: 'ADD' | 'DEL',
    list: CniNetworkList,
    plugin: Record<string, unknown>,
    args: CniPodArgs,
    prev: CniResult | undefined,
  ): Promise<unknown> {
    const type = String(plugin.type ?? '');
    const bin = this.findPlugin(type);
    if (!bin)
      throw errFailedPrecondition(
        `CNI plugin ${JSON.stringify(type)} not found in ${this.binDirs.join(', ')}`,
      );
    const conf: Record<string, unknown> = {
      ...plugin,
      cniVersion: list.cniVersion,
      name: list.name,
    };
    if (prev) conf.prevResult = prev;
    const caps = (plugin.capabilities ?? {}) as Record<string, boolean>;
    if (caps.portMappings && args.portMappings.length > 0) {
      conf.runtimeConfig = { portMappings: args.portMappings };
    }
    const env = {
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      CNI_COMMAND: command,
      CNI_CONTAINERID: args.containerId,
      CNI_NETNS: args.netnsPath,
      CNI_IFNAME: args.ifName,
      CNI_PATH: this.binDirs.join(':'),
      CNI_ARGS: [
        'IgnoreUnknown=1',
        `K8S_POD_NAMESPACE=${args.podNamespace}`,
        `K8S_POD_NAME=${args.podName}`,
        `K8S_POD_INFRA_CONTAINER_ID=${args.containerId}`,
        `K8S_POD_UID=${args.podUid}`,
      ].join(';'),
    };
    const { code, stdout, stderr } = await traceStep(`cni ${command} ${type}`, () =>
      execPlugin(bin, env, JSON.stringify(conf)),
    );
    if (code !== 0) {
      let msg = stderr.trim() || stdout.trim();
      try {
        const e = JSON.parse(stdout) as { code?: number; msg?: string; details?: string };
        msg = [e.msg, e.details].filter(Boolean).join(': ') || msg;
      } catch {
        /* not a CNI error document */
      }
      throw errInternal(`CNI ${command} ${type} (${list.file}): ${msg || `exit ${code}`}`);
    }
    if (command === 'DEL' || !stdout.trim()) return prev;
    try {
      return JSON.parse(stdout);
    } catch {
      throw errInternal(
        `CNI ${command} ${type}: unparsable result ${JSON.stringify(stdout.slice(0, 200))}`,
      );
    }
  }
}

function execPlugin(
  bin: string,
  env: NodeJS.ProcessEnv,
  input: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  cloexecFrom(3); // a plugin gets its stdio, not the daemon's databases
  return new Promise((resolve, reject) => {
    const p = spawn(bin, [], { env, stdio: ['pipe', 'pipe', 'pipe'], timeout: PLUGIN_TIMEOUT_MS });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (b) => (stdout += b));
    p.stderr.on('data', (b) => (stderr += b));
    p.once('error', reject);
    p.once('close', (code) => resolve({ code, stdout, stderr }));
    p.stdin.end(input);
  });
}

/** Pod IPs from a result, IPv4 first (the kubelet takes the first as the pod IP). */
export function resultIPs(r: CniResult | undefined): string[] {
  const ips = (r?.ips ?? []).map((i) => i.address.split('/')[0]!).filter(Boolean);
  return [...ips.filter((i) => !i.includes(':')), ...ips.filter((i) => i.includes(':'))];
}
