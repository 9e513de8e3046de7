// cnbx-chroot: runs ONE command (a Dockerfile RUN) inside a root directory.
//
// Protocol (see src/executor/helper-protocol.ts):
//   stdin  "CNBX-CHROOT-1\0" then "key=value\0" records until EOF, so any byte but NUL survives:
//          root= cwd= uid= gid= group=* arg=+ env=* grace_ms= resolv= hosts=
//          (resolv=/hosts= name the host files to bind; an empty value means "do not provide")
//          bind_src= bind_dst= bind_ro=0|1   (a triple per ProcessSpec.binds entry, in that order)
//          journal_dir= journal_key=         (placeholder journal, see "Journal" below; optional)
//          clean_only=1                      (only remove stale placeholders, run nothing)
//   fd 3   status records, one line each, tab-separated (falls back to stderr if fd 3 is closed):
//          E <code> <errno> <message>   setup failed (nothing was run, or exec failed)
//          W <message>                  warning (e.g. a placeholder left because it was used)
//          X <status>                   the command exited with <status>
//          S <signal>                   the command was killed by <signal>
//          K <signal>                   the helper's init was killed (abort escalation)
//          R <count>                    placeholders of killed runs removed (stale journals)
//   exit   the command's status, 128+n for a signal, 125 for a setup failure, 126/127 for exec.
//
// Processes:
//   P0 (this process, host namespaces) resolves the mount targets inside the root without ever
//      leaving it, creates missing ones as placeholders, clones
//   C2 in new mount/PID/IPC/UTS namespaces (PID 1 there): mounts /proc /sys /dev resolv.conf hosts
//      on O_PATH descriptors of the resolved targets (so a mount can only land on the inode that
//      was resolved inside the root), pivot_root()s into the root, forks
//   C3 which sets groups/gid/uid, chdir()s, drops capabilities to Docker's default set and execs.
//   C2 reaps everything and exits with C3's status; the kernel then kills whatever is left in the
//   PID namespace and the mount namespace (with every mount in it) disappears. P0 never joins the
//   new mount namespace, so it can remove the placeholders (restoring their parents' mtimes) once
//   C2 is gone. SIGTERM/SIGINT/SIGHUP/SIGQUIT to P0 are forwarded; after grace_ms (or on a second
//   signal) C2 is SIGKILLed. P0 gets SIGTERM if its parent dies, C2 gets SIGKILL if P0 dies.
//
// Journal: a SIGKILLed P0 cannot remove its placeholders. With journal_dir=/journal_key=, P0
// records each placeholder in <journal_dir>/.cnbx-chroot.<key>.<pid>-<random>.journal (an intent
// record before creating it, its inode and the parent's mtimes after) and holds an flock on that
// file for as long as the run lives (C2 inherits it). Before its own run, and in clean_only mode,
// P0 takes over every journal of the same key whose lock is free (its run is dead), removes the
// placeholders still matching the records (empty, owned by root, same inode), restores their
// parents' mtimes, and deletes the journal. A run that ends normally deletes its own journal.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/statvfs.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <grp.h>

#define MAGIC "CNBX-CHROOT-1"
#define MAX_SPEC (64u << 20)
#define EXIT_SETUP 125
#define EXIT_NOEXEC 126
#define EXIT_NOTFOUND 127
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static int status_fd = 2;

// Out of memory. Not abort(): abort()/raise() use glibc's cached thread id, which is stale in the
// child created with a raw clone() below.
static void oom(void) {
  static const char m[] = "E\tSETUP\t12\tout of memory\n";
  ssize_t w = write(status_fd, m, sizeof m - 1);
  (void)w;
  _exit(EXIT_SETUP);
}

// ---------------------------------------------------------------------------------------------
// Status records

static void record(const char *fmt, ...) {
  char buf[4000];  // below PIPE_BUF: one record is one atomic write
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n > sizeof buf - 2) n = sizeof buf - 2;
  for (int i = 0; i < n; i++)
    if (buf[i] == '\n') buf[i] = ' ';
  buf[n++] = '\n';
  ssize_t w;
  do w = write(status_fd, buf, (size_t)n); while (w < 0 && errno == EINTR);
}

// Messages never contain tabs or newlines (a path could): they are replaced by spaces.
static void clean(char *s) {
  for (; *s; s++)
    if (*s == '\t' || *s == '\n') *s = ' ';
}

static void fail_msg(const char *code, int err, const char *fmt, ...) {
  char msg[3500];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  clean(msg);
  if (err != 0) record("E\t%s\t%d\t%s: %s", code, err, msg, strerror(err));
  else record("E\t%s\t0\t%s", code, msg);
}

static void warn_msg(const char *fmt, ...) {
  char msg[3500];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  clean(msg);
  record("W\t%s", msg);
}

// ---------------------------------------------------------------------------------------------
// The spec

struct strv { char **v; size_t n, cap; };

struct bind { char *src, *dst; bool ro; };

struct spec {
  char *root, *cwd, *resolv, *hosts, *journal_dir, *journal_key;
  bool has_uid, has_gid, has_resolv, has_hosts, clean_only;
  struct bind *binds;
  size_t nbinds, binds_cap;
  uid_t uid;
  gid_t gid;
  gid_t *groups;
  size_t ngroups, groups_cap;
  struct strv argv, env;
  long grace_ms;
};

static void strv_push(struct strv *s, char *x) {
  if (s->n + 2 > s->cap) {
    s->cap = s->cap ? s->cap * 2 : 16;
    s->v = realloc(s->v, s->cap * sizeof *s->v);
    if (s->v == NULL) oom();
  }
  s->v[s->n++] = x;
  s->v[s->n] = NULL;
}

static bool parse_u32(const char *s, uint32_t *out) {
  if (*s == '\0' || strlen(s) > 10) return false;
  uint64_t v = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9') return false;
    v = v * 10 + (uint64_t)(*p - '0');
  }
  if (v > 0xfffffffeu) return false;  // (uid_t)-1 means "unchanged" to set*id()
  *out = (uint32_t)v;
  return true;
}

static char *read_all(int fd, size_t *len) {
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap + 1);
  if (buf == NULL) return NULL;
  for (;;) {
    if (n == cap) {
      if (cap >= MAX_SPEC) { free(buf); errno = E2BIG; return NULL; }
      cap *= 2;
      char *nb = realloc(buf, cap + 1);
      if (nb == NULL) { free(buf); return NULL; }
      buf = nb;
    }
    ssize_t r = read(fd, buf + n, cap - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) { free(buf); return NULL; }
    if (r == 0) break;
    n += (size_t)r;
  }
  buf[n] = '\0';
  *len = n;
  return buf;
}

static bool parse_spec(char *buf, size_t len, struct spec *sp) {
  memset(sp, 0, sizeof *sp);
  sp->grace_ms = 10000;
  size_t ml = strlen(MAGIC) + 1;
  if (len < ml || memcmp(buf, MAGIC, ml) != 0) {
    fail_msg("BAD_SPEC", 0, "stdin does not start with %s", MAGIC);
    return false;
  }
  if (buf[len - 1] != '\0') {
    fail_msg("BAD_SPEC", 0, "the spec does not end with a NUL byte");
    return false;
  }
  for (size_t off = ml; off < len;) {
    char *rec = buf + off;
    off += strlen(rec) + 1;
    char *eq = strchr(rec, '=');
    if (eq == NULL) { fail_msg("BAD_SPEC", 0, "record without '='"); return false; }
    *eq = '\0';
    char *v = eq + 1;
    uint32_t u;
    if (strcmp(rec, "root") == 0) sp->root = v;
    else if (strcmp(rec, "cwd") == 0) sp->cwd = v;
    else if (strcmp(rec, "arg") == 0) strv_push(&sp->argv, v);
    else if (strcmp(rec, "env") == 0) strv_push(&sp->env, v);
    else if (strcmp(rec, "resolv") == 0) { sp->resolv = v; sp->has_resolv = true; }
    else if (strcmp(rec, "hosts") == 0) { sp->hosts = v; sp->has_hosts = true; }
    else if (strcmp(rec, "bind_src") == 0) {
      if (sp->nbinds == sp->binds_cap) {
        sp->binds_cap = sp->binds_cap ? sp->binds_cap * 2 : 8;
        sp->binds = realloc(sp->binds, sp->binds_cap * sizeof *sp->binds);
        if (sp->binds == NULL) oom();
      }
      sp->binds[sp->nbinds++] = (struct bind){.src = v};
    } else if (strcmp(rec, "bind_dst") == 0 && sp->nbinds > 0 && sp->binds[sp->nbinds - 1].dst == NULL) sp->binds[sp->nbinds - 1].dst = v;
    else if (strcmp(rec, "bind_ro") == 0 && sp->nbinds > 0 && (strcmp(v, "0") == 0 || strcmp(v, "1") == 0)) sp->binds[sp->nbinds - 1].ro = v[0] == '1';
    else if (strcmp(rec, "journal_dir") == 0) sp->journal_dir = v;
    else if (strcmp(rec, "journal_key") == 0) sp->journal_key = v;
    else if (strcmp(rec, "clean_only") == 0 && strcmp(v, "1") == 0) sp->clean_only = true;
    else if (strcmp(rec, "uid") == 0 && parse_u32(v, &u)) { sp->uid = u; sp->has_uid = true; }
    else if (strcmp(rec, "gid") == 0 && parse_u32(v, &u)) { sp->gid = u; sp->has_gid = true; }
    else if (strcmp(rec, "group") == 0 && parse_u32(v, &u)) {
      if (sp->ngroups == sp->groups_cap) {
        sp->groups_cap = sp->groups_cap ? sp->groups_cap * 2 : 16;
        sp->groups = realloc(sp->groups, sp->groups_cap * sizeof *sp->groups);
        if (sp->groups == NULL) oom();
      }
      sp->groups[sp->ngroups++] = u;
    } else if (strcmp(rec, "grace_ms") == 0 && parse_u32(v, &u)) sp->grace_ms = u;
    else { fail_msg("BAD_SPEC", 0, "bad record '%s'", rec); return false; }
  }
  if (sp->env.v == NULL) {  // an empty environment is still a valid envp
    sp->env.v = calloc(1, sizeof *sp->env.v);
    if (sp->env.v == NULL) oom();
  }
  if (sp->root == NULL || sp->root[0] != '/') { fail_msg("BAD_SPEC", 0, "root must be an absolute path"); return false; }
  if ((sp->journal_dir == NULL) != (sp->journal_key == NULL)) { fail_msg("BAD_SPEC", 0, "journal_dir and journal_key go together"); return false; }
  if (sp->journal_dir != NULL) {
    size_t kl = strlen(sp->journal_key);
    if (sp->journal_dir[0] != '/' || kl == 0 || kl > 64 || strspn(sp->journal_key, "0123456789abcdef") != kl) {
      fail_msg("BAD_SPEC", 0, "journal_dir must be absolute and journal_key 1-64 lowercase hex digits");
      return false;
    }
  }
  if (sp->clean_only) {
    if (sp->journal_dir == NULL) { fail_msg("BAD_SPEC", 0, "clean_only needs journal_dir and journal_key"); return false; }
    return true;
  }
  for (size_t i = 0; i < sp->nbinds; i++) {
    struct bind *b = &sp->binds[i];
    if (b->src[0] != '/' || b->dst == NULL || b->dst[0] != '/') { fail_msg("BAD_SPEC", 0, "bind %zu: source and target must be absolute paths", i); return false; }
  }
  if (sp->cwd == NULL || sp->cwd[0] != '/') { fail_msg("BAD_SPEC", 0, "cwd must be an absolute path"); return false; }
  if (!sp->has_uid || !sp->has_gid) { fail_msg("BAD_SPEC", 0, "uid and gid are required"); return false; }
  if (sp->argv.n == 0 || sp->argv.v[0][0] == '\0') { fail_msg("BAD_SPEC", 0, "argv is empty"); return false; }
  if (sp->ngroups > 65536) { fail_msg("BAD_SPEC", 0, "too many groups"); return false; }
  if (!sp->has_resolv) sp->resolv = "/etc/resolv.conf";
  if (!sp->has_hosts) sp->hosts = "/etc/hosts";
  return true;
}

// ---------------------------------------------------------------------------------------------
// Resolving mount targets inside the root (P0, host mount namespace)

enum kind { K_DIR, K_FILE };

struct placeholder {
  char *parent;  // relative, "" for the root itself; symlink-free
  char *name;
  bool dir;
  bool have_ino, have_after;  // false only in a journal cut short by a kill (intent without outcome)
  dev_t dev;
  ino_t ino;
  struct timespec parent_before, parent_after;  // the parent's mtime around our creation
};

struct phlist { struct placeholder *v; size_t n, cap; };

static struct phlist phs;  // this run's placeholders, in creation order

static struct placeholder *ph_push(struct phlist *l) {
  if (l->n == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 8;
    l->v = realloc(l->v, l->cap * sizeof *l->v);
    if (l->v == NULL) oom();
  }
  struct placeholder *p = &l->v[l->n++];
  memset(p, 0, sizeof *p);
  return p;
}

struct target {
  const char *path;    // as requested, e.g. "/etc/resolv.conf"
  const char *src;     // host file to bind (resolv.conf, hosts) or the bind's source (messages)
  enum kind kind;
  bool follow;         // resolve symlinks inside the root (files, binds) or refuse them (/proc /sys /dev)
  bool bind;           // a ProcessSpec bind: may lie in the run's /dev, never in /proc or /sys
  bool ro;             // bind: read-only (recursively)
  bool in_dev;         // bind: rel is "dev/..." in the run's /dev tmpfs, resolved and created by C2
  int srcfd;           // bind: O_PATH descriptor of the source, opened by P0 (-1 otherwise); C2
                       // binds the same inode, reopened in its namespace
  char rel[PATH_MAX];  // resolved, relative to the root, symlink-free
};

static char *join_rel(char **names, size_t depth, const char *leaf) {
  size_t len = 1;
  for (size_t i = 0; i < depth; i++) len += strlen(names[i]) + 1;
  if (leaf) len += strlen(leaf) + 1;
  char *s = malloc(len);
  if (s == NULL) oom();
  s[0] = '\0';
  for (size_t i = 0; i < depth; i++) {
    if (i) strcat(s, "/");
    strcat(s, names[i]);
  }
  if (leaf) {
    if (depth) strcat(s, "/");
    strcat(s, leaf);
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// The placeholder journal (see the top of the file). Records are NUL-terminated fields, written
// with one write() each; a record cut short by a kill lacks fields and is ignored.
//   header  "CNBX-JOURNAL-1" <root>
//   P       <parent rel> <name> d|f <parent mtime sec> <nsec>        before creating the entry
//   C       <dev> <ino> <parent mtime sec> <nsec>                    after creating it

#define JOURNAL_MAGIC "CNBX-JOURNAL-1"
#define JOURNAL_PREFIX ".cnbx-chroot."
#define JOURNAL_SUFFIX ".journal"
#define JOURNAL_TMP_SUFFIX ".tmp"
#define STALE_TMP_SECONDS 60

static struct {
  const char *dir, *key, *root;  // root: the realpath, recorded in the header
  int dirfd, fd;                 // -1 until the first placeholder needs the journal
  bool failed;                   // could not be created or written: this run goes without
  char name[192];
} journal = {.dirfd = -1, .fd = -1};

static bool journal_write(const char **fields, size_t n) {
  size_t len = 0;
  for (size_t i = 0; i < n; i++) len += strlen(fields[i]) + 1;
  char *buf = malloc(len);
  if (buf == NULL) oom();
  size_t off = 0;
  for (size_t i = 0; i < n; i++) {
    size_t l = strlen(fields[i]) + 1;
    memcpy(buf + off, fields[i], l);
    off += l;
  }
  ssize_t w;
  do w = write(journal.fd, buf, len); while (w < 0 && errno == EINTR);
  free(buf);
  if (w != (ssize_t)len) {
    warn_msg("placeholder journal %s/%s: write failed (%s): if this run is killed, its placeholders stay", journal.dir, journal.name,
             w < 0 ? strerror(errno) : "short write");
    journal.failed = true;
    return false;
  }
  return true;
}

// Creates the journal on first use: written under a temporary name, locked, then renamed, so a
// cleaner never sees an unlocked journal of a live run.
static bool journal_open(void) {
  if (journal.fd >= 0) return !journal.failed;
  if (journal.dir == NULL || journal.failed) return false;
  unsigned char rnd[8] = {0};
  if (getrandom(rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    memcpy(rnd, &now.tv_nsec, sizeof rnd < sizeof now.tv_nsec ? sizeof rnd : sizeof now.tv_nsec);
  }
  char id[64], tmp[192];
  snprintf(id, sizeof id, "%d-%02x%02x%02x%02x%02x%02x%02x%02x", (int)getpid(), rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
  snprintf(journal.name, sizeof journal.name, JOURNAL_PREFIX "%s.%s" JOURNAL_SUFFIX, journal.key, id);
  snprintf(tmp, sizeof tmp, JOURNAL_PREFIX "%s.%s" JOURNAL_TMP_SUFFIX, journal.key, id);
  const char *what = "open the directory";
  journal.dirfd = open(journal.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int fd = -1;
  if (journal.dirfd >= 0) {
    what = "create";
    fd = openat(journal.dirfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
  }
  if (fd >= 0) {
    what = "lock";
    if (flock(fd, LOCK_EX) == 0) {
      journal.fd = fd;
      const char *hdr[] = {JOURNAL_MAGIC, journal.root};
      what = "write";
      if (journal_write(hdr, 2)) {
        what = "rename";
        if (renameat(journal.dirfd, tmp, journal.dirfd, journal.name) == 0) return true;
      }
    }
  }
  int e = errno;
  if (fd >= 0) {
    unlinkat(journal.dirfd, tmp, 0);
    close(fd);
  }
  journal.fd = -1;
  if (!journal.failed)
    warn_msg("no placeholder journal in %s (%s: %s): if this run is killed, its placeholders stay", journal.dir, what, strerror(e));
  journal.failed = true;
  return false;
}

static void journal_intent(const char *parent, const char *name, bool dir, struct timespec before) {
  if (!journal_open()) return;
  char s[32], ns[32];
  snprintf(s, sizeof s, "%lld", (long long)before.tv_sec);
  snprintf(ns, sizeof ns, "%ld", (long)before.tv_nsec);
  const char *f[] = {"P", parent, name, dir ? "d" : "f", s, ns};
  journal_write(f, 6);
}

static void journal_done(dev_t dev, ino_t ino, struct timespec after) {
  if (journal.fd < 0 || journal.failed) return;
  char d[32], i[32], s[32], ns[32];
  snprintf(d, sizeof d, "%llu", (unsigned long long)dev);
  snprintf(i, sizeof i, "%llu", (unsigned long long)ino);
  snprintf(s, sizeof s, "%lld", (long long)after.tv_sec);
  snprintf(ns, sizeof ns, "%ld", (long)after.tv_nsec);
  const char *f[] = {"C", d, i, s, ns};
  journal_write(f, 5);
}

// The run ended and its placeholders are dealt with: the journal has no more use.
static void journal_finish(void) {
  if (journal.fd >= 0) {
    unlinkat(journal.dirfd, journal.name, 0);  // before close(): the lock is held until it is gone
    close(journal.fd);
    journal.fd = -1;
  }
  if (journal.dirfd >= 0) close(journal.dirfd);
  journal.dirfd = -1;
}

static bool add_placeholder(int parentfd, char **names, size_t depth, const char *name, bool dir) {
  struct stat pst, st;
  if (fstat(parentfd, &pst) != 0) return false;
  char *parent = join_rel(names, depth, NULL);
  journal_intent(parent, name, dir, pst.st_mtim);  // before: a kill right after the mkdir is covered
  int rc;
  if (dir) rc = mkdirat(parentfd, name, 0755);
  else {
    rc = openat(parentfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (rc >= 0) rc = close(rc);
  }
  if (rc != 0 || fstatat(parentfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
    free(parent);
    return false;
  }
  if (dir) fchmodat(parentfd, name, 0755, 0);  // exact, whatever the umask
  else fchmodat(parentfd, name, 0644, 0);
  struct stat after;
  if (fstat(parentfd, &after) != 0) { free(parent); return false; }
  journal_done(st.st_dev, st.st_ino, after.st_mtim);
  struct placeholder *p = ph_push(&phs);
  p->parent = parent;
  p->name = strdup(name);
  if (p->name == NULL) oom();
  p->dir = dir;
  p->have_ino = p->have_after = true;
  p->dev = st.st_dev;
  p->ino = st.st_ino;
  p->parent_before = pst.st_mtim;
  p->parent_after = after.st_mtim;
  return true;
}

// Lexically normalises the path `s` (relative to some directory) into `out`: false if a ".."
// would leave that directory or the result does not fit.
static bool normalize_below(const char *s, char *out, size_t n) {
  size_t starts[1024], top = 0, len = 0;
  out[0] = '\0';
  for (const char *p = s; *p;) {
    while (*p == '/') p++;
    if (*p == '\0') break;
    const char *e = strchr(p, '/');
    size_t cl = e ? (size_t)(e - p) : strlen(p);
    if (cl == 1 && p[0] == '.') {
      // nothing
    } else if (cl == 2 && p[0] == '.' && p[1] == '.') {
      if (top == 0) return false;
      len = starts[--top];
      out[len] = '\0';
    } else {
      if (top == sizeof starts / sizeof starts[0] || len + cl + 2 > n) return false;
      starts[top++] = len;
      if (len) out[len++] = '/';
      memcpy(out + len, p, cl);
      len += cl;
      out[len] = '\0';
    }
    p += cl;
  }
  return true;
}

// Walks `t->path` from `rootfd` the way the kernel would inside a chroot: ".." stops at the root,
// absolute symlinks restart at the root. Missing components are created as placeholders
// (directories, or an empty file for a file target's last component). Fills t->rel.
// A bind whose path enters the root's /dev is not walked further: the run's /dev is a tmpfs, so
// C2 resolves the rest there (t->in_dev); a bind entering /proc or /sys is refused.
static bool resolve_target(int rootfd, struct target *t) {
  char *names[256];
  int fds[257];
  size_t depth = 0;
  int links = 0;
  bool ok = false;
  char *rest = malloc(2 * PATH_MAX + 2);
  char *leaf = NULL;
  if (rest == NULL) oom();
  snprintf(rest, 2 * PATH_MAX + 2, "%s", t->path);
  fds[0] = dup(rootfd);
  if (fds[0] < 0) { fail_msg("SETUP", errno, "dup"); goto out; }
  char *cur = rest;
  for (;;) {
    while (*cur == '/') cur++;
    if (*cur == '\0') break;
    char *slash = strchr(cur, '/');
    if (slash) *slash = '\0';
    char comp[NAME_MAX + 1];
    if (strlen(cur) > NAME_MAX) { fail_msg("UNSAFE_ROOTFS", ENAMETOOLONG, "%s", t->path); goto out; }
    strcpy(comp, cur);
    cur = slash ? slash + 1 : cur + strlen(cur);
    bool last = true;
    for (const char *q = cur; *q; q++)
      if (*q != '/') { last = false; break; }
    if (leaf != NULL) {  // a non-directory followed by more components
      fail_msg("UNSAFE_ROOTFS", ENOTDIR, "mount target %s: %s is not a directory", t->path, leaf);
      goto out;
    }
    if (strcmp(comp, ".") == 0) continue;
    if (strcmp(comp, "..") == 0) {
      if (depth > 0) { close(fds[depth]); free(names[depth - 1]); depth--; }
      continue;
    }
    if (t->bind && depth == 0 && (strcmp(comp, "dev") == 0 || strcmp(comp, "proc") == 0 || strcmp(comp, "sys") == 0)) {
      char below[PATH_MAX];
      if (normalize_below(cur, below, sizeof below)) {  // the rest stays inside /dev, /proc or /sys
        if (strcmp(comp, "dev") != 0) {
          fail_msg("UNSAFE_ROOTFS", 0, "bind target %s resolves into /%s (refused: the run's /%s is not the rootfs's)", t->path, comp, comp);
          goto out;
        }
        if (below[0] == '\0') {
          fail_msg("UNSAFE_ROOTFS", 0, "bind target %s resolves to /dev itself (refused: the run's /dev is a tmpfs of its own)", t->path);
          goto out;
        }
        if (strlen(below) + 5 > sizeof t->rel) { fail_msg("UNSAFE_ROOTFS", ENAMETOOLONG, "%s", t->path); goto out; }
        snprintf(t->rel, sizeof t->rel, "dev/%s", below);
        t->in_dev = true;
        ok = true;
        goto out;
      }
    }
    struct stat st;
    if (fstatat(fds[depth], comp, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno != ENOENT) { fail_msg("SETUP", errno, "lstat %s (resolving %s)", comp, t->path); goto out; }
      bool dir = !last || t->kind == K_DIR;
      if (!add_placeholder(fds[depth], names, depth, comp, dir)) {
        fail_msg("SETUP", errno, "cannot create placeholder %s for mount target %s", comp, t->path);
        goto out;
      }
      if (fstatat(fds[depth], comp, &st, AT_SYMLINK_NOFOLLOW) != 0) { fail_msg("SETUP", errno, "lstat %s", comp); goto out; }
    }
    if (S_ISLNK(st.st_mode)) {
      if (!t->follow) {
        fail_msg("UNSAFE_ROOTFS", 0, "mount target %s: %s in the rootfs is a symlink (refused: a mount must not leave the rootfs)", t->path, comp);
        goto out;
      }
      if (++links > 40) { fail_msg("UNSAFE_ROOTFS", ELOOP, "mount target %s", t->path); goto out; }
      char target[PATH_MAX + 1];
      ssize_t n = readlinkat(fds[depth], comp, target, PATH_MAX);
      if (n < 0) { fail_msg("SETUP", errno, "readlink %s", comp); goto out; }
      target[n] = '\0';
      if (strlen(cur) + (size_t)n + 2 > 2 * PATH_MAX) { fail_msg("UNSAFE_ROOTFS", ENAMETOOLONG, "%s", t->path); goto out; }
      size_t cl = strlen(cur);
      char *nrest = malloc((size_t)n + cl + 2);
      if (nrest == NULL) oom();
      memcpy(nrest, target, (size_t)n);
      nrest[n] = '/';
      memcpy(nrest + n + 1, cur, cl + 1);
      free(rest);
      rest = cur = nrest;
      if (target[0] == '/')
        while (depth > 0) { close(fds[depth]); free(names[depth - 1]); depth--; }
      continue;
    }
    if (S_ISDIR(st.st_mode)) {
      if (depth >= 255) { fail_msg("UNSAFE_ROOTFS", ENAMETOOLONG, "%s", t->path); goto out; }
      int fd = openat(fds[depth], comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) { fail_msg("SETUP", errno, "open %s (resolving %s)", comp, t->path); goto out; }
      names[depth] = strdup(comp);
      fds[++depth] = fd;
      continue;
    }
    leaf = strdup(comp);
  }
  if (depth == 0 && leaf == NULL) {
    fail_msg("UNSAFE_ROOTFS", 0, "mount target %s resolves to the rootfs itself", t->path);
    goto out;
  }
  if (t->kind == K_DIR && leaf != NULL) {
    fail_msg("UNSAFE_ROOTFS", ENOTDIR, "mount target %s exists in the rootfs and is not a directory", t->path);
    goto out;
  }
  if (t->kind == K_FILE) {
    struct stat st;
    if (leaf == NULL) {
      fail_msg("UNSAFE_ROOTFS", EISDIR, "mount target %s is a directory in the rootfs", t->path);
      goto out;
    }
    // resolv.conf/hosts must be regular files; a bind of a file may cover any non-directory.
    if (fstatat(fds[depth], leaf, &st, AT_SYMLINK_NOFOLLOW) != 0 || (t->bind ? S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))) {
      fail_msg("UNSAFE_ROOTFS", 0, "mount target %s is not a regular file in the rootfs", t->path);
      goto out;
    }
  }
  char *rel = join_rel(names, depth, leaf);
  if (strlen(rel) >= sizeof t->rel) { free(rel); fail_msg("UNSAFE_ROOTFS", ENAMETOOLONG, "%s", t->path); goto out; }
  strcpy(t->rel, rel);
  free(rel);
  ok = true;
out:
  while (depth > 0) { close(fds[depth]); free(names[depth - 1]); depth--; }
  if (fds[0] >= 0) close(fds[0]);
  free(leaf);
  free(rest);
  return ok;
}

// Opens `rel` (symlink-free by construction) below `rootfd`, refusing any symlink on the way:
// if one appeared since it was resolved, something is racing us. "." and ".." are refused too
// (rel also comes from journals read back from disk).
static int open_beneath(int rootfd, const char *rel, int flags) {
  char buf[PATH_MAX];
  if (snprintf(buf, sizeof buf, "%s", rel) >= (int)sizeof buf) { errno = ENAMETOOLONG; return -1; }
  int cur = dup(rootfd);
  if (cur < 0) return -1;
  char *save = NULL;
  char *comp = strtok_r(buf, "/", &save);
  while (comp != NULL) {
    char *next = strtok_r(NULL, "/", &save);
    if (strcmp(comp, ".") == 0 || strcmp(comp, "..") == 0) { close(cur); errno = EINVAL; return -1; }
    int fd = openat(cur, comp, (next ? O_PATH | O_DIRECTORY : flags) | O_NOFOLLOW | O_CLOEXEC);
    int e = errno;
    close(cur);
    if (fd < 0) { errno = e; return -1; }
    struct stat st;
    if (fstat(fd, &st) != 0 || S_ISLNK(st.st_mode)) { close(fd); errno = ELOOP; return -1; }
    cur = fd;
    comp = next;
  }
  return cur;
}

// Removes placeholders (newest first) if they are still ours and unused, and gives each parent
// back the mtime it had, so neither the entry nor a parent change reaches a layer. `stale`: the
// list comes from the journal of a killed run, so an entry must also look like a placeholder
// (owned by root, empty, of the recorded type; same inode when recorded, the device may differ
// after an overlay remount). Returns how many were removed.
static size_t remove_list(int rootfd, struct phlist *l, bool stale) {
  size_t removed = 0;
  while (l->n > 0) {
    struct placeholder *p = &l->v[--l->n];
    const char *sep = p->parent[0] ? "/" : "";
    int parent = p->parent[0] ? open_beneath(rootfd, p->parent, O_RDONLY | O_DIRECTORY) : dup(rootfd);
    if (parent < 0) {
      if (!stale || errno != ENOENT)
        warn_msg("placeholder /%s%s%s not removed: its parent cannot be opened (%s)", p->parent, sep, p->name, strerror(errno));
      goto next;
    }
    struct stat st, pre;
    if (fstatat(parent, p->name, &st, AT_SYMLINK_NOFOLLOW) != 0) goto close_next;  // gone
    if (stale) {
      bool looks = st.st_uid == 0 && (p->dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode)) && (!p->have_ino || st.st_ino == p->ino);
      if (!looks) goto close_next;  // not what we created: someone else's now
    } else if (st.st_dev != p->dev || st.st_ino != p->ino) {
      goto close_next;  // the command replaced or removed it: its business, not ours
    }
    if (fstat(parent, &pre) != 0) goto close_next;
    int rc;
    if (p->dir) rc = unlinkat(parent, p->name, AT_REMOVEDIR);
    else if (st.st_size == 0) rc = unlinkat(parent, p->name, 0);
    else { rc = -1; errno = ENOTEMPTY; }
    if (rc != 0) {
      warn_msg("placeholder /%s%s%s kept: %s", p->parent, sep, p->name, strerror(errno));
      goto close_next;
    }
    removed++;
    // If nothing but us touched the parent since the placeholder was made, it gets its original
    // mtime back; otherwise the command changed it too, and it keeps the command's mtime. (A
    // journal record without an outcome was cut short before the command could run.)
    bool untouched = !p->have_after || (pre.st_mtim.tv_sec == p->parent_after.tv_sec && pre.st_mtim.tv_nsec == p->parent_after.tv_nsec);
    struct timespec ts[2] = {{.tv_sec = 0, .tv_nsec = UTIME_OMIT}, untouched ? p->parent_before : pre.st_mtim};
    if (futimens(parent, ts) != 0) warn_msg("cannot restore the mtime of /%s: %s", p->parent, strerror(errno));
  close_next:
    close(parent);
  next:
    free(p->parent);
    free(p->name);
  }
  return removed;
}

static bool parse_ll(const char *s, long long *out) {
  if (*s == '\0') return false;
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno != 0 || *end != '\0') return false;
  *out = v;
  return true;
}

static bool safe_rel(const char *rel, bool single) {
  if (rel[0] == '/') return false;
  if (single && (rel[0] == '\0' || strchr(rel, '/') != NULL)) return false;
  char buf[PATH_MAX];
  if (snprintf(buf, sizeof buf, "%s", rel) >= (int)sizeof buf) return false;
  char *save = NULL;
  for (char *c = strtok_r(buf, "/", &save); c; c = strtok_r(NULL, "/", &save))
    if (strcmp(c, ".") == 0 || strcmp(c, "..") == 0) return false;
  return true;
}

// Reads a killed run's journal into `l`. False if it is not a journal of this root.
static bool read_journal(int fd, const char *root, struct phlist *l) {
  size_t len;
  char *buf = read_all(fd, &len);
  if (buf == NULL) return false;
  char *f[8];
  size_t nf = 0, off = 0;
  bool ok = false;
  // Fields end with NUL; whatever follows the last NUL is a record cut short.
  for (size_t i = 0; i < len; i++) {
    if (buf[i] != '\0') continue;
    char *field = buf + off;
    off = i + 1;
    if (nf < 8) f[nf++] = field;
    if (!ok) {  // the header
      if (nf == 2) {
        if (strcmp(f[0], JOURNAL_MAGIC) != 0 || strcmp(f[1], root) != 0) break;
        ok = true;
        nf = 0;
      }
      continue;
    }
    long long a, b, c, d;
    if (strcmp(f[0], "P") == 0 && nf == 6) {
      if (!safe_rel(f[1], false) || !safe_rel(f[2], true) || !parse_ll(f[4], &a) || !parse_ll(f[5], &b)) break;
      struct placeholder *p = ph_push(l);
      p->parent = strdup(f[1]);
      p->name = strdup(f[2]);
      if (p->parent == NULL || p->name == NULL) oom();
      p->dir = strcmp(f[3], "d") == 0;
      p->parent_before = (struct timespec){.tv_sec = (time_t)a, .tv_nsec = (long)b};
      nf = 0;
    } else if (strcmp(f[0], "C") == 0 && nf == 5) {
      if (l->n == 0 || !parse_ll(f[1], &a) || !parse_ll(f[2], &b) || !parse_ll(f[3], &c) || !parse_ll(f[4], &d)) break;
      struct placeholder *p = &l->v[l->n - 1];
      p->have_ino = p->have_after = true;
      p->dev = (dev_t)a;
      p->ino = (ino_t)b;
      p->parent_after = (struct timespec){.tv_sec = (time_t)c, .tv_nsec = (long)d};
      nf = 0;
    } else if (nf >= 6 || (strcmp(f[0], "P") != 0 && strcmp(f[0], "C") != 0)) {
      break;  // not a record we wrote
    }
  }
  free(buf);
  return ok;
}

// Takes over the journals of killed runs on this root (their lock is free) and undoes them.
// Returns the number of placeholders removed.
static size_t clean_stale(int rootfd) {
  if (journal.dir == NULL) return 0;
  DIR *d = opendir(journal.dir);
  if (d == NULL) {
    if (errno != ENOENT) warn_msg("cannot read the journal directory %s: %s", journal.dir, strerror(errno));
    return 0;
  }
  char prefix[128];
  snprintf(prefix, sizeof prefix, JOURNAL_PREFIX "%s.", journal.key);
  size_t pl = strlen(prefix), total = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    const char *n = e->d_name;
    size_t nl = strlen(n);
    if (strncmp(n, prefix, pl) != 0) continue;
    bool tmp = nl > strlen(JOURNAL_TMP_SUFFIX) && strcmp(n + nl - strlen(JOURNAL_TMP_SUFFIX), JOURNAL_TMP_SUFFIX) == 0;
    bool jnl = nl > strlen(JOURNAL_SUFFIX) && strcmp(n + nl - strlen(JOURNAL_SUFFIX), JOURNAL_SUFFIX) == 0;
    if (!tmp && !jnl) continue;
    int fd = openat(dirfd(d), n, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) continue;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || flock(fd, LOCK_EX | LOCK_NB) != 0) {  // locked: a live run's
      close(fd);
      continue;
    }
    if (tmp) {
      // Killed between creating and renaming its journal (no placeholder yet); a young one may
      // be a live run that has not locked it yet.
      if (time(NULL) - st.st_mtime > STALE_TMP_SECONDS) unlinkat(dirfd(d), n, 0);
      close(fd);
      continue;
    }
    struct phlist l = {0};
    if (!read_journal(fd, journal.root, &l)) {
      warn_msg("%s/%s is not a placeholder journal of %s: left alone", journal.dir, n, journal.root);
    } else {
      size_t r = remove_list(rootfd, &l, true);
      total += r;
      if (unlinkat(dirfd(d), n, 0) != 0) warn_msg("cannot remove %s/%s: %s", journal.dir, n, strerror(errno));
    }
    while (l.n > 0) { l.n--; free(l.v[l.n].parent); free(l.v[l.n].name); }
    free(l.v);
    close(fd);
  }
  closedir(d);
  return total;
}

// ---------------------------------------------------------------------------------------------
// C2: mounts, pivot_root

static int fdpath(char *buf, size_t n, int fd) { return snprintf(buf, n, "/proc/self/fd/%d", fd); }

static bool mount_on(const char *src, int fd, const char *fstype, unsigned long flags, const char *data, const char *what) {
  char p[64];
  fdpath(p, sizeof p, fd);
  if (mount(src, p, fstype, flags, data) != 0) {
    fail_msg("MOUNT", errno, "mount %s on %s", src ? src : fstype, what);
    return false;
  }
  return true;
}

// A read-only bind of a host file (or directory) onto target `rel` below rootfd.
static bool bind_ro(int rootfd, const char *src, const char *rel, unsigned long rec) {
  int fd = open_beneath(rootfd, rel, O_PATH);
  if (fd < 0) { fail_msg("MOUNT", errno, "open /%s", rel); return false; }
  bool ok = mount_on(src, fd, NULL, MS_BIND | rec, NULL, rel);
  close(fd);
  if (!ok) return false;
  fd = open_beneath(rootfd, rel, O_PATH);  // now the root of the new mount
  if (fd < 0) { fail_msg("MOUNT", errno, "open /%s", rel); return false; }
  ok = mount_on(NULL, fd, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, rel);
  close(fd);
  return ok;
}

static bool setup_dev(int rootfd) {
  int fd = open_beneath(rootfd, "dev", O_PATH);
  if (fd < 0) { fail_msg("MOUNT", errno, "open /dev"); return false; }
  // nodev: only the binds of host devices below (whose own mounts allow devices) can be opened;
  // a node a command makes here with mknod cannot (see make_nodev).
  bool ok = mount_on("tmpfs", fd, "tmpfs", MS_NOSUID | MS_NODEV | MS_STRICTATIME, "mode=755,size=65536k", "/dev");
  close(fd);
  if (!ok) return false;
  int dev = open_beneath(rootfd, "dev", O_RDONLY | O_DIRECTORY);  // the fresh tmpfs
  if (dev < 0) { fail_msg("MOUNT", errno, "open /dev"); return false; }
  static const char *nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
  for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++) {
    char host[64];
    snprintf(host, sizeof host, "/dev/%s", nodes[i]);
    struct stat st;
    if (stat(host, &st) != 0 || !S_ISCHR(st.st_mode)) continue;  // e.g. no /dev/tty in some containers
    int f = openat(dev, nodes[i], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (f < 0) { fail_msg("MOUNT", errno, "create /dev/%s", nodes[i]); close(dev); return false; }
    close(f);
    f = openat(dev, nodes[i], O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (f < 0 || !mount_on(host, f, NULL, MS_BIND, NULL, host)) { if (f >= 0) close(f); close(dev); return false; }
    close(f);
  }
  static const char *links[][2] = {{"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"}, {"stdout", "/proc/self/fd/1"},
                                    {"stderr", "/proc/self/fd/2"}, {"ptmx", "pts/ptmx"}, {"core", "/proc/kcore"}};
  for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
    if (symlinkat(links[i][1], dev, links[i][0]) != 0) { fail_msg("MOUNT", errno, "symlink /dev/%s", links[i][0]); close(dev); return false; }
  if (mkdirat(dev, "pts", 0755) != 0 || mkdirat(dev, "shm", 01777) != 0 || fchmodat(dev, "shm", 01777, 0) != 0) {
    fail_msg("MOUNT", errno, "mkdir /dev/pts, /dev/shm");
    close(dev);
    return false;
  }
  int pts = openat(dev, "pts", O_PATH | O_NOFOLLOW | O_CLOEXEC);
  int shm = openat(dev, "shm", O_PATH | O_NOFOLLOW | O_CLOEXEC);
  close(dev);
  ok = pts >= 0 && shm >= 0;
  if (ok && !mount_on("devpts", pts, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5", "/dev/pts"))
    ok = false;
  if (ok && !mount_on("shm", shm, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k", "/dev/shm")) ok = false;
  if (pts >= 0) close(pts);
  if (shm >= 0) close(shm);
  if (!ok && (pts < 0 || shm < 0)) fail_msg("MOUNT", errno, "open /dev/pts, /dev/shm");
  return ok;
}

#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

// Makes the bind mount that `fd` is the root of read-only, with the mounts below it (a recursive
// bind copies the source's submounts, which MS_REMOUNT alone would leave writable).
static bool make_readonly(int fd, const struct target *t) {
#ifdef SYS_mount_setattr
  struct { uint64_t attr_set, attr_clr, propagation, userns_fd; } attr = {.attr_set = MOUNT_ATTR_RDONLY};
  if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) == 0) return true;
  if (errno != ENOSYS) { fail_msg("MOUNT", errno, "make bind %s read-only", t->path); return false; }
#endif
  // Kernels before 5.12: the top mount only, keeping the source's nosuid/nodev/noexec.
  char p[64];
  fdpath(p, sizeof p, fd);
  struct statvfs sv;
  unsigned long keep = 0;
  if (statvfs(p, &sv) == 0) {
    if (sv.f_flag & ST_NOSUID) keep |= MS_NOSUID;
    if (sv.f_flag & ST_NODEV) keep |= MS_NODEV;
    if (sv.f_flag & ST_NOEXEC) keep |= MS_NOEXEC;
  }
  return mount_on(NULL, fd, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | keep, NULL, t->path);
}

// Binds t's source on the target `fd`, then (t->ro) makes it read-only.
static bool bind_source(int rootfd, const struct target *t, int fd) {
  // P0's descriptor is on a mount of the host namespace, which the kernel will not bind from in
  // this one (EINVAL): reopen the path in this namespace's copy and check it is the same inode.
  int sfd = open(t->src, O_PATH | O_CLOEXEC);
  struct stat a, b;
  if (sfd < 0 || fstat(sfd, &a) != 0 || fstat(t->srcfd, &b) != 0) {
    fail_msg("MOUNT", errno, "bind source %s", t->src);
    if (sfd >= 0) close(sfd);
    return false;
  }
  if (a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
    fail_msg("MOUNT", 0, "bind source %s was replaced while the run was set up", t->src);
    close(sfd);
    return false;
  }
  char src[64];
  fdpath(src, sizeof src, sfd);
  char p[64];
  fdpath(p, sizeof p, fd);
  int rc = mount(src, p, NULL, MS_BIND | MS_REC, NULL);
  int e = errno;
  close(sfd);
  if (rc != 0) {
    fail_msg("MOUNT", e, "bind %s on %s", t->src, t->path);
    return false;
  }
  if (!t->ro) return true;
  // Re-open: the path now leads to the root of the new mount.
  int top = t->in_dev ? -1 : open_beneath(rootfd, t->rel, O_PATH);
  if (t->in_dev) {
    int dev = open_beneath(rootfd, "dev", O_PATH | O_DIRECTORY);
    if (dev >= 0) {
      top = open_beneath(dev, t->rel + 4, O_PATH);
      close(dev);
    }
  }
  if (top < 0) { fail_msg("MOUNT", errno, "open %s", t->path); return false; }
  bool ok = make_readonly(top, t);
  close(top);
  return ok;
}

// A bind whose target lies in the run's /dev: the rest of the path is made in that tmpfs (so
// nothing reaches the rootfs), refusing symlinks (/dev/fd, /dev/stdout...).
static bool bind_in_dev(int rootfd, const struct target *t) {
  int cur = open_beneath(rootfd, "dev", O_RDONLY | O_DIRECTORY);  // the run's tmpfs
  if (cur < 0) { fail_msg("MOUNT", errno, "open /dev"); return false; }
  char buf[PATH_MAX];
  snprintf(buf, sizeof buf, "%s", t->rel + 4);
  char *save = NULL;
  char *comp = strtok_r(buf, "/", &save);
  while (comp != NULL) {
    char *next = strtok_r(NULL, "/", &save);
    bool dir = next != NULL || t->kind == K_DIR;
    struct stat st;
    if (fstatat(cur, comp, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      int rc = -1;
      if (errno == ENOENT) {
        if (dir) rc = mkdirat(cur, comp, 0755);
        else if ((rc = openat(cur, comp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644)) >= 0) rc = close(rc);
      }
      if (rc != 0 || fstatat(cur, comp, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        fail_msg("MOUNT", errno, "bind target %s: create %s in the run's /dev", t->path, comp);
        close(cur);
        return false;
      }
    }
    if (S_ISLNK(st.st_mode) || (dir && !S_ISDIR(st.st_mode)) || (!dir && S_ISDIR(st.st_mode))) {
      fail_msg("MOUNT", 0, "bind target %s: %s in the run's /dev is %s", t->path, comp,
               S_ISLNK(st.st_mode) ? "a symlink" : dir ? "not a directory" : "a directory");
      close(cur);
      return false;
    }
    int fd = openat(cur, comp, (next ? O_RDONLY | O_DIRECTORY : O_PATH) | O_NOFOLLOW | O_CLOEXEC);
    int e = errno;
    close(cur);
    if (fd < 0) { fail_msg("MOUNT", e, "bind target %s: open %s", t->path, comp); return false; }
    cur = fd;
    comp = next;
  }
  bool ok = bind_source(rootfd, t, cur);
  close(cur);
  return ok;
}

#ifndef MOUNT_ATTR_NODEV
#define MOUNT_ATTR_NODEV 0x00000004
#endif

// The rootfs (the bind of it made for pivot_root, with whatever is mounted below it) becomes
// nodev. Device nodes are image data: a layer may carry them and a command may make them (mknod
// is in Docker's capability set), but without the devices cgroup Docker relies on, opening one
// would reach the host's device (a block device of a disk, /dev/mem…). /dev is our own nodev
// tmpfs holding binds of the usual host devices (setup_dev).
static bool make_nodev(const char *root) {
  int fd = open(root, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);  // the root of the new bind
  if (fd < 0) { fail_msg("MOUNT", errno, "open %s", root); return false; }
#ifdef SYS_mount_setattr
  struct { uint64_t attr_set, attr_clr, propagation, userns_fd; } attr = {.attr_set = MOUNT_ATTR_NODEV};
  if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) == 0) { close(fd); return true; }
  if (errno != ENOSYS) { fail_msg("MOUNT", errno, "make %s nodev", root); close(fd); return false; }
#endif
  // Kernels before 5.12: the top mount only, keeping its other flags.
  char p[64];
  fdpath(p, sizeof p, fd);
  struct statvfs sv;
  unsigned long keep = 0;
  if (statvfs(p, &sv) == 0) {
    if (sv.f_flag & ST_RDONLY) keep |= MS_RDONLY;
    if (sv.f_flag & ST_NOSUID) keep |= MS_NOSUID;
    if (sv.f_flag & ST_NOEXEC) keep |= MS_NOEXEC;
  }
  bool ok = mount_on(NULL, fd, NULL, MS_REMOUNT | MS_BIND | MS_NODEV | keep, NULL, root);
  close(fd);
  return ok;
}

static bool setup_mounts(const char *root, struct target *targets, size_t ntargets, int *newroot) {
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) { fail_msg("MOUNT", errno, "make / private"); return false; }
  // pivot_root needs the new root to be a mount point: bind the root onto itself.
  if (mount(root, root, NULL, MS_BIND | MS_REC, NULL) != 0) { fail_msg("MOUNT", errno, "bind %s", root); return false; }
  if (!make_nodev(root)) return false;
  int rootfd = open(root, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (rootfd < 0) { fail_msg("MOUNT", errno, "open %s", root); return false; }
  for (size_t i = 0; i < ntargets; i++) {
    struct target *t = &targets[i];
    bool ok;
    if (!t->bind && strcmp(t->path, "/proc") == 0) {
      int fd = open_beneath(rootfd, t->rel, O_PATH);
      ok = fd >= 0 && mount_on("proc", fd, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, "/proc");
      if (fd < 0) fail_msg("MOUNT", errno, "open /%s", t->rel);
      else close(fd);
    } else if (!t->bind && strcmp(t->path, "/sys") == 0) {
      int fd = open_beneath(rootfd, t->rel, O_PATH);
      if (fd < 0) { fail_msg("MOUNT", errno, "open /%s", t->rel); ok = false; }
      else {
        char p[64];
        fdpath(p, sizeof p, fd);
        ok = mount("sysfs", p, "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == 0;
        close(fd);
        if (!ok) ok = bind_ro(rootfd, "/sys", t->rel, MS_REC);  // sysfs refused (e.g. in a container)
      }
    } else if (t->bind && t->in_dev) {
      ok = bind_in_dev(rootfd, t);
    } else if (t->bind) {
      int fd = open_beneath(rootfd, t->rel, O_PATH);
      if (fd < 0) { fail_msg("MOUNT", errno, "open /%s", t->rel); ok = false; }
      else {
        ok = bind_source(rootfd, t, fd);
        close(fd);
      }
    } else if (!t->bind && strcmp(t->path, "/dev") == 0) {
      ok = setup_dev(rootfd);
    } else {
      ok = bind_ro(rootfd, t->src, t->rel, 0);
    }
    if (!ok) { close(rootfd); return false; }
  }
  *newroot = rootfd;
  return true;
}

static bool enter_root(int rootfd) {
  int oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (oldroot < 0) { fail_msg("MOUNT", errno, "open /"); return false; }
  if (fchdir(rootfd) != 0) { fail_msg("MOUNT", errno, "chdir to the root"); return false; }
  // pivot_root(".", ".") stacks the old root on top of the new one; detaching it leaves only the
  // new root visible in this mount namespace (pivot_root(2), "NOTES").
  if (syscall(SYS_pivot_root, ".", ".") != 0) { fail_msg("MOUNT", errno, "pivot_root"); return false; }
  if (fchdir(oldroot) != 0) { fail_msg("MOUNT", errno, "fchdir"); return false; }
  if (umount2(".", MNT_DETACH) != 0) { fail_msg("MOUNT", errno, "detach the old root"); return false; }
  if (chdir("/") != 0) { fail_msg("MOUNT", errno, "chdir /"); return false; }
  close(oldroot);
  close(rootfd);
  return true;
}

// ---------------------------------------------------------------------------------------------
// C3: credentials, capabilities, exec

// Docker's default capability set for RUN: CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID
// SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP. Without CAP_SYS_ADMIN
// the command cannot mount over or out of its root.
static bool default_cap(int c) {
  switch (c) {
    case CAP_CHOWN: case CAP_DAC_OVERRIDE: case CAP_FOWNER: case CAP_FSETID: case CAP_KILL:
    case CAP_SETGID: case CAP_SETUID: case CAP_SETPCAP: case CAP_NET_BIND_SERVICE: case CAP_NET_RAW:
    case CAP_SYS_CHROOT: case CAP_MKNOD: case CAP_AUDIT_WRITE: case CAP_SETFCAP:
      return true;
    default:
      return false;
  }
}

static bool drop_caps(void) {
  for (int c = 0; c < 64; c++) {
    if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) < 0) break;  // past the kernel's last capability
    if (!default_cap(c) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0) { fail_msg("SETUP", errno, "drop capability %d", c); return false; }
  }
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct d[2];
  if (syscall(SYS_capget, &h, d) != 0) { fail_msg("SETUP", errno, "capget"); return false; }
  for (int i = 0; i < 2; i++) {
    uint32_t keep = 0;
    for (int b = 0; b < 32; b++)
      if (default_cap(i * 32 + b)) keep |= 1u << b;
    d[i].inheritable &= keep;
  }
  if (syscall(SYS_capset, &h, d) != 0) { fail_msg("SETUP", errno, "capset"); return false; }
  return true;
}

static const char *env_get(char **env, const char *name) {
  size_t n = strlen(name);
  for (; env && *env; env++)
    if (strncmp(*env, name, n) == 0 && (*env)[n] == '=') return *env + n + 1;
  return NULL;
}

// execve with a PATH search that uses the command's own environment (like Docker), not ours.
static void exec_command(char **argv, char **envp) {
  if (strchr(argv[0], '/') != NULL) {
    execve(argv[0], argv, envp);
    int e = errno;
    fail_msg("EXEC", e, "exec %s", argv[0]);
    _exit(e == ENOENT ? EXIT_NOTFOUND : EXIT_NOEXEC);
  }
  const char *path = env_get(envp, "PATH");
  if (path == NULL) path = DEFAULT_PATH;
  int first_err = ENOENT;
  for (const char *p = path;;) {
    const char *colon = strchr(p, ':');
    size_t dl = colon ? (size_t)(colon - p) : strlen(p);
    char file[PATH_MAX];
    if (dl == 0) snprintf(file, sizeof file, "%s", argv[0]);  // empty entry = current directory
    else snprintf(file, sizeof file, "%.*s/%s", (int)dl, p, argv[0]);
    execve(file, argv, envp);
    if (errno != ENOENT && errno != ENOTDIR && errno != ESTALE) {
      if (first_err == ENOENT) first_err = errno;
      if (errno != EACCES) break;
    }
    if (colon == NULL) break;
    p = colon + 1;
  }
  if (first_err == ENOENT) fail_msg("EXEC", ENOENT, "%s: executable file not found in $PATH (%s)", argv[0], path);
  else fail_msg("EXEC", first_err, "exec %s", argv[0]);
  _exit(first_err == ENOENT ? EXIT_NOTFOUND : EXIT_NOEXEC);
}

static void run_command(struct spec *sp) {
  sigset_t none;
  sigemptyset(&none);
  for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
  sigprocmask(SIG_SETMASK, &none, NULL);
  int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null < 0 || dup2(null, 0) < 0) { fail_msg("SETUP", errno, "open /dev/null as stdin"); _exit(EXIT_SETUP); }
  close(null);
  // As root, before dropping privileges: a WORKDIR only its owner can enter still works.
  if (chdir(sp->cwd) != 0) {
    fail_msg("NO_WORKDIR", errno, "working directory %s", sp->cwd);
    _exit(EXIT_SETUP);
  }
  if (!drop_caps()) _exit(EXIT_SETUP);
  if (setgroups(sp->ngroups, sp->groups) != 0) { fail_msg("SETUP", errno, "setgroups"); _exit(EXIT_SETUP); }
  if (setresgid(sp->gid, sp->gid, sp->gid) != 0) { fail_msg("SETUP", errno, "setgid %u", (unsigned)sp->gid); _exit(EXIT_SETUP); }
  if (setresuid(sp->uid, sp->uid, sp->uid) != 0) { fail_msg("SETUP", errno, "setuid %u", (unsigned)sp->uid); _exit(EXIT_SETUP); }
  exec_command(sp->argv.v, sp->env.v);
}

// ---------------------------------------------------------------------------------------------
// C2: PID 1 of the new namespaces

static void block_signals(sigset_t *set) {
  sigemptyset(set);
  int sigs[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGALRM};
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaddset(set, sigs[i]);
  sigprocmask(SIG_BLOCK, set, NULL);
}

static int exit_code_of(int st) {
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return EXIT_SETUP;
}

static void init_main(struct spec *sp, const char *root, struct target *targets, size_t ntargets, int alive) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  struct pollfd pf = {.fd = alive, .events = POLLIN};
  if (poll(&pf, 1, 0) > 0) _exit(EXIT_SETUP);  // P0 died before PR_SET_PDEATHSIG took effect
  close(alive);
  sigset_t set;
  block_signals(&set);
  int rootfd;
  if (!setup_mounts(root, targets, ntargets, &rootfd)) _exit(EXIT_SETUP);
  // The command can read /proc/1/fd (it is root like us): no descriptor of a host path may stay
  // open here, or a read-only bind's source could be reopened writable through it.
  for (size_t i = 0; i < ntargets; i++)
    if (targets[i].srcfd >= 0) close(targets[i].srcfd);
  if (journal.fd >= 0) close(journal.fd);
  if (journal.dirfd >= 0) close(journal.dirfd);
  if (!enter_root(rootfd)) _exit(EXIT_SETUP);
  pid_t cmd = fork();
  if (cmd < 0) { fail_msg("SETUP", errno, "fork"); _exit(EXIT_SETUP); }
  if (cmd == 0) run_command(sp);
  for (;;) {
    int sig = sigwaitinfo(&set, NULL);
    if (sig < 0) continue;
    if (sig == SIGCHLD) {
      int st;
      pid_t w;
      while ((w = waitpid(-1, &st, WNOHANG)) > 0) {
        if (w != cmd) continue;  // an orphan re-parented to us
        if (WIFSIGNALED(st)) record("S\t%d", WTERMSIG(st));
        else record("X\t%d", WEXITSTATUS(st));
        // Exiting makes the kernel kill everything left in this PID namespace.
        _exit(exit_code_of(st));
      }
    } else if (sig != SIGALRM) {
      kill(-1, sig);  // every process of the namespace but us
    }
  }
}

// ---------------------------------------------------------------------------------------------
// P0

int main(void) {
  sigset_t set;
  block_signals(&set);
  prctl(PR_SET_PDEATHSIG, SIGTERM);  // our parent (the build) died: stop the RUN and clean up
  if (fcntl(3, F_GETFD) >= 0) {
    status_fd = 3;
    fcntl(3, F_SETFD, FD_CLOEXEC);
  }
  size_t len;
  char *buf = read_all(0, &len);
  if (buf == NULL) { fail_msg("BAD_SPEC", errno, "read the spec from stdin"); return EXIT_SETUP; }
  struct spec sp;
  if (!parse_spec(buf, len, &sp)) return EXIT_SETUP;

  char *root = realpath(sp.root, NULL);
  if (root == NULL) { fail_msg("BAD_SPEC", errno, "root %s", sp.root); return EXIT_SETUP; }
  if (strcmp(root, "/") == 0) { fail_msg("BAD_SPEC", 0, "the root must not be the host's /"); return EXIT_SETUP; }
  int rootfd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (rootfd < 0) { fail_msg("BAD_SPEC", errno, "root %s", root); return EXIT_SETUP; }

  journal.dir = sp.journal_dir;
  journal.key = sp.journal_key;
  journal.root = root;
  // Placeholders of killed runs on this root go first: the rootfs is then as its image made it.
  size_t stale = clean_stale(rootfd);
  if (sp.clean_only) {
    record("R\t%zu", stale);
    close(rootfd);
    return 0;
  }
  if (stale > 0) record("R\t%zu", stale);

  struct target *targets = calloc(5 + sp.nbinds, sizeof *targets);
  if (targets == NULL) oom();
  targets[0] = (struct target){.path = "/proc", .kind = K_DIR, .follow = false, .srcfd = -1};
  targets[1] = (struct target){.path = "/sys", .kind = K_DIR, .follow = false, .srcfd = -1};
  targets[2] = (struct target){.path = "/dev", .kind = K_DIR, .follow = false, .srcfd = -1};
  size_t ntargets = 3;
  const char *files[][2] = {{"/etc/resolv.conf", sp.resolv}, {"/etc/hosts", sp.hosts}};
  for (size_t i = 0; i < 2; i++) {
    const char *src = files[i][1];
    if (src == NULL || src[0] == '\0') continue;
    struct stat st;
    if (stat(src, &st) != 0 || !S_ISREG(st.st_mode)) continue;  // nothing on the host to provide
    targets[ntargets++] = (struct target){.path = files[i][0], .src = src, .kind = K_FILE, .follow = true, .srcfd = -1};
  }
  size_t nfixed = ntargets;

  int code = EXIT_SETUP;
  bool ok = true;
  // Bind sources are host paths chosen by the caller: opened here to learn their type, and C2
  // binds only that same inode, whatever happens to the path meanwhile.
  for (size_t i = 0; ok && i < sp.nbinds; i++) {
    struct bind *b = &sp.binds[i];
    int fd = open(b->src, O_PATH | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
      fail_msg("BAD_SPEC", errno, "bind source %s", b->src);
      if (fd >= 0) close(fd);
      ok = false;
      break;
    }
    targets[ntargets++] = (struct target){.path = b->dst, .src = b->src, .kind = S_ISDIR(st.st_mode) ? K_DIR : K_FILE,
                                          .follow = true, .bind = true, .ro = b->ro, .srcfd = fd};
  }
  for (size_t i = 0; ok && i < ntargets; i++) ok = resolve_target(rootfd, &targets[i]);
  // A file target that resolves into /proc, /sys or /dev would be hidden by that mount.
  for (size_t i = 3; ok && i < nfixed; i++)
    for (size_t j = 0; ok && j < 3; j++) {
      size_t l = strlen(targets[j].rel);
      if (strncmp(targets[i].rel, targets[j].rel, l) == 0 && (targets[i].rel[l] == '/' || targets[i].rel[l] == '\0')) {
        fail_msg("UNSAFE_ROOTFS", 0, "mount target %s resolves to /%s, inside %s", targets[i].path, targets[i].rel, targets[j].path);
        ok = false;
      }
    }
  // Binds must not overlap: one inside another would be resolved in the rootfs but land in the
  // other's source (on the host), where no placeholder may be made.
  for (size_t i = nfixed; ok && i < ntargets; i++)
    for (size_t j = nfixed; ok && j < i; j++) {
      const char *a = targets[i].rel, *b = targets[j].rel;
      size_t la = strlen(a), lb = strlen(b), l = la < lb ? la : lb;
      if (strncmp(a, b, l) == 0 && (a[l] == '\0' || a[l] == '/') && (b[l] == '\0' || b[l] == '/')) {
        fail_msg("BAD_SPEC", 0, "bind targets %s and %s overlap (/%s, /%s): bind the outer one only", targets[j].path, targets[i].path, b, a);
        ok = false;
      }
    }
  sigset_t pending;
  sigpending(&pending);
  if (ok && (sigismember(&pending, SIGTERM) || sigismember(&pending, SIGINT) || sigismember(&pending, SIGHUP))) {
    fail_msg("ABORTED", 0, "stopped before the command started");
    code = 128 + SIGTERM;
    ok = false;
  }

  if (ok) {
    int alive[2] = {-1, -1};
    if (pipe2(alive, O_CLOEXEC) != 0) { fail_msg("SETUP", errno, "pipe"); ok = false; }
    pid_t init = -1;
    if (ok) {
      init = (pid_t)syscall(SYS_clone, CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | SIGCHLD, NULL, NULL, NULL, NULL);
      if (init < 0) { fail_msg("SETUP", errno, "clone new namespaces"); ok = false; }
      else if (init == 0) {
        close(alive[1]);
        close(rootfd);
        init_main(&sp, root, targets, ntargets, alive[0]);
        _exit(EXIT_SETUP);
      }
      close(alive[0]);
    }
    bool stopping = false;
    while (ok) {
      int sig = sigwaitinfo(&set, NULL);
      if (sig < 0) continue;
      if (sig == SIGCHLD) {
        int st;
        pid_t w = waitpid(init, &st, WNOHANG);
        if (w != init) continue;
        if (WIFSIGNALED(st)) record("K\t%d", WTERMSIG(st));
        code = exit_code_of(st);
        break;
      }
      if (sig == SIGALRM || stopping) {  // grace period over, or asked twice
        kill(init, SIGKILL);
        continue;
      }
      stopping = true;
      kill(init, SIGTERM);
      struct itimerval it = {.it_value = {.tv_sec = sp.grace_ms / 1000, .tv_usec = (sp.grace_ms % 1000) * 1000}};
      if (sp.grace_ms == 0) kill(init, SIGKILL);
      else setitimer(ITIMER_REAL, &it, NULL);
    }
    if (alive[1] >= 0) close(alive[1]);
  }
  remove_list(rootfd, &phs, false);
  journal_finish();
  close(rootfd);
  return code;
}
