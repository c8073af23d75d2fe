package httpserver

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type leaseTestKey struct{}

// TestLeaseContextBehavesAsWithDeadline: the provider call's context has the lease's deadline, the
// request's values and not its cancellation, ends at the deadline whether it is read through Done
// or Err, cancels its children then, and ends when the call returns.
func TestLeaseContextBehavesAsWithDeadline(t *testing.T) {
	parent, cancelParent := context.WithCancel(context.WithValue(context.Background(), leaseTestKey{}, "v"))
	detached := context.WithoutCancel(parent)
	cancelParent() // the client went away: the call goes on

	t.Run("values and deadline", func(t *testing.T) {
		end := time.Now().Add(time.Hour)
		c := newLeaseContext(detached, end)
		defer c.stop()
		d, ok := c.Deadline()
		assert.True(t, ok)
		assert.Equal(t, end, d)
		assert.Equal(t, "v", c.Value(leaseTestKey{}))
		assert.NoError(t, c.Err())
		select {
		case <-c.Done():
			t.Fatal("done before its deadline")
		default:
		}
	})
	t.Run("Done at the deadline", func(t *testing.T) {
		c := newLeaseContext(detached, time.Now().Add(20*time.Millisecond))
		defer c.stop()
		child, cancel := context.WithCancel(c)
		defer cancel()
		select {
		case <-child.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("the child was not cancelled at the lease's end")
		}
		assert.ErrorIs(t, c.Err(), context.DeadlineExceeded)
		assert.ErrorIs(t, child.Err(), context.DeadlineExceeded)
	})
	t.Run("Err past the deadline without Done", func(t *testing.T) {
		c := newLeaseContext(detached, time.Now().Add(-time.Millisecond))
		defer c.stop()
		assert.ErrorIs(t, c.Err(), context.DeadlineExceeded)
		select {
		case <-c.Done():
		default:
			t.Fatal("Err says done, Done is not closed")
		}
	})
	t.Run("ends when the call returns", func(t *testing.T) {
		c := newLeaseContext(detached, time.Now().Add(time.Hour))
		child, cancel := context.WithTimeout(c, time.Hour)
		defer cancel()
		c.stop()
		assert.ErrorIs(t, c.Err(), context.Canceled)
		<-c.Done()
		<-child.Done()
		assert.True(t, errors.Is(child.Err(), context.Canceled))

		untouched := newLeaseContext(detached, time.Now().Add(time.Hour))
		untouched.stop()
		require.ErrorIs(t, untouched.Err(), context.Canceled, "a context never looked at is done after stop too")
		<-untouched.Done()
	})
}
