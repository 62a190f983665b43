package deskie

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	testKey   = "K3y-s3cr3t-value"
	testEmail = "agent@example.com"
	testBase  = "https://acme.deskie.io"
)

// setup returns a client whose transport is an httpmock MockTransport, with tiny
// retry waits and no client-side rate budget.
func setup(t *testing.T, opts ...Option) (*Client, *httpmock.MockTransport) {
	t.Helper()
	mt := httpmock.NewMockTransport()
	base := []Option{
		WithHTTPClient(&http.Client{Transport: mt}),
		WithRetryWait(time.Millisecond, 4*time.Millisecond),
		WithRateBudget(-1),
	}
	c, err := NewClient("acme", testEmail, testKey, append(base, opts...)...)
	require.NoError(t, err)
	return c, mt
}

// sent is one request as the mock saw it.
type sent struct {
	Method string
	Path   string
	Query  url.Values
	Header http.Header
	Body   []byte
}

// JSON decodes the body.
func (s sent) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(s.Body, &m), "body: %s", s.Body)
	return m
}

// Form parses a multipart body into its fields and files (name → content).
func (s sent) Form(t *testing.T) (fields map[string][]string, files map[string]string) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(s.Header.Get("Content-Type"))
	require.NoError(t, err)
	require.Equal(t, "multipart/form-data", mt)
	form, err := multipart.NewReader(bytes.NewReader(s.Body), params["boundary"]).ReadForm(1 << 20)
	require.NoError(t, err)
	files = map[string]string{}
	for name, fhs := range form.File {
		f, err := fhs[0].Open()
		require.NoError(t, err)
		data, _ := io.ReadAll(f)
		files[name+"|"+fhs[0].Filename] = string(data)
	}
	return form.Value, files
}

// recorder registers responders and records every request they receive.
type recorder struct {
	mu   sync.Mutex
	reqs []sent
}

func (rec *recorder) all() []sent {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]sent(nil), rec.reqs...)
}

func (rec *recorder) reset() {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.reqs = nil
}

func (rec *recorder) last(t *testing.T) sent {
	t.Helper()
	all := rec.all()
	require.NotEmpty(t, all, "no request was sent")
	return all[len(all)-1]
}

// reply is one scripted answer: a status, a JSON body, headers, or a transport error.
type reply struct {
	status int
	body   string
	header map[string]string
	err    error
}

// on registers a responder for method+path (path without query) that answers the
// scripted replies in order, repeating the last one.
func (rec *recorder) on(mt *httpmock.MockTransport, method, path string, replies ...reply) {
	var mu sync.Mutex
	n := 0
	mt.RegisterResponder(method, testBase+path, func(req *http.Request) (*http.Response, error) {
		var body []byte
		if req.Body != nil {
			body, _ = io.ReadAll(req.Body)
		}
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, sent{Method: req.Method, Path: req.URL.Path, Query: req.URL.Query(), Header: req.Header.Clone(), Body: body})
		rec.mu.Unlock()
		mu.Lock()
		r := replies[min(n, len(replies)-1)]
		n++
		mu.Unlock()
		if r.err != nil {
			return nil, r.err
		}
		resp := httpmock.NewStringResponse(r.status, r.body)
		resp.Header.Set("Content-Type", "application/json")
		for k, v := range r.header {
			resp.Header.Set(k, v)
		}
		resp.Request = req
		return resp, nil
	})
}

func ok(body string) reply      { return reply{status: 200, body: body} }
func created(body string) reply { return reply{status: 201, body: body} }

// assertAuth checks the headers every request carries.
func assertAuth(t *testing.T, s sent) {
	t.Helper()
	req := &http.Request{Header: s.Header}
	user, pass, hasAuth := req.BasicAuth()
	assert.True(t, hasAuth, "Basic auth")
	assert.Equal(t, testEmail, user)
	assert.Equal(t, testKey, pass)
	assert.Equal(t, "application/json", s.Header.Get("Accept"))
	assert.Equal(t, "deskie-go/"+Version, s.Header.Get("User-Agent"))
}

func withBody(r *http.Response, body string) *http.Response {
	r.Body = io.NopCloser(strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	return r
}
