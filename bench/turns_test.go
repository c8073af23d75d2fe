package bench

import (
	"slices"
	"testing"
	"time"
)

// turns has handlers serve requests 0 to n-1 in turns of block requests in a row each, the order
// of the handlers rotating every turn, so that all serve the same requests and share the
// machine's state, and returns each handler's mean time per request in each turn: perTurn[j][k]
// for handler j in turn k.
func turns(n, handlers, block int, serve func(handler, request int)) (perTurn [][]float64) {
	perTurn = make([][]float64, handlers)
	for i := 0; i < n; i += block {
		m := min(block, n-i)
		for k := range handlers {
			j := (i/block + k) % handlers
			t0 := time.Now()
			for q := range m {
				serve(j, i+q)
			}
			perTurn[j] = append(perTurn[j], float64(time.Since(t0).Nanoseconds())/float64(m))
		}
	}
	return perTurn
}

// pairedRatio is the median over the turns of a's time over b's in the same rotation: turns run
// next to each other, so the pair shares the machine's state, and a hiccup of the machine in a
// few turns (these machines are shared) moves the median little.
func pairedRatio(a, b []float64) float64 {
	rs := make([]float64, len(a))
	for k := range a {
		rs[k] = a[k] / b[k]
	}
	return median(rs)
}

// reportTurns reports the per-request times of the handlers measured in turns (perTurn[j][k]: the
// mean of handler j in turn k), each the median over the turns, and the library's ratios to the
// others (pairedRatio).
func reportTurns(b *testing.B, sides []*side, prefix string, perTurn [][]float64) {
	idx := map[string]int{}
	for j, s := range sides {
		idx[s.name] = j
		b.ReportMetric(median(perTurn[j])/1000, prefix+s.name+"-µs")
	}
	lib := perTurn[idx["library"]]
	peers := make([]float64, len(lib))
	for k := range peers {
		peers[k] = min(perTurn[idx["goccy"]][k], perTurn[idx["sonic"]][k])
	}
	b.ReportMetric(pairedRatio(lib, perTurn[idx["precomputed"]]), prefix+"library/precomputed")
	b.ReportMetric(pairedRatio(lib, peers), prefix+"library/fastest-peer")
	b.ReportMetric(pairedRatio(lib, perTurn[idx["baseline"]]), prefix+"library/baseline")
}

// median returns the median of vs.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	vs = slices.Sorted(slices.Values(vs))
	if len(vs)%2 == 1 {
		return vs[len(vs)/2]
	}
	return (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2
}

// TestTurnsServeEveryRequestToEveryHandlerInRotatingOrder: every handler serves every request once,
// in blocks, the handler serving first changing each turn; and the medians are the middle values.
func TestTurnsServeEveryRequestToEveryHandlerInRotatingOrder(t *testing.T) {
	var order [][2]int
	perTurn := turns(10, 3, 4, func(j, i int) { order = append(order, [2]int{j, i}) })
	served := map[[2]int]int{}
	for _, o := range order {
		served[o]++
	}
	for j := range 3 {
		for i := range 10 {
			if served[[2]int{j, i}] != 1 {
				t.Fatalf("handler %d served request %d %d times", j, i, served[[2]int{j, i}])
			}
		}
		if len(perTurn[j]) != 3 { // 4 + 4 + 2 requests
			t.Fatalf("handler %d: %d turns, want 3", j, len(perTurn[j]))
		}
	}
	firsts := []int{order[0][0], order[12][0], order[24][0]} // the first of each rotation
	if firsts[0] == firsts[1] || firsts[1] == firsts[2] {
		t.Fatalf("the first handler of each rotation does not change: %v", firsts)
	}
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Fatalf("median of 3, 1, 2 = %v", m)
	}
	if m := median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Fatalf("median of 4, 1, 3, 2 = %v", m)
	}
	if r := pairedRatio([]float64{2, 4, 100}, []float64{1, 2, 1}); r != 2 {
		t.Fatalf("paired ratio %v, want 2 (the median, whatever one outlier does)", r)
	}
}
