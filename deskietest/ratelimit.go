package deskietest

import (
	"math"
	"net/http"
	"strconv"
	"time"
)

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
// when the budget cannot pay. The window follows the server's clock.
func (s *Server) spend(method string) (left int, retryAfter time.Duration, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.clock()
	if s.rate.start.IsZero() || now.Sub(s.rate.start) >= s.cfg.rateWindow || now.Before(s.rate.start) {
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
