package deskie

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// freshness is how far before its write began a message found by a look may have
// been created and still count (clock skew between us and the API).
const freshness = 5 * time.Minute

// lookCases is how many of the user's most recently updated cases a look reads.
const lookCases = 20

// candidate is a customer message a look found that matches ours.
type candidate struct {
	msg    *Message
	caseID int64
}

// look checks whether this message landed after a write that ended unknown (or
// an earlier attempt of the same IdempotencyKey). It reads the user's recently
// updated cases of the channel and their newest customer messages, and collects
// those with our content and attachments created since the write began. Messages
// that other Sends of this customer wrote are not ours: their ids are known, and a
// case another Send created holds one such message whose id is not (its opening
// message), so each of those takes away the earliest match. What is left is ours,
// wherever a merge moved it. action is what the write tried ("" when unknown).
func (r *router) look(ctx context.Context, action Action) (*SendResult, error) {
	if known, err := r.knownUser(ctx); err != nil || !known {
		return nil, err
	}
	since := r.since()
	// An earlier attempt's write began at r.start: ours was made within minutes of
	// it, not by a later Send of the same text.
	until := time.Now().Add(time.Hour)
	if r.lookFirst {
		until = r.start.Add(freshness)
		if offset, ok := r.chats.client.budget.serverOffset(); ok {
			until = until.Add(max(offset, 0))
		}
	}
	l, err := r.chats.client.Cases.List(ctx, &CaseListOptions{UserID: []int64{r.userID}, Channel: []string{r.m.Channel},
		ShowActiveChats: true, Sort: "updated_at_desc", Limit: lookCases})
	if err != nil {
		return nil, err
	}
	var found []candidate
	cases := map[int64]*Case{}
	for _, c := range l.Cases {
		if c.UserID != r.userID || (!c.UpdatedAt.IsZero() && c.UpdatedAt.Before(since)) {
			continue
		}
		cases[c.ID] = c
		msgs, err := r.newestMessages(ctx, c.ID)
		if err != nil {
			return nil, err
		}
		for _, msg := range msgs {
			if msg.UserID == r.userID && msg.StaffID == 0 && !msg.CreatedAt.Before(since) && !msg.CreatedAt.After(until) && r.same(msg) {
				found = append(found, candidate{msg: msg, caseID: c.ID})
			}
		}
	}
	found = r.notOthers(found, since)
	if len(found) == 0 {
		return nil, nil
	}
	ours := found[0]
	res := &SendResult{Action: action, CaseID: ours.caseID, UserID: r.userID, Case: cases[ours.caseID]}
	if action == "" { // an earlier attempt: whether it created the case or replied
		action = ActionReplied
		if first, err := r.isOpening(ctx, ours); err != nil {
			return nil, err
		} else if first {
			action = ActionCreatedCase
		}
		res.Action = action
	}
	if action != ActionCreatedCase {
		res.Message = ours.msg
	}
	r.turn.state.wrote(writeTrace{CaseID: ours.caseID, MessageID: ours.msg.ID, Print: r.print(), At: orNow(ours.msg.CreatedAt)})
	return res, nil
}

// since is the earliest a message of ours can have been created, in the server's
// time: when this Send began, moved by the server's clock as its Date headers
// tell it (less a margin for servers whose clocks differ); for an earlier
// attempt's write, or when the server's clock is unknown, a few minutes earlier.
func (r *router) since() time.Time {
	if offset, ok := r.chats.client.budget.serverOffset(); ok && !r.lookFirst {
		return r.start.Add(offset - serverClockMargin)
	}
	return r.start.Add(-freshness)
}

// serverClockMargin allows for the API's servers disagreeing about the time.
const serverClockMargin = 30 * time.Second

// notOthers drops the matches other Sends of this customer wrote, and returns the
// rest oldest first.
func (r *router) notOthers(found []candidate, since time.Time) []candidate {
	slices.SortFunc(found, func(a, b candidate) int { return compareMessages(a.msg, b.msg) })
	written := r.turn.state.Written
	print := r.print()
	// First the cases other Sends created: the id of a case's opening message is
	// not in the answer, but it is the earliest match created no earlier than the
	// case (ids and times only grow). This runs on every match, before the id
	// rule below, which may already have dropped that opening message.
	for _, w := range written {
		if w.MessageID != 0 || w.Print != print || w.At.Before(since) || len(found) == 0 {
			continue
		}
		if i := slices.IndexFunc(found, func(c candidate) bool { return !c.msg.CreatedAt.Before(w.At.Add(-time.Second)) }); i >= 0 {
			found = slices.Delete(found, i, i+1)
		}
	}
	// ids only grow: a message no newer than the newest an earlier Send had
	// written when this one began is not ours; nor is one a Send wrote since.
	return slices.DeleteFunc(found, func(c candidate) bool {
		return c.msg.ID <= r.after || slices.ContainsFunc(written, func(w writeTrace) bool { return w.MessageID == c.msg.ID })
	})
}

func compareMessages(a, b *Message) int {
	if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
		return c
	}
	switch {
	case a.ID < b.ID:
		return -1
	case a.ID > b.ID:
		return 1
	}
	return 0
}

// isOpening reports whether a found message is its case's first message (an
// earlier attempt that created the case).
func (r *router) isOpening(ctx context.Context, c candidate) (bool, error) {
	msgs, err := r.chats.client.Messages.List(ctx, c.caseID, &MessageListOptions{Limit: 1, Order: "asc"})
	if err != nil {
		return false, err
	}
	return len(msgs.Messages) == 1 && msgs.Messages[0].ID == c.msg.ID, nil
}

// newestMessages returns a case's newest messages (up to a page), whichever order
// the API lists them in (undocumented): a full first page that runs oldest first
// means the newest are on the last page.
func (r *router) newestMessages(ctx context.Context, caseID int64) ([]*Message, error) {
	msgs := r.chats.client.Messages
	l, err := msgs.List(ctx, caseID, &MessageListOptions{Limit: maxLimit})
	if err != nil {
		return nil, err
	}
	list := l.Messages
	if n := len(list); l.TotalCount > n && n == maxLimit && compareMessages(list[0], list[n-1]) < 0 {
		lastPage := min((l.TotalCount+maxLimit-1)/maxLimit, maxPage)
		tail, err := msgs.List(ctx, caseID, &MessageListOptions{Page: lastPage, Limit: maxLimit})
		if err != nil {
			return nil, err
		}
		list = append(list, tail.Messages...)
	}
	return list, nil
}

// same reports whether msg has our content and attachments (by file name, or URL).
func (r *router) same(msg *Message) bool {
	m := r.m
	switch {
	case strings.TrimSpace(m.Content) != "":
		if normalize(msg.Content) != normalize(m.Content) {
			return false
		}
	case strings.TrimSpace(m.ContentHTML) != "":
		if normalize(msg.ContentHTML) != normalize(m.ContentHTML) && normalize(msg.Content) != normalize(stripTags(m.ContentHTML)) {
			return false
		}
	default: // attachments alone: no text, or the placeholder a case was opened with
		if c := normalize(msg.Content); c != "" && c != normalize(r.content()) {
			return false
		}
	}
	if len(msg.Attachments) != len(m.AttachmentURLs) {
		return false
	}
	for _, u := range m.AttachmentURLs {
		if !slices.ContainsFunc(msg.Attachments, func(f File) bool { return f.URL == u || f.Name == fileName(u) }) {
			return false
		}
	}
	return true
}

func normalize(s string) string { return strings.Join(strings.Fields(s), " ") }

// fileName is the file name an attachment URL is saved under: its last path
// segment, unescaped.
func fileName(rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil && u.Path != "" {
		return path.Base(u.Path)
	}
	return path.Base(rawURL)
}

// print is the message's fingerprint: content and attachment names.
func (r *router) print() string {
	h := sha256.New()
	h.Write([]byte(normalize(r.content()) + "\x00" + normalize(r.m.ContentHTML)))
	for _, u := range r.m.AttachmentURLs {
		h.Write([]byte("\x00" + fileName(u)))
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// content is the text sent: the caller's, or for attachments alone, "Attachment:"
// and the file names (a case needs text; for a message it does no harm).
func (r *router) content() string {
	if strings.TrimSpace(r.m.Content) != "" || strings.TrimSpace(r.m.ContentHTML) != "" {
		return r.m.Content
	}
	names := make([]string, len(r.m.AttachmentURLs))
	for i, u := range r.m.AttachmentURLs {
		names[i] = fileName(u)
	}
	return "Attachment: " + strings.Join(names, ", ")
}

// isGone reports whether a message write failed because its case is gone or
// closed (merged away, deleted, closed between the look and the write).
func isGone(err error) bool {
	var e *APIError
	if !errors.As(err, &e) {
		return false
	}
	return IsNotFound(err) || strings.Contains(e.Code, "closed")
}

const maxSubjectRunes = 80

var tagPattern = regexp.MustCompile(`<[^>]*>`)

func stripTags(html string) string { return tagPattern.ReplaceAllString(html, " ") }

// subject is the caller's subject, or the first line of the content cut to 80
// characters, or a fallback naming the customer.
func (r *router) subject() string {
	if s := strings.TrimSpace(r.m.Subject); s != "" {
		return s
	}
	text := r.m.Content
	if strings.TrimSpace(text) == "" {
		text = stripTags(r.m.ContentHTML)
	}
	for line := range strings.Lines(text) {
		line = strings.Join(strings.Fields(line), " ")
		if line == "" {
			continue
		}
		if utf8.RuneCountInString(line) > maxSubjectRunes {
			runes := []rune(line)
			line = strings.TrimSpace(string(runes[:maxSubjectRunes-1])) + "…"
		}
		return line
	}
	name := r.m.UserFullName
	if name == "" {
		name = r.m.UserCustomID
	}
	return "Message from " + name
}
