// Node-API addon: the filesystem calls Node lacks, all without following a final symlink.
// Extended attributes (l*xattr) and mknod for overlay whiteouts (char 0/0), device nodes and FIFOs
// found in layers. Failures throw an Error with code (e.g. "ENODATA"), errno, syscall and path.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <node_api.h>

#define CHECK(env, call)                                                        \
  do {                                                                          \
    if ((call) != napi_ok) {                                                    \
      napi_throw_error((env), "EINTERNAL", "cnbx_native: Node-API call failed"); \
      return NULL;                                                              \
    }                                                                           \
  } while (0)

static const char *errno_name(int e) {
  switch (e) {
    case EPERM: return "EPERM";     case ENOENT: return "ENOENT";   case EIO: return "EIO";
    case EACCES: return "EACCES";   case EEXIST: return "EEXIST";   case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";   case EINVAL: return "EINVAL";   case ENOSPC: return "ENOSPC";
    case EROFS: return "EROFS";     case ERANGE: return "ERANGE";   case ENAMETOOLONG: return "ENAMETOOLONG";
    case ELOOP: return "ELOOP";     case ENODATA: return "ENODATA"; case ENOTSUP: return "ENOTSUP";
    case E2BIG: return "E2BIG";     case EDQUOT: return "EDQUOT";   case EBADF: return "EBADF";
    case EFAULT: return "EFAULT";   case ENOMEM: return "ENOMEM";
    default: return "EUNKNOWN";
  }
}

// Throws an Error carrying errno details; always returns NULL for `return throw_errno(...)`.
static napi_value throw_errno(napi_env env, int err, const char *syscall, const char *path, const char *name) {
  char msg[8192];
  if (name != NULL)
    snprintf(msg, sizeof msg, "%s: %s, %s '%s' (%s)", errno_name(err), strerror(err), syscall, path, name);
  else
    snprintf(msg, sizeof msg, "%s: %s, %s '%s'", errno_name(err), strerror(err), syscall, path);
  napi_value code, message, error, v;
  if (napi_create_string_utf8(env, errno_name(err), NAPI_AUTO_LENGTH, &code) != napi_ok) return NULL;
  if (napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message) != napi_ok) return NULL;
  if (napi_create_error(env, code, message, &error) != napi_ok) return NULL;
  if (napi_create_int32(env, -err, &v) == napi_ok) napi_set_named_property(env, error, "errno", v);
  if (napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &v) == napi_ok) napi_set_named_property(env, error, "syscall", v);
  if (napi_create_string_utf8(env, path, NAPI_AUTO_LENGTH, &v) == napi_ok) napi_set_named_property(env, error, "path", v);
  if (name != NULL && napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &v) == napi_ok)
    napi_set_named_property(env, error, "attribute", v);
  napi_throw(env, error);
  return NULL;
}

// Copies a JS string argument into a malloc'd NUL-terminated buffer (caller frees).
// Strings with an embedded NUL are rejected: the kernel would silently truncate them.
static char *get_string(napi_env env, napi_value v, const char *what) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", what);
    return NULL;
  }
  char *s = malloc(len + 1);
  if (s == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  napi_get_value_string_utf8(env, v, s, len + 1, &len);
  if (strlen(s) != len) {
    free(s);
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "string contains a NUL byte");
    return NULL;
  }
  return s;
}

static int get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return 0;
  if (argc < want) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "missing arguments");
    return 0;
  }
  return 1;
}

// llistxattr(path) -> string[]
static napi_value js_llistxattr(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  char *path = get_string(env, argv[0], "path must be a string");
  if (path == NULL) return NULL;
  char *buf = NULL;
  ssize_t n;
  for (;;) {  // the list can grow between the size query and the read: retry on ERANGE
    n = llistxattr(path, NULL, 0);
    if (n < 0) break;
    free(buf);
    buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf == NULL) { n = -1; errno = ENOMEM; break; }
    n = llistxattr(path, buf, (size_t)n);
    if (n >= 0 || errno != ERANGE) break;
  }
  if (n < 0) {
    int e = errno;
    free(buf);
    napi_value r = throw_errno(env, e, "llistxattr", path, NULL);
    free(path);
    return r;
  }
  napi_value arr;
  CHECK(env, napi_create_array(env, &arr));
  uint32_t idx = 0;
  for (ssize_t off = 0; off < n;) {
    size_t l = strnlen(buf + off, (size_t)(n - off));
    napi_value s;
    CHECK(env, napi_create_string_utf8(env, buf + off, l, &s));
    CHECK(env, napi_set_element(env, arr, idx++, s));
    off += (ssize_t)l + 1;
  }
  free(buf);
  free(path);
  return arr;
}

// lgetxattr(path, name) -> Buffer | null (null when the attribute is absent)
static napi_value js_lgetxattr(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  char *path = get_string(env, argv[0], "path must be a string");
  if (path == NULL) return NULL;
  char *name = get_string(env, argv[1], "name must be a string");
  if (name == NULL) { free(path); return NULL; }
  char *buf = NULL;
  ssize_t n;
  for (;;) {
    n = lgetxattr(path, name, NULL, 0);
    if (n < 0) break;
    free(buf);
    buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf == NULL) { n = -1; errno = ENOMEM; break; }
    n = lgetxattr(path, name, buf, (size_t)n);
    if (n >= 0 || errno != ERANGE) break;
  }
  napi_value result = NULL;
  if (n < 0) {
    int e = errno;
    if (e == ENODATA) napi_get_null(env, &result);
    else throw_errno(env, e, "lgetxattr", path, name);
  } else if (napi_create_buffer_copy(env, (size_t)n, buf, NULL, &result) != napi_ok) {
    napi_throw_error(env, "EINTERNAL", "cnbx_native: buffer allocation failed");
    result = NULL;
  }
  free(buf);
  free(name);
  free(path);
  return result;
}

// lsetxattr(path, name, value: Buffer) -> undefined
static napi_value js_lsetxattr(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!get_args(env, info, 3, argv)) return NULL;
  bool is_buf = false;
  napi_is_buffer(env, argv[2], &is_buf);
  if (!is_buf) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "value must be a Buffer");
    return NULL;
  }
  void *data = NULL;
  size_t len = 0;
  CHECK(env, napi_get_buffer_info(env, argv[2], &data, &len));
  char *path = get_string(env, argv[0], "path must be a string");
  if (path == NULL) return NULL;
  char *name = get_string(env, argv[1], "name must be a string");
  if (name == NULL) { free(path); return NULL; }
  napi_value result = NULL;
  if (lsetxattr(path, name, len > 0 ? data : "", len, 0) != 0) throw_errno(env, errno, "lsetxattr", path, name);
  else napi_get_undefined(env, &result);
  free(name);
  free(path);
  return result;
}

// lremovexattr(path, name) -> undefined
static napi_value js_lremovexattr(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  char *path = get_string(env, argv[0], "path must be a string");
  if (path == NULL) return NULL;
  char *name = get_string(env, argv[1], "name must be a string");
  if (name == NULL) { free(path); return NULL; }
  napi_value result = NULL;
  if (lremovexattr(path, name) != 0) throw_errno(env, errno, "lremovexattr", path, name);
  else napi_get_undefined(env, &result);
  free(name);
  free(path);
  return result;
}

static int get_u32(napi_env env, napi_value v, uint32_t *out, const char *what) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number || napi_get_value_uint32(env, v, out) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", what);
    return 0;
  }
  double d = 0;
  napi_get_value_double(env, v, &d);
  if (d < 0 || d != (double)*out) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", what);
    return 0;
  }
  return 1;
}

// mknod(path, mode, major, minor): mode includes the file type (S_IFCHR, S_IFBLK, S_IFIFO, ...).
// The permission bits are applied exactly (chmod after mknod) rather than filtered through the
// process umask, which is process-wide and must not be changed under Node's worker threads.
static napi_value js_mknod(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!get_args(env, info, 4, argv)) return NULL;
  uint32_t mode, major_, minor_;
  if (!get_u32(env, argv[1], &mode, "mode must be a non-negative integer")) return NULL;
  if (!get_u32(env, argv[2], &major_, "major must be a non-negative integer")) return NULL;
  if (!get_u32(env, argv[3], &minor_, "minor must be a non-negative integer")) return NULL;
  char *path = get_string(env, argv[0], "path must be a string");
  if (path == NULL) return NULL;
  napi_value result = NULL;
  if (mknod(path, (mode_t)mode, makedev(major_, minor_)) != 0) throw_errno(env, errno, "mknod", path, NULL);
  else if (chmod(path, (mode_t)mode & 07777) != 0) throw_errno(env, errno, "chmod", path, NULL);
  else napi_get_undefined(env, &result);
  free(path);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"llistxattr", NULL, js_llistxattr, NULL, NULL, NULL, napi_enumerable, NULL},
    {"lgetxattr", NULL, js_lgetxattr, NULL, NULL, NULL, napi_enumerable, NULL},
    {"lsetxattr", NULL, js_lsetxattr, NULL, NULL, NULL, napi_enumerable, NULL},
    {"lremovexattr", NULL, js_lremovexattr, NULL, NULL, NULL, napi_enumerable, NULL},
    {"mknod", NULL, js_mknod, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
