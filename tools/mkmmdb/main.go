// Command mkmmdb writes the tiny MaxMind-format databases the geo pipe's
// tests read (pipes-src/geo/testdata/*.mmdb). They live in this tools
// module so the main module does not carry mmdbwriter for test fixtures;
// rerun `task geo:fixtures` only when the networks below change.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// testNet is one network of the generated databases: documentation
// ranges, so the fixtures say nothing about real networks.
type testNet struct {
	cidr, country, city string
	asn                 uint32
	org                 string
}

var testNets = []testNet{
	{"192.0.2.0/24", "DE", "Berlin", 64500, "Example Net"},
	{"198.51.100.0/24", "DE", "Hamburg", 64501, "Other Net"},
	{"203.0.113.0/24", "FR", "", 64502, ""},
	{"2001:db8::/32", "JP", "Tokyo", 0, ""},
}

func main() {
	out := flag.String("out", "pipes-src/geo/testdata", "folder to write the .mmdb files to")
	flag.Parse()
	for _, dbType := range []string{"Canopy-Test", "GeoLite2-Country", "GeoLite2-ASN"} {
		if err := write(filepath.Join(*out, dbType+".mmdb"), dbType); err != nil {
			fmt.Fprintln(os.Stderr, "mkmmdb:", err)
			os.Exit(1)
		}
	}
}

func write(path, dbType string) error {
	w, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: dbType, RecordSize: 24, IncludeReservedNetworks: true})
	if err != nil {
		return fmt.Errorf("cannot start %s: %w", dbType, err)
	}
	for _, n := range testNets {
		_, ipn, err := net.ParseCIDR(n.cidr)
		if err != nil {
			return err
		}
		m := mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String(n.country)}}
		if n.city != "" {
			m["city"] = mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String(n.city)}}
		}
		if n.asn != 0 {
			m["autonomous_system_number"] = mmdbtype.Uint32(n.asn)
			m["autonomous_system_organization"] = mmdbtype.String(n.org)
		}
		if err := w.Insert(ipn, m); err != nil {
			return fmt.Errorf("cannot insert %s into %s: %w", n.cidr, dbType, err)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := w.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("cannot write %q: %w", path, err)
	}
	return f.Close()
}
