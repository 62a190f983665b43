package deskietest

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// The control API's JSON shapes: plain snake_case objects with RFC 3339 dates
// (null when unset), independent of the wire forms the API answers with.

type channelView struct {
	ID         int64       `json:"id"`
	Code       string      `json:"code"`
	Title      string      `json:"title"`
	Type       ChannelType `json:"type"`
	WebhookURL string      `json:"webhook_url"`
	Active     bool        `json:"active"`
}

type caseView struct {
	ID           int64   `json:"id"`
	Number       string  `json:"number"`
	Subject      string  `json:"subject"`
	Status       string  `json:"status"`
	Channel      string  `json:"channel"`
	ChannelTitle string  `json:"channel_title"`
	UserID       int64   `json:"user_id"`
	UserCustomID string  `json:"user_custom_id"`
	UserName     string  `json:"user_name"`
	StaffID      int64   `json:"staff_id"`
	Deleted      bool    `json:"deleted"`
	Spam         bool    `json:"spam"`
	Messages     int     `json:"messages"`
	Preview      string  `json:"preview"`
	CreatedAt    *string `json:"created_at"`
	UpdatedAt    *string `json:"updated_at"`
	ClosedAt     *string `json:"closed_at"`
}

type fileView struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	Size     int64  `json:"size"`
	MimeType string `json:"mime_type"`
	URL      string `json:"url"`
}

type messageView struct {
	ID          int64      `json:"id"`
	CaseID      int64      `json:"case_id"`
	Kind        string     `json:"kind"` // customer, agent, note or rule
	UserID      int64      `json:"user_id"`
	StaffID     int64      `json:"staff_id"`
	Content     string     `json:"content"`
	ContentHTML string     `json:"content_html"`
	Note        bool       `json:"note"`
	SentViaRule bool       `json:"sent_via_rule"`
	FromAPI     bool       `json:"from_api"`
	CreatedAt   *string    `json:"created_at"`
	Attachments []fileView `json:"attachments"`
}

type userView struct {
	ID           int64   `json:"id"`
	Channel      string  `json:"channel"`
	UserCustomID string  `json:"user_custom_id"`
	Name         string  `json:"name"`
	Email        string  `json:"email"`
	Phone        string  `json:"phone"`
	Linked       []int64 `json:"linked"`
	CreatedAt    *string `json:"created_at"`
}

type deliveryView struct {
	MessageID int64             `json:"message_id"`
	CaseID    int64             `json:"case_id"`
	URL       string            `json:"url"`
	Status    int               `json:"status"`
	Error     *string           `json:"error"`
	Attempt   int               `json:"attempt"`
	At        *string           `json:"at"`
	Form      map[string]string `json:"form"`
}

func (s *Server) stamp(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	v := t.In(s.cfg.zone).Format(time.RFC3339)
	return &v
}

func channelOf(c *Channel) channelView {
	return channelView{ID: c.ID, Code: c.Code, Title: c.Title, Type: c.Type, WebhookURL: c.WebhookURL, Active: c.Active}
}

// caseOf renders a case; callers hold s.mu.
func (s *Server) caseOf(c *Case) caseView {
	v := caseView{ID: c.ID, Number: c.Number, Subject: c.Subject, Status: c.Status, Channel: c.Channel, UserID: c.UserID,
		StaffID: c.StaffID, Deleted: c.Deleted, Spam: c.Spam, Messages: len(s.messages[c.ID]),
		CreatedAt: s.stamp(c.CreatedAt), UpdatedAt: s.stamp(c.UpdatedAt), ClosedAt: s.stamp(c.ClosedAt)}
	if ch := s.channelByCode(c.Channel); ch != nil {
		v.ChannelTitle = ch.Title
	}
	if u := s.users[c.UserID]; u != nil {
		v.UserCustomID, v.UserName = u.CustomID, u.FullName
	}
	if msgs := s.messages[c.ID]; len(msgs) > 0 {
		last := msgs[len(msgs)-1]
		v.Preview = truncate(cmp.Or(last.Content, last.ContentHTML), 100)
	}
	return v
}

func truncate(text string, n int) string {
	if r := []rune(text); len(r) > n {
		return string(r[:n]) + "…"
	}
	return text
}

func (m *Message) kind() string {
	switch {
	case m.Note:
		return "note"
	case m.SentViaRule:
		return "rule"
	case m.StaffID != 0:
		return "agent"
	}
	return "customer"
}

func (s *Server) messageOf(m *Message) messageView {
	v := messageView{ID: m.ID, CaseID: m.CaseID, Kind: m.kind(), UserID: m.UserID, StaffID: m.StaffID, Content: m.Content,
		ContentHTML: m.ContentHTML, Note: m.Note, SentViaRule: m.SentViaRule, FromAPI: m.FromAPI, CreatedAt: s.stamp(m.CreatedAt),
		Attachments: []fileView{}}
	for _, f := range m.Attachments {
		v.Attachments = append(v.Attachments, fileView(f))
	}
	return v
}

func (s *Server) userOf(u *User) userView {
	return userView{ID: u.ID, Channel: u.Channel, UserCustomID: u.CustomID, Name: u.FullName, Email: u.Email, Phone: u.Phone,
		Linked: append([]int64{}, u.Linked...), CreatedAt: s.stamp(u.CreatedAt)}
}

func (s *Server) deliveryOf(d *Delivery) deliveryView {
	v := deliveryView{MessageID: d.MessageID, CaseID: d.CaseID, URL: d.URL, Status: d.Status, Attempt: d.Attempt,
		At: s.stamp(d.At), Form: map[string]string{}}
	if d.Err != nil {
		msg := d.Err.Error()
		v.Error = &msg
	}
	for k := range d.Form {
		v.Form[k] = d.Form.Get(k)
	}
	return v
}

// maxBodyView is how much of a request body GET /_fake/requests shows.
const maxBodyView = 4096

// listParams reads page (from 1), limit (1…maxLimit) and order (asc or desc,
// defaulting to desc when newestFirst).
func listParams(q url.Values, defLimit, maxLimit int, newestFirst bool) (page, limit int, desc, ok bool) {
	page, limit, desc = 1, defLimit, newestFirst
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, 0, false, false
		}
		page = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			return 0, 0, false, false
		}
		limit = n
	}
	switch q.Get("order") {
	case "":
	case "asc":
		desc = false
	case "desc":
		desc = true
	default:
		return 0, 0, false, false
	}
	return page, limit, desc, true
}

// pageOf renders one page of items.
func pageOf[T, V any](items []T, page, limit int, desc bool, render func(T) V) []V {
	n := len(items)
	start := min((page-1)*limit, n)
	end := min(start+limit, n)
	out := make([]V, 0, end-start)
	for i := start; i < end; i++ {
		if desc {
			out = append(out, render(items[n-1-i]))
		} else {
			out = append(out, render(items[i]))
		}
	}
	return out
}

func (s *Server) ctlCases(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page, limit, _, ok := listParams(q, 50, 100, false)
	query := caseQuery{sort: cmp.Or(q.Get("sort"), "updated_at_desc")}
	if !ok || !slices.Contains(caseSorts, query.sort) {
		writeError(w, http.StatusBadRequest, "wrong_parameters")
		return
	}
	status, channel := q.Get("status"), q.Get("channel")
	query.match = func(c *Case) bool {
		return (status == "" || c.Status == status) && (channel == "" || c.Channel == channel)
	}
	s.mu.Lock()
	found, total := s.scanCases(query, (page-1)*limit, limit)
	out := make([]caseView, 0, len(found))
	for _, c := range found {
		v := s.caseOf(c)
		v.Subject = truncate(v.Subject, 200) // the list stays small; GET /_fake/cases/{id} has it whole
		out = append(out, v)
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"cases": out, "total": total, "page": page, "limit": limit})
}

func (s *Server) ctlCase(w http.ResponseWriter, r *http.Request) {
	id, _ := parseID(r.PathValue("id"))
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.cases[id]; c != nil {
		writeJSON(w, http.StatusOK, map[string]any{"case": s.caseOf(c)})
		return
	}
	if into, ok := s.merged[id]; ok {
		writeJSON(w, http.StatusNotFound, map[string]any{"error": errCaseNotFound, "merged_into": into})
		return
	}
	writeError(w, http.StatusNotFound, errCaseNotFound)
}

func (s *Server) ctlMessages(w http.ResponseWriter, r *http.Request) {
	page, limit, desc, ok := listParams(r.URL.Query(), 100, 500, false)
	if !ok {
		writeError(w, http.StatusBadRequest, "wrong_parameters")
		return
	}
	id, _ := parseID(r.PathValue("id"))
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cases[id] == nil {
		writeError(w, http.StatusNotFound, errCaseNotFound)
		return
	}
	cut, err := strconv.Atoi(cmp.Or(r.URL.Query().Get("truncate"), "0"))
	if err != nil || cut < 0 {
		writeError(w, http.StatusBadRequest, "wrong_parameters")
		return
	}
	msgs := s.messages[id]
	out := pageOf(msgs, page, limit, desc, func(m *Message) messageView {
		v := s.messageOf(m)
		if cut > 0 {
			v.Content, v.ContentHTML = truncate(v.Content, cut), truncate(v.ContentHTML, cut)
		}
		return v
	})
	writeJSON(w, http.StatusOK, map[string]any{"messages": out, "total": len(msgs), "page": page, "limit": limit})
}

func (s *Server) ctlUsers(w http.ResponseWriter, r *http.Request) {
	page, limit, desc, ok := listParams(r.URL.Query(), 100, 500, false)
	if !ok {
		writeError(w, http.StatusBadRequest, "wrong_parameters")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	users := make([]*User, 0, len(s.users))
	for _, u := range s.users {
		users = append(users, u)
	}
	slices.SortFunc(users, func(a, b *User) int { return cmp.Compare(a.ID, b.ID) })
	out := pageOf(users, page, limit, desc, s.userOf)
	writeJSON(w, http.StatusOK, map[string]any{"users": out, "total": len(users), "page": page, "limit": limit})
}

func (s *Server) ctlDeliveries(w http.ResponseWriter, r *http.Request) {
	page, limit, desc, ok := listParams(r.URL.Query(), 100, 500, false)
	if !ok {
		writeError(w, http.StatusBadRequest, "wrong_parameters")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := pageOf(s.deliveries, page, limit, desc, func(d Delivery) deliveryView { return s.deliveryOf(&d) })
	writeJSON(w, http.StatusOK, map[string]any{"deliveries": out, "total": len(s.deliveries), "page": page, "limit": limit})
}

func (s *Server) ctlRequests(w http.ResponseWriter, r *http.Request) {
	page, limit, desc, ok := listParams(r.URL.Query(), 100, 500, false)
	if !ok {
		writeError(w, http.StatusBadRequest, "wrong_parameters")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := pageOf(s.requests, page, limit, desc, func(r *Request) map[string]any {
		body := r.Body[:min(len(r.Body), maxBodyView)]
		return map[string]any{"method": r.Method, "path": r.Path, "query": r.Query, "status": r.Status,
			"body": string(body), "body_truncated": len(body) < len(r.Body)}
	})
	writeJSON(w, http.StatusOK, map[string]any{"requests": out, "total": len(s.requests), "page": page, "limit": limit})
}
