package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"embed"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/deskie-go/deskie"
	"github.com/deskie-go/deskie/examples/internal/pagetext"
	"github.com/deskie-go/deskie/examples/internal/sse"
)

//go:embed static
var static embed.FS

// Limits that keep the demo's memory and pages bounded.
const (
	maxEvents    = 200    // transcript entries kept (and replayed) per visitor
	maxVisitors  = 10_000 // visitors kept; the least recently active goes first
	maxTextRunes = 5_000  // one customer message, and the part of a reply shown
	// maxReplayBytes bounds what a page that opens gets of the transcript.
	maxReplayBytes = 150 << 10
	keepAlive      = 25 * time.Second
	visitorCookie  = "livechat_visitor"
)

// event is one line of a visitor's transcript, as sent to the page.
type event struct {
	Seq       int64     `json:"seq"`
	Kind      string    `json:"kind"` // "customer", "agent" or "system"
	Text      string    `json:"text"`
	CaseID    int64     `json:"case_id,omitempty"`
	MessageID int64     `json:"message_id,omitempty"`
	ClientID  string    `json:"client_id,omitempty"` // the page's id of a customer message
	Files     []file    `json:"files,omitempty"`
	At        time.Time `json:"at"`
}

type file struct {
	Name string `json:"name"`
	URL  string `json:"url"`
}

// visitor is one customer of the widget: the two ids Chats.Send returns, and the
// transcript the page shows.
type visitor struct {
	id     string // their user_custom_id
	sendMu sync.Mutex

	// guarded by app.mu
	userID, caseID int64
	seq            int64
	events         []event
	changed        chan struct{} // closed (and replaced) when an event is added
	active         time.Time
}

// app is the widget's backend.
type app struct {
	client  *deskie.Client
	channel string
	logger  *slog.Logger

	mu       sync.Mutex
	visitors map[string]*visitor
}

func newApp(client *deskie.Client, channel string, logger *slog.Logger) *app {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &app{client: client, channel: channel, logger: logger, visitors: map[string]*visitor{}}
}

// routes serves the widget, its API and (when webhookToken is set) the webhook.
func (a *app) routes(webhookToken string) http.Handler {
	mux := http.NewServeMux()
	assets, _ := fs.Sub(static, "static")
	mux.HandleFunc("GET /{$}", a.page)
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(assets)))
	mux.HandleFunc("POST /api/messages", a.postMessage)
	mux.HandleFunc("GET /api/events", a.events)
	if webhookToken != "" {
		mux.Handle("/deskie/", a.client.NewWebhookHandler(a.deliver, deskie.WithWebhookToken(webhookToken)))
	}
	return securityHeaders(mux)
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
		next.ServeHTTP(w, r)
	})
}

func (a *app) page(w http.ResponseWriter, r *http.Request) {
	a.visitorFor(w, r) // set the cookie before the page opens its event stream
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	http.ServeFileFS(w, r, static, "static/index.html")
}

// visitorFor returns the request's visitor, making one (and its cookie) when the
// request has none.
func (a *app) visitorFor(w http.ResponseWriter, r *http.Request) *visitor {
	id := ""
	if c, err := r.Cookie(visitorCookie); err == nil && validVisitorID(c.Value) {
		id = c.Value
	} else {
		id = "visitor-" + strings.ToLower(rand.Text()[:16])
		http.SetCookie(w, &http.Cookie{Name: visitorCookie, Value: id, Path: "/", HttpOnly: true, Secure: isHTTPS(r), SameSite: http.SameSiteLaxMode, MaxAge: 30 * 24 * 3600}) //nolint:gosec // G124: Secure when served over HTTPS; the demo is plain HTTP on loopback
	}
	return a.visitor(id)
}

// isHTTPS reports whether the page was asked for over HTTPS (directly or behind a
// proxy that says so): its cookies are then Secure. The demo itself runs on
// plain HTTP on loopback.
func isHTTPS(r *http.Request) bool {
	return r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https"
}

func validVisitorID(s string) bool {
	if !strings.HasPrefix(s, "visitor-") || len(s) > 64 {
		return false
	}
	for _, r := range s[len("visitor-"):] {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// visitor returns the visitor with this id, making one when needed.
func (a *app) visitor(id string) *visitor {
	a.mu.Lock()
	defer a.mu.Unlock()
	v := a.visitors[id]
	if v == nil {
		if len(a.visitors) >= maxVisitors {
			a.evictLocked()
		}
		v = &visitor{id: id, changed: make(chan struct{})}
		a.visitors[id] = v
	}
	v.active = time.Now()
	return v
}

func (a *app) evictLocked() {
	var oldest *visitor
	for _, v := range a.visitors {
		if oldest == nil || v.active.Before(oldest.active) {
			oldest = v
		}
	}
	if oldest != nil {
		delete(a.visitors, oldest.id)
	}
}

// addLocked appends an event to v's transcript and wakes its event streams; callers
// hold a.mu.
func (a *app) addLocked(v *visitor, e event) event {
	v.seq++
	e.Seq = v.seq
	if e.At.IsZero() {
		e.At = time.Now()
	}
	v.events = append(v.events, e)
	if len(v.events) > maxEvents {
		v.events = append(v.events[:0:0], v.events[len(v.events)-maxEvents:]...)
	}
	close(v.changed)
	v.changed = make(chan struct{})
	return e
}

type postIn struct {
	Text     string `json:"text"`
	ClientID string `json:"client_id"`
	Name     string `json:"name"`
}

type postOut struct {
	Action string `json:"action"`
	CaseID int64  `json:"case_id"`
	Seq    int64  `json:"seq"`
}

type errorOut struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// postMessage takes the visitor's message and puts it in the right case.
func (a *app) postMessage(w http.ResponseWriter, r *http.Request) {
	var in postIn
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&in); err != nil {
		writeJSON(w, http.StatusBadRequest, errorOut{`want {"text":"…","client_id":"…"}`})
		return
	}
	in.Text = strings.TrimSpace(in.Text)
	switch {
	case in.Text == "":
		writeJSON(w, http.StatusBadRequest, errorOut{"the message is empty"})
		return
	case utf8.RuneCountInString(in.Text) > maxTextRunes:
		writeJSON(w, http.StatusBadRequest, errorOut{"the message is too long (" + strconv.Itoa(maxTextRunes) + " characters at most)"})
		return
	case len(in.ClientID) > 64:
		writeJSON(w, http.StatusBadRequest, errorOut{"client_id is too long"})
		return
	}
	v := a.visitorFor(w, r)
	// One visitor's messages are sent in order, one at a time.
	v.sendMu.Lock()
	defer v.sendMu.Unlock()

	a.mu.Lock()
	if in.ClientID != "" {
		for _, e := range v.events {
			if e.Kind == "customer" && e.ClientID == in.ClientID { // the page sent it again
				a.mu.Unlock()
				writeJSON(w, http.StatusOK, postOut{Action: "duplicate", CaseID: e.CaseID, Seq: e.Seq})
				return
			}
		}
	}
	msg := &deskie.CustomerMessage{
		Channel:      a.channel,
		UserCustomID: v.id,
		UserID:       v.userID,
		LastCaseID:   v.caseID,
		UserFullName: strings.TrimSpace(in.Name),
		Content:      in.Text,
		// The page's id of the message: a Send repeated with it (the page retried
		// after an error) writes at most once.
		IdempotencyKey: in.ClientID,
	}
	previous := v.caseID
	a.mu.Unlock()

	res, err := a.client.Chats.Send(r.Context(), msg)
	if err != nil {
		status := http.StatusBadGateway
		if errors.Is(err, deskie.ErrInvalidArgument) {
			status = http.StatusBadRequest
		}
		a.logger.Error("send failed", "visitor", v.id, "error", err)
		writeJSON(w, status, errorOut{"not sent: the helpdesk did not take the message; try again"})
		return
	}
	a.mu.Lock()
	v.userID, v.caseID = res.UserID, res.CaseID // saved for the next message
	if res.Action == deskie.ActionCreatedCase && previous != 0 {
		a.addLocked(v, event{Kind: "system", Text: "A new chat has started.", CaseID: res.CaseID})
	}
	e := event{Kind: "customer", Text: in.Text, CaseID: res.CaseID, ClientID: in.ClientID}
	if res.Message != nil {
		e.MessageID = res.Message.ID
	}
	e = a.addLocked(v, e)
	a.mu.Unlock()
	writeJSON(w, http.StatusOK, postOut{Action: string(res.Action), CaseID: res.CaseID, Seq: e.Seq})
}

// deliver takes an agent reply (from the webhook or Replies.Watch) to its visitor.
func (a *app) deliver(_ context.Context, r *deskie.AgentReply) error {
	if r.UserCustomID == "" {
		return nil // not one of ours
	}
	v := a.visitor(r.UserCustomID)
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, e := range v.events {
		if e.Kind == "agent" && e.MessageID == r.MessageID {
			return nil // already shown
		}
	}
	if v.userID == 0 {
		v.userID = r.UserID
	}
	if v.caseID == 0 {
		v.caseID = r.CaseID
	}
	e := event{Kind: "agent", Text: pagetext.Shorten(pagetext.Plain(r.Content), maxTextRunes), CaseID: r.CaseID, MessageID: r.MessageID}
	for _, f := range r.Attachments {
		if strings.HasPrefix(f.URL, "https://") || strings.HasPrefix(f.URL, "http://") {
			e.Files = append(e.Files, file{Name: cmp.Or(f.Name, "attachment"), URL: f.URL})
		}
	}
	a.addLocked(v, e)
	return nil
}

// events streams the visitor's transcript as server-sent events: what is kept
// after Last-Event-ID (or ?after=, the newest within maxReplayBytes), then each
// new event as it comes, with a keep-alive comment every 25 s.
func (a *app) events(w http.ResponseWriter, r *http.Request) {
	v := a.visitorFor(w, r)
	sse.Serve(w, r, keepAlive, maxReplayBytes, func(after int64) ([]sse.Event, <-chan struct{}) {
		a.mu.Lock()
		defer a.mu.Unlock()
		var batch []sse.Event
		for _, e := range v.events {
			if e.Seq > after {
				batch = append(batch, sse.Event{Seq: e.Seq, Data: e})
			}
		}
		v.active = time.Now()
		return batch, v.changed
	})
}
