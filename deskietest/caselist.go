package deskietest

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// caseSorts are the sort values of the case list; the first is the default.
var caseSorts = []string{"created_at_desc", "created_at_asc", "updated_at_desc", "updated_at_asc"}

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
	showActive := isTrue(q.Get("show_active_chats"))
	// show_merged_cases is accepted; merged cases are gone from the fake (see
	// Server.MergeCases), so lists never hold them either way.
	query := caseQuery{sort: q.Get("sort")}
	if query.sort == "" {
		query.sort = caseSorts[0]
	}
	if !slices.Contains(caseSorts, query.sort) {
		writeError(w, http.StatusBadRequest, "wrong_sort")
		return
	}
	var bad string
	if query.created, bad = timeParams(q, "from_time", "to_time", s.cfg.zone); bad == "" {
		query.updated, bad = timeParams(q, "from_updated_time", "to_updated_time", s.cfg.zone)
	}
	if bad != "" {
		writeError(w, http.StatusBadRequest, "wrong_"+bad)
		return
	}
	query.match = func(c *Case) bool {
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
	found, total := s.scanCases(query, (page-1)*limit, limit)
	items := make([]map[string]any, 0, len(found))
	for _, c := range found {
		items = append(items, s.caseJSON(c))
	}
	s.mu.Unlock()
	writeList(w, "case", items, total)
}

func isTrue(v string) bool { return strings.EqualFold(v, "true") || v == "1" }

// timeParams reads a window's two ends; bad names the malformed one.
func timeParams(q url.Values, fromKey, toKey string, zone *time.Location) (w timeWindow, bad string) {
	var err error
	if w.from, err = parseTime(q.Get(fromKey), zone); err != nil {
		return w, fromKey
	}
	if w.to, err = parseTime(q.Get(toKey), zone); err != nil {
		return w, toKey
	}
	return w, ""
}

var errTimeFormat = errors.New("unknown time format")

// timeLayouts are the formats a time filter is read in, beside unix seconds: the
// API's own (RFC1123Z), then what peers send. A value without a zone is in the
// account's zone.
var timeLayouts = []string{time.RFC1123Z, time.RFC1123, time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02T15:04:05"}

// parseTime reads a time filter; "" is the zero time (no bound).
func parseTime(v string, zone *time.Location) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Unix(n, 0), nil
	}
	// "+0200" sent unescaped in a query string arrives as " 0200"
	if n := len(v); n > 6 && v[n-6:n-4] == "  " {
		v = v[:n-5] + "+" + v[n-4:]
	}
	for _, layout := range timeLayouts {
		if t, err := time.ParseInLocation(layout, v, zone); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errTimeFormat
}
