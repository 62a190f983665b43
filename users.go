package deskie

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"strings"
	"time"
)

// UsersService finds, creates and links users: /api/users.json,
// /api/users/{id}.json and /api/users/{id}/link.json.
type UsersService service

// User is a Deskie user profile. Each identity (e-mail, phone, custom-channel id,
// …) is its own profile; LinkedUsers ties profiles of one person together.
type User struct {
	ID              int64          `json:"user_id"`
	FullName        string         `json:"user_full_name"`
	Email           string         `json:"user_email"`
	Phone           string         `json:"user_phone"`
	CustomID        string         `json:"user_custom_id"`      // your id, on a custom-channel profile
	CustomChannel   string         `json:"user_custom_channel"` // "cch12", on a custom-channel profile
	CompanyName     string         `json:"company_name"`
	CompanyPosition string         `json:"company_position"`
	Type            string         `json:"type"` // which identity the profile has ("email", …)
	Confirmed       bool           `json:"confirmed"`
	Active          bool           `json:"active"`
	Deleted         bool           `json:"deleted"`
	LanguageID      int64          `json:"language_id"`
	CreatedAt       time.Time      `json:"created_at"`
	UpdatedAt       time.Time      `json:"updated_at"`
	LastContactAt   time.Time      `json:"last_contact_at"`
	CustomFields    map[string]any `json:"custom_fields"`
	LinkedUsers     []int64        `json:"linked_users"`
}

// userWire is a user as the API sends it, in the forgiving types.
type userWire struct {
	ID              flexInt        `json:"user_id"`
	FullName        flexString     `json:"user_full_name"`
	Email           flexString     `json:"user_email"`
	Phone           flexString     `json:"user_phone"`
	CustomID        flexString     `json:"user_custom_id"`
	CustomChannel   flexString     `json:"user_custom_channel"`
	CompanyName     flexString     `json:"company_name"`
	CompanyPosition flexString     `json:"company_position"`
	Type            flexString     `json:"type"`
	Confirmed       flexBool       `json:"confirmed"`
	Active          flexBool       `json:"active"`
	Deleted         flexBool       `json:"deleted"`
	LanguageID      flexInt        `json:"language_id"`
	CreatedAt       flexTime       `json:"created_at"`
	UpdatedAt       flexTime       `json:"updated_at"`
	LastContactAt   flexTime       `json:"last_contact_at"`
	CustomFields    map[string]any `json:"custom_fields"`
	LinkedUsers     flexInts       `json:"linked_users"`
}

func (w *userWire) toUser() *User {
	return &User{
		ID: int64(w.ID), FullName: string(w.FullName), Email: string(w.Email), Phone: string(w.Phone),
		CustomID: string(w.CustomID), CustomChannel: string(w.CustomChannel),
		CompanyName: string(w.CompanyName), CompanyPosition: string(w.CompanyPosition), Type: string(w.Type),
		Confirmed: bool(w.Confirmed), Active: bool(w.Active), Deleted: bool(w.Deleted),
		LanguageID: int64(w.LanguageID), CreatedAt: time.Time(w.CreatedAt), UpdatedAt: time.Time(w.UpdatedAt),
		LastContactAt: time.Time(w.LastContactAt), CustomFields: w.CustomFields, LinkedUsers: w.LinkedUsers,
	}
}

// UnmarshalJSON decodes a user forgivingly.
func (u *User) UnmarshalJSON(b []byte) error {
	var w userWire
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("user: %w", err)
	}
	*u = *w.toUser()
	return nil
}

func (s *UsersService) send(ctx context.Context, method, path string, body any) (*User, error) {
	w, err := sendOne[userWire](ctx, s.client, method, path, "user", body)
	if err != nil {
		return nil, err
	}
	return w.toUser(), nil
}

// Get returns one user (GET /api/users/{id}.json).
func (s *UsersService) Get(ctx context.Context, userID int64) (*User, error) {
	if err := checkID("userID", userID); err != nil {
		return nil, err
	}
	return s.send(ctx, "GET", fmt.Sprintf("users/%d.json", userID), nil)
}

// UserCreate is the body of POST /api/users.json. It needs one identity: Email,
// Phone, or CustomID together with CustomChannel.
type UserCreate struct {
	Email           string         `json:"user_email,omitempty"`
	Phone           string         `json:"user_phone,omitempty"`
	CustomID        string         `json:"user_custom_id,omitempty"`
	CustomChannel   string         `json:"user_custom_channel,omitempty"`
	FullName        string         `json:"user_full_name,omitempty"`
	CompanyName     string         `json:"company_name,omitempty"`
	CompanyPosition string         `json:"company_position,omitempty"`
	Note            string         `json:"user_note,omitempty"`
	LanguageID      int64          `json:"language_id,omitempty"`
	CustomFields    map[string]any `json:"custom_fields,omitempty"`
}

// Create creates a user (POST /api/users.json).
func (s *UsersService) Create(ctx context.Context, u *UserCreate) (*User, error) {
	switch {
	case u == nil:
		return nil, &ArgumentError{Field: "UserCreate", Reason: "nil"}
	case u.CustomID != "" || u.CustomChannel != "":
		if err := checkChannel("UserCreate.CustomChannel", u.CustomChannel); err != nil {
			return nil, err
		}
		if strings.TrimSpace(u.CustomID) == "" {
			return nil, &ArgumentError{Field: "UserCreate.CustomID", Reason: "empty while CustomChannel is set"}
		}
	case u.Email == "" && u.Phone == "":
		return nil, &ArgumentError{Field: "UserCreate", Reason: "no identity: set Email, Phone, or CustomID with CustomChannel"}
	}
	body, err := writeBody("user", u, nil)
	if err != nil {
		return nil, err
	}
	return s.send(ctx, "POST", "users.json", body)
}

// UserListOptions filters GET /api/users.json. Text filters match substrings
// unless anchored: "^x^" is exact, "^x" starts with, "x^" ends with.
type UserListOptions struct {
	Page          int    `url:"page,omitempty"`
	Limit         int    `url:"limit,omitempty"`
	Email         string `url:"user_email,omitempty"`
	Phone         string `url:"user_phone,omitempty"`
	CustomID      string `url:"user_custom_id,omitempty"`
	CustomChannel string `url:"user_custom_channel,omitempty"`
	LanguageID    int64  `url:"language_id,omitempty"`
	AmountOfCases bool   `url:"amount_of_cases,omitempty"`
}

// UserList is one page of users.
type UserList struct {
	Users      []*User
	TotalCount int
}

func (o *UserListOptions) validate() error {
	if o == nil {
		return nil
	}
	return checkPaging(o.Page, o.Limit)
}

// List returns one page of users.
func (s *UsersService) List(ctx context.Context, opt *UserListOptions) (*UserList, error) {
	if err := opt.validate(); err != nil {
		return nil, err
	}
	env, err := getList[User](ctx, s.client, "users.json", "user", opt)
	if err != nil {
		return nil, err
	}
	return &UserList{Users: env.items, TotalCount: env.count()}, nil
}

// All iterates over every user matching opt, page by page (see [CasesService.All]).
func (s *UsersService) All(ctx context.Context, opt *UserListOptions) iter.Seq2[*User, error] {
	var o UserListOptions
	if opt != nil {
		o = *opt
	}
	if err := o.validate(); err != nil {
		return failedSeq[User](err)
	}
	return allPages[User](ctx, s.client, "users.json", "user", o.Page, o.Limit, func(page, limit int) any {
		o.Page, o.Limit = page, limit
		return &o
	})
}

// FindByCustomID returns the custom-channel user with exactly this id on channel,
// or nil, nil when there is none. It asks with the exact-match anchor "^id^" and,
// because the anchor syntax is documented for search filters in general but not
// confirmed for this one, falls back to a plain (substring) query; either way only
// a user whose custom id and channel equal the given ones is returned.
func (s *UsersService) FindByCustomID(ctx context.Context, channel, customID string) (*User, error) {
	if err := checkChannel("channel", channel); err != nil {
		return nil, err
	}
	if strings.TrimSpace(customID) == "" {
		return nil, &ArgumentError{Field: "customID", Reason: "empty"}
	}
	for _, q := range []string{"^" + customID + "^", customID} {
		l, err := s.List(ctx, &UserListOptions{CustomID: q, CustomChannel: channel, Limit: maxLimit})
		if err != nil {
			return nil, err
		}
		for _, u := range l.Users {
			if u.CustomID == customID && (u.CustomChannel == "" || u.CustomChannel == channel) && !u.Deleted {
				return u, nil
			}
		}
	}
	return nil, nil
}

// UserLink names the profile to link to a user: exactly one of Email, Phone or
// UserID.
type UserLink struct {
	Email  string `json:"user_email,omitempty"`
	Phone  string `json:"user_phone,omitempty"`
	UserID int64  `json:"user_id,omitempty"`
}

// Link ties another profile (an e-mail, a phone, or another user) to a user, e.g.
// a customer's e-mail to their custom-channel profile, so agents see one history
// (PUT /api/users/{id}/link.json). The body is sent bare ({"user_email":"…"}), as
// the one public client that calls this endpoint does; the API's answer is the
// user with its linked_users.
func (s *UsersService) Link(ctx context.Context, userID int64, l *UserLink) (*User, error) {
	if err := checkID("userID", userID); err != nil {
		return nil, err
	}
	n := 0
	if l != nil {
		for _, set := range []bool{l.Email != "", l.Phone != "", l.UserID != 0} {
			if set {
				n++
			}
		}
	}
	if n != 1 || l.UserID < 0 {
		return nil, &ArgumentError{Field: "UserLink", Reason: "set exactly one of Email, Phone or UserID"}
	}
	return s.send(ctx, "PUT", fmt.Sprintf("users/%d/link.json", userID), l)
}
