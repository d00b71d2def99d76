// Command peer-go is the benchmark's Go peer: a plain net/http + encoding/json admission webhook doing the same
// work as ours (the same envelope checks, ConnectionPool rules, Status causes and JSON Patch), so that `make bench`
// can say where we stand against what a Go team would write. It is not part of the product.
//
//	GOMAXPROCS=1 peer-go -port 8443 -tls-cert tls.crt -tls-key tls.key
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"io"
	"log"
	"mime"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const maxBodyBytes = 7 << 20 // as webhook/settings.py MAX_BODY_BYTES

func main() {
	host := flag.String("host", "127.0.0.1", "address to listen on")
	port := flag.Int("port", 8443, "HTTPS port")
	certFile := flag.String("tls-cert", "tls.crt", "serving certificate (PEM)")
	keyFile := flag.String("tls-key", "tls.key", "private key of the serving certificate (PEM)")
	flag.Parse()

	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		log.Fatalf("cannot load the serving certificate: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/validate", webhook(validating))
	mux.Handle("/mutate", webhook(mutating))
	ok := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	}
	mux.HandleFunc("/healthz", ok)
	mux.HandleFunc("/readyz", ok)

	server := &http.Server{
		Addr:    net.JoinHostPort(*host, strconv.Itoa(*port)),
		Handler: mux,
		// As ours: TLS 1.2 or later, HTTP/1.1 only (an empty TLSNextProto map turns HTTP/2 off).
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}},
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       10 * time.Second,  // --request-timeout
		IdleTimeout:       120 * time.Second, // --keep-alive-timeout
	}
	stopped := make(chan struct{})
	go func() {
		signals := make(chan os.Signal, 1)
		signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
		<-signals
		ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second) // --graceful-timeout
		defer cancel()
		if err := server.Shutdown(ctx); err != nil {
			log.Printf("shutdown: %v", err)
		}
		close(stopped)
	}()
	log.Printf("serving https://%s (GOMAXPROCS=%d)", server.Addr, runtime.GOMAXPROCS(0))
	if err := server.ListenAndServeTLS("", ""); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	<-stopped
}

// webhook serves one admission webhook: the HTTP-level checks, then the review.
func webhook(j judge) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			reply(w, http.StatusMethodNotAllowed, failure(405, "MethodNotAllowed", "only POST is served here"))
			return
		}
		if media := r.Header.Get("Content-Type"); !isJSON(media) {
			if media == "" {
				media = "none"
			}
			reply(w, http.StatusUnsupportedMediaType, failure(415, "UnsupportedMediaType",
				"Content-Type must be application/json, got "+media))
			return
		}
		tooLarge := failure(413, "RequestEntityTooLarge", "body is larger than "+strconv.Itoa(maxBodyBytes)+" bytes")
		if r.ContentLength > maxBodyBytes {
			w.Header().Set("Connection", "close")
			reply(w, http.StatusRequestEntityTooLarge, tooLarge)
			return
		}
		body, err := readBody(w, r)
		if err != nil {
			var large *http.MaxBytesError
			if errors.As(err, &large) {
				reply(w, http.StatusRequestEntityTooLarge, tooLarge)
			}
			return // otherwise the client went away: nobody to answer
		}
		code, answer := review(body, j)
		reply(w, code, answer)
	})
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	limited := http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if r.ContentLength <= 0 {
		return io.ReadAll(limited)
	}
	body := make([]byte, r.ContentLength)
	_, err := io.ReadFull(limited, body)
	return body, err
}

func reply(w http.ResponseWriter, code int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

func isJSON(contentType string) bool {
	media, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return media == "application/json" || (strings.HasPrefix(media, "application/") && strings.HasSuffix(media, "+json"))
}
