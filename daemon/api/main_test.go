package api

import (
	"flag"
	"os"
	"testing"

	"github.com/canopy-dev/canopy/daemon/testenv"
	"github.com/canopy-dev/canopy/daemon/trend"
)

func TestMain(m *testing.M) {
	testenv.NoFsync()
	flag.Parse()
	// The trend handlers are tested on an embedded store.
	if err := trend.InitLibrary(32 << 20); err != nil {
		panic(err)
	}
	os.Exit(m.Run())
}
