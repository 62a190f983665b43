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

// MessagesService adds responses to a case and lists them:
// POST/GET /api/cases/{case_id}/messages.json.
type MessagesService service

// Message is one message of a case: the customer's (UserID set) or an agent's
// (StaffID set).
type Message struct {
	ID          int64     `json:"message_id"`
	CaseID      int64     `json:"case_id"`
	UserID      int64     `json:"user_id"`
	StaffID     int64     `json:"staff_id"`
	Content     string    `json:"content"`
	ContentHTML string    `json:"content_html"`
	Note        bool      `json:"note"`          // internal note, never shown to the customer
	SentViaRule bool      `json:"sent_via_rule"` // produced by an automation rule
	CreatedAt   time.Time `json:"created_at"`
	SentAt      time.Time `json:"sent_at"` // differs from CreatedAt for delayed sending
	Attachments []File    `json:"attachments"`
}

// messageWire is a message as the API sends it, in the forgiving types.
type messageWire struct {
	ID          flexInt    `json:"message_id"`
	CaseID      flexInt    `json:"case_id"`
	UserID      flexInt    `json:"user_id"`
	StaffID     flexInt    `json:"staff_id"`
	Content     flexString `json:"content"`
	ContentHTML flexString `json:"content_html"`
	Note        flexBool   `json:"note"`
	SentViaRule flexBool   `json:"sent_via_rule"`
	CreatedAt   flexTime   `json:"created_at"`
	SentAt      flexTime   `json:"sent_at"`
	Attachments []File     `json:"attachments"`
}

func (w *messageWire) toMessage() *Message {
	return &Message{
		ID: int64(w.ID), CaseID: int64(w.CaseID), UserID: int64(w.UserID), StaffID: int64(w.StaffID),
		Content: string(w.Content), ContentHTML: string(w.ContentHTML),
		Note: bool(w.Note), SentViaRule: bool(w.SentViaRule),
		CreatedAt: time.Time(w.CreatedAt), SentAt: time.Time(w.SentAt), Attachments: w.Attachments,
	}
}

// UnmarshalJSON decodes a message forgivingly.
func (m *Message) UnmarshalJSON(b []byte) error {
	var w messageWire
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("message: %w", err)
	}
	*m = *w.toMessage()
	return nil
}

// File is an attachment of a case or message.
type File struct {
	ID       int64  `json:"file_id"`
	Name     string `json:"file_name"`
	Size     int64  `json:"file_size"`
	MimeType string `json:"mime_type"`
	URL      string `json:"url"`
}

// UnmarshalJSON decodes a file forgivingly (ids and sizes may be strings).
func (f *File) UnmarshalJSON(b []byte) error {
	var w struct {
		ID       flexInt    `json:"file_id"`
		Name     flexString `json:"file_name"`
		Size     flexInt    `json:"file_size"`
		MimeType flexString `json:"mime_type"`
		URL      flexString `json:"url"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("file: %w", err)
	}
	*f = File{ID: int64(w.ID), Name: string(w.Name), Size: int64(w.Size), MimeType: string(w.MimeType), URL: string(w.URL)}
	return nil
}

// MessageCreate is the body of POST /api/cases/{id}/messages.json. Set exactly one
// of UserID (the customer writes) or StaffID (an agent answers). An agent answer
// added through the API is also sent to a custom channel's webhook, flagged
// b_from_api=1 (the webhook handler drops those by default).
type MessageCreate struct {
	UserID         int64    `json:"user_id,omitempty"`
	StaffID        int64    `json:"staff_id,omitempty"`
	Content        string   `json:"content,omitempty"`
	ContentHTML    string   `json:"content_html,omitempty"`
	AttachmentURLs []string `json:"attachment_urls,omitempty"`
	Attachments    []Upload `json:"-"` // sent as multipart when non-empty
}

func (m *MessageCreate) validate() error {
	switch {
	case m == nil:
		return &ArgumentError{Field: "MessageCreate", Reason: "nil"}
	case m.UserID < 0 || m.StaffID < 0:
		return &ArgumentError{Field: "MessageCreate.UserID/StaffID", Reason: "negative id"}
	case (m.UserID == 0) == (m.StaffID == 0):
		return &ArgumentError{Field: "MessageCreate.UserID/StaffID", Reason: "set exactly one: UserID (as the customer) or StaffID (as an agent)"}
	case strings.TrimSpace(m.Content) == "" && strings.TrimSpace(m.ContentHTML) == "" && len(m.Attachments) == 0 && len(m.AttachmentURLs) == 0:
		return &ArgumentError{Field: "MessageCreate.Content", Reason: "empty: a message needs content or attachments"}
	}
	return nil
}

// Create adds a message to a case (POST /api/cases/{id}/messages.json). A closed
// or merged-away case answers with an error such as case_not_found ([IsNotFound]).
// A 5xx or a broken connection after sending is [ErrAmbiguous]: the message may
// have been added.
func (s *MessagesService) Create(ctx context.Context, caseID int64, m *MessageCreate) (*Message, error) {
	if err := checkID("caseID", caseID); err != nil {
		return nil, err
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	body, err := writeBody("message", m, m.Attachments)
	if err != nil {
		return nil, err
	}
	w, err := sendOne[messageWire](ctx, s.client, "POST", messagesPath(caseID), "message", body)
	if err != nil {
		return nil, err
	}
	msg := w.toMessage()
	if msg.ID == 0 {
		// Written, but which message was made is unknown: as ambiguous as a lost answer.
		return nil, &DecodeError{Method: "POST", Path: s.client.baseURL.Path + messagesPath(caseID), Err: errors.New("answer has no message_id"), Ambiguous: true}
	}
	if m.StaffID != 0 {
		// Remembered so that Replies.Watch knows this reply as the integration's own
		// (the REST answer carries no b_from_api, unlike the webhook).
		if err := s.client.store.PutRecord(context.WithoutCancel(ctx), apiMessageKey(msg.ID), []byte("1"), defaultReplyDoneTTL); err != nil {
			s.client.logger.Warn("deskie: could not record an API reply; Replies.Watch may deliver it as an agent's", "message_id", msg.ID, "error", storeErr("record API reply", err))
		}
	}
	return msg, nil
}

// MessageListOptions pages GET /api/cases/{id}/messages.json.
type MessageListOptions struct {
	Page  int `url:"page,omitempty"`
	Limit int `url:"limit,omitempty"`
	// Order is "asc" (oldest first, the API default) or "desc".
	Order string `url:"order,omitempty"`
}

// MessageList is one page of a case's messages.
type MessageList struct {
	Messages   []*Message
	TotalCount int
}

func (o *MessageListOptions) validate() error {
	if o == nil {
		return nil
	}
	if err := checkPaging(o.Page, o.Limit); err != nil {
		return err
	}
	if o.Order != "" && o.Order != "asc" && o.Order != "desc" {
		return &ArgumentError{Field: "MessageListOptions.Order", Reason: fmt.Sprintf("%q is not asc or desc", o.Order)}
	}
	return nil
}

func messagesPath(caseID int64) string { return fmt.Sprintf("cases/%d/messages.json", caseID) }

// List returns one page of a case's messages.
func (s *MessagesService) List(ctx context.Context, caseID int64, opt *MessageListOptions) (*MessageList, error) {
	if err := checkID("caseID", caseID); err != nil {
		return nil, err
	}
	if err := opt.validate(); err != nil {
		return nil, err
	}
	env, err := getList[Message](ctx, s.client, messagesPath(caseID), "message", opt)
	if err != nil {
		return nil, err
	}
	return &MessageList{Messages: env.items, TotalCount: env.count()}, nil
}

// All iterates over a case's messages page by page (see [CasesService.All]).
func (s *MessagesService) All(ctx context.Context, caseID int64, opt *MessageListOptions) iter.Seq2[*Message, error] {
	var o MessageListOptions
	if opt != nil {
		o = *opt
	}
	if err := checkID("caseID", caseID); err != nil {
		return failedSeq[Message](err)
	}
	if err := o.validate(); err != nil {
		return failedSeq[Message](err)
	}
	return allPages[Message](ctx, s.client, messagesPath(caseID), "message", o.Page, o.Limit, func(page, limit int) any {
		o.Page, o.Limit = page, limit
		return &o
	})
}
