package deskietest

import (
	"cmp"
	"net/http"
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
	s.touch(c, s.now())
	out := s.caseJSON(c)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"case": out})
}

// setStatus changes a case's status and its closed_at; callers hold s.mu.
func (s *Server) setStatus(c *Case, status string) {
	c.Status = status
	if status == StatusClosed {
		c.ClosedAt = s.now()
	} else {
		c.ClosedAt = time.Time{}
	}
	s.touch(c, s.now())
}
