// Command geo is canopy's built-in geo pipe: hits per country, and per city
// and autonomous system when the database has them, of each line's client
// (the first X-Forwarded-For address when the format logs it, else
// $remote_addr), looked up in a MaxMind-format .mmdb (GeoLite2, DB-IP Lite).
// The database is the one file the pipe's config grants (read_files); it is
// read whole into the guest's memory, since WASI has no mmap. Without a
// database the pipe is idle ("no database" in /status) and writes nothing.
package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/canopy-dev/canopy/pipes-src/internal/topn"
	"github.com/canopy-dev/canopy/sdk/pipe"
	"github.com/canopy-dev/canopy/sdk/pipeabi"
	"github.com/oschwald/maxminddb-golang/v2"
)

const fieldXFF = pipeabi.FieldVarPrefix + "http_x_forwarded_for"

// unknown is the key of clients the database has no answer for (private
// and unlisted addresses, host names).
const unknown = "_unknown"

// maxCountries bounds the country keys: ISO 3166 has 249 codes, so only a
// strange database reaches it; the rest go to _other.
const maxCountries = 300

// place is what one address resolves to ("" where the database is silent).
type place struct{ country, city, asn string }

// record is the part of a GeoIP2/GeoLite2/DB-IP record the pipe reads.
type record struct {
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	City struct {
		Names struct {
			En string `maxminddb:"en"`
		} `maxminddb:"names"`
	} `maxminddb:"city"`
	ASN   uint   `maxminddb:"autonomous_system_number"`
	ASOrg string `maxminddb:"autonomous_system_organization"`
}

type geoPipe struct {
	db                         *maxminddb.Reader
	hasCountry, hasCity, hasAS bool
	useXFF                     bool

	countries                 map[string]*pipe.Key
	countryHits               map[string]float64 // this batch, by key
	cities                    map[string]*topn.Set
	cityOrder                 []string // countries with a city set, first seen first
	cityTop, cityMax, cityCap int
	asns                      *topn.Set

	remPlace, xffPlace []place // per distinct value of the batch
	// cache holds recent lookups across batches (a client sends many
	// lines; a lookup costs a tree walk and a record decode); cleared
	// when full, so it stays bounded.
	cache  map[string]place
	xffAny bool
	hits   []float64 // lines per distinct remote_addr
}

func (*geoPipe) Manifest() pipe.Manifest {
	return pipe.Manifest{
		Name: "geo", Version: "1.0.0",
		Fields: []string{pipe.FieldRemoteAddr, fieldXFF},
		Roots:  []pipe.Root{{Path: []string{"geo"}, Action: pipe.Add}},
	}
}

func (p *geoPipe) Init(cfg pipe.Config) error {
	path := cfg.String("database", "")
	if path == "" {
		// The "idle: " prefix (host.IdlePrefix) makes this a state in
		// /status rather than a failure.
		return errors.New("idle: no database: set params.database to a .mmdb file and grant it in read_files")
	}
	ints := map[string]int{"top_asn": 100, "max_asn_keys": 1000, "asn_capacity": 2000,
		"top_cities": 20, "max_city_keys": 100, "city_capacity": 200}
	for k, def := range ints {
		v, err := cfg.Int(k, def)
		if err != nil {
			return err
		}
		ints[k] = v
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if !errors.Is(err, fs.ErrPermission) {
			// Not there, or (EBADF under WASI) outside every grant.
			return fmt.Errorf("cannot read geo database %s: %w (is it the file granted in the pipe's read_files?)", path, err)
		}
		return fmt.Errorf("cannot read geo database %s: %w", path, err)
	}
	db, err := maxminddb.OpenBytes(data)
	if err != nil {
		return fmt.Errorf("cannot read geo database %s: %w", path, err)
	}
	p.db = db
	p.hasCountry, p.hasCity, p.hasAS = kinds(db.Metadata.DatabaseType)
	p.useXFF = cfg.String("x_forwarded_for", "true") != "false"
	p.countries = make(map[string]*pipe.Key)
	p.countryHits = make(map[string]float64)
	p.cities = make(map[string]*topn.Set)
	p.cache = make(map[string]place, cacheSize)
	p.cityTop, p.cityMax, p.cityCap = ints["top_cities"], ints["max_city_keys"], ints["city_capacity"]
	p.asns = topn.New(ints["top_asn"], ints["max_asn_keys"], ints["asn_capacity"], 64, []string{"geo", "asn"})
	return nil
}

// kinds says which panels a database type has ("GeoLite2-City",
// "DBIP-ASN-Lite", "GeoIP2-ISP"…); an unknown type is assumed to have all,
// and an absent one is simply never written.
func kinds(dbType string) (country, city, as bool) {
	t := strings.ToLower(dbType)
	as = strings.Contains(t, "asn") || strings.Contains(t, "isp")
	city = strings.Contains(t, "city")
	country = city || strings.Contains(t, "country")
	if !as && !country {
		return true, true, true
	}
	return country, city, as
}

// cacheSize bounds the lookup cache (entries).
const cacheSize = 4096

// cached is lookup through the cache.
func (p *geoPipe) cached(s string) (place, bool) {
	if pl, ok := p.cache[s]; ok {
		return pl, pl.country != ""
	}
	pl, _ := p.lookup(s)
	if len(p.cache) >= cacheSize {
		clear(p.cache)
	}
	p.cache[strings.Clone(s)] = pl
	return pl, pl.country != ""
}

// lookup resolves one logged address ("-", a name, v4, v6, [v6]:port).
func (p *geoPipe) lookup(s string) (place, bool) {
	s = strings.TrimSpace(s)
	if s == "" || s == "-" {
		return place{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, err2 := netip.ParseAddrPort(s)
		if err2 != nil {
			return place{country: unknown, city: unknown, asn: unknown}, true
		}
		a = ap.Addr()
	}
	var r record
	if err := p.db.Lookup(a.Unmap()).Decode(&r); err != nil {
		return place{country: unknown, city: unknown, asn: unknown}, true
	}
	pl := place{country: r.Country.ISOCode, city: r.City.Names.En, asn: unknown}
	if pl.country == "" {
		pl.country = unknown
	}
	if pl.city == "" {
		pl.city = unknown
	}
	if r.ASN != 0 {
		pl.asn = "AS" + strconv.FormatUint(uint64(r.ASN), 10)
		if r.ASOrg != "" {
			pl.asn += " " + r.ASOrg
		}
	}
	return pl, true
}

func (p *geoPipe) ProcessBatch(b *pipe.Batch, out *pipe.Out) {
	rem := b.Strings(pipe.FieldRemoteAddr)
	p.remPlace = p.remPlace[:0]
	for d := range rem.Distinct() {
		pl, _ := p.cached(rem.Value(d))
		p.remPlace = append(p.remPlace, pl)
	}
	p.xffPlace, p.xffAny = p.xffPlace[:0], false
	var xi []uint32
	if p.useXFF {
		xff := b.Strings(fieldXFF)
		for d := range xff.Distinct() {
			v := xff.Value(d)
			if i := strings.IndexByte(v, ','); i >= 0 {
				v = v[:i]
			}
			pl, ok := p.cached(v)
			p.xffAny = p.xffAny || ok
			p.xffPlace = append(p.xffPlace, pl)
		}
		if p.xffAny {
			xi = xff.Indexes()
		}
	}
	if xi == nil {
		// Lines summed per distinct address first: one count per client
		// of the batch rather than one per line.
		n := len(p.remPlace)
		if cap(p.hits) < n {
			p.hits = make([]float64, n)
		}
		p.hits = p.hits[:n]
		clear(p.hits)
		for _, d := range rem.Indexes() {
			p.hits[d]++
		}
		for d, h := range p.hits {
			if h > 0 && p.remPlace[d].country != "" {
				p.count(p.remPlace[d], h)
			}
		}
		return
	}
	for r, d := range rem.Indexes() {
		pl := p.remPlace[d]
		if p.xffPlace[xi[r]].country != "" {
			pl = p.xffPlace[xi[r]]
		}
		if pl.country == "" { // no address at all
			continue
		}
		p.count(pl, 1)
	}
}

func (p *geoPipe) count(pl place, n float64) {
	if p.hasCountry {
		p.countryHits[pl.country] += n
	}
	if p.hasCity {
		s := p.cities[pl.country]
		if s == nil {
			// One small top-N per country: countries are few, so cities
			// stay bounded at countries × max_city_keys.
			s = topn.New(p.cityTop, p.cityMax, p.cityCap, 64, []string{"geo", "city", pl.country})
			p.cities[pl.country] = s
			p.cityOrder = append(p.cityOrder, pl.country)
		}
		s.Add(pl.city, n)
	}
	if p.hasAS {
		p.asns.Add(pl.asn, n)
	}
}

func (p *geoPipe) Flush(out *pipe.Out) {
	if p.db == nil {
		return
	}
	for c, v := range p.countryHits {
		k := p.countries[c]
		if k == nil && len(p.countries) >= maxCountries {
			c = topn.Other
			k = p.countries[c]
		}
		if k == nil {
			nk := pipe.NewKey("geo", "country", c)
			k = &nk
			p.countries[c] = k
		}
		out.EmitKey(k, v)
	}
	clear(p.countryHits)
	for _, c := range p.cityOrder {
		p.cities[c].Flush(out)
	}
	p.asns.Flush(out)
}

func init() { pipe.Register(&geoPipe{}) }

func main() { pipe.Main() }
