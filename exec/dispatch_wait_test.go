package exec

import (
	"testing"

	"github.com/echelonhq/echelon/store"
)

// TestWorkerWaitMessage: what an unclaimed step says it waits for.
func TestWorkerWaitMessage(t *testing.T) {
	mars := map[string]string{"region": "mars", "tier": "a"}
	for _, c := range []struct {
		labels map[string]string
		w      store.Workers
		want   string
	}{
		{mars, store.Workers{Live: 2}, "a worker with region=mars,tier=a: 2 workers are live, none has these labels"},
		{nil, store.Workers{}, "a worker: no worker is live (start one: echelon worker --store URL)"},
		{mars, store.Workers{Live: 3, Match: 1}, "a worker with region=mars,tier=a: 3 workers are live, 1 with these labels, every slot busy"},
		{nil, store.Workers{Live: 1, Match: 1}, "a worker: 1 worker is live, every slot busy"},
		{nil, store.Workers{Live: 2, Match: 2, Free: 1}, "a worker: 2 workers are live, 1 with a free slot"},
	} {
		if got := workerWaitMessage(c.labels, c.w); got != c.want {
			t.Errorf("%v %+v:\n got %s\nwant %s", c.labels, c.w, got, c.want)
		}
	}
}
