package deskietest

import (
	"fmt"
	"time"
)

// ChannelType is a custom channel's type.
type ChannelType string

// The channel types: async works like e-mail, sync in real time like a chat.
const (
	ChannelAsync ChannelType = "async"
	ChannelSync  ChannelType = "sync"
)

// Channel is a custom channel of the fake account.
type Channel struct {
	ID         int64
	Code       string // "cch<ID>", the channel_api_key
	Title      string
	Type       ChannelType
	WebhookURL string
	Active     bool
}

// User is a user profile. A custom-channel profile has CustomID and Channel; an
// e-mail or phone profile has Email or Phone. Linked holds the linked profiles.
type User struct {
	ID        int64
	CustomID  string
	Channel   string
	Email     string
	Phone     string
	FullName  string
	Company   string
	Position  string
	Linked    []int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Status values of a case.
const (
	StatusOpen    = "open"
	StatusWaiting = "waiting"
	StatusClosed  = "closed"
)

// Case is a case of the fake account.
type Case struct {
	ID           int64
	Number       string
	Subject      string
	UserID       int64
	StaffID      int64
	GroupID      int64
	Status       string
	Priority     string
	Channel      string
	Deleted      bool
	Spam         bool
	LanguageID   int64
	Labels       []int64
	CustomFields map[string]any
	CreatedAt    time.Time
	UpdatedAt    time.Time
	ClosedAt     time.Time
	LastResponse time.Time
}

// Message is a message of a case.
type Message struct {
	ID          int64
	CaseID      int64
	UserID      int64 // set for the customer's messages
	StaffID     int64 // set for agents' messages
	Content     string
	ContentHTML string
	Note        bool
	SentViaRule bool
	FromAPI     bool // added through the API (b_from_api)
	Attachments []File
	CreatedAt   time.Time
}

// File is an attachment.
type File struct {
	ID       int64
	Name     string
	Size     int64
	MimeType string
	URL      string
}

func caseNumber(id int64) string { return fmt.Sprintf("%03d-%06d", id%1000, id*7%1000000) }

// clone copies a case so callers cannot change the server's state.
func (c *Case) clone() Case {
	out := *c
	out.Labels = append([]int64(nil), c.Labels...)
	if c.CustomFields != nil {
		out.CustomFields = make(map[string]any, len(c.CustomFields))
		for k, v := range c.CustomFields {
			out.CustomFields[k] = v
		}
	}
	return out
}

func (u *User) clone() User {
	out := *u
	out.Linked = append([]int64(nil), u.Linked...)
	return out
}

func (m *Message) clone() Message {
	out := *m
	out.Attachments = append([]File(nil), m.Attachments...)
	return out
}

// wire forms, in the field names and formats of the real API.

func (s *Server) date(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(s.cfg.zone).Format(time.RFC1123Z)
}

func (s *Server) caseJSON(c *Case) map[string]any {
	labels := c.Labels
	if labels == nil {
		labels = []int64{}
	}
	cf := c.CustomFields
	if cf == nil {
		cf = map[string]any{}
	}
	return map[string]any{
		"case_id": c.ID, "case_number": c.Number, "subject": c.Subject, "user_id": c.UserID,
		"staff_id": c.StaffID, "group_id": c.GroupID, "status": c.Status, "priority": c.Priority,
		"channel": c.Channel, "recipient": "", "cc_emails": "", "bcc_emails": "",
		"deleted": c.Deleted, "spam": c.Spam, "created_at": s.date(c.CreatedAt), "updated_at": s.date(c.UpdatedAt),
		"closed_at": s.date(c.ClosedAt), "last_response_at": s.date(c.LastResponse), "closing_speed": "-",
		"language_id": c.LanguageID, "custom_fields": cf, "labels": labels, "locked_labels": []int64{},
		"rating": "", "rating_comment": "", "rated_staff_id": 0,
	}
}

func (s *Server) messageJSON(m *Message) map[string]any {
	files := make([]map[string]any, 0, len(m.Attachments))
	for _, f := range m.Attachments {
		files = append(files, fileJSON(f))
	}
	return map[string]any{
		"message_id": m.ID, "case_id": m.CaseID, "user_id": m.UserID, "staff_id": m.StaffID,
		"content": m.Content, "content_html": m.ContentHTML, "note": m.Note, "sent_via_rule": m.SentViaRule,
		"created_at": s.date(m.CreatedAt), "sent_at": s.date(m.CreatedAt), "attachments": files,
	}
}

func fileJSON(f File) map[string]any {
	return map[string]any{"file_id": f.ID, "file_name": f.Name, "file_size": f.Size, "mime_type": f.MimeType, "url": f.URL}
}

func (s *Server) userJSON(u *User) map[string]any {
	typ := "email"
	switch {
	case u.CustomID != "":
		typ = "custom" // a guess: the real type name of a custom-channel profile is not documented
	case u.Phone != "":
		typ = "phone"
	}
	linked := u.Linked
	if linked == nil {
		linked = []int64{}
	}
	out := map[string]any{
		"user_id": u.ID, "user_full_name": u.FullName, "company_name": u.Company, "company_position": u.Position,
		"thumbnail": "", "confirmed": false, "active": true, "deleted": false, "type": typ,
		"created_at": s.date(u.CreatedAt), "updated_at": s.date(u.UpdatedAt), "last_contact_at": s.date(u.UpdatedAt),
		"language_id": 1, "custom_fields": map[string]any{}, "linked_users": linked,
	}
	if u.CustomID != "" {
		out["user_custom_id"], out["user_custom_channel"] = u.CustomID, u.Channel
	}
	if u.Email != "" {
		out["user_email"] = u.Email
	}
	if u.Phone != "" {
		out["user_phone"] = u.Phone
	}
	return out
}

func channelJSON(c *Channel) map[string]any {
	icon := "fa-question-circle"
	if c.Type == ChannelSync {
		icon = "fa-bullhorn"
	}
	return map[string]any{
		"channel_id": c.ID, "channel_api_key": c.Code, "title": c.Title, "channel_type": string(c.Type),
		"icon": icon, "webhook_url": c.WebhookURL, "active": c.Active,
	}
}
