package sse

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// log is a Source over a slice that grows.
type log struct {
	mu      sync.Mutex
	events  []Event
	changed chan struct{}
}

func newLog(texts ...string) *log {
	l := &log{changed: make(chan struct{})}
	for _, t := range texts {
		l.add(t)
	}
	return l
}

func (l *log) add(text string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, Event{Seq: int64(len(l.events) + 1), Data: map[string]string{"text": text}})
	close(l.changed)
	l.changed = make(chan struct{})
}

func (l *log) after(seq int64) ([]Event, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Event
	for _, e := range l.events {
		if e.Seq > seq {
			out = append(out, e)
		}
	}
	return out, l.changed
}

// frame is one event as the client reads it.
type frame struct {
	id   int64
	text string
}

// stream connects to srv and returns a reader of its events and comments.
func stream(t *testing.T, srv *httptest.Server, query, lastID string) (*http.Response, func() (frame, string)) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/"+query, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	sc := bufio.NewScanner(resp.Body)
	// next returns the next event, or the next comment line.
	next := func() (frame, string) {
		t.Helper()
		var f frame
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, ":"):
				return frame{}, line
			case strings.HasPrefix(line, "id: "):
				f.id, _ = strconv.ParseInt(strings.TrimPrefix(line, "id: "), 10, 64)
			case strings.HasPrefix(line, "data: "):
				var d map[string]string
				if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &d); err != nil {
					t.Fatalf("data %q: %v", line, err)
				}
				f.text = d["text"]
			case line == "" && f.id != 0:
				return f, ""
			}
		}
		t.Fatalf("the stream ended: %v", sc.Err())
		return frame{}, ""
	}
	return resp, next
}

// serve starts a server of l's stream, closed when the test ends (after the
// streams, which are cleaned up first).
func serve(t *testing.T, l *log, keepAlive time.Duration, maxBytes int) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Serve(w, r, keepAlive, maxBytes, l.after)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestServeReplaysThenStreams(t *testing.T) {
	l := newLog("one", "two", "three")
	srv := serve(t, l, time.Hour, 0)

	resp, next := stream(t, srv, "?after=1", "")
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	for _, want := range []frame{{2, "two"}, {3, "three"}} {
		if got, _ := next(); got != want {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	}
	l.add("four")
	if got, _ := next(); got != (frame{4, "four"}) {
		t.Fatalf("after a new event: got %+v", got)
	}
}

func TestServeLastEventIDWinsOverAfter(t *testing.T) {
	l := newLog("one", "two", "three")
	srv := serve(t, l, time.Hour, 0)
	_, next := stream(t, srv, "?after=0", "2")
	if got, _ := next(); got != (frame{3, "three"}) {
		t.Fatalf("a reconnect after id 2 got %+v first", got)
	}
}

func TestServeCutsALongReplayToItsNewest(t *testing.T) {
	l := newLog()
	for i := range 20 {
		l.add(strings.Repeat(strconv.Itoa(i%10), 100))
	}
	// Each frame is about 130 bytes: 500 bytes hold the newest 3.
	srv := serve(t, l, time.Hour, 500)
	_, next := stream(t, srv, "", "")
	for _, want := range []int64{18, 19, 20} {
		if got, _ := next(); got.id != want {
			t.Fatalf("got event %d, want %d", got.id, want)
		}
	}
	// A later event is sent whole, after the cut replay.
	l.add("new")
	if got, _ := next(); got != (frame{21, "new"}) {
		t.Fatalf("got %+v", got)
	}
}

func TestServeSendsTheNewestEvenWhenOverTheBound(t *testing.T) {
	l := newLog(strings.Repeat("x", 1000))
	srv := serve(t, l, time.Hour, 10)
	_, next := stream(t, srv, "", "")
	if got, _ := next(); got.id != 1 || len(got.text) != 1000 {
		t.Fatalf("got event %d with %d bytes", got.id, len(got.text))
	}
}

func TestServeKeepsAlive(t *testing.T) {
	srv := serve(t, newLog(), time.Millisecond, 0)
	_, next := stream(t, srv, "", "")
	if _, comment := next(); comment != ": keep-alive" {
		t.Fatalf("got comment %q", comment)
	}
}

func TestServeEndsWhenTheClientGoes(t *testing.T) {
	l := newLog("one")
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		Serve(w, r, time.Hour, 0, l.after)
	}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Serve still runs 10 s after the client went")
	}
}
