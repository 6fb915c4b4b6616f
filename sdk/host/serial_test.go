package host

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/sdk/pipe"
)

// serialPipe asks for one instance (Manifest.Serial).
type serialPipe struct{ serial bool }

func (s serialPipe) Manifest() pipe.Manifest {
	return pipe.Manifest{Name: "serial", Version: "1", Serial: s.serial,
		Roots: []pipe.Root{{Path: []string{"s"}, Action: pipe.Add}}}
}
func (serialPipe) Init(pipe.Config) error          { return nil }
func (serialPipe) Process(*pipe.Record, *pipe.Out) {}

// TestSerial checks that a serial pipe never has two instances, even with
// many concurrent Gets and an instance dying, while a plain pipe makes one
// per concurrent Get.
func TestSerial(t *testing.T) {
	for _, tc := range []struct {
		serial  bool
		wantMax int64 // serial: exactly; else at least (Gets overlap)
	}{{true, 1}, {false, 2}} {
		ctx := context.Background()
		var made atomic.Int64
		p, err := NewPipe(ctx, "serial", func(context.Context) (Guest, error) {
			made.Add(1)
			return newRunnerGuest(serialPipe{tc.serial}), nil
		}, PipeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var peak, order atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				pi, err := p.Get(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				n := p.instances.Load()
				for {
					old := peak.Load()
					if n <= old || peak.CompareAndSwap(old, n) {
						break
					}
				}
				time.Sleep(10 * time.Millisecond)
				if order.Add(1) == 4 {
					pi.kill(ctx) // a failed batch: the next Get makes a new one
				}
				p.Put(ctx, pi)
			}()
		}
		close(start)
		wg.Wait()
		if got := peak.Load(); (tc.serial && got != 1) || (!tc.serial && got < 2) {
			t.Errorf("serial=%v: %d instances at once, want %d", tc.serial, got, tc.wantMax)
		}
		if tc.serial && made.Load() != 2 {
			t.Errorf("serial: %d guests made, want 2 (the first and one after the kill)", made.Load())
		}
		p.Close(ctx)
		if _, err := p.Get(ctx); err == nil {
			t.Errorf("Get after Close succeeded")
		}
	}
}
