package pgingest_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pspconnect/pspconnect/feed/pgfeed"
	"github.com/pspconnect/pspconnect/ingest"
	"github.com/pspconnect/pspconnect/ingest/pgingest"
	"github.com/pspconnect/pspconnect/models"
)

func newEventLog(t *testing.T, pool *pgxpool.Pool) (*pgingest.EventLog[models.Transaction], *pgfeed.Feed[models.Transaction]) {
	t.Helper()
	f, err := pgfeed.Transactions(pool)
	require.NoError(t, err)
	require.NoError(t, f.Migrate(context.Background()))
	l, err := pgingest.NewEventLog(pool, f)
	require.NoError(t, err)
	require.NoError(t, l.Migrate(context.Background()))
	return l, f
}

func deliver(t *testing.T, l ingest.EventLog[models.Transaction], id string, at time.Time, seq int64, status models.TransactionStatus) ingest.Delivery {
	t.Helper()
	obj := tx("tx_1", at, status)
	d, err := l.Deliver(context.Background(), "t1", ingest.Event[models.Transaction]{ID: id, Time: at, Sequence: seq, ObjectID: "tx_1", Object: &obj},
		func(context.Context) (models.Transaction, error) { return obj, nil })
	require.NoError(t, err)
	return d
}

// TestEventLogIsDurableAndOrderSafe: a replay after a restart (a new pool, a new log) is
// recognized, an older event after a newer one writes nothing, and a failed delivery records
// nothing, so the PSP's retry applies it.
func TestEventLogIsDurableAndOrderSafe(t *testing.T) {
	schema := newSchema(t)
	l, f := newEventLog(t, newPool(t, schema))
	t1 := t0.Add(time.Second)
	assert.Equal(t, ingest.Applied, deliver(t, l, "evt_2", t1, 0, models.TransactionStatusRefunded))

	restarted, _ := newEventLog(t, newPool(t, schema))
	assert.Equal(t, ingest.Replayed, deliver(t, restarted, "evt_2", t1, 0, models.TransactionStatusRefunded), "a retry after a restart")
	assert.Equal(t, ingest.Stale, deliver(t, restarted, "evt_1", t0, 0, models.TransactionStatusSucceeded), "an older event")
	assert.Equal(t, ingest.Stale, deliver(t, restarted, "evt_1b", t1, -1, models.TransactionStatusSucceeded), "the same second, a lower sequence")
	got, ok, err := f.Get(context.Background(), "t1", "tx_1")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, models.TransactionStatusRefunded, got.Status, "an older event never rolls the status back")

	_, err = restarted.Deliver(context.Background(), "t1", ingest.Event[models.Transaction]{ID: "evt_3", Time: t1.Add(time.Second), ObjectID: "tx_1"},
		func(context.Context) (models.Transaction, error) { return models.Transaction{}, fmt.Errorf("PSP down") })
	require.Error(t, err)
	assert.Equal(t, ingest.Applied, deliver(t, restarted, "evt_3", t1.Add(time.Second), 0, models.TransactionStatusFailed), "the retry of a failed delivery applies")
}

// TestEventLogSerializesAnObjectAcrossReplicas: events of one object delivered at once through
// two replicas, in random order: the object ends in the state of the newest event.
func TestEventLogSerializesAnObjectAcrossReplicas(t *testing.T) {
	schema := newSchema(t)
	a, f := newEventLog(t, newPool(t, schema))
	b, _ := newEventLog(t, newPool(t, schema))
	statuses := []models.TransactionStatus{models.TransactionStatusPending, models.TransactionStatusSucceeded,
		models.TransactionStatusRefunded, models.TransactionStatusDispute, models.TransactionStatusDisputeLost}
	var wg sync.WaitGroup
	for i := 39; i >= 0; i-- {
		log := a
		if i%2 == 0 {
			log = b
		}
		wg.Go(func() {
			deliver(t, log, fmt.Sprint("evt_", i), t0.Add(time.Duration(i)*time.Second), 0, statuses[i%len(statuses)])
		})
	}
	wg.Wait()
	got, _, err := f.Get(context.Background(), "t1", "tx_1")
	require.NoError(t, err)
	assert.Equal(t, statuses[39%len(statuses)], got.Status, "the newest event's state")
}
