package httpserver

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Timeouts of the server run by ListenAndServe. Write and idle timeouts are generous because a list
// request may wait on a slow PSP (and, for cursor-paged providers, on several upstream pages).
const (
	// ReadHeaderTimeout bounds the time to read a request's headers.
	ReadHeaderTimeout = 10 * time.Second
	// ReadTimeout bounds the time to read a whole request, body included.
	ReadTimeout = 30 * time.Second
	// WriteTimeout bounds the time from the end of the request headers to the end of the answer,
	// provider call included.
	WriteTimeout = 2 * time.Minute
	// IdleTimeout bounds how long a keep-alive connection waits for the next request.
	IdleTimeout = 2 * time.Minute
	// ShutdownTimeout is how long ListenAndServe waits for requests in flight after it was asked to
	// stop, before closing their connections.
	ShutdownTimeout = 30 * time.Second
)

// ListenAndServe serves h on the TCP address addr (":8080", "127.0.0.1:9000") until ctx is done,
// then shuts down gracefully: it stops accepting connections and waits up to ShutdownTimeout for
// requests in flight. It returns nil after a graceful shutdown, and otherwise the error that
// stopped it (the address is in use, the shutdown timed out, …). It installs no signal handler: the
// caller decides, e.g. with
//
//	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
//	defer stop()
//	err := httpserver.ListenAndServe(ctx, ":8080", handler, logger)
//
// The server has the timeouts above, so that slow or stuck clients cannot hold connections open. A
// nil logger means slog.Default(). Use your own http.Server instead when you need TLS or other
// settings; h is an ordinary http.Handler.
func ListenAndServe(ctx context.Context, addr string, h http.Handler, logger *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return serve(ctx, ln, h, logger)
}

// serve is ListenAndServe on an open listener, which it closes.
func serve(ctx context.Context, ln net.Listener, h http.Handler, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.Default()
	}

	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	logger.Info("serving the Generic Connector API", slog.String("addr", ln.Addr().String()))

	select {
	case err := <-done:
		return err // Serve never returns nil; ErrServerClosed cannot happen before Shutdown
	case <-ctx.Done():
	}
	logger.Info("shutting down", slog.String("addr", ln.Addr().String()))
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	if serveErr := <-done; !errors.Is(serveErr, http.ErrServerClosed) && err == nil {
		err = serveErr
	}
	return err
}
