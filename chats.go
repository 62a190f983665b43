package deskie

import (
	"context"
	"fmt"
	"strings"
	"unicode"
)

// ChatsService routes a customer's message from a custom channel into the right
// case, following the vendor's rule for custom channels: correspondence is always
// conducted in the user's last chat, so before adding a message look up that chat
// and check its status. What Send does, by the user's last chat:
//
//	none (first contact)                 → creates a case with user_custom_id   ActionCreatedCase
//	closed                               → creates a new case                   ActionCreatedCase
//	open or waiting, the one you saved   → adds the message to it               ActionReplied
//	open or waiting, and the saved one   → adds the message to the last chat    ActionFollowedMerge
//	  is gone (an agent merged it)
//	open or waiting, and the saved one   → adds the message to the last chat    ActionReplied
//	  still exists (closed, a newer chat)
//
// Sync (chat-like) and async (mail-like) channels follow the same rule. The
// difference a caller sees is how often the last chat is closed: agents close
// real-time chats quickly, so on a sync channel ActionCreatedCase after a pause is
// normal and the CaseID to save changes often; on an async channel a thread stays
// in one case until an agent closes it.
type ChatsService service

// CustomerMessage is one message a customer wrote in your channel.
type CustomerMessage struct {
	// Channel is the custom channel's code, "cch<N>" (required).
	Channel string
	// UserCustomID is your own id of the customer (required).
	UserCustomID string
	// UserID is the Deskie user id saved from an earlier SendResult; 0 when not
	// known yet (first contact: Send then looks the user up by custom id).
	UserID int64
	// LastCaseID is the case id saved from an earlier SendResult; 0 if none.
	LastCaseID int64
	// UserFullName, UserEmail and UserPhone are recorded when a case is created;
	// an e-mail or phone links that profile to the customer's history.
	UserFullName, UserEmail, UserPhone string
	// Subject is used when a case is created; by default the start of the content.
	Subject string
	// Content or ContentHTML is the message (one is required, unless
	// AttachmentURLs has files).
	Content, ContentHTML string
	// AttachmentURLs are files the service downloads and attaches. A message of
	// attachments alone that opens a case gets the content "Attachment: <file
	// names>" (a case needs text).
	AttachmentURLs []string
	// IdempotencyKey is your id of this message (its row id, a UUID), at most 255
	// bytes. A Send repeated with the same key (after an error, a timeout, a crash
	// and restart with a durable Store) writes at most once and returns the first
	// outcome; when the first attempt ended unknown, the repeat looks before it
	// writes. Keys are kept in the Client's Store for 48 hours, per customer.
	// Without a key, Send still never writes twice within one call.
	IdempotencyKey string
}

func (m *CustomerMessage) validate() error {
	if m == nil {
		return &ArgumentError{Field: "CustomerMessage", Reason: "nil"}
	}
	if err := checkChannel("CustomerMessage.Channel", m.Channel); err != nil {
		return err
	}
	if strings.TrimSpace(m.UserCustomID) == "" {
		return &ArgumentError{Field: "CustomerMessage.UserCustomID", Reason: "empty: your id of the customer is needed to create their cases"}
	}
	if m.UserID < 0 {
		return &ArgumentError{Field: "CustomerMessage.UserID", Reason: fmt.Sprintf("%d is negative", m.UserID)}
	}
	if m.LastCaseID < 0 {
		return &ArgumentError{Field: "CustomerMessage.LastCaseID", Reason: fmt.Sprintf("%d is negative", m.LastCaseID)}
	}
	if strings.TrimSpace(m.Content) == "" && strings.TrimSpace(m.ContentHTML) == "" && len(m.AttachmentURLs) == 0 {
		return &ArgumentError{Field: "CustomerMessage.Content", Reason: "empty: a message needs Content, ContentHTML or AttachmentURLs"}
	}
	for i, u := range m.AttachmentURLs {
		if strings.TrimSpace(u) == "" {
			return &ArgumentError{Field: fmt.Sprintf("CustomerMessage.AttachmentURLs[%d]", i), Reason: "empty"}
		}
	}
	if k := m.IdempotencyKey; len(k) > 255 || strings.ContainsFunc(k, unicode.IsControl) {
		return &ArgumentError{Field: "CustomerMessage.IdempotencyKey", Reason: "longer than 255 bytes or has control characters"}
	}
	return nil
}

// Action is what [ChatsService.Send] did with a message.
type Action string

// The routing outcomes.
const (
	// ActionReplied: the message was added to the open/waiting last chat.
	ActionReplied Action = "replied"
	// ActionCreatedCase: there was no chat, or the last chat was closed; a case
	// was created.
	ActionCreatedCase Action = "created_case"
	// ActionFollowedMerge: the saved chat is gone (an agent merged it into
	// another); the message was added to the last chat.
	ActionFollowedMerge Action = "followed_merge"
)

// SendResult says where a message went. Save UserID and CaseID on your side and
// pass them back as CustomerMessage.UserID and LastCaseID with the next message.
type SendResult struct {
	Action Action
	// CaseID is the case the message is in now.
	CaseID int64
	// UserID is the customer's Deskie user id.
	UserID int64
	// Message is the added message (nil when a case was created: the message is
	// the case's first one).
	Message *Message
	// Case is the case written into or created.
	Case *Case
}

// Decide is the routing rule as a pure function: given the case id you saved (0
// if none) and the user's last chat (nil if none), it says what to do.
//   - no chat, or the last chat closed → ActionCreatedCase;
//   - last chat open or waiting (the article's "pending" is accepted too), and it
//     is the saved one or nothing is saved → ActionReplied;
//   - last chat open or waiting but not the saved one → ActionFollowedMerge.
//
// Decide cannot see whether the saved case still exists: [ChatsService.Send]
// reports ActionFollowedMerge only when it is gone from the user's cases, and
// ActionReplied when it is merely closed with a newer chat open.
//
// A status the SDK does not know is treated as open: the write then tells.
func Decide(lastCaseID int64, last *Case) Action {
	if last == nil || strings.EqualFold(string(last.Status), string(StatusClosed)) {
		return ActionCreatedCase
	}
	if lastCaseID == 0 || lastCaseID == last.ID {
		return ActionReplied
	}
	return ActionFollowedMerge
}

// LastChat returns the user's last chat, or nil, nil when the user has none. It
// lists the user's cases (user_id and show_active_chats=true, newest first, a few
// at a time) and picks the newest by created_at (ties: the higher id), skipping
// deleted and spam cases, which are not chats to write into. Should the API
// ignore the sort and answer oldest first, the last page is read instead.
func (s *ChatsService) LastChat(ctx context.Context, userID int64) (*Case, error) {
	return s.lastChat(ctx, userID, "")
}

// LastChatIn is [ChatsService.LastChat] limited to one channel's cases.
func (s *ChatsService) LastChatIn(ctx context.Context, userID int64, channel string) (*Case, error) {
	if err := checkChannel("channel", channel); err != nil {
		return nil, err
	}
	return s.lastChat(ctx, userID, channel)
}

// lastChatPage is how many cases LastChat reads at a time: the last chat is the
// first of a page sorted newest first, so a steady Send reads a few kilobytes
// whatever the user's history.
const lastChatPage = 5

func (s *ChatsService) lastChat(ctx context.Context, userID int64, channel string) (*Case, error) {
	if err := checkID("userID", userID); err != nil {
		return nil, err
	}
	opt := &CaseListOptions{UserID: []int64{userID}, ShowActiveChats: true, Sort: "created_at_desc", Limit: lastChatPage}
	if channel != "" {
		opt.Channel = []string{channel}
	}
	var last *Case
	for page := 1; page <= maxPage; page++ {
		opt.Page = page
		l, err := (*CasesService)(s).List(ctx, opt)
		if err != nil {
			return nil, err
		}
		cases := l.Cases
		if n := len(cases); page == 1 && l.TotalCount > n && n > 1 && cases[0].CreatedAt.Before(cases[n-1].CreatedAt) {
			// The API's default order is undocumented: a first page that runs oldest
			// first means the sort was ignored, and the newest cases are on the last
			// page (read with a full page, in case it is short).
			opt.Limit = maxLimit
			opt.Page = min((l.TotalCount+maxLimit-1)/maxLimit, maxPage)
			tail, err := (*CasesService)(s).List(ctx, opt)
			if err != nil {
				return nil, err
			}
			cases = append(cases, tail.Cases...)
		}
		for _, c := range cases {
			// The filters are checked again here: how the API reads list filters is not
			// documented, and writing into another user's case must never happen.
			if c.Deleted || c.Spam || c.UserID != userID || (channel != "" && c.Channel != "" && c.Channel != channel) {
				continue
			}
			if last == nil || c.CreatedAt.After(last.CreatedAt) || (c.CreatedAt.Equal(last.CreatedAt) && c.ID > last.ID) {
				last = c
			}
		}
		// Sorted newest first, the first page that holds a chat holds the last one.
		if last != nil || len(l.Cases) < opt.Limit || opt.Limit == maxLimit || page*opt.Limit >= l.TotalCount {
			return last, nil
		}
	}
	return last, nil
}
