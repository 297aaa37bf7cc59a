// Berth's native addon: the few Linux syscalls Node's runtime does not expose and
// a shim needs — child subreaper and reaping of orphans, receiving a pty master
// over SCM_RIGHTS, mount/umount2, mknod, l*xattr, setns/unshare, close-on-exec
// for fds other libraries leave inheritable, and the namespace jobs of the
// CRI: pinning a pod's new namespaces, reading a pod's interface counters, and
// a TCP connection to localhost inside its network namespace (port-forward).
//
// Plain N-API (C, no node-addon-api). Every failing syscall throws an Error
// shaped like Node's own fs errors: code ('ENOENT'), errno (negative, as libuv
// reports it), syscall and, where there is one, path.

#define _GNU_SOURCE
#include <node_api.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/time.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#define PATH_ARG 4096
// runc refuses names of 4096 bytes or more when sending a file (utils.SendFile).
#define MAX_FD_NAME 4096

// Bail out of a napi_callback when a N-API call fails (a JS exception is pending).
#define CHECK(call)                                                                \
  do {                                                                             \
    if ((call) != napi_ok) return NULL;                                            \
  } while (0)

static napi_value make_errno_error(napi_env env, int err, const char *syscall, const char *path) {
  const char *name = strerrorname_np(err);
  char code[32];
  snprintf(code, sizeof code, "%s", name ? name : "UNKNOWN");
  // Node words these in lower case ("ENOENT: no such file or directory, open '/x'").
  char text[128];
  snprintf(text, sizeof text, "%s", strerror(err));
  text[0] = (char)tolower((unsigned char)text[0]);
  char msg[PATH_ARG + 256];
  if (path)
    snprintf(msg, sizeof msg, "%s: %s, %s '%s'", code, text, syscall, path);
  else
    snprintf(msg, sizeof msg, "%s: %s, %s", code, text, syscall);
  napi_value code_v, msg_v, error, v;
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &code_v);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &msg_v);
  napi_create_error(env, code_v, msg_v, &error);
  napi_create_int32(env, -err, &v);
  napi_set_named_property(env, error, "errno", v);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, error, "syscall", v);
  if (path) {
    napi_create_string_utf8(env, path, NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, error, "path", v);
  }
  return error;
}

static napi_value throw_errno(napi_env env, int err, const char *syscall, const char *path) {
  napi_throw(env, make_errno_error(env, err, syscall, path));
  return NULL;
}

static napi_value undefined(napi_env env) {
  napi_value v;
  napi_get_undefined(env, &v);
  return v;
}

// Reads argument i as a string into buf; null/undefined give NULL when optional.
static int get_string(napi_env env, napi_value arg, char *buf, size_t len, int optional, const char **out) {
  napi_valuetype t;
  if (napi_typeof(env, arg, &t) != napi_ok) return -1;
  if (optional && (t == napi_null || t == napi_undefined)) {
    *out = NULL;
    return 0;
  }
  size_t n;
  if (t != napi_string || napi_get_value_string_utf8(env, arg, buf, len, &n) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected a string argument");
    return -1;
  }
  if (n >= len - 1) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "string argument too long");
    return -1;
  }
  *out = buf;
  return 0;
}

static int is_exception_pending(napi_env env) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  return pending;
}

static int get_int64(napi_env env, napi_value arg, int64_t *out) {
  if (napi_get_value_int64(env, arg, out) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected a number argument");
    return -1;
  }
  return 0;
}

// Fetches exactly `want` arguments (missing ones read as undefined).
static int get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  return napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok ? 0 : -1;
}

// ---- Child subreaper ------------------------------------------------------

static napi_value set_child_subreaper(napi_env env, napi_callback_info info) {
  (void)info;
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) return throw_errno(env, errno, "prctl", NULL);
  return undefined(env);
}

static napi_value get_child_subreaper(napi_env env, napi_callback_info info) {
  (void)info;
  int flag = 0;
  if (prctl(PR_GET_CHILD_SUBREAPER, &flag, 0, 0, 0) != 0) return throw_errno(env, errno, "prctl", NULL);
  napi_value v;
  napi_get_boolean(env, flag != 0, &v);
  return v;
}

// ---- Reaping orphans next to libuv ----------------------------------------
//
// libuv reaps each child it spawned with waitpid(pid, WNOHANG) from its SIGCHLD
// handler; if someone else reaps that pid first, libuv silently never reports the
// exit and the child_process 'exit' event is lost. So waitpid(-1) and
// waitid(P_ALL) are out, and peeking with WNOWAIT on P_ALL keeps returning the
// same first zombie, which may well be libuv's.
//
// Instead we enumerate our children from /proc/self/task/<main tid>/children
// (CONFIG_PROC_CHILDREN) and waitpid(WNOHANG) each one the caller did not
// exclude. The caller (the TypeScript Reaper) excludes every live pid it saw
// created through child_process. Orphans reparented to a subreaper are attached
// to its thread-group leader, and libuv forks from the loop thread, so reading
// the leader's list only also leaves alone children forked by worker threads.
// Everything runs on the loop thread, so no spawn can slip in between building
// the exclusion list and the waitpid calls. The kernel documents this list as
// possibly incomplete while children come and go; a missed zombie is picked up
// on the next SIGCHLD or periodic sweep.

static int is_excluded(const int64_t *ex, size_t n, pid_t pid) {
  for (size_t i = 0; i < n; i++)
    if (ex[i] == pid) return 1;
  return 0;
}

static napi_value make_exit(napi_env env, pid_t pid, int status) {
  napi_value obj, v;
  napi_create_object(env, &obj);
  napi_create_int32(env, pid, &v);
  napi_set_named_property(env, obj, "pid", v);
  napi_create_int32(env, status, &v);
  napi_set_named_property(env, obj, "status", v);
  if (WIFSIGNALED(status)) {
    napi_create_int32(env, WTERMSIG(status), &v);
    napi_set_named_property(env, obj, "signal", v);
    napi_create_int32(env, 128 + WTERMSIG(status), &v);  // containerd's convention
  } else {
    napi_get_null(env, &v);
    napi_set_named_property(env, obj, "signal", v);
    napi_create_int32(env, WEXITSTATUS(status), &v);
  }
  napi_set_named_property(env, obj, "exitCode", v);
  return obj;
}

// reapExited(excludePids: number[]): {pid, status, signal, exitCode}[]
static napi_value reap_exited(napi_env env, napi_callback_info info) {
  napi_value argv[1], result;
  if (get_args(env, info, 1, argv)) return NULL;
  napi_value arr = argv[0];
  uint32_t n_ex = 0;
  bool is_array = false;
  napi_is_array(env, arr, &is_array);
  if (!is_array) {  // never default to "exclude nothing": that would steal libuv's exits
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "excludePids must be an array");
    return NULL;
  }
  napi_get_array_length(env, arr, &n_ex);
  int64_t *ex = n_ex ? calloc(n_ex, sizeof *ex) : NULL;
  if (n_ex && !ex) return throw_errno(env, ENOMEM, "reapExited", NULL);
  for (uint32_t i = 0; i < n_ex; i++) {
    napi_value el;
    napi_get_element(env, arr, i, &el);
    if (napi_get_value_int64(env, el, &ex[i]) != napi_ok) ex[i] = -1;
  }

  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
  FILE *f = fopen(path, "re");
  if (!f) {
    int err = errno;
    free(ex);
    return throw_errno(env, err, "open", path);
  }
  napi_create_array(env, &result);
  uint32_t count = 0;
  long pid;
  while (fscanf(f, "%ld", &pid) == 1) {
    if (is_excluded(ex, n_ex, (pid_t)pid)) continue;
    int status;
    pid_t r;
    do r = waitpid((pid_t)pid, &status, WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == (pid_t)pid) napi_set_element(env, result, count++, make_exit(env, r, status));
  }
  fclose(f);
  free(ex);
  return result;
}

// ---- Receiving a file descriptor over SCM_RIGHTS --------------------------
//
// runc --console-socket connects and sends the pty master with its name as the
// payload. libuv keeps accepted sockets O_NONBLOCK, so the work runs on the
// threadpool: poll() for readability up to a timeout, then one recvmsg. The
// caller has already accepted the connection, so the wait is short in practice.

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  int sock;
  int timeout_ms;
  int fd;     // received descriptor, or -1
  int err;    // errno on failure
  const char *syscall;
  char name[MAX_FD_NAME + 1];
} recv_fd_job;

static void recv_fd_execute(napi_env env, void *data) {
  (void)env;
  recv_fd_job *job = data;
  struct pollfd pfd = {.fd = job->sock, .events = POLLIN};
  int r;
  do r = poll(&pfd, 1, job->timeout_ms);
  while (r < 0 && errno == EINTR);
  if (r <= 0) {
    job->err = r == 0 ? ETIMEDOUT : errno;
    job->syscall = "poll";
    return;
  }
  union {
    struct cmsghdr hdr;
    char buf[CMSG_SPACE(sizeof(int) * 4)];
  } ctrl;
  struct iovec iov = {.iov_base = job->name, .iov_len = MAX_FD_NAME};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctrl.buf, .msg_controllen = sizeof ctrl.buf};
  ssize_t n;
  do n = recvmsg(job->sock, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  job->syscall = "recvmsg";
  if (n < 0) {
    job->err = errno;
    return;
  }
  job->name[n] = '\0';
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    int fds[4];
    memcpy(fds, CMSG_DATA(c), nfds * sizeof(int));
    for (size_t i = 0; i < nfds; i++) {  // keep the first, never leak extras
      if (job->fd < 0) job->fd = fds[i];
      else close(fds[i]);
    }
  }
  if (job->fd < 0) job->err = (msg.msg_flags & MSG_CTRUNC) ? EMSGSIZE : ENOMSG;
}

static void recv_fd_complete(napi_env env, napi_status status, void *data) {
  recv_fd_job *job = data;
  if (status != napi_ok && job->err == 0) job->err = ECANCELED;
  if (job->err) {
    if (job->fd >= 0) close(job->fd);
    napi_reject_deferred(env, job->deferred, make_errno_error(env, job->err, job->syscall ? job->syscall : "recvmsg", NULL));
  } else {
    napi_value obj, v;
    napi_create_object(env, &obj);
    napi_create_int32(env, job->fd, &v);
    napi_set_named_property(env, obj, "fd", v);
    napi_create_string_utf8(env, job->name, NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, obj, "name", v);
    napi_resolve_deferred(env, job->deferred, obj);
  }
  napi_delete_async_work(env, job->work);
  free(job);
}

// recvFd(socketFd: number, timeoutMs: number): Promise<{fd, name}>
static napi_value recv_fd(napi_env env, napi_callback_info info) {
  napi_value argv[2], promise, resource_name;
  int64_t sock, timeout;
  if (get_args(env, info, 2, argv)) return NULL;
  if (get_int64(env, argv[0], &sock) || get_int64(env, argv[1], &timeout)) return NULL;
  recv_fd_job *job = calloc(1, sizeof *job);
  if (!job) return throw_errno(env, ENOMEM, "recvFd", NULL);
  job->sock = (int)sock;
  job->timeout_ms = timeout < 0 || timeout > INT32_MAX ? -1 : (int)timeout;
  job->fd = -1;
  CHECK(napi_create_promise(env, &job->deferred, &promise));
  napi_create_string_utf8(env, "berth:recvFd", NAPI_AUTO_LENGTH, &resource_name);
  CHECK(napi_create_async_work(env, NULL, resource_name, recv_fd_execute, recv_fd_complete, job, &job->work));
  CHECK(napi_queue_async_work(env, job->work));
  return promise;
}

// ---- Mounts, device nodes, extended attributes, namespaces ----------------
// These are synchronous: they are quick local operations on the loop thread.

// mount(source: string|null, target, fstype: string|null, flags: number, data: string|null)
static napi_value do_mount(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  char src_b[PATH_ARG], tgt_b[PATH_ARG], fs_b[256], data_b[PATH_ARG * 4];
  const char *src, *tgt, *fs, *data;
  int64_t flags;
  if (get_args(env, info, 5, argv)) return NULL;
  if (get_string(env, argv[0], src_b, sizeof src_b, 1, &src) || get_string(env, argv[1], tgt_b, sizeof tgt_b, 0, &tgt) ||
      get_string(env, argv[2], fs_b, sizeof fs_b, 1, &fs) || get_int64(env, argv[3], &flags) ||
      get_string(env, argv[4], data_b, sizeof data_b, 1, &data))
    return NULL;
  if (mount(src, tgt, fs, (unsigned long)flags, data) != 0) return throw_errno(env, errno, "mount", tgt);
  return undefined(env);
}

// umount2(target: string, flags: number)
static napi_value do_umount2(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  char tgt_b[PATH_ARG];
  const char *tgt;
  int64_t flags;
  if (get_args(env, info, 2, argv)) return NULL;
  if (get_string(env, argv[0], tgt_b, sizeof tgt_b, 0, &tgt) || get_int64(env, argv[1], &flags)) return NULL;
  if (umount2(tgt, (int)flags) != 0) return throw_errno(env, errno, "umount2", tgt);
  return undefined(env);
}

// mknod(path: string, mode: number, dev: number)
static napi_value do_mknod(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  char path_b[PATH_ARG];
  const char *path;
  int64_t mode, dev;
  if (get_args(env, info, 3, argv)) return NULL;
  if (get_string(env, argv[0], path_b, sizeof path_b, 0, &path) || get_int64(env, argv[1], &mode) ||
      get_int64(env, argv[2], &dev))
    return NULL;
  if (mknod(path, (mode_t)mode, (dev_t)dev) != 0) return throw_errno(env, errno, "mknod", path);
  return undefined(env);
}

// makedev(major: number, minor: number): number (glibc's encoding, as st_rdev reports it)
static napi_value do_makedev(napi_env env, napi_callback_info info) {
  napi_value argv[2], v;
  int64_t maj, min;
  if (get_args(env, info, 2, argv)) return NULL;
  if (get_int64(env, argv[0], &maj) || get_int64(env, argv[1], &min)) return NULL;
  napi_create_int64(env, (int64_t)makedev((unsigned)maj, (unsigned)min), &v);
  return v;
}

// lsetxattr(path: string, name: string, value: Buffer, flags: number)
static napi_value do_lsetxattr(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  char path_b[PATH_ARG], name_b[256];
  const char *path, *name;
  void *value = NULL;
  size_t len = 0;
  int64_t flags;
  bool is_buf = false;
  if (get_args(env, info, 4, argv)) return NULL;
  if (get_string(env, argv[0], path_b, sizeof path_b, 0, &path) || get_string(env, argv[1], name_b, sizeof name_b, 0, &name))
    return NULL;
  napi_is_buffer(env, argv[2], &is_buf);
  if (!is_buf) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "value must be a Buffer");
    return NULL;
  }
  CHECK(napi_get_buffer_info(env, argv[2], &value, &len));
  if (get_int64(env, argv[3], &flags)) return NULL;
  if (lsetxattr(path, name, value, len, (int)flags) != 0) return throw_errno(env, errno, "lsetxattr", path);
  return undefined(env);
}

// lgetxattr(path: string, name: string): Buffer | null (null when the attribute is absent)
static napi_value do_lgetxattr(napi_env env, napi_callback_info info) {
  napi_value argv[2], out;
  char path_b[PATH_ARG], name_b[256];
  const char *path, *name;
  if (get_args(env, info, 2, argv)) return NULL;
  if (get_string(env, argv[0], path_b, sizeof path_b, 0, &path) || get_string(env, argv[1], name_b, sizeof name_b, 0, &name))
    return NULL;
  for (;;) {  // the value may grow between the size query and the read
    ssize_t size = lgetxattr(path, name, NULL, 0);
    if (size < 0) break;
    void *data;
    CHECK(napi_create_buffer(env, (size_t)size, &data, &out));
    ssize_t n = size ? lgetxattr(path, name, data, (size_t)size) : 0;
    if (n >= 0) {
      if (n < size) CHECK(napi_create_buffer_copy(env, (size_t)n, data, NULL, &out));
      return out;
    }
    if (errno != ERANGE) break;
  }
  if (errno == ENODATA) {
    napi_get_null(env, &out);
    return out;
  }
  return throw_errno(env, errno, "lgetxattr", path);
}

// llistxattr(path: string): string[]
static napi_value do_llistxattr(napi_env env, napi_callback_info info) {
  napi_value argv[1], arr, v;
  char path_b[PATH_ARG];
  const char *path;
  if (get_args(env, info, 1, argv)) return NULL;
  if (get_string(env, argv[0], path_b, sizeof path_b, 0, &path)) return NULL;
  for (;;) {
    ssize_t size = llistxattr(path, NULL, 0);
    if (size < 0) return throw_errno(env, errno, "llistxattr", path);
    char *names = malloc((size_t)size + 1);
    if (!names) return throw_errno(env, ENOMEM, "llistxattr", path);
    ssize_t n = llistxattr(path, names, (size_t)size);
    if (n < 0) {
      int err = errno;
      free(names);
      if (err == ERANGE) continue;
      return throw_errno(env, err, "llistxattr", path);
    }
    napi_create_array(env, &arr);
    uint32_t i = 0;
    for (ssize_t off = 0; off < n; off += (ssize_t)strlen(names + off) + 1) {
      napi_create_string_utf8(env, names + off, NAPI_AUTO_LENGTH, &v);
      napi_set_element(env, arr, i++, v);
    }
    free(names);
    return arr;
  }
}

// setns(fd: number, nstype: number) and unshare(flags: number). Both act on the
// calling thread only: libuv's threadpool (fs, dns) stays in the old namespaces.
static napi_value do_setns(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int64_t fd, nstype;
  if (get_args(env, info, 2, argv)) return NULL;
  if (get_int64(env, argv[0], &fd) || get_int64(env, argv[1], &nstype)) return NULL;
  if (setns((int)fd, (int)nstype) != 0) return throw_errno(env, errno, "setns", NULL);
  return undefined(env);
}

static napi_value do_unshare(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int64_t flags;
  if (get_args(env, info, 1, argv)) return NULL;
  if (get_int64(env, argv[0], &flags)) return NULL;
  if (unshare((int)flags) != 0) return throw_errno(env, errno, "unshare", NULL);
  return undefined(env);
}

// Runs fn(job) on a thread made for it, and waits for it: a thread that
// changes namespace is discarded, so neither the loop thread nor libuv's pool
// ever leaves the daemon's namespaces. Returns pthread_create's error, or 0.
static int on_throwaway_thread(void *(*fn)(void *), void *job) {
  pthread_t t;
  int rc = pthread_create(&t, NULL, fn, job);
  if (rc == 0) pthread_join(t, NULL);
  return rc;
}

// The namespace jobs below share one shape: their work runs on a throwaway
// thread and their promise settles on the loop thread. Each job's struct
// starts with NS_JOB_FIELDS, so it is an ns_job too.
typedef struct ns_job ns_job;
#define NS_JOB_FIELDS                                                              \
  napi_async_work work;                                                            \
  napi_deferred deferred;                                                          \
  const char *name;                      /* the JS function, for its errors */    \
  void *(*run)(void *);                  /* on the throwaway thread */            \
  const char *(*error_path)(ns_job *);   /* the path an error names, or NULL */   \
  napi_value (*result)(napi_env, ns_job *); /* resolved value; NULL: undefined */ \
  void (*release)(ns_job *);             /* frees what the job holds, or NULL */  \
  int err;                                                                         \
  const char *syscall;
struct ns_job {
  NS_JOB_FIELDS
};

static void ns_job_execute(napi_env env, void *data) {
  (void)env;
  ns_job *job = data;
  int rc = on_throwaway_thread(job->run, job);
  if (rc != 0) {
    job->err = rc;
    job->syscall = "pthread_create";
  }
}

static void ns_job_free(ns_job *job) {
  if (job->release) job->release(job);
  free(job);
}

static void ns_job_complete(napi_env env, napi_status status, void *data) {
  ns_job *job = data;
  if (status != napi_ok && job->err == 0) {
    job->err = ECANCELED;
    job->syscall = job->name;
  }
  if (job->err) {
    const char *path = job->error_path ? job->error_path(job) : NULL;
    napi_reject_deferred(env, job->deferred, make_errno_error(env, job->err, job->syscall, path));
  } else {
    napi_resolve_deferred(env, job->deferred, job->result ? job->result(env, job) : undefined(env));
  }
  napi_delete_async_work(env, job->work);
  ns_job_free(job);
}

// Queues a filled-in job and returns its promise; on failure the job is freed.
static napi_value ns_job_queue(napi_env env, ns_job *job) {
  napi_value promise, resource_name;
  if (napi_create_promise(env, &job->deferred, &promise) != napi_ok) {
    ns_job_free(job);
    return NULL;
  }
  napi_create_string_utf8(env, job->name, NAPI_AUTO_LENGTH, &resource_name);
  if (napi_create_async_work(env, NULL, resource_name, ns_job_execute, ns_job_complete, job, &job->work) != napi_ok) {
    ns_job_free(job);
    return NULL;
  }
  CHECK(napi_queue_async_work(env, job->work));
  return promise;
}

// pinNetns(target: string): Promise<void>. A new network namespace, bind-mounted
// onto `target` (an existing file) so it outlives every process in it. A
// namespace belongs to a thread, so the work runs on a thread made for it and
// then discarded: neither the loop thread nor libuv's pool ever leaves the
// daemon's namespace (Go's runtimes lock a throwaway OS thread the same way).
typedef struct {
  NS_JOB_FIELDS
  char target[PATH_ARG];
} pin_netns_job;

static void *pin_netns_thread(void *data) {
  pin_netns_job *job = data;
  if (unshare(CLONE_NEWNET) != 0) {
    job->err = errno;
    job->syscall = "unshare";
  } else if (mount("/proc/thread-self/ns/net", job->target, NULL, MS_BIND, NULL) != 0) {
    job->err = errno;
    job->syscall = "mount";
  }
  return NULL;
}

static const char *pin_netns_error_path(ns_job *job) { return ((pin_netns_job *)job)->target; }

static napi_value pin_netns(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (get_args(env, info, 1, argv)) return NULL;
  pin_netns_job *job = calloc(1, sizeof *job);
  if (!job) return throw_errno(env, ENOMEM, "pinNetns", NULL);
  const char *target;
  if (get_string(env, argv[0], job->target, sizeof job->target, 0, &target)) {
    free(job);
    return NULL;
  }
  job->name = "pinNetns";
  job->run = pin_netns_thread;
  job->error_path = pin_netns_error_path;
  return ns_job_queue(env, (ns_job *)job);
}

// pinPodNamespaces(netns, ipcTarget, utsTarget, hostname, sysctls): Promise<void>.
// A pod without an infra container: new IPC and UTS namespaces (each optional:
// an empty target skips it), the hostname set in the new UTS namespace, the
// pod's sysctls written ("key=value" lines, keys already validated), and each
// new namespace bind-mounted onto its target (an existing file) so it outlives
// every process in it. Sysctls under net. apply to the network namespace
// pinned at `netns`, which the thread joins first. As for pinNetns, all of it
// happens on a throwaway thread: /proc/sys and the namespaces are per thread.
typedef struct {
  NS_JOB_FIELDS
  char netns[PATH_ARG];
  char ipc[PATH_ARG];
  char uts[PATH_ARG];
  char hostname[256];
  char *sysctls;
  char failed_path[PATH_ARG];
} pin_pod_job;

static int pin_pod_fail(pin_pod_job *job, const char *syscall, const char *path) {
  job->err = errno;
  job->syscall = syscall;
  snprintf(job->failed_path, sizeof job->failed_path, "%s", path ? path : "");
  return -1;
}

static int write_sysctls(pin_pod_job *job) {
  char *save = NULL;
  for (char *line = strtok_r(job->sysctls, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    char *eq = strchr(line, '=');
    if (!eq) continue;
    *eq = 0;
    char file[PATH_ARG];
    int n = snprintf(file, sizeof file, "/proc/sys/%s", line);
    if (n < 0 || (size_t)n >= sizeof file) {
      errno = ENAMETOOLONG;
      return pin_pod_fail(job, "open", line);
    }
    for (char *c = file + strlen("/proc/sys/"); *c; c++)
      if (*c == '.') *c = '/';
    int fd = open(file, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return pin_pod_fail(job, "open", file);
    size_t len = strlen(eq + 1);
    ssize_t w = write(fd, eq + 1, len);
    int werr = errno;
    close(fd);
    if (w < 0 || (size_t)w != len) {
      errno = w < 0 ? werr : EIO;
      return pin_pod_fail(job, "write", file);
    }
  }
  return 0;
}

static int pin_pod(pin_pod_job *job) {
  if (job->netns[0]) {
    int ns = open(job->netns, O_RDONLY | O_CLOEXEC);
    if (ns < 0) return pin_pod_fail(job, "open", job->netns);
    int rc = setns(ns, CLONE_NEWNET);
    int e = errno;
    close(ns);
    errno = e;
    if (rc != 0) return pin_pod_fail(job, "setns", job->netns);
  }
  int flags = (job->ipc[0] ? CLONE_NEWIPC : 0) | (job->uts[0] ? CLONE_NEWUTS : 0);
  if (flags && unshare(flags) != 0) return pin_pod_fail(job, "unshare", NULL);
  if (job->uts[0] && job->hostname[0] && sethostname(job->hostname, strlen(job->hostname)) != 0)
    return pin_pod_fail(job, "sethostname", NULL);
  if (job->sysctls && write_sysctls(job) != 0) return -1;
  if (job->ipc[0] && mount("/proc/thread-self/ns/ipc", job->ipc, NULL, MS_BIND, NULL) != 0)
    return pin_pod_fail(job, "mount", job->ipc);
  if (job->uts[0] && mount("/proc/thread-self/ns/uts", job->uts, NULL, MS_BIND, NULL) != 0) {
    pin_pod_fail(job, "mount", job->uts);
    if (job->ipc[0]) umount2(job->ipc, MNT_DETACH);
    return -1;
  }
  return 0;
}

static void *pin_pod_thread(void *data) {
  pin_pod((pin_pod_job *)data);
  return NULL;
}

static const char *pin_pod_error_path(ns_job *job) {
  pin_pod_job *p = (pin_pod_job *)job;
  return p->failed_path[0] ? p->failed_path : NULL;
}

static void pin_pod_release(ns_job *job) { free(((pin_pod_job *)job)->sysctls); }

static napi_value pin_pod_namespaces(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (get_args(env, info, 5, argv)) return NULL;
  pin_pod_job *job = calloc(1, sizeof *job);
  if (!job) return throw_errno(env, ENOMEM, "pinPodNamespaces", NULL);
  const char *ignored;
  size_t n = 0;
  if (get_string(env, argv[0], job->netns, sizeof job->netns, 0, &ignored) ||
      get_string(env, argv[1], job->ipc, sizeof job->ipc, 0, &ignored) ||
      get_string(env, argv[2], job->uts, sizeof job->uts, 0, &ignored) ||
      get_string(env, argv[3], job->hostname, sizeof job->hostname, 0, &ignored) ||
      napi_get_value_string_utf8(env, argv[4], NULL, 0, &n) != napi_ok) {
    free(job);
    if (!is_exception_pending(env)) napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected five strings");
    return NULL;
  }
  if (n > 0) {
    job->sysctls = malloc(n + 1);
    if (!job->sysctls) {
      free(job);
      return throw_errno(env, ENOMEM, "pinPodNamespaces", NULL);
    }
    napi_get_value_string_utf8(env, argv[4], job->sysctls, n + 1, &n);
  }
  job->name = "pinPodNamespaces";
  job->run = pin_pod_thread;
  job->error_path = pin_pod_error_path;
  job->release = pin_pod_release;
  return ns_job_queue(env, (ns_job *)job);
}

// readNetDev(netnsPath): Promise<string>. /proc/net/dev as seen from inside the
// network namespace pinned at netnsPath (per-interface counters), read on a
// throwaway thread that joins it: no process needs to live in the namespace.
typedef struct {
  NS_JOB_FIELDS
  char netns[PATH_ARG];
  char text[65536];
  size_t len;
} net_dev_job;

static void *net_dev_thread(void *data) {
  net_dev_job *job = data;
  int ns = open(job->netns, O_RDONLY | O_CLOEXEC);
  if (ns < 0) {
    job->err = errno;
    job->syscall = "open";
    return NULL;
  }
  int rc = setns(ns, CLONE_NEWNET);
  int e = errno;
  close(ns);
  if (rc != 0) {
    job->err = e;
    job->syscall = "setns";
    return NULL;
  }
  int fd = open("/proc/thread-self/net/dev", O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    job->err = errno;
    job->syscall = "open";
    return NULL;
  }
  for (;;) {
    ssize_t r = read(fd, job->text + job->len, sizeof job->text - 1 - job->len);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      job->err = errno;
      job->syscall = "read";
    }
    if (r <= 0) break;
    job->len += (size_t)r;
    if (job->len == sizeof job->text - 1) break;
  }
  close(fd);
  return NULL;
}

static const char *net_dev_error_path(ns_job *job) { return ((net_dev_job *)job)->netns; }

static napi_value net_dev_result(napi_env env, ns_job *job) {
  net_dev_job *d = (net_dev_job *)job;
  napi_value text;
  napi_create_string_utf8(env, d->text, d->len, &text);
  return text;
}

static napi_value read_net_dev(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (get_args(env, info, 1, argv)) return NULL;
  net_dev_job *job = calloc(1, sizeof *job);
  if (!job) return throw_errno(env, ENOMEM, "readNetDev", NULL);
  const char *ignored;
  if (get_string(env, argv[0], job->netns, sizeof job->netns, 0, &ignored)) {
    free(job);
    return NULL;
  }
  job->name = "readNetDev";
  job->run = net_dev_thread;
  job->error_path = net_dev_error_path;
  job->result = net_dev_result;
  return ns_job_queue(env, (ns_job *)job);
}

// connectInNetns(netnsPath: string, ipv6: boolean, port: number, timeoutMs: number): Promise<number>.
// A TCP connection to localhost:port (127.0.0.1 or ::1) inside the network
// namespace pinned at netnsPath; resolves with the connected fd (close-on-exec).
// A socket belongs to the namespace it was created in, so only its creation
// needs the namespace: that happens on a throwaway thread, as for pinNetns.
typedef struct {
  NS_JOB_FIELDS
  char netns[PATH_ARG];
  int ipv6;
  int port;
  int timeout_ms;
  int fd;
} connect_netns_job;

static void *connect_netns_thread(void *data) {
  connect_netns_job *job = data;
  int ns = open(job->netns, O_RDONLY | O_CLOEXEC);
  if (ns < 0) {
    job->err = errno;
    job->syscall = "open";
    return NULL;
  }
  int rc = setns(ns, CLONE_NEWNET);
  int setns_errno = errno;
  close(ns);
  if (rc != 0) {
    job->err = setns_errno;
    job->syscall = "setns";
    return NULL;
  }
  int fd = socket(job->ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    job->err = errno;
    job->syscall = "socket";
    return NULL;
  }
  // SO_SNDTIMEO bounds a blocking connect (a listener whose backlog is full).
  struct timeval tv = {.tv_sec = job->timeout_ms / 1000, .tv_usec = (job->timeout_ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  struct sockaddr_storage addr;
  socklen_t len;
  memset(&addr, 0, sizeof addr);
  if (job->ipv6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&addr;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)job->port);
    a->sin6_addr = in6addr_loopback;
    len = sizeof *a;
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&addr;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)job->port);
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    len = sizeof *a;
  }
  do rc = connect(fd, (struct sockaddr *)&addr, len);
  while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    job->err = errno == EINPROGRESS ? ETIMEDOUT : errno;
    job->syscall = "connect";
    close(fd);
    return NULL;
  }
  // The send timeout was for connect only.
  struct timeval none = {0, 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof none);
  job->fd = fd;
  return NULL;
}

static const char *connect_netns_error_path(ns_job *job) {
  // A refused connection is about the port, not the namespace file.
  return strcmp(job->syscall, "connect") == 0 ? NULL : ((connect_netns_job *)job)->netns;
}

static napi_value connect_netns_result(napi_env env, ns_job *job) {
  napi_value fd;
  napi_create_int32(env, ((connect_netns_job *)job)->fd, &fd);
  return fd;
}

// A socket made but not handed over (the job failed or was cancelled) is closed.
static void connect_netns_release(ns_job *job) {
  connect_netns_job *c = (connect_netns_job *)job;
  if (job->err && c->fd >= 0) close(c->fd);
}

static napi_value connect_in_netns(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (get_args(env, info, 4, argv)) return NULL;
  connect_netns_job *job = calloc(1, sizeof *job);
  if (!job) return throw_errno(env, ENOMEM, "connectInNetns", NULL);
  job->fd = -1;
  const char *netns;
  bool ipv6 = false;
  int64_t port, timeout;
  if (get_string(env, argv[0], job->netns, sizeof job->netns, 0, &netns) ||
      napi_get_value_bool(env, argv[1], &ipv6) != napi_ok || get_int64(env, argv[2], &port) ||
      get_int64(env, argv[3], &timeout)) {
    free(job);
    if (!is_exception_pending(env)) napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected (string, boolean, number, number)");
    return NULL;
  }
  if (port < 1 || port > 65535 || timeout < 1 || timeout > 3600000) {
    free(job);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "port must be 1-65535 and timeout 1 ms to 1 h");
    return NULL;
  }
  job->ipv6 = ipv6;
  job->port = (int)port;
  job->timeout_ms = (int)timeout;
  job->name = "connectInNetns";
  job->run = connect_netns_thread;
  job->error_path = connect_netns_error_path;
  job->result = connect_netns_result;
  job->release = connect_netns_release;
  return ns_job_queue(env, (ns_job *)job);
}

// setWinsize(fd, rows, cols): TIOCSWINSZ on a pty master, which also delivers
// SIGWINCH to the terminal's foreground process group.
static napi_value do_set_winsize(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int64_t fd, rows, cols;
  if (get_args(env, info, 3, argv)) return NULL;
  if (get_int64(env, argv[0], &fd) || get_int64(env, argv[1], &rows) ||
      get_int64(env, argv[2], &cols))
    return NULL;
  if (rows < 0 || rows > 65535 || cols < 0 || cols > 65535) {
    napi_throw_range_error(env, NULL, "window size out of range");
    return NULL;
  }
  struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
  if (ioctl((int)fd, TIOCSWINSZ, &ws) != 0) return throw_errno(env, errno, "ioctl TIOCSWINSZ", NULL);
  return undefined(env);
}

// dup2(oldfd, newfd): how a process hands its stdio over to other files without
// closing the fds libuv already holds handles on.
static napi_value do_dup2(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int64_t oldfd, newfd;
  if (get_args(env, info, 2, argv)) return NULL;
  if (get_int64(env, argv[0], &oldfd) || get_int64(env, argv[1], &newfd)) return NULL;
  if (dup2((int)oldfd, (int)newfd) < 0) return throw_errno(env, errno, "dup2", NULL);
  return undefined(env);
}

// ---- Inherited file descriptors --------------------------------------------

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

// Calls fn on every open fd >= minfd, read from /proc/self/fd. Returns how many
// it was called on, or -1 with errno set.
static int each_fd(int minfd, int (*fn)(int fd)) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) return -1;
  int self = dirfd(d), n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (!isdigit((unsigned char)e->d_name[0])) continue;
    int fd = atoi(e->d_name);
    if (fd < minfd || fd == self) continue;
    n += fn(fd);
  }
  closedir(d);
  return n;
}

static int set_cloexec(int fd) {
  int flags = fcntl(fd, F_GETFD);
  if (flags < 0 || (flags & FD_CLOEXEC)) return 0;
  return fcntl(fd, F_SETFD, flags | FD_CLOEXEC) == 0 ? 1 : 0;
}

static int close_if_inherited(int fd) {
  int flags = fcntl(fd, F_GETFD);
  if (flags < 0 || (flags & FD_CLOEXEC)) return 0;
  return close(fd) == 0 ? 1 : 0;
}

// cloexecFrom(minfd): marks every fd >= minfd close-on-exec, so a child spawned
// next inherits only its stdio. Libraries that open files without O_CLOEXEC
// (LevelDB 1.20) would otherwise leak them into every shim. One close_range(2)
// where the kernel has it (5.11+), else a walk of /proc/self/fd.
static napi_value cloexec_from(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int64_t minfd;
  if (get_args(env, info, 1, argv) || get_int64(env, argv[0], &minfd)) return NULL;
  if (minfd < 0 || minfd > INT32_MAX) {
    napi_throw_range_error(env, NULL, "fd out of range");
    return NULL;
  }
#ifdef SYS_close_range
  if (syscall(SYS_close_range, (unsigned)minfd, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return undefined(env);
#endif
  if (each_fd((int)minfd, set_cloexec) < 0) return throw_errno(env, errno, "opendir", "/proc/self/fd");
  return undefined(env);
}

// closeInheritedFrom(minfd): closes every fd >= minfd that is not close-on-exec.
// Run first thing in a new process, these can only be fds its parent leaked
// (everything Node and libuv open is close-on-exec). Returns how many it closed.
static napi_value close_inherited_from(napi_env env, napi_callback_info info) {
  napi_value argv[1], out;
  int64_t minfd;
  if (get_args(env, info, 1, argv) || get_int64(env, argv[0], &minfd)) return NULL;
  if (minfd < 0 || minfd > INT32_MAX) {
    napi_throw_range_error(env, NULL, "fd out of range");
    return NULL;
  }
  int n = each_fd((int)minfd, close_if_inherited);
  if (n < 0) return throw_errno(env, errno, "opendir", "/proc/self/fd");
  napi_create_int32(env, n, &out);
  return out;
}

// ---- Module ----------------------------------------------------------------

// The kernel's values, so the TypeScript constants can be checked against them.
static const struct {
  const char *name;
  int64_t value;
} constants[] = {
    {"MS_RDONLY", MS_RDONLY},       {"MS_NOSUID", MS_NOSUID},         {"MS_NODEV", MS_NODEV},
    {"MS_NOEXEC", MS_NOEXEC},       {"MS_SYNCHRONOUS", MS_SYNCHRONOUS}, {"MS_REMOUNT", MS_REMOUNT},
    {"MS_DIRSYNC", MS_DIRSYNC},     {"MS_NOATIME", MS_NOATIME},       {"MS_NODIRATIME", MS_NODIRATIME},
    {"MS_BIND", MS_BIND},           {"MS_MOVE", MS_MOVE},             {"MS_REC", MS_REC},
    {"MS_SILENT", MS_SILENT},       {"MS_UNBINDABLE", MS_UNBINDABLE}, {"MS_PRIVATE", MS_PRIVATE},
    {"MS_SLAVE", MS_SLAVE},         {"MS_SHARED", MS_SHARED},         {"MS_RELATIME", MS_RELATIME},
    {"MS_STRICTATIME", MS_STRICTATIME}, {"MS_LAZYTIME", MS_LAZYTIME}, {"MNT_FORCE", MNT_FORCE},
    {"MNT_DETACH", MNT_DETACH},     {"MNT_EXPIRE", MNT_EXPIRE},       {"UMOUNT_NOFOLLOW", UMOUNT_NOFOLLOW},
    {"XATTR_CREATE", XATTR_CREATE}, {"XATTR_REPLACE", XATTR_REPLACE}, {"CLONE_NEWNS", CLONE_NEWNS},
    {"CLONE_NEWUTS", CLONE_NEWUTS}, {"CLONE_NEWIPC", CLONE_NEWIPC},   {"CLONE_NEWNET", CLONE_NEWNET},
    {"CLONE_NEWPID", CLONE_NEWPID}, {"CLONE_NEWUSER", CLONE_NEWUSER}, {"CLONE_NEWCGROUP", CLONE_NEWCGROUP},
    {"S_IFCHR", S_IFCHR},           {"S_IFBLK", S_IFBLK},             {"S_IFIFO", S_IFIFO},
};

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor fns[] = {
      {"setChildSubreaper", NULL, set_child_subreaper, NULL, NULL, NULL, napi_enumerable, NULL},
      {"getChildSubreaper", NULL, get_child_subreaper, NULL, NULL, NULL, napi_enumerable, NULL},
      {"reapExited", NULL, reap_exited, NULL, NULL, NULL, napi_enumerable, NULL},
      {"recvFd", NULL, recv_fd, NULL, NULL, NULL, napi_enumerable, NULL},
      {"mount", NULL, do_mount, NULL, NULL, NULL, napi_enumerable, NULL},
      {"umount2", NULL, do_umount2, NULL, NULL, NULL, napi_enumerable, NULL},
      {"mknod", NULL, do_mknod, NULL, NULL, NULL, napi_enumerable, NULL},
      {"makedev", NULL, do_makedev, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lsetxattr", NULL, do_lsetxattr, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lgetxattr", NULL, do_lgetxattr, NULL, NULL, NULL, napi_enumerable, NULL},
      {"llistxattr", NULL, do_llistxattr, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setns", NULL, do_setns, NULL, NULL, NULL, napi_enumerable, NULL},
      {"unshare", NULL, do_unshare, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setWinsize", NULL, do_set_winsize, NULL, NULL, NULL, napi_enumerable, NULL},
      {"dup2", NULL, do_dup2, NULL, NULL, NULL, napi_enumerable, NULL},
      {"cloexecFrom", NULL, cloexec_from, NULL, NULL, NULL, napi_enumerable, NULL},
      {"closeInheritedFrom", NULL, close_inherited_from, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pinNetns", NULL, pin_netns, NULL, NULL, NULL, napi_enumerable, NULL},
      {"connectInNetns", NULL, connect_in_netns, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pinPodNamespaces", NULL, pin_pod_namespaces, NULL, NULL, NULL, napi_enumerable, NULL},
      {"readNetDev", NULL, read_net_dev, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns));
  napi_value table, v;
  CHECK(napi_create_object(env, &table));
  for (size_t i = 0; i < sizeof constants / sizeof constants[0]; i++) {
    napi_create_int64(env, constants[i].value, &v);
    napi_set_named_property(env, table, constants[i].name, v);
  }
  CHECK(napi_set_named_property(env, exports, "constants", table));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
