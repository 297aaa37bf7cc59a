// The critest stand-in images, pulled by berthd's CRI from a local
// docker-registry through the hosts.toml files critest.sh uses, behave as the
// specs expect of the originals: the pause holds a pod without child processes,
// nginx looks like nginx's master process, httpd logs a line naming itself,
// nonewprivs reports the effective uid a setuid program reaches, busybox's
// applets are hard links and ipcs/pgrep exist, and the user images' users are
// what ImageStatus reports.

import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { busyboxAvailable } from '../fixtures/busybox-rootfs.js';
import { type CriEnv, podConfig, startCriEnv, waitFor } from '../helpers/cri.js';
import { type TestRegistry, haveDockerRegistry, startRegistry } from '../helpers/registry.js';
import { pushStandIns, writeMirrorHosts } from './local-registry.js';

const isRoot = process.getuid?.() === 0;
const haveCni = existsSync('/usr/lib/cni/bridge');
const E2E = 'registry.k8s.io/e2e-test-images';
const CRI_TOOLS = 'gcr.io/k8s-staging-cri-tools';

describe.skipIf(!isRoot || !haveCni || !haveDockerRegistry || !busyboxAvailable())(
  'critest stand-in images',
  () => {
    let registry: TestRegistry;
    let env: CriEnv;
    let logDir: string;
    let pods = 0;

    const rt = () => env.cri.runtime;
    const text = (b: Uint8Array) => Buffer.from(b).toString();

    /** A ready pod of its own and a started container in it. */
    async function run(image: string, config: Record<string, unknown> = {}) {
      const sandboxConfig = podConfig(`stand-in-${++pods}`, path.join(logDir, String(pods)));
      const { podSandboxId } = await rt().runPodSandbox({ config: sandboxConfig });
      await env.cri.image.pullImage({ image: { image } });
      const { containerId } = await rt().createContainer({
        podSandboxId,
        config: { metadata: { name: 'c' }, image: { image }, logPath: 'c.log', ...config },
        sandboxConfig,
      });
      await rt().startContainer({ containerId });
      const exec = async (...cmd: string[]) => {
        const r = await rt().execSync({ containerId, cmd, timeout: 60 });
        return { out: text(r.stdout), err: text(r.stderr), code: r.exitCode };
      };
      const log = () =>
        fs.readFile(path.join(logDir, String(pods), 'c.log'), 'utf8').catch(() => '');
      const ip = async () => (await rt().podSandboxStatus({ podSandboxId })).status!.network!.ip;
      return { podSandboxId, containerId, exec, log, ip };
    }

    /** The page at ip:port, once it answers 200. */
    async function page(ip: string, port: number): Promise<string> {
      const res = await waitFor(
        () => fetch(`http://${ip}:${port}/`).catch(() => undefined),
        (r) => r?.status === 200,
        60_000,
      );
      return res!.text();
    }

    beforeAll(async () => {
      registry = await startRegistry();
      await pushStandIns(registry.host);
      const hostsDir = path.join(registry.dir, 'certs.d');
      await writeMirrorHosts(hostsDir, registry.host);
      // The sandbox image, registry.k8s.io/pause:3.9, is pulled through them too.
      env = await startCriEnv({
        extraCriConfig: `registry_config_path = "${hostsDir}"`,
        importImages: false,
      });
      logDir = path.join(env.work, 'logs');
    });

    afterAll(async () => {
      await env?.dispose();
      await registry?.dispose();
    });

    it('pause holds a pod that shares its processes without any child of its own', async () => {
      const c = await run(`${E2E}/busybox:1.29-2`, { command: ['sh', '-c', 'exec top'] });
      const ps = await c.exec('ps', '-o', 'pid,comm');
      expect(
        ps.out
          .trim()
          .split('\n')
          .slice(1)
          .map((l) => l.trim().split(/\s+/)[1]),
      ).toEqual(expect.arrayContaining(['pause', 'top', 'ps']));
      expect(ps.out).not.toContain('sleep');
      expect(await c.exec('pgrep', 'sleep')).toMatchObject({ out: '', code: 1 });
      expect((await c.exec('pgrep', 'top')).code).toBe(0);
    });

    it('busybox has hard-linked applets and the ipcs of the upstream image', async () => {
      const c = await run(`${E2E}/busybox:1.29-2`, {
        command: ['sh', '-c', 'exec top'],
        linux: { securityContext: { maskedPaths: ['/bin/ls'] } },
      });
      // Masking one hard link leaves busybox itself, and so sh, working.
      expect(await c.exec('/bin/sh', '-c', '/bin/ls /')).toMatchObject({
        err: '/bin/sh: /bin/ls: Permission denied\n',
        code: 126,
      });
      expect((await c.exec('/bin/sh', '-c', 'echo ok')).out).toBe('ok\n');
      expect((await c.exec('ipcs', '-m')).out).toContain('Shared Memory Segments');
    });

    it('nginx is a master process named nginx serving its page on port 80', async () => {
      const c = await run(`${E2E}/nginx:1.14-2`, {
        linux: { securityContext: { namespaceOptions: { pid: 1 } } }, // CONTAINER: nginx is pid 1
      });
      const pid = await waitFor(
        () => c.exec('cat', '/var/run/nginx.pid'),
        (r) => r.code === 0,
        60_000,
      );
      expect(pid.out.trim()).toBe('1');
      expect((await c.exec('pidof', 'nginx')).out.trim()).toBe('1');
      const cmdline = await c.exec('cat', '/proc/1/cmdline');
      expect(cmdline.out.split('\0')[0]).toMatch(/^nginx: master process /);
      expect(await page(await c.ip(), 80)).toContain('Welcome to nginx!');
    });

    it('httpd logs a line naming httpd and serves port 80', async () => {
      const c = await run(`${E2E}/httpd:2.4.39-4`);
      expect(await page(await c.ip(), 80)).toContain('It works!');
      expect(await c.log()).toMatch(/ stderr F httpd: /);
    });

    it('nonewprivs reports the effective uid its setuid program reaches', async () => {
      for (const [noNewPrivs, uid] of [
        [true, '1000'],
        [false, '0'],
      ] as const) {
        const c = await run(`${E2E}/nonewprivs:1.3`, {
          linux: { securityContext: { noNewPrivs, runAsUser: { value: 1000 } } },
        });
        const log = await waitFor(c.log, (l) => l.includes('Effective uid'), 60_000);
        expect(log).toMatch(new RegExp(` stdout F Effective uid: ${uid}\n$`));
      }
    });

    it('the user images name the users ImageStatus reports', async () => {
      for (const [image, uid, username] of [
        ['test-image-user-uid', 1002, ''],
        ['test-image-user-username', 0, 'www-data'],
        ['test-image-user-uid-group', 1003, ''],
        ['test-image-user-username-group', 0, 'www-data'],
      ] as const) {
        const ref = `${CRI_TOOLS}/${image}:latest`;
        await env.cri.image.pullImage({ image: { image: ref } });
        const { image: status } = await env.cri.image.imageStatus({ image: { image: ref } });
        // A user given by name has no uid (critest reads the absent value as 0).
        expect(status!.uid?.value ?? 0n).toBe(BigInt(uid));
        expect(status!.username).toBe(username);
      }
    });
  },
);
