package connectortest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// duringFetchHook returns an Options.ChangesDuringFetch for a MemoryProvider: while the poller pages
// route, it changes items of route as a PSP does: three transactions move one lifecycle step and one
// transaction is added, or one account or beneficiary is added.
func duringFetchHook(p *MemoryProvider, ds *Dataset) func(context.Context, string, int) error {
	return func(_ context.Context, route string, _ int) error {
		switch route {
		case routeAccounts.path:
			return p.Load(ds.More(1, 0, 0))
		case routeBeneficiaries.path:
			return p.Load(ds.More(0, 1, 0))
		}
		if err := p.PutTransactions(ds.Advance(3)...); err != nil {
			return err
		}
		return p.Load(ds.More(0, 0, 1))
	}
}

// TestRunChangesSkippedWithoutHooks: without Options.Changes and Options.ChangesDuringFetch the
// changes check is skipped with its reason, and Run reports that skip on the *testing.T (so that
// go test -v shows "--- SKIP: …/changes" and the reason); with Changes only, "during a fetch" is
// the one skipped.
func TestRunChangesSkippedWithoutHooks(t *testing.T) {
	s := newRefServer(faultNone)
	target := Target{Handler: s.handler(), APIKey: testKey}

	rep, err := Check(t.Context(), target, Options{PageSizes: []int{25}, SkipWrites: true})
	require.NoError(t, err)
	require.True(t, rep.Passed, "%s", rep.Summary())
	var changes CheckResult
	for _, c := range rep.Checks {
		if c.Name == "changes" {
			changes = c
		}
	}
	assert.Equal(t, ResultSkipped, changes.Result)
	assert.Contains(t, changes.SkipReason, "not checked: Options.Changes and Options.ChangesDuringFetch are not set, so Run never changes the data and cannot see a middleware lose changes")
	assert.Contains(t, rep.Summary(), "skipped changes: not checked: Options.Changes")

	// What Run does with the report: the skip reaches the test as a skip, with its reason.
	rec := newRecorder(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); rep.root.replay(rec) }()
	<-done
	assert.Empty(t, rec.failedChecks())
	assert.Contains(t, rec.skips()["changes"], "Options.ChangesDuringFetch are not set")

	rec = runRecorded(t, target, Options{PageSizes: []int{25}, SkipWrites: true, Changes: refChanges(s, false)})
	require.Empty(t, rec.failedChecks(), rec.dump())
	skips := rec.skips()
	assert.NotContains(t, skips, "changes")
	assert.NotContains(t, skips, "changes/between cycles")
	assert.Equal(t, "not checked: Options.ChangesDuringFetch is not set", skips["changes/during a fetch"])
}

// TestRunChangesDuringFetch: a middleware that answers by offset from a listing in which a changed
// transaction moves to the end (refServer) loses the item at the page boundary when the change lands
// between two pages of one fetch, and the changes check names it; the library's feeds
// (MemoryProvider) lose nothing through the same kind of changes.
func TestRunChangesDuringFetch(t *testing.T) {
	t.Run("shifting listing loses the boundary item", func(t *testing.T) {
		s := newRefServer(faultNone)
		rec := runRecorded(t, Target{Handler: s.handler(), APIKey: testKey},
			Options{PageSizes: []int{7, 25}, SkipWrites: true, ChangesDuringFetch: s.shiftNext})
		require.Equal(t, []string{"changes"}, rec.failedChecks(), rec.dump())
		assertFinding(t, rec, "changes", "changes/during a fetch/pageSize=7: pageSize=7: transaction tx_", "never arrived: Options.ChangesDuringFetch ran after page 1 of a fetch of /accounts (2 times)", "after page 1 of a fetch of /transactions (2 times), and a listing that shifts",
			"the listing must not shift under the client while it pages")
		assert.Equal(t, "not checked: Options.Changes is not set", rec.skips()["changes/between cycles"])
	})
	t.Run("feeds lose nothing", func(t *testing.T) {
		ds := Generate(GenSpec{Seed: 9, Accounts: 60, Beneficiaries: 60, Transactions: 300, Precision: time.Second, PerSecond: 20, Lifecycle: true})
		p, target := serveMemory(t, ds)
		rec := runRecorded(t, target, Options{PageSizes: []int{7, 25}, ChangesDuringFetch: duringFetchHook(p, ds)})
		require.Empty(t, rec.failedChecks(), rec.dump())
		logs := rec.logLines("changes/during a fetch/pageSize=7")
		require.NotEmpty(t, logs)
		assert.Contains(t, logs[len(logs)-1], "Options.ChangesDuringFetch ran after page 1 of a fetch of /accounts")
		assert.Contains(t, logs[len(logs)-1], "of a fetch of /transactions")
	})
}
