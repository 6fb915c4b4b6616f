package app

import (
	"os"
	"testing"

	"github.com/canopy-dev/canopy/daemon/testenv"
)

func TestMain(m *testing.M) {
	testenv.NoFsync() // the replay and kill -9 tests write embedded trend stores
	os.Exit(m.Run())
}
