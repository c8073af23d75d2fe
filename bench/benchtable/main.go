// Command benchtable reads the output of `go test -bench` (several packages, several -count runs)
// on standard input and prints one table of the results: each library benchmark next to its
// hand-written baseline with the ratio, the sync runs with their scaling, and every other
// benchmark with its metrics. bench/run.sh pipes the whole benchmark set into it.
//
// Benchmarks named ".../baseline" and ".../library" are paired. With -count N, each metric is the
// median of the N runs. The targets of the performance work are checked and marked "ok" or "MISSED".
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// result holds every value of every metric of one benchmark, across runs.
type result struct {
	name    string
	order   int
	metrics map[string][]float64
}

func (r *result) median(unit string) (float64, bool) {
	vs := slices.Clone(r.metrics[unit])
	if len(vs) == 0 {
		return 0, false
	}
	sort.Float64s(vs)
	if len(vs)%2 == 1 {
		return vs[len(vs)/2], true
	}
	return (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2, true
}

var cpuSuffix = regexp.MustCompile(`-\d+$`)

// parse reads benchmark lines: "BenchmarkX/y-2  100  1234 ns/op  12 B/op  3 allocs/op  5.0 items/s".
func parse(in io.Reader) ([]*result, error) {
	byName := map[string]*result{}
	var out []*result
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") {
			continue
		}
		if _, err := strconv.Atoi(fields[1]); err != nil {
			continue // not a result line
		}
		name := cpuSuffix.ReplaceAllString(strings.TrimPrefix(fields[0], "Benchmark"), "")
		r, ok := byName[name]
		if !ok {
			r = &result{name: name, order: len(out), metrics: map[string][]float64{}}
			byName[name] = r
			out = append(out, r)
		}
		for i := 2; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				continue
			}
			r.metrics[fields[i+1]] = append(r.metrics[fields[i+1]], v)
		}
	}
	return out, sc.Err()
}

// table prints aligned columns.
type table struct {
	header []string
	rows   [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) print(w io.Writer) {
	widths := make([]int, len(t.header))
	for _, row := range append([][]string{t.header}, t.rows...) {
		for i, c := range row {
			widths[i] = max(widths[i], len(c))
		}
	}
	line := func(row []string) {
		for i, c := range row {
			if i == 0 {
				fmt.Fprintf(w, "%-*s", widths[i], c)
			} else {
				fmt.Fprintf(w, "  %*s", widths[i], c)
			}
		}
		fmt.Fprintln(w)
	}
	line(t.header)
	seps := make([]string, len(widths))
	for i, n := range widths {
		seps[i] = strings.Repeat("-", n)
	}
	line(seps)
	for _, row := range t.rows {
		line(row)
	}
	fmt.Fprintln(w)
}

func num(v float64, ok bool) string {
	if !ok {
		return "-"
	}
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

func verdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "MISSED"
}

func main() {
	results, err := parse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
	byName := map[string]*result{}
	for _, r := range results {
		byName[r.name] = r
	}
	w := os.Stdout
	used := map[string]bool{}

	// 1. Library against the hand-written baseline.
	pairs := table{header: []string{"benchmark (library vs hand-written baseline)", "baseline ns/op", "library ns/op",
		"throughput ratio", "baseline allocs", "library allocs", "target"}}
	for _, r := range results {
		prefix, ok := strings.CutSuffix(r.name, "/library")
		base := byName[prefix+"/baseline"]
		if !ok || base == nil {
			continue
		}
		used[r.name], used[base.name] = true, true
		bns, _ := base.median("ns/op")
		lns, _ := r.median("ns/op")
		ratio := bns / lns
		target := ""
		switch {
		case strings.HasPrefix(prefix, "List"):
			target = ">= 0.95: " + verdict(ratio >= 0.95)
		case strings.HasPrefix(prefix, "Payout"):
			target = "measured one after the other: see PayoutTurns" // the target is checked on the same-run ratio
		}
		ba, bok := base.median("allocs/op")
		la, lok := r.median("allocs/op")
		pairs.add(prefix, num(bns, true), num(lns, true), num(ratio, true), num(ba, bok), num(la, lok), target)
	}
	if len(pairs.rows) > 0 {
		pairs.print(w)
	}

	// 2. Full syncs by the Poller.
	syncs := table{header: []string{"sync (connectortest.Poller over loopback HTTP)", "seconds", "items/s", "requests",
		"data MB", "peak live MB", "live growth MB", "peak heap MB", "retained MB", "target"}}
	var t100k, t1M float64
	for _, r := range results {
		if !strings.HasPrefix(r.name, "PollerSync/") {
			continue
		}
		used[r.name] = true
		ns, _ := r.median("ns/op")
		secs := ns / 1e9
		target := ""
		switch {
		case strings.Contains(r.name, "transactions=100k"):
			t100k = secs
		case strings.Contains(r.name, "transactions=1M"):
			t1M = secs
			target = "<= 15 s: " + verdict(secs <= 15)
		}
		col := func(unit string) string { return num(r.median(unit)) }
		syncs.add(r.name, num(secs, true), col("items/s"), col("requests"), col("data-heap-MB"), col("peak-live-MB"),
			col("live-growth-MB"), col("peak-heap-MB"), col("retained-MB"), target)
	}
	if t100k > 0 && t1M > 0 {
		syncs.add("1M time / 100k time", num(t1M/t100k, true), "", "", "", "", "", "", "", "<= 10.5: "+verdict(t1M/t100k <= 10.5))
	}
	if len(syncs.rows) > 0 {
		syncs.print(w)
	}

	// 3. Ratios measured inside one benchmark (units with a "/", e.g. library/precomputed), with
	// their range over the runs: every run must meet the target.
	ratios := table{header: []string{"ratio measured in one run", "min", "median", "max", "runs", "target"}}
	for _, r := range results {
		units := make([]string, 0, len(r.metrics))
		for unit := range r.metrics {
			if strings.Contains(unit, "/") && unit != "ns/op" && unit != "B/op" && unit != "allocs/op" && unit != "MB/s" &&
				!strings.HasSuffix(unit, "/s") {
				units = append(units, unit)
			}
		}
		sort.Strings(units)
		for _, unit := range units {
			vs := r.metrics[unit]
			lo, hi := slices.Min(vs), slices.Max(vs)
			med, _ := r.median(unit)
			target := ""
			if t, ok := ratioTarget(r.name, unit); ok {
				target = t.text + ": " + verdict(t.met(lo, hi))
			}
			ratios.add(r.name+" "+unit, num(lo, true), num(med, true), num(hi, true), strconv.Itoa(len(vs)), target)
		}
	}
	if len(ratios.rows) > 0 {
		ratios.print(w)
	}

	// 4. Everything else, with its own metrics.
	other := table{header: []string{"other benchmarks", "ns/op", "B/op", "allocs/op", "custom metrics"}}
	for _, r := range results {
		if used[r.name] {
			continue
		}
		var custom []string
		units := make([]string, 0, len(r.metrics))
		for unit := range r.metrics {
			units = append(units, unit)
		}
		sort.Strings(units)
		for _, unit := range units {
			switch unit {
			case "ns/op", "B/op", "allocs/op", "MB/s":
				continue
			}
			v, _ := r.median(unit)
			custom = append(custom, num(v, true)+" "+unit)
		}
		other.add(r.name, num(r.median("ns/op")), num(r.median("B/op")), num(r.median("allocs/op")), strings.Join(custom, ", "))
	}
	if len(other.rows) > 0 {
		other.print(w)
	}
}

// target is the bound a ratio must keep in every run.
type target struct {
	text string
	met  func(lo, hi float64) bool
}

func atMost(v float64) target {
	return target{"<= " + num(v, true), func(_, hi float64) bool { return hi <= v }}
}

func atLeast(v float64) target {
	return target{">= " + num(v, true), func(lo, _ float64) bool { return lo >= v }}
}

// ratioTarget returns the target of a ratio metric of a benchmark, if it has one.
func ratioTarget(name, unit string) (target, bool) {
	switch {
	case strings.HasPrefix(name, "ListLoopback") && unit == "library/precomputed":
		return atMost(1.15), true
	case strings.HasPrefix(name, "ListLoopback") && unit == "library/fastest-peer":
		return target{"< 1", func(_, hi float64) bool { return hi < 1 }}, true
	case strings.HasPrefix(name, "PayoutTurns") && unit == "library-throughput/baseline":
		return atLeast(1.0), true
	case strings.HasPrefix(name, "ListConcurrent") && unit == "library-throughput/precomputed":
		return atLeast(0.85), true
	case strings.HasPrefix(name, "PostgresList") && unit == "library/precomputed+query":
		return atMost(1.15), true
	case strings.HasPrefix(name, "MemoryPerTransaction") && unit == "bytes/json":
		return atMost(1.5), true
	case strings.HasPrefix(name, "SyncScaling") && unit == "1M/100k":
		return atMost(10.5), true
	}
	return target{}, false
}
