package deskie

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// When an agent answers in a custom-channel case, Deskie POSTs the reply to the
// channel's Webhook URL. What is known of that delivery (from public code that
// receives it; the vendor shows it only as a picture):
//
//	type=message_new
//	object[message_id]=42577887        object[case_id]=985687
//	object[staff_id]=7235              object[user_id]=5654846848
//	object[custom_user_id]=tg-100500   (spelled so here; user_custom_id in the REST API)
//	object[content]=Help is coming!    object[note]=0   object[sent_via_rule]=0
//	object[attachments][0][url]=https://…
//
// form-encoded (application/x-www-form-urlencoded). The vendor also says replies an
// integrator added through the API carry b_from_api=1. No signature exists, so the
// handler authenticates deliveries by a secret token in the Webhook URL. Because the
// framing is partly a guess, the parser is tolerant: JSON ({"type":…,"object":{…}})
// and multipart are accepted too, fields may be inside object[…] or bare (when a
// delivery carries both, the one inside object[…] wins), booleans may be 0/1 or
// true/false, and every field it does not know is kept in Extra.

// AgentReply is one agent reply delivered to a custom channel's webhook, or found
// by [RepliesService.Watch] (which fills the same fields).
type AgentReply struct {
	// Type is the event type, "message_new" for a reply.
	Type string
	// MessageID identifies the reply; the handler de-duplicates on it.
	MessageID int64
	// CaseID is the case the reply belongs to.
	CaseID int64
	// StaffID is the replying agent (0 for a message an automation rule sent).
	StaffID int64
	// UserID is the customer's Deskie user id.
	UserID int64
	// UserCustomID is the user_custom_id you gave (custom_user_id on the wire).
	UserCustomID string
	// Content is the reply text; it may contain HTML (not documented either way).
	Content string
	// Note is set for an internal note (never show it to the customer).
	Note bool
	// SentViaRule is set when an automation rule produced the message.
	SentViaRule bool
	// FromAPI is b_from_api: the reply was added through the API (by you).
	FromAPI bool
	// Attachments are the reply's files (url, and file_id, file_name, file_size,
	// mime_type when sent).
	Attachments []File
	// Extra keeps every field the SDK does not know, keyed without the object[…]
	// wrapper ("foo", "foo[bar]").
	Extra map[string]string
}

// Sentinel errors of webhook parsing; errors.Is works on what ParseWebhook returns.
var (
	// ErrMalformedWebhook: the body could not be parsed or a known field had a bad value.
	ErrMalformedWebhook = errors.New("deskie: malformed webhook delivery")
	// ErrWebhookTooLarge: the body was larger than the limit.
	ErrWebhookTooLarge = errors.New("deskie: webhook delivery too large")
	// ErrUnsupportedMediaType: the Content-Type is none of form, multipart or JSON.
	ErrUnsupportedMediaType = errors.New("deskie: unsupported webhook content type")
)

const (
	defaultMaxWebhookBytes = 1 << 20
	maxWebhookAttachments  = 100
	// EventMessageNew is the Type of an agent reply.
	EventMessageNew = "message_new"
)

// ParseWebhook decodes a delivery: form-encoded (what the service sends), multipart
// or JSON, with fields inside object[…] or bare; when a field comes both ways the
// one inside object[…] wins. A body whose Content-Type is empty is read as JSON
// when it starts with "{" and as a form otherwise; text/plain is read as a form.
// A repeated field keeps its last value in every encoding, as PHP (whose object[…]
// framing this is) reads forms. Bodies over 1 MiB are refused
// ([ErrWebhookTooLarge]); a broken body or a bad value in a known field is
// [ErrMalformedWebhook] with the field named (never its value).
func ParseWebhook(r *http.Request) (*AgentReply, error) {
	return parseWebhook(r, defaultMaxWebhookBytes)
}

func parseWebhook(r *http.Request, maxBytes int64) (*AgentReply, error) {
	if r.Body == nil {
		return nil, fmt.Errorf("%w: empty body", ErrMalformedWebhook)
	}
	contentType := r.Header.Get("Content-Type")
	mediaType, _, _ := strings.Cut(contentType, ";")
	mediaType = strings.ToLower(strings.TrimSpace(mediaType))
	reply := &AgentReply{}
	p := &replyParser{reply: reply}
	switch mediaType {
	case "multipart/form-data":
		_, params, err := mime.ParseMediaType(contentType)
		if err != nil || params["boundary"] == "" {
			return nil, fmt.Errorf("%w: multipart without boundary", ErrMalformedWebhook)
		}
		r.Body = http.MaxBytesReader(nil, r.Body, maxBytes)
		if err := r.ParseMultipartForm(maxBytes); err != nil { //nolint:gosec // G120: the body is capped by the MaxBytesReader above
			return nil, bodyError(err)
		}
		defer func() { _ = r.MultipartForm.RemoveAll() }()
		// sorted, so that aliases of one field (custom_user_id, user_custom_id)
		// resolve the same way on every run
		for _, k := range slices.Sorted(maps.Keys(r.MultipartForm.Value)) {
			if vs := r.MultipartForm.Value[k]; len(vs) > 0 {
				// a repeated field keeps its last value, as in the other encodings
				if err := p.set(k, vs[len(vs)-1]); err != nil {
					return nil, err
				}
			}
		}
	default:
		body, err := readBody(r.Body, maxBytes)
		if err != nil {
			return nil, err
		}
		if mediaType == "application/json" || (mediaType == "" && looksLikeJSON(body)) {
			err = p.setJSON(body)
		} else if mediaType == "application/x-www-form-urlencoded" || mediaType == "" || mediaType == "text/plain" {
			err = p.setForm(string(body))
		} else {
			err = fmt.Errorf("%w: %s", ErrUnsupportedMediaType, mediaType)
		}
		if err != nil {
			return nil, err
		}
	}
	p.finish()
	if reply.Type == "" && reply.MessageID == 0 && reply.CaseID == 0 && len(reply.Extra) == 0 && reply.Content == "" {
		return nil, fmt.Errorf("%w: no fields", ErrMalformedWebhook)
	}
	return reply, nil
}

func looksLikeJSON(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && b[0] == '{'
}

func readBody(body io.Reader, maxBytes int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(body, maxBytes+1))
	if err != nil {
		return nil, bodyError(err)
	}
	if int64(len(data)) > maxBytes {
		return nil, ErrWebhookTooLarge
	}
	return data, nil
}

func bodyError(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) || errors.Is(err, multipart.ErrMessageTooLarge) {
		return ErrWebhookTooLarge
	}
	return fmt.Errorf("%w: %w", ErrMalformedWebhook, err)
}

// WebhookForm encodes a reply the way the service delivers it (object[…] form
// fields), for tests of webhook receivers. Extra fields are included.
func WebhookForm(r *AgentReply) url.Values {
	v := url.Values{}
	typ := r.Type
	if typ == "" {
		typ = EventMessageNew
	}
	v.Set("type", typ)
	id := func(k string, n int64) { v.Set("object["+k+"]", strconv.FormatInt(n, 10)) }
	flag := func(k string, b bool) {
		if b {
			v.Set("object["+k+"]", "1")
		} else {
			v.Set("object["+k+"]", "0")
		}
	}
	id("message_id", r.MessageID)
	id("case_id", r.CaseID)
	id("staff_id", r.StaffID)
	id("user_id", r.UserID)
	v.Set("object[custom_user_id]", r.UserCustomID)
	v.Set("object[content]", r.Content)
	flag("note", r.Note)
	flag("sent_via_rule", r.SentViaRule)
	if r.FromAPI {
		v.Set("object[b_from_api]", "1")
	}
	for i, f := range r.Attachments {
		p := fmt.Sprintf("object[attachments][%d]", i)
		v.Set(p+"[url]", f.URL)
		if f.ID != 0 {
			v.Set(p+"[file_id]", strconv.FormatInt(f.ID, 10))
		}
		if f.Name != "" {
			v.Set(p+"[file_name]", f.Name)
		}
		if f.Size != 0 {
			v.Set(p+"[file_size]", strconv.FormatInt(f.Size, 10))
		}
		if f.MimeType != "" {
			v.Set(p+"[mime_type]", f.MimeType)
		}
	}
	for k, val := range r.Extra {
		head, tail, nested := strings.Cut(k, "[")
		if nested {
			v.Set("object["+head+"]["+tail, val)
		} else {
			v.Set("object["+k+"]", val)
		}
	}
	return v
}

// NewWebhookRequest builds a real-shaped delivery of r to target (form-encoded
// POST), for tests of webhook receivers.
func NewWebhookRequest(ctx context.Context, target string, r *AgentReply) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(WebhookForm(r).Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req, nil
}
