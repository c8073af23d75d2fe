package httpserver_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/httpserver"
)

// soakEnv, set to a duration ("30s"), runs TestSoakUnderAbuse for that long.
const soakEnv = "PSPCONNECT_SOAK"

// logMeter is a log destination that keeps only the count and the longest line.
type logMeter struct {
	mu      sync.Mutex
	lines   int64
	bytes   int64
	longest int
}

func (m *logMeter) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lines += int64(bytes.Count(p, []byte("\n")))
	m.bytes += int64(len(p))
	m.longest = max(m.longest, len(p))
	return len(p), nil
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// TestSoakUnderAbuse serves, over loopback HTTP, 100 tenants polled with their right keys while
// abusers send the mixes of issue 17: a flood of wrong keys, 60 KB query strings (with a wrong key
// and with a right one), ids of 69 KB in the path, and payouts with a 69 KB idempotency key
// (replayed). It
// checks that the right keys are always served, that nothing answers 5xx, that every log line stays
// small, and that the heap after the warm-up stays flat. It runs only when PSPCONNECT_SOAK gives
// its duration (e.g. PSPCONNECT_SOAK=30s), and logs its numbers.
func TestSoakUnderAbuse(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv(soakEnv))
	if err != nil || d <= 0 {
		t.Skipf("%s is not set to a duration: skipping the soak (e.g. %s=30s)", soakEnv, soakEnv)
	}
	keys := map[string]string{}
	for i := range 100 {
		keys[fmt.Sprintf("soak-key-%03d", i)] = fmt.Sprintf("tenant-%03d", i)
	}
	logs := &logMeter{}
	p := newWriteProvider(nil)
	p.forget = true
	h, err := httpserver.New(p, httpserver.WithAPIKeys(keys),
		httpserver.WithLogger(slog.New(slog.NewJSONHandler(logs, nil))))
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()

	bigQuery := "page=1&pageSize=25&note=" + strings.Repeat("q", 60<<10)
	bigID := strings.Repeat("i", 69<<10)
	type mix struct {
		name    string
		workers int
		req     func(i int) *http.Request
		ok      func(status int) bool
	}
	get := func(path, key string) *http.Request {
		r, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		r.Header.Set("Authorization", "Bearer "+key)
		return r
	}
	mixes := []mix{
		{"right keys polling", 4, func(i int) *http.Request {
			return get("/transactions?page=1&pageSize=25&sort=updatedAt:asc", fmt.Sprintf("soak-key-%03d", i%100))
		}, func(s int) bool { return s == http.StatusOK }},
		{"wrong-key flood", 4, func(i int) *http.Request {
			return get("/transactions?page=1&pageSize=25", fmt.Sprintf("wrong-%d", i))
		}, func(s int) bool { return s == http.StatusUnauthorized || s == http.StatusTooManyRequests }},
		{"60 KB query, wrong key", 1, func(int) *http.Request { return get("/transactions?"+bigQuery, "wrong") },
			func(s int) bool { return s == http.StatusUnauthorized || s == http.StatusTooManyRequests }},
		{"60 KB query, right key", 1, func(i int) *http.Request {
			return get("/transactions?"+bigQuery, fmt.Sprintf("soak-key-%03d", i%100))
		}, func(s int) bool { return s == http.StatusBadRequest }},
		{"69 KB id", 1, func(i int) *http.Request {
			return get("/accounts/"+bigID+"/balances", fmt.Sprintf("soak-key-%03d", i%100))
		}, func(s int) bool { return s == http.StatusOK || s == http.StatusNotFound }},
		{"69 KB idempotency key", 1, func(i int) *http.Request {
			// One key per tenant, replayed after its first request: the store holds 100 records.
			body := payoutWithKey(bigID)
			r, _ := http.NewRequest(http.MethodPost, srv.URL+"/payouts", strings.NewReader(body))
			r.Header.Set("Authorization", "Bearer "+fmt.Sprintf("soak-key-%03d", i%100))
			r.Header.Set("Content-Type", "application/json")
			return r
		}, func(s int) bool { return s == http.StatusCreated }},
	}

	var (
		mu       sync.Mutex
		statuses = map[string]map[int]int{}
		bad      []string
	)
	var total atomic.Int64
	start := time.Now()
	end := start.Add(d)
	var wg sync.WaitGroup
	for _, m := range mixes {
		statuses[m.name] = map[int]int{}
		for w := range m.workers {
			wg.Go(func() {
				for i := w; time.Now().Before(end); i += m.workers {
					res, err := client.Do(m.req(i))
					status := 0
					if err == nil {
						_, _ = io.Copy(io.Discard, res.Body)
						_ = res.Body.Close()
						status = res.StatusCode
					}
					total.Add(1)
					mu.Lock()
					statuses[m.name][status]++
					if !m.ok(status) && len(bad) < 10 {
						bad = append(bad, fmt.Sprintf("%s: status %d (%v)", m.name, status, err))
					}
					mu.Unlock()
				}
			})
		}
	}
	// The heap after the warm-up (a fifth of the run), then every tenth of it.
	time.Sleep(d / 5)
	warm := heapInUse()
	peak := warm
	for time.Now().Before(end) {
		time.Sleep(d / 10)
		peak = max(peak, heapInUse())
	}
	wg.Wait()
	client.CloseIdleConnections()
	final := heapInUse()
	srv.Close()

	elapsed := time.Since(start)
	t.Logf("%d requests in %v (%.0f/s)", total.Load(), elapsed.Round(time.Millisecond), float64(total.Load())/elapsed.Seconds())
	for _, m := range mixes {
		t.Logf("  %-24s %v", m.name, statuses[m.name])
	}
	t.Logf("heap in use: %.1f MB after the warm-up, %.1f MB at most, %.1f MB at the end", mb(warm), mb(peak), mb(final))
	t.Logf("log: %d lines, %.0f bytes a line on average, the longest %d bytes", logs.lines, float64(logs.bytes)/float64(max(logs.lines, 1)), logs.longest)

	assert.Empty(t, bad, "unexpected answers")
	assert.Less(t, logs.longest, 2048, "every log line stays small")
	assert.Less(t, int64(peak)-int64(warm), int64(16<<20), "the heap stays flat after the warm-up")
	assert.Greater(t, statuses["wrong-key flood"][http.StatusTooManyRequests], 0, "the flood is rate limited")
}

func mb(n uint64) float64 { return float64(n) / (1 << 20) }
