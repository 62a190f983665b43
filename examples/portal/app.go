package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"fmt"
	"html/template"
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

// customer is what the portal keeps per customer: the two ids Chats.Send returns
// and the latest replies, for the live stream.
type customer struct {
	userID, caseID int64
	seq            int64
	events         []replyEvent
	changed        chan struct{}
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
