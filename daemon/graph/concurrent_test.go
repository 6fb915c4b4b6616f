package graph

import (
	"io"
	"sync"
	"testing"
)

// TestRenderConcurrently: one Renderer serves many requests at once.
func TestRenderConcurrently(t *testing.T) {
	r := NewRenderer()
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, name := range []string{"default", "url"} {
				ch := fixtures()[name]
				for _, f := range Formats {
					if err := r.Render(io.Discard, ch, f); err != nil {
						t.Errorf("%s as %s: %v", name, f, err)
					}
				}
			}
		}()
	}
	wg.Wait()
}
