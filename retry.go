package deskie

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"net/url"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// idempotent reports whether a method may be retried after the server might have
// acted on it.
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodOptions:
		return true
	}
	return false
}

// isWrite reports whether the API charges a method as a write (2 units).
func isWrite(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

// callState is the per-call view the retry hooks share: the method (which
// retryablehttp's CheckRetry does not see), and what the last attempt returned.
type callState struct {
	client    *Client
	method    string
	path      string
	attempts  int
	ambiguous bool
	lastErr   error
}

// checkRetry is retryablehttp's own policy (it knows which transport errors a
// retry cannot fix: bad schemes and headers, certificate errors, redirect loops)
// with the SDK's method-aware rules on top: a write that may have reached the
// server is never sent twice.
func (s *callState) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	s.attempts++
	s.lastErr = err
	if ctxErr := ctx.Err(); ctxErr != nil {
		if err == nil {
			s.lastErr = ctxErr
		}
		// A write the server answered (2xx) or failed on (5xx) as the caller gave
		// up may have been applied; one refused (4xx) or never sent was not.
		s.ambiguous = !idempotent(s.method) && (err != nil && !notSent(err) ||
			resp != nil && (resp.StatusCode < 300 || resp.StatusCode >= 500))
		return false, ctxErr
	}
	var se *StoreError
	if errors.As(err, &se) || errors.Is(err, errRedirect) {
		return false, nil // a store that failed, a redirect refused: a retry cannot help
	}
	if resp != nil && isOldRateLimit(resp) {
		return true, nil // the pre-2024 throttling answer: refused, not acted on
	}
	if retry, _ := retryablehttp.DefaultRetryPolicy(ctx, resp, err); !retry {
		return false, nil
	}
	if idempotent(s.method) || notSent(err) || resp != nil && resp.StatusCode == http.StatusTooManyRequests {
		return true, nil // safe to repeat, never reached the server, or refused by it
	}
	s.ambiguous = true // a write that may have been applied: never sent twice
	return false, nil
}

func (s *callState) backoff(minWait, maxWait time.Duration, attempt int, resp *http.Response) time.Duration {
	wait := expBackoff(minWait, maxWait, attempt)
	status := 0
	if resp != nil {
		status = resp.StatusCode
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusForbidden {
			if d, ok := retryAfter(resp.Header, time.Now()); ok {
				wait = min(d, s.client.maxRetryAfter)
			}
		}
	}
	s.client.logger.Info("deskie: retrying request", "method", s.method, "path", s.path,
		"status", status, "attempt", attempt+1, "wait", wait)
	return wait
}

// expBackoff is min·2^attempt capped at max, with jitter in [d/2, d].
func expBackoff(minWait, maxWait time.Duration, attempt int) time.Duration {
	d := minWait
	for i := 0; i < attempt && d < maxWait; i++ {
		d *= 2
	}
	d = min(d, maxWait)
	if half := d / 2; half > 0 {
		d = half + rand.N(half+1) //nolint:gosec // G404: backoff jitter needs no cryptographic randomness
	}
	return d
}

// requestError is the error of a call that got no answer to map. A url.Error is
// unwrapped (it repeats the URL, query string included); when the caller's
// context ended, errors.Is(err, context.Canceled / DeadlineExceeded) holds, with
// the last attempt's own error joined to it.
func (s *callState) requestError(ctx context.Context, err error) error {
	err = withoutURL(err)
	if ctxErr := ctx.Err(); ctxErr != nil {
		last := withoutURL(s.lastErr)
		switch {
		case !errors.Is(err, ctxErr):
			err = errors.Join(ctxErr, err)
		case last != nil && !errors.Is(last, ctxErr):
			err = errors.Join(ctxErr, last)
		}
	}
	return &RequestError{Method: s.method, Path: s.path, Attempts: s.attempts, Ambiguous: s.ambiguous, Err: err}
}

func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
