package deskietest

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
)

// ErrNotFound is returned by the test controls for an unknown case, channel or
// message.
var ErrNotFound = errors.New("deskietest: not found")

// AddChannel creates a custom channel and returns its code ("cch1", "cch2", …).
// Agent replies in its cases are POSTed to webhookURL (none when empty).
func (s *Server) AddChannel(title string, typ ChannelType, webhookURL string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := int64(len(s.channels) + 1)
	code := "cch" + strconv.FormatInt(id, 10)
	s.channels = append(s.channels, &Channel{ID: id, Code: code, Title: title, Type: cmp.Or(typ, ChannelAsync), WebhookURL: webhookURL, Active: true})
	s.changed()
	return code
}

// SetWebhookURL changes a channel's webhook URL.
func (s *Server) SetWebhookURL(code, webhookURL string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.channelByCode(code)
	if ch == nil {
		return fmt.Errorf("%w: channel %q", ErrNotFound, code)
	}
	ch.WebhookURL = webhookURL
	s.changed()
	return nil
}

// Channels returns the custom channels.
func (s *Server) Channels() []Channel {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Channel, len(s.channels))
	for i, c := range s.channels {
		out[i] = *c
	}
	return out
}

// Cases returns every case (merged-away ones excluded), oldest first.
func (s *Server) Cases() []Case {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Case, 0, len(s.cases))
	for _, c := range s.cases {
		out = append(out, c.clone())
	}
	slices.SortFunc(out, func(a, b Case) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Case returns one case.
func (s *Server) Case(id int64) (Case, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cases[id]
	if c == nil {
		return Case{}, false
	}
	return c.clone(), true
}

// Messages returns a case's messages in order.
func (s *Server) Messages(caseID int64) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, 0, len(s.messages[caseID]))
	for _, m := range s.messages[caseID] {
		out = append(out, m.clone())
	}
	return out
}

// AllMessages returns the messages of every case, in case order.
func (s *Server) AllMessages() []Message {
	var out []Message
	for _, c := range s.Cases() {
		out = append(out, s.Messages(c.ID)...)
	}
	return out
}

// Users returns every user profile, by id.
func (s *Server) Users() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]User, 0, len(s.users))
	for _, u := range s.users {
		out = append(out, u.clone())
	}
	slices.SortFunc(out, func(a, b User) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// UserByCustomID returns the custom-channel user with that id on channel.
func (s *Server) UserByCustomID(channel, customID string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.customUser(channel, customID)
	if u == nil {
		return User{}, false
	}
	return u.clone(), true
}

// CloseCase closes a case. The fake refuses a customer's message to a closed
// case with 400 {"error":"case_closed"} — the real service's answer is not
// documented; a client should then create a new case (the vendor's rule).
func (s *Server) CloseCase(id int64) error { return s.SetStatus(id, StatusClosed) }

// SetStatus sets a case's status (open, waiting, closed).
func (s *Server) SetStatus(id int64, status string) error {
	if status != StatusOpen && status != StatusWaiting && status != StatusClosed {
		return fmt.Errorf("deskietest: unknown status %q", status)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cases[id]
	if c == nil {
		return fmt.Errorf("%w: case %d", ErrNotFound, id)
	}
	s.setStatus(c, status)
	return nil
}

// SetDeleted moves a case to (or out of) the trash.
func (s *Server) SetDeleted(id int64, deleted bool) error {
	return s.editCase(id, func(c *Case) { c.Deleted = deleted })
}

// SetSpam marks a case as spam (or not).
func (s *Server) SetSpam(id int64, spam bool) error {
	return s.editCase(id, func(c *Case) { c.Spam = spam })
}

func (s *Server) editCase(id int64, edit func(*Case)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cases[id]
	if c == nil {
		return fmt.Errorf("%w: case %d", ErrNotFound, id)
	}
	edit(c)
	s.touch(c, s.now())
	return nil
}

// MergeCases merges case from into case into, as an agent does: from's messages
// move into into (kept in date order) and from disappears — GET /api/cases/{from}.json
// and posting to it answer 404 {"error":"case_not_found"} afterwards. (The real
// service's behavior for merged ids is not documented; this is what the vendor's
// article implies: "there is no chat whose ID is saved on your side".) The case
// merged into gets a new updated_at; the merged-away one leaves every list, with
// or without show_merged_cases.
func (s *Server) MergeCases(from, into int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	src, dst := s.cases[from], s.cases[into]
	if src == nil || dst == nil || from == into {
		return fmt.Errorf("%w: cases %d → %d", ErrNotFound, from, into)
	}
	moved := s.messages[from]
	for _, m := range moved {
		m.CaseID = into
	}
	all := append(s.messages[into], moved...)
	slices.SortStableFunc(all, func(a, b *Message) int { return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID)) })
	s.messages[into] = all
	delete(s.messages, from)
	s.removeCase(src)
	s.merged[from] = into
	s.touch(dst, s.now())
	return nil
}

// MergedInto reports the case a merged-away case went into.
func (s *Server) MergedInto(from int64) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	into, ok := s.merged[from]
	return into, ok
}
