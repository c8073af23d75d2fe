package httpserver

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTenantLimitersForgetIdleTenants(t *testing.T) {
	l := newTenantLimiters(10, 20) // full again two seconds after its last use; kept at least a minute
	t0 := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	for i := range 1000 {
		ok, _ := l.allow(fmt.Sprintf("tenant-%d", i), t0)
		require.True(t, ok)
	}
	require.Equal(t, 1000, l.size())

	// Within the sweep interval nothing is dropped; after it, the idle buckets go.
	ok, _ := l.allow("tenant-0", t0.Add(30*time.Second))
	require.True(t, ok)
	assert.Equal(t, 1000, l.size())
	ok, _ = l.allow("active", t0.Add(limiterSweepInterval))
	require.True(t, ok)
	assert.Equal(t, 2, l.size(), "only the buckets used within the last minute stay: tenant-0 and active")
}

func TestTenantLimiterRetryAfter(t *testing.T) {
	l := newTenantLimiters(2, 1) // a token every 500ms
	now := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	ok, _ := l.allow("t", now)
	require.True(t, ok)
	ok, delay := l.allow("t", now)
	assert.False(t, ok)
	assert.Equal(t, 500*time.Millisecond, delay)
	ok, _ = l.allow("t", now.Add(500*time.Millisecond))
	assert.True(t, ok, "a refused request does not consume a token")
}

func TestTenantLimitersHoldAtMostMaxKeys(t *testing.T) {
	l := newTenantLimiters(0.1, 1) // full again after ten seconds; kept at least a minute
	l.maxKeys = 2
	now := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	for _, key := range []string{"a", "b"} {
		ok, _ := l.allow(key, now)
		require.True(t, ok)
	}
	ok, _ := l.allow("a", now)
	assert.False(t, ok, "a has its own bucket, now empty")
	for range 3 {
		ok, _ = l.allow("c", now)
		assert.True(t, ok, "c finds the map full: no bucket of its own, so no limit of its own")
	}
	assert.Equal(t, 2, l.size())
	assert.Zero(t, l.wait("c", now), "a key without a bucket has a full one")
	assert.Positive(t, l.wait("a", now))

	// Once the idle buckets are gone, a new key gets one.
	later := now.Add(limiterSweepInterval)
	ok, _ = l.allow("c", later)
	require.True(t, ok)
	ok, _ = l.allow("c", later)
	assert.False(t, ok, "c has its own bucket now")
	assert.Equal(t, 1, l.size())
}
