package deskie

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// replyParser applies a delivery's fields to a reply. A field sent inside
// object[…] wins over the same field sent bare, whatever their order in the body:
// a bare known field is skipped once the wrapped one was set; bare unknown fields
// and bare attachments are held aside and applied by finish only where the object
// sent nothing of the kind. (Before, a JSON body carrying "note" both ways took
// whichever Go's map iteration met last.)
type replyParser struct {
	reply       *AgentReply
	wrapped     uint16 // known fields set from object[…], by fieldBit
	wrappedAtts bool   // an object[attachments] key was seen
	bareExtra   map[string]string
	bareAtts    *AgentReply // bare attachments, applied when the object sent none
}

// The known fields, as bits of replyParser.wrapped.
const (
	bitType uint16 = 1 << iota
	bitMessageID
	bitCaseID
	bitStaffID
	bitUserID
	bitUserCustomID
	bitContent
	bitNote
	bitSentViaRule
	bitFromAPI
)

// setForm decodes a form body in one pass: each pair is split on "&" and "=" and
// unescaped by net/url, exactly as url.ParseQuery does, but applied to the reply as
// it goes instead of being collected into a url.Values map first. A repeated key
// keeps its last value.
func (p *replyParser) setForm(body string) error {
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
		if err := p.set(key, value); err != nil {
			return err
		}
	}
	return nil
}

func (p *replyParser) setJSON(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var tree map[string]any
	if err := dec.Decode(&tree); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformedWebhook, err)
	}
	return p.setTree("", tree)
}

// setTree flattens decoded JSON into the same bracketed keys a form carries. Keys
// are visited in sorted order, so a decoded map gives the same reply every time.
func (p *replyParser) setTree(prefix string, v any) error {
	switch x := v.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(x)) {
			name := k
			if prefix != "" {
				name = prefix + "[" + k + "]"
			}
			if err := p.setTree(name, x[k]); err != nil {
				return err
			}
		}
		return nil
	case []any:
		for i, child := range x {
			if err := p.setTree(prefix+"["+strconv.Itoa(i)+"]", child); err != nil {
				return err
			}
		}
		return nil
	case nil:
		return p.set(prefix, "")
	case bool:
		if x {
			return p.set(prefix, "1")
		}
		return p.set(prefix, "0")
	case json.Number:
		return p.set(prefix, x.String())
	case string:
		return p.set(prefix, x)
	default:
		return p.set(prefix, fmt.Sprint(x))
	}
}

// set applies one field: key is "object[message_id]", "message_id",
// "object[attachments][0][url]", ….
func (p *replyParser) set(key, value string) error {
	name := key
	inner, wrapped := strings.CutPrefix(key, "object[")
	if wrapped {
		// object[x] → x, object[x][y] → x[y]; a key without a name or a
		// closing bracket ("object[", "object[]", "object[x") is kept as sent.
		switch i := strings.IndexByte(inner, ']'); {
		case i <= 0:
			wrapped = false
		case i == len(inner)-1:
			name = inner[:i]
		default:
			name = inner[:i] + inner[i+1:]
		}
	}
	field, rest, nested := strings.Cut(name, "[")
	if nested {
		if field == "attachments" {
			if wrapped {
				p.wrappedAtts = true
				return p.reply.setAttachment(name, rest, value)
			}
			if p.bareAtts == nil {
				p.bareAtts = &AgentReply{}
			}
			return p.bareAtts.setAttachment(name, rest, value)
		}
		p.keep(wrapped, name, value)
		return nil
	}
	bit := fieldBit(field)
	if bit == 0 {
		p.keep(wrapped, name, value)
		return nil
	}
	if wrapped {
		p.wrapped |= bit
	} else if p.wrapped&bit != 0 {
		return nil // the object's value wins
	}
	return p.reply.setField(field, value)
}

// keep stores an unknown field: a wrapped one at once, a bare one aside (see finish).
func (p *replyParser) keep(wrapped bool, name, value string) {
	if wrapped {
		p.reply.keep(name, value)
		return
	}
	if p.bareExtra == nil {
		p.bareExtra = make(map[string]string)
	}
	p.bareExtra[name] = value
}

// finish applies what was held aside: bare unknown fields the object did not also
// send, and bare attachments when the object sent none. Unknown attachment
// sub-fields of bare attachments are kept in Extra, like the wrapped ones.
func (p *replyParser) finish() {
	if p.bareAtts != nil {
		if !p.wrappedAtts {
			p.reply.Attachments = p.bareAtts.Attachments
		}
		for k, v := range p.bareAtts.Extra {
			p.keep(false, k, v)
		}
	}
	for k, v := range p.bareExtra {
		if _, taken := p.reply.Extra[k]; !taken {
			p.reply.keep(k, v)
		}
	}
}

func fieldBit(field string) uint16 {
	switch field {
	case "type":
		return bitType
	case "message_id":
		return bitMessageID
	case "case_id":
		return bitCaseID
	case "staff_id":
		return bitStaffID
	case "user_id":
		return bitUserID
	case "custom_user_id", "user_custom_id":
		return bitUserCustomID
	case "content":
		return bitContent
	case "note":
		return bitNote
	case "sent_via_rule":
		return bitSentViaRule
	case "b_from_api", "from_api":
		return bitFromAPI
	}
	return 0
}

// setField applies a known field (one fieldBit names).
func (a *AgentReply) setField(field, value string) error {
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
