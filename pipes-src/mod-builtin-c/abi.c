// The collector ABI (sdk/collectorabi/README.md) for the built-in modules:
// exports, the registry, encoding, host calls and the helpers the modules
// share. A guest is one single-threaded instance whose calls never
// overlap, so its state lives in file-level variables.
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builtin.h"

// Sorted by name: canopy_collector_modules lists them in this order, as
// the Go registry does.
static module *const mods[] = {&mod_accesslog, &mod_cpu, &mod_disk, &mod_load, &mod_mem, &mod_net, &mod_nginx, &mod_url};
enum { NMODS = sizeof mods / sizeof mods[0] };

static uint8_t *inbuf;
static int32_t incap;
static buf out;

// ---- buffers and encoding (little-endian, as the ABI) ----

void buf_reserve(buf *b, size_t more) {
  if (b->n + more <= b->cap) return;
  size_t c = b->cap ? b->cap : 256;
  while (c < b->n + more) c *= 2;
  uint8_t *p = realloc(b->p, c);
  if (!p) abort(); // the instance traps; the agent makes a new one
  b->p = p;
  b->cap = c;
}

void buf_bytes(buf *b, const void *p, size_t n) {
  buf_reserve(b, n);
  if (n) memcpy(b->p + b->n, p, n);
  b->n += n;
}

void buf_u8(buf *b, uint8_t v) { buf_bytes(b, &v, 1); }
void buf_u32(buf *b, uint32_t v) { buf_bytes(b, &v, 4); }
void buf_f64(buf *b, double v) { buf_bytes(b, &v, 8); }

void buf_str(buf *b, const char *s, size_t n) {
  buf_u32(b, (uint32_t)n);
  buf_bytes(b, s, n);
}

void buf_cstr(buf *b, const char *s) { buf_str(b, s, strlen(s)); }

typedef struct {
  const uint8_t *p;
  size_t n, off;
  int err;
} dec;

static uint32_t d_u32(dec *d) {
  uint32_t v = 0;
  if (d->err || d->n - d->off < 4) {
    d->err = 1;
    return 0;
  }
  memcpy(&v, d->p + d->off, 4);
  d->off += 4;
  return v;
}

static sl d_str(dec *d) {
  sl s = {"", 0};
  uint32_t n = d_u32(d);
  if (d->err || d->n - d->off < n) {
    d->err = 1;
    return s;
  }
  s.p = (const char *)d->p + d->off;
  s.n = n;
  d->off += n;
  return s;
}

static int64_t d_i64(dec *d) {
  int64_t v = 0;
  if (d->err || d->n - d->off < 8) {
    d->err = 1;
    return 0;
  }
  memcpy(&v, d->p + d->off, 8);
  d->off += 8;
  return v;
}

static char *dup_sl(sl s) {
  char *c = malloc(s.n + 1);
  if (!c) abort();
  memcpy(c, s.p, s.n);
  c[s.n] = 0;
  return c;
}

// ---- small helpers ----

int sl_eq(sl s, const char *c) { return strlen(c) == s.n && memcmp(s.p, c, s.n) == 0; }

int has_prefix(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

static int space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

int fields(const char *s, size_t n, sl *f, int max) {
  int k = 0;
  size_t i = 0;
  while (i < n) {
    while (i < n && space(s[i])) i++;
    if (i == n) break;
    size_t start = i;
    while (i < n && !space(s[i])) i++;
    if (k < max) {
      f[k].p = s + start;
      f[k].n = i - start;
    }
    k++;
  }
  return k;
}

int next_line(const char *s, size_t n, size_t *off, sl *line) {
  if (*off >= n) return 0;
  const char *nl = memchr(s + *off, '\n', n - *off);
  size_t end = nl ? (size_t)(nl - s) : n;
  line->p = s + *off;
  line->n = end - *off;
  *off = nl ? end + 1 : n;
  return 1;
}

int parse_u64(sl s, uint64_t *v) {
  if (s.n == 0) return -1;
  uint64_t x = 0;
  for (size_t i = 0; i < s.n; i++) {
    unsigned d = (unsigned char)s.p[i] - '0';
    if (d > 9 || x > (UINT64_MAX - d) / 10) return -1;
    x = x * 10 + d;
  }
  *v = x;
  return 0;
}

int parse_f64(sl s, double *v) {
  char tmp[64];
  if (s.n == 0 || s.n >= sizeof tmp || space(s.p[0])) return -1;
  memcpy(tmp, s.p, s.n);
  tmp[s.n] = 0;
  char *end;
  double x = strtod(tmp, &end);
  if (*end) return -1;
  *v = x;
  return 0;
}

int parse_int(const char *s, long *v) {
  if (!*s || space(*s)) return -1;
  char *end;
  errno = 0;
  long x = strtol(s, &end, 10);
  if (*end || errno) return -1;
  *v = x;
  return 0;
}

sl trim(sl s) {
  while (s.n && space(s.p[0])) s.p++, s.n--;
  while (s.n && space(s.p[s.n - 1])) s.n--;
  return s;
}

int list_has(const char *list, const char *item, size_t n) {
  size_t len = strlen(list), off = 0;
  while (off <= len) {
    const char *c = memchr(list + off, ',', len - off);
    size_t end = c ? (size_t)(c - list) : len;
    sl x = trim((sl){list + off, end - off});
    if (x.n && x.n == n && memcmp(x.p, item, n) == 0) return 1;
    off = end + 1;
  }
  return 0;
}

int list_empty(const char *list) {
  for (; *list; list++)
    if (*list != ',' && !space(*list)) return 0;
  return 1;
}

const char *errf(const char *fmt, ...) {
  // Formatted apart first: an argument may be the previous error text.
  static char msg[512];
  char tmp[sizeof msg];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  memcpy(msg, tmp, sizeof msg);
  return msg;
}

// The files read_file keeps open, by path. The system modules read the
// same few /proc files every interval; an open and a close per read cost
// the host a path walk, two calls and a file-table entry more than a pread
// from offset 0 (procfs regenerates a file read from offset 0).
typedef struct {
  char *path;
  int fd; // -1: not open
} open_file;

static open_file *open_files;
static int nopen_files, capopen_files;

static open_file *open_entry(const char *path) {
  for (int i = 0; i < nopen_files; i++)
    if (strcmp(open_files[i].path, path) == 0) return &open_files[i];
  if (nopen_files == capopen_files) {
    int c = capopen_files ? capopen_files * 2 : 8;
    open_file *p = realloc(open_files, (size_t)c * sizeof *p);
    if (!p) abort();
    open_files = p;
    capopen_files = c;
  }
  open_file *f = &open_files[nopen_files++];
  f->path = dup_sl((sl){path, strlen(path)});
  f->fd = -1;
  return f;
}

static void close_entry(open_file *f) {
  if (f->fd >= 0) close(f->fd);
  f->fd = -1;
}

// pread_all reads the whole file at fd from offset 0 into b; returns 0 or
// an errno. A short read is not the end (procfs returns a page at a
// time): the end is a read of 0 bytes.
static int pread_all(int fd, buf *b) {
  b->n = 0;
  for (;;) {
    buf_reserve(b, 4096);
    ssize_t r = pread(fd, b->p + b->n, b->cap - b->n, (off_t)b->n);
    if (r < 0) return errno;
    if (r == 0) return 0;
    b->n += (size_t)r;
  }
}

const char *read_file(const char *path, buf *b) {
  b->n = 0;
  open_file *f = open_entry(path);
  // A file removed or replaced since the last read (its inode has no
  // link left) is opened again, so the module sees what the path names
  // now, or that it is gone.
  struct stat st;
  if (f->fd >= 0 && (fstat(f->fd, &st) != 0 || st.st_nlink == 0)) close_entry(f);
  for (int attempt = 0;; attempt++) {
    int reused = f->fd >= 0;
    if (!reused) {
      f->fd = open(path, O_RDONLY);
      if (f->fd < 0) return errf("open %s: %s", path, strerror(errno));
    }
    int e = pread_all(f->fd, b);
    if (e == 0) return NULL;
    close_entry(f);
    // A read that fails on a kept descriptor (its file system went away)
    // gets one fresh open.
    if (!reused || attempt > 0) return errf("read %s: %s", path, strerror(e));
  }
}

double monotonic(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *param_get(const params *p, const char *key) {
  for (int i = 0; i < p->n; i++)
    if (strcmp(p->kv[i].key, key) == 0) return p->kv[i].val;
  return "";
}

value number(double v) { return (value){V_NUMBER, v, NULL}; }
value missing(const char *why) { return (value){V_MISSING, 0, why}; }

static void clear_metrics(module *m) {
  for (int i = 0; i < m->nmetrics; i++) {
    free(m->metrics[i].name);
    free(m->metrics[i].desc);
  }
  m->nmetrics = 0;
}

static char *vfmt(const char *fmt, va_list ap) {
  char tmp[1100];
  vsnprintf(tmp, sizeof tmp, fmt, ap);
  return dup_sl((sl){tmp, strlen(tmp)});
}

metric *add_metric(module *m, uint8_t type, const char *units, uint8_t slope, const char *format,
                   const char *groups, const char *name_fmt, ...) {
  if (m->nmetrics == m->capmetrics) {
    int c = m->capmetrics ? m->capmetrics * 2 : 16;
    metric *p = realloc(m->metrics, (size_t)c * sizeof *p);
    if (!p) abort();
    m->metrics = p;
    m->capmetrics = c;
  }
  metric *mt = &m->metrics[m->nmetrics++];
  memset(mt, 0, sizeof *mt);
  va_list ap;
  va_start(ap, name_fmt);
  mt->name = vfmt(name_fmt, ap);
  va_end(ap);
  mt->type = type;
  mt->units = units;
  mt->slope = slope;
  mt->format = format;
  mt->groups = groups;
  return mt;
}

void describe(metric *mt, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  mt->desc = vfmt(fmt, ap);
  va_end(ap);
}

void forward_line(module *m, const char *p, size_t n) {
  buf_str(&m->forward, p, n);
  m->nforward++;
}

// ---- host calls ----

__attribute__((import_module("canopy_collector"), import_name("http_get"))) int32_t
canopy_http_get(const char *url, int32_t len, int32_t timeout_ms);
__attribute__((import_module("canopy_collector"), import_name("tail_read"))) int32_t
canopy_tail_read(const char *path, int32_t len, int32_t max);
__attribute__((import_module("canopy_collector"), import_name("statfs"))) int32_t
canopy_statfs(const char *path, int32_t len);
__attribute__((import_module("canopy_collector"), import_name("result_read"))) int32_t
canopy_result_read(void *ptr, int32_t len);

static buf hostres;

static const char *read_result(int32_t n) {
  hostres.n = 0;
  if (n < 0) return "host call failed";
  buf_reserve(&hostres, (size_t)n);
  if (n > 0 && canopy_result_read(hostres.p, n) != n) return "host result changed while reading";
  hostres.n = (size_t)n;
  return NULL;
}

// host_status splits the status byte off a tail_read or statfs answer.
static const char *host_status(sl *rest) {
  if (hostres.n == 0) return "empty host answer";
  rest->p = (const char *)hostres.p + 1;
  rest->n = hostres.n - 1;
  if (hostres.p[0] != 0) return errf("%.*s", (int)rest->n, rest->p);
  return NULL;
}

const char *host_http_get(const char *url, int timeout_ms, http_resp *r) {
  if (timeout_ms <= 0) timeout_ms = 1;
  const char *err = read_result(canopy_http_get(url, (int32_t)strlen(url), timeout_ms));
  if (err) return err;
  dec d = {hostres.p, hostres.n, 0, 0};
  r->status = d_u32(&d);
  r->ttfb_ns = d_i64(&d);
  r->total_ns = d_i64(&d);
  r->bytes = d_i64(&d);
  r->body = d_str(&d);
  sl e = d_str(&d);
  if (d.err) return "malformed http response";
  if (e.n) return errf("%.*s", (int)e.n, e.p);
  return NULL;
}

const char *host_statfs(const char *path, statfs_t *st) {
  const char *err = read_result(canopy_statfs(path, (int32_t)strlen(path)));
  sl rest;
  if (err || (err = host_status(&rest))) return err;
  dec d = {(const uint8_t *)rest.p, rest.n, 0, 0};
  st->total = (uint64_t)d_i64(&d);
  st->free = (uint64_t)d_i64(&d);
  st->avail = (uint64_t)d_i64(&d);
  st->inodes = (uint64_t)d_i64(&d);
  st->free_inodes = (uint64_t)d_i64(&d);
  if (d.err) return "malformed statfs answer";
  return NULL;
}

const char *host_tail_read(const char *path, int max, sl *lines) {
  const char *err = read_result(canopy_tail_read(path, (int32_t)strlen(path), max));
  if (err) return err;
  return host_status(lines);
}

// ---- exports ----

static int64_t result(void) { return (int64_t)(uintptr_t)out.p << 32 | (uint32_t)out.n; }

static int64_t error_result(const char *msg) {
  out.n = 0;
  buf_u8(&out, 1);
  buf_cstr(&out, msg);
  return result();
}

static module *find(sl name) {
  for (int i = 0; i < NMODS; i++)
    if (sl_eq(name, mods[i]->name)) return mods[i];
  return NULL;
}

// input returns the bytes the host wrote into the canopy_alloc buffer.
static dec input(int32_t ptr, int32_t n) {
  dec d = {inbuf, 0, 0, 0};
  if (!inbuf || ptr != (int32_t)(uintptr_t)inbuf || n < 0 || n > incap) d.err = 1;
  else d.n = (size_t)n;
  return d;
}

__attribute__((export_name("canopy_api_version"))) int32_t canopy_api_version(void) { return 1; }

__attribute__((export_name("canopy_alloc"))) int32_t canopy_alloc(int32_t size) {
  if (size <= 0) size = 1;
  if (size > incap) {
    free(inbuf);
    inbuf = malloc((size_t)size);
    incap = inbuf ? size : 0;
  }
  return (int32_t)(uintptr_t)inbuf;
}

__attribute__((export_name("canopy_collector_modules"))) int64_t canopy_collector_modules(void) {
  out.n = 0;
  buf_u8(&out, 0);
  buf_u32(&out, NMODS);
  for (int i = 0; i < NMODS; i++) buf_cstr(&out, mods[i]->name);
  return result();
}

static void free_params(params *p) {
  for (int i = 0; i < p->n; i++) {
    free(p->kv[i].key);
    free(p->kv[i].val);
  }
  free(p->kv);
}

__attribute__((export_name("canopy_metric_init"))) int64_t canopy_metric_init(int32_t ptr, int32_t n) {
  dec d = input(ptr, n);
  sl name = d_str(&d);
  uint32_t np = d_u32(&d);
  if (d.err || np > d.n / 8) return error_result("malformed module request");
  params p = {calloc(np + 1, sizeof(param)), 0};
  if (!p.kv) abort();
  for (uint32_t i = 0; i < np && !d.err; i++) {
    sl k = d_str(&d), v = d_str(&d);
    if (d.err) break;
    p.kv[p.n++] = (param){dup_sl(k), dup_sl(v)};
  }
  if (d.err) {
    free_params(&p);
    return error_result("malformed config");
  }
  module *m = find(name);
  if (!m) {
    char list[256] = "";
    for (int i = 0; i < NMODS; i++) {
      strcat(list, i ? " " : "");
      strcat(list, mods[i]->name);
    }
    free_params(&p);
    return error_result(errf("this module file holds no module \"%.*s\" (it holds [%s])", (int)name.n, name.p, list));
  }
  clear_metrics(m);
  m->inited = 0;
  const char *err = m->init(m, &p);
  free_params(&p);
  if (err) return error_result(errf("metric_init of %s: %s", m->name, err));
  m->inited = 1;
  out.n = 0;
  buf_u8(&out, 0);
  buf_u32(&out, (uint32_t)m->nmetrics);
  for (int i = 0; i < m->nmetrics; i++) {
    const metric *mt = &m->metrics[i];
    buf_cstr(&out, mt->name);
    buf_u8(&out, mt->type);
    buf_cstr(&out, mt->units);
    buf_u8(&out, mt->slope);
    buf_u32(&out, 60); // time_max: the Go SDK's default
    buf_cstr(&out, mt->format ? mt->format : "");
    buf_cstr(&out, mt->groups);
    buf_cstr(&out, mt->desc ? mt->desc : "");
  }
  return result();
}

static void put_value(value v) {
  if (v.kind == V_NUMBER && !isfinite(v.num)) {
    v = missing(isnan(v.num) ? "not finite: NaN" : v.num > 0 ? "not finite: +Inf" : "not finite: -Inf");
  }
  buf_u8(&out, v.kind);
  if (v.kind == V_NUMBER) buf_f64(&out, v.num);
  else buf_cstr(&out, v.text ? v.text : "no value");
}

__attribute__((export_name("canopy_metric_values"))) int64_t canopy_metric_values(int32_t ptr, int32_t n) {
  dec d = input(ptr, n);
  sl name = d_str(&d);
  uint32_t cnt = d_u32(&d);
  if (d.err || cnt > (d.n - d.off) / 4) return error_result("malformed values request");
  module *m = find(name);
  if (!m || !m->inited) return error_result(errf("module \"%.*s\" was not initialised", (int)name.n, name.p));
  // The collect error is copied: errf's buffer is reused by the values.
  static char collect_err[512];
  const char *err = m->collect ? m->collect(m) : NULL;
  if (err) {
    snprintf(collect_err, sizeof collect_err, "%s", err);
    err = collect_err;
  }
  size_t at = d.off;
  for (uint32_t i = 0; i < cnt; i++) {
    uint32_t x;
    memcpy(&x, d.p + at + 4 * i, 4);
    if (x >= (uint32_t)m->nmetrics) return error_result(errf("metric index %u out of range (%d metrics)", x, m->nmetrics));
  }
  out.n = 0;
  buf_u8(&out, 0);
  buf_u32(&out, cnt);
  for (uint32_t i = 0; i < cnt; i++) {
    uint32_t x;
    memcpy(&x, d.p + at + 4 * i, 4);
    put_value(err ? missing(err) : m->get(m, &m->metrics[x]));
  }
  buf_u32(&out, m->nforward);
  buf_bytes(&out, m->forward.p, m->forward.n);
  m->forward.n = 0;
  m->nforward = 0;
  return result();
}

__attribute__((export_name("canopy_metric_cleanup"))) int64_t canopy_metric_cleanup(int32_t ptr, int32_t n) {
  dec d = input(ptr, n);
  sl name = d_str(&d);
  if (d.err) return error_result("malformed module request");
  module *m = find(name);
  if (m) {
    clear_metrics(m);
    m->inited = 0;
    m->forward.n = 0;
    m->nforward = 0;
  }
  out.n = 0;
  buf_u8(&out, 0);
  return result();
}
