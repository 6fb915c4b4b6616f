package trend

import (
	"flag"
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	flag.Parse()
	if err := InitLibrary(64 << 20); err != nil {
		panic(err)
	}
	// Helper processes for the kill -9 test run instead of the tests.
	if os.Getenv(crashHelperEnv) != "" {
		os.Exit(crashHelper())
	}
	os.Exit(m.Run())
}
