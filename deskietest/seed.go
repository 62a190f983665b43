package deskietest

import (
	"errors"
	"fmt"
)

// ErrExists is returned by the test controls for something that exists already.
var ErrExists = errors.New("deskietest: already exists")

// UserOption sets a detail of a user made by [Server.AddUser].
type UserOption func(*userSeed)

type userSeed struct{ name, email, phone string }

// UserName sets the user's full name.
func UserName(name string) UserOption { return func(u *userSeed) { u.name = name } }

// UserEmail gives the user an e-mail: an e-mail profile is found or made and
// linked to the custom-channel user, as creating a case with user_email does.
func UserEmail(email string) UserOption { return func(u *userSeed) { u.email = email } }

// UserPhone gives the user a phone, linked like [UserEmail].
func UserPhone(phone string) UserOption { return func(u *userSeed) { u.phone = phone } }

// AddUser creates the user tied to (channel, customID), as the first case of that
// customer would, and returns its id. It fails with [ErrNotFound] for an unknown
// channel and [ErrExists] when the user exists already.
//
//	id, err := srv.AddUser("cch1", "app-user-42", deskietest.UserName("Ann"), deskietest.UserEmail("ann@example.com"))
func (s *Server) AddUser(channel, customID string, opts ...UserOption) (int64, error) {
	var seed userSeed
	for _, opt := range opts {
		opt(&seed)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.channelByCode(channel) == nil {
		return 0, fmt.Errorf("%w: channel %q", ErrNotFound, channel)
	}
	if customID == "" {
		return 0, fmt.Errorf("deskietest: AddUser needs a user_custom_id")
	}
	if u := s.customUser(channel, customID); u != nil {
		return 0, fmt.Errorf("%w: user %q on %s (id %d)", ErrExists, customID, channel, u.ID)
	}
	u := s.newUser(&User{CustomID: customID, Channel: channel, FullName: seed.name})
	s.linkIdentity(u, seed.email, seed.phone)
	return u.ID, nil
}

// SeedCases creates n cases (each with one customer message) for the user with
// customID on channel, without going through HTTP: volume data for list and
// pagination tests. It returns the new case ids, oldest first.
func (s *Server) SeedCases(channel, customID string, n int) ([]int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.channelByCode(channel) == nil {
		return nil, fmt.Errorf("%w: channel %q", ErrNotFound, channel)
	}
	u := s.customUser(channel, customID)
	if u == nil {
		u = s.newUser(&User{CustomID: customID, Channel: channel})
	}
	ids := make([]int64, 0, n)
	for i := range n {
		s.nextCase++
		c := &Case{ID: s.nextCase, Number: caseNumber(s.nextCase), Subject: fmt.Sprintf("Seeded case %d", i+1),
			UserID: u.ID, Status: StatusOpen, Priority: "normal", Channel: channel, CreatedAt: s.now(), UpdatedAt: s.now()}
		s.addCase(c)
		s.appendMessage(&Message{CaseID: c.ID, UserID: u.ID, Content: c.Subject})
		ids = append(ids, c.ID)
	}
	return ids, nil
}

// Reset empties the account between tests: cases, users, messages, merges,
// faults, webhook deliveries (with the redeliveries waiting and the attempt
// counts), the request log and the rate window go; channels, credentials and
// settings (rate limit, redelivery schedule, message order) stay. Ids keep
// counting, so an id saved before a reset never names something made after it. A
// delivery being sent during the reset is not recorded.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users = map[int64]*User{}
	s.cases = map[int64]*Case{}
	s.byCreated.list, s.byUpdated.list = nil, nil
	s.messages = map[int64][]*Message{}
	s.merged = map[int64]int64{}
	s.requests = nil
	s.deliveries = nil
	s.attempts = map[int64]int{}
	s.faults = nil
	s.rate = rateWindow{}
	s.dropPending()
	s.generation++
	s.changed()
}
