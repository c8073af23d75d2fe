// Package bench measures pspconnect against what an integrator would otherwise write by hand, in
// the same run: a plain net/http + encoding/json handler (Baseline) serving the very same bytes.
//
// Run the whole set and print the table of results with the ratios with
//
//	./bench/run.sh
//
// The benchmarks live in this package's tests (list routes, auth and validation paths, the write
// path, and full syncs by connectortest.Poller over loopback HTTP) and in the *_bench_test.go files
// of the library's packages. Package bench is not part of the library: nothing imports it.
package bench
