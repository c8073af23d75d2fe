package feedtest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/connectortest"
	"github.com/pspconnect/pspconnect/feed"
	"github.com/pspconnect/pspconnect/httpserver"
	"github.com/pspconnect/pspconnect/models"
)

const syncKey = "feedtest-key"

// TransactionsProvider returns a connector.Provider that serves f as its transactions (for the
// tenant of each request) and has no accounts or beneficiaries: what a test needs to put a
// transactions feed behind httpserver and Formance's poller.
func TransactionsProvider(f feed.Feed[models.Transaction]) connector.Provider {
	return feedProvider{txs: f}
}

// feedProvider serves a transactions feed (and no accounts or beneficiaries) through the library.
type feedProvider struct {
	txs feed.Feed[models.Transaction]
}

func (feedProvider) ListAccounts(context.Context, connector.ListRequest) (connector.Page[models.Account], error) {
	return connector.Page[models.Account]{}, nil
}

func (feedProvider) ListBeneficiaries(context.Context, connector.ListRequest) (connector.Page[models.Beneficiary], error) {
	return connector.Page[models.Beneficiary]{}, nil
}

func (p feedProvider) ListTransactions(ctx context.Context, req connector.ListRequest) (connector.Page[models.Transaction], error) {
	return feed.List(ctx, p.txs, req)
}

func (feedProvider) GetBalances(_ context.Context, id string) (models.Balances, error) {
	return models.Balances{}, connector.NotFound("account %q", id)
}

func handlerOver(t *testing.T, f feed.Feed[models.Transaction]) *httpserver.Handler {
	t.Helper()
	h, err := httpserver.New(feedProvider{txs: f}, httpserver.WithAPIKey(syncKey),
		httpserver.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// psp is the simulated PSP behind the feed: the state of each transaction, with timestamps of a
// given precision, changing at random.
type psp struct {
	mu        sync.Mutex
	rng       *rand.Rand
	precision time.Duration
	clock     time.Time
	state     map[string]models.Transaction
	order     []string
}

func (p *psp) now() time.Time { return p.clock.Truncate(p.precision) }

// tick moves the PSP's clock by a little, so that many items share one timestamp of its precision.
func (p *psp) tick() { p.clock = p.clock.Add(time.Duration(p.rng.IntN(40)) * time.Millisecond) }

func (p *psp) add(late bool) models.Transaction {
	p.tick()
	id := fmt.Sprintf("tx_%05d", len(p.order))
	at := p.now()
	if late { // reported late, with a time well behind what was served
		at = at.Add(-time.Duration(1+p.rng.IntN(20)) * time.Second).Truncate(p.precision)
	}
	t := models.Transaction{ID: id, CreatedAt: at, UpdatedAt: at, Currency: "USD/2", Type: models.TransactionTypePayin,
		Status: models.TransactionStatusPending, Amount: models.AmountFromInt64(int64(100 + len(p.order))), DestinationAccountID: "acc_1"}
	p.state[id] = t
	p.order = append(p.order, id)
	return t
}

var lifecycle = []models.TransactionStatus{models.TransactionStatusSucceeded, models.TransactionStatusRefunded,
	models.TransactionStatusDispute, models.TransactionStatusDisputeLost}

func (p *psp) change() models.Transaction {
	p.tick()
	t := p.state[p.order[p.rng.IntN(len(p.order))]]
	t.Status = lifecycle[p.rng.IntN(len(lifecycle))]
	if p.rng.IntN(3) > 0 { // most PSPs move updatedAt; some do not
		t.UpdatedAt = p.now()
	}
	p.state[t.ID] = t
	return t
}

// checkPollerLosesNothing: Formance's poller over two replicas of the middleware (round-robin per
// request), with random changes, new items and late items between the pages of a fetch and between
// cycles, a restart of one replica in the middle of fetches (shared stores), at three timestamp
// precisions and four page sizes: every item and every final status arrives.
func checkPollerLosesNothing(t *testing.T, open Opener) {
	for _, precision := range []time.Duration{time.Nanosecond, time.Millisecond, time.Second} {
		for _, pageSize := range []int{1, 7, 25, 100} {
			t.Run(fmt.Sprintf("precision=%v/pageSize=%d", precision, pageSize), func(t *testing.T) {
				pollerLosesNothing(t, open, precision, pageSize)
			})
		}
	}
}

func pollerLosesNothing(t *testing.T, open Opener, precision time.Duration, pageSize int) {
	ctx := context.Background()
	st := open(t)
	writer := st.Transactions()
	p := &psp{rng: rand.New(rand.NewPCG(uint64(precision), uint64(pageSize))), precision: precision,
		clock: t0, state: map[string]models.Transaction{}}
	var initial []models.Transaction
	for range 150 {
		initial = append(initial, p.add(false))
	}
	if err := writer.Put(ctx, httpserver.DefaultTenant, initial...); err != nil {
		t.Fatal(err)
	}
	replicas := []*connectortest.Swappable{
		connectortest.NewSwappable(handlerOver(t, st.Transactions())),
		connectortest.NewSwappable(handlerOver(t, st.Transactions())),
	}
	var mu sync.Mutex
	budget := 150 // mutations before the PSP settles; the poller must then catch up with everything
	restarts := 0
	mutate := func() error {
		mu.Lock()
		defer mu.Unlock()
		if budget == 0 {
			return nil
		}
		budget--
		var batch []models.Transaction
		for range 1 + p.rng.IntN(3) {
			switch p.rng.IntN(4) {
			case 0:
				batch = append(batch, p.add(false))
			case 1:
				batch = append(batch, p.add(true))
			default:
				batch = append(batch, p.change())
			}
		}
		if st.Shared && p.rng.IntN(10) == 0 { // a replica restarts: a new process on the same store
			replicas[restarts%2].Swap(handlerOver(t, st.Transactions()))
			restarts++
		}
		return writer.Put(ctx, httpserver.DefaultTenant, batch...)
	}
	targets := make([]connectortest.Target, len(replicas))
	for i, r := range replicas {
		targets[i] = connectortest.Target{Handler: r, APIKey: syncKey}
	}
	poller := connectortest.NewPollerWithOptions(connectortest.PollerOptions{
		Targets: targets, PageSize: pageSize,
		BetweenPages: func(context.Context, string, int) error { return mutate() },
	})
	defer poller.Close()

	last := map[string]models.Transaction{}
	const maxCycles = 1000
	for cycle := 0; ; cycle++ {
		if cycle >= maxCycles {
			t.Fatalf("the poller still received data after %d cycles", maxCycles)
		}
		cy, err := poller.Cycle(ctx)
		if err != nil {
			t.Fatalf("cycle %d: %v", cycle, err)
		}
		for _, tx := range cy.Transactions {
			last[tx.ID] = tx
		}
		mu.Lock()
		settled := budget == 0
		mu.Unlock()
		if settled && cy.Empty() {
			break
		}
		if err := mutate(); err != nil { // between cycles too
			t.Fatal(err)
		}
	}
	lost, stale := 0, 0
	for _, id := range p.order {
		want := p.state[id]
		got, ok := last[id]
		switch {
		case !ok:
			lost++
			if lost <= 5 {
				t.Errorf("%s never arrived (PSP time %s)", id, want.UpdatedAt.Format(time.RFC3339Nano))
			}
		case got.Status != want.Status:
			stale++
			if stale <= 5 {
				t.Errorf("%s arrived last as %s, but its final status is %s", id, got.Status, want.Status)
			}
		}
	}
	if lost+stale > 0 {
		t.Errorf("%d of %d transactions never arrived and %d arrived in a stale state", lost, len(p.order), stale)
	}
}
