package key_test

import (
	"os"
	"testing"

	"github.com/canopy-dev/canopy/daemon/testenv"
)

func TestMain(m *testing.M) {
	testenv.NoFsync() // TestConsumersAgree writes to an embedded trend store
	os.Exit(m.Run())
}
