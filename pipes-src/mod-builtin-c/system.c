// The system modules cpu, mem, load, net and disk: C twins of
// pipes-src/mod-cpu, mod-mem, mod-load, mod-net and mod-disk (see their
// package comments for what each metric means).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"

static char *root_path(const params *p, const char *file) {
  static char path[1200];
  const char *root = param_get(p, "root");
  snprintf(path, sizeof path, "%s%s", root, file);
  return path;
}

// ---- cpu: /proc/stat's aggregate line as percentages ----

static const char *const cpu_fields[8] = {"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"};

static struct {
  char path[1200];
  uint64_t prev[8], cur[8];
  double pct[8];
  int have_prev;
  buf file;
} cpu;

static const char *cpu_parse(const buf *b, uint64_t v[8]) {
  size_t off = 0;
  sl line, f[9];
  memset(v, 0, 8 * sizeof v[0]);
  while (next_line((const char *)b->p, b->n, &off, &line)) {
    int n = fields(line.p, line.n, f, 9);
    if (n < 5 || !sl_eq(f[0], "cpu")) continue;
    for (int i = 0; i < 8 && i + 1 < n; i++)
      if (parse_u64(f[i + 1], &v[i])) return "bad number in /proc/stat cpu line";
    return NULL;
  }
  return "/proc/stat has no cpu line";
}

static const char *cpu_collect(module *m) {
  (void)m;
  const char *err = read_file(cpu.path, &cpu.file);
  uint64_t cur[8];
  if (err || (err = cpu_parse(&cpu.file, cur))) return err;
  memcpy(cpu.prev, cpu.cur, sizeof cur);
  memcpy(cpu.cur, cur, sizeof cur);
  uint64_t base[8] = {0};
  if (cpu.have_prev) memcpy(base, cpu.prev, sizeof base);
  cpu.have_prev = 1;
  // Each field's share of the time between the readings; a counter that
  // went backwards (a CPU went offline) counts as 0.
  double d[8] = {0}, total = 0;
  for (int i = 0; i < 8; i++)
    if (cur[i] > base[i]) {
      d[i] = (double)(cur[i] - base[i]);
      total += d[i];
    }
  for (int i = 0; i < 8; i++) cpu.pct[i] = total == 0 ? (i == 3 ? 100 : 0) : d[i] * 100 / total;
  return NULL;
}

static const char *cpu_init(module *m, const params *p) {
  snprintf(cpu.path, sizeof cpu.path, "%s", root_path(p, "/proc/stat"));
  cpu.have_prev = 0;
  // A baseline, so the first collection covers its interval.
  const char *err = cpu_collect(m);
  if (err) return err;
  for (int i = 0; i < 8; i++) {
    metric *mt = add_metric(m, T_FLOAT, "%", S_BOTH, "%.1f", "cpu", "%s", cpu_fields[i]);
    describe(mt, "Percent of CPU time in %s", cpu_fields[i]);
    mt->a = i;
  }
  return NULL;
}

static value cpu_get(module *m, const metric *mt) {
  (void)m;
  return number(cpu.pct[mt->a]);
}

module mod_cpu = {.name = "cpu", .init = cpu_init, .collect = cpu_collect, .get = cpu_get};

// ---- mem: /proc/meminfo in bytes ----

enum { MEM_TOTAL, MEM_FREE, MEM_AVAILABLE, MEM_BUFFERS, MEM_CACHED, MEM_SHMEM, MEM_SWAP_TOTAL, MEM_SWAP_FREE, MEM_N };
static const char *const mem_keys[MEM_N] = {"MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached", "Shmem", "SwapTotal", "SwapFree"};

static const struct {
  const char *name;
  int field; // -1 used, -2 used_percent
  const char *desc;
} mem_metrics[] = {
    {"total", MEM_TOTAL, "Total usable memory"},
    {"free", MEM_FREE, "Unused memory"},
    {"available", MEM_AVAILABLE, "Memory available for new work without swapping"},
    {"buffers", MEM_BUFFERS, "Block device buffers"},
    {"cached", MEM_CACHED, "Page cache"},
    {"shared", MEM_SHMEM, "Shared memory (tmpfs)"},
    {"used", -1, "total - available"},
    {"used_percent", -2, "used / total in percent"},
    {"swap_total", MEM_SWAP_TOTAL, "Total swap"},
    {"swap_free", MEM_SWAP_FREE, "Unused swap"},
};

static struct {
  char path[1200];
  double v[MEM_N];
  buf file;
} mem;

static const char *mem_collect(module *m) {
  (void)m;
  const char *err = read_file(mem.path, &mem.file);
  if (err) return err;
  double v[MEM_N] = {0};
  int have[MEM_N] = {0};
  size_t off = 0;
  sl line, f[3];
  while (next_line((const char *)mem.file.p, mem.file.n, &off, &line)) {
    int n = fields(line.p, line.n, f, 3);
    double x;
    if (n < 2 || parse_f64(f[1], &x)) continue;
    if (n > 2 && sl_eq(f[2], "kB")) x *= 1024;
    sl key = f[0];
    if (key.n && key.p[key.n - 1] == ':') key.n--;
    for (int i = 0; i < MEM_N; i++)
      if (sl_eq(key, mem_keys[i])) v[i] = x, have[i] = 1;
  }
  if (v[MEM_TOTAL] == 0) return "/proc/meminfo has no MemTotal";
  if (!have[MEM_AVAILABLE]) v[MEM_AVAILABLE] = v[MEM_FREE] + v[MEM_BUFFERS] + v[MEM_CACHED]; // kernels before 3.14
  memcpy(mem.v, v, sizeof v);
  return NULL;
}

static const char *mem_init(module *m, const params *p) {
  snprintf(mem.path, sizeof mem.path, "%s", root_path(p, "/proc/meminfo"));
  for (size_t i = 0; i < sizeof mem_metrics / sizeof mem_metrics[0]; i++) {
    const char *units = mem_metrics[i].field == -2 ? "%" : "bytes";
    metric *mt = add_metric(m, T_DOUBLE, units, S_BOTH, NULL, "memory", "%s", mem_metrics[i].name);
    describe(mt, "%s", mem_metrics[i].desc);
    mt->a = mem_metrics[i].field;
  }
  return NULL;
}

static value mem_get(module *m, const metric *mt) {
  (void)m;
  double used = mem.v[MEM_TOTAL] - mem.v[MEM_AVAILABLE];
  if (mt->a == -1) return number(used);
  if (mt->a == -2) return number(used * 100 / mem.v[MEM_TOTAL]);
  return number(mem.v[mt->a]);
}

module mod_mem = {.name = "mem", .init = mem_init, .collect = mem_collect, .get = mem_get};

// ---- load: /proc/loadavg and the CPU count ----

static struct {
  char path[1200], stat[1200];
  double v[6]; // one, five, fifteen, running, total, cpus
  buf file;
} load;

static const char *load_collect(module *m) {
  (void)m;
  const char *err = read_file(load.path, &load.file);
  if (err) return err;
  sl f[4];
  double v[6] = {0};
  if (fields((const char *)load.file.p, load.file.n, f, 4) < 4) return "/proc/loadavg is too short";
  for (int i = 0; i < 3; i++)
    if (parse_f64(f[i], &v[i])) return "bad number in /proc/loadavg";
  const char *slash = memchr(f[3].p, '/', f[3].n);
  if (!slash) return "bad process count in /proc/loadavg";
  sl run = {f[3].p, (size_t)(slash - f[3].p)}, tot = {slash + 1, f[3].n - run.n - 1};
  if (parse_f64(run, &v[3])) v[3] = 0;
  if (parse_f64(tot, &v[4])) v[4] = 0;
  if (!read_file(load.stat, &load.file)) {
    size_t off = 0;
    sl line;
    int n = 0;
    while (next_line((const char *)load.file.p, load.file.n, &off, &line))
      if (line.n > 3 && memcmp(line.p, "cpu", 3) == 0 && line.p[3] >= '0' && line.p[3] <= '9') n++;
    v[5] = n;
  }
  memcpy(load.v, v, sizeof v);
  return NULL;
}

static const char *load_init(module *m, const params *p) {
  snprintf(load.path, sizeof load.path, "%s", root_path(p, "/proc/loadavg"));
  snprintf(load.stat, sizeof load.stat, "%s", root_path(p, "/proc/stat"));
  static const struct {
    const char *name, *units, *desc;
  } ms[6] = {
      {"one", "", "One-minute load average"},
      {"five", "", "Five-minute load average"},
      {"fifteen", "", "Fifteen-minute load average"},
      {"proc_run", "processes", "Runnable processes"},
      {"proc_total", "processes", "Processes and threads"},
      {"cpu_num", "CPUs", "Number of CPUs"},
  };
  for (int i = 0; i < 6; i++) {
    metric *mt = add_metric(m, T_FLOAT, ms[i].units, S_BOTH, "%.2f", "load", "%s", ms[i].name);
    describe(mt, "%s", ms[i].desc);
    mt->a = i;
  }
  return NULL;
}

static value load_get(module *m, const metric *mt) {
  (void)m;
  return number(load.v[mt->a]);
}

module mod_load = {.name = "load", .init = load_init, .collect = load_collect, .get = load_get};

// ---- rates shared by net and disk ----

// A tracked device or interface: its counters at the last two readings.
typedef struct {
  char *name;
  uint64_t prev[16], cur[16];
  int have_prev, have_cur;
} dev;

typedef struct {
  dev *d;
  int n, cap;
  double prev_t, cur_t; // 0 = no reading
} devs;

static void devs_clear(devs *s) {
  for (int i = 0; i < s->n; i++) free(s->d[i].name);
  s->n = 0;
  s->prev_t = s->cur_t = 0;
}

static void devs_add(devs *s, sl name) {
  if (s->n == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 8;
    s->d = realloc(s->d, (size_t)s->cap * sizeof *s->d);
    if (!s->d) abort();
  }
  dev *d = &s->d[s->n++];
  memset(d, 0, sizeof *d);
  d->name = malloc(name.n + 1);
  if (!d->name) abort();
  memcpy(d->name, name.p, name.n);
  d->name[name.n] = 0;
}

// rate is the per-second change of counter col of device i over the last
// interval, times scale; a counter that went backwards (reset, wrap)
// reads as 0.
static value rate(const devs *s, int i, int col, double scale) {
  const dev *d = &s->d[i];
  double dt = s->cur_t - s->prev_t;
  if (!d->have_prev || !d->have_cur || s->prev_t == 0 || dt <= 0) return missing("no two readings yet");
  if (d->cur[col] < d->prev[col]) return number(0);
  return number((double)(d->cur[col] - d->prev[col]) * scale / dt);
}

// A parsed reading: name and counters per line, before they are matched
// to the tracked devices.
typedef struct {
  sl name;
  uint64_t v[16];
} row;

typedef struct {
  row *r;
  int n, cap;
} rows;

static row *rows_add(rows *t) {
  if (t->n == t->cap) {
    t->cap = t->cap ? t->cap * 2 : 16;
    t->r = realloc(t->r, (size_t)t->cap * sizeof *t->r);
    if (!t->r) abort();
  }
  row *r = &t->r[t->n++];
  memset(r, 0, sizeof *r);
  return r;
}

static const row *rows_find(const rows *t, const char *name, size_t n) {
  for (int i = 0; i < t->n; i++)
    if (t->r[i].name.n == n && memcmp(t->r[i].name.p, name, n) == 0) return &t->r[i];
  return NULL;
}

// shift makes the reading t the current one of every tracked device.
static void shift(devs *s, const rows *t, int ncols) {
  for (int i = 0; i < s->n; i++) {
    dev *d = &s->d[i];
    memcpy(d->prev, d->cur, sizeof d->cur);
    d->have_prev = d->have_cur;
    const row *r = rows_find(t, d->name, strlen(d->name));
    d->have_cur = r != NULL;
    if (r) memcpy(d->cur, r->v, (size_t)ncols * sizeof r->v[0]);
  }
  s->prev_t = s->cur_t;
  s->cur_t = monotonic();
}

static int bad_name(const char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i] == '/' || p[i] == ',' || p[i] == '%') return 1;
  return 0;
}

// ---- net: /proc/net/dev per interface per second ----

static const struct {
  const char *name;
  int col;
  const char *units;
} net_counters[8] = {
    {"rx_bytes", 0, "bytes/sec"}, {"rx_packets", 1, "packets/sec"}, {"rx_errs", 2, "errors/sec"}, {"rx_drop", 3, "drops/sec"},
    {"tx_bytes", 8, "bytes/sec"}, {"tx_packets", 9, "packets/sec"}, {"tx_errs", 10, "errors/sec"}, {"tx_drop", 11, "drops/sec"},
};

static struct {
  char path[1200];
  devs ifs;
  rows t;
  buf file;
} net;

static const char *net_parse(void) {
  net.t.n = 0;
  size_t off = 0;
  sl line, f[16];
  while (next_line((const char *)net.file.p, net.file.n, &off, &line)) {
    const char *colon = memchr(line.p, ':', line.n);
    if (!colon) continue;
    size_t at = (size_t)(colon - line.p) + 1;
    if (fields(line.p + at, line.n - at, f, 16) < 16) continue;
    row *r = rows_add(&net.t);
    r->name = trim((sl){line.p, at - 1});
    for (int i = 0; i < 16; i++)
      if (parse_u64(f[i], &r->v[i])) return "bad number in /proc/net/dev";
  }
  if (net.t.n == 0) return "/proc/net/dev lists no interface";
  return NULL;
}

static const char *net_collect(module *m) {
  (void)m;
  const char *err = read_file(net.path, &net.file);
  if (err || (err = net_parse())) return err;
  shift(&net.ifs, &net.t, 16);
  return NULL;
}

static const char *net_init(module *m, const params *p) {
  snprintf(net.path, sizeof net.path, "%s", root_path(p, "/proc/net/dev"));
  devs_clear(&net.ifs);
  const char *err = read_file(net.path, &net.file);
  if (err || (err = net_parse())) return err;
  const char *only = param_get(p, "interfaces"), *exclude = param_get(p, "exclude");
  for (int i = 0; i < net.t.n; i++) {
    sl n = net.t.r[i].name;
    if ((!list_empty(only) && !list_has(only, n.p, n.n)) || list_has(exclude, n.p, n.n) || bad_name(n.p, n.n)) continue;
    devs_add(&net.ifs, n);
    int k = net.ifs.n - 1;
    for (int c = 0; c < 8; c++) {
      metric *mt = add_metric(m, T_DOUBLE, net_counters[c].units, S_BOTH, "%.1f", "network", "%.*s/%s", (int)n.n, n.p,
                              net_counters[c].name);
      describe(mt, "%s per second on %.*s", net_counters[c].name, (int)n.n, n.p);
      mt->a = k;
      mt->b = net_counters[c].col;
    }
  }
  // The baseline for the first rates.
  shift(&net.ifs, &net.t, 16);
  return NULL;
}

static value net_get(module *m, const metric *mt) {
  (void)m;
  return rate(&net.ifs, mt->a, mt->b, 1);
}

module mod_net = {.name = "net", .init = net_init, .collect = net_collect, .get = net_get};

// ---- disk: /proc/diskstats per device per second, statfs per mount ----

// Counters kept per device: reads, read sectors, writes, write sectors,
// busy ms (diskstats columns 0, 2, 4, 6 and 9 after the name).
static const int disk_cols[5] = {0, 2, 4, 6, 9};

typedef struct {
  char *path;
  int ok;
  statfs_t st;
  char err[256];
} mount;

static struct {
  char path[1200];
  devs devs;
  rows t;
  buf file;
  mount *mounts;
  int nmounts;
} disk;

static const char *disk_parse(void) {
  disk.t.n = 0;
  size_t off = 0;
  sl line, f[14];
  while (next_line((const char *)disk.file.p, disk.file.n, &off, &line)) {
    if (fields(line.p, line.n, f, 14) < 14) continue;
    row *r = rows_add(&disk.t);
    r->name = f[2];
    for (int i = 0; i < 5; i++)
      if (parse_u64(f[3 + disk_cols[i]], &r->v[i])) return "bad number in /proc/diskstats";
    for (int i = 0; i < 11; i++) {
      uint64_t x;
      if (parse_u64(f[3 + i], &x)) return "bad number in /proc/diskstats";
    }
  }
  return NULL;
}

static const char *disk_read(void) {
  const char *err = read_file(disk.path, &disk.file);
  if (err || (err = disk_parse())) return err;
  shift(&disk.devs, &disk.t, 5);
  return NULL;
}

// partition reports whether name is a partition of a listed disk: sda1 of
// sda, nvme0n1p1 of nvme0n1, mmcblk0p1 of mmcblk0.
static int partition(sl name) {
  size_t b = name.n;
  while (b && name.p[b - 1] >= '0' && name.p[b - 1] <= '9') b--;
  if (b == name.n || b == 0) return 0;
  if (rows_find(&disk.t, name.p, b)) return 1;
  return name.p[b - 1] == 'p' && rows_find(&disk.t, name.p, b - 1) != NULL;
}

static void disk_add(module *m, sl d) {
  static const struct {
    const char *name, *units;
    double scale;
  } io[5] = {
      {"reads", "reads/sec", 1}, {"read_bytes", "bytes/sec", 512}, {"writes", "writes/sec", 1},
      {"write_bytes", "bytes/sec", 512}, {"busy_percent", "%", 0.1}, // ms/s → %
  };
  static const int order[5] = {0, 2, 1, 3, 4}; // the Go module's metric order
  devs_add(&disk.devs, d);
  for (int j = 0; j < 5; j++) {
    int c = order[j];
    metric *mt = add_metric(m, T_DOUBLE, io[c].units, S_BOTH, "%.1f", "disk", "io/%.*s/%s", (int)d.n, d.p, io[c].name);
    describe(mt, "%s of %.*s", io[c].name, (int)d.n, d.p);
    mt->a = disk.devs.n - 1;
    mt->b = c;
    mt->scale = io[c].scale;
  }
}

static const char *disk_init(module *m, const params *p) {
  snprintf(disk.path, sizeof disk.path, "%s", root_path(p, "/proc/diskstats"));
  devs_clear(&disk.devs);
  for (int i = 0; i < disk.nmounts; i++) free(disk.mounts[i].path);
  disk.nmounts = 0;
  // The read also takes the baseline of the first rates; without
  // diskstats (containers) the module reports space only.
  if (!disk_read()) {
    const char *want = param_get(p, "devices");
    if (*want) {
      size_t len = strlen(want), off = 0;
      while (off <= len) {
        const char *c = memchr(want + off, ',', len - off);
        size_t end = c ? (size_t)(c - want) : len;
        sl d = trim((sl){want + off, end - off});
        if (d.n && !bad_name(d.p, d.n)) disk_add(m, d);
        off = end + 1;
      }
    } else {
      for (int i = 0; i < disk.t.n; i++) {
        sl d = disk.t.r[i].name;
        if ((d.n >= 4 && memcmp(d.p, "loop", 4) == 0) || (d.n >= 3 && memcmp(d.p, "ram", 3) == 0) ||
            (d.n >= 4 && memcmp(d.p, "zram", 4) == 0) || partition(d) || bad_name(d.p, d.n))
          continue;
        disk_add(m, d);
      }
    }
    // The devices just added take this reading as their baseline.
    disk.devs.cur_t = 0;
    shift(&disk.devs, &disk.t, 5);
  }
  const char *mp = param_get(p, "mounts");
  if (!*mp) mp = "/";
  size_t len = strlen(mp), off = 0;
  disk.mounts = realloc(disk.mounts, (len / 2 + 2) * sizeof *disk.mounts);
  if (!disk.mounts) abort();
  while (off <= len) {
    const char *c = memchr(mp + off, ',', len - off);
    size_t end = c ? (size_t)(c - mp) : len;
    sl mt = trim((sl){mp + off, end - off});
    off = end + 1;
    if (!mt.n) continue;
    mount *mo = &disk.mounts[disk.nmounts];
    memset(mo, 0, sizeof *mo);
    mo->path = malloc(mt.n + 1);
    if (!mo->path) abort();
    memcpy(mo->path, mt.p, mt.n);
    mo->path[mt.n] = 0;
    snprintf(mo->err, sizeof mo->err, "no statfs yet");
    // The label: "/" is root, "/var/log" is var_log.
    char label[1100];
    if (strcmp(mo->path, "/") == 0) {
      strcpy(label, "root");
    } else {
      sl l = mt;
      while (l.n && l.p[0] == '/') l.p++, l.n--;
      while (l.n && l.p[l.n - 1] == '/') l.n--;
      if (l.n >= sizeof label) l.n = sizeof label - 1;
      for (size_t i = 0; i < l.n; i++) label[i] = l.p[i] == '/' ? '_' : l.p[i];
      label[l.n] = 0;
    }
    static const char *const space[4] = {"total", "free", "avail", "used_percent"};
    for (int j = 0; j < 4; j++) {
      metric *x = add_metric(m, T_DOUBLE, j == 3 ? "%" : "bytes", S_BOTH, NULL, "disk", "space/%s/%s", label, space[j]);
      describe(x, "%s of %s", space[j], mo->path);
      x->a = disk.nmounts;
      x->b = 5 + j;
    }
    disk.nmounts++;
  }
  return NULL;
}

static const char *disk_collect(module *m) {
  (void)m;
  disk_read(); // a failed read keeps the last rates, as the Go module
  for (int i = 0; i < disk.nmounts; i++) {
    mount *mo = &disk.mounts[i];
    const char *err = host_statfs(mo->path, &mo->st);
    mo->ok = err == NULL;
    if (err) snprintf(mo->err, sizeof mo->err, "%s", err);
  }
  return NULL;
}

static value disk_get(module *m, const metric *mt) {
  (void)m;
  if (mt->b < 5) return rate(&disk.devs, mt->a, mt->b, mt->scale);
  const mount *mo = &disk.mounts[mt->a];
  if (!mo->ok) return missing(mo->err);
  const statfs_t *st = &mo->st;
  switch (mt->b) {
  case 5:
    return number((double)st->total);
  case 6:
    return number((double)st->free);
  case 7:
    return number((double)st->avail);
  default: {
    // As df: used / (used + available to users).
    double used = (double)(st->total - st->free);
    if (used + (double)st->avail == 0) return number(0);
    return number(used * 100 / (used + (double)st->avail));
  }
  }
}

module mod_disk = {.name = "disk", .init = disk_init, .collect = disk_collect, .get = disk_get};
