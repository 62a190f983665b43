package deskietest

import (
	"bytes"
	"crypto/subtle"
	"io"
	"net/http"
	"net/http/httptest"
	"time"
)

// middleware records, authenticates, injects faults and charges the rate budget.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 60<<20))
		r.Body = io.NopCloser(bytes.NewReader(body))
		entry := &Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Body: body}
		s.mu.Lock()
		s.logRequest(entry)
		s.mu.Unlock()
		status := s.serve(w, r, next)
		s.mu.Lock()
		entry.Status = status
		s.mu.Unlock()
	})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, next http.Handler) int {
	// The Date header follows the server's clock (WithClock), as every date in a
	// body does, so a client that reads the server's time sees the same clock.
	w.Header().Set("Date", s.now().UTC().Format(http.TimeFormat))
	user, pass, ok := r.BasicAuth()
	switch {
	case !ok || subtle.ConstantTimeCompare([]byte(pass), []byte(s.cfg.apiKey)) != 1:
		writeError(w, http.StatusUnauthorized, "wrong_api_key")
		return http.StatusUnauthorized
	case user != s.cfg.staffEmail:
		writeError(w, http.StatusForbidden, "wrong_staff_email")
		return http.StatusForbidden
	}
	if s.cfg.rateLimit > 0 {
		left, retryAfter, paid := s.spend(r.Method)
		setRateHeaders(w.Header(), s.cfg.rateLimit, left, retryAfter)
		if !paid {
			writeError(w, http.StatusTooManyRequests, "rate_limit_exceeded")
			return http.StatusTooManyRequests
		}
	}
	switch s.takeFault(r) {
	case FaultServerError:
		writeError(w, http.StatusInternalServerError, "internal_error")
		return http.StatusInternalServerError
	case FaultRateLimit:
		setRateHeaders(w.Header(), max(s.cfg.rateLimit, 1), 0, time.Second)
		writeError(w, http.StatusTooManyRequests, "rate_limit_exceeded")
		return http.StatusTooManyRequests
	case FaultDropBefore:
		drop(w)
		return 0
	case FaultSlow:
		select {
		case <-time.After(s.cfg.slowDelay):
		case <-r.Context().Done():
			return 0
		}
	case FaultServerErrorAfter:
		next.ServeHTTP(httptest.NewRecorder(), r)
		writeError(w, http.StatusInternalServerError, "internal_error")
		return http.StatusInternalServerError
	case FaultDropAfter:
		next.ServeHTTP(httptest.NewRecorder(), r)
		drop(w)
		return 0
	case FaultMalformedJSON:
		next.ServeHTTP(httptest.NewRecorder(), r)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, `{"case":{"case_id":`)
		return http.StatusOK
	}
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	next.ServeHTTP(rec, r)
	return rec.status
}

// drop closes the client's connection without an answer.
func drop(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}
