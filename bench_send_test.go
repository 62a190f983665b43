package deskie_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deskie-go/deskie"
	"github.com/deskie-go/deskie/deskietest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// countingTransport counts the requests sent and the response body bytes read.
type countingTransport struct {
	next     http.RoundTripper
	requests atomic.Int64
	read     atomic.Int64
}

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c.requests.Add(1)
	resp, err := c.next.RoundTrip(req)
	if resp != nil && resp.Body != nil {
		resp.Body = &countingBody{ReadCloser: resp.Body, n: &c.read}
	}
	return resp, err
}

func (c *countingTransport) reset() { c.requests.Store(0); c.read.Store(0) }

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// steadyRig is a customer with history past cases (all open, seeded), a Client
// that counts what it reads, and the ids the app saved; one Send has run, so the
// next ones are steady.
type steadyRig struct {
	srv     *deskietest.Server
	client  *deskie.Client
	count   *countingTransport
	ch      string
	userID  int64
	caseID  int64
	counter int
}

func newSteadyRig(tb testing.TB, history int) *steadyRig {
	tb.Helper()
	// No server-side rate limit: a benchmark runs thousands of Sends a second.
	srv := deskietest.NewServer(deskietest.WithRequestLog(1000), deskietest.WithRateLimit(0, 0))
	tb.Cleanup(srv.Close)
	ch := srv.AddChannel("App", deskietest.ChannelSync, "")
	ids, err := srv.SeedCases(ch, "steady", history)
	require.NoError(tb, err)
	u, ok := srv.UserByCustomID(ch, "steady")
	require.True(tb, ok)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tb.Cleanup(tr.CloseIdleConnections)
	count := &countingTransport{next: tr}
	client, err := deskie.NewClient("", srv.StaffEmail(), srv.APIKey(), deskie.WithBaseURL(srv.URL),
		deskie.WithHTTPClient(&http.Client{Transport: count, Timeout: 30 * time.Second}), deskie.WithRateBudget(-1))
	require.NoError(tb, err)
	r := &steadyRig{srv: srv, client: client, count: count, ch: ch, userID: u.ID, caseID: ids[len(ids)-1]}
	r.send(tb) // the first Send checks the user id once
	return r
}

func (r *steadyRig) send(tb testing.TB) *deskie.SendResult {
	r.counter++
	res, err := r.client.Chats.Send(context.Background(), &deskie.CustomerMessage{Channel: r.ch, UserCustomID: "steady",
		UserID: r.userID, LastCaseID: r.caseID, Content: fmt.Sprint("steady message ", r.counter)})
	if err != nil {
		tb.Fatal(err)
	}
	if res.Action != deskie.ActionReplied || res.CaseID != r.caseID {
		tb.Fatalf("steady Send went to %s %d, want replied %d", res.Action, res.CaseID, r.caseID)
	}
	return res
}

// BenchmarkSendSteady (issue 11.13) measures a steady Send — the customer's next
// message into their open last chat, ids saved — for a user with 1 and with 100
// past cases: time, response bytes read and requests per Send.
func BenchmarkSendSteady(b *testing.B) {
	for _, history := range []int{1, 100} {
		b.Run(fmt.Sprint("cases=", history), func(b *testing.B) {
			r := newSteadyRig(b, history)
			r.count.reset()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				r.send(b)
			}
			b.StopTimer()
			b.ReportMetric(float64(r.count.read.Load())/float64(b.N), "B-read/op")
			b.ReportMetric(float64(r.count.requests.Load())/float64(b.N), "req/op")
		})
	}
}

// TestSendSteadyCost: a steady Send makes exactly two requests (the last chat,
// then the message) and reads under 8 KB, however long the user's history. v0.1
// read 100 cases to find the last chat (tens of kilobytes at 100 cases).
func TestSendSteadyCost(t *testing.T) {
	for _, history := range []int{1, 100} {
		t.Run(fmt.Sprint("cases=", history), func(t *testing.T) {
			r := newSteadyRig(t, history)
			for range 3 {
				r.count.reset()
				n := len(r.srv.Requests())
				r.send(t)
				reqs := r.srv.Requests()[n:]
				assert.Equal(t, []string{"GET /api/cases.json", fmt.Sprintf("POST /api/cases/%d/messages.json", r.caseID)}, paths(reqs))
				assert.EqualValues(t, 2, r.count.requests.Load())
				assert.Less(t, r.count.read.Load(), int64(8<<10), "bytes read")
				t.Logf("%d past cases: %d requests, %d bytes read", history, r.count.requests.Load(), r.count.read.Load())
			}
		})
	}
}
