package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deskie-go/deskie"
	"github.com/deskie-go/deskie/deskietest"
)

// fastFake has no rate limit, so Watch does not space its polls to a share of it.
var fastFake = deskietest.WithRateLimit(0, 0)

const listenToken = "listen-test-token-0123456789"

// localHandler is the bridge under development: a webhook handler that refuses
// the first refuse deliveries with 500, then hands replies to got.
type localHandler struct {
	url    string
	refuse atomic.Int32
	got    chan *deskie.AgentReply
}

func newLocalHandler(t *testing.T, refuse int) *localHandler {
	h := &localHandler{got: make(chan *deskie.AgentReply, 10)}
	h.refuse.Store(int32(refuse))
	ts := httptest.NewServer(deskie.NewWebhookHandler(func(_ context.Context, r *deskie.AgentReply) error {
		if h.refuse.Add(-1) >= 0 {
			return io.ErrUnexpectedEOF // the handler answers 500
		}
		h.got <- r
		return nil
	}, deskie.WithWebhookToken(listenToken)))
	t.Cleanup(ts.Close)
	h.url = ts.URL + "/deskie/" + listenToken
	return h
}

// startListen runs `deskie listen` in the background and returns its output
// lines; it is stopped when the test ends and must then exit 0.
func startListen(t *testing.T, environ map[string]string, args ...string) <-chan string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		code := run(ctx, append([]string{"listen"}, args...), pw, &stderr, func(k string) string { return environ[k] })
		_ = pw.Close()
		done <- code
	}()
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != exitOK {
				t.Errorf("listen exited %d; stderr %q", code, stderr.String())
			}
		case <-time.After(10 * time.Second):
			t.Error("listen did not stop")
		}
		if !strings.Contains(stderr.String(), "deskie listen: polling ") {
			t.Errorf("listen's stderr: %q", stderr.String())
		}
	})
	return lines
}

func nextLine(t *testing.T, lines <-chan string) string {
	t.Helper()
	select {
	case l, ok := <-lines:
		if !ok {
			t.Fatal("listen's output ended")
		}
		return l
	case <-time.After(15 * time.Second):
		t.Fatal("no line from listen within 15 s")
	}
	return ""
}

func TestListenForwardsAndRetries(t *testing.T) {
	t.Parallel() // each waits for a few polls
	srv, ch, environ := fakeEnv(t, deskietest.ChannelAsync, fastFake)
	local := newLocalHandler(t, 1) // the first delivery fails
	lines := startListen(t, environ, "--json", "--channel", ch, "--forward", local.url, "--poll", "100ms", "--lookback", "1m")

	client, err := deskie.NewClient("", srv.StaffEmail(), srv.APIKey(), deskie.WithBaseURL(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	res, err := client.Chats.Send(t.Context(), &deskie.CustomerMessage{Channel: ch, UserCustomID: "alice", Content: "Hi"})
	if err != nil {
		t.Fatal(err)
	}
	msgID, err := srv.AgentReply(res.CaseID, 7, "Hello Alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.AgentNote(res.CaseID, 7, "internal"); err != nil {
		t.Fatal(err)
	}

	var first, second listenOut
	if err := json.Unmarshal([]byte(nextLine(t, lines)), &first); err != nil {
		t.Fatal(err)
	}
	if first.MessageID != msgID || first.Status != http.StatusInternalServerError || first.OK || !first.Retry || first.Error == "" {
		t.Fatalf("first attempt: %+v", first)
	}
	if err := json.Unmarshal([]byte(nextLine(t, lines)), &second); err != nil {
		t.Fatal(err)
	}
	if second.MessageID != msgID || second.Status != http.StatusOK || !second.OK || second.Retry || second.UserCustomID != "alice" || second.CaseID != res.CaseID {
		t.Fatalf("second attempt: %+v", second)
	}
	select {
	case r := <-local.got:
		// Delivered as the service would: the handler parsed every field.
		if r.MessageID != msgID || r.Content != "Hello Alice" || r.UserCustomID != "alice" || r.UserID != res.UserID || r.Note {
			t.Fatalf("the handler got %+v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the handler got nothing")
	}
	// The note is not forwarded, nor is the reply again.
	select {
	case l := <-lines:
		t.Fatalf("unexpected line %q", l)
	default:
	}
}

func TestListenText(t *testing.T) {
	t.Parallel() // each waits for a few polls
	srv, ch, environ := fakeEnv(t, deskietest.ChannelSync, fastFake)
	local := newLocalHandler(t, 0)
	lines := startListen(t, environ, "--channel", ch, "--forward", local.url, "--poll", "100ms", "--lookback", "1m")
	ids, err := srv.SeedCases(ch, "bob", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.AgentReply(ids[0], 7, "Hi Bob"); err != nil {
		t.Fatal(err)
	}
	if l := nextLine(t, lines); !strings.Contains(l, "user bob → 200 OK") {
		t.Fatalf("line %q", l)
	}
}

func TestListenHandlerDown(t *testing.T) {
	t.Parallel() // each waits for a few polls
	srv, ch, environ := fakeEnv(t, deskietest.ChannelAsync, fastFake)
	ts := httptest.NewServer(http.NotFoundHandler())
	down := ts.URL + "/deskie/x"
	ts.Close() // nothing listens there now
	lines := startListen(t, environ, "--json", "--channel", ch, "--forward", down, "--poll", "100ms", "--lookback", "1m")
	ids, err := srv.SeedCases(ch, "carol", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.AgentReply(ids[0], 7, "Hi Carol"); err != nil {
		t.Fatal(err)
	}
	var out listenOut
	if err := json.Unmarshal([]byte(nextLine(t, lines)), &out); err != nil {
		t.Fatal(err)
	}
	if out.OK || out.Status != 0 || !out.Retry || !strings.Contains(out.Error, "connection refused") {
		t.Fatalf("handler down: %+v", out)
	}
}

func TestListenBadOption(t *testing.T) {
	_, ch, environ := fakeEnv(t, deskietest.ChannelAsync)
	r := cli(t, environ, "listen", "--channel", ch, "--forward", "http://127.0.0.1:9/x", "--lookback", "1000h")
	if line := r.oneErrorLine(t); r.code != exitUsage || !strings.Contains(line, "--lookback must be between 0 and 168h") {
		t.Fatalf("exit %d, %q", r.code, line)
	}
	r = cli(t, environ, "listen", "--channel", ch, "--forward", "http://127.0.0.1:9/x", "--poll", "0s")
	if line := r.oneErrorLine(t); r.code != exitUsage || !strings.Contains(line, "--poll must be positive") {
		t.Fatalf("exit %d, %q", r.code, line)
	}
}
