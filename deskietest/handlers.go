package deskietest

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Error codes the fake answers with. The real service's full list is not
// published; the codes seen in public clients are used where they fit
// (case_not_found, email_already_exist, phone_already_exist), the rest are named
// in the same style.
const (
	errCaseNotFound    = "case_not_found"
	errCaseClosed      = "case_closed"
	errUserNotFound    = "user_not_found"
	errChannelNotFound = "channel_not_found"
	errContentEmpty    = "content_empty"
	errBadRequest      = "wrong_parameters"
)

func isCustomChannel(code string) bool {
	if len(code) < 4 || !strings.HasPrefix(code, "cch") {
		return false
	}
	_, err := strconv.ParseUint(code[3:], 10, 63)
	return err == nil
}

func (s *Server) channelByCode(code string) *Channel {
	for _, c := range s.channels {
		if c.Code == code {
			return c
		}
	}
	return nil
}

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

func (s *Server) createCase(w http.ResponseWriter, r *http.Request) {
	obj, files, err := readObject(r, "case")
	if err != nil {
		writeError(w, http.StatusBadRequest, errBadRequest)
		return
	}
	content, html := obj.str("content"), obj.str("content_html")
	if strings.TrimSpace(content) == "" && strings.TrimSpace(html) == "" {
		writeError(w, http.StatusBadRequest, errContentEmpty)
		return
	}
	labels, okLabels := obj.ints("labels")
	staffID, okStaff := obj.int("staff_id")
	groupID, okGroup := obj.int("group_id")
	langID, okLang := obj.int("language_id")
	if !okLabels || !okStaff || !okGroup || !okLang {
		writeError(w, http.StatusBadRequest, errBadRequest)
		return
	}
	channel, customID := obj.str("channel"), obj.str("user_custom_id")
	email, phone, name := obj.str("user_email"), obj.str("user_phone"), obj.str("user_full_name")

	s.mu.Lock()
	var u *User
	switch {
	case customID != "" || isCustomChannel(channel):
		if s.channelByCode(channel) == nil {
			s.mu.Unlock()
			writeError(w, http.StatusBadRequest, errChannelNotFound)
			return
		}
		if customID == "" {
			s.mu.Unlock()
			writeError(w, http.StatusBadRequest, "user_custom_id_empty")
			return
		}
		u = s.customUser(channel, customID)
		if u == nil {
			u = s.newUser(&User{CustomID: customID, Channel: channel})
		}
		s.linkIdentity(u, email, phone)
	case email != "":
		if !strings.Contains(email, "@") {
			s.mu.Unlock()
			writeError(w, http.StatusBadRequest, "incorrect_user_email")
			return
		}
		if u = s.userBy(func(p *User) bool { return p.Email == email && p.CustomID == "" }); u == nil {
			u = s.newUser(&User{Email: email})
		}
		if channel == "" {
			channel = "email"
		}
	case phone != "":
		if u = s.userBy(func(p *User) bool { return p.Phone == phone && p.CustomID == "" }); u == nil {
			u = s.newUser(&User{Phone: phone})
		}
		if channel == "" {
			channel = "phone"
		}
	default:
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, "user_data_empty")
		return
	}
	// other user data given on create is recorded
	if name != "" {
		u.FullName = name
	}
	if v := obj.str("company_name"); v != "" {
		u.Company = v
	}
	if v := obj.str("company_position"); v != "" {
		u.Position = v
	}
	u.UpdatedAt = s.now()

	subject := obj.str("subject")
	if strings.TrimSpace(subject) == "" {
		subject = firstLine(content + html)
	}
	cf, _ := obj["custom_fields"].(map[string]any)
	priority := cmp.Or(obj.str("priority"), "normal")
	s.nextCase++
	c := &Case{
		ID: s.nextCase, Number: caseNumber(s.nextCase), Subject: subject, UserID: u.ID, StaffID: staffID,
		GroupID: groupID, Status: StatusOpen, Priority: priority, Channel: channel, LanguageID: langID,
		Labels: labels, CustomFields: cf, CreatedAt: s.now(), UpdatedAt: s.now(),
	}
	s.addCase(c)
	s.appendMessage(&Message{CaseID: c.ID, UserID: u.ID, Content: content, ContentHTML: html,
		Attachments: s.files(files, obj.strs("attachment_urls"))})
	out := s.caseJSON(c)
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, map[string]any{"case": out})
}

func firstLine(text string) string {
	for line := range strings.Lines(text) {
		if line = strings.TrimSpace(line); line != "" {
			if r := []rune(line); len(r) > 50 {
				return string(r[:50])
			}
			return line
		}
	}
	return "(no subject)"
}

// files turns uploads and attachment URLs into stored files; callers hold s.mu.
func (s *Server) files(uploads []upload, urls []string) []File {
	var out []File
	for _, u := range uploads {
		s.nextMessage++
		out = append(out, File{ID: s.nextMessage, Name: u.name, Size: u.size, MimeType: u.contentType,
			URL: s.URL + "/files/" + strconv.FormatInt(s.nextMessage, 10)})
	}
	for _, u := range urls {
		s.nextMessage++
		name := u[strings.LastIndexByte(u, '/')+1:]
		out = append(out, File{ID: s.nextMessage, Name: name, MimeType: "application/octet-stream", URL: u})
	}
	return out
}

// appendMessage stores a message with a fresh id and date; callers hold s.mu.
func (s *Server) appendMessage(m *Message) *Message {
	s.nextMessage++
	m.ID = s.nextMessage
	m.CreatedAt = s.now()
	s.messages[m.CaseID] = append(s.messages[m.CaseID], m)
	if c := s.cases[m.CaseID]; c != nil {
		c.UpdatedAt = m.CreatedAt
		if m.StaffID != 0 || m.SentViaRule {
			c.LastResponse = m.CreatedAt
		}
	}
	return m
}

// isActiveChat reports whether a case is an ongoing chat: open or waiting on a
// real-time (sync) custom channel. The plain case list leaves those out and
// show_active_chats=true brings them in — the fake's reading of the flag, whose
// exact semantics the vendor does not document.
func (s *Server) isActiveChat(c *Case) bool {
	ch := s.channelByCode(c.Channel)
	return ch != nil && ch.Type == ChannelSync && c.Status != StatusClosed
}

func (s *Server) listCases(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page, limit, ok := paging(q)
	if !ok {
		writeError(w, http.StatusBadRequest, "wrong_page_or_limit")
		return
	}
	var userIDs []int64
	for _, v := range queryValues(q, "user_id") {
		id, ok := parseID(v)
		if !ok {
			writeError(w, http.StatusBadRequest, errBadRequest)
			return
		}
		userIDs = append(userIDs, id)
	}
	statuses, channels, customIDs := queryValues(q, "status"), queryValues(q, "channel"), queryValues(q, "user_custom_id")
	showActive := q.Get("show_active_chats") == "true" || q.Get("show_active_chats") == "1"
	sortBy := cmp.Or(q.Get("sort"), "created_at_desc")
	if !slices.Contains([]string{"created_at_desc", "created_at_asc", "updated_at_desc", "updated_at_asc"}, sortBy) {
		writeError(w, http.StatusBadRequest, "wrong_sort")
		return
	}

	match := func(c *Case) bool {
		if len(userIDs) > 0 && !slices.Contains(userIDs, c.UserID) ||
			len(statuses) > 0 && !slices.Contains(statuses, c.Status) ||
			len(channels) > 0 && !slices.Contains(channels, c.Channel) ||
			!showActive && s.isActiveChat(c) {
			return false
		}
		if len(customIDs) > 0 {
			u := s.users[c.UserID]
			return u != nil && slices.ContainsFunc(customIDs, func(p string) bool { return textMatch(p, u.CustomID) })
		}
		return true
	}

	s.mu.Lock()
	cases := s.order // sorted by created_at, id
	if strings.HasPrefix(sortBy, "updated") {
		cases = slices.Clone(cases)
		slices.SortStableFunc(cases, func(a, b *Case) int { return cmp.Or(a.UpdatedAt.Compare(b.UpdatedAt), cmp.Compare(a.ID, b.ID)) })
	}
	desc := strings.HasSuffix(sortBy, "desc")
	skip := (page - 1) * limit
	items := make([]map[string]any, 0, limit)
	total := 0
	for i := range cases {
		c := cases[i]
		if desc {
			c = cases[len(cases)-1-i]
		}
		if !match(c) {
			continue
		}
		if total >= skip && len(items) < limit {
			items = append(items, s.caseJSON(c))
		}
		total++
	}
	s.mu.Unlock()
	writeList(w, "case", items, total)
}

// caseFromPath finds the case named by the path; callers hold s.mu.
func (s *Server) caseFromPath(idText string) (*Case, bool) {
	id, ok := idFromFile(idText)
	if !ok {
		id, ok = parseID(idText)
	}
	if !ok {
		return nil, false
	}
	c := s.cases[id]
	return c, c != nil
}

func (s *Server) getCase(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	c, ok := s.caseFromPath(r.PathValue("file"))
	var out map[string]any
	if ok {
		out = s.caseJSON(c)
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, errCaseNotFound)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"case": out})
}

func (s *Server) updateCase(w http.ResponseWriter, r *http.Request) {
	obj, _, err := readObject(r, "case")
	if err != nil {
		writeError(w, http.StatusBadRequest, errBadRequest)
		return
	}
	status := obj.str("status")
	if status != "" && status != StatusOpen && status != StatusWaiting && status != StatusClosed {
		writeError(w, http.StatusBadRequest, "wrong_status")
		return
	}
	staffID, okStaff := obj.int("staff_id")
	groupID, okGroup := obj.int("group_id")
	labels, okLabels := obj.ints("labels")
	if !okStaff || !okGroup || !okLabels {
		writeError(w, http.StatusBadRequest, errBadRequest)
		return
	}
	s.mu.Lock()
	c, ok := s.caseFromPath(r.PathValue("file"))
	if !ok {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, errCaseNotFound)
		return
	}
	if status != "" {
		s.setStatus(c, status)
	}
	if v := obj.str("priority"); v != "" {
		c.Priority = v
	}
	if v := obj.str("subject"); v != "" {
		c.Subject = v
	}
	if obj.has("staff_id") {
		c.StaffID = staffID
	}
	if obj.has("group_id") {
		c.GroupID = groupID
	}
	if obj.has("labels") {
		c.Labels = labels
	}
	if cf, ok := obj["custom_fields"].(map[string]any); ok {
		if c.CustomFields == nil {
			c.CustomFields = map[string]any{}
		}
		for k, v := range cf {
			c.CustomFields[k] = v
		}
	}
	c.UpdatedAt = s.now()
	out := s.caseJSON(c)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"case": out})
}

// setStatus changes a case's status and its closed_at; callers hold s.mu.
func (s *Server) setStatus(c *Case, status string) {
	c.Status = status
	c.UpdatedAt = s.now()
	if status == StatusClosed {
		c.ClosedAt = s.now()
	} else {
		c.ClosedAt = time.Time{}
	}
}

func (s *Server) createMessage(w http.ResponseWriter, r *http.Request) {
	obj, files, err := readObject(r, "message")
	if err != nil {
		writeError(w, http.StatusBadRequest, errBadRequest)
		return
	}
	userID, okUser := obj.int("user_id")
	staffID, okStaff := obj.int("staff_id")
	if !okUser || !okStaff || (userID == 0) == (staffID == 0) {
		writeError(w, http.StatusBadRequest, "user_id_or_staff_id_required")
		return
	}
	content, html, urls := obj.str("content"), obj.str("content_html"), obj.strs("attachment_urls")
	if strings.TrimSpace(content) == "" && strings.TrimSpace(html) == "" && len(files) == 0 && len(urls) == 0 {
		writeError(w, http.StatusBadRequest, errContentEmpty)
		return
	}
	id, _ := parseID(r.PathValue("id"))
	s.mu.Lock()
	c := s.cases[id]
	if c == nil {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, errCaseNotFound)
		return
	}
	m := &Message{CaseID: c.ID, UserID: userID, StaffID: staffID, Content: content, ContentHTML: html}
	if userID != 0 {
		owner := s.users[c.UserID]
		if userID != c.UserID && (owner == nil || !slices.Contains(owner.Linked, userID)) {
			s.mu.Unlock()
			writeError(w, http.StatusBadRequest, errUserNotFound)
			return
		}
		if c.Status == StatusClosed {
			s.mu.Unlock()
			writeError(w, http.StatusBadRequest, errCaseClosed)
			return
		}
		if c.Status == StatusWaiting {
			s.setStatus(c, StatusOpen)
		}
	} else {
		m.FromAPI = true
		s.setStatus(c, StatusWaiting)
	}
	m.Attachments = s.files(files, urls)
	s.appendMessage(m)
	out := s.messageJSON(m)
	var job *delivery
	if m.StaffID != 0 {
		job = s.deliveryFor(m)
	}
	s.mu.Unlock()
	if job != nil {
		s.deliverAsync(job) // an agent answer added through the API reaches the webhook too, flagged b_from_api=1
	}
	writeJSON(w, http.StatusCreated, map[string]any{"message": out})
}

func (s *Server) listMessages(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page, limit, ok := paging(q)
	order := cmp.Or(q.Get("order"), "asc")
	if !ok || (order != "asc" && order != "desc") {
		writeError(w, http.StatusBadRequest, errBadRequest)
		return
	}
	id, _ := parseID(r.PathValue("id"))
	s.mu.Lock()
	if s.cases[id] == nil {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, errCaseNotFound)
		return
	}
	msgs := slices.Clone(s.messages[id])
	if order == "desc" {
		slices.Reverse(msgs)
	}
	items := renderPage(msgs, page, limit, s.messageJSON)
	s.mu.Unlock()
	writeList(w, "message", items, len(msgs))
}

func (s *Server) listChannels(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	items := make([]map[string]any, 0, len(s.channels))
	for _, c := range s.channels {
		items = append(items, channelJSON(c))
	}
	s.mu.Unlock()
	writeList(w, "custom_channel", items, len(items))
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
	items := renderPage(found, page, limit, s.userJSON)
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
