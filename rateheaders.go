package deskie

import (
	"math"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// Rate returns the rate-limit state from the most recent answer: the account's
// limit per minute, the calls left in the window and, near the limit, how long until
// it refreshes. Zero until the first answer.
func (c *Client) Rate() Rate {
	c.budget.mu.Lock()
	defer c.budget.mu.Unlock()
	return c.budget.rate
}

// Rate is the API's rate-limit state as reported by the lower-case headers
// rate_limit_per_minute, api_calls_left and retry_after (seconds).
type Rate struct {
	// Limit is the account's requests per minute (rate_limit_per_minute).
	Limit int
	// Remaining is the calls left in the current window (api_calls_left); a write
	// costs 2, a read 1.
	Remaining int
	// RetryAfter is how long until the window refreshes (retry_after), when sent.
	RetryAfter time.Duration
	// Observed is when the answer carrying these values arrived.
	Observed time.Time
}

// parsedRate is one answer's rate headers and which of them it carried.
type parsedRate struct {
	Rate
	hasLimit, hasLeft, hasRetryAfter bool
}

func (r parsedRate) any() bool { return r.hasLimit || r.hasLeft || r.hasRetryAfter }

// merge keeps the last value of a header the answer did not carry, except
// retry_after, which only means something on the answer that sent it.
func (r Rate) merge(p parsedRate) Rate {
	out := p.Rate
	if !p.hasLimit {
		out.Limit = r.Limit
	}
	if !p.hasLeft {
		out.Remaining = r.Remaining
	}
	return out
}

// Bounds on what a header may say: a hostile or broken answer never makes a wait
// negative or unbounded, nor an int overflow.
const (
	maxHeaderCount = 1_000_000_000
	maxHeaderWait  = 24 * time.Hour
)

// parseRate reads the rate headers of one answer. The API sends them lower-case
// with underscores (not Retry-After); Go canonicalizes them to
// Rate_limit_per_minute etc. Retry-After is accepted as a fallback. Values that are
// not plain numbers ("5 junk", NaN, Inf, negative) are ignored; huge ones are
// bounded.
func parseRate(h http.Header, now time.Time) parsedRate {
	r := parsedRate{Rate: Rate{Observed: now}}
	r.Limit, r.hasLimit = headerCount(hdrLimit.get(h))
	r.Remaining, r.hasLeft = headerCount(hdrLeft.get(h))
	r.RetryAfter, r.hasRetryAfter = retryAfter(h, now)
	return r
}

// rateHeader is one of the API's rate headers. The wire name is lower case with
// underscores; Go stores it canonicalized ("Rate_limit_per_minute") when it reads
// an answer. Looking both up directly avoids canonicalizing on every call.
type rateHeader struct{ wire, canonical string }

func newRateHeader(wire string) rateHeader {
	return rateHeader{wire: wire, canonical: textproto.CanonicalMIMEHeaderKey(wire)}
}

var (
	hdrLimit      = newRateHeader("rate_limit_per_minute")
	hdrLeft       = newRateHeader("api_calls_left")
	hdrRetryAfter = newRateHeader("retry_after")
)

func (r rateHeader) get(h http.Header) string {
	if v := h[r.canonical]; len(v) > 0 {
		return v[0]
	}
	if v := h[r.wire]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// headerCount parses a non-negative count, bounded by maxHeaderCount.
func headerCount(v string) (int, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return int(min(n, maxHeaderCount)), true
}

// retryAfter reads retry_after (seconds, possibly fractional) or Retry-After
// (seconds or an HTTP date), bounded to [0, maxHeaderWait].
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(hdrRetryAfter.get(h))
	if v == "" {
		v = strings.TrimSpace(h.Get("Retry-After"))
	}
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if math.IsNaN(secs) || math.IsInf(secs, 0) || secs < 0 {
			return 0, false
		}
		return min(time.Duration(min(secs, maxHeaderWait.Seconds())*float64(time.Second)), maxHeaderWait), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), maxHeaderWait), true
	}
	return 0, false
}
