package main

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/deskie-go/deskie"
	"github.com/deskie-go/deskie/examples/internal/pagetext"
)

//go:embed static templates
var assets embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"date": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.Local().Format("2 Jan 2006 15:04")
	},
	// formKey is a fresh idempotency key for a form: submitted twice, it writes once.
	"formKey": rand.Text,
}).ParseFS(assets, "templates/*.html"))

// Limits that keep pages and memory bounded.
const (
	casesPerPage    = 20
	messagesPerPage = 20
	maxShownRunes   = 8_000 // of one message on a page (a 200 KB page bound)
	maxTextRunes    = 5_000 // of one message a customer writes
	maxEvents       = 50    // recent replies kept per customer for the live stream
	keepAlive       = 25 * time.Second
	sessionCookie   = "portal_session"
)

// demoCustomer is one of the accounts of the demo's sign-in page. Login is their
// id on the service, sent as user_custom_id.
type demoCustomer struct {
	Login, Name, Email string
}

var demoCustomers = []demoCustomer{
	{"alice", "Alice Martin", "alice@example.com"},
	{"bob", "Bob Chen", "bob@example.com"},
	{"carol", "Carol Diaz", "carol@example.com"},
}

func findCustomer(login string) (demoCustomer, bool) {
	for _, c := range demoCustomers {
		if c.Login == login {
			return c, true
		}
	}
	return demoCustomer{}, false
}

// customer is what the portal keeps per customer: the two ids Chats.Send returns
// and the latest replies, for the live stream.
type customer struct {
	userID, caseID int64
	seq            int64
	events         []replyEvent
	changed        chan struct{}
}

// replyEvent is an agent's reply, as sent to the page.
type replyEvent struct {
	Seq       int64     `json:"seq"`
	CaseID    int64     `json:"case_id"`
	MessageID int64     `json:"message_id"`
	Text      string    `json:"text"`
	At        time.Time `json:"at"`
}

// app is the portal's backend.
type app struct {
	client  *deskie.Client
	channel string
	logger  *slog.Logger
	key     []byte // signs the session cookie

	mu        sync.Mutex
	customers map[string]*customer // by login
}

func newApp(client *deskie.Client, channel string, key []byte, logger *slog.Logger) *app {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &app{client: client, channel: channel, key: key, logger: logger, customers: map[string]*customer{}}
}

func (a *app) routes(webhookToken string) http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(assets, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /{$}", a.home)
	mux.HandleFunc("POST /signin", a.signIn)
	mux.HandleFunc("POST /signout", a.signOut)
	mux.HandleFunc("GET /cases", a.signedIn(a.listCases))
	mux.HandleFunc("POST /messages", a.signedIn(a.write))
	mux.HandleFunc("GET /cases/{id}", a.signedIn(a.thread))
	mux.HandleFunc("POST /cases/{id}/messages", a.signedIn(a.write))
	mux.HandleFunc("GET /events", a.signedIn(a.events))
	if webhookToken != "" {
		mux.Handle("/deskie/", a.client.NewWebhookHandler(a.deliver, deskie.WithWebhookToken(webhookToken)))
	}
	return guard(mux)
}

// guard sets the security headers and refuses cross-site form posts.
func guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
		if r.Method == http.MethodPost && !strings.HasPrefix(r.URL.Path, "/deskie/") {
			if origin := r.Header.Get("Origin"); origin != "" {
				if u, err := url.Parse(origin); err != nil || u.Host != r.Host {
					http.Error(w, "cross-site request refused", http.StatusForbidden)
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// session returns the signed-in customer, from the signed session cookie.
func (a *app) session(r *http.Request) (demoCustomer, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return demoCustomer{}, false
	}
	login, sig, ok := strings.Cut(c.Value, ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(a.sign(login))) {
		return demoCustomer{}, false
	}
	return findCustomer(login)
}

func (a *app) sign(login string) string {
	m := hmac.New(sha256.New, a.key)
	m.Write([]byte(login))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// signedIn runs h for a signed-in customer and sends anyone else to sign in.
func (a *app) signedIn(h func(http.ResponseWriter, *http.Request, demoCustomer)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		who, ok := a.session(r)
		if !ok {
			if r.Method == http.MethodGet && r.URL.Path != "/events" {
				http.Redirect(w, r, "/", http.StatusSeeOther)
				return
			}
			http.Error(w, "sign in first", http.StatusUnauthorized)
			return
		}
		h(w, r, who)
	}
}

func (a *app) home(w http.ResponseWriter, r *http.Request) {
	if _, ok := a.session(r); ok {
		http.Redirect(w, r, "/cases", http.StatusSeeOther)
		return
	}
	a.render(w, http.StatusOK, "signin.html", map[string]any{"Title": "Sign in", "Customers": demoCustomers})
}

func (a *app) signIn(w http.ResponseWriter, r *http.Request) {
	who, ok := findCustomer(r.PostFormValue("login"))
	if !ok {
		http.Error(w, "no such demo customer", http.StatusBadRequest)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: who.Login + "." + a.sign(who.Login), Path: "/", HttpOnly: true, Secure: isHTTPS(r), SameSite: http.SameSiteLaxMode}) //nolint:gosec // G124: Secure when served over HTTPS; the demo is plain HTTP on loopback
	http.Redirect(w, r, "/cases", http.StatusSeeOther)
}

func (a *app) signOut(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", HttpOnly: true, Secure: isHTTPS(r), SameSite: http.SameSiteLaxMode, MaxAge: -1}) //nolint:gosec // G124: Secure when served over HTTPS; the demo is plain HTTP on loopback
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// isHTTPS reports whether the page was asked for over HTTPS (directly or behind a
// proxy that says so): the session cookie is then Secure. The demo itself runs on
// plain HTTP on loopback.
func isHTTPS(r *http.Request) bool {
	return r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https"
}

func (a *app) render(w http.ResponseWriter, status int, name string, data map[string]any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := pages.ExecuteTemplate(w, name, data); err != nil {
		a.logger.Error("render", "page", name, "error", err)
	}
}

// fail shows an error page; a missing case and someone else's case look the same.
func (a *app) fail(w http.ResponseWriter, who demoCustomer, status int, msg string) {
	a.render(w, status, "error.html", map[string]any{"Title": "Error", "Me": who, "Status": status, "Message": msg})
}

func (a *app) notFound(w http.ResponseWriter, who demoCustomer) {
	a.fail(w, who, http.StatusNotFound, "There is no such case in your account.")
}

// state returns the customer's record, making it when needed; callers hold a.mu.
func (a *app) state(login string) *customer {
	c := a.customers[login]
	if c == nil {
		c = &customer{changed: make(chan struct{})}
		a.customers[login] = c
	}
	return c
}

// userID returns the customer's Deskie user id, 0 when they have never written.
func (a *app) userID(ctx context.Context, who demoCustomer) (int64, error) {
	a.mu.Lock()
	id := a.state(who.Login).userID
	a.mu.Unlock()
	if id != 0 {
		return id, nil
	}
	u, err := a.client.Users.FindByCustomID(ctx, a.channel, who.Login)
	if err != nil || u == nil {
		return 0, err
	}
	a.mu.Lock()
	a.state(who.Login).userID = u.ID
	a.mu.Unlock()
	return u.ID, nil
}

// ownCase returns the case when it is the signed-in customer's, in this channel;
// anything else (no such case, another customer's, another channel's, deleted)
// is not found. Every case endpoint goes through it.
func (a *app) ownCase(ctx context.Context, who demoCustomer, idText string) (*deskie.Case, error) {
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil || id <= 0 {
		return nil, errNotYours
	}
	uid, err := a.userID(ctx, who)
	if err != nil {
		return nil, err
	}
	if uid == 0 {
		return nil, errNotYours
	}
	c, err := a.client.Cases.Get(ctx, id)
	if deskie.IsNotFound(err) {
		return nil, errNotYours
	}
	if err != nil {
		return nil, err
	}
	if c.UserID != uid || c.Channel != a.channel || c.Deleted || c.Spam {
		return nil, errNotYours
	}
	return c, nil
}

var errNotYours = errors.New("not found")

// caseRow is a case on the list page.
type caseRow struct {
	ID                 int64
	Number, Subject    string
	Status             deskie.CaseStatus
	Created, Updated   time.Time
	StatusLabel, Badge string
}

func statusLabel(s deskie.CaseStatus) (label, badge string) {
	switch s {
	case deskie.StatusOpen:
		return "Open: with our team", "open"
	case deskie.StatusWaiting:
		return "Answered: waiting for you", "waiting"
	case deskie.StatusClosed:
		return "Closed", "closed"
	}
	return string(s), "other"
}

func (a *app) listCases(w http.ResponseWriter, r *http.Request, who demoCustomer) {
	page, err := strconv.Atoi(cmp.Or(r.URL.Query().Get("page"), "1"))
	if err != nil || page < 1 || page > 500 {
		page = 1
	}
	data := map[string]any{"Title": "Support", "Me": who, "Page": page, "After": a.lastSeq(who.Login), "Live": true}
	uid, err := a.userID(r.Context(), who)
	if err != nil {
		a.logger.Error("user look-up", "customer", who.Login, "error", err)
		a.fail(w, who, http.StatusBadGateway, "The helpdesk is not answering; try again in a moment.")
		return
	}
	var rows []caseRow
	total := 0
	if uid != 0 {
		list, err := a.client.Cases.List(r.Context(), &deskie.CaseListOptions{
			UserID: []int64{uid}, Channel: []string{a.channel}, Sort: "created_at_desc",
			Page: page, Limit: casesPerPage, ShowActiveChats: true,
		})
		if err != nil {
			a.logger.Error("case list", "customer", who.Login, "error", err)
			a.fail(w, who, http.StatusBadGateway, "The helpdesk is not answering; try again in a moment.")
			return
		}
		total = list.TotalCount
		for _, c := range list.Cases {
			if c.UserID != uid || c.Deleted || c.Spam { // only ever the customer's own
				continue
			}
			label, badge := statusLabel(c.Status)
			rows = append(rows, caseRow{ID: c.ID, Number: c.Number, Subject: pagetext.Shorten(c.Subject, 200), Status: c.Status, Created: c.CreatedAt, Updated: c.UpdatedAt, StatusLabel: label, Badge: badge})
		}
	}
	data["Cases"] = rows
	data["Total"] = total
	if page > 1 {
		data["Prev"] = page - 1
	}
	if page*casesPerPage < total && page < 500 {
		data["Next"] = page + 1
	}
	data["Notice"] = notice(r.URL.Query().Get("notice"))
	a.render(w, http.StatusOK, "cases.html", data)
}

// messageRow is a message on a thread page.
type messageRow struct {
	ID        int64
	FromAgent bool
	Text      string
	Shortened bool
	At        time.Time
	Files     []deskie.File
}

func (a *app) thread(w http.ResponseWriter, r *http.Request, who demoCustomer) {
	c, err := a.ownCase(r.Context(), who, r.PathValue("id"))
	if errors.Is(err, errNotYours) {
		a.notFound(w, who)
		return
	}
	if err != nil {
		a.logger.Error("case", "customer", who.Login, "error", err)
		a.fail(w, who, http.StatusBadGateway, "The helpdesk is not answering; try again in a moment.")
		return
	}
	after := a.lastSeq(who.Login) // replies after this arrive on the live stream
	// The latest page first (newest first from the API, shown oldest first).
	page, err := strconv.Atoi(cmp.Or(r.URL.Query().Get("page"), "1"))
	if err != nil || page < 1 || page > 500 {
		page = 1
	}
	msgs, err := a.client.Messages.List(r.Context(), c.ID, &deskie.MessageListOptions{Page: page, Limit: messagesPerPage, Order: "desc"})
	if err != nil {
		a.logger.Error("messages", "customer", who.Login, "case", c.ID, "error", err)
		a.fail(w, who, http.StatusBadGateway, "The helpdesk is not answering; try again in a moment.")
		return
	}
	rows := make([]messageRow, 0, len(msgs.Messages))
	for i := len(msgs.Messages) - 1; i >= 0; i-- {
		m := msgs.Messages[i]
		if m.Note { // internal notes are never shown to the customer
			continue
		}
		text := m.Content
		if strings.TrimSpace(text) == "" {
			text = pagetext.Plain(m.ContentHTML)
		} else {
			text = pagetext.Plain(text)
		}
		shown := pagetext.Shorten(text, maxShownRunes)
		rows = append(rows, messageRow{ID: m.ID, FromAgent: m.StaffID != 0, Text: shown, Shortened: shown != text, At: m.CreatedAt, Files: m.Attachments})
	}
	last, err := a.client.Chats.LastChatIn(r.Context(), c.UserID, a.channel)
	if err != nil {
		a.logger.Error("last chat", "customer", who.Login, "error", err)
		a.fail(w, who, http.StatusBadGateway, "The helpdesk is not answering; try again in a moment.")
		return
	}
	label, badge := statusLabel(c.Status)
	data := map[string]any{
		"Title": c.Subject, "CaseID": c.ID, "Live": true,
		"Me": who, "Case": c, "StatusLabel": label, "Badge": badge, "Messages": rows,
		"After": after, "Latest": last != nil && last.ID == c.ID, "Closed": c.Status == deskie.StatusClosed,
		"Notice": notice(r.URL.Query().Get("notice")),
	}
	if last != nil && last.ID != c.ID {
		data["LatestID"] = last.ID
	}
	if page > 1 {
		data["Newer"] = page - 1
	}
	if page*messagesPerPage < msgs.TotalCount && page < 500 {
		data["Older"] = page + 1
	}
	a.render(w, http.StatusOK, "thread.html", data)
}

func notice(code string) string {
	switch code {
	case "sent":
		return "Your message was sent."
	case "new":
		return "Your message started a new case."
	case "moved":
		return "Your message was added to your latest case."
	}
	return ""
}

// write sends the customer's message with Chats.Send, which follows the last-chat
// rule: into their open case, or a new case when they have none or it is closed.
// Written from a thread (POST /cases/{id}/messages), the case must be theirs.
func (a *app) write(w http.ResponseWriter, r *http.Request, who demoCustomer) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	text := strings.TrimSpace(r.PostFormValue("text"))
	subject := strings.TrimSpace(r.PostFormValue("subject"))
	var from *deskie.Case
	if id := r.PathValue("id"); id != "" {
		c, err := a.ownCase(r.Context(), who, id)
		if errors.Is(err, errNotYours) {
			a.notFound(w, who)
			return
		}
		if err != nil {
			a.fail(w, who, http.StatusBadGateway, "The helpdesk is not answering; try again in a moment.")
			return
		}
		from = c
	}
	switch {
	case text == "":
		a.fail(w, who, http.StatusBadRequest, "The message is empty.")
		return
	case utf8.RuneCountInString(text) > maxTextRunes || utf8.RuneCountInString(subject) > 200:
		a.fail(w, who, http.StatusBadRequest, fmt.Sprintf("The message is too long (%d characters at most).", maxTextRunes))
		return
	}
	a.mu.Lock()
	st := a.state(who.Login)
	msg := &deskie.CustomerMessage{
		Channel: a.channel, UserCustomID: who.Login, UserID: st.userID, LastCaseID: st.caseID,
		UserFullName: who.Name, UserEmail: who.Email, Subject: subject, Content: text,
		IdempotencyKey: r.PostFormValue("key"), // the form's id: a resubmitted form writes once
	}
	a.mu.Unlock()
	if from != nil {
		msg.UserID, msg.LastCaseID = from.UserID, from.ID
	}
	res, err := a.client.Chats.Send(r.Context(), msg)
	if err != nil {
		a.logger.Error("send", "customer", who.Login, "error", err)
		status := http.StatusBadGateway
		if errors.Is(err, deskie.ErrInvalidArgument) {
			status = http.StatusBadRequest
		}
		a.fail(w, who, status, "Your message was not sent; go back and try again.")
		return
	}
	a.mu.Lock()
	st.userID, st.caseID = res.UserID, res.CaseID
	a.mu.Unlock()
	code := "sent"
	switch {
	case res.Action == deskie.ActionCreatedCase:
		code = "new"
	case from != nil && res.CaseID != from.ID:
		code = "moved"
	}
	http.Redirect(w, r, fmt.Sprintf("/cases/%d?notice=%s#compose", res.CaseID, code), http.StatusSeeOther)
}

// deliver takes an agent reply (from the webhook or Replies.Watch) to the
// customer's live stream.
func (a *app) deliver(_ context.Context, r *deskie.AgentReply) error {
	if _, ok := findCustomer(r.UserCustomID); !ok {
		return nil // not one of the demo's customers
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.state(r.UserCustomID)
	for _, e := range c.events {
		if e.MessageID == r.MessageID {
			return nil
		}
	}
	if c.userID == 0 {
		c.userID = r.UserID
	}
	c.seq++
	c.events = append(c.events, replyEvent{Seq: c.seq, CaseID: r.CaseID, MessageID: r.MessageID, Text: pagetext.Shorten(pagetext.Plain(r.Content), maxShownRunes), At: time.Now()})
	if len(c.events) > maxEvents {
		c.events = append(c.events[:0:0], c.events[len(c.events)-maxEvents:]...)
	}
	close(c.changed)
	c.changed = make(chan struct{})
	return nil
}

func (a *app) lastSeq(login string) int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.state(login).seq
}

// events streams the customer's agent replies after ?after= (or Last-Event-ID)
// as server-sent events, with a keep-alive comment every 25 s.
func (a *app) events(w http.ResponseWriter, r *http.Request, who demoCustomer) {
	after, _ := strconv.ParseInt(cmp.Or(r.Header.Get("Last-Event-ID"), r.URL.Query().Get("after")), 10, 64)
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write([]byte("retry: 2000\n\n")); err != nil {
		return
	}
	ticker := time.NewTicker(keepAlive)
	defer ticker.Stop()
	for {
		a.mu.Lock()
		c := a.state(who.Login)
		var batch []replyEvent
		for _, e := range c.events {
			if e.Seq > after {
				batch = append(batch, e)
			}
		}
		changed := c.changed
		a.mu.Unlock()
		for _, e := range batch {
			data, _ := json.Marshal(e)
			if _, err := w.Write([]byte("id: " + strconv.FormatInt(e.Seq, 10) + "\ndata: " + string(data) + "\n\n")); err != nil {
				return
			}
			after = e.Seq
		}
		if err := rc.Flush(); err != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-changed:
		case <-ticker.C:
			if _, err := w.Write([]byte(": keep-alive\n\n")); err != nil {
				return
			}
		}
	}
}
