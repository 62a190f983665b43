package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deskie-go/deskie"
	"github.com/deskie-go/deskie/deskietest"
)

const testToken = "test-webhook-token-0123456789"

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
	ch := fake.AddChannel("Customer account", deskietest.ChannelAsync, ts.URL+"/deskie/"+testToken)
	client, err := deskie.NewClient("", fake.StaffEmail(), fake.APIKey(), deskie.WithBaseURL(fake.URL), deskie.WithMaxRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	a := newApp(client, ch, []byte("test-key"), nil)
	handler = a.routes(testToken)
	return &harness{fake: fake, channel: ch, app: a, url: ts.URL}
}

// browser is one person's browser: its own cookies, redirects not followed.
type browser struct {
	t  *testing.T
	hc *http.Client
	h  *harness
}

func (h *harness) anonymous(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, h: h, hc: &http.Client{
		Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (h *harness) signIn(t *testing.T, login string) *browser {
	b := h.anonymous(t)
	status, loc, _ := b.postForm("/signin", url.Values{"login": {login}})
	if status != http.StatusSeeOther || loc != "/cases" {
		t.Fatalf("sign in as %s: %d → %q", login, status, loc)
	}
	return b
}

func (b *browser) get(path string) (int, string) {
	b.t.Helper()
	resp, err := b.hc.Get(b.h.url + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func (b *browser) postForm(path string, form url.Values) (status int, location, body string) {
	b.t.Helper()
	resp, err := b.hc.PostForm(b.h.url+path, form)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(text)
}

var caseLocation = regexp.MustCompile(`^/cases/(\d+)\?notice=(\w+)#compose$`)

// write sends a message from the Support page (or a thread, when from is set) and
// returns the case it went to and the notice.
func (b *browser) write(from int64, subject, text string) (int64, string) {
	b.t.Helper()
	path := "/messages"
	if from != 0 {
		path = fmt.Sprintf("/cases/%d/messages", from)
	}
	status, loc, body := b.postForm(path, url.Values{"subject": {subject}, "text": {text}, "key": {strconv.FormatInt(time.Now().UnixNano(), 36)}})
	m := caseLocation.FindStringSubmatch(loc)
	if status != http.StatusSeeOther || m == nil {
		b.t.Fatalf("POST %s: %d → %q: %s", path, status, loc, body)
	}
	id, _ := strconv.ParseInt(m[1], 10, 64)
	return id, m[2]
}

func TestAccessControl(t *testing.T) {
	h := newHarness(t)
	alice, bob := h.signIn(t, "alice"), h.signIn(t, "bob")
	aliceCase, notice := alice.write(0, "Invoice", "Please resend my invoice")
	if notice != "new" {
		t.Fatalf("alice's first message: %s", notice)
	}
	bobCase, _ := bob.write(0, "Login", "I cannot log in")

	// Alice sees her case; Bob gets exactly what a missing case gets.
	if status, body := alice.get(fmt.Sprintf("/cases/%d", aliceCase)); status != http.StatusOK || !strings.Contains(body, "Please resend my invoice") {
		t.Fatalf("alice's own case: %d", status)
	}
	status, forbidden := bob.get(fmt.Sprintf("/cases/%d", aliceCase))
	missingStatus, missing := bob.get("/cases/999999")
	if status != http.StatusNotFound || missingStatus != http.StatusNotFound || strings.Contains(forbidden, "invoice") {
		t.Fatalf("bob reading alice's case: %d (missing: %d)", status, missingStatus)
	}
	if forbidden != missing {
		t.Fatal("someone else's case is told apart from a missing one")
	}
	// Nor can he write into it, nor list it.
	status, _, _ = bob.postForm(fmt.Sprintf("/cases/%d/messages", aliceCase), url.Values{"text": {"sneaky"}})
	if status != http.StatusNotFound {
		t.Fatalf("bob writing into alice's case: %d", status)
	}
	if _, body := bob.get("/cases"); strings.Contains(body, "Invoice") || !strings.Contains(body, "Login") {
		t.Fatalf("bob's list shows alice's case or not his own:\n%s", body)
	}
	for _, m := range h.fake.Messages(aliceCase) {
		if strings.Contains(m.Content, "sneaky") {
			t.Fatal("bob's message reached alice's case")
		}
	}
	// A customer who never wrote has no cases, and none of the others'.
	carol := h.signIn(t, "carol")
	if status, _ := carol.get(fmt.Sprintf("/cases/%d", bobCase)); status != http.StatusNotFound {
		t.Fatalf("carol reading bob's case: %d", status)
	}
	if _, body := carol.get("/cases"); !strings.Contains(body, `id="no-cases"`) {
		t.Fatal("carol's empty list")
	}
	// A case of another channel with the same user is not the portal's either.
	other := h.fake.AddChannel("Other", deskietest.ChannelAsync, "")
	ids, err := h.fake.SeedCases(other, "alice", 1)
	if err != nil {
		t.Fatal(err)
	}
	if status, _ := alice.get(fmt.Sprintf("/cases/%d", ids[0])); status != http.StatusNotFound {
		t.Fatalf("a case of another channel: %d", status)
	}
}

func TestSignInIsRequiredAndCannotBeForged(t *testing.T) {
	h := newHarness(t)
	anon := h.anonymous(t)
	if status, _ := anon.get("/cases"); status != http.StatusSeeOther {
		t.Fatalf("anonymous /cases: %d", status)
	}
	if status, _, _ := anon.postForm("/messages", url.Values{"text": {"hi"}}); status != http.StatusUnauthorized {
		t.Fatalf("anonymous write: %d", status)
	}
	if status, _, _ := anon.postForm("/signin", url.Values{"login": {"mallory"}}); status != http.StatusBadRequest {
		t.Fatalf("unknown login: %d", status)
	}
	// A cookie naming another customer without the server's signature is ignored.
	u, _ := url.Parse(h.url)
	anon.hc.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: "alice.forged"}})
	if status, _ := anon.get("/cases"); status != http.StatusSeeOther {
		t.Fatalf("forged cookie: %d", status)
	}
	// A cross-site form post is refused.
	alice := h.signIn(t, "alice")
	req, _ := http.NewRequest(http.MethodPost, h.url+"/messages", strings.NewReader("text=hi"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	resp, err := alice.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || len(h.fake.Cases()) != 0 {
		t.Fatalf("cross-site post: %d", resp.StatusCode)
	}
	// Signing out ends the session.
	if status, loc, _ := alice.postForm("/signout", nil); status != http.StatusSeeOther || loc != "/" {
		t.Fatalf("sign out: %d %q", status, loc)
	}
	if status, _ := alice.get("/cases"); status != http.StatusSeeOther {
		t.Fatalf("after sign-out: %d", status)
	}
}

func TestThreadFollowsTheLastChatRule(t *testing.T) {
	h := newHarness(t)
	alice := h.signIn(t, "alice")
	first, _ := alice.write(0, "Refund", "I want a refund")
	again, notice := alice.write(first, "", "For order 1042")
	if again != first || notice != "sent" {
		t.Fatalf("a reply in the open case went to %d (%s)", again, notice)
	}
	// From the Support page too, the message joins the open case.
	if id, _ := alice.write(0, "Another thing", "And the receipt"); id != first {
		t.Fatalf("the Support form went to %d, not the open case %d", id, first)
	}
	// An agent's note never shows; the reply does.
	if _, err := h.fake.AgentNote(first, 7, "internal: customer is VIP"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.fake.AgentReply(first, 7, "Refund is on its way"); err != nil {
		t.Fatal(err)
	}
	_, body := alice.get(fmt.Sprintf("/cases/%d", first))
	if strings.Contains(body, "VIP") || !strings.Contains(body, "Refund is on its way") || !strings.Contains(body, `id="compose"`) {
		t.Fatalf("thread:\n%s", body)
	}
	// Closed: writing starts a new case, and the old one no longer takes messages.
	if err := h.fake.CloseCase(first); err != nil {
		t.Fatal(err)
	}
	if _, body := alice.get(fmt.Sprintf("/cases/%d", first)); !strings.Contains(body, `id="closed-note"`) {
		t.Fatal("a closed last case does not say writing opens a new one")
	}
	second, notice := alice.write(first, "", "Thanks, got it")
	if second == first || notice != "new" {
		t.Fatalf("writing into a closed case: %d (%s)", second, notice)
	}
	if _, body := alice.get(fmt.Sprintf("/cases/%d", first)); strings.Contains(body, `id="compose"`) || !strings.Contains(body, `id="not-latest"`) {
		t.Fatal("an earlier case still offers to write")
	}
}

func TestLiveReplies(t *testing.T) {
	h := newHarness(t)
	alice, bob := h.signIn(t, "alice"), h.signIn(t, "bob")
	caseID, _ := alice.write(0, "Question", "Is it in stock?")
	bobCase, _ := bob.write(0, "Other", "Hi")
	_, page := alice.get(fmt.Sprintf("/cases/%d", caseID))
	after := regexp.MustCompile(`data-after="(\d+)"`).FindStringSubmatch(page)
	aliceEvents, bobEvents := alice.events("0"), bob.events("0")
	if after != nil {
		t.Fatalf("no reply yet, but the page resumes after %s", after[1])
	}
	msgID, err := h.fake.AgentReply(caseID, 7, "Yes, 3 left")
	if err != nil {
		t.Fatal(err)
	}
	if e := nextEvent(t, aliceEvents); e.CaseID != caseID || e.MessageID != msgID || e.Text != "Yes, 3 left" {
		t.Fatalf("alice's event: %+v", e)
	}
	if _, err := h.fake.AgentReply(bobCase, 7, "Hello Bob"); err != nil {
		t.Fatal(err)
	}
	if e := nextEvent(t, bobEvents); e.CaseID != bobCase {
		t.Fatalf("bob got %+v", e) // and never alice's reply, which came first
	}
	// A page rendered now resumes after the reply it already shows.
	_, page = alice.get(fmt.Sprintf("/cases/%d", caseID))
	if !strings.Contains(page, `data-after="1"`) {
		t.Fatal("the thread page does not resume after the reply it shows")
	}
}

// events opens the signed-in customer's event stream.
func (b *browser) events(after string) <-chan replyEvent {
	b.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b.t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.h.url+"/events?after="+after, nil)
	resp, err := (&http.Client{Jar: b.hc.Jar}).Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b.t.Fatalf("GET /events: %d", resp.StatusCode)
	}
	out := make(chan replyEvent, 10)
	go func() {
		defer resp.Body.Close()
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var e replyEvent
				if json.Unmarshal([]byte(data), &e) == nil {
					out <- e
				}
			}
		}
	}()
	return out
}

func nextEvent(t *testing.T, events <-chan replyEvent) replyEvent {
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
	return replyEvent{}
}

// TestResubmittedFormWritesOnce: the form's key is the message's IdempotencyKey.
func TestResubmittedFormWritesOnce(t *testing.T) {
	h := newHarness(t)
	alice := h.signIn(t, "alice")
	form := url.Values{"subject": {"Twice"}, "text": {"Sent twice"}, "key": {"form-key-1"}}
	_, first, _ := alice.postForm("/messages", form)
	_, again, _ := alice.postForm("/messages", form)
	if first == "" || again != first {
		t.Fatalf("first → %q, again → %q", first, again)
	}
	if n := len(h.fake.Cases()); n != 1 {
		t.Fatalf("%d cases, want 1", n)
	}
}

// TestManyCases: with 1,000 cases the list pages through 20 at a time, and no
// page is near 200 KB.
func TestManyCases(t *testing.T) {
	h := newHarness(t)
	alice := h.signIn(t, "alice")
	if _, err := h.fake.SeedCases(h.channel, "alice", 1000); err != nil {
		t.Fatal(err)
	}
	status, body := alice.get("/cases")
	if status != http.StatusOK || strings.Count(body, `data-case-id=`) != casesPerPage || !strings.Contains(body, `id="next"`) {
		t.Fatalf("first page: %d, %d rows", status, strings.Count(body, `data-case-id=`))
	}
	if len(body) > 200<<10 {
		t.Fatalf("the list page is %d bytes", len(body))
	}
	status, body = alice.get("/cases?page=50")
	if status != http.StatusOK || strings.Count(body, `data-case-id=`) != casesPerPage || strings.Contains(body, `id="next"`) || !strings.Contains(body, `id="prev"`) {
		t.Fatalf("last page: %d", status)
	}
	// A long thread pages too, and long messages are cut.
	caseID, _ := alice.write(0, "Long", strings.Repeat("word ", 900))
	for i := range 45 {
		if _, err := h.fake.AgentReply(caseID, 7, strings.Repeat(fmt.Sprintf("reply %d ", i), 1500)); err != nil {
			t.Fatal(err)
		}
	}
	status, body = alice.get(fmt.Sprintf("/cases/%d", caseID))
	if status != http.StatusOK || len(body) > 200<<10 || strings.Count(body, `data-message-id=`) != messagesPerPage || !strings.Contains(body, `id="older"`) {
		t.Fatalf("long thread: %d, %d bytes, %d messages", status, len(body), strings.Count(body, `data-message-id=`))
	}
	if !strings.Contains(body, "reply 44") || strings.Contains(body, "reply 1 ") {
		t.Fatal("the thread's first page is not the latest messages")
	}
}

// TestRunDemo runs the program as `go run ./examples/portal` does.
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
	line := regexp.MustCompile(`^\s+(portal|console):\s+(\S+)`)
	for len(urls) < 2 && sc.Scan() {
		if m := line.FindStringSubmatch(sc.Text()); m != nil {
			urls[m[1]] = m[2]
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	h := &harness{url: strings.TrimSuffix(urls["portal"], "/")}
	alice := h.signIn(t, "alice")
	if status, body := alice.get("/cases"); status != http.StatusOK || !strings.Contains(body, "How do I change my e-mail?") {
		t.Fatalf("alice's seeded case: %d", status)
	}
	resp, err := http.Get(urls["console"])
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("console: %d", resp.StatusCode)
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
