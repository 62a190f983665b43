package deskie

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrAmbiguous marks a failed write that may or may not have been applied: a POST
// answered with a 5xx, or whose connection failed after the request was sent.
// errors.Is(err, ErrAmbiguous) tells a caller to look before writing again;
// [ChatsService.Send] does exactly that.
var ErrAmbiguous = errors.New("deskie: the request may or may not have been applied")

// ErrInvalidArgument is matched (errors.Is) by every [*ArgumentError].
var ErrInvalidArgument = errors.New("deskie: invalid argument")

// ArgumentError reports bad input found before any request was sent.
type ArgumentError struct {
	// Field names the argument or field that was wrong, e.g. "CaseCreate.Channel".
	Field string
	// Reason says what was wrong with it.
	Reason string
}

// Error returns "deskie: invalid <Field>: <Reason>".
func (e *ArgumentError) Error() string {
	return "deskie: invalid " + e.Field + ": " + e.Reason
}

// Is reports whether target is [ErrInvalidArgument].
func (e *ArgumentError) Is(target error) bool { return target == ErrInvalidArgument }

// APIError is any non-2xx answer from the API. It never carries credentials or the
// query string.
type APIError struct {
	// StatusCode is the HTTP status of the last attempt.
	StatusCode int
	// Code is the API's error code from {"error":"..."}, e.g. "case_not_found";
	// empty when the body had none.
	Code string
	// Message is the body's "message", or the start of a non-JSON body.
	Message string
	// Method and Path identify the call ("POST", "/api/cases.json").
	Method, Path string
	// Attempts is how many times the request was sent.
	Attempts int

	ambiguous bool
}

// Error returns e.g. "deskie: GET /api/cases/7.json: 404 case_not_found".
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "deskie: %s %s: %d", e.Method, e.Path, e.StatusCode)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	} else if text := http.StatusText(e.StatusCode); text != "" {
		b.WriteString(" " + text)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (after %d attempts)", e.Attempts)
	}
	if e.ambiguous {
		b.WriteString(" (may or may not have been applied)")
	}
	return b.String()
}

// Is reports whether target is [ErrAmbiguous] and this answer was a 5xx to a POST.
func (e *APIError) Is(target error) bool { return target == ErrAmbiguous && e.ambiguous }

// RateLimitError is a 429 (or an old-style 403 "rate limit exceeded") that was
// still refused when retries were spent. errors.As also finds its [*APIError].
type RateLimitError struct {
	APIError
	// RetryAfter is the API's retry_after, when it sent one.
	RetryAfter time.Duration
}

// Error returns the API error text with the advised wait.
func (e *RateLimitError) Error() string {
	s := e.APIError.Error() + ": rate limited"
	if e.RetryAfter > 0 {
		s += fmt.Sprintf("; retry after %v", e.RetryAfter)
	}
	return s
}

// As lets errors.As(err, &apiErr) find the embedded *APIError.
func (e *RateLimitError) As(target any) bool {
	if t, ok := target.(**APIError); ok {
		*t = &e.APIError
		return true
	}
	return false
}

// RequestError is a call that got no HTTP answer: a connection error, a timeout, or
// a canceled context. Unwrap gives the cause (errors.Is(err, context.Canceled)
// works).
type RequestError struct {
	// Method and Path identify the call.
	Method, Path string
	// Attempts is how many times the request was tried.
	Attempts int
	// Ambiguous is set when a non-idempotent request may have reached the server.
	Ambiguous bool
	// Err is the cause.
	Err error
}

// Error returns e.g. "deskie: POST /api/cases.json: connection reset (may or may not have been applied)".
func (e *RequestError) Error() string {
	s := fmt.Sprintf("deskie: %s %s: %v", e.Method, e.Path, e.Err)
	if e.Attempts > 1 {
		s += fmt.Sprintf(" (after %d attempts)", e.Attempts)
	}
	if e.Ambiguous {
		s += " (may or may not have been applied)"
	}
	return s
}

// Unwrap returns the cause.
func (e *RequestError) Unwrap() error { return e.Err }

// Is reports whether target is [ErrAmbiguous] and the request may have been applied.
func (e *RequestError) Is(target error) bool { return target == ErrAmbiguous && e.Ambiguous }

// DecodeError is a 2xx answer whose body could not be decoded. For a write
// (POST) the server said it acted, but what it made is unknown: such an error
// also matches [ErrAmbiguous], and a caller looks before writing again.
type DecodeError struct {
	// Method and Path identify the call (Path as APIError reports it).
	Method, Path string
	// Err is the JSON error.
	Err error
	// Ambiguous is true for a write whose answer could not be read.
	Ambiguous bool
}

// Is reports whether target is ErrAmbiguous and the write may have been applied.
func (e *DecodeError) Is(target error) bool { return target == ErrAmbiguous && e.Ambiguous }

// Error names the endpoint and the decoding problem.
func (e *DecodeError) Error() string {
	return fmt.Sprintf("deskie: %s %s: decoding answer: %v", e.Method, e.Path, e.Err)
}

// Unwrap returns the JSON error.
func (e *DecodeError) Unwrap() error { return e.Err }

// IsNotFound reports whether err is an API answer saying the thing does not exist:
// a 404, or an error code ending in "_not_found" (e.g. "case_not_found").
func IsNotFound(err error) bool {
	var e *APIError
	if !errors.As(err, &e) {
		return false
	}
	return e.StatusCode == http.StatusNotFound || strings.HasSuffix(e.Code, "_not_found")
}

// notSentError marks a failure that happened before the request left this process
// (waiting for the rate budget was canceled).
type notSentError struct{ err error }

func (e *notSentError) Error() string { return "not sent: " + e.err.Error() }
func (e *notSentError) Unwrap() error { return e.err }

// notSent reports whether err proves the server never saw the request: a dial or
// DNS failure, or a wait for the rate budget that ended first. Anything else (a
// reset, a timeout while waiting for the answer) may have reached the server.
func notSent(err error) bool {
	if err == nil {
		return false
	}
	var ns *notSentError
	if errors.As(err, &ns) {
		return true
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// checkResponse maps a non-2xx answer to an *APIError (a 429, or an old-style 403
// "rate limit exceeded", to a *RateLimitError), reading the body with a cap.
func (s *callState) checkResponse(resp *http.Response) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	apiErr := APIError{
		StatusCode: resp.StatusCode,
		Method:     s.method,
		Path:       s.path,
		Attempts:   max(s.attempts, 1),
		ambiguous:  s.ambiguous,
	}
	var wire struct {
		Error   flexString `json:"error"`
		Message flexString `json:"message"`
	}
	if json.Unmarshal(body, &wire) == nil {
		apiErr.Code, apiErr.Message = string(wire.Error), string(wire.Message)
	}
	if apiErr.Code == "" && apiErr.Message == "" {
		apiErr.Message = string(body)
	}
	// A proxy that echoes the request must not leak the key into logs: redact,
	// then cut (on a rune boundary) what is kept of the server's text.
	apiErr.Code = excerpt(s.client.auth.redact(apiErr.Code), maxErrorExcerpt)
	apiErr.Message = excerpt(s.client.auth.redact(apiErr.Message), maxErrorExcerpt)
	if resp.StatusCode == http.StatusTooManyRequests || bodySaysRateLimit(resp.StatusCode, body) {
		d, _ := retryAfter(resp.Header, time.Now())
		return &RateLimitError{APIError: apiErr, RetryAfter: d}
	}
	return &apiErr
}

// isOldRateLimit recognizes the pre-2024 throttling answer: a 403 whose body says
// "rate limit exceeded". It peeks at the body and puts it back.
func isOldRateLimit(resp *http.Response) bool {
	if resp.StatusCode != http.StatusForbidden {
		return false
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return bodySaysRateLimit(resp.StatusCode, body)
}

func bodySaysRateLimit(status int, body []byte) bool {
	return status == http.StatusForbidden && bytes.Contains(bytes.ToLower(body), []byte("rate limit exceeded"))
}

// redact removes the credentials from text taken from an answer: the API key, the
// Basic-auth token built from it, and any "Basic …" value.
func (c *credentials) redact(text string) string {
	if text == "" {
		return text
	}
	key := string(c.apiKey)
	token := base64.StdEncoding.EncodeToString([]byte(c.staffEmail + ":" + key))
	for _, secret := range []string{token, key} {
		if secret != "" {
			text = strings.ReplaceAll(text, secret, "[redacted]")
		}
	}
	return basicAuthPattern.ReplaceAllString(text, "Basic [redacted]")
}

var basicAuthPattern = regexp.MustCompile(`(?i)basic\s+[A-Za-z0-9+/=_-]{8,}`)

// maxErrorExcerpt bounds how much of the server's text an APIError keeps.
const maxErrorExcerpt = 200

// excerpt trims s and cuts it to at most n bytes without splitting a character.
func excerpt(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
