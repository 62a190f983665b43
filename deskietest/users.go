package deskietest

import (
	"cmp"
	"net/http"
	"slices"
	"strings"
)

// customUser finds the profile for (channel, customID); callers hold s.mu.
func (s *Server) customUser(channel, customID string) *User {
	for _, u := range s.users {
		if u.Channel == channel && u.CustomID == customID {
			return u
		}
	}
	return nil
}

func (s *Server) userBy(match func(*User) bool) *User {
	for _, u := range s.users {
		if match(u) {
			return u
		}
	}
	return nil
}

func (s *Server) newUser(u *User) *User {
	s.nextUser++
	u.ID = s.nextUser
	u.CreatedAt, u.UpdatedAt = s.now(), s.now()
	s.users[u.ID] = u
	s.changed()
	return u
}

func link(a, b *User) {
	if a.ID == b.ID {
		return
	}
	if !slices.Contains(a.Linked, b.ID) {
		a.Linked = append(a.Linked, b.ID)
	}
	if !slices.Contains(b.Linked, a.ID) {
		b.Linked = append(b.Linked, a.ID)
	}
}

// linkIdentity links an e-mail or phone profile to a custom-channel user, as the
// article describes: unless that profile is already tied to another custom id of
// the same channel. Callers hold s.mu.
func (s *Server) linkIdentity(u *User, email, phone string) {
	if email == "" && phone == "" {
		return
	}
	profile := s.userBy(func(p *User) bool {
		return p.CustomID == "" && ((email != "" && p.Email == email) || (phone != "" && p.Phone == phone))
	})
	if profile == nil {
		profile = s.newUser(&User{Email: email, Phone: phone, FullName: u.FullName})
	}
	for _, id := range profile.Linked {
		if other := s.users[id]; other != nil && other.ID != u.ID && other.CustomID != "" && other.Channel == u.Channel {
			return // already tied to another custom id of this channel
		}
	}
	link(u, profile)
}
func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page, limit, ok := paging(q)
	if !ok {
		writeError(w, http.StatusBadRequest, "wrong_page_or_limit")
		return
	}
	customID, channel, email, phone := q.Get("user_custom_id"), q.Get("user_custom_channel"), q.Get("user_email"), q.Get("user_phone")
	s.mu.Lock()
	var found []*User
	for _, u := range s.users {
		if customID != "" && (u.CustomID == "" || !textMatch(customID, u.CustomID)) ||
			channel != "" && u.Channel != channel ||
			email != "" && (u.Email == "" || !textMatch(email, u.Email)) ||
			phone != "" && (u.Phone == "" || !textMatch(phone, u.Phone)) {
			continue
		}
		found = append(found, u)
	}
	slices.SortFunc(found, func(a, b *User) int { return cmp.Compare(a.ID, b.ID) })
	items := renderPage(found, page, limit, false, s.userJSON)
	s.mu.Unlock()
	writeList(w, "user", items, len(found))
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request) {
	obj, _, err := readObject(r, "user")
	if err != nil {
		writeError(w, http.StatusBadRequest, errBadRequest)
		return
	}
	customID, channel := obj.str("user_custom_id"), obj.str("user_custom_channel")
	email, phone := obj.str("user_email"), obj.str("user_phone")
	s.mu.Lock()
	defer s.mu.Unlock()
	u := &User{FullName: obj.str("user_full_name"), Company: obj.str("company_name"), Position: obj.str("company_position")}
	switch {
	case customID != "" || channel != "":
		if customID == "" || s.channelByCode(channel) == nil {
			writeError(w, http.StatusBadRequest, errChannelNotFound)
			return
		}
		if s.customUser(channel, customID) != nil {
			writeError(w, http.StatusBadRequest, "user_custom_id_already_exist")
			return
		}
		u.CustomID, u.Channel = customID, channel
	case email != "":
		if !strings.Contains(email, "@") {
			writeError(w, http.StatusBadRequest, "wrong_email")
			return
		}
		if s.userBy(func(p *User) bool { return p.Email == email }) != nil {
			writeError(w, http.StatusBadRequest, "email_already_exist")
			return
		}
		u.Email = email
	case phone != "":
		if s.userBy(func(p *User) bool { return p.Phone == phone }) != nil {
			writeError(w, http.StatusBadRequest, "phone_already_exist")
			return
		}
		u.Phone = phone
	default:
		writeError(w, http.StatusBadRequest, "user_data_empty")
		return
	}
	s.newUser(u)
	writeJSON(w, http.StatusCreated, map[string]any{"user": s.userJSON(u)})
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request) {
	id, ok := idFromFile(r.PathValue("file"))
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[id]
	if !ok || u == nil {
		writeError(w, http.StatusNotFound, errUserNotFound)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": s.userJSON(u)})
}

// linkUser takes the profile to link bare ({"user_email":"…"}) or wrapped in
// {"user":{…}}: which one the real service expects is not documented.
func (s *Server) linkUser(w http.ResponseWriter, r *http.Request) {
	obj, _, err := readObject(r, "user")
	if err != nil {
		writeError(w, http.StatusBadRequest, errBadRequest)
		return
	}
	id, _ := parseID(r.PathValue("id"))
	email, phone := obj.str("user_email"), obj.str("user_phone")
	otherID, okOther := obj.int("user_id")
	n := 0
	for _, set := range []bool{email != "", phone != "", otherID != 0} {
		if set {
			n++
		}
	}
	if n != 1 || !okOther {
		writeError(w, http.StatusBadRequest, errBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[id]
	if u == nil {
		writeError(w, http.StatusNotFound, errUserNotFound)
		return
	}
	var other *User
	switch {
	case otherID != 0:
		if other = s.users[otherID]; other == nil {
			writeError(w, http.StatusNotFound, errUserNotFound)
			return
		}
	case email != "":
		if other = s.userBy(func(p *User) bool { return p.Email == email && p.CustomID == "" }); other == nil {
			other = s.newUser(&User{Email: email, FullName: u.FullName})
		}
	default:
		if other = s.userBy(func(p *User) bool { return p.Phone == phone && p.CustomID == "" }); other == nil {
			other = s.newUser(&User{Phone: phone, FullName: u.FullName})
		}
	}
	link(u, other)
	u.UpdatedAt = s.now()
	writeJSON(w, http.StatusOK, map[string]any{"user": s.userJSON(u)})
}
