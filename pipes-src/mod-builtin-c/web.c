// The web modules nginx, url and accesslog: C twins of pipes-src/mod-nginx,
// mod-url and mod-accesslog (see their package comments for what each
// metric means). They reach the network and files only through the
// agent's host calls, which check the module's grants.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"

// parse_timeout reads param timeout_ms into *ms (unchanged when unset).
static const char *parse_timeout(const params *p, int *ms) {
  const char *s = param_get(p, "timeout_ms");
  long v;
  if (!*s) return NULL;
  if (parse_int(s, &v) || v <= 0 || v > 1 << 30) return errf("timeout_ms \"%s\": want a positive number", s);
  *ms = (int)v;
  return NULL;
}

// ---- nginx: the stub_status page ----

static const char *const nginx_fields[7] = {"active", "accepts", "handled", "requests", "reading", "writing", "waiting"};

static struct {
  char *url;
  int timeout_ms;
  double v[7];
  int ok;
} nginx;

// nginx_parse reads a stub_status page:
//
//	Active connections: 2
//	server accepts handled requests
//	 16 16 31
//	Reading: 0 Writing: 1 Waiting: 1
static const char *nginx_parse(sl body, double v[7]) {
  int have[7] = {0};
  size_t off = 0;
  sl line, f[7];
  while (next_line(body.p, body.n, &off, &line)) {
    int n = fields(line.p, line.n, f, 7);
    if (n == 3 && sl_eq(f[0], "Active") && sl_eq(f[1], "connections:")) {
      if (parse_f64(f[2], &v[0])) return "stub_status: bad active connections";
      have[0] = 1;
    } else if (n == 4 && sl_eq(f[0], "server") && line.p + line.n < body.p + body.n) {
      // As Go's bytes.Split: a line ended by '\n' has a next one, maybe empty.
      size_t o2 = off;
      sl next = {"", 0}, g[4];
      next_line(body.p, body.n, &o2, &next);
      if (fields(next.p, next.n, g, 4) != 3) return "stub_status: bad counter line";
      for (int j = 0; j < 3; j++) {
        if (parse_f64(g[j], &v[1 + j])) return "stub_status: bad counter";
        have[1 + j] = 1;
      }
    } else if (n == 6 && sl_eq(f[0], "Reading:")) {
      for (int j = 0; j < 3; j++) {
        if (parse_f64(f[2 * j + 1], &v[4 + j])) return "stub_status: bad connection state";
        have[4 + j] = 1;
      }
    }
  }
  for (int i = 0; i < 7; i++)
    if (!have[i]) return errf("stub_status: no %s (is this a stub_status page?)", nginx_fields[i]);
  return NULL;
}

static const char *nginx_init(module *m, const params *p) {
  const char *url = param_get(p, "url");
  free(nginx.url);
  nginx.url = strdup(*url ? url : "http://127.0.0.1/nginx_status");
  nginx.timeout_ms = 2000;
  const char *err = parse_timeout(p, &nginx.timeout_ms);
  if (err) return err;
  for (int i = 0; i < 7; i++) {
    const char *f = nginx_fields[i], *units = "connections";
    uint8_t slope = S_BOTH;
    if (i == 1 || i == 2) slope = S_POSITIVE;
    if (i == 3) slope = S_POSITIVE, units = "requests";
    metric *mt = add_metric(m, T_UINT, units, slope, NULL, "nginx", "%s", f);
    describe(mt, "stub_status %s", f);
    mt->a = i;
  }
  return NULL;
}

static const char *nginx_collect(module *m) {
  (void)m;
  nginx.ok = 0;
  http_resp r;
  const char *err = host_http_get(nginx.url, nginx.timeout_ms, &r);
  if (err) return err;
  if (r.status != 200) return errf("%s answered %u", nginx.url, r.status);
  double v[7] = {0};
  if ((err = nginx_parse(r.body, v))) return err;
  memcpy(nginx.v, v, sizeof v);
  nginx.ok = 1;
  return NULL;
}

static value nginx_get(module *m, const metric *mt) {
  (void)m;
  if (!nginx.ok) return missing("no stub_status");
  return number(nginx.v[mt->a]);
}

module mod_nginx = {.name = "nginx", .init = nginx_init, .collect = nginx_collect, .get = nginx_get};

// ---- url: HTTP checks of listed URLs ----

typedef struct {
  char *name, *url;
  int ok;
  http_resp r;
  char err[512];
} check;

static struct {
  check *c;
  int n;
  int timeout_ms;
} url;

static const char *url_init(module *m, const params *p) {
  for (int i = 0; i < url.n; i++) free(url.c[i].name), free(url.c[i].url);
  url.n = 0;
  url.timeout_ms = 5000;
  const char *err = parse_timeout(p, &url.timeout_ms);
  if (err) return err;
  free(url.c);
  url.c = calloc((size_t)p->n + 1, sizeof *url.c);
  if (!url.c) abort();
  // Params arrive sorted by key, so the checks are in name order.
  for (int i = 0; i < p->n; i++) {
    const char *name = p->kv[i].key, *v = p->kv[i].val;
    if (!has_prefix(v, "http://") && !has_prefix(v, "https://")) continue;
    if (strpbrk(name, "/,%")) return errf("check name \"%s\" may not hold / , or %%", name);
    check *c = &url.c[url.n++];
    c->name = strdup(name);
    c->url = strdup(v);
    snprintf(c->err, sizeof c->err, "not checked yet");
  }
  if (url.n == 0) return "no URL to check: add param NAME { value = \"http://...\" }";
  static const struct {
    const char *field;
    uint8_t type;
    const char *units;
  } fs[5] = {{"status", T_UINT, ""}, {"ttfb_ms", T_DOUBLE, "ms"}, {"total_ms", T_DOUBLE, "ms"}, {"bytes", T_UINT, "bytes"}, {"up", T_UINT, ""}};
  for (int i = 0; i < url.n; i++)
    for (int j = 0; j < 5; j++) {
      metric *mt = add_metric(m, fs[j].type, fs[j].units, S_BOTH, NULL, "url", "%s/%s", url.c[i].name, fs[j].field);
      describe(mt, "%s of %s", fs[j].field, url.c[i].url);
      mt->a = i;
      mt->b = j;
    }
  return NULL;
}

static const char *url_collect(module *m) {
  (void)m;
  for (int i = 0; i < url.n; i++) {
    check *c = &url.c[i];
    const char *err = host_http_get(c->url, url.timeout_ms, &c->r);
    c->ok = err == NULL;
    if (err) snprintf(c->err, sizeof c->err, "%s", err);
    c->r.body = (sl){"", 0}; // the body is not kept past the call
  }
  return NULL;
}

static value url_get(module *m, const metric *mt) {
  (void)m;
  const check *c = &url.c[mt->a];
  if (mt->b == 4) return number(c->ok && c->r.status < 400 ? 1 : 0);
  if (!c->ok) return missing(c->err);
  switch (mt->b) {
  case 0:
    return number(c->r.status);
  case 1:
    return number((double)c->r.ttfb_ns / 1e6);
  case 2:
    return number((double)c->r.total_ns / 1e6);
  default:
    return number((double)c->r.bytes);
  }
}

module mod_url = {.name = "url", .init = url_init, .collect = url_collect, .get = url_get};

// ---- accesslog: forwards the new lines of a log ----

static struct {
  char *path;
  double lines, bytes;
} alog;

static const char *accesslog_init(module *m, const params *p) {
  const char *path = param_get(p, "path");
  if (!*path) return "no path: add param path { value = \"/var/log/nginx/access.log\" }";
  free(alog.path);
  alog.path = strdup(path);
  metric *mt = add_metric(m, T_UINT, "lines", S_BOTH, NULL, "accesslog", "lines");
  describe(mt, "Lines forwarded in the last interval");
  mt = add_metric(m, T_UINT, "bytes", S_BOTH, NULL, "accesslog", "bytes");
  describe(mt, "Bytes forwarded in the last interval");
  mt->a = 1;
  return NULL;
}

static const char *accesslog_collect(module *m) {
  alog.lines = alog.bytes = 0;
  sl b;
  const char *err = host_tail_read(alog.path, 4 << 20, &b);
  if (err) return err;
  alog.bytes = (double)b.n;
  size_t off = 0;
  sl line;
  while (next_line(b.p, b.n, &off, &line)) {
    while (line.n && line.p[line.n - 1] == '\r') line.n--;
    if (line.n) {
      forward_line(m, line.p, line.n);
      alog.lines++;
    }
  }
  return NULL;
}

static value accesslog_get(module *m, const metric *mt) {
  (void)m;
  return number(mt->a ? alog.bytes : alog.lines);
}

module mod_accesslog = {.name = "accesslog", .init = accesslog_init, .collect = accesslog_collect, .get = accesslog_get};
