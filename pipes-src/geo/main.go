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

	"github.com/canopy-dev/canopy/pipes-src/internal/strtab"
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

	// Countries by index: a place holds its country's index, so a batch
	// counts countries in a slice.
	countryIdx                map[string]int32
	countryKeys               []pipe.Key
	countryHits               []float64 // this batch
	cities                    map[string]*topn.Set
	cityOrder                 []string // countries with a city set, first seen first
	cityTop, cityMax, cityCap int
	asns                      *topn.Set

	// cache maps a logged address to its place (an index into places)
	// across batches: a client sends many lines and a lookup costs a tree
	// walk and a record decode. Places are deduplicated, so a batch counts
	// each place once whatever the number of its clients (a topn Add per
	// client and a Go map access per country were most of the pipe's cost
	// in WASM). Both are cleared together between batches once the cache
	// holds cacheSize addresses, so they stay bounded.
	cache    *strtab.Map
	places   []place
	placeIdx map[place]int32

	remPlace, xffPlace []int32   // per distinct value of the batch; -1: no address
	hits               []float64 // this batch, per place
	touched            []int32   // places with hits, first counted first
}

// place is what one address resolves to ("" where the database is silent).
type place struct{ country, city, asn string }

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
	p.countryIdx = make(map[string]int32)
	p.cities = make(map[string]*topn.Set)
	p.cache = strtab.New(cacheSize)
	p.placeIdx = make(map[place]int32)
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

// cacheSize bounds the lookup cache (addresses).
const cacheSize = 16384

// cached returns the place of logged address s, -1 for none ("-").
func (p *geoPipe) cached(s string) int32 {
	if i, ok := p.cache.Get(s); ok {
		return i
	}
	pl, ok := p.lookup(s)
	i := int32(-1)
	if ok {
		var seen bool
		if i, seen = p.placeIdx[pl]; !seen {
			i = int32(len(p.places))
			p.places = append(p.places, pl)
			p.placeIdx[pl] = i
		}
	}
	p.cache.Set(strings.Clone(s), i)
	return i
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
	if p.cache.Len() >= cacheSize {
		p.cache.Clear()
		p.places = p.places[:0]
		clear(p.placeIdx)
	}
	rem := b.Strings(pipe.FieldRemoteAddr)
	p.remPlace = p.remPlace[:0]
	for d := range rem.Distinct() {
		p.remPlace = append(p.remPlace, p.cached(rem.Value(d)))
	}
	p.xffPlace = p.xffPlace[:0]
	xffAny := false
	var xi []uint32
	if p.useXFF {
		xff := b.Strings(fieldXFF)
		for d := range xff.Distinct() {
			v := xff.Value(d)
			if i := strings.IndexByte(v, ','); i >= 0 {
				v = v[:i]
			}
			i := p.cached(v)
			xffAny = xffAny || i >= 0
			p.xffPlace = append(p.xffPlace, i)
		}
		if xffAny {
			xi = xff.Indexes()
		}
	}
	if cap(p.hits) < len(p.places) {
		p.hits = make([]float64, len(p.places), cap(p.places))
	}
	p.hits = p.hits[:len(p.places)]
	for r, d := range rem.Indexes() {
		i := p.remPlace[d]
		if xi != nil {
			if x := p.xffPlace[xi[r]]; x >= 0 {
				i = x
			}
		}
		if i < 0 { // no address at all
			continue
		}
		if p.hits[i] == 0 {
			p.touched = append(p.touched, i)
		}
		p.hits[i]++
	}
	for _, i := range p.touched {
		p.count(&p.places[i], p.hits[i])
		p.hits[i] = 0
	}
	p.touched = p.touched[:0]
}

func (p *geoPipe) count(pl *place, n float64) {
	if p.hasCountry {
		c, ok := p.countryIdx[pl.country]
		if !ok {
			name := pl.country
			if len(p.countryKeys) >= maxCountries {
				name = topn.Other
			}
			if c, ok = p.countryIdx[name]; !ok {
				c = int32(len(p.countryKeys))
				p.countryKeys = append(p.countryKeys, pipe.NewKey("geo", "country", name))
				p.countryHits = append(p.countryHits, 0)
				p.countryIdx[name] = c
			}
			p.countryIdx[pl.country] = c
		}
		p.countryHits[c] += n
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
		if v != 0 {
			out.EmitKey(&p.countryKeys[c], v)
			p.countryHits[c] = 0
		}
	}
	for _, c := range p.cityOrder {
		p.cities[c].Flush(out)
	}
	p.asns.Flush(out)
}

func init() { pipe.Register(&geoPipe{}) }

func main() { pipe.Main() }
