package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/deskie-go/deskie"
	"github.com/deskie-go/deskie/deskietest"
)

const testToken = "test-webhook-token-0123456789"

// harness is the widget's backend on a fake Deskie.
type harness struct {
	fake    *deskietest.Server
	channel string
	app     *app
	url     string
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	fake := deskietest.Start(t)
	var handler http.Handler
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(ts.Close)
	ch := fake.AddChannel("Live chat", deskietest.ChannelSync, ts.URL+"/deskie/"+testToken)
	client, err := deskie.NewClient("", fake.StaffEmail(), fake.APIKey(), deskie.WithBaseURL(fake.URL), deskie.WithMaxRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	a := newApp(client, ch, nil)
	handler = a.routes(testToken)
	return &harness{fake: fake, channel: ch, app: a, url: ts.URL}
}

// browser is one visitor: an HTTP client with its own cookies.
type browser struct {
	t  *testing.T
	hc *http.Client
	h  *harness
}

func (h *harness) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	b := &browser{t: t, hc: &http.Client{Jar: jar, Timeout: 10 * time.Second}, h: h}
	resp, err := b.hc.Get(h.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`id="chat-log"`)) {
		t.Fatalf("GET /: %d %s", resp.StatusCode, body)
	}
	return b
}

func (b *browser) post(text, clientID string) (int, postOut) {
	b.t.Helper()
	body, _ := json.Marshal(postIn{Text: text, ClientID: clientID, Name: "Ann"})
	resp, err := b.hc.Post(b.h.url+"/api/messages", "application/json", bytes.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out postOut
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func (b *browser) send(text, clientID string) postOut {
	b.t.Helper()
	status, out := b.post(text, clientID)
	if status != http.StatusOK {
		b.t.Fatalf("POST /api/messages %q: %d", text, status)
	}
	return out
}

// events opens the visitor's event stream and returns the events as they come.
func (b *browser) events(after string) <-chan event {
	b.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b.t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.h.url+"/api/events", nil)
	if after != "" {
		req.Header.Set("Last-Event-ID", after)
	}
	resp, err := (&http.Client{Jar: b.hc.Jar}).Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "text/event-stream" {
		b.t.Fatalf("GET /api/events: %d %s", resp.StatusCode, ct)
	}
	out := make(chan event, 100)
	go func() {
		defer resp.Body.Close()
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var e event
			if json.Unmarshal([]byte(data), &e) == nil {
				out <- e
			}
		}
	}()
	return out
}

func next(t *testing.T, events <-chan event) event {
	t.Helper()
	select {
	case e, ok := <-events:
		if !ok {
			t.Fatal("the event stream ended")
		}
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5 s")
	}
	return event{}
}

func TestConversation(t *testing.T) {
	h := newHarness(t)
	ann := h.browser(t)
	events := ann.events("")

	first := ann.send("Hi! Where is my order?", "m1")
	if first.Action != "created_case" || first.CaseID == 0 {
		t.Fatalf("first message: %+v", first)
	}
	if e := next(t, events); e.Kind != "customer" || e.Text != "Hi! Where is my order?" || e.ClientID != "m1" || e.CaseID != first.CaseID {
		t.Fatalf("first event: %+v", e)
	}
	second := ann.send("It was due Monday", "m2")
	if second.Action != "replied" || second.CaseID != first.CaseID {
		t.Fatalf("second message: %+v", second)
	}
	next(t, events)

	// The agent answers; the webhook brings it to the page's stream.
	msgID, err := h.fake.AgentReply(first.CaseID, 7, "<p>Checking with the courier&hellip;</p>")
	if err != nil {
		t.Fatal(err)
	}
	if e := next(t, events); e.Kind != "agent" || e.Text != "Checking with the courier…" || e.MessageID != msgID || e.CaseID != first.CaseID {
		t.Fatalf("agent event: %+v", e)
	}

	// The agent closes the chat: the next message opens a new case, and the page
	// says so.
	if err := h.fake.CloseCase(first.CaseID); err != nil {
		t.Fatal(err)
	}
	third := ann.send("Thanks! One more question", "m3")
	if third.Action != "created_case" || third.CaseID == first.CaseID {
		t.Fatalf("after close: %+v", third)
	}
	if e := next(t, events); e.Kind != "system" || e.CaseID != third.CaseID {
		t.Fatalf("system event: %+v", e)
	}
	if e := next(t, events); e.Kind != "customer" || e.CaseID != third.CaseID {
		t.Fatalf("third event: %+v", e)
	}

	// A reload replays the transcript; Last-Event-ID resumes after what was seen.
	replay := ann.events("")
	var kinds []string
	for range 5 {
		kinds = append(kinds, next(t, replay).Kind)
	}
	if strings.Join(kinds, ",") != "customer,customer,agent,system,customer" {
		t.Fatalf("replay: %v", kinds)
	}
	resumed := ann.events("4")
	if e := next(t, resumed); e.Seq != 5 {
		t.Fatalf("resumed at %+v", e)
	}
}

func TestRetriedMessageIsSentOnce(t *testing.T) {
	h := newHarness(t)
	ann := h.browser(t)
	first := ann.send("Hello", "same-id")
	again := ann.send("Hello", "same-id")
	if again.Action != "duplicate" || again.CaseID != first.CaseID || again.Seq != first.Seq {
		t.Fatalf("retry: %+v, first %+v", again, first)
	}
	if n := len(h.fake.Messages(first.CaseID)); n != 1 {
		t.Fatalf("%d messages in the case, want 1", n)
	}
}

func TestVisitorsAreApart(t *testing.T) {
	h := newHarness(t)
	ann, bob := h.browser(t), h.browser(t)
	annCase := ann.send("I am Ann", "a1").CaseID
	bobCase := bob.send("I am Bob", "b1").CaseID
	if annCase == bobCase {
		t.Fatal("two visitors share a case")
	}
	bobEvents := bob.events("")
	if _, err := h.fake.AgentReply(annCase, 7, "For Ann only"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.fake.AgentReply(bobCase, 7, "For Bob"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"I am Bob", "For Bob"} {
		if e := next(t, bobEvents); e.Text != want {
			t.Fatalf("Bob's stream: %+v, want %q", e, want)
		}
	}
}

func TestBadInput(t *testing.T) {
	h := newHarness(t)
	ann := h.browser(t)
	for _, tc := range []struct {
		text string
		want int
	}{
		{"   ", http.StatusBadRequest},
		{strings.Repeat("x", maxTextRunes+1), http.StatusBadRequest},
	} {
		if status, _ := ann.post(tc.text, "x"); status != tc.want {
			t.Errorf("text of %d bytes: %d, want %d", len(tc.text), status, tc.want)
		}
	}
	resp, err := ann.hc.Post(h.url+"/api/messages", "application/json", strings.NewReader("{"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("malformed JSON: %d", resp.StatusCode)
	}
	// The webhook refuses a wrong token.
	resp, err = http.Post(h.url+"/deskie/wrong-token", "application/x-www-form-urlencoded", strings.NewReader("type=message_new"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("wrong webhook token: %d", resp.StatusCode)
	}
	if len(h.fake.Cases()) != 0 {
		t.Fatal("bad input reached the helpdesk")
	}
}

func TestHelpdeskDownSaysNotSent(t *testing.T) {
	h := newHarness(t)
	ann := h.browser(t)
	h.fake.Fail("", 100, deskietest.FaultServerError) // every call fails
	status, _ := ann.post("Hello?", "m1")
	if status != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", status)
	}
	h.fake.ClearFaults()
	// The page sends it again with the same id: it lands once.
	out := ann.send("Hello?", "m1")
	if out.Action != "created_case" || len(h.fake.Messages(out.CaseID)) != 1 {
		t.Fatalf("resend: %+v", out)
	}
}

func TestTranscriptIsBounded(t *testing.T) {
	h := newHarness(t)
	ann := h.browser(t)
	caseID := ann.send("start", "c0").CaseID
	v := h.app.visitor(ann.visitorID(t))
	for i := range maxEvents + 50 {
		if err := h.app.deliver(t.Context(), &deskie.AgentReply{MessageID: int64(1000 + i), CaseID: caseID, UserCustomID: v.id, Content: "r"}); err != nil {
			t.Fatal(err)
		}
	}
	h.app.mu.Lock()
	n, first := len(v.events), v.events[0].Seq
	h.app.mu.Unlock()
	if n != maxEvents || first != 52 {
		t.Fatalf("%d events kept, the first %d", n, first)
	}
}

func (b *browser) visitorID(t *testing.T) string {
	for _, c := range b.hc.Jar.Cookies(mustURL(t, b.h.url)) {
		if c.Name == visitorCookie {
			return c.Value
		}
	}
	t.Fatal("no visitor cookie")
	return ""
}

func TestStaticAssets(t *testing.T) {
	h := newHarness(t)
	for path, ctype := range map[string]string{"/static/widget.js": "text/javascript", "/static/widget.css": "text/css"} {
		resp, err := http.Get(h.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) {
			t.Errorf("GET %s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
}

// TestRunDemo runs the program as `go run ./examples/livechat` does: on the
// embedded fake, printing the widget's and the console's URLs, until interrupted.
func TestRunDemo(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, []string{"--addr", "127.0.0.1:0"}, func(string) string { return "" }, pw, io.Discard)
		_ = pw.Close()
		done <- err
	}()
	urls := map[string]string{}
	sc := bufio.NewScanner(pr)
	line := regexp.MustCompile(`^\s+(widget|console):\s+(\S+)`)
	for len(urls) < 2 && sc.Scan() {
		if m := line.FindStringSubmatch(sc.Text()); m != nil {
			urls[m[1]] = m[2]
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	for _, name := range []string{"widget", "console"} {
		resp, err := http.Get(urls[name])
		if err != nil {
			t.Fatalf("%s %q: %v", name, urls[name], err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", name, resp.StatusCode)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop")
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestLongTranscriptReplaysItsEnd: a page that opens on a long transcript gets
// its latest events, within maxReplayBytes.
func TestLongTranscriptReplaysItsEnd(t *testing.T) {
	h := newHarness(t)
	ann := h.browser(t)
	caseID := ann.send("start", "c0").CaseID
	v := h.app.visitor(ann.visitorID(t))
	for i := range maxEvents {
		long := strings.Repeat(fmt.Sprintf("reply %d ", i), 1000)
		if err := h.app.deliver(t.Context(), &deskie.AgentReply{MessageID: int64(1000 + i), CaseID: caseID, UserCustomID: v.id, Content: long}); err != nil {
			t.Fatal(err)
		}
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, h.url+"/api/events", nil)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	req = req.WithContext(ctx)
	resp, err := (&http.Client{Jar: ann.hc.Jar}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// Read the replay: it ends with the newest event (the customer's message was
	// seq 1, the replies 2 to maxEvents+1).
	newest := int64(maxEvents + 1)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	size, first, last := 0, int64(0), int64(0)
	for sc.Scan() {
		size += len(sc.Bytes()) + 1
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			var e event
			if err := json.Unmarshal([]byte(data), &e); err != nil {
				t.Fatal(err)
			}
			if first == 0 {
				first = e.Seq
			}
			last = e.Seq
			if e.Seq == newest { // the replay is complete
				break
			}
		}
	}
	if last != newest || first <= 2 || size > maxReplayBytes+1024 {
		t.Fatalf("replayed seq %d..%d, %d bytes", first, last, size)
	}
}
