// The cpu collector module in C, written against sdk/collectorabi/README.md
// alone: proof that the ABI is language-neutral, and a measure of what a
// guest without the Go runtime costs (see README.md).
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint8_t *inbuf; static int32_t incap;
static uint8_t out[4096]; static int32_t outlen;
static const char *names[8] = {"user","nice","system","idle","iowait","irq","softirq","steal"};
static unsigned long long prev[8], cur[8]; static double pct[8];

static void u8(uint8_t v){ out[outlen++]=v; }
static void u32(uint32_t v){ memcpy(out+outlen,&v,4); outlen+=4; }
static void f64(double v){ memcpy(out+outlen,&v,8); outlen+=8; }
static void str(const char*s){ uint32_t n=strlen(s); u32(n); memcpy(out+outlen,s,n); outlen+=n; }
static int64_t result(void){ return ((int64_t)(intptr_t)out<<32) | (uint32_t)outlen; }

static int readstat(void){
  FILE*f=fopen("/proc/stat","r"); if(!f) return -1;
  char line[512]; int ok=-1;
  if(fgets(line,sizeof line,f) && strncmp(line,"cpu ",4)==0){
    memcpy(prev,cur,sizeof cur);
    sscanf(line+4,"%llu %llu %llu %llu %llu %llu %llu %llu",&cur[0],&cur[1],&cur[2],&cur[3],&cur[4],&cur[5],&cur[6],&cur[7]);
    double tot=0,d[8]; for(int i=0;i<8;i++){ d[i]= cur[i]>prev[i]? (double)(cur[i]-prev[i]):0; tot+=d[i]; }
    for(int i=0;i<8;i++) pct[i]= tot>0? d[i]*100/tot : (i==3?100:0);
    ok=0;
  }
  fclose(f); return ok;
}

__attribute__((export_name("canopy_api_version"))) int32_t api(void){ return 1; }
__attribute__((export_name("canopy_alloc"))) int32_t alloc_(int32_t n){ if(n>incap){ free(inbuf); inbuf=malloc(n); incap=n; } return (int32_t)(intptr_t)inbuf; }
__attribute__((export_name("canopy_collector_modules"))) int64_t mods(void){ outlen=0; u8(0); u32(1); str("cpu"); return result(); }
__attribute__((export_name("canopy_metric_init"))) int64_t init_(int32_t p,int32_t n){
  outlen=0; if(readstat()){ u8(1); str("cannot read /proc/stat"); return result(); }
  u8(0); u32(8);
  for(int i=0;i<8;i++){ str(names[i]); u8(3); str("%"); u8(3); u32(60); str("%.1f"); str("cpu"); str(names[i]); }
  return result();
}
__attribute__((export_name("canopy_metric_values"))) int64_t values(int32_t p,int32_t n){
  uint8_t*b=inbuf; uint32_t sl; memcpy(&sl,b,4); uint32_t cnt; memcpy(&cnt,b+4+sl,4);
  int err=readstat(); outlen=0; u8(0); u32(cnt);
  for(uint32_t k=0;k<cnt;k++){ uint32_t ix; memcpy(&ix,b+8+sl+4*k,4);
    if(err||ix>=8){ u8(0); str("no reading"); } else { u8(1); f64(pct[ix]); } }
  u32(0); return result();
}
__attribute__((export_name("canopy_metric_cleanup"))) int64_t cleanup(int32_t p,int32_t n){ outlen=0; u8(0); return result(); }
