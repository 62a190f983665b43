package deskie

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
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
// and multipart are accepted too, fields may be inside object[…] or bare, booleans
// may be 0/1 or true/false, and every field it does not know is kept in Extra.

// AgentReply is one agent reply delivered to a custom channel's webhook.
type AgentReply struct {
	// Type is the event type, "message_new" for a reply.
	Type string
	// MessageID identifies the reply; the handler de-duplicates on it.
	MessageID int64
	// CaseID is the case the reply belongs to.
	CaseID int64
	// StaffID is the replying agent.
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
// or JSON, with fields inside object[…] or bare. A repeated field keeps its last
// value in every encoding, as PHP (whose object[…] framing this is) reads forms.
// Bodies over 1 MiB are refused ([ErrWebhookTooLarge]); a broken body or a bad
// value in a known field is [ErrMalformedWebhook] with the field named (never its
// value).
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
		for k, vs := range r.MultipartForm.Value {
			if len(vs) > 0 {
				// a repeated field keeps its last value, as in the other encodings
				if err := reply.set(k, vs[len(vs)-1]); err != nil {
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
			err = reply.setJSON(body)
		} else if mediaType == "application/x-www-form-urlencoded" || mediaType == "" || mediaType == "text/plain" {
			err = reply.setForm(string(body))
		} else {
			err = fmt.Errorf("%w: %s", ErrUnsupportedMediaType, mediaType)
		}
		if err != nil {
			return nil, err
		}
	}
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

// setForm decodes a form body in one pass: each pair is split on "&" and "=" and
// unescaped by net/url, exactly as url.ParseQuery does, but applied to the reply as
// it goes instead of being collected into a url.Values map first. A repeated key
// keeps its last value.
func (a *AgentReply) setForm(body string) error {
	for body != "" {
		var pair string
		pair, body, _ = strings.Cut(body, "&")
		if pair == "" {
			continue
		}
		if strings.Contains(pair, ";") {
			return fmt.Errorf("%w: semicolon in form field", ErrMalformedWebhook)
		}
		rawKey, rawValue, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(rawKey)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrMalformedWebhook, err)
		}
		value, err := url.QueryUnescape(rawValue)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrMalformedWebhook, err)
		}
		if err := a.set(key, value); err != nil {
			return err
		}
	}
	return nil
}

func (a *AgentReply) setJSON(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var tree map[string]any
	if err := dec.Decode(&tree); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformedWebhook, err)
	}
	return a.setTree("", tree)
}

// setTree flattens decoded JSON into the same bracketed keys a form carries.
func (a *AgentReply) setTree(prefix string, v any) error {
	switch x := v.(type) {
	case map[string]any:
		for k, child := range x {
			name := k
			if prefix != "" {
				name = prefix + "[" + k + "]"
			}
			if err := a.setTree(name, child); err != nil {
				return err
			}
		}
		return nil
	case []any:
		for i, child := range x {
			if err := a.setTree(prefix+"["+strconv.Itoa(i)+"]", child); err != nil {
				return err
			}
		}
		return nil
	case nil:
		return a.set(prefix, "")
	case bool:
		if x {
			return a.set(prefix, "1")
		}
		return a.set(prefix, "0")
	case json.Number:
		return a.set(prefix, x.String())
	case string:
		return a.set(prefix, x)
	default:
		return a.set(prefix, fmt.Sprint(x))
	}
}

// set applies one field: key is "object[message_id]", "message_id",
// "object[attachments][0][url]", ….
func (a *AgentReply) set(key, value string) error {
	name := key
	if inner, wrapped := strings.CutPrefix(key, "object["); wrapped {
		// object[x] → x, object[x][y] → x[y]; a key without a name or a
		// closing bracket ("object[", "object[]", "object[x") is kept as sent.
		switch i := strings.IndexByte(inner, ']'); {
		case i <= 0:
		case i == len(inner)-1:
			name = inner[:i]
		default:
			name = inner[:i] + inner[i+1:]
		}
	}
	field, rest, nested := strings.Cut(name, "[")
	if nested {
		if field == "attachments" {
			return a.setAttachment(name, rest, value)
		}
		a.keep(name, value)
		return nil
	}
	var err error
	switch field {
	case "type":
		a.Type = value
	case "message_id":
		a.MessageID, err = webhookInt(field, value)
	case "case_id":
		a.CaseID, err = webhookInt(field, value)
	case "staff_id":
		a.StaffID, err = webhookInt(field, value)
	case "user_id":
		a.UserID, err = webhookInt(field, value)
	case "custom_user_id", "user_custom_id":
		a.UserCustomID = value
	case "content":
		a.Content = value
	case "note":
		a.Note, err = webhookBool(field, value)
	case "sent_via_rule":
		a.SentViaRule, err = webhookBool(field, value)
	case "b_from_api", "from_api":
		a.FromAPI, err = webhookBool(field, value)
	default:
		a.keep(name, value)
	}
	return err
}

// setAttachment applies attachments[N][sub] (rest is "N][sub]").
func (a *AgentReply) setAttachment(name, rest, value string) error {
	idxText, sub, _ := strings.Cut(rest, "][")
	sub = strings.TrimSuffix(sub, "]")
	idx, err := strconv.Atoi(strings.TrimSuffix(idxText, "]"))
	if err != nil || idx < 0 || idx >= maxWebhookAttachments {
		return fmt.Errorf("%w: attachment index in %q", ErrMalformedWebhook, name)
	}
	for len(a.Attachments) <= idx {
		a.Attachments = append(a.Attachments, File{})
	}
	f := &a.Attachments[idx]
	switch sub {
	case "url":
		f.URL = value
	case "file_name", "name":
		f.Name = value
	case "mime_type":
		f.MimeType = value
	case "file_id":
		f.ID, err = webhookInt(name, value)
	case "file_size":
		f.Size, err = webhookInt(name, value)
	case "":
		f.URL = value // attachments[N]=url
	default:
		a.keep(name, value)
	}
	return err
}

func (a *AgentReply) keep(name, value string) {
	if a.Extra == nil {
		a.Extra = make(map[string]string)
	}
	a.Extra[name] = value
}

func webhookInt(field, value string) (int64, error) {
	if value == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: %s is not a non-negative integer", ErrMalformedWebhook, field)
	}
	return n, nil
}

func webhookBool(field, value string) (bool, error) {
	v, ok := parseBoolText(value)
	if !ok {
		return false, fmt.Errorf("%w: %s is not a boolean", ErrMalformedWebhook, field)
	}
	return v, nil
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

// DedupStore remembers which deliveries were handled, so a redelivered reply
// reaches the handler's function once. The default is an in-memory store of the
// last 10,000 message ids ([NewMemoryDedupStore]); a bridge running several
// replicas plugs in a shared one (Redis, SQL) through [WithDedupStore].
//
// Within one process the handler also holds a duplicate that arrives while the
// first copy is still being handled until that copy's outcome is known. Across
// replicas, two copies arriving at the same instant may both run unless the store
// also implements [DedupClaimer].
type DedupStore interface {
	// Seen reports whether key was recorded as handled.
	Seen(ctx context.Context, key string) (bool, error)
	// Done records key as handled.
	Done(ctx context.Context, key string) error
}

// DedupClaimer is an optional extension of [DedupStore] for shared stores: Claim
// atomically reserves key for this replica (false when another replica holds or
// finished it); Release drops a reservation whose handling failed.
type DedupClaimer interface {
	Claim(ctx context.Context, key string) (bool, error)
	Release(ctx context.Context, key string) error
}

// MemoryDedupStore is a bounded in-memory [DedupStore]: it keeps the most recent
// capacity keys and forgets the oldest first. Safe for concurrent use.
type MemoryDedupStore struct {
	mu   sync.Mutex
	keys map[string]struct{}
	ring []string
	next int
}

// NewMemoryDedupStore returns a store that remembers up to capacity keys
// (10,000 when capacity <= 0).
func NewMemoryDedupStore(capacity int) *MemoryDedupStore {
	if capacity <= 0 {
		capacity = 10000
	}
	return &MemoryDedupStore{keys: make(map[string]struct{}, capacity), ring: make([]string, capacity)}
}

// Seen reports whether key is remembered.
func (s *MemoryDedupStore) Seen(_ context.Context, key string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.keys[key]
	return ok, nil
}

// Done remembers key, forgetting the oldest key when full.
func (s *MemoryDedupStore) Done(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[key]; ok {
		return nil
	}
	if old := s.ring[s.next]; old != "" {
		delete(s.keys, old)
	}
	s.ring[s.next] = key
	s.keys[key] = struct{}{}
	s.next = (s.next + 1) % len(s.ring)
	return nil
}

// WebhookOption configures [NewWebhookHandler].
type WebhookOption func(*webhookHandler)

// WithWebhookToken sets the secret the Webhook URL carries, as its last path
// segment (https://app.example/deskie/<token>) or as ?token=<token>. Deliveries
// without it are answered 404, revealing nothing. Compared in constant time.
func WithWebhookToken(token string) WebhookOption {
	return func(h *webhookHandler) {
		if token == "" {
			h.misconfigured = "WithWebhookToken was given an empty token"
			return
		}
		sum := sha256.Sum256([]byte(token))
		h.tokenSum = &sum
	}
}

// WithoutWebhookToken explicitly turns the token check off, for a handler whose
// deliveries are authenticated elsewhere (a gateway, mTLS).
func WithoutWebhookToken() WebhookOption { return func(h *webhookHandler) { h.noToken = true } }

// WithAPIReplies also delivers replies flagged b_from_api=1 (added through the
// API, usually by your own integration), which are dropped by default.
func WithAPIReplies() WebhookOption { return func(h *webhookHandler) { h.apiReplies = true } }

// WithNotes also delivers internal notes (note=1), which are dropped by default
// because they must never reach the customer.
func WithNotes() WebhookOption { return func(h *webhookHandler) { h.notes = true } }

// WithMaxBodyBytes caps a delivery's body (default 1 MiB); larger ones get 413.
func WithMaxBodyBytes(n int64) WebhookOption {
	return func(h *webhookHandler) {
		if n > 0 {
			h.maxBody = n
		}
	}
}

// WithWebhookLogger sends the handler's log lines to l: one per rejected or
// dropped delivery with the reason, never the token or the message text.
func WithWebhookLogger(l *slog.Logger) WebhookOption {
	return func(h *webhookHandler) {
		if l != nil {
			h.logger = l
		}
	}
}

// WithDedupStore replaces the in-memory de-duplication store.
func WithDedupStore(s DedupStore) WebhookOption {
	return func(h *webhookHandler) {
		if s != nil {
			h.store = s
		}
	}
}

// NewWebhookHandler returns the http.Handler to mount at the channel's Webhook URL:
//
//	http.Handle("/deskie/", deskie.NewWebhookHandler(fn, deskie.WithWebhookToken(secret)))
//
// It answers:
//   - 405 (with Allow: POST) to anything but POST;
//   - 404 when the token is wrong or missing;
//   - 413 to a body over the limit, 400 to a malformed one;
//   - 200 without calling fn for notes and for replies added through the API
//     (b_from_api=1), unless WithNotes / WithAPIReplies; for a message_id already
//     handled; and for event types other than message_new;
//   - 200 when fn returned nil; 500 when fn returned an error or panicked, so the
//     service can deliver again (and fn will be called again);
//   - 500 to every delivery, logging why, when built with neither WithWebhookToken
//     nor WithoutWebhookToken: secure by default.
//
// fn runs with the request's context. A duplicate that arrives while the first
// copy is in fn waits for its outcome: 200 if it succeeded, otherwise it is
// handled itself. The handler is safe for concurrent deliveries.
func NewWebhookHandler(fn func(ctx context.Context, r *AgentReply) error, opts ...WebhookOption) http.Handler {
	h := &webhookHandler{
		fn:       fn,
		maxBody:  defaultMaxWebhookBytes,
		logger:   slog.New(slog.DiscardHandler),
		inflight: make(map[string]chan struct{}),
	}
	for _, opt := range opts {
		if opt != nil {
			opt(h)
		}
	}
	if h.store == nil {
		h.store = NewMemoryDedupStore(0)
	}
	switch {
	case fn == nil:
		h.misconfigured = "NewWebhookHandler was given a nil function"
	case h.misconfigured != "":
	case h.tokenSum == nil && !h.noToken:
		h.misconfigured = "no WithWebhookToken (or explicit WithoutWebhookToken) was given"
	case h.tokenSum != nil && h.noToken:
		h.misconfigured = "both WithWebhookToken and WithoutWebhookToken were given"
	}
	return h
}

// NewWebhookHandler is [NewWebhookHandler] logging through the client's logger.
func (c *Client) NewWebhookHandler(fn func(ctx context.Context, r *AgentReply) error, opts ...WebhookOption) http.Handler {
	return NewWebhookHandler(fn, append([]WebhookOption{WithWebhookLogger(c.logger)}, opts...)...)
}

type webhookHandler struct {
	fn            func(ctx context.Context, r *AgentReply) error
	tokenSum      *[sha256.Size]byte
	noToken       bool
	apiReplies    bool
	notes         bool
	maxBody       int64
	logger        *slog.Logger
	store         DedupStore
	misconfigured string

	mu       sync.Mutex
	inflight map[string]chan struct{}
}

func (h *webhookHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.misconfigured != "" {
		h.logger.Error("deskie: webhook handler refuses deliveries: " + h.misconfigured)
		http.Error(w, "webhook handler misconfigured", http.StatusInternalServerError)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.reject(w, r, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	if !h.tokenOK(r) {
		h.logger.Warn("deskie: webhook delivery rejected", "reason", "wrong or missing token", "path_segments", strings.Count(r.URL.Path, "/"))
		http.NotFound(w, r)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, h.maxBody)
	reply, err := parseWebhook(r, h.maxBody)
	if err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, ErrWebhookTooLarge) {
			status = http.StatusRequestEntityTooLarge
		} else if errors.Is(err, ErrUnsupportedMediaType) {
			status = http.StatusUnsupportedMediaType
		}
		h.reject(w, r, status, err.Error())
		return
	}
	if reply.MessageID == 0 {
		if reply.Type != "" && reply.Type != EventMessageNew {
			h.ack(w, "ignored", "deskie: webhook event ignored", "type", reply.Type)
			return
		}
		h.reject(w, r, http.StatusBadRequest, "deskie: malformed webhook delivery: missing message_id")
		return
	}
	if reply.Note && !h.notes {
		h.ack(w, "dropped", "deskie: webhook note dropped", "message_id", reply.MessageID, "case_id", reply.CaseID)
		return
	}
	if reply.FromAPI && !h.apiReplies {
		h.ack(w, "dropped", "deskie: webhook reply added through the API dropped", "message_id", reply.MessageID, "case_id", reply.CaseID)
		return
	}
	h.handleOnce(w, r, reply)
}

func (h *webhookHandler) tokenOK(r *http.Request) bool {
	if h.tokenSum == nil {
		return true
	}
	path := strings.TrimSuffix(r.URL.Path, "/")
	candidates := []string{path[strings.LastIndexByte(path, '/')+1:], r.URL.Query().Get("token")}
	ok := 0
	for _, c := range candidates {
		sum := sha256.Sum256([]byte(c))
		ok |= subtle.ConstantTimeCompare(sum[:], h.tokenSum[:])
	}
	return ok == 1
}

// handleOnce runs fn for a message id at most once at a time and never again
// after it succeeded.
func (h *webhookHandler) handleOnce(w http.ResponseWriter, r *http.Request, reply *AgentReply) {
	ctx := r.Context()
	key := strconv.FormatInt(reply.MessageID, 10)
	var done chan struct{}
	for {
		h.mu.Lock()
		wait, busy := h.inflight[key]
		if !busy {
			done = make(chan struct{})
			h.inflight[key] = done
		}
		h.mu.Unlock()
		if !busy {
			break
		}
		select {
		case <-wait:
		case <-ctx.Done():
			h.reject(w, r, http.StatusServiceUnavailable, "gave up waiting for a concurrent copy")
			return
		}
	}
	defer func() {
		h.mu.Lock()
		delete(h.inflight, key)
		h.mu.Unlock()
		close(done)
	}()

	seen, err := h.store.Seen(ctx, key)
	if err != nil {
		h.fail(w, "dedup store", err, reply)
		return
	}
	if seen {
		h.ack(w, "duplicate", "deskie: webhook duplicate acknowledged", "message_id", reply.MessageID)
		return
	}
	claimer, shared := h.store.(DedupClaimer)
	if shared {
		ok, err := claimer.Claim(ctx, key)
		if err != nil {
			h.fail(w, "dedup claim", err, reply)
			return
		}
		if !ok {
			h.reject(w, r, http.StatusConflict, "another replica is handling this message")
			return
		}
	}
	if err := h.call(ctx, reply); err != nil {
		if shared {
			_ = claimer.Release(context.WithoutCancel(ctx), key)
		}
		h.fail(w, "handler", err, reply)
		return
	}
	if err := h.store.Done(context.WithoutCancel(ctx), key); err != nil {
		h.logger.Error("deskie: webhook handled but not recorded; a redelivery would run again", "message_id", reply.MessageID, "error", err)
	}
	h.ack(w, "ok", "")
}

func (h *webhookHandler) call(ctx context.Context, reply *AgentReply) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return h.fn(ctx, reply)
}

func (h *webhookHandler) fail(w http.ResponseWriter, what string, err error, reply *AgentReply) {
	h.logger.Error("deskie: webhook delivery failed; answering 500 so it is delivered again", "stage", what,
		"message_id", reply.MessageID, "case_id", reply.CaseID, "error", err)
	http.Error(w, "delivery not handled", http.StatusInternalServerError)
}

func (h *webhookHandler) reject(w http.ResponseWriter, r *http.Request, status int, reason string) {
	h.logger.Warn("deskie: webhook delivery rejected", "status", status, "reason", reason, "method", r.Method)
	http.Error(w, reason, status)
}

func (h *webhookHandler) ack(w http.ResponseWriter, status, msg string, args ...any) {
	if msg != "" {
		h.logger.Info(msg, args...)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, `{"status":"`+status+`"}`)
}
