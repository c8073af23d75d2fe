package httpserver

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestServeShutsDownGracefully(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)

	started, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		_, _ = io.WriteString(w, "done")
	})
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serve(ctx, ln, h, slog.New(slog.NewTextHandler(io.Discard, nil))) }()

	type answer struct {
		body string
		err  error
	}
	answered := make(chan answer, 1)
	go func() {
		res, err := http.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			answered <- answer{err: err}
			return
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		answered <- answer{body: string(b), err: err}
	}()

	<-started
	cancel() // ask for shutdown while a request is in flight
	select {
	case err := <-served:
		t.Fatalf("serve returned (%v) before the request in flight finished", err)
	default:
	}
	close(release)

	a := <-answered
	require.NoError(t, a.err)
	assert.Equal(t, "done", a.body, "the request in flight completes")
	assert.NoError(t, <-served, "a graceful shutdown returns nil")

	_, err = net.Dial("tcp", ln.Addr().String())
	assert.Error(t, err, "the listener is closed")
}

func TestListenAndServe(t *testing.T) {
	t.Run("bad address", func(t *testing.T) {
		err := ListenAndServe(context.Background(), "256.0.0.1:http-nope", http.NotFoundHandler(), nil)
		assert.Error(t, err)
	})
	t.Run("stops when the context is done", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		assert.NoError(t, ListenAndServe(ctx, "127.0.0.1:0", http.NotFoundHandler(), slog.New(slog.NewTextHandler(io.Discard, nil))))
	})
}

// TestServeLeavesSignalsToTheCaller: a SIGTERM the application handles itself does not stop the
// server; only the context given does.
func TestServeLeavesSignalsToTheCaller(t *testing.T) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM) // the application's own handling (and the test survives)
	defer signal.Stop(sigs)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- serve(ctx, ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	// Wait until the server answers, so that it is fully started, then the signal.
	for i := 0; ; i++ {
		res, err := http.Get("http://" + ln.Addr().String() + "/")
		if err == nil {
			res.Body.Close()
			break
		}
		require.Less(t, i, 100, "the server never answered: %v", err)
		time.Sleep(10 * time.Millisecond)
	}
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
	<-sigs
	select {
	case err := <-served:
		t.Fatalf("the server stopped on a signal the caller did not pass on: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	res, err := http.Get("http://" + ln.Addr().String() + "/")
	require.NoError(t, err)
	res.Body.Close()
	cancel()
	require.NoError(t, <-served)
}
