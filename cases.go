package deskie

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"
)

// CasesService handles cases: POST/GET /api/cases.json and GET/PUT
// /api/cases/{case_id}.json.
type CasesService service

// CaseStatus is a case's status.
type CaseStatus string

// The case statuses. The vendor's article calls "waiting" "pending"; [Decide]
// accepts both spellings.
const (
	StatusOpen    CaseStatus = "open"
	StatusWaiting CaseStatus = "waiting"
	StatusClosed  CaseStatus = "closed"
)

// Case is a Deskie case (a "chat" on a sync custom channel).
type Case struct {
	ID             int64          `json:"case_id"`
	Number         string         `json:"case_number"`
	Subject        string         `json:"subject"`
	UserID         int64          `json:"user_id"`
	StaffID        int64          `json:"staff_id"` // 0: unassigned
	GroupID        int64          `json:"group_id"`
	Status         CaseStatus     `json:"status"`
	Priority       string         `json:"priority"` // low, normal, high, critical
	Channel        string         `json:"channel"`  // "email", "chat", "cch12", …
	Recipient      string         `json:"recipient"`
	CCEmails       string         `json:"cc_emails"`  // Omnidesk name; Deskie's recipient_cc is accepted too
	BCCEmails      string         `json:"bcc_emails"` // Omnidesk name; Deskie's recipient_bcc is accepted too
	Deleted        bool           `json:"deleted"`
	Spam           bool           `json:"spam"`
	CreatedAt      time.Time      `json:"created_at"` // zero when the API sends "-" or nothing
	UpdatedAt      time.Time      `json:"updated_at"`
	ClosedAt       time.Time      `json:"closed_at"` // zero while the case is not closed
	LastResponseAt time.Time      `json:"last_response_at"`
	ClosingSpeed   int64          `json:"closing_speed"` // minutes; 0 when "-"
	LanguageID     int64          `json:"language_id"`
	CustomFields   map[string]any `json:"custom_fields"`
	Labels         []int64        `json:"labels"`
	LockedLabels   []int64        `json:"locked_labels"`
	Rating         string         `json:"rating"`
	RatingComment  string         `json:"rating_comment"`
	RatedStaffID   int64          `json:"rated_staff_id"`
	Attachments    []File         `json:"attachments"`
}

// caseWire is a case as the API sends it, in the forgiving types (see decode.go).
type caseWire struct {
	ID             flexInt        `json:"case_id"`
	Number         flexString     `json:"case_number"`
	Subject        flexString     `json:"subject"`
	UserID         flexInt        `json:"user_id"`
	StaffID        flexInt        `json:"staff_id"`
	GroupID        flexInt        `json:"group_id"`
	Status         flexString     `json:"status"`
	Priority       flexString     `json:"priority"`
	Channel        flexString     `json:"channel"`
	Recipient      flexString     `json:"recipient"`
	CCEmails       flexString     `json:"cc_emails"`
	BCCEmails      flexString     `json:"bcc_emails"`
	RecipientCC    flexString     `json:"recipient_cc"`
	RecipientBCC   flexString     `json:"recipient_bcc"`
	Deleted        flexBool       `json:"deleted"`
	Spam           flexBool       `json:"spam"`
	CreatedAt      flexTime       `json:"created_at"`
	UpdatedAt      flexTime       `json:"updated_at"`
	ClosedAt       flexTime       `json:"closed_at"`
	LastResponseAt flexTime       `json:"last_response_at"`
	ClosingSpeed   flexInt        `json:"closing_speed"`
	LanguageID     flexInt        `json:"language_id"`
	CustomFields   map[string]any `json:"custom_fields"`
	Labels         flexInts       `json:"labels"`
	LockedLabels   flexInts       `json:"locked_labels"`
	Rating         flexString     `json:"rating"`
	RatingComment  flexString     `json:"rating_comment"`
	RatedStaffID   flexInt        `json:"rated_staff_id"`
	Attachments    []File         `json:"attachments"`
}

func (w *caseWire) toCase() *Case {
	return &Case{
		ID: int64(w.ID), Number: string(w.Number), Subject: string(w.Subject),
		UserID: int64(w.UserID), StaffID: int64(w.StaffID), GroupID: int64(w.GroupID),
		Status: CaseStatus(w.Status), Priority: string(w.Priority), Channel: string(w.Channel),
		Recipient: string(w.Recipient), CCEmails: firstNonEmpty(string(w.CCEmails), string(w.RecipientCC)),
		BCCEmails: firstNonEmpty(string(w.BCCEmails), string(w.RecipientBCC)),
		Deleted:   bool(w.Deleted), Spam: bool(w.Spam),
		CreatedAt: time.Time(w.CreatedAt), UpdatedAt: time.Time(w.UpdatedAt),
		ClosedAt: time.Time(w.ClosedAt), LastResponseAt: time.Time(w.LastResponseAt),
		ClosingSpeed: int64(w.ClosingSpeed), LanguageID: int64(w.LanguageID),
		CustomFields: w.CustomFields, Labels: w.Labels, LockedLabels: w.LockedLabels,
		Rating: string(w.Rating), RatingComment: string(w.RatingComment), RatedStaffID: int64(w.RatedStaffID),
		Attachments: w.Attachments,
	}
}

// UnmarshalJSON decodes a case forgivingly (see the package notes on decoding).
func (c *Case) UnmarshalJSON(b []byte) error {
	var w caseWire
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("case: %w", err)
	}
	*c = *w.toCase()
	return nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// CaseCreate is the body of POST /api/cases.json. For a custom channel set Channel
// ("cch12") and UserCustomID (your own user id); the answer's UserID is the Deskie
// user to save on your side. E-mail or phone given with a custom id link that
// profile to the custom-channel user (unless already tied to another custom id of
// the same channel).
type CaseCreate struct {
	Channel         string         `json:"channel,omitempty"`
	UserCustomID    string         `json:"user_custom_id,omitempty"`
	UserEmail       string         `json:"user_email,omitempty"`
	UserPhone       string         `json:"user_phone,omitempty"`
	UserFullName    string         `json:"user_full_name,omitempty"`
	CompanyName     string         `json:"company_name,omitempty"`
	CompanyPosition string         `json:"company_position,omitempty"`
	Subject         string         `json:"subject,omitempty"`
	Content         string         `json:"content,omitempty"`
	ContentHTML     string         `json:"content_html,omitempty"`
	LanguageID      int64          `json:"language_id,omitempty"`
	GroupID         int64          `json:"group_id,omitempty"`
	StaffID         int64          `json:"staff_id,omitempty"`
	Priority        string         `json:"priority,omitempty"`
	CustomFields    map[string]any `json:"custom_fields,omitempty"`
	Labels          []int64        `json:"labels,omitempty"`
	AttachmentURLs  []string       `json:"attachment_urls,omitempty"` // the service downloads them
	Attachments     []Upload       `json:"-"`                         // sent as multipart when non-empty
}

func (c *CaseCreate) validate() error {
	if c == nil {
		return &ArgumentError{Field: "CaseCreate", Reason: "nil"}
	}
	if strings.TrimSpace(c.Content) == "" && strings.TrimSpace(c.ContentHTML) == "" {
		return &ArgumentError{Field: "CaseCreate.Content", Reason: "empty: a case needs Content or ContentHTML"}
	}
	if c.UserCustomID != "" || strings.HasPrefix(c.Channel, "cch") {
		if err := checkChannel("CaseCreate.Channel", c.Channel); err != nil {
			return err
		}
		if strings.TrimSpace(c.UserCustomID) == "" {
			return &ArgumentError{Field: "CaseCreate.UserCustomID", Reason: "empty: a custom-channel case needs your user id"}
		}
	} else if c.UserEmail == "" && c.UserPhone == "" {
		return &ArgumentError{Field: "CaseCreate", Reason: "no user identity: set UserCustomID with a cch<N> Channel, or UserEmail, or UserPhone"}
	}
	for _, f := range []struct {
		name string
		v    int64
	}{{"LanguageID", c.LanguageID}, {"GroupID", c.GroupID}, {"StaffID", c.StaffID}} {
		if f.v < 0 {
			return &ArgumentError{Field: "CaseCreate." + f.name, Reason: fmt.Sprintf("%d is negative", f.v)}
		}
	}
	return nil
}

// IsCustomChannel reports whether code is a custom channel's code, "cch" followed
// by the channel id (e.g. "cch12"). Every known sample has that shape.
func IsCustomChannel(code string) bool {
	if len(code) < 4 || !strings.HasPrefix(code, "cch") {
		return false
	}
	for _, r := range code[3:] {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func checkChannel(field, code string) error {
	if code == "" {
		return &ArgumentError{Field: field, Reason: "empty: a custom channel's code like \"cch12\" is needed"}
	}
	if !IsCustomChannel(code) {
		return &ArgumentError{Field: field, Reason: fmt.Sprintf("%q is not a custom channel code like \"cch12\"", code)}
	}
	return nil
}

func checkID(field string, id int64) error {
	if id <= 0 {
		return &ArgumentError{Field: field, Reason: fmt.Sprintf("%d is not a valid id", id)}
	}
	return nil
}

// writeBody is the JSON body {"<root>": v}, or the multipart form when files are
// attached.
func writeBody(root string, v any, files []Upload) (any, error) {
	if len(files) > 0 {
		return multipartBody(root, v, files)
	}
	inner, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("deskie: encoding %s: %w", root, err)
	}
	body := make(json.RawMessage, 0, len(inner)+len(root)+5)
	body = append(body, `{"`...)
	body = append(body, root...)
	body = append(body, `":`...)
	body = append(body, inner...)
	return append(body, '}'), nil
}

func (s *CasesService) send(ctx context.Context, method, path string, body any) (*Case, error) {
	w, err := sendOne[caseWire](ctx, s.client, method, path, "case", body)
	if err != nil {
		return nil, err
	}
	return w.toCase(), nil
}

// Create creates a case (POST /api/cases.json), as JSON or, when c.Attachments is
// set, as multipart with case[attachments][1..N]. A 5xx or a broken connection
// after sending is returned at once as [ErrAmbiguous]: the case may exist.
func (s *CasesService) Create(ctx context.Context, c *CaseCreate) (*Case, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	body, err := writeBody("case", c, c.Attachments)
	if err != nil {
		return nil, err
	}
	cs, err := s.send(ctx, "POST", "cases.json", body)
	if err == nil && cs.ID == 0 {
		// Written, but which case was made is unknown: as ambiguous as a lost answer.
		return nil, &DecodeError{Method: "POST", Path: s.client.baseURL.Path + "cases.json", Err: errors.New("answer has no case_id"), Ambiguous: true}
	}
	return cs, err
}

// Get returns one case (GET /api/cases/{id}.json). A missing (or merged-away)
// case is an error for which [IsNotFound] holds.
func (s *CasesService) Get(ctx context.Context, caseID int64) (*Case, error) {
	if err := checkID("caseID", caseID); err != nil {
		return nil, err
	}
	return s.send(ctx, "GET", fmt.Sprintf("cases/%d.json", caseID), nil)
}

// CaseUpdate is the body of PUT /api/cases/{id}.json. Zero values are not sent and
// leave the field as it is: an empty Subject, Status or Priority, LanguageID 0, a
// nil Labels or CustomFields. StaffID and GroupID are pointers because 0 (unassign)
// differs from "leave as is". Labels: nil leaves them, an empty non-nil slice
// ([]int64{}) clears them (sent as "labels":[]).
type CaseUpdate struct {
	Subject      string         `json:"subject,omitempty"`
	Status       CaseStatus     `json:"status,omitempty"`
	Priority     string         `json:"priority,omitempty"`
	StaffID      *int64         `json:"staff_id,omitempty"`
	GroupID      *int64         `json:"group_id,omitempty"`
	LanguageID   int64          `json:"language_id,omitempty"`
	Labels       []int64        `json:"labels,omitzero"`
	CustomFields map[string]any `json:"custom_fields,omitempty"`
}

// Update changes a case (PUT /api/cases/{id}.json) and returns it as saved.
func (s *CasesService) Update(ctx context.Context, caseID int64, u *CaseUpdate) (*Case, error) {
	if err := checkID("caseID", caseID); err != nil {
		return nil, err
	}
	if u == nil || (u.Subject == "" && u.Status == "" && u.Priority == "" && u.StaffID == nil &&
		u.GroupID == nil && u.LanguageID == 0 && u.Labels == nil && u.CustomFields == nil) {
		return nil, &ArgumentError{Field: "CaseUpdate", Reason: "nothing to change"}
	}
	switch u.Status {
	case "", StatusOpen, StatusWaiting, StatusClosed:
	default:
		return nil, &ArgumentError{Field: "CaseUpdate.Status", Reason: fmt.Sprintf("%q is not open, waiting or closed", u.Status)}
	}
	if u.StaffID != nil && *u.StaffID < 0 {
		return nil, &ArgumentError{Field: "CaseUpdate.StaffID", Reason: "negative"}
	}
	if u.GroupID != nil && *u.GroupID < 0 {
		return nil, &ArgumentError{Field: "CaseUpdate.GroupID", Reason: "negative"}
	}
	body, err := writeBody("case", u, nil)
	if err != nil {
		return nil, err
	}
	return s.send(ctx, "PUT", fmt.Sprintf("cases/%d.json", caseID), body)
}

// CaseListOptions filters GET /api/cases.json. Multi-value filters are sent as
// repeated bracketed keys: status[]=open&status[]=waiting (the exact encoding the
// API expects for lists is not documented; this is the PHP convention the API's
// other bracketed fields follow).
type CaseListOptions struct {
	Page  int `url:"page,omitempty"`  // 1..500
	Limit int `url:"limit,omitempty"` // 1..100 (API default 100)

	UserID       []int64      `url:"user_id,brackets,omitempty"`
	UserCustomID []string     `url:"user_custom_id,brackets,omitempty"`
	Channel      []string     `url:"channel,brackets,omitempty"`
	Status       []CaseStatus `url:"status,brackets,omitempty"`
	StaffID      []int64      `url:"staff_id,brackets,omitempty"`
	GroupID      []int64      `url:"group_id,brackets,omitempty"`
	Priority     []string     `url:"priority,brackets,omitempty"`
	Labels       []int64      `url:"labels,brackets,omitempty"`
	// Sort orders the list: "created_at_desc", "created_at_asc", "updated_at_desc", …
	Sort string `url:"sort,omitempty"`
	// ShowActiveChats asks for the user's chats (the custom-channel article's way to
	// find the last chat); sent as show_active_chats=true.
	ShowActiveChats bool `url:"show_active_chats,omitempty"`
}

func (o *CaseListOptions) validate() error {
	if o == nil {
		return nil
	}
	if err := checkPaging(o.Page, o.Limit); err != nil {
		return err
	}
	for _, id := range o.UserID {
		if err := checkID("CaseListOptions.UserID", id); err != nil {
			return err
		}
	}
	return nil
}

// CaseList is one page of cases.
type CaseList struct {
	Cases []*Case
	// TotalCount is how many cases match the filter across all pages.
	TotalCount int
}

// List returns one page of cases (GET /api/cases.json).
func (s *CasesService) List(ctx context.Context, opt *CaseListOptions) (*CaseList, error) {
	if err := opt.validate(); err != nil {
		return nil, err
	}
	env, err := getList[Case](ctx, s.client, "cases.json", "case", opt)
	if err != nil {
		return nil, err
	}
	return &CaseList{Cases: env.items, TotalCount: env.count()}, nil
}

// All iterates over every case matching opt, fetching pages of opt.Limit (default
// 100) lazily as the loop advances, from opt.Page (default 1). opt is copied. It
// stops at the first error; past the API's ceiling of 500 pages it yields
// [ErrTooManyResults] instead of stopping silently.
func (s *CasesService) All(ctx context.Context, opt *CaseListOptions) iter.Seq2[*Case, error] {
	var o CaseListOptions
	if opt != nil {
		o = *opt
	}
	if err := o.validate(); err != nil {
		return failedSeq[Case](err)
	}
	return allPages[Case](ctx, s.client, "cases.json", "case", o.Page, o.Limit, func(page, limit int) any {
		o.Page, o.Limit = page, limit
		return &o
	})
}
