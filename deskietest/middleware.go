package deskietest

import (
	"bytes"
	"crypto/subtle"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"
)

// Fault is a failure [Server.Fail] injects.
type Fault string

// The faults. "Before" faults leave the state untouched; "after" faults apply the
// request first, so the client cannot tell whether it worked — the ambiguous cases
// a safe client must handle without writing twice.
const (
	// FaultServerError answers 500 without acting.
	FaultServerError Fault = "500"
	// FaultServerErrorAfter acts, then answers 500.
	FaultServerErrorAfter Fault = "500-after-acting"
	// FaultRateLimit answers 429 with retry_after, without acting.
	FaultRateLimit Fault = "429"
	// FaultSlow holds the answer for the slow delay (WithSlowDelay), then acts.
	FaultSlow Fault = "slow"
	// FaultDropBefore closes the connection without acting or answering.
	FaultDropBefore Fault = "drop-before-acting"
	// FaultDropAfter acts, then closes the connection without answering.
	FaultDropAfter Fault = "drop-after-acting"
	// FaultMalformedJSON acts, then answers 200 with a broken JSON body.
	FaultMalformedJSON Fault = "malformed-json"
)

type fault struct {
	method, path string // "" matches any; path may end in "*"
	left         int
	kind         Fault
}

// Fail makes the next n requests matching match fail with f. match is
// "METHOD /path" (e.g. "POST /api/cases.json"), a method alone ("POST"), a path
// alone, or "" for every request; a path ending in "*" matches by prefix
// ("POST /api/cases/*"). Faults are consumed in the order they were added.
func (s *Server) Fail(match string, n int, f Fault) {
	ft := &fault{left: n, kind: f}
	match = strings.TrimSpace(match)
	if m, p, ok := strings.Cut(match, " "); ok {
		ft.method, ft.path = m, strings.TrimSpace(p)
	} else if match != "" && !strings.HasPrefix(match, "/") {
		ft.method = match
	} else {
		ft.path = match
	}
	s.mu.Lock()
	s.faults = append(s.faults, ft)
	s.mu.Unlock()
}

func (f *fault) matches(r *http.Request) bool {
	if f.left <= 0 || (f.method != "" && f.method != "*" && !strings.EqualFold(f.method, r.Method)) {
		return false
	}
	if f.path == "" || f.path == "*" {
		return true
	}
	if prefix, ok := strings.CutSuffix(f.path, "*"); ok {
		return strings.HasPrefix(r.URL.Path, prefix)
	}
	return f.path == r.URL.Path
}

// takeFault consumes the first matching fault.
func (s *Server) takeFault(r *http.Request) Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.faults {
		if f.matches(r) {
			f.left--
			return f.kind
		}
	}
	return ""
}

// rateWindow is a fixed window of the account's budget.
type rateWindow struct {
	start time.Time
	used  int
}

func cost(method string) int {
	if method == http.MethodGet || method == http.MethodHead {
		return 1
	}
	return 2
}

// spend charges a request; it reports false (and how long until the window ends)
// when the budget cannot pay.
func (s *Server) spend(method string) (left int, retryAfter time.Duration, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if s.rate.start.IsZero() || now.Sub(s.rate.start) >= s.cfg.rateWindow {
		s.rate = rateWindow{start: now}
	}
	retryAfter = s.rate.start.Add(s.cfg.rateWindow).Sub(now)
	c := cost(method)
	if s.rate.used+c > s.cfg.rateLimit {
		return s.cfg.rateLimit - s.rate.used, retryAfter, false
	}
	s.rate.used += c
	return s.cfg.rateLimit - s.rate.used, retryAfter, true
}

// setRateHeaders writes the three headers in lower case with underscores, exactly
// as the real service does (assigned directly, so net/http does not canonicalize
// them).
func setRateHeaders(h http.Header, limit, left int, retryAfter time.Duration) {
	h["rate_limit_per_minute"] = []string{strconv.Itoa(limit)}
	h["api_calls_left"] = []string{strconv.Itoa(max(left, 0))}
	secs := math.Ceil(retryAfter.Seconds()*1000) / 1000
	h["retry_after"] = []string{strconv.FormatFloat(max(secs, 0), 'f', -1, 64)}
}

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
