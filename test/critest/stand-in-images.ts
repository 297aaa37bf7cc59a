// Stand-ins for every image critest (cri-tools' validation and benchmark
// suites) pulls, built offline from Debian's static busybox. Each keeps what
// the specs observe of the original: its references, users and groups, the
// files the specs list, the port it serves, the log lines and process names the
// specs look for. Nothing else of the originals is reproduced: digests differ,
// and a spec that needs an original itself cannot pass (see exceptions.ts).

import {
  type BuiltImage,
  type DerivedImageSpec,
  type ImageFile,
  busyboxDerivedImage,
  imageArchitecture,
} from '../fixtures/image-builder.js';

/** One stand-in image and every reference critest pulls it by. */
export interface StandIn {
  refs: string[];
  build(ref: string): Promise<BuiltImage>;
}

const E2E = 'registry.k8s.io/e2e-test-images';
const CRI_TOOLS = 'gcr.io/k8s-staging-cri-tools';
const BENCH_BUSYBOX = 'public.ecr.aws/docker/library/busybox';

const script = (text: string): ImageFile => ({ content: text, mode: 0o755 });

/**
 * Debian's busybox lacks `pgrep` and `ipcs`, which the busybox e2e image has
 * (`execSync with timeout` runs `pgrep sleep`, the host-IPC specs `ipcs -m`).
 */
const MISSING_APPLETS: Record<string, ImageFile> = {
  'bin/pgrep': script(`#!/bin/sh
# pgrep PATTERN: pids of the other processes whose name matches PATTERN.
[ $# -eq 1 ] || { echo "usage: pgrep PATTERN" >&2; exit 2; }
found=1
for d in /proc/[0-9]*; do
  pid=\${d#/proc/}
  [ "$pid" = $$ ] && continue
  read -r comm < "$d/comm" 2>/dev/null || continue
  if echo "$comm" | grep -q -e "$1"; then echo "$pid"; found=0; fi
done
exit $found
`),
  'bin/ipcs': script(`#!/bin/sh
# ipcs -m: the shared memory segments of this IPC namespace.
[ "$*" = "-m" ] || { echo "usage: ipcs -m" >&2; exit 2; }
echo
echo "------ Shared Memory Segments --------"
echo "key        shmid      owner      perms      bytes      nattch     status"
awk 'NR > 1 { printf "0x%08x %-10s %-10s %-10s %-10s %-10s\\n", $1, $2, $8, $3, $4, $7 }' /proc/sysvipc/shm
`),
};

/** Passwd and group of busybox plus the users the user images name. */
const PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  'www-data:x:33:33:www-data:/var/www:/bin/false',
  'nobody:x:65534:65534:nobody:/nonexistent:/bin/false',
  '',
].join('\n');
const GROUP = ['root:x:0:', 'www-data:x:33:', 'nogroup:x:65534:', ''].join('\n');

function derived(ref: string, spec: Omit<DerivedImageSpec, 'ref'>): Promise<BuiltImage> {
  return busyboxDerivedImage({
    hardLinkApplets: true,
    ...spec,
    ref,
    files: {
      ...MISSING_APPLETS,
      'etc/passwd': { content: PASSWD },
      'etc/group': { content: GROUP },
      ...spec.files,
    },
  });
}

/** The e2e busybox: busybox with a shell as its command. */
const busybox = (ref: string) => derived(ref, { createdBy: 'busybox' });

/**
 * A web server on `port` that looks like nginx's master process to the specs:
 * its name is `nginx` (pidof), its command line starts `nginx: master process`
 * (/proc/1/cmdline), its pid is in /var/run/nginx.pid; busybox httpd serves
 * /usr/share/nginx/html. busybox picks the applet from the last path element
 * of argv[0], hence the `/bin/busybox` ending the process title.
 */
function nginx(ref: string, port: number): Promise<BuiltImage> {
  return derived(ref, {
    createdBy: `nginx stand-in on port ${port}`,
    files: {
      'usr/sbin/nginx': script(`#!/bin/sh
exec -a "nginx: master process /bin/busybox" /usr/lib/nginx/nginx sh /usr/lib/nginx/master.sh
`),
      'usr/lib/nginx/master.sh': {
        content: `echo $$ > /var/run/nginx.pid
httpd -f -p ${port} -h /usr/share/nginx/html &
trap 'kill $!; exit 0' TERM QUIT INT
wait
`,
      },
      'usr/share/nginx/html/index.html': { content: '<h1>Welcome to nginx!</h1>\n' },
    },
    symlinks: { 'usr/lib/nginx/nginx': '/bin/busybox', 'var/run': '../run' },
    config: {
      Cmd: ['nginx', '-g', 'daemon off;'],
      ExposedPorts: { [`${port}/tcp`]: {} },
    },
  });
}

/** The e2e httpd: serves port 80 and logs a line naming httpd, as Apache does on start. */
const httpd = (ref: string) =>
  derived(ref, {
    createdBy: 'httpd stand-in on port 80',
    files: {
      'usr/local/bin/httpd-foreground': script(`#!/bin/sh
echo "httpd: serving /usr/local/apache2/htdocs on port 80" >&2
httpd -f -p 80 -h /usr/local/apache2/htdocs &
trap 'kill $!; exit 0' TERM INT WINCH
wait
`),
      'usr/local/apache2/htdocs/index.html': {
        content: '<html><body><h1>It works!</h1></body></html>\n',
      },
    },
    config: { Cmd: ['httpd-foreground'], ExposedPorts: { '80/tcp': {} } },
  });

/**
 * The e2e nonewprivs: prints the effective uid a setuid-root program reaches.
 * /usr/local/lib/nnp/su is a setuid-root busybox whose `su` (root has no
 * password here) runs `id -u` as root; under no_new_privs the kernel does not
 * raise its uid, su refuses to run, and the caller's own uid is printed.
 */
const nonewprivs = (ref: string) =>
  derived(ref, {
    createdBy: 'nonewprivs stand-in',
    files: {
      'usr/local/bin/nnp': script(`#!/bin/sh
if ! euid=$(/usr/local/lib/nnp/su -c 'id -u' root 2>/dev/null); then
  euid=$(id -u)
fi
echo "Effective uid: $euid"
`),
      'etc/passwd': { content: PASSWD.replace('root:x:', 'root::') },
      'etc/shells': { content: '/bin/sh\n' },
    },
    busyboxCopies: { 'usr/local/lib/nnp/su': 0o4755 },
    config: { Cmd: ['/usr/local/bin/nnp'] },
  });

/**
 * The pause image: /pause holds the pod's namespaces until SIGTERM or SIGINT
 * (exit 0) without any child process, as the real one: in a pod that shares
 * its process namespace, specs count processes by name (`pgrep sleep`).
 * It blocks reading a named pipe it also holds open for writing.
 */
const pause = (ref: string) =>
  derived(ref, {
    createdBy: 'pause stand-in',
    files: {
      pause: script(`#!/bin/sh
trap 'exit 0' TERM INT
exec 3<> /pause.fifo
while :; do read -r _ <&3; done
`),
    },
    fifos: ['pause.fifo'],
    config: { Entrypoint: ['/pause'], Cmd: undefined },
  });

/** cri-tools' user images: busybox with a USER line. */
const userImage = (user: string) => (ref: string) =>
  derived(ref, { createdBy: `USER ${user}`, config: { User: user } });

/** cri-tools' predefined-group image: default-user (1000) is in group-defined-in-image (50000). */
const predefinedGroup = (ref: string) =>
  derived(ref, {
    createdBy: 'adduser default-user; addgroup group-defined-in-image',
    files: {
      'etc/passwd': {
        content: `${PASSWD}default-user:x:1000:1000::/home/default-user:/bin/sh\n`,
      },
      'etc/group': {
        content: `${GROUP}default-user:x:1000:\ngroup-defined-in-image:x:50000:default-user\n`,
      },
    },
    config: { User: '1000' },
  });

/** cri-tools' test images: busybox plus an empty file named `name`, so each tag differs. */
const withFile = (name: string) => (ref: string) =>
  derived(ref, { createdBy: `ADD ${name} ${name}`, files: { [name]: { content: '' } } });

/** Every image the validation and benchmark suites pull, by reference. */
export const STAND_INS: StandIn[] = [
  { refs: [`${E2E}/busybox:1.29-2`], build: busybox },
  { refs: [`${E2E}/nginx:1.14-2`], build: (ref) => nginx(ref, 80) },
  { refs: [`${E2E}/httpd:2.4.39-4`], build: httpd },
  { refs: [`${E2E}/nonewprivs:1.3`], build: nonewprivs },
  // One image under both names: specs check that removing one removes both.
  {
    refs: ['registry.k8s.io/pause:3.9', 'k8s.gcr.io/pause:3.9'],
    build: pause,
  },
  {
    refs: [`${CRI_TOOLS}/hostnet-nginx-${imageArchitecture()}:latest`],
    build: (ref) => nginx(ref, 12003),
  },
  { refs: [`${CRI_TOOLS}/test-image-user-uid:latest`], build: userImage('1002') },
  { refs: [`${CRI_TOOLS}/test-image-user-username:latest`], build: userImage('www-data') },
  { refs: [`${CRI_TOOLS}/test-image-user-uid-group:latest`], build: userImage('1003:1004') },
  {
    refs: [`${CRI_TOOLS}/test-image-user-username-group:latest`],
    build: userImage('www-data:1004'),
  },
  { refs: [`${CRI_TOOLS}/test-image-predefined-group:latest`], build: predefinedGroup },
  ...['test-image-1', 'test-image-2', 'test-image-3', 'test-image-latest'].map((name) => ({
    refs: [`${CRI_TOOLS}/${name}:latest`],
    build: withFile(name),
  })),
  {
    refs: [1, 2, 3].map((t) => `${CRI_TOOLS}/test-image-tags:${t}`),
    build: withFile('same-image'),
  },
  { refs: [`${CRI_TOOLS}/test-image-tag:test`], build: withFile('test') },
  { refs: [`${CRI_TOOLS}/test-image-tag:all`], build: withFile('all') },
  {
    refs: ['1.35.0-glibc', '1-uclibc', '1', '1-glibc', '1-musl'].map(
      (t) => `${BENCH_BUSYBOX}:${t}`,
    ),
    build: busybox,
  },
];

/** The registries the references name; each gets a hosts.toml pointing at the local registry. */
export function standInRegistries(): string[] {
  return [...new Set(STAND_INS.flatMap((s) => s.refs.map((r) => r.slice(0, r.indexOf('/')))))];
}
