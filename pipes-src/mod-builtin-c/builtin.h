// The agent's built-in collector modules in C: what they share (the
// collector ABI's encoding, the module registry, host calls, small parsing
// helpers). Each module mirrors its Go twin in pipes-src/mod-NAME: same
// metric names, units, types, groups and values.
#ifndef BUILTIN_H
#define BUILTIN_H

#include <stddef.h>
#include <stdint.h>

// value_type and slope codes of sdk/collectorabi/README.md.
enum { T_STRING, T_UINT, T_INT, T_FLOAT, T_DOUBLE };
enum { S_ZERO, S_POSITIVE, S_NEGATIVE, S_BOTH };

// A growable byte buffer.
typedef struct {
  uint8_t *p;
  size_t n, cap;
} buf;

void buf_reserve(buf *b, size_t more);
void buf_bytes(buf *b, const void *p, size_t n);
void buf_u8(buf *b, uint8_t v);
void buf_u32(buf *b, uint32_t v);
void buf_f64(buf *b, double v);
void buf_str(buf *b, const char *s, size_t n);
void buf_cstr(buf *b, const char *s);

// A byte range of a larger text (not NUL-terminated).
typedef struct {
  const char *p;
  size_t n;
} sl;

int sl_eq(sl s, const char *c);
int has_prefix(const char *s, const char *prefix);
// fields splits s[0:n] at ASCII white space, as Go's bytes.Fields: it
// stores at most max fields in f and returns how many there are.
int fields(const char *s, size_t n, sl *f, int max);
// next_line returns the line at *off (without its '\n') and moves past it;
// 0 when the text is used up.
int next_line(const char *s, size_t n, size_t *off, sl *line);
// parse_u64 and parse_f64 accept a whole field only, as Go's
// strconv.ParseUint(s, 10, 64) and ParseFloat(s, 64) (0 = ok).
int parse_u64(sl s, uint64_t *v);
int parse_f64(sl s, double *v);
// parse_int is Go's strconv.Atoi (0 = ok).
int parse_int(const char *s, long *v);
// list_has reports whether the comma list (items trimmed) holds item.
int list_has(const char *list, const char *item, size_t n);
int list_empty(const char *list);
// trim returns s without leading and trailing ASCII spaces.
sl trim(sl s);

// read_file reads the whole file at path into b (proc files report size
// 0, so it reads to the end); returns NULL or an error text.
const char *read_file(const char *path, buf *b);
// monotonic returns seconds on a monotonic clock.
double monotonic(void);
// errf formats an error text into a buffer that lives until the next call
// of errf.
const char *errf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

// A module's param: key and value, NUL-terminated.
typedef struct {
  char *key, *val;
} param;

typedef struct {
  param *kv;
  int n;
} params;

// param_get returns the value of key, or "" when it is not set.
const char *param_get(const params *p, const char *key);

// Value kinds of metric_values.
enum { V_MISSING, V_NUMBER, V_TEXT };

typedef struct {
  uint8_t kind;
  double num;
  const char *text; // the reason of a missing value, or the text
} value;

value number(double v);
value missing(const char *why);

// One metric descriptor; a and b are the module's own (which counter of
// which device).
typedef struct {
  char *name, *desc;
  const char *units, *format, *groups;
  uint8_t type, slope;
  int a, b;
  double scale;
} metric;

typedef struct module module;
struct module {
  const char *name;
  // init is metric_init: declare metrics with add_metric; returns NULL or
  // why the module cannot run.
  const char *(*init)(module *m, const params *p);
  // collect runs once before the values of a round; an error makes every
  // value of the round missing with that reason.
  const char *(*collect)(module *m);
  value (*get)(module *m, const metric *mt);

  metric *metrics;
  int nmetrics, capmetrics;
  int inited;
  // forward holds encoded str lines for the next metric_values result.
  buf forward;
  uint32_t nforward;
};

metric *add_metric(module *m, uint8_t type, const char *units, uint8_t slope, const char *format,
                   const char *groups, const char *name_fmt, ...) __attribute__((format(printf, 7, 8)));
// describe sets the description of the metric add_metric returned last.
void describe(metric *mt, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void forward_line(module *m, const char *p, size_t n);

// Host calls (canopy_collector imports), decoded.
typedef struct {
  uint32_t status;
  int64_t ttfb_ns, total_ns, bytes;
  sl body; // valid until the next host call
} http_resp;

const char *host_http_get(const char *url, int timeout_ms, http_resp *r);
typedef struct {
  uint64_t total, free, avail, inodes, free_inodes;
} statfs_t;
const char *host_statfs(const char *path, statfs_t *st);
// host_tail_read sets *lines to the complete new lines of path (valid
// until the next host call).
const char *host_tail_read(const char *path, int max, sl *lines);

extern module mod_accesslog, mod_cpu, mod_disk, mod_load, mod_mem, mod_net, mod_nginx, mod_url;

#endif
